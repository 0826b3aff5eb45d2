"""Experiment configs and the sweep runner behind ``signals run CONFIG``.

A config (TOML, unknown keys rejected) names a network (a recipe under ``networks/`` or a
``.net.xml``), scenarios (time-of-day period, demand scale, connected-vehicle share), controllers and
seeds. The runner expands scenarios x controllers x seeds into runs and executes them, ``jobs`` at a
time, each in a fresh process of its own (or on Ray with ``backend = "ray"``). The combined long
table goes to ``results.parquet`` and ``summary.csv`` beside ``run.json`` (resolved config, git
revision, package versions and the status of every run).

Faults (docs/architecture.md, "Bad input and faults"):

* A run works in ``runs/.<run_id>.tmp-XXXX`` and counts as finished only when that directory, holding
  ``results.parquet`` and ``record.json`` (the run's resolved config -- scenario, controller, seed,
  sim window, input checksums -- and the sha256 of ``results.parquet``), is renamed to
  ``runs/<run_id>`` in one atomic step. A run that fails (a SUMO error, or a worker killed by a
  signal, as a SUMO segfault would) is committed the same way holding only ``error.txt``; the sweep
  goes on and ``signals run`` exits 1 at the end.
* A rerun removes stale temporary directories, verifies every record (checksum, labels, config) and
  redoes exactly the runs whose record is missing, incomplete or does not match.
* Run ids ``<scenario>__<controller>__s<seed>`` are injective: names are restricted to
  ``[A-Za-z0-9_.-]`` (not starting with ``.`` or ``-``), controller names hold no ``__``, and
  duplicate scenarios, controllers or seeds are rejected before any run starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from signals.config import load_typed, read_toml
from signals.digests import sha256_file
from signals.errors import InputError, atomic_write

REPO_ROOT = Path(__file__).resolve().parents[2]

# Names that become file or directory names under --out (experiment, scenario): no separators, no
# "..", nothing hidden, nothing that reads as a command-line option.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
SAFE_NAME_EXPECTED = "a name of 1-100 characters from [A-Za-z0-9_.-], not starting with '.' or '-'"
MAX_SEED = 2**31 - 1  # SUMO's --seed is a C int

RECORD = "record.json"  # written last inside a run's temp dir; its presence marks a finished run
ERROR = "error.txt"
RESULTS = "results.parquet"


def check_name(file, field_name: str, name: str) -> None:
    """Reject a name that would write outside ``--out`` or collide after joining (one line)."""
    if not SAFE_NAME.fullmatch(name):
        raise InputError(file, field_name, SAFE_NAME_EXPECTED, repr(name))


def _duplicates(values: list) -> list:
    seen, dup = set(), []
    for v in values:
        if v in seen and v not in dup:
            dup.append(v)
        seen.add(v)
    return dup


def _config_dir(file) -> Path:
    return Path(file).parent if file not in (None, "-") else Path.cwd()


def resolve_additional(file, field_name: str, paths: list[str]) -> list[Path]:
    """SUMO additional files named in a config (relative to the config file), each checked:
    it exists and its root is ``<additional>`` or ``<add>`` (one line naming the field if not).
    """
    from signals.evaluate.sumo_run import ADDITIONAL_ROOTS, _check_xml

    out = []
    for i, a in enumerate(paths):
        key = f"{field_name}[{i}]"
        if not a.strip():
            raise InputError(file, key, "a SUMO additional file path", repr(a))
        p = (_config_dir(file) / a).resolve()
        try:
            _check_xml(p, key, ADDITIONAL_ROOTS, "SUMO additional file")
        except InputError as exc:
            raise InputError(file, key, exc.expected, f"{exc.found} ({p})") from None
        out.append(p)
    return out


@dataclass(frozen=True)
class NetworkSpec:
    recipe: str | None = None  # a recipe name under networks/ (built into <out>/networks/<recipe>)
    path: str | None = None  # or an existing .net.xml (relative to the config file)
    seed: int | None = None  # override the recipe's seed
    # SUMO additional files for every run on this net (vehicle types, bus stops, detectors,
    # tlLogics; relative to the config file), loaded in this order before the scenario's own
    additional: list[str] = field(default_factory=list)

    def check(self, file) -> None:
        if (self.recipe is None) == (self.path is None):
            raise InputError(
                file,
                "network",
                "exactly one of recipe or path",
                f"recipe={self.recipe!r}, path={self.path!r}",
            )
        if self.path is not None:  # checked when the config loads, before anything is written
            p = (Path(file).parent / self.path).resolve()
            if not p.is_file():
                raise InputError(file, "network.path", "an existing .net.xml", str(p))
        resolve_additional(file, "network.additional", self.additional)


@dataclass(frozen=True)
class Scenario:
    name: str
    period: str = "am_peak"
    scale: float = 1.0  # multiplies the period's demand
    veh_per_hour: float | None = None  # explicit base volume; default from the network's meta.json
    cv_share: float = 0.3
    # existing route file(s) instead of generated demand (relative to the config file); several
    # are loaded together as SUMO's -r a,b (e.g. vehicle types in their own file)
    routes: str | list[str] | None = None
    # SUMO additional files of this scenario, loaded after the network's (see NetworkSpec)
    additional: list[str] = field(default_factory=list)
    # GLOSA (SUMO's glosa device, signals.v2x): connected vehicles get speed advice within this
    # range of the signals with a roadside unit, from the plans a run exports (webster,
    # optimized, green-wave); 0: off. Other controllers run without it (their signals announce
    # no fixed switch times)
    glosa_range_m: float = 0.0

    def check(self, file) -> None:
        check_name(file, "scenarios.name", self.name)
        if isinstance(self.routes, list) and not self.routes:
            raise InputError(
                file, f"scenarios.{self.name}.routes", "at least one route file", "an empty list"
            )
        resolve_additional(file, f"scenarios.{self.name}.additional", self.additional)
        if self.scale < 0:
            raise InputError(
                file, f"scenarios.{self.name}.scale", "a non-negative number", self.scale
            )
        if self.veh_per_hour is not None and self.veh_per_hour < 0:
            raise InputError(
                file,
                f"scenarios.{self.name}.veh_per_hour",
                "a non-negative flow (veh/h)",
                self.veh_per_hour,
            )
        if not 0.0 <= self.cv_share <= 1.0:
            raise InputError(
                file, f"scenarios.{self.name}.cv_share", "a share in [0, 1]", self.cv_share
            )
        if not (math.isfinite(self.glosa_range_m) and self.glosa_range_m >= 0):
            raise InputError(
                file, f"scenarios.{self.name}.glosa_range_m", "metres >= 0", self.glosa_range_m
            )


@dataclass(frozen=True)
class SimSpec:
    begin_s: float = 0.0
    end_s: float = 3600.0
    meso: bool = False
    # "sumo" (micro, or meso with meso = true) or "queue-model": the project's vectorized
    # queue/delay model (signals.evaluate.queue, calibrated on the tuning seeds), Poisson
    # arrivals drawn with the run's seed; fixed-time plans directly, loop controllers through
    # the same loop on the model (signals.evaluate.queue_loop); not SUMO's own actuated
    evaluator: Literal["sumo", "queue-model"] = "sumo"

    def check(self, file) -> None:
        if self.end_s <= self.begin_s:
            raise InputError(file, "sim.end_s", f"a time after begin_s={self.begin_s}", self.end_s)
        if self.evaluator == "queue-model" and self.meso:
            raise InputError(file, "sim.meso", "false with evaluator = 'queue-model'", True)


@dataclass(frozen=True)
class RunSpec:
    controllers: list[str] = field(default_factory=lambda: ["default"])
    seeds: list[int] = field(default_factory=lambda: [1])
    jobs: int = 2
    backend: Literal["local", "ray"] = "local"
    # trained RL policies (directories with model.zip and card.json, relative to the config
    # file), each run as controller "rl-<directory name>" through the closed loop
    policies: list[str] = field(default_factory=list)
    # a loop controller's settings: name -> keyword arguments of its constructor, e.g.
    # [run.params.actuated-det] timing = { max1_s = 60.0, max2_s = 120.0 }; a CV controller's
    # penetration defaults to the scenario's cv_share
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self, file) -> None:
        if not self.controllers:
            raise InputError(file, "run.controllers", "at least one controller", "an empty list")
        unknown = [c for c in self.controllers if c not in CONTROLLERS]
        if unknown:
            raise InputError(
                file, "run.controllers", "one of " + ", ".join(sorted(CONTROLLERS)), unknown[0]
            )
        dup = _duplicates(self.controllers)
        if dup:
            raise InputError(
                file,
                "run.controllers",
                "each controller once (a repeat would run the same run twice)",
                f"{dup[0]!r} repeated",
            )
        if not self.seeds:
            raise InputError(file, "run.seeds", "at least one seed", "an empty list")
        bad = [x for x in self.seeds if not 0 <= x <= MAX_SEED]
        if bad:
            raise InputError(file, "run.seeds", f"integers in [0, {MAX_SEED}]", bad[0])
        dup = _duplicates(self.seeds)
        if dup:
            raise InputError(
                file,
                "run.seeds",
                "each seed once (a repeat would run the same run twice)",
                f"{dup[0]} repeated",
            )
        if self.jobs < 1:
            raise InputError(file, "run.jobs", "an integer >= 1", self.jobs)
        names = []
        for i, p in enumerate(self.policies):
            d = _config_dir(file) / p
            if not ((d / "model.zip").is_file() and (d / "card.json").is_file()):
                raise InputError(
                    file, f"run.policies[{i}]", "a policy directory (model.zip, card.json)", str(d)
                )
            names.append(policy_controller(p))
            check_name(file, f"run.policies[{i}]", names[-1])
        dup = _duplicates(names + list(self.controllers))
        if dup:
            raise InputError(file, "run.policies", "policies with distinct names", dup[0])
        for name, kwargs in self.params.items():
            check_controller_params(file, name, kwargs, self.controllers)

    @property
    def all_controllers(self) -> list[str]:
        """The controllers, then one ``rl-<name>`` per policy."""
        return [*self.controllers, *map(policy_controller, self.policies)]


@dataclass(frozen=True)
class OutputsSpec:
    """What a run writes beyond its results table. None of it changes a result, so none of it
    is in a run's record key; a finished run that lacks a recording asked for here is redone."""

    report: bool = True  # OUT/report/ (HTML and PNGs) at the end of `signals run`
    # the corridor of the report's time-space diagram: the name of one of the net's V2X
    # corridors, or its signal ids in driving order (any net); "" takes the net's first V2X
    # corridor, and a net without one gets no diagram
    corridor: str | list[str] = ""
    timespace_s: float = 600.0  # the diagram's window from sim.begin_s; 0: no diagram
    # SUMO runs of the first seed record the corridor as it ran: every state change of its
    # signals and the trajectories of its vehicles (fcd), for every controller
    trajectories: bool = True

    def check(self, file) -> None:
        if isinstance(self.corridor, list):
            if len(self.corridor) < 2 or _duplicates(self.corridor):
                raise InputError(
                    file,
                    "outputs.corridor",
                    "a corridor name, or two or more distinct signal ids in driving order",
                    self.corridor,
                )


