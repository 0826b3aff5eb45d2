"""Closed-loop max-pressure vs static Webster programs in plain SUMO (pilot zone, micro, AM peak).

In one run, on the same routed demand of every seed (default: the evaluation seeds of
:mod:`signals.bench._common`, 1 simulated hour; the loop's 300 s max green was tuned on the
tuning seed 1, which is not used here):

* **overhead** (every seed; median and max reported): max-pressure through the closed loop
  (:func:`evaluate_online`, stage programs switched with ``setPhase``, observations every 5 s)
  against the Webster programs run static in plain SUMO (:func:`evaluate_sumo`, no sampling).
  ``loop_wall_s`` and ``static_wall_s`` are whole calls (SUMO start, simulation, outputs read
  back); ``overhead_ratio = loop_wall_s / static_wall_s`` (target <= 1.3); the CPU-time ratio
  too, and ``loop_control_s`` (Python time observing, deciding and switching). The two runs do
  not simulate the same traffic (the controllers differ); the first seed also runs the loop in
  "state" mode (setRedYellowGreenState every change, 1 s steps) for the program-vs-state
  comparison.
* **every controller's figures** (:func:`signals.bench._common.controller_figures`): average
  delay (timeLoss + departDelay, vehicles still in the network counted), trips finished,
  vehicles left, teleports, stops; mean and min-max over the seeds, and per seed.
* **connected-vehicle max-pressure** at penetration 100/50/20 % on every seed: the same trips,
  the connected type redrawn with the penetration share; the controller sees only connected
  vehicles within 300 m of a roadside unit -- where the recipe places them (``--rsu-at rsu``,
  default) or at every signal (``all``) -- and follows the Webster plan at a signal while it
  sees none (:class:`CVMaxPressure` ``fallback="plan"``).

``--quick`` shortens the horizon to 900 s for trying it out (not the acceptance figures).
"""

from __future__ import annotations

import argparse
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
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/loop", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument(
        "--rsu-at",
        choices=("rsu", "all"),
        default="rsu",
        help="roadside units for CV max-pressure: where the recipe places them (default) or at "
        "every signal",
    )
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
    from signals.evaluate.metrics import CONNECTED, OTHER, value
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network

    t_start = time.perf_counter()
    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    end_s = 900.0 if args.quick else float(args.end_s)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)
    cfg = LoopConfig(delta_t_s=args.delta_t)
    cv_cfg = LoopConfig(delta_t_s=args.delta_t, rsu_at=args.rsu_at)

    runs: dict[str, list[dict]] = {"webster": [], "max_pressure": []}
    timing: list[dict] = []
    inputs: dict[str, Path] = {"net": net_path}
    out: dict = {}
    for i, seed in enumerate(args.seeds):
        sdir = work / f"seed{seed}-{int(end_s)}s"
        sdir.mkdir(parents=True, exist_ok=True)
        routes = routes_asset(
            net_path, work, period="am_peak", seed=seed, end_s=end_s, veh_per_hour=args.veh_per_hour
        )
        inputs[f"routes_seed{seed}"] = routes
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
        runs["webster"].append({"seed": seed, **controller_figures(static.summary)})
        runs["max_pressure"].append(
            {
                "seed": seed,
                **controller_figures(loop.summary),
                "avg_delay_connected_s": round(value(loop.metrics, "avg_delay_s", CONNECTED), 2),
                "avg_delay_other_s": round(value(loop.metrics, "avg_delay_s", OTHER), 2),
                "switches": loop.loop.switches,
                "forced": loop.loop.forced,
            }
        )
        timing.append(
            {
                "seed": seed,
                "static_wall_s": round(st_wall, 2),
                "loop_wall_s": round(lp_wall, 2),
                "overhead_ratio": round(lp_wall / st_wall, 3),
                "static_cpu_s": round(st_cpu, 2),
                "loop_cpu_s": round(lp_cpu, 2),
                "overhead_ratio_cpu": round(lp_cpu / st_cpu, 3),
                "loop_sim_s": round(loop.result.sim_wall_s, 2),
                "static_sim_s": round(static.sim_wall_s, 2),
                "loop_control_s": round(loop.loop.control_wall_s, 2),
                "loop_decisions": loop.loop.decisions,
            }
        )
        if i == 0 and not args.no_state_mode:
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
            out["state_mode"] = {
                "seed": seed,
                "loop_state_wall_s": round(sm_wall, 2),
                "loop_state_cpu_s": round(sm_cpu, 2),
                "loop_state_set_calls": smode.loop.set_calls,
                "loop_program_set_calls": loop.loop.set_calls,
                "same_delay": bool(
                    np.isclose(smode.summary["avg_delay_s"], loop.summary["avg_delay_s"])
                ),
            }
        # connected-vehicle max-pressure at each penetration, same trips, every seed
        for p in args.penetrations:
            key = f"cv_max_pressure_{int(round(p * 100))}"
            r_p = with_cv_share(routes, sdir / f"am_peak.cv{int(round(p * 100))}.rou.xml", p, seed)
            res, w, _ = _timed(
                lambda r_p=r_p, p=p, plans=plans: evaluate_online(
                    net_path,
                    r_p,
                    CVMaxPressure(penetration=p),
                    plans=plans,
                    config=cv_cfg,
                    end_s=end_s,
                    network=network,
                ),
                f"seed {seed} CV max-pressure at {p:.0%}",
            )
            runs.setdefault(key, []).append(
                {
                    "seed": seed,
                    **controller_figures(res.summary),
                    "avg_delay_connected_s": round(value(res.metrics, "avg_delay_s", CONNECTED), 2),
                    "avg_delay_other_s": round(value(res.metrics, "avg_delay_s", OTHER), 2),
                    "wall_s": round(w, 2),
                }
            )
    controllers = {c: {"over_seeds": over_seeds(r), "per_seed": r} for c, r in runs.items()}
    mean = {c: v["over_seeds"]["avg_delay_s"]["mean"] for c, v in controllers.items()}
    trips = {c: v["over_seeds"]["trips_finished"]["mean"] for c, v in controllers.items()}
    ratios = [t["overhead_ratio"] for t in timing]
    out = {
        **record("loop", start, inputs=inputs, seeds=args.seeds, horizon_s=end_s),
        "net": str(net_path),
        "n_signals": network.n_signals,
        "n_rsu_signals": int(network.signal_rsu.sum()),
        "rsu_at": args.rsu_at,
        "delta_t_s": args.delta_t,
        "tuned_on": "LoopConfig.max_green_s = 300 s was chosen on the tuning seed 1",
        "delay_max_pressure_s": mean["max_pressure"],
        "delay_webster_s": mean["webster"],
        "trips_max_pressure": trips["max_pressure"],
        "trips_webster": trips["webster"],
        "max_pressure_beats_webster_on_every_seed": all(
            m["avg_delay_s"] < w["avg_delay_s"]
            for m, w in zip(runs["max_pressure"], runs["webster"], strict=True)
        ),
        "max_pressure_finishes_as_many_on_every_seed": all(
            m["trips_finished"] >= w["trips_finished"]
            for m, w in zip(runs["max_pressure"], runs["webster"], strict=True)
        ),
        "overhead_ratio_median": round(float(np.median(ratios)), 3),
        "overhead_ratio_max": round(float(np.max(ratios)), 3),
        "controllers": controllers,
        "timing": timing,
        **out,
        "bench_wall_s": round(time.perf_counter() - t_start, 1),
    }
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
