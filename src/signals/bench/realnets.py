"""Every controller on public networks the project did not build: RESCO cologne8 and ingolstadt21.

The RESCO scenarios (Ault & Sharon 2021, "Reinforcement Learning Benchmarks for Traffic Signal
Control", NeurIPS Datasets and Benchmarks) ship inside the ``sumo-rl`` wheel: a SUMO net with the
city's own signal programs and a trip file (origin/destination, departures on clock time:
cologne8 from 25,200 s, ingolstadt21 from 57,600 s). Install it for the benchmark only
(``pip install --no-deps sumo-rl``; the nets are never committed) or point ``--resco`` at a folder
holding ``<name>/<name>.net.xml`` and ``<name>/<name>.rou.xml``.

Per network, in one run, on the same routed trips and the same SUMO seeds:

* **own**: the net's own programs, static (:func:`evaluate_sumo`);
* **webster**: Webster/HCM plans on the stage templates (:func:`signals.control.stage_sets.
  stage_templates`: the net's own stage order where it serves, else stages from the conflict
  matrix), design flows from the same trips over the evaluated window, static;
* **optimized**: CP-SAT cycle and splits (:func:`signals.control.optimize.optimize_planset`,
  its defaults: each signal its own cycle, HCM delay) on the same stage templates and flows,
  static;
* **sumo_tools**: SUMO's ``tools/tlsCycleAdaptation.py`` (from the window's begin) followed by
  ``tools/tlsCoordinator.py`` on the same routes (the peer ``signals bench optimize`` uses), run
  as an existing program through the gate (a program the gate refuses, or a tool that fails on
  the net, is reported so, not run);
* **max-pressure**: Varaiya's max-pressure through the closed loop (``LoopConfig`` defaults) on
  the same stage templates;
* **actuated**: SUMO's own actuated control on the net's own phases (``type="actuated"``, SUMO's
  gap-out): what a user gets for free.

Figures per controller: average delay as RESCO defines it (timeLoss + departDelay per vehicle,
vehicles still running or waiting to depart counted), trips finished, vehicles left in the
network or not yet inserted, SUMO teleports; mean over the evaluation seeds and per seed.

Honest figures: nothing in any controller was chosen on these networks; the only tuned loop
default (``LoopConfig.max_green_s``) was chosen on the pilot zone's seed 1. The seeds here are
SUMO's ``--seed`` (driver imperfection, insertion), the trips being fixed by the scenario.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from signals.bench._common import (
    add_seed_arguments,
    controller_figures,
    over_seeds,
    record,
    started,
    sumo_tools_programs,
)

NETS = ("cologne8", "ingolstadt21")
CONTROLLERS = ("own", "webster", "optimized", "sumo_tools", "max-pressure", "actuated")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS, help="RESCO networks")
    p.add_argument(
        "--resco",
        default=None,
        help="folder with <name>/<name>.net.xml and .rou.xml (default: the installed sumo-rl)",
    )
    p.add_argument("--work", default="out/bench/realnets", help="work directory (kept)")
    add_seed_arguments(p, what="SUMO")
    p.add_argument("--horizon-s", type=float, default=3600.0, help="simulated window, s")
    p.add_argument("--quick", action="store_true", help="900 s window, one seed (trying it out)")
    p.add_argument(
        "--controllers", nargs="+", default=list(CONTROLLERS), choices=CONTROLLERS, help="subset"
    )


def resco_dir(given: str | None) -> Path:
    """The RESCO folder: ``given``, else the one inside the installed sumo-rl package."""
    from signals.errors import InputError

    if given:
        return Path(given)
    import importlib.util

    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.origin:
        raise InputError(
            None,
            "--resco",
            "a RESCO folder, or the sumo-rl wheel installed for the benchmark "
            "(pip install --no-deps sumo-rl)",
            "sumo-rl not installed",
        )
    return Path(spec.origin).parent / "nets" / "RESCO"


def resco_scenario(base: Path, name: str, work: Path) -> tuple[Path, Path, Path, list[str], float]:
    """A RESCO scenario's net, trip file, routes (routed once per trip-file content under
    ``work/name``), the trips duarouter could not route, and the window's begin (the first
    departure, down to a quarter hour)."""
    import numpy as np

    from signals.demand import read_routes, route_trips_report
    from signals.digests import sha256_file
    from signals.errors import require_file

    net_path = require_file(base / name / f"{name}.net.xml", "net", "a RESCO net file")
    trips = require_file(base / name / f"{name}.rou.xml", "trips", "a RESCO trip file")
    routes = work / name / f"{name}.{sha256_file(trips)[:16]}.rou.xml"
    routes.parent.mkdir(parents=True, exist_ok=True)
    dropped: list[str] = []
    if not routes.exists():
        dropped = list(route_trips_report(trips, net_path, routes, ignore_errors=True).dropped)
    r = read_routes(routes)
    begin = float(math.floor(float(np.min(r.depart_s)) / 900.0) * 900.0)
    return net_path, trips, routes, dropped, begin


def _progress(msg: str) -> None:
    print(f"bench realnets: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from signals.control.adaptive import ActuatedSumo, MaxPressure
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.control.optimize import optimize_planset
    from signals.control.stage_sets import stage_templates
    from signals.demand import read_routes
    from signals.digests import sha256_file
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network
    from signals.safety import UnsafePlanError
    from signals.sumo_tools import SumoToolError

    t0 = time.perf_counter()
    start = started()
    base = resco_dir(args.resco)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    horizon = 900.0 if args.quick else float(args.horizon_s)
    seeds = list(args.seeds[:1] if args.quick else args.seeds)
    out: dict = {
        "seeds_role": "SUMO --seed; no parameter was tuned on these networks",
        "delay_definition": "RESCO: timeLoss + departDelay per vehicle, unfinished included",
        "networks": {},
    }
    inputs: dict[str, Path] = {}
    for name in args.nets:
        net_path, trips, routes, dropped, begin = resco_scenario(base, name, work)
        r = read_routes(routes)
        end = begin + horizon
        network = Network.from_sumo(net_path)
        templates = stage_templates(network)
        flows = movement_flows_vph(network, routes, begin, end)
        plans = webster_planset(network, flows, templates)
        webster_add = export(plans, network, work / name / "webster.add.xml", "sumo")
        programs = {"webster": webster_add}
        if "optimized" in args.controllers:
            w = time.perf_counter()
            opt, opt_res = optimize_planset(network, flows, templates)
            optimize_s = time.perf_counter() - w
            programs["optimized"] = export(opt, network, work / name / "optimized.add.xml", "sumo")
        tools_failed = ""
        if "sumo_tools" in args.controllers:
            try:
                programs["sumo_tools"] = sumo_tools_programs(net_path, routes, work / name, begin)
            except SumoToolError as e:  # the peer's own failure on this net is a result too
                tools_failed = f"{e.tool}: {e.first_error}"
                _progress(f"{name} sumo_tools: the tool failed: {tools_failed}")
        entry: dict = {
            "net_sha256": sha256_file(net_path),
            "trips_sha256": sha256_file(trips),
            "routes_sha256": sha256_file(routes),
            "n_signals": network.n_signals,
            "window_s": [begin, end],
            "vehicles_in_window": int(((r.depart_s >= begin) & (r.depart_s < end)).sum()),
            "unroutable_trips_dropped": len(dropped),
            "stage_templates": templates.counts(),
            "per_seed": {c: [] for c in args.controllers},
        }
        if tools_failed:
            entry["sumo_tools_failed"] = tools_failed
        if "optimized" in args.controllers:
            entry["optimize_wall_s"] = round(optimize_s, 1)
            entry["optimize_best_effort"] = sum(r.best_effort for r in opt_res)
        for seed in seeds:
            for c in args.controllers:
                w = time.perf_counter()
                common = dict(begin_s=begin, end_s=end, seed=seed, network=network)
                if c == "own":
                    res = evaluate_sumo(
                        net_path, routes, queue_sample_s=0.0, controller=c, **common
                    )
                elif c == "sumo_tools" and c not in programs:
                    continue
                elif c in programs:
                    try:
                        res = evaluate_sumo(
                            net_path,
                            routes,
                            program=programs[c],
                            queue_sample_s=0.0,
                            controller=c,
                            **common,
                        )
                    except UnsafePlanError as e:  # SUMO's tool output: the gate has the say
                        entry.setdefault("refused_by_the_gate", {})[c] = str(e).splitlines()[0]
                        _progress(f"{name} {c}: refused by the gate: {e}")
                        continue
                elif c == "max-pressure":
                    res = evaluate_online(net_path, routes, MaxPressure(), **common)
                else:
                    res = evaluate_online(
                        net_path, routes, ActuatedSumo(), config=LoopConfig(stages="own"), **common
                    )
                row = {"seed": seed, **controller_figures(res.summary)}
                row["wall_s"] = round(time.perf_counter() - w, 1)
                entry["per_seed"][c].append(row)
                _progress(f"{name} seed {seed} {c}: {row}")
        entry["per_seed"] = {c: rows for c, rows in entry["per_seed"].items() if rows}
        entry["over_seeds"] = {c: over_seeds(rows) for c, rows in entry["per_seed"].items()}
        means = {c: {k: v["mean"] for k, v in o.items()} for c, o in entry["over_seeds"].items()}
        entry["mean"] = means
        inputs |= {f"{name}_net": net_path, f"{name}_trips": trips, f"{name}_routes": routes}
        entry["goals"] = _goals(means)
        out["networks"][name] = entry
    out["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    return {**record("realnets", start, inputs=inputs, seeds=seeds, horizon_s=horizon), **out}


def _goals(m: dict) -> dict:
    """The issue's goals, as measured (None where a controller did not run)."""
    g: dict = {}
    if "webster" in m and "own" in m:
        g["webster_no_worse_than_own"] = m["webster"]["avg_delay_s"] <= m["own"]["avg_delay_s"]
    if "optimized" in m and "webster" in m:
        g["optimized_below_webster"] = m["optimized"]["avg_delay_s"] < m["webster"]["avg_delay_s"]
        g["optimized_finishes_at_least_as_many"] = (
            m["optimized"]["trips_finished"] >= m["webster"]["trips_finished"]
        )
    if "optimized" in m and "sumo_tools" in m:
        g["optimized_below_sumo_tools"] = (
            m["optimized"]["avg_delay_s"] < m["sumo_tools"]["avg_delay_s"]
        )
    if "max-pressure" in m and "actuated" in m:
        g["max_pressure_below_actuated"] = (
            m["max-pressure"]["avg_delay_s"] < m["actuated"]["avg_delay_s"]
        )
        g["max_pressure_finishes_at_least_as_many"] = (
            m["max-pressure"]["trips_finished"] >= m["actuated"]["trips_finished"]
        )
    return g
