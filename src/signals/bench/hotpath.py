"""Queue-model throughput vs SUMO meso and micro on the pilot zone (same plan, same demand).

In one run, on the 448-signal pilot zone with the AM-peak demand (routed, seed 1) and the net's
own (netconvert) fixed-time programs:

* **queue model**: a batch of ``--batch`` copies of the plan evaluated together over
  ``--horizon-s`` (1 s steps, compiled kernel, warmed up first so compilation is not timed);
  ``queue_model_plan_hours_per_s`` = batch x horizon / 3600 / wall seconds of the evaluate call.
  ``queue_model_setup_s`` (reading the routes, building the model) is reported apart: it is paid
  once per scenario, not per plan. ``peak_rss_mb`` is this process's peak resident memory after
  the queue-model runs (SUMO runs in child processes).
* **SUMO meso** (``--mesosim``) over ``--meso-horizon-s`` and **SUMO micro** over
  ``--micro-horizon-s`` (shorter by default; scaled to one hour: plan-hours per second =
  horizon / 3600 / wall), each a whole :func:`~signals.evaluate.sumo_run.evaluate_sumo` call
  (libsumo start, net loading, simulation, outputs read back) in a fresh process, without queue
  sampling. Speed-ups compare plan-hours per second.

The machine may be shared: CPU seconds of each measurement are reported beside wall seconds.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from signals.bench._common import bench_network, record, routes_asset, started, sumo_runs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--routes", default=None, help="routes file (default: AM peak, seed 1)")
    p.add_argument("--work", default="out/bench/pilot-zone", help="work directory (kept)")
    p.add_argument("--batch", type=int, default=16, help="plans evaluated together")
    p.add_argument("--horizon-s", type=float, default=3600.0, help="queue-model horizon, s")
    p.add_argument("--meso-horizon-s", type=float, default=3600.0, help="SUMO meso horizon, s")
    p.add_argument(
        "--micro-horizon-s",
        type=float,
        default=900.0,
        help="SUMO micro horizon, s (scaled to one hour)",
    )
    p.add_argument("--no-sumo", action="store_true", help="queue model only (for trying it out)")


def pilot_zone_assets(
    work: str | Path, net: str | Path | None = None, routes: str | Path | None = None
) -> tuple[Path, Path]:
    """The pilot-zone net and its AM-peak routes (seed 1, 0-3600 s), by content digest under
    ``work`` (:mod:`signals.bench._common`); a given ``net``/``routes`` is used as it is."""
    work = Path(work)
    net_p = bench_network(str(net) if net else None, work, "pilot-zone")
    if routes is None:
        routes = routes_asset(net_p, work, period="am_peak", seed=1, end_s=3600.0)
    return net_p, Path(routes)


def sumo_timed(net: Path, routes: Path, *, meso: bool, end_s: float) -> dict:
    """One SUMO run in a fresh process (:func:`signals.bench._common.sumo_runs`, no cache)."""
    (r,), _ = sumo_runs([{"net": net, "routes": routes, "meso": meso, "end_s": end_s}])
    return r


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from signals.evaluate.queue import QueueModel
    from signals.network import Network
    from signals.plans import PlanSet, stack_arrays

    start = started()
    net_path, routes = pilot_zone_assets(args.work, args.net, args.routes)
    network = Network.from_sumo(net_path)
    t0 = time.perf_counter()
    qm = QueueModel.from_routes(network, routes, begin_s=0, end_s=3600, bin_s=900)
    setup_s = time.perf_counter() - t0
    plan = PlanSet.from_network(network).to_arrays(network)
    B = int(args.batch)
    plans = stack_arrays([plan] * B)
    qm.evaluate(stack_arrays([plan] * 2), 60.0)  # compile / load the kernel, not timed
    w0, c0 = time.perf_counter(), time.process_time()
    res = qm.evaluate(plans, args.horizon_s)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    plan_hours = B * args.horizon_s / 3600.0
    qm_rate = plan_hours / wall
    out = {
        **record(
            "hotpath",
            start,
            inputs={"net": net_path, "routes": routes},
            seeds=[] if args.routes else [1],  # the generated demand is seed 1 (speed only)
            horizon_s=args.horizon_s,
        ),
        "n_signals": network.n_signals,
        "n_movements": network.n_movements,
        "n_edges": network.n_edges,
        "batch": B,
        "horizon_s": args.horizon_s,
        "queue_model_wall_s": round(wall, 3),
        "queue_model_cpu_s": round(cpu, 3),
        "queue_model_plan_hours_per_s": round(qm_rate, 3),
        "queue_model_setup_s": round(setup_s, 3),
        "queue_model_avg_delay_s": round(float(np.mean(res.avg_delay_s)), 3),
        "peak_rss_mb": round(rss_mb, 1),
    }
    if args.no_sumo:
        return out
    meso = sumo_timed(net_path, routes, meso=True, end_s=args.meso_horizon_s)
    micro = sumo_timed(net_path, routes, meso=False, end_s=args.micro_horizon_s)
    meso_rate = args.meso_horizon_s / 3600.0 / meso["wall_s"]
    micro_rate = args.micro_horizon_s / 3600.0 / micro["wall_s"]
    out.update(
        {
            "sumo_meso_horizon_s": args.meso_horizon_s,
            "sumo_meso_wall_s": round(meso["wall_s"], 3),
            "sumo_meso_cpu_s": round(meso["cpu_s"], 3),
            "sumo_meso_plan_hours_per_s": round(meso_rate, 4),
            "sumo_micro_horizon_s": args.micro_horizon_s,
            "sumo_micro_wall_s": round(micro["wall_s"], 3),
            "sumo_micro_cpu_s": round(micro["cpu_s"], 3),
            "sumo_micro_plan_hours_per_s": round(micro_rate, 5),
            "speedup_vs_meso": round(qm_rate / meso_rate, 1),
            "speedup_vs_micro": round(qm_rate / micro_rate, 1),
            # per CPU second, less sensitive to other load on a shared machine
            "speedup_vs_meso_cpu": round(
                (plan_hours / cpu) / (args.meso_horizon_s / 3600.0 / meso["cpu_s"]), 1
            ),
            "speedup_vs_micro_cpu": round(
                (plan_hours / cpu) / (args.micro_horizon_s / 3600.0 / micro["cpu_s"]), 1
            ),
        }
    )
    return out
