"""Queue-model polish of the optimizer's plans: what it gains in SUMO, not only in the model.

For each net (the pilot zone and the V2X corridor, or ``--net`` / ``--corridor-net``) and
evaluation seed (AM peak, 1 h SUMO micro): the optimizer's plans (``signals plan optimize``
defaults on the pilot zone: each signal its own cycle; on the corridor one cycle and MAXBAND
offsets), then :func:`signals.control.optimize.polish.polish` on the queue model fed by the same
routes. The model shortlists; SUMO decides: the optimizer's plans and the model's ``top_k`` run
in SUMO with SUMO seed 1 and the best is kept. Both the optimizer's plans and the kept ones are
then evaluated with SUMO seed 0, the seed every other benchmark uses: the choice is made on
other runs than the figure it is judged by, so it cannot ride on the noise of the evaluation
run. ``polish_gain_sumo`` = mean evaluation delay of the polished plans / of the optimizer's
(below 1: the polish helped), with trips finished, vehicles left and teleports of both;
``polish_gain_model`` the same ratio by the queue model. The polish settings are chosen a
priori (:class:`signals.control.optimize.polish.PolishConfig`), not on any seed.

``--quick``: 900 s, the corridor only, the first seed.
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
)

NETS = ("pilot-zone", "v2x-corridor")
CONFIRM_SUMO_SEED = 1  # the shortlist runs on this SUMO seed; the evaluation on 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument(
        "--corridor-net", default=None, help="corridor .net.xml (default: build v2x-corridor)"
    )
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS, help="nets to run")
    p.add_argument("--work", default="out/bench/polish", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s, the corridor, first seed only")
    p.add_argument("--jobs", type=int, default=2, help="SUMO runs side by side")
    p.add_argument("--candidates", type=int, default=32, help="plans per queue-model batch")
    p.add_argument("--rounds", type=int, default=3, help="local-search rounds")
    p.add_argument("--top-k", type=int, default=3, help="model's best plans confirmed in SUMO")


def _progress(msg: str) -> None:
    print(f"bench polish: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from signals.control.optimize import SplitConfig
    from signals.network import Network

    start = started()
    t_start = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    seeds = list(args.seeds[:1] if args.quick else args.seeds)
    nets = ["v2x-corridor"] if args.quick else list(args.nets)
    inputs: dict[str, Path] = {}
    out: dict = {"nets": {}}
    cached: list[str] = []
    for name in nets:
        given = args.net if name == "pilot-zone" else args.corridor_net
        net_path = bench_network(given, work / name, name)
        network = Network.from_sumo(net_path)
        inputs[f"{name}_net"] = net_path
        cfg = (
            SplitConfig(jobs=max(1, args.jobs))
            if name == "pilot-zone"
            else SplitConfig(common_cycle="corridors", offsets="maxband")
        )
        rows = {"optimized": [], "polished": []}
        per_seed = []
        for seed in seeds:
            done, summary = _seed(args, name, net_path, network, cfg, seed, end_s, work, inputs)
            cached.extend(done.pop("cached"))
            for label, fig in done.items():
                rows[label].append({"seed": seed, **fig})
            per_seed.append(summary)
            _progress(f"{name} seed {seed}: {summary}")
        figs = {k: over_seeds(v) for k, v in rows.items()}
        d_opt = figs["optimized"]["avg_delay_s"]["mean"]
        d_pol = figs["polished"]["avg_delay_s"]["mean"]
        model_gain = [s["model_gain"] for s in per_seed if s["model_gain"] is not None]
        ratio = round(d_pol / d_opt, 4) if d_opt else None
        out["nets"][name] = {
            "polish_gain_sumo": ratio,
            "polish_gain_model": round(sum(model_gain) / len(model_gain), 4)
            if model_gain
            else None,
            "n_kept_optimizer_plans": sum(s["chosen"] == 0 for s in per_seed),
            "contenders": {
                k: {"over_seeds": figs[k], "per_seed": rows[k]} for k in ("optimized", "polished")
            },
            "per_seed": per_seed,
        }
        for fig in ("avg_delay_s", "trips_finished", "vehicles_left", "teleports"):
            for k in ("optimized", "polished"):
                out["nets"][name][f"{fig}_{k}"] = (figs[k].get(fig) or {}).get("mean")
    head = record(
        "polish",
        start,
        inputs=inputs,
        seeds=seeds,
        horizon_s=end_s,
        cached_runs=cached,
    )
    first = out["nets"].get("pilot-zone") or next(iter(out["nets"].values()))
    return {
        **head,
        "polish_gain_sumo": first["polish_gain_sumo"],
        "polish_gain_sumo_by_net": {k: v["polish_gain_sumo"] for k, v in out["nets"].items()},
        "confirm_sumo_seed": CONFIRM_SUMO_SEED,
        **out,
        "bench_wall_s": round(time.perf_counter() - t_start, 1),
    }


def _seed(args, name, net_path, network, cfg, seed, end_s, work, inputs):
    """One net and seed: optimize, polish with SUMO confirming, evaluate both on SUMO seed 0.
    Returns ({label: figures, "cached": runs from the cache}, the polish summary)."""
    from signals.control.fixed_time import movement_flows_vph
    from signals.control.optimize import optimize
    from signals.control.optimize.polish import PolishConfig, polish
    from signals.evaluate.queue import QueueModel
    from signals.export import export

    sdir = work / name / f"am_peak-seed{seed}-{int(end_s)}s"
    sdir.mkdir(parents=True, exist_ok=True)
    routes = routes_asset(net_path, work / name, period="am_peak", seed=seed, end_s=end_s)
    inputs[f"{name}_routes_seed{seed}"] = routes
    flows = movement_flows_vph(network, routes, 0.0, end_s)
    t0 = time.perf_counter()
    base = optimize(network, flows, cfg=cfg).plans
    design_s = time.perf_counter() - t0
    model = QueueModel.from_routes(network, routes, end_s=end_s)
    pcfg = PolishConfig(
        candidates=args.candidates, rounds=args.rounds, top_k=args.top_k, horizon_s=end_s, seed=seed
    )
    cached: list[str] = []

    def runs(progs: list[Path], sumo_seed: int, labels: list[str]) -> list[dict]:
        specs = [
            {
                "net": net_path,
                "routes": routes,
                "program": prog,
                "end_s": end_s,
                "seed": sumo_seed,
                "name": f"{name}/seed{seed}/{label}",
            }
            for prog, label in zip(progs, labels, strict=True)
        ]
        res, hit = sumo_runs(specs, jobs=max(1, args.jobs), cache_dir=work / "sumo-cache")
        cached.extend(hit)
        return res

    def confirm(shortlist):
        labels = [f"shortlist{k}" for k in range(len(shortlist))]
        progs = [
            export(ps, network, sdir / f"{lab}.add.xml", "sumo")
            for ps, lab in zip(shortlist, labels, strict=True)
        ]
        _progress(f"{name} seed {seed}: {len(progs)} shortlist runs in SUMO")
        return [r["summary"]["avg_delay_s"] for r in runs(progs, CONFIRM_SUMO_SEED, labels)]

    t0 = time.perf_counter()
    pr = polish(network, model, base, pcfg, confirm=confirm)
    polish_s = time.perf_counter() - t0
    labels = ["optimized", "polished"]
    progs = [
        export(ps, network, sdir / f"{lab}.add.xml", "sumo")
        for ps, lab in zip((base, pr.plans), labels, strict=True)
    ]
    for lab, prog in zip(labels, progs, strict=True):
        inputs[f"{name}_{lab}_seed{seed}"] = prog
    res = runs(progs, 0, labels)
    done: dict = {lab: controller_figures(r["summary"]) for lab, r in zip(labels, res, strict=True)}
    done["cached"] = cached
    summary = {"seed": seed, **pr.summary(), "design_s": round(design_s, 1)}
    summary["polish_s"] = round(polish_s, 1)
    return done, summary
