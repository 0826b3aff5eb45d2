"""Closed-loop max-pressure vs static Webster programs in plain SUMO (pilot zone, micro, AM peak).

In one run, on the same routed demand (seeds 1 and 2 by default, 1 simulated hour):

* **overhead** (seed 1): max-pressure through the closed loop (:func:`evaluate_online`, stage
  programs switched with ``setPhase``, observations read every 5 s) against the Webster programs
  run as static programs in plain SUMO (:func:`evaluate_sumo`, no sampling). ``loop_wall_s`` and
  ``static_wall_s`` are whole calls (SUMO start, simulation, outputs read back);
  ``overhead_ratio = loop_wall_s / static_wall_s`` (target <= 1.3). The machine may be shared, so
  the CPU-time ratio of the same calls is reported too, and ``loop_control_s`` (Python time
  spent observing, deciding and switching). The two runs do not simulate the same traffic (the
  controllers differ); ``loop_state_wall_s`` is the same loop in "state" mode
  (setRedYellowGreenState every change, 1 s steps) for the program-vs-state comparison.
* **delay**: network average delay (timeLoss + departDelay, vehicles still in the network
  counted) of max-pressure and Webster, averaged over the seeds.
* **connected-vehicle max-pressure** at penetration 100/50/20 % (seed 1): the same trips, the
  connected type redrawn with the penetration share; the controller sees only connected vehicles
  within 300 m of each signal (every pilot-zone signal has an RSU) and follows the Webster plan
  at a signal while it sees none (:class:`CVMaxPressure` ``fallback="plan"``).

``--quick`` shortens the horizon to 900 s for trying it out (not the acceptance figures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from signals.bench._common import bench_network


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/loop", help="work directory (kept)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="demand seeds")
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--quick", action="store_true", help="900 s horizon, for trying it out")
    p.add_argument(
        "--penetrations",
        type=float,
        nargs="*",
        default=[1.0, 0.5, 0.2],
        help="connected-vehicle shares for the CV max-pressure runs (none: skip)",
    )
    p.add_argument(
        "--veh-per-hour", type=float, default=None, help="base demand (default: the net's meta)"
    )
    p.add_argument("--delta-t", type=float, default=5.0, help="decision interval, s")
    p.add_argument("--no-state-mode", action="store_true", help="skip the state-mode run")


def with_cv_share(routes: Path, out: Path, share: float, seed: int) -> Path:
    """Copy of a routes file (signals.demand format) with each vehicle's type redrawn: ``cv``
    with probability ``share``, else ``hv``; the trips themselves are unchanged."""
    import xml.etree.ElementTree as ET

    import numpy as np

    from signals.demand import CV_TYPE, HV_TYPE
    from signals.errors import atomic_write

    tree = ET.parse(str(routes))
    root = tree.getroot()
    rng = np.random.default_rng(seed)
    for vt in root.iter("vType"):
        if vt.get("id") == CV_TYPE:
            vt.set("probability", f"{share:.6f}")
        elif vt.get("id") == HV_TYPE:
            vt.set("probability", f"{1.0 - share:.6f}")
    vehicles = [v for v in root if v.tag in ("vehicle", "trip", "flow")]
    draw = rng.random(len(vehicles)) < share
    for v, is_cv in zip(vehicles, draw, strict=True):
        v.set("type", CV_TYPE if is_cv else HV_TYPE)
    with atomic_write(out, "wb") as fh:
        tree.write(fh, encoding="utf-8", xml_declaration=True)
    return out


def _timed(fn, label: str = ""):
    import sys

    w0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    w, c = time.perf_counter() - w0, time.process_time() - c0
    if label:  # progress on stderr; stdout's last line stays the JSON object
        print(f"bench loop: {label}: {w:.1f} s wall, {c:.1f} s CPU", file=sys.stderr, flush=True)
    return res, w, c


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from signals.control.adaptive import CVMaxPressure, MaxPressure
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.demand import generate_routes
    from signals.evaluate.metrics import CONNECTED, OTHER
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network

    t_start = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)
    cfg = LoopConfig(delta_t_s=args.delta_t)

    def metric(df, name: str, scope: str = "network") -> float:
        sel = df[(df["scope"] == scope) & (df["metric"] == name)]
        return float(sel["value"].iloc[0]) if len(sel) else float("nan")

    out: dict = {
        "net": str(net_path),
        "n_signals": network.n_signals,
        "end_s": end_s,
        "seeds": list(args.seeds),
        "delta_t_s": args.delta_t,
    }
    mp_delay, wb_delay, per_seed = [], [], []
    for i, seed in enumerate(args.seeds):
        sdir = work / f"seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = sdir / "am_peak.rou.xml"
        if not routes.exists():
            generate_routes(
                net_path,
                routes,
                period="am_peak",
                end_s=end_s,
                seed=seed,
                veh_per_hour=args.veh_per_hour,
            )
        flows = movement_flows_vph(network, routes, 0.0, end_s)
        plans = webster_planset(network, flows)
        webster_add = export(plans, network, sdir / "webster.add.xml", "sumo")
        static, st_wall, st_cpu = _timed(
            lambda routes=routes, webster_add=webster_add: evaluate_sumo(
                net_path,
                routes,
                program=webster_add,
                end_s=end_s,
                network=network,
                queue_sample_s=0.0,
                controller="webster",
            ),
            f"seed {seed} static Webster",
        )
        loop, lp_wall, lp_cpu = _timed(
            lambda routes=routes, plans=plans: evaluate_online(
                net_path,
                routes,
                MaxPressure(),
                plans=plans,
                config=cfg,
                end_s=end_s,
                network=network,
            ),
            f"seed {seed} max-pressure loop",
        )
        mp_delay.append(loop.summary["avg_delay_s"])
        wb_delay.append(static.summary["avg_delay_s"])
        row = {
            "seed": seed,
            "vehicles": static.summary.get("n_vehicles"),
            "delay_webster_s": round(wb_delay[-1], 2),
            "delay_max_pressure_s": round(mp_delay[-1], 2),
            "delay_max_pressure_connected_s": round(
                metric(loop.metrics, "avg_delay_s", CONNECTED), 2
            ),
            "delay_max_pressure_other_s": round(metric(loop.metrics, "avg_delay_s", OTHER), 2),
            "throughput_webster_veh": static.summary.get("throughput_veh"),
            "throughput_max_pressure_veh": loop.summary.get("throughput_veh"),
            "teleports_webster": static.summary.get("n_teleports"),
            "teleports_max_pressure": loop.summary.get("n_teleports"),
            "static_wall_s": round(st_wall, 2),
            "loop_wall_s": round(lp_wall, 2),
            "static_cpu_s": round(st_cpu, 2),
            "loop_cpu_s": round(lp_cpu, 2),
            "loop_switches": loop.loop.switches,
            "loop_forced": loop.loop.forced,
        }
        per_seed.append(row)
        if i == 0:
            out |= {
                "loop_wall_s": round(lp_wall, 2),
                "static_wall_s": round(st_wall, 2),
                "overhead_ratio": round(lp_wall / st_wall, 3),
                "loop_cpu_s": round(lp_cpu, 2),
                "static_cpu_s": round(st_cpu, 2),
                "overhead_ratio_cpu": round(lp_cpu / st_cpu, 3),
                "loop_sim_s": round(loop.result.sim_wall_s, 2),
                "static_sim_s": round(static.sim_wall_s, 2),
                "loop_control_s": round(loop.loop.control_wall_s, 2),
                "loop_decisions": loop.loop.decisions,
            }
            if not args.no_state_mode:
                smode, sm_wall, sm_cpu = _timed(
                    lambda routes=routes, plans=plans: evaluate_online(
                        net_path,
                        routes,
                        MaxPressure(),
                        plans=plans,
                        config=LoopConfig(delta_t_s=args.delta_t, mode="state"),
                        end_s=end_s,
                        network=network,
                    ),
                    f"seed {seed} max-pressure loop, state mode",
                )
                out |= {
                    "loop_state_wall_s": round(sm_wall, 2),
                    "loop_state_cpu_s": round(sm_cpu, 2),
                    "loop_state_set_calls": smode.loop.set_calls,
                    "loop_program_set_calls": loop.loop.set_calls,
                    "state_mode_same_delay": bool(
                        np.isclose(smode.summary["avg_delay_s"], loop.summary["avg_delay_s"])
                    ),
                }
            # connected-vehicle max-pressure at each penetration, same trips
            cv: dict[str, dict] = {}
            for p in args.penetrations:
                r_p = with_cv_share(
                    routes, sdir / f"am_peak.cv{int(round(p * 100))}.rou.xml", p, seed
                )
                res, w, _ = _timed(
                    lambda r_p=r_p, p=p, plans=plans: evaluate_online(
                        net_path,
                        r_p,
                        CVMaxPressure(penetration=p),
                        plans=plans,
                        config=cfg,
                        end_s=end_s,
                        network=network,
                    ),
                    f"seed {seed} CV max-pressure at {p:.0%}",
                )
                cv[f"{int(round(p * 100))}"] = {
                    "delay_s": round(res.summary["avg_delay_s"], 2),
                    "delay_connected_s": round(metric(res.metrics, "avg_delay_s", CONNECTED), 2),
                    "delay_other_s": round(metric(res.metrics, "avg_delay_s", OTHER), 2),
                    "throughput_veh": res.summary.get("throughput_veh"),
                    "wall_s": round(w, 2),
                }
            out["cv_max_pressure"] = cv
    out["delay_max_pressure_s"] = round(float(np.mean(mp_delay)), 2)
    out["delay_webster_s"] = round(float(np.mean(wb_delay)), 2)
    out["max_pressure_beats_webster"] = bool(
        all(m < w for m, w in zip(mp_delay, wb_delay, strict=True))
    )
    if "cv_max_pressure" in out and out["cv_max_pressure"]:
        out["delay_cv_max_pressure_s"] = {
            k: v["delay_s"] for k, v in out["cv_max_pressure"].items()
        }
    out["per_seed"] = per_seed
    out["bench_wall_s"] = round(time.perf_counter() - t_start, 1)
    return _json_safe(out)


def _json_safe(x):
    """NaN (e.g. no 'other' vehicles at 100 % penetration) -> None, so the line is valid JSON."""
    import math

    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
