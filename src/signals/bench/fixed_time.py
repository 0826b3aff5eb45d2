"""Webster/HCM fixed-time plans vs SUMO's tlsCycleAdaptation.py vs netconvert defaults (SUMO micro).

Pilot zone, AM peak, the same routed demand for every contender, one SUMO micro run per
contender and demand seed (default 1 simulated hour, seeds 1 and 2). Average delay is the
project's one definition (timeLoss + departDelay, vehicles still in the network counted;
``evaluate_sumo`` summary ``avg_delay_s``).

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
import time
from pathlib import Path

from signals.bench._common import bench_network


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/fixed-time", help="work directory (kept)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="demand seeds")
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s horizon, for trying it out")
    p.add_argument("--sumo-seed", type=int, default=0, help="SUMO --seed of every run")


def run(args: argparse.Namespace) -> dict:
    from signals import sumo_tools
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.demand import generate_routes
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network
    from signals.safety import validate

    t_start = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)

    delays: dict[str, list[float]] = {"webster": [], "sumo_tools": [], "default": []}
    per_seed = []
    for seed in args.seeds:
        sdir = work / f"seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = sdir / "am_peak.rou.xml"
        if not routes.exists():
            generate_routes(net_path, routes, period="am_peak", end_s=end_s, seed=seed)
        # --- Webster/HCM plans from the same demand
        t0 = time.perf_counter()
        flows = movement_flows_vph(network, routes, 0.0, end_s)
        plans = webster_planset(network, flows)
        webster_s = time.perf_counter() - t0
        assert not validate(plans, network)
        webster_add = export(plans, network, sdir / "webster.add.xml", "sumo")
        # --- SUMO's own Webster tool
        t0 = time.perf_counter()
        tools_add = sdir / "tlsCycleAdaptation.add.xml"
        sumo_tools.run(
            [
                sumo_tools.tool("tlsCycleAdaptation.py"),
                "-n",
                str(net_path),
                "-r",
                str(routes),
                "-b",
                "0",
                "-o",
                str(tools_add),
            ],
            timeout_s=1800,
        )
        tools_s = time.perf_counter() - t0
        row = {
            "seed": seed,
            "webster_design_s": round(webster_s, 2),
            "sumo_tools_design_s": round(tools_s, 2),
        }
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
            d = float(res.summary["avg_delay_s"])
            delays[name].append(d)
            row[f"delay_{name}_s"] = round(d, 2)
            row[f"sim_{name}_s"] = round(res.sim_wall_s, 1)
            print(
                f"seed {seed} {name:<10} avg delay {d:7.2f} s  (SUMO {res.sim_wall_s:.0f} s)",
                flush=True,
            )
        per_seed.append(row)

    def mean(x: list[float]) -> float:
        return sum(x) / len(x)

    dw, dt, dd = mean(delays["webster"]), mean(delays["sumo_tools"]), mean(delays["default"])
    return {
        "bench": "fixed-time",
        "net": str(net_path),
        "n_signals": network.n_signals,
        "horizon_s": end_s,
        "seeds": list(args.seeds),
        "delay_webster_s": round(dw, 2),
        "delay_sumo_tools_s": round(dt, 2),
        "delay_default_s": round(dd, 2),
        "ratio_vs_sumo_tools": round(dw / dt, 4) if dt > 0 else None,
        "ratio_vs_default": round(dw / dd, 4) if dd > 0 else None,
        "per_seed": per_seed,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