@dataclass(frozen=True)
class Experiment:
    name: str
    network: NetworkSpec
    scenarios: list[Scenario]
    description: str = ""
    sim: SimSpec = field(default_factory=SimSpec)
    run: RunSpec = field(default_factory=RunSpec)
    outputs: OutputsSpec = field(default_factory=OutputsSpec)

    def check(self, file) -> None:
        check_name(file, "name", self.name)
        if not self.scenarios:
            raise InputError(file, "scenarios", "at least one [[scenarios]] table", "none")
        names = [s.name for s in self.scenarios]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(file, "scenarios.name", "unique scenario names", sorted(dup)[0])
        glosa = [sc.name for sc in self.scenarios if sc.glosa_range_m > 0]
        if self.sim.evaluator == "queue-model" and glosa:
            raise InputError(
                file, f"scenarios.{glosa[0]}.glosa_range_m", "0 with the queue model (GLOSA is "
                "SUMO's glosa device)", "> 0",
            )  # fmt: skip
        if self.sim.evaluator == "queue-model" and "actuated" in self.run.controllers:
            raise InputError(
                file,
                "run.controllers",
                "controllers the queue model runs (SUMO's own actuated needs SUMO)",
                "actuated",
            )


def load_experiment(path: str | Path) -> Experiment:
    """Read and type-check an experiment config."""
    return load_typed(Experiment, read_toml(path), path)


