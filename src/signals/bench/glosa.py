"""GLOSA on the V2X corridor: stops per connected vehicle with and without SUMO's glosa device.

The v2x-corridor (18 signals on an 8 km arterial, every signal with a roadside unit) runs
fixed-time Webster plans (GLOSA needs predictable switch times), AM-peak demand with half the
vehicles connected, the same seeds with and without GLOSA. With GLOSA the connected vType
carries ``has.glosa.device`` and every RSU signal's tlLogic has ``device.glosa.range`` = the RSU
range (signals.v2x); SUMO's device then slows connected vehicles down towards a red light so
that they arrive at the switch to green, or lets them speed up (``max-speedfactor``) to catch
the end of a green (SUMO docs, "Simulation/GLOSA"). Figures: stops per vehicle (tripinfo
waitingCount, finished trips) of connected and other vehicles, travel time, delay, fuel. The
delay of GLOSA vehicles is biased low (SUMO's timeLoss is taken against the vehicle's current
speedFactor, which the device lowers while coasting), so travel time is the fair comparison.

``--quick`` shortens the horizon to 900 s for trying it out (not the acceptance figures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from signals.bench._common import add_seed_arguments, bench_network, record, routes_asset, started


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="v2x-corridor .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/glosa", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s horizon, for trying it out")
    p.add_argument("--cv-share", type=float, default=0.5, help="connected-vehicle share")
    p.add_argument("--range-m", type=float, default=300.0, help="RSU communication range, m")
    p.add_argument(
        "--veh-per-hour", type=float, default=None, help="base demand (default: the net's meta)"
    )


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.evaluate.metrics import CONNECTED, OTHER, value
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import sumo_additional_text
    from signals.network import Network
    from signals.plans import Schedule
    from signals.safety import assert_safe
    from signals.v2x import glosa_routes, glosa_tls_params, with_tls_params

    t_start = time.perf_counter()
    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    net_path = bench_network(args.net, work, "v2x-corridor")
    network = Network.from_sumo(net_path)

    rows = []
    inputs: dict[str, Path] = {"net": net_path}
    for seed in args.seeds:
        sdir = work / f"seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = routes_asset(
            net_path,
            work,
            period="am_peak",
            seed=seed,
            end_s=end_s,
            veh_per_hour=args.veh_per_hour,
            cv_share=args.cv_share,
        )
        inputs[f"routes_seed{seed}"] = routes
        plans = webster_planset(network, movement_flows_vph(network, routes, 0.0, end_s))
        assert_safe(plans, network)
        prog = sdir / "webster_glosa.add.xml"
        prog.write_text(
            with_tls_params(
                sumo_additional_text(Schedule.single(plans)),
                glosa_tls_params(network, args.range_m),
            )
        )
        g_routes = glosa_routes(routes, sdir / "am_peak.glosa.rou.xml")
        row = {"seed": seed}
        for label, r, extra in (
            ("without", routes, ()),
            ("with", g_routes, ("--device.glosa.range", f"{args.range_m:g}")),
        ):
            res = evaluate_sumo(
                net_path,
                r,
                program=prog,
                end_s=end_s,
                network=network,
                queue_sample_s=0.0,
                extra_options=extra,
                controller=f"webster_glosa_{label}",
            )
            df = res.metrics
            row |= {
                f"stops_cv_{label}": value(df, "avg_stops", CONNECTED),
                f"stops_other_{label}": value(df, "avg_stops", OTHER),
                f"travel_time_cv_{label}_s": value(df, "avg_travel_time_s", CONNECTED),
                f"travel_time_other_{label}_s": value(df, "avg_travel_time_s", OTHER),
                f"delay_cv_{label}_s": value(df, "avg_delay_s", CONNECTED),
                f"delay_other_{label}_s": value(df, "avg_delay_s", OTHER),
                f"fuel_cv_{label}_g": value(df, "fuel_g", CONNECTED),
                f"finished_cv_{label}": value(df, "throughput_veh", CONNECTED),
            }
        rows.append(row)

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    s_wo, s_w = mean("stops_cv_without"), mean("stops_cv_with")
    out = {
        **record("glosa", start, inputs=inputs, seeds=args.seeds, horizon_s=end_s),
        "net": str(net_path),
        "n_signals": network.n_signals,
        "n_rsu_signals": int(network.signal_rsu.sum()),
        "end_s": end_s,
        "cv_share": args.cv_share,
        "range_m": args.range_m,
        "stops_per_cv_without": round(s_wo, 4),
        "stops_per_cv_with": round(s_w, 4),
        "stops_per_cv_reduction_pct": round(100.0 * (s_wo - s_w) / s_wo, 2) if s_wo > 0 else None,
        "glosa_reduces_cv_stops_every_seed": bool(
            all(r["stops_cv_with"] < r["stops_cv_without"] for r in rows)
        ),
        "stops_per_other_without": round(mean("stops_other_without"), 4),
        "stops_per_other_with": round(mean("stops_other_with"), 4),
        "travel_time_cv_without_s": round(mean("travel_time_cv_without_s"), 2),
        "travel_time_cv_with_s": round(mean("travel_time_cv_with_s"), 2),
        "travel_time_other_without_s": round(mean("travel_time_other_without_s"), 2),
        "travel_time_other_with_s": round(mean("travel_time_other_with_s"), 2),
        "delay_cv_without_s": round(mean("delay_cv_without_s"), 2),
        "delay_cv_with_s": round(mean("delay_cv_with_s"), 2),
        "note": "delay (timeLoss) of GLOSA vehicles is biased low: SUMO measures timeLoss "
        "against the vehicle's current speedFactor, which GLOSA lowers; compare travel times",
        "per_seed": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows
        ],
        "bench_wall_s": round(time.perf_counter() - t_start, 1),
    }
    return out
