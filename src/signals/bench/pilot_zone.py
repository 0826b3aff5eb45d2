"""Pilot-zone acceptance: 448 signals, >= 100 km V2X, deterministic build, no gridlock in 1 h micro.

Builds the ``pilot-zone`` recipe twice (byte-identical output expected), generates its AM-peak
demand with the project's own generator (randomTrips + duarouter, time-of-day profile), runs SUMO
micro with the net's own programs and reads SUMO's tripinfo: the share of vehicles teleported
(target < 1 %) and the share of trips departing by minute 45 that finish within the horizon
(target > 95 %). The peer figure is SUMO's own statistic output of the same run.
"""

from __future__ import annotations

import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--end", type=float, default=3600.0, help="simulated seconds (default 1 h)")
    parser.add_argument("--seed", type=int, default=1, help="demand and SUMO seed")
    parser.add_argument(
        "--out", default=None, help="keep the network, demand and SUMO outputs here"
    )


def run(args) -> dict:
    from signals.bench._common import record, started
    from signals.demand import generate_routes
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.netbuild import build
    from signals.network import Network, count_signalized_intersections

    start = started()
    with tempfile.TemporaryDirectory(prefix="signals-pz-") as td:
        out = Path(args.out) if args.out else Path(td)
        t0 = time.perf_counter()
        net_a = Path(build("pilot-zone", out / "build-a"))
        build_s = time.perf_counter() - t0
        net_b = Path(build("pilot-zone", out / "build-b"))
        from signals.digests import sha256_file

        identical = sha256_file(net_a) == sha256_file(net_b)
        net = Network.from_sumo(net_a)

        t0 = time.perf_counter()
        routes = generate_routes(
            net_a,
            out / "am_peak.rou.xml",
            period="am_peak",
            begin_s=0,
            end_s=args.end,
            seed=args.seed,
        )
        demand_s = time.perf_counter() - t0

        res = evaluate_sumo(
            net_a,
            routes,
            begin_s=0,
            end_s=args.end,
            seed=args.seed,
            out_dir=out / "sumo",
            network=net,
            scenario="am_peak",
            controller="default",
        )
        cutoff_s = 0.75 * args.end
        n_by_cutoff = n_finished_by_cutoff = n_total = 0
        for _ev, el in ET.iterparse(str(res.paths["tripinfo"]), events=("end",)):
            if el.tag != "tripinfo":
                continue
            n_total += 1
            depart = float(el.get("depart", -1))
            if 0 <= depart <= cutoff_s:
                n_by_cutoff += 1
                n_finished_by_cutoff += float(el.get("arrival", -1)) >= 0
            el.clear()
        stats = res.sumo_statistics.get("statistic_output", {})
        teleports = float(res.summary.get("n_teleports", 0.0))
        inserted = float(stats.get("loaded", 0) or res.summary.get("n_vehicles", n_total))
        return {
            **record(
                "pilot-zone",
                start,
                inputs={"net": net_a, "routes": routes},
                seeds=[args.seed],
                horizon_s=args.end,
            ),
            "n_signals": net.n_signals,
            "n_v2x_corridors": len({c for c in net.edge_v2x if c}),
            "n_rsu_signals": int(net.signal_rsu.sum()),
            "n_signalized_intersections": count_signalized_intersections(net),
            "v2x_km": round(net.v2x_km, 3),
            "lane_km": round(net.lane_km, 3),
            "build_identical": identical,
            "build_s": round(build_s, 2),
            "demand_s": round(demand_s, 2),
            "horizon_s": args.end,
            "n_vehicles": n_total,
            "teleport_share": round(teleports / max(inserted, 1.0), 5),
            "finished_share_departed_by_75pct": round(
                n_finished_by_cutoff / max(n_by_cutoff, 1), 4
            ),
            "avg_delay_s": round(float(res.summary.get("avg_delay_s", float("nan"))), 2),
            "sumo_micro_wall_s": round(res.sim_wall_s, 1),
            "sumo_statistics_finished": res.sumo_statistics.get("finished", {}),
        }