# Controllers a config may name. Each maps to how the evaluator receives it; see _dispatch.
CONTROLLERS = {
    "default": "the network's own (netconvert) programs",
    "webster": "Webster/HCM fixed-time plans for the scenario's demand",
    "optimized": "CP-SAT cycle and splits for the scenario's demand (signals plan optimize)",
    "green-wave": "CP-SAT splits, one cycle per V2X corridor, MAXBAND offsets (a green wave)",
    "actuated": "SUMO's built-in actuated control",
    "max-pressure": "max-pressure (Varaiya 2013) through the closed loop",
    "actuated-det": "our NEMA-style actuated control on loop detectors, through the closed loop",
    "actuated-det-cv": "our actuated control on detectors and connected-vehicle arrival predictions",
    "actuated-cv": "our actuated control on connected vehicles only",
    "cv-max-pressure": "max-pressure on connected vehicles in roadside-unit range only",
}
# Run ids join scenario, controller and seed with "__"; they stay injective only while no controller
# name holds "__" or starts with "_" (and scenario names are SAFE_NAME).
assert all(SAFE_NAME.fullmatch(c) and "__" not in c and c[0] != "_" for c in CONTROLLERS)


FIXED_TIME_CONTROLLERS = ("default", "webster", "optimized", "green-wave")  # plans; no loop
# the fixed-time controllers whose plans a run exports (and may give GLOSA ranges)
EXPORTED_CONTROLLERS = FIXED_TIME_CONTROLLERS[1:]
STATIC_CONTROLLERS = (*FIXED_TIME_CONTROLLERS, "actuated")  # SUMO runs them; no settings
# controllers that take a connected-vehicle penetration: the scenario's cv_share unless
# run.params sets one
CV_CONTROLLERS = ("actuated-det-cv", "actuated-cv", "cv-max-pressure")


def check_controller_params(file, name: str, kwargs: dict, controllers: list[str]) -> None:
    """``run.params.NAME``: a controller of the config that takes settings, and settings its
    constructor accepts (it is built once here, so a bad value fails before any run)."""
    from signals.control.adaptive import make_controller

    key = f"run.params.{name}"
    if name not in controllers:
        raise InputError(file, key, "a controller of run.controllers", repr(name))
    if name in STATIC_CONTROLLERS:
        raise InputError(file, key, "a loop controller (these take no settings)", repr(name))
    try:
        make_controller(name, **kwargs)
    except TypeError as exc:
        raise InputError(file, key, f"settings {name} accepts", str(exc)) from None
    except (InputError, ValueError) as exc:
        what = f"{exc.field}: {exc.found}" if isinstance(exc, InputError) else str(exc)
        raise InputError(file, key, "valid settings", what) from None


def policy_controller(path: str) -> str:
    """The controller name of a policy directory in results: ``rl-<directory name>``."""
    return "rl-" + Path(path).name


def run_id_for(scenario: str, controller: str, seed: int) -> str:
    return f"{scenario}__{controller}__s{seed}"


@dataclass(frozen=True)
class RunTask:
    run_id: str
    scenario: Scenario
    controller: str
    seed: int
    net_path: str
    routes_path: str  # one route file, or several joined by commas (SUMO's -r a,b)
    sim: SimSpec
    run_dir: str
    inputs: dict = field(default_factory=dict)  # sha256 of the net, routes, additional files
    additional: tuple[str, ...] = ()  # SUMO additional files, in load order
    policy: str = ""  # an RL policy directory (controller "rl-<name>"); its digest is in inputs
    params: dict = field(default_factory=dict)  # the controller's settings (run.params)
    # what this run records for the report's time-space diagram (None: nothing); not part of
    # the key, as recording changes no result (load_record redoes a run that lacks it)
    record: OutputsSpec | None = None

    @property
    def route_files(self) -> list[str]:
        return [r for r in self.routes_path.split(",") if r]

    def key(self) -> dict:
        """What a finished run's record must match to be reused (its resolved config)."""
        scenario = dataclasses.asdict(self.scenario)
        for k in ("additional", "glosa_range_m"):  # keys added later stay absent when
            if not scenario[k]:  # unused, so records written before them still verify
                del scenario[k]
        sim = dataclasses.asdict(self.sim)
        if sim["evaluator"] == "sumo":  # absent when the default, so older records still verify
            del sim["evaluator"]
        doc = {
            "run_id": self.run_id,
            "scenario": scenario,
            "controller": self.controller,
            "seed": self.seed,
            "sim": sim,
            "inputs": dict(self.inputs),
        }
        if self.additional:  # absent when none, so records of runs without any still verify
            doc["additional"] = list(self.additional)
        if self.params:  # likewise
            doc["params"] = self.params
        return json.loads(json.dumps(doc))  # as it reads back from record.json


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib import metadata

    names = [
        "signals",
        "numpy",
        "pandas",
        "pyarrow",
        "eclipse-sumo",
        "libsumo",
        "sumolib",
        "ortools",
        "gymnasium",
        "stable-baselines3",
        "torch",
    ]
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def resolve_network(exp: Experiment, config_path: Path, networks_dir: Path) -> Path:
    """Build (or reuse, from ``networks_dir/<recipe>``) the recipe network, or check the given path."""
    if exp.network.path is not None:
        p = (config_path.parent / exp.network.path).resolve()
        if not p.is_file():
            raise InputError(config_path, "network.path", "an existing .net.xml", str(p))
        return p
    from signals.netbuild import build

    net_dir = networks_dir / exp.network.recipe
    net_path = net_dir / f"{exp.network.recipe}.net.xml"
    if net_path.is_file():
        return net_path
    return Path(build(exp.network.recipe, net_dir, seed=exp.network.seed))


def scenario_additional(exp: Experiment, scenario: Scenario, config_path: Path) -> list[Path]:
    """The run's additional files: the network's, then the scenario's (checked, resolved)."""
    return resolve_additional(config_path, "network.additional", exp.network.additional) + (
        resolve_additional(
            config_path, f"scenarios.{scenario.name}.additional", scenario.additional
        )
    )


