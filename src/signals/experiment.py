"""Experiment configs and the sweep runner behind ``signals run CONFIG``.

A config (TOML, unknown keys rejected) names a network (a recipe under ``networks/`` or a
``.net.xml``), scenarios (time-of-day period, demand scale, connected-vehicle share), controllers and
seeds. The runner expands scenarios x controllers x seeds into runs and executes them in a local
process pool (or on Ray with ``backend = "ray"``). Each run writes ``runs/<run_id>/results.parquet``;
a run that fails (a SUMO crash, say) writes ``runs/<run_id>/error.txt`` and the sweep goes on; a
rerun skips finished runs (DESIGN.md, "Bad input and faults"). The combined long table goes to
``results.parquet`` and ``summary.csv`` beside ``run.json`` (resolved config, git revision and
package versions).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing as mp
import platform
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from signals.config import load_typed, read_toml
from signals.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class NetworkSpec:
    recipe: str | None = None  # a recipe name under networks/ (built into <out>/networks/<recipe>)
    path: str | None = None  # or an existing .net.xml (relative to the config file)
    seed: int | None = None  # override the recipe's seed

    def check(self, file) -> None:
        if (self.recipe is None) == (self.path is None):
            raise InputError(
                file,
                "network",
                "exactly one of recipe or path",
                f"recipe={self.recipe!r}, path={self.path!r}",
            )


@dataclass(frozen=True)
class Scenario:
    name: str
    period: str = "am_peak"
    scale: float = 1.0  # multiplies the period's demand
    veh_per_hour: float | None = None  # explicit base volume; default from the network's meta.json
    cv_share: float = 0.3
    routes: str | None = None  # an existing routes file instead of generated demand

    def check(self, file) -> None:
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


@dataclass(frozen=True)
class SimSpec:
    begin_s: float = 0.0
    end_s: float = 3600.0
    meso: bool = False

    def check(self, file) -> None:
        if self.end_s <= self.begin_s:
            raise InputError(file, "sim.end_s", f"a time after begin_s={self.begin_s}", self.end_s)


@dataclass(frozen=True)
class RunSpec:
    controllers: list[str] = field(default_factory=lambda: ["default"])
    seeds: list[int] = field(default_factory=lambda: [1])
    jobs: int = 2
    backend: Literal["local", "ray"] = "local"

    def check(self, file) -> None:
        unknown = [c for c in self.controllers if c not in CONTROLLERS]
        if unknown:
            raise InputError(
                file, "run.controllers", "one of " + ", ".join(sorted(CONTROLLERS)), unknown[0]
            )
        if self.jobs < 1:
            raise InputError(file, "run.jobs", "an integer >= 1", self.jobs)


@dataclass(frozen=True)
class Experiment:
    name: str
    network: NetworkSpec
    scenarios: list[Scenario]
    description: str = ""
    sim: SimSpec = field(default_factory=SimSpec)
    run: RunSpec = field(default_factory=RunSpec)

    def check(self, file) -> None:
        if not self.scenarios:
            raise InputError(file, "scenarios", "at least one [[scenarios]] table", "none")
        names = [s.name for s in self.scenarios]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(file, "scenarios.name", "unique scenario names", sorted(dup)[0])


def load_experiment(path: str | Path) -> Experiment:
    """Read and type-check an experiment config."""
    return load_typed(Experiment, read_toml(path), path)


# Controllers a config may name. Each maps to how the evaluator receives it; see _evaluate_run.
CONTROLLERS = {
    "default": "the network's own (netconvert) programs",
    "webster": "Webster/HCM fixed-time plans for the scenario's demand",
    "actuated": "SUMO's built-in actuated control",
    "max-pressure": "max-pressure (Varaiya 2013) through the closed loop",
}


@dataclass(frozen=True)
class RunTask:
    run_id: str
    scenario: Scenario
    controller: str
    seed: int
    net_path: str
    routes_path: str
    sim: SimSpec
    run_dir: str


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


def make_routes(
    exp: Experiment, scenario: Scenario, seed: int, net_path: Path, config_path: Path, out_dir: Path
) -> Path:
    """Routes for one scenario and seed (generated once; reused on rerun)."""
    if scenario.routes is not None:
        p = (config_path.parent / scenario.routes).resolve()
        if not p.is_file():
            raise InputError(
                config_path, f"scenarios.{scenario.name}.routes", "an existing routes file", str(p)
            )
        return p
    from signals.demand import base_veh_per_hour, generate_routes

    path = out_dir / "demand" / f"{scenario.name}.s{seed}.rou.xml"
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


def plan_tasks(
    exp: Experiment, config_path: Path, out_dir: Path, networks_dir: Path | None = None
) -> list[RunTask]:
    net_path = resolve_network(exp, config_path, networks_dir or out_dir / "networks")
    tasks = []
    for sc in exp.scenarios:
        for seed in exp.run.seeds:
            routes = make_routes(exp, sc, seed, net_path, config_path, out_dir)
            for ctrl in exp.run.controllers:
                run_id = f"{sc.name}__{ctrl}__s{seed}"
                tasks.append(
                    RunTask(
                        run_id,
                        sc,
                        ctrl,
                        seed,
                        str(net_path),
                        str(routes),
                        exp.sim,
                        str(out_dir / "runs" / run_id),
                    )
                )
    return tasks


def _evaluate_run(task: RunTask) -> dict:
    """Run one task in a worker process; never raises (errors are returned and recorded)."""
    from signals.errors import atomic_write

    run_dir = Path(task.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        df = _dispatch(task)
        import pandas as pd

        assert isinstance(df, pd.DataFrame)
        tmp = run_dir / ".results.parquet.tmp"
        df.to_parquet(tmp, index=False)
        tmp.replace(run_dir / "results.parquet")
        (run_dir / "error.txt").unlink(missing_ok=True)
        return {"run_id": task.run_id, "status": "ok", "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # a SUMO crash marks this run failed; the sweep goes on
        with atomic_write(run_dir / "error.txt") as fh:
            fh.write(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        return {
            "run_id": task.run_id,
            "status": "failed",
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            "wall_s": time.perf_counter() - t0,
        }


def _dispatch(task: RunTask):
    """Evaluate one (scenario, controller, seed) in SUMO and return its long metrics table.

    Static controllers (default, webster) are SUMO programs; online ones run through the closed
    loop, which inserts change intervals and passes every state through the safety gate.
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
    )
    if task.controller in ("default", "webster"):
        program = _webster_program(task, network) if task.controller == "webster" else None
        return evaluate_sumo(
            task.net_path,
            task.routes_path,
            program=program,
            meso=task.sim.meso,
            controller=task.controller,
            **common,
        ).metrics
    from signals.control.adaptive import make_controller
    from signals.evaluate.sumo_loop import evaluate_online

    if task.sim.meso:
        raise ValueError(
            f"controller {task.controller!r} runs in the closed loop, which needs SUMO micro (sim.meso = false)"
        )
    controller = make_controller(task.controller)
    df = evaluate_online(
        task.net_path, task.routes_path, controller, queue_sample_s=1.0, **common
    ).metrics
    return df.assign(controller=task.controller)  # the config's name, not the class's


