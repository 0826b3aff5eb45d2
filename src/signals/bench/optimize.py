"""OR-Tools optimized cycle and splits vs Webster vs SUMO's tools vs SUMO actuated (SUMO micro).

Pilot zone (or ``--net``), each time-of-day period of ``--periods`` (default the AM and PM
peaks), the same routed demand for every contender, one SUMO micro run per contender, period and
demand seed (default 1 simulated hour, the evaluation seeds of :mod:`signals.bench._common`;
nothing in the optimizer was chosen on any demand seed: its settings are solver settings, its
delay model is the HCM's). Every contender's figures: average delay (timeLoss + departDelay,
vehicles still in the network counted), trips finished, vehicles left, teleports, stops; mean
and min-max over the seeds, per period and pooled.

Contenders:

* ``optimized``: :func:`signals.control.optimize.optimize_planset` (CP-SAT cycle and splits,
  each signal its own cycle), offsets 0;
* ``optimized_corridors`` (only with ``--contenders``): the same with one cycle per V2X
  corridor (``common_cycle="corridors"``), offsets 0: the green-wave offsets are not built yet;
* ``webster``: :func:`signals.control.fixed_time.webster_planset` on the same stages;
* ``sumo_tools``: SUMO's ``tools/tlsCycleAdaptation.py`` (Webster per intersection, its own
  defaults) followed by ``tools/tlsCoordinator.py`` on its plans (offsets from the routes);
* ``actuated``: SUMO's actuated control on the net's own phases (``type="actuated"``, gap-out),
  through the closed loop as ``signals bench realnets`` runs it.

**Green waves on the V2X corridor** (``v2x-corridor`` or ``--corridor-net``; ``--no-corridor``
skips it): on the same seeds, AM peak, three contenders: ``webster`` (uncoordinated: each signal
its own cycle, offsets 0), ``maxband`` (CP-SAT splits at one cycle for the corridor, MAXBAND
offsets and lead/lag, :mod:`signals.control.optimize.bands`) and ``delay_offsets`` (the same
cycle and splits, the CP-SAT delay offsets). Figures: the MAXBAND bandwidth each way (fraction
of the cycle, measured by sweeping the exported plans at the MILP's travel times), and the stops
per vehicle of the trips that enter and leave on the corridor (tripinfo waitingCount,
:func:`signals.evaluate.sumo_run.along_stops`) beside every contender's network figures.

Every generated plan is exported through the gate; SUMO's tool output is run as it is (it
fails the gate's guidelines, ``signals bench fixed-time``) and reported as the peer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from signals.bench._common import (
    add_seed_arguments,
    bench_network,
    controller_figures,
    over_seeds,
    record,
    routes_asset,
    started,
    sumo_runs,
    sumo_tools_programs,
)

CONTENDERS = ("optimized", "optimized_corridors", "webster", "sumo_tools", "actuated")
# by default: the corridor variant shares a cycle per corridor but has no green-wave offsets
# yet, so it is left out unless asked for
DEFAULT_CONTENDERS = ("optimized", "webster", "sumo_tools", "actuated")
CORRIDOR_CONTENDERS = ("webster", "maxband", "delay_offsets")
# parts of the optimizer issue not built yet: no figure is reported under these names
NOT_BUILT = ("polish_gain_sumo",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/optimize", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument(
        "--periods", nargs="+", default=["am_peak", "pm_peak"], help="time-of-day periods"
    )
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s, AM peak, first seed only")
    p.add_argument("--jobs", type=int, default=2, help="SUMO runs and optimizer processes")
    p.add_argument(
        "--contenders",
        nargs="+",
        default=list(DEFAULT_CONTENDERS),
        choices=CONTENDERS,
        help=f"subset (default: {' '.join(DEFAULT_CONTENDERS)})",
    )
    p.add_argument(
        "--corridor-net", default=None, help="corridor .net.xml (default: build v2x-corridor)"
    )
    p.add_argument(
        "--corridor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the green-wave part on the V2X corridor",
    )


def _progress(msg: str) -> None:
    print(f"bench optimize: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from signals.control.adaptive import ActuatedSumo
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.control.optimize import SplitConfig, optimize_planset
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
    from signals.export import export
    from signals.network import Network

    t_start = time.perf_counter()
    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    seeds = list(args.seeds[:1] if args.quick else args.seeds)
    periods = ["am_peak"] if args.quick else list(args.periods)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)
    inputs: dict[str, Path] = {"net": net_path}
    static = [c for c in args.contenders if c != "actuated"]
    specs, keys, design = [], [], []
    for period in periods:
        for seed in seeds:
            sdir = work / f"{period}-seed{seed}-{int(end_s)}s"
            sdir.mkdir(parents=True, exist_ok=True)
            routes = routes_asset(net_path, work, period=period, seed=seed, end_s=end_s)
            inputs[f"routes_{period}_seed{seed}"] = routes
            flows = movement_flows_vph(network, routes, 0.0, end_s)
            row: dict = {"period": period, "seed": seed}
            for c in static:
                t0 = time.perf_counter()
                if c == "sumo_tools":
                    prog = sumo_tools_programs(net_path, routes, sdir)
                else:
                    if c == "webster":
                        plans = webster_planset(network, flows)
                    else:
                        common = "corridors" if c == "optimized_corridors" else "none"
                        cfg = SplitConfig(common_cycle=common, jobs=max(1, args.jobs))
                        plans, res = optimize_planset(network, flows, cfg=cfg)
                        row[f"{c}_best_effort"] = sum(r.best_effort for r in res)
                        row[f"{c}_model_delay_s"] = round(
                            sum(r.delay_s for r in res) / max(len(res), 1), 3
                        )
                        row["webster_model_delay_s"] = round(
                            sum(r.webster_delay_s for r in res) / max(len(res), 1), 3
                        )
                    prog = export(plans, network, sdir / f"{c}.add.xml", "sumo")
                row[f"{c}_design_s"] = round(time.perf_counter() - t0, 2)
                inputs[f"{c}_{period}_seed{seed}"] = prog
                specs.append(
                    {
                        "net": net_path,
                        "routes": routes,
                        "program": prog,
                        "end_s": end_s,
                        "name": f"{period}/seed{seed}/{c}",
                    }
                )
                keys.append((period, seed, c))
            design.append(row)
            _progress(f"designed {row}")
    _progress(f"{len(specs)} SUMO micro runs, {args.jobs} at a time")
    results, cached = sumo_runs(
        specs,
        jobs=max(1, args.jobs),
        cache_dir=work / "sumo-cache",
        on_done=lambda s, i, n: _progress(f"{i}/{n} {s['name']}"),
    )
    runs: dict = {}
    for (period, seed, c), r in zip(keys, results, strict=True):
        runs.setdefault(period, {}).setdefault(c, []).append(
            {"seed": seed, **controller_figures(r["summary"]), "sim_wall_s": r["sim_wall_s"]}
        )
    if "actuated" in args.contenders:
        for period in periods:
            for seed in seeds:
                routes = inputs[f"routes_{period}_seed{seed}"]
                res = evaluate_online(
                    net_path,
                    routes,
                    ActuatedSumo(),
                    config=LoopConfig(stages="own"),
                    end_s=end_s,
                    seed=0,
                    network=network,
                )
                runs[period].setdefault("actuated", []).append(
                    {"seed": seed, **controller_figures(res.summary)}
                )
                _progress(f"{period} seed {seed} actuated done")
    by_period = {
        p: {c: {"over_seeds": over_seeds(rows), "per_seed": rows} for c, rows in cs.items()}
        for p, cs in runs.items()
    }
    pooled = {c: over_seeds([r for p in runs for r in runs[p].get(c, [])]) for c in args.contenders}
    mean = {c: (v.get("avg_delay_s") or {}).get("mean") for c, v in pooled.items()}
    out: dict = {
        **record(
            "optimize", start, inputs=inputs, seeds=seeds, horizon_s=end_s, cached_runs=cached
        ),
        "net": str(net_path),
        "n_signals": network.n_signals,
        "periods": periods,
        "not_built": list(NOT_BUILT),
    }
    for c in args.contenders:
        out[f"delay_{c}_s"] = mean[c]
        for fig in ("trips_finished", "teleports", "vehicles_left"):
            out[f"{fig}_{c}"] = (pooled[c].get(fig) or {}).get("mean")

    def ratio(a: str, b: str):
        if mean.get(a) is None or mean.get(b) is None:
            return None
        return round(mean[a] / mean[b], 4)

    out["ratio_vs_webster"] = ratio("optimized", "webster")
    out["ratio_vs_sumo_tools"] = ratio("optimized", "sumo_tools")
    out["ratio_vs_actuated"] = ratio("optimized", "actuated")
    out["ratio_corridors_vs_webster"] = ratio("optimized_corridors", "webster")
    opt_s = [r.get("optimized_design_s") for r in design if r.get("optimized_design_s")]
    out["optimize_wall_s"] = round(max(opt_s), 1) if opt_s else None
    out["contenders"] = pooled
    out["by_period"] = by_period
    out["design"] = design
    if args.corridor:
        figures, more = _corridor(args, work, end_s, seeds)
        out |= figures
        out["inputs_sha256"] = dict(sorted((out["inputs_sha256"] | more).items()))
    out["bench_wall_s"] = round(time.perf_counter() - t_start, 1)
    return out


def _corridor(args, work: Path, end_s: float, seeds: list[int]) -> tuple[dict, dict]:
    """The green-wave part (see the module docstring): its figures and input digests."""
    import math

    from signals.bench._common import mean_min_max
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.control.optimize import SplitConfig, optimize
    from signals.digests import sha256_file
    from signals.export import export
    from signals.network import Network

    cwork = work / "corridor"
    net_path = bench_network(args.corridor_net, cwork, "v2x-corridor")
    network = Network.from_sumo(net_path)
    along = [e for e, c in zip(network.edge_ids, network.edge_v2x, strict=True) if c]
    inputs: dict[str, Path] = {"corridor_net": net_path}
    specs, keys, bands, design_s = [], [], [], []
    for seed in seeds:
        sdir = cwork / f"am_peak-seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = routes_asset(net_path, cwork, period="am_peak", seed=seed, end_s=end_s)
        inputs[f"corridor_routes_seed{seed}"] = routes
        flows = movement_flows_vph(network, routes, 0.0, end_s)
        for c in CORRIDOR_CONTENDERS:
            t0 = time.perf_counter()
            if c == "webster":
                plans = webster_planset(network, flows)
            else:
                offsets = "maxband" if c == "maxband" else "delay"
                cfg = SplitConfig(common_cycle="corridors", offsets=offsets, jobs=1)
                r = optimize(network, flows, cfg=cfg)
                plans = r.plans
                if c == "maxband":
                    bands += [{"seed": seed, **b.to_dict()} for b in r.bands]
                    design_s.append(time.perf_counter() - t0)
            prog = export(plans, network, sdir / f"{c}.add.xml", "sumo")
            inputs[f"corridor_{c}_seed{seed}"] = prog
            specs.append(
                {
                    "net": net_path,
                    "routes": routes,
                    "program": prog,
                    "end_s": end_s,
                    "name": f"corridor/seed{seed}/{c}",
                    "along_edges": along,
                }
            )
            keys.append((seed, c))
    _progress(f"corridor: {len(specs)} SUMO micro runs")
    results, cached = sumo_runs(
        specs,
        jobs=max(1, args.jobs),
        cache_dir=work / "sumo-cache",
        on_done=lambda s, i, n: _progress(f"{i}/{n} {s['name']}"),
    )
    rows: dict[str, list[dict]] = {c: [] for c in CORRIDOR_CONTENDERS}
    for (seed, c), r in zip(keys, results, strict=True):
        rows[c].append(
            {
                "seed": seed,
                **controller_figures(r["summary"]),
                "along_trips": r["along_trips"],
                "along_stops": round(r["along_stops"], 4),
            }
        )

    def stops(c: str):
        v = [r["along_stops"] for r in rows[c]]
        return mean_min_max(v, 4) if v and all(math.isfinite(x) for x in v) else None

    out: dict = {
        "corridor_net": str(net_path),
        "corridor_signals": network.n_signals,
        "corridor_seeds": seeds,
        "corridor_cached_runs": cached,
        "corridor_bands": bands,
        "corridor_design_maxband_s": round(max(design_s), 1) if design_s else None,
    }
    for direction in ("out", "in"):
        v = [b[f"band_{direction}"] for b in bands]
        out[f"corridor_bandwidth_{direction}"] = round(sum(v) / len(v), 4) if v else None
        out[f"corridor_bandwidth_{direction}_min_max"] = mean_min_max(v, 4) if v else None
    means = {}
    for c in CORRIDOR_CONTENDERS:
        pooled = over_seeds(rows[c])
        st = stops(c)
        means[c] = st["mean"] if st else None
        # stops of the trips along the corridor; every trip's stops are corridor_net_stops_*
        out[f"corridor_stops_{c}"] = means[c]
        out[f"corridor_stops_{c}_min_max"] = st
        out[f"corridor_along_trips_{c}"] = sum(r["along_trips"] for r in rows[c])
        for fig in ("avg_delay_s", "trips_finished", "teleports", "vehicles_left", "stops"):
            name = {"avg_delay_s": "delay", "stops": "net_stops"}.get(fig, fig)
            out[f"corridor_{name}_{c}"] = (pooled.get(fig) or {}).get("mean")
        out.setdefault("corridor_contenders", {})[c] = {"over_seeds": pooled, "per_seed": rows[c]}
    for c in ("maxband", "delay_offsets"):
        ok = means.get(c) is not None and means.get("webster")
        key = (
            "corridor_stops_ratio_vs_webster"
            if c == "maxband"
            else f"corridor_stops_ratio_{c}_vs_webster"
        )
        out[key] = round(means[c] / means["webster"], 4) if ok else None
    inputs_digests = {k: sha256_file(v) for k, v in inputs.items()}
    return out, inputs_digests