def make_route_files(
    exp: Experiment, scenario: Scenario, seed: int, net_path: Path, config_path: Path, out_dir: Path
) -> list[Path]:
    """Route files for one scenario and seed: the config's own (trip files routed first, where
    :func:`signals.demand.route_trips` exists), else generated demand (once; reused on rerun)."""
    if scenario.routes is None:
        return [make_routes(exp, scenario, seed, net_path, config_path, out_dir)]
    given = [scenario.routes] if isinstance(scenario.routes, str) else list(scenario.routes)
    field_name = f"scenarios.{scenario.name}.routes"
    paths = []
    for i, r in enumerate(given):
        p = (config_path.parent / r).resolve()
        if not p.is_file():
            key = field_name if isinstance(scenario.routes, str) else f"{field_name}[{i}]"
            raise InputError(config_path, key, "an existing routes file", str(p))
        paths.append(p)
    return _routed(paths, net_path, scenario_additional(exp, scenario, config_path), out_dir)


def _routed(paths: list[Path], net_path: Path, additional: list[Path], out_dir: Path) -> list[Path]:
    """Trip files (origin/destination only) routed once with duarouter into a digest-keyed
    cache under ``out_dir/demand``; route files as they are."""
    try:
        from signals.demand import is_trip_file, route_trips
    except ImportError:  # not built yet: SUMO routes trips itself at load time
        return paths
    out = []
    for p in paths:
        if not is_trip_file(p):
            out.append(p)
            continue
        digest = _digest(
            {
                "trips": sha256_file(p),
                "net": sha256_file(net_path),
                "additional": [sha256_file(a) for a in additional],
            }
        )
        routed = out_dir / "demand" / f"{p.name.split('.')[0]}.{digest}.rou.xml"
        if not routed.is_file():
            routed.parent.mkdir(parents=True, exist_ok=True)
            # the run loads the additional files too: their types stay out of the routes
            route_trips(
                p, net_path, routed, additional=tuple(additional), omit_additional_types=True
            )
        out.append(routed)
    return out


def make_routes(
    exp: Experiment, scenario: Scenario, seed: int, net_path: Path, config_path: Path, out_dir: Path
) -> Path:
    """Routes for one scenario and seed (generated once; reused on rerun)."""
    if scenario.routes is not None:
        return make_route_files(exp, scenario, seed, net_path, config_path, out_dir)[0]
    from signals.demand import base_veh_per_hour, generate_routes

    # the file name carries a digest of everything the demand depends on, so a changed scenario (or
    # net) never silently reuses the demand of the old one
    digest = _digest(
        {
            "scenario": dataclasses.asdict(scenario),
            "seed": seed,
            "begin_s": exp.sim.begin_s,
            "end_s": exp.sim.end_s,
            "net": sha256_file(net_path),
        }
    )
    path = out_dir / "demand" / f"{scenario.name}.s{seed}.{digest}.rou.xml"
    if path.is_file():
        return path
    # base (mean AM-peak hourly) volume; generate_routes applies the period's own scale on top
    base = (
        scenario.veh_per_hour if scenario.veh_per_hour is not None else base_veh_per_hour(net_path)
    )
    vph = base * scenario.scale
    return Path(
        generate_routes(
            net_path,
            path,
            period=scenario.period,
            veh_per_hour=vph,
            begin_s=exp.sim.begin_s,
            end_s=exp.sim.end_s,
            seed=seed,
            cv_share=scenario.cv_share,
        )
    )


def _digest(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:12]


def recording_corridor(exp: Experiment, config_path: Path, net_path: Path) -> bool:
    """Whether the runs record a corridor for the report's time-space diagram (outputs): a
    window, trajectories asked for, SUMO as the evaluator and a corridor on the net. A
    corridor the config names but the net lacks is refused here, before any run."""
    out = exp.outputs
    if not (out.timespace_s > 0 and out.trajectories and exp.sim.evaluator == "sumo"):
        return False
    from signals.network import Network
    from signals.timespace import find_corridor

    try:
        return find_corridor(Network.from_sumo(net_path), out.corridor) is not None
    except InputError as exc:
        raise InputError(config_path, "outputs.corridor", exc.expected, exc.found) from None


def plan_tasks(
    exp: Experiment, config_path: Path, out_dir: Path, networks_dir: Path | None = None
) -> list[RunTask]:
    net_path = resolve_network(exp, config_path, networks_dir or out_dir / "networks")
    net_sha = sha256_file(net_path)
    record = exp.outputs if recording_corridor(exp, config_path, net_path) else None
    tasks = []
    for sc in exp.scenarios:
        additional = scenario_additional(exp, sc, config_path)
        for seed in exp.run.seeds:
            routes = make_route_files(exp, sc, seed, net_path, config_path, out_dir)
            route_sha = [sha256_file(r) for r in routes]
            inputs: dict = {
                "net_sha256": net_sha,
                "routes_sha256": route_sha[0] if len(route_sha) == 1 else route_sha,
            }
            if additional:
                inputs["additional_sha256"] = [sha256_file(a) for a in additional]
            policy_of = {policy_controller(p): p for p in exp.run.policies}
            for ctrl in exp.run.all_controllers:
                run_id = run_id_for(sc.name, ctrl, seed)
                policy = ""
                task_inputs = inputs
                if ctrl in policy_of:
                    pdir = (config_path.parent / policy_of[ctrl]).resolve()
                    policy = str(pdir)
                    task_inputs = inputs | {
                        "policy_sha256": [
                            sha256_file(pdir / "model.zip"),
                            sha256_file(pdir / "card.json"),
                        ]
                    }
                tasks.append(
                    RunTask(
                        run_id,
                        sc,
                        ctrl,
                        seed,
                        str(net_path),
                        ",".join(str(r) for r in routes),
                        exp.sim,
                        str(out_dir / "runs" / run_id),
                        task_inputs,
                        tuple(str(a) for a in additional),
                        policy,
                        dict(exp.run.params.get(ctrl, {})),
                        record if seed == exp.run.seeds[0] else None,
                    )
                )
    ids = [t.run_id for t in tasks]
    if len(set(ids)) != len(ids):  # cannot happen with the checks above; never overwrite a run
        raise InputError(config_path, "scenarios", "distinct runs", _duplicates(ids)[0])
    return tasks