def _webster_program(task: RunTask, network) -> Path:
    """Webster/HCM plans for the scenario's own routes, exported (validated) as a SUMO additional."""
    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.export import export

    flows = movement_flows_vph(network, task.routes_path, task.sim.begin_s, task.sim.end_s)
    plans = webster_planset(network, flows)
    return Path(export(plans, network, Path(task.run_dir) / "webster.add.xml", "sumo"))


def run_experiment(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    backend: str | None = None,
    networks_dir: str | Path | None = None,
    log=print,
) -> Path:
    """Run (or resume) an experiment; return the path of the combined results.parquet."""
    import pandas as pd

    from signals.errors import atomic_write
    from signals.evaluate.metrics import save_results

    config_path = Path(config_path)
    exp = load_experiment(config_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = jobs or exp.run.jobs
    backend = backend or exp.run.backend

    log(f"[signals] experiment {exp.name}: preparing network and demand in {out_dir}")
    tasks = plan_tasks(exp, config_path, out_dir, Path(networks_dir) if networks_dir else None)
    todo = [t for t in tasks if not (Path(t.run_dir) / "results.parquet").is_file()]
    log(
        f"[signals] {len(tasks)} runs, {len(tasks) - len(todo)} already done, {len(todo)} to run ({backend}, jobs={jobs})"
    )

    status = _execute(todo, jobs, backend, log)
    failed = [s for s in status if s["status"] != "ok"]

    frames = [
        pd.read_parquet(Path(t.run_dir) / "results.parquet")
        for t in tasks
        if (Path(t.run_dir) / "results.parquet").is_file()
    ]
    meta = {
        "experiment": exp.name,
        "config_file": str(config_path.resolve()),
        "config": dataclasses.asdict(exp),
        "git_revision": git_revision(),
        "packages": package_versions(),
        "runs": {
            t.run_id: ("ok" if (Path(t.run_dir) / "results.parquet").is_file() else "failed")
            for t in tasks
        },
    }
    with atomic_write(out_dir / "run.json") as fh:
        json.dump(meta, fh, indent=2, default=str)
    results = out_dir / "results.parquet"
    if frames:
        save_results(pd.concat(frames, ignore_index=True), out_dir)
    for f in failed:
        log(
            f"[signals] run {f['run_id']} FAILED: {f['error']} (see {out_dir}/runs/{f['run_id']}/error.txt)"
        )
    return results


def _execute(todo: list[RunTask], jobs: int, backend: str, log) -> list[dict]:
    if not todo:
        return []
    if backend == "ray":
        try:
            import ray
        except ImportError:
            raise InputError(
                None,
                "run.backend",
                "ray installed (pip install 'signals[ray]')",
                "ray not importable",
            ) from None
        ray.init(ignore_reinit_error=True)
        remote = ray.remote(_evaluate_run)
        results = ray.get([remote.remote(t) for t in todo])
        for r in results:
            log(f"[signals] {r['run_id']}: {r['status']} ({r['wall_s']:.1f} s)")
        return results
    # One fresh process per run (libsumo holds one simulation per process). A run that kills its
    # worker (a SUMO segfault) breaks the pool; the unfinished runs are then retried one per pool,
    # so only the crashing run is marked failed and the sweep goes on.
    results = _pool_map(todo, jobs, log)
    crashed = [t for t, r in results if r is None]
    out = [r for _, r in results if r is not None]
    for t in crashed:
        [(_, r)] = _pool_map([t], 1, log)
        out.append(
            r
            or {
                "run_id": t.run_id,
                "status": "failed",
                "error": "SUMO worker process died",
                "wall_s": 0.0,
            }
        )
    return out


def _pool_map(tasks: list[RunTask], jobs: int, log) -> list[tuple[RunTask, dict | None]]:
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    done: list[tuple[RunTask, dict | None]] = []
    with cf.ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, max_tasks_per_child=1
    ) as pool:
        futs = {pool.submit(_evaluate_run, t): t for t in tasks}
        for fut in cf.as_completed(futs):
            try:
                r = fut.result()
                log(f"[signals] {r['run_id']}: {r['status']} ({r['wall_s']:.1f} s)")
            except BrokenProcessPool:
                r = None
            done.append((futs[fut], r))
    return done
