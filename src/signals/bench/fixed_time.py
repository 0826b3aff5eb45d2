"""Webster/HCM fixed-time plans vs SUMO's tlsCycleAdaptation.py vs netconvert defaults (SUMO micro).

Pilot zone, AM peak, the same routed demand for every contender, one SUMO micro run per
contender and demand seed (default 1 simulated hour, the evaluation seeds of
:mod:`signals.bench._common`; nothing in Webster was tuned on any seed). Every contender's
figures: average delay (the project's one definition: timeLoss + departDelay, vehicles still in
the network counted), trips finished, vehicles left, teleports, stops; mean and min-max over the
seeds. Inputs are built or reused by content digest and recorded (``_common.record``).

Contenders:
* ``webster``: :func:`signals.control.fixed_time.webster_planset` on the movement flows of the
  routes file, exported with :func:`signals.export.export` (checked safe);
* ``sumo_tools``: SUMO's ``tools/tlsCycleAdaptation.py -n NET -r ROUTES -b 0`` (Webster per
  intersection, its own defaults: yellow 4 s, no all-red, cycle 20-120 s);
* ``default``: the programs netconvert wrote into the net (90 s cycle).

``--quick`` shortens the horizon to 900 s for trying it out (the figures are then not the
acceptance figures).
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
    tls_cycle_adaptation,
)

CONTENDERS = ("webster", "sumo_tools", "default")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/fixed-time", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s horizon, for trying it out")
    p.add_argument("--sumo-seed", type=int, default=0, help="SUMO --seed of every run")


def run(args: argparse.Namespace) -> dict:
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network
    from signals.safety import validate

    t_start = time.perf_counter()
    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)

    runs: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    design: list[dict] = []
    inputs: dict[str, Path] = {"net": net_path}
    for seed in args.seeds:
        sdir = work / f"seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = routes_asset(net_path, work, period="am_peak", seed=seed, end_s=end_s)
        inputs[f"routes_seed{seed}"] = routes
        # --- Webster/HCM plans from the same demand
        t0 = time.perf_counter()
        flows = movement_flows_vph(network, routes, 0.0, end_s)
        plans = webster_planset(network, flows)
        webster_s = time.perf_counter() - t0
        assert not validate(plans, network)
        webster_add = export(plans, network, sdir / "webster.add.xml", "sumo")
        # --- SUMO's own Webster tool
        t0 = time.perf_counter()
        tools_add = tls_cycle_adaptation(net_path, routes, sdir / "tlsCycleAdaptation.add.xml")
        tools_s = time.perf_counter() - t0
        design.append(
            {
                "seed": seed,
                "webster_design_s": round(webster_s, 2),
                "sumo_tools_design_s": round(tools_s, 2),
            }
        )
        for name, program in (
            ("webster", webster_add),
            ("sumo_tools", tools_add),
            ("default", None),
        ):
            res = evaluate_sumo(
                net_path,
                routes,
                program=program,
                end_s=end_s,
                seed=args.sumo_seed,
                network=network,
                queue_sample_s=0,
                scenario="pilot-zone-am",
                controller=name,
            )
            row = {"seed": seed, **controller_figures(res.summary)}
            row["sim_wall_s"] = round(res.sim_wall_s, 1)
            runs[name].append(row)
            print(f"seed {seed} {name:<10} {row}", file=sys.stderr, flush=True)

    contenders = {c: {"over_seeds": over_seeds(rows), "per_seed": rows} for c, rows in runs.items()}
    mean = {c: v["over_seeds"]["avg_delay_s"]["mean"] for c, v in contenders.items()}
    return {
        **record("fixed-time", start, inputs=inputs, seeds=args.seeds, horizon_s=end_s),
        "net": str(net_path),
        "n_signals": network.n_signals,
        "sumo_seed": args.sumo_seed,
        "delay_webster_s": mean["webster"],
        "delay_sumo_tools_s": mean["sumo_tools"],
        "delay_default_s": mean["default"],
        "ratio_vs_sumo_tools": round(mean["webster"] / mean["sumo_tools"], 4),
        "ratio_vs_default": round(mean["webster"] / mean["default"], 4),
        "contenders": contenders,
        "design": design,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