# ---------------------------------------------------------------------------------------------
# One run: work in a temp dir, commit it to runs/<run_id> in one rename.


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync_file(path)
    except OSError:  # some filesystems cannot fsync a directory
        pass


def _new_temp_dir(task: RunTask) -> Path:
    runs = Path(task.run_dir).parent
    runs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task.run_id}.tmp-", dir=runs))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only; the committed run dir is ordinary
    return tmp


def _is_stale(name: str) -> bool:
    """A temp dir of the runner (``.<id>.tmp-*``, ``.<id>.old-*``); run ids never start with '.'."""
    return name.startswith(".") and (".tmp-" in name or ".old-" in name)


def clean_stale(runs_dir: Path, run_id: str | None = None) -> list[Path]:
    """Remove temp dirs left by a killed sweep (all of them, or those of one run)."""
    removed = []
    if not runs_dir.is_dir():
        return removed
    for p in runs_dir.iterdir():
        if not _is_stale(p.name):
            continue
        if run_id is not None and not (
            p.name.startswith(f".{run_id}.tmp-") or p.name.startswith(f".{run_id}.old-")
        ):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _commit(tmp: Path, final: Path) -> None:
    """Make ``tmp`` the run's directory in one rename (moving an old, unverified one aside)."""
    _fsync_dir(tmp)
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _strip_for_failure(tmp: Path) -> None:
    """A failed run keeps its diagnostics but nothing that looks like a result or a temp file."""
    for p in list(tmp.iterdir()):
        if p.name.startswith(".") or p.name in (RESULTS, RECORD, "summary.csv", "run.json"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _write_error(tmp: Path, text: str) -> None:
    _strip_for_failure(tmp)
    with atomic_write(tmp / ERROR) as fh:
        fh.write(text)
    _fsync_file(tmp / ERROR)


def _check_labels(df, task: RunTask) -> None:
    import pandas as pd

    from signals.evaluate.metrics import COLUMNS

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"the evaluator returned {type(df).__name__}, not a DataFrame")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"results table lacks columns {missing}")
    if df.empty:
        raise ValueError("results table is empty")
    want = {
        "run_id": task.run_id,
        "scenario": task.scenario.name,
        "controller": task.controller,
        "seed": task.seed,
    }
    for col, value in want.items():
        found = sorted({str(v) for v in df[col].unique()})
        if found != [str(value)]:
            raise ValueError(f"results labelled {col}={found}, expected {value!r}")


def _relabel_run_json(tmp: Path, final: Path, task: RunTask) -> None:
    """The evaluator's run.json names the temp dir and the controller class; name the run's own."""
    p = tmp / "run.json"
    if not p.is_file():
        return
    try:
        doc = json.loads(p.read_text().replace(str(tmp), str(final)))
    except (OSError, ValueError):
        return
    doc.update(run_id=task.run_id, scenario=task.scenario.name, controller=task.controller)
    with atomic_write(p) as fh:
        json.dump(doc, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def _run_and_commit(
    task: RunTask, dispatch: Callable | None = None, tmp: str | None = None
) -> dict:
    """Run one task and commit its record (or its error.txt); never raises for a run's failure."""
    from signals.evaluate.metrics import save_results

    dispatch = dispatch or _dispatch
    final = Path(task.run_dir)
    work = Path(tmp) if tmp else _new_temp_dir(task)
    t0 = time.perf_counter()
    try:
        df = dispatch(dataclasses.replace(task, run_dir=str(work)))
        _check_labels(df, task)
        save_results(df, work)  # results.parquet + summary.csv, each atomically
        _relabel_run_json(work, final, task)
        _fsync_file(work / RESULTS)
        record = {
            "task": task.key(),
            "results": RESULTS,
            "results_sha256": sha256_file(work / RESULTS),
            "n_rows": len(df),
            "wall_s": round(time.perf_counter() - t0, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_write(work / RECORD) as fh:
            json.dump(record, fh, indent=2, sort_keys=True)
            fh.write("\n")
        _fsync_file(work / RECORD)
        _commit(work, final)
        return {"run_id": task.run_id, "status": "ok", "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # a SUMO error marks this run failed; the sweep goes on
        first = str(exc).splitlines()[0] if str(exc) else ""
        try:
            _write_error(work, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
            _commit(work, final)
        except OSError as exc2:  # cannot even record the failure: leave no temp dir behind
            shutil.rmtree(work, ignore_errors=True)
            first += f" (and recording it failed: {exc2})"
        return {
            "run_id": task.run_id,
            "status": "failed",
            "error": f"{type(exc).__name__}: {first}",
            "wall_s": time.perf_counter() - t0,
        }


def load_record(task: RunTask):
    """The run's verified results table, or ``(None, reason)`` when it must be (re)done.

    Verified: ``record.json`` parses, its config equals the task's (scenario, controller, seed, sim
    window, input checksums), ``results.parquet``'s sha256 equals the recorded one, and the table's
    labels are the task's own.
    """
    import pandas as pd

    d = Path(task.run_dir)
    if not d.is_dir():
        return None, "not run yet"
    if not (d / RECORD).is_file():
        return None, "failed" if (d / ERROR).is_file() else "no record (incomplete run)"
    try:
        record = json.loads((d / RECORD).read_text())
        recorded_task = record["task"]
        sha = record["results_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable record ({type(exc).__name__})"
    if recorded_task != task.key():
        diff = sorted(
            k
            for k in set(recorded_task) | set(task.key())
            if recorded_task.get(k) != task.key().get(k)
        )
        return None, f"record is for another run config (differs in {', '.join(diff)})"
    results = d / RESULTS
    try:
        if sha256_file(results) != sha:
            return None, "results checksum mismatch"
        df = pd.read_parquet(results)
        _check_labels(df, task)
    except (OSError, ValueError, TypeError) as exc:
        return None, f"results do not verify ({exc})"
    if task.record is not None and not _has_recording(d):
        return None, "the corridor recording asked for in outputs is missing"
    return df, "ok"


def _has_recording(run_dir: Path) -> bool:
    from signals.timespace import FCD_FILE, STATES_FILE

    return (run_dir / FCD_FILE).is_file() and (run_dir / STATES_FILE).is_file()


# ---------------------------------------------------------------------------------------------
# Worker processes


def _die_with_parent(parent_pid: int) -> None:
    """Linux: a worker is killed when the sweep dies, so no orphan commits behind a rerun's back."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(1)


def _worker_main(task: RunTask, dispatch: Callable | None, tmp: str, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _run_and_commit(task, dispatch, tmp)


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by signal {name} ({-exitcode})"
    return f"exited with code {exitcode} before committing its record"


def _collect(task: RunTask, tmp: Path, exitcode: int | None, wall_s: float) -> dict:
    """Status of a worker that ended; a worker that died is recorded as a failed run here."""
    final = Path(task.run_dir)
    if tmp.exists():  # the worker died before committing: record why, in one step
        how = _describe_exit(exitcode)
        text = (
            f"WorkerDied: the worker process for run {task.run_id} {how}\n\n"
            "A SUMO crash (segfault), the out-of-memory killer or a kill signal ends a run this"
            " way; nothing it had written is kept. Rerun the sweep to retry this run.\n"
        )
        try:
            _write_error(tmp, text)
            _commit(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        clean_stale(final.parent, task.run_id)
        return {
            "run_id": task.run_id,
            "status": "failed",
            "error": f"WorkerDied: worker {how}",
            "wall_s": wall_s,
        }
    clean_stale(final.parent, task.run_id)
    if (final / RECORD).is_file():
        return {"run_id": task.run_id, "status": "ok", "wall_s": wall_s}
    err = final / ERROR
    first = err.read_text().splitlines()[0] if err.is_file() else "no record written"
    return {"run_id": task.run_id, "status": "failed", "error": first, "wall_s": wall_s}


def _dispatch(task: RunTask):
    """Evaluate one (scenario, controller, seed) in SUMO (or on the queue model, with
    ``sim.evaluator``) and return its long metrics table.

    Static controllers (default, webster, optimized) are SUMO programs; online ones run through
    the closed loop, which inserts change intervals and passes every state through the safety
    gate.
    """
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.network import Network

    network = Network.from_sumo(task.net_path)
    common = dict(
        begin_s=task.sim.begin_s,
        end_s=task.sim.end_s,
        seed=task.seed,
        scenario=task.scenario.name,
        run_id=task.run_id,
        out_dir=task.run_dir,
        network=network,
        additional=task.additional,
    )
    if task.sim.evaluator == "queue-model":
        return _queue_model_run(task, network)
    if task.record is not None:
        common["extra_options"], common["additional"] = _recording(task, network)
    if task.controller in FIXED_TIME_CONTROLLERS:
        program = _plans_program(task, network) if task.controller != "default" else None
        routes = task.routes_path
        if program is not None and task.scenario.glosa_range_m > 0:
            routes, glosa = _glosa(task, network, program)
            common["extra_options"] = (*common.get("extra_options", ()), *glosa)
        return evaluate_sumo(
            task.net_path,
            routes,
            program=program,
            meso=task.sim.meso,
            controller=task.controller,
            **common,
        ).metrics
    from signals.evaluate.sumo_loop import evaluate_online

    if task.sim.meso:
        raise ValueError(
            f"controller {task.controller!r} runs in the closed loop, which needs SUMO micro (sim.meso = false)"
        )
    controller, common["config"] = _loop_controller(task, network)
    df = evaluate_online(
        task.net_path, task.routes_path, controller, queue_sample_s=1.0, **common
    ).metrics
    return df.assign(controller=task.controller)  # the config's name, not the class's


def _glosa(task: RunTask, network, program: Path) -> tuple[str, tuple[str, ...]]:
    """(routes, SUMO options) for GLOSA: the exported program gets ``device.glosa.range`` at
    RSU signals (0 elsewhere), the connected vehicle types the device (signals.v2x, as
    ``signals bench glosa`` runs it)."""
    from signals.v2x import glosa_routes, glosa_tls_params, with_tls_params

    r = task.scenario.glosa_range_m
    program.write_text(with_tls_params(program.read_text(), glosa_tls_params(network, r)))
    routes, equipped = [], 0
    for i, f in enumerate(task.route_files):
        try:  # the files that define connected vehicle types
            routes.append(str(glosa_routes(f, Path(task.run_dir) / f"glosa.{i}.rou.xml")))
            equipped += 1
        except InputError:
            routes.append(f)
    if not equipped:
        raise InputError(task.routes_path, "vType", "a connected vehicle type for GLOSA", "none")
    return ",".join(routes), ("--device.glosa.range", f"{r:g}")


def _recording(task: RunTask, network) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(SUMO options, additional files) that record the task's corridor into its run dir
    (:func:`signals.timespace.recording_options`)."""
    from signals.timespace import find_corridor, recording_options

    corridor = find_corridor(network, task.record.corridor)
    options, text = recording_options(corridor, task.run_dir, task.sim.begin_s)
    add = Path(task.run_dir) / "corridor-record.add.xml"
    add.write_text(text)
    return options, (*task.additional, str(add))


def controller_kwargs(task: RunTask) -> dict:
    """The loop controller's settings: ``run.params``, and for a CV controller the scenario's
    connected share as the penetration it assumes unless the settings give one."""
    kwargs = dict(task.params)
    if task.controller in CV_CONTROLLERS and task.scenario.cv_share > 0:
        kwargs.setdefault("penetration", task.scenario.cv_share)
    return kwargs


def _flows_vph(task: RunTask, network):
    """(M,) movement flows of the scenario's own routes over the simulated window, veh/h."""
    from signals.control.fixed_time import movement_flows_vph

    demand = [r for r in task.route_files if _has_vehicles(r)]
    return movement_flows_vph(network, demand, task.sim.begin_s, task.sim.end_s)


def _plans(task: RunTask, network):
    """The fixed-time plans of ``task.controller``: the net's own programs, or Webster/HCM or
    CP-SAT plans for the scenario's own routes."""
    from signals.plans import PlanSet

    if task.controller == "default":
        return PlanSet.from_network(network)
    from signals.control.fixed_time import webster_planset

    flows = _flows_vph(task, network)
    if task.controller in ("optimized", "green-wave"):
        from signals.control.optimize import optimize_planset
        from signals.control.optimize.splits import SplitConfig

        cfg = SplitConfig()
        if task.controller == "green-wave":  # as `signals plan optimize --common-cycle
            cfg = SplitConfig(
                common_cycle="corridors", offsets="maxband"
            )  # corridors --offsets maxband`
        return optimize_planset(network, flows, cfg=cfg)[0]
    return webster_planset(network, flows)


def _plans_program(task: RunTask, network) -> Path:
    """The task's plans exported (validated by the gate) as a SUMO additional in its run dir."""
    from signals.export import export

    out = Path(task.run_dir) / f"{task.controller}.add.xml"
    return Path(export(_plans(task, network), network, out, "sumo"))


def _queue_model_run(task: RunTask, network):
    """The task on the queue model (Poisson arrivals with the run's seed): fixed-time plans
    directly, a loop controller through :class:`signals.evaluate.queue_loop.QueueLoop` (the SUMO
    loop's rules and gate-checked programs); the same long table and metric definitions as a
    SUMO run."""
    from signals.evaluate.queue import QueueModel
    from signals.safety import assert_safe

    demand = [r for r in task.route_files if _has_vehicles(r)]
    if len(demand) != 1:
        raise ValueError(f"the queue model reads one route file with vehicles, found {demand}")
    sim = task.sim
    qm = QueueModel.from_routes(network, demand[0], begin_s=sim.begin_s, end_s=sim.end_s)
    horizon_s = sim.end_s - sim.begin_s
    if task.controller in FIXED_TIME_CONTROLLERS:
        plans = _plans(task, network)
        assert_safe(plans, network, existing=task.controller == "default")  # what it evaluates
        res = qm.evaluate(plans.to_arrays(network), horizon_s, [task.seed])
    else:
        from signals.evaluate.queue_loop import QueueLoop
        from signals.evaluate.sumo_loop import loop_stages

        controller, config = _loop_controller(task, network)
        _, program = loop_stages(network, None, config)
        loop = QueueLoop(
            qm,
            program,
            config,
            cv_share=task.scenario.cv_share,
            horizon_s=horizon_s,
            needs=controller.needs,
        )
        res = loop.run(controller, seed=task.seed)
    df = res.to_frame(run_id=task.run_id, scenario=task.scenario.name, controller=task.controller)
    return df.assign(seed=task.seed)


def _loop_controller(task: RunTask, network):
    """(controller, LoopConfig) of a loop task: a trained policy with the loop settings it was
    trained with, or a controller by name with its settings and decision interval (CV-only
    actuated control gets the scenario's movement flows, as the Webster plans do)."""
    from signals.evaluate.sumo_loop import LoopConfig

    if task.policy:
        from signals.control.rl.policy import PolicyController, policy_loop_config

        controller = PolicyController(task.policy)
        return controller, policy_loop_config(controller.card)
    from signals.control.adaptive import make_controller

    kwargs = controller_kwargs(task)
    if task.controller == "actuated-cv":
        kwargs.setdefault("flows_vph", _flows_vph(task, network))
    controller = make_controller(task.controller, **kwargs)
    if controller.decision_s is not None:
        return controller, LoopConfig(delta_t_s=controller.decision_s)
    return controller, LoopConfig()


def _has_vehicles(path: str) -> bool:
    """A route file with vehicles, trips or flows (not only vehicle types or routes)."""
    import gzip
    import xml.etree.ElementTree as ET

    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        for _event, el in ET.iterparse(fh, events=("start",)):
            if el.tag in ("vehicle", "trip", "flow"):
                return True
    return False


def _lock_out_dir(out_dir: Path) -> int:
    """Hold an advisory lock on ``out_dir`` (released when the process ends, even by SIGKILL)."""
    import fcntl

    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InputError(
            out_dir, "--out", "a directory no other `signals run` is using", "locked"
        ) from None
    return fd


def prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "--out", "a directory", "a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            out_dir, "--out", "a directory that can be created", exc.strerror
        ) from None


def run_experiment(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    backend: str | None = None,
    address: str | None = None,
    networks_dir: str | Path | None = None,
    log=print,
    dispatch: Callable | None = None,
) -> Path:
    """Run (or resume) an experiment; return the path of the combined results.parquet.

    ``dispatch`` (a picklable top-level function ``RunTask -> DataFrame``) replaces the SUMO
    evaluation; tests use it to inject fast or crashing runs.
    """
    import pandas as pd

    from signals.evaluate.metrics import save_results

    config_path = Path(config_path)
    exp = load_experiment(config_path)
    out_dir = Path(out_dir)
    jobs = exp.run.jobs if jobs is None else jobs
    if jobs < 1:
        raise InputError("command line", "--jobs", "an integer >= 1", jobs)
    backend = backend or exp.run.backend
    prepare_out_dir(out_dir)
    lock = _lock_out_dir(out_dir)
    try:
        dispatch = dispatch or _dispatch  # looked up now, so a patched module attribute counts

        stale = clean_stale(out_dir / "runs")
        if stale:
            log(f"[signals] removed {len(stale)} temporary dir(s) left by an interrupted sweep")
        log(f"[signals] experiment {exp.name}: preparing network and demand in {out_dir}")
        tasks = plan_tasks(exp, config_path, out_dir, Path(networks_dir) if networks_dir else None)
        todo = []
        for t in tasks:
            df, why = load_record(t)
            if df is None:
                todo.append(t)
                if why not in ("not run yet", "failed"):
                    log(f"[signals] {t.run_id}: redo ({why})")
        log(
            f"[signals] {len(tasks)} runs, {len(tasks) - len(todo)} already done, {len(todo)} to run ({backend}, jobs={jobs})"
        )

        runs_log = out_dir / "run.log"  # one plain line per finished run, counts and ETA
        status = {
            s["run_id"]: s for s in _execute(todo, jobs, backend, dispatch, log, runs_log, address)
        }

        frames, runs = [], {}
        for t in tasks:
            df, why = load_record(t)
            runs[t.run_id] = "ok" if df is not None else "failed"
            if df is not None:
                frames.append(df)
            elif t.run_id not in status:  # e.g. interrupted before it was dispatched
                status[t.run_id] = {"run_id": t.run_id, "status": "failed", "error": why}
        meta = {
            "experiment": exp.name,
            "config_file": str(config_path.resolve()),
            "config": dataclasses.asdict(exp),
            "git_revision": git_revision(),
            "packages": package_versions(),
            "net": str(Path(tasks[0].net_path).resolve()) if tasks else None,
            "runs": runs,
        }
        results = out_dir / "results.parquet"
        if frames:
            save_results(pd.concat(frames, ignore_index=True), out_dir)
        else:  # never leave a previous sweep's combined table looking current
            results.unlink(missing_ok=True)
            (out_dir / "summary.csv").unlink(missing_ok=True)
        with atomic_write(out_dir / "run.json") as fh:
            json.dump(meta, fh, indent=2, default=str)
        for rid, state in runs.items():
            if state != "ok":
                err = status.get(rid, {}).get("error", "failed")
                log(f"[signals] run {rid} FAILED: {err} (see {out_dir}/runs/{rid}/{ERROR})")
        return results
    finally:
        os.close(lock)


class Progress:
    """Runs done / failed / remaining, elapsed and ETA: a tqdm bar on a terminal, and the same
    counts on every finished run's log line (plain lines, as a log file wants them)."""

    def __init__(self, total: int, log, tty: bool | None = None, logfile: Path | None = None):
        self.total, self.done, self.failed = int(total), 0, 0
        self.log = log
        self.logfile = logfile
        self.t0 = time.perf_counter()
        tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        if tty and log is print:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="run", desc="signals run", file=sys.stderr)

    @staticmethod
    def _clock(seconds: float) -> str:
        m, s = divmod(int(round(seconds)), 60)
        h, m = divmod(m, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

    def counts(self) -> str:
        elapsed = time.perf_counter() - self.t0
        left = self.total - self.done
        eta = elapsed / self.done * left if self.done else float("nan")
        return (
            f"{self.done}/{self.total} done, {self.failed} failed, {left} remaining, "
            f"elapsed {self._clock(elapsed)}, ETA {self._clock(eta) if self.done else '?'}"
        )

    def update(self, r: dict) -> None:
        self.done += 1
        self.failed += r["status"] != "ok"
        extra = "" if r["status"] == "ok" else f": {r['error']}"
        line = (
            f"[signals] {r['run_id']}: {r['status']} ({r['wall_s']:.1f} s){extra} [{self.counts()}]"
        )
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed)
            self.bar.update(1)
            self.bar.write(line, file=sys.stderr)
        else:
            self.log(line)
        if self.logfile is not None:
            with open(self.logfile, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _execute(
    todo: list[RunTask],
    jobs: int,
    backend: str,
    dispatch: Callable,
    log,
    logfile: Path,
    address: str | None = None,
) -> list[dict]:
    if not todo:
        return []
    progress = Progress(len(todo), log, logfile=logfile)
    try:
        if backend == "ray":
            return _execute_ray(todo, dispatch, progress, address)
        return _execute_local(todo, jobs, dispatch, progress)
    finally:
        progress.close()


def _execute_ray(
    todo: list[RunTask], dispatch: Callable, progress: Progress, address: str | None = None
) -> list[dict]:
    """Each run a Ray task (no retries); ``address``: a running cluster (``ray start --head``
    prints it), None: an existing ``ray.init`` or a local cluster started here."""
    try:
        import ray
    except ImportError:
        raise InputError(
            None,
            "run.backend",
            "ray installed (pip install 'signals[ray]')",
            "ray not importable",
        ) from None
    ray.init(address=address, ignore_reinit_error=True)
    remote = ray.remote(max_retries=0)(_run_and_commit)
    refs = {remote.remote(t, dispatch): t for t in todo}
    out = []
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        t = refs[done[0]]
        try:
            r = ray.get(done[0])
        except Exception as exc:  # the worker died (a SUMO segfault): record it as failed
            msg = str(exc).splitlines()[0] if str(exc) else ""
            text = (
                f"WorkerDied: the Ray worker for run {t.run_id} died: {type(exc).__name__}: {msg}\n"
            )
            tmp = _new_temp_dir(t)
            _write_error(tmp, text)
            _commit(tmp, Path(t.run_dir))
            clean_stale(Path(t.run_dir).parent, t.run_id)
            r = {"run_id": t.run_id, "status": "failed", "error": text.strip(), "wall_s": 0.0}
        progress.update(r)
        out.append(r)
    return out


def _execute_local(
    todo: list[RunTask], jobs: int, dispatch: Callable, progress: Progress
) -> list[dict]:
    """One fresh spawned process per run (libsumo holds one simulation per process), ``jobs`` at a
    time. A run that kills its worker (a SUMO segfault) is recorded as failed from the worker's
    exit code, and the other runs go on: no shared pool for one death to break."""
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    queue = list(reversed(todo))
    live: dict[int, tuple] = {}  # sentinel -> (process, task, tmp, start time)
    out: list[dict] = []
    try:
        while queue or live:
            while queue and len(live) < jobs:
                t = queue.pop()
                tmp = _new_temp_dir(t)
                proc = ctx.Process(
                    target=_worker_main,
                    args=(t, dispatch, str(tmp), os.getpid()),
                    name=f"signals-run-{t.run_id}",
                    daemon=True,
                )
                proc.start()
                live[proc.sentinel] = (proc, t, tmp, time.perf_counter())
            for sentinel in wait(list(live)):
                proc, t, tmp, t0 = live.pop(sentinel)
                proc.join()
                r = _collect(t, tmp, proc.exitcode, time.perf_counter() - t0)
                proc.close()
                progress.update(r)
                out.append(r)
    finally:  # interrupted (Ctrl-C, SIGTERM): stop the workers, leave no temp dirs
        for proc, t, tmp, _ in live.values():
            proc.kill()
            proc.join()
            shutil.rmtree(tmp, ignore_errors=True)
            clean_stale(Path(t.run_dir).parent, t.run_id)
    return out
