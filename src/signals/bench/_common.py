"""The benchmark harness: seeds by role, inputs by content digest, one record.

* **Seeds by role**, declared here once. :data:`TUNING_SEEDS`: every parameter, default or
  calibration constant of the project is chosen on these (e.g. the loop's 300 s max green, on
  the pilot zone's seed 1). :data:`EVALUATION_SEEDS`: never used for tuning; every comparison
  a benchmark reports runs on them (at least 3) and says which tuning seeds it did not use.
* **Inputs by content digest**: :func:`net_asset` and :func:`routes_asset` build a recipe's net
  or a period's demand once and reuse it only when the inputs that made it are the same (the
  recipe file's bytes and SUMO's version; the net's digest, period, seed, horizon and volume),
  never by file name alone.
* :func:`record` stamps a benchmark's JSON with how it was made: command line, git revision and
  dirty flag, package versions, CPU model and load, input digests, seeds with their role,
  horizon, and which SUMO runs came from a cache.
* :func:`controller_figures` and :func:`over_seeds`: every controller's costs beside its gains
  (average delay, trips finished, vehicles still running or waiting, teleports, stops), mean and
  min-max over the seeds, from the run summaries (:mod:`signals.evaluate.metrics` definitions).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# 1 and 2 are the default tuning seeds (the calibration fits on them); 3-5 were used too, for
# rare events such as teleports (signals.bench.adaptive.TUNING) and as SUMO seeds on RESCO nets
TUNING_SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
EVALUATION_SEEDS: tuple[int, ...] = (11, 12, 13)

# per controller: (key in the run summary, key in the benchmark JSON)
FIGURES: tuple[tuple[str, str], ...] = (
    ("avg_delay_s", "avg_delay_s"),
    ("throughput_veh", "trips_finished"),
    ("n_unfinished", "vehicles_left"),
    ("n_teleports", "teleports"),
    ("n_teleports_jam", "teleports_jam"),
    ("n_teleports_yield", "teleports_yield"),
    ("n_teleports_wrong_lane", "teleports_wrong_lane"),
    ("avg_stops", "stops"),
)


def add_seed_arguments(p, default: Sequence[int] = EVALUATION_SEEDS, what: str = "demand") -> None:
    """``--seeds`` (default: the evaluation seeds)."""
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(default),
        help=f"{what} seeds (default: the evaluation seeds {' '.join(map(str, default))}; the "
        f"tuning seeds {' '.join(map(str, TUNING_SEEDS))} are for tuning only)",
    )


def seed_roles(seeds: Sequence[int]) -> dict:
    """The seeds with their role, for the record: which are evaluation seeds, which tuning."""
    return {
        "seeds": [int(s) for s in seeds],
        "evaluation_seeds": [int(s) for s in seeds if s not in TUNING_SEEDS],
        "tuning_seeds_used": [int(s) for s in seeds if s in TUNING_SEEDS],
        "tuning_seeds_not_used": [int(s) for s in TUNING_SEEDS if s not in seeds],
    }


# ----------------------------------------------------------------------------- digests
def digest(obj) -> str:
    """Short SHA-256 of a JSON-serialisable description of inputs."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sumo_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("eclipse-sumo")
    except metadata.PackageNotFoundError:  # pragma: no cover - install problem
        return "unknown"


def net_asset(recipe: str, work: Path) -> Path:
    """The recipe's net, built once per recipe content and SUMO version under ``work/net``."""
    from signals.digests import sha256_file
    from signals.netbuild import build, recipe_path

    key = digest({"recipe": sha256_file(recipe_path(recipe)), "sumo": _sumo_version()})
    path = work / "net" / f"{Path(recipe).stem}-{key}" / f"{Path(recipe).stem}.net.xml"
    return path if path.is_file() else Path(build(recipe, path.parent))


def routes_asset(
    net: Path,
    work: Path,
    *,
    period: str,
    seed: int,
    end_s: float,
    veh_per_hour: float | None = None,
    begin_s: float = 0.0,
    cv_share: float | None = None,
) -> Path:
    """The period's routed demand on ``net`` (signals.demand.generate_routes), generated once
    per (net content, period, seed, window, volume, connected share) under ``work/demand``."""
    from signals.demand import generate_routes
    from signals.digests import sha256_file

    key = digest(
        {
            "net": sha256_file(net),
            "period": period,
            "seed": int(seed),
            "begin_s": float(begin_s),
            "end_s": float(end_s),
            "veh_per_hour": veh_per_hour,
            "cv_share": cv_share,
        }
    )
    path = work / "demand" / f"{period}.seed{seed}.{key}.rou.xml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_routes(
            net,
            path,
            period=period,
            begin_s=begin_s,
            end_s=end_s,
            seed=seed,
            veh_per_hour=veh_per_hour,
            **({} if cv_share is None else {"cv_share": cv_share}),
        )
    return path


# ----------------------------------------------------------------------------- record
def cpu_info() -> dict:
    """CPU model, core count and load averages (1, 5, 15 min) of the machine the run used."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        load = None
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "load_avg": load}


def started(argv: Sequence[str] | None = None) -> dict:
    """What is known when a benchmark starts: the command, the code (git revision and dirty
    flag, package versions) and the machine (CPU, load). Taken first, so the revision is the
    code that ran even if the tree changes while the benchmark runs."""
    from signals.evaluate.metrics import provenance

    args = list(sys.argv[1:] if argv is None else argv)
    return {
        "command": ["signals", *args],
        "argv": args,
        **provenance(),
        "machine": cpu_info(),
    }


def record(
    bench: str,
    start: Mapping,
    *,
    inputs: Mapping[str, Path],
    seeds: Sequence[int],
    horizon_s: float,
    cached_runs: Sequence[str] = (),
) -> dict:
    """How a benchmark result was made, for the head of its JSON.

    Args:
        start: :func:`started` at the benchmark's start.
        inputs: name -> file whose digest the result depends on (net, routes, plans, ...).
        cached_runs: the SUMO runs whose results were reused from a cache, not run here.
    """
    from signals.digests import sha256_file

    return {
        "bench": bench,
        **start,
        "load_avg_end": cpu_info()["load_avg"],
        "inputs_sha256": {k: sha256_file(p) for k, p in sorted(inputs.items())},
        **seed_roles(seeds),
        "horizon_s": float(horizon_s),
        "cached_runs": list(cached_runs),
    }


# ----------------------------------------------------------------------------- figures
def controller_figures(summary: Mapping[str, float]) -> dict:
    """A run's figures under the benchmark JSON names (see :data:`FIGURES`)."""
    out = {}
    for src, dst in FIGURES:
        v = summary.get(src)
        out[dst] = None if v is None else round(float(v), 2)
    return out


def over_seeds(rows: Sequence[Mapping[str, float]]) -> dict:
    """Mean, min and max over seeds of every figure the rows share: {name: {mean, min, max}}."""
    import math

    out: dict = {}
    keys = [k for _, k in FIGURES if all(r.get(k) is not None for r in rows)] if rows else []
    for k in keys:
        vals = [float(r[k]) for r in rows]
        if any(not math.isfinite(v) for v in vals):
            out[k] = None
            continue
        out[k] = mean_min_max(vals, 2)
    return out


def mean_min_max(values: Sequence[float], digits: int) -> dict:
    """{mean, min, max} of per-seed figures, rounded to ``digits``."""
    v = [float(a) for a in values]
    return {
        "mean": round(sum(v) / len(v), digits),
        "min": round(min(v), digits),
        "max": round(max(v), digits),
    }


def bench_network(net: str | None, work: Path, recipe: str) -> Path:
    """``net`` if given, else the ``recipe`` network (:func:`net_asset`)."""
    return Path(net) if net else net_asset(recipe, work)


def tls_cycle_adaptation(net: Path, routes: Path, out: Path, begin_s: float = 0.0) -> Path:
    """SUMO's ``tools/tlsCycleAdaptation.py -b BEGIN`` (Webster per intersection, its own
    defaults: yellow 4 s, no all-red, cycle 20-120 s) on ``routes``: the peer's plans."""
    from signals import sumo_tools

    sumo_tools.run(
        [sumo_tools.tool("tlsCycleAdaptation.py"), "-n", str(net), "-r", str(routes)]
        + ["-b", f"{begin_s:g}", "-o", str(out)],
        timeout_s=1800,
    )
    return out


def sumo_tools_programs(net: Path, routes: Path, out: Path, begin_s: float = 0.0) -> Path:
    """tlsCycleAdaptation.py, then tlsCoordinator.py on its plans (offsets from the routes):
    one additional file, ``out/sumo_tools.add.xml``."""
    from signals import sumo_tools

    cyc = tls_cycle_adaptation(net, routes, out / "tlsCycleAdaptation.add.xml", begin_s)
    coord = out / "tlsCoordinator.add.xml"
    sumo_tools.run(
        [sumo_tools.tool("tlsCoordinator.py"), "-n", str(net), "-r", str(routes)]
        + ["-a", str(cyc), "-o", str(coord)],
        timeout_s=1800,
    )
    return with_offsets(cyc, coord, out / "sumo_tools.add.xml")


def with_offsets(programs: Path, offsets: Path, out: Path) -> Path:
    """``programs`` (tlLogic with phases) with the offsets of ``offsets`` (tlsCoordinator.py
    writes offsets only: ``<tlLogic id programID offset/>``), as one additional file."""
    import xml.etree.ElementTree as ET

    from signals.errors import atomic_path

    off = {
        (e.get("id"), e.get("programID")): e.get("offset")
        for e in ET.parse(offsets).getroot().iter("tlLogic")
    }
    tree = ET.parse(programs)
    for e in tree.getroot().iter("tlLogic"):
        o = off.get((e.get("id"), e.get("programID")))
        if o is not None:
            e.set("offset", o)
    with atomic_path(out) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return out


# ----------------------------------------------------------------------------- SUMO runs
def _sumo_child(spec: dict) -> dict:
    """One static SUMO run (in a fresh process: libsumo holds one simulation per process):
    wall and CPU seconds, the run summary and the per-signal control delay."""
    import tempfile
    import time

    from signals.evaluate.sumo_run import along_stops, evaluate_sumo

    w0, c0 = time.perf_counter(), time.process_time()
    along = spec.get("along_edges")
    with tempfile.TemporaryDirectory(prefix="signals-run-") as tmp:
        r = evaluate_sumo(
            spec["net"],
            spec["routes"],
            program=spec.get("program"),
            meso=bool(spec.get("meso", False)),
            begin_s=float(spec.get("begin_s", 0.0)),
            end_s=float(spec["end_s"]),
            seed=int(spec.get("seed", 0)),
            queue_sample_s=0.0,
            out_dir=tmp if along else None,
        )
        extra = {}
        if along:
            n, stops = along_stops(r.paths["tripinfo"], along)
            extra = {"along_trips": n, "along_stops": stops}
    df = r.metrics
    sig = df[df["scope"].str.startswith("signal:") & (df["metric"] == "control_delay_s")]
    return {
        "wall_s": time.perf_counter() - w0,
        "cpu_s": time.process_time() - c0,
        "sim_wall_s": r.sim_wall_s,
        "summary": {k: float(v) for k, v in r.summary.items()},
        "signal_delay_s": dict(zip(sig["scope"].str[7:], sig["value"].astype(float), strict=True)),
        **extra,
    }


def sumo_runs(
    specs: Sequence[dict],
    *,
    jobs: int = 1,
    cache_dir: Path | None = None,
    on_done=None,
    child=None,
) -> tuple[list[dict], list[str]]:
    """Static SUMO runs, each in its own child process, ``jobs`` at a time: the one SUMO runner
    of the benchmarks.

    Args:
        specs: dicts with ``net``, ``routes``, ``end_s`` and optionally ``program``, ``meso``,
            ``begin_s``, ``seed``, ``name``, ``along_edges`` (edge ids: the result then has
            ``along_trips`` and ``along_stops``, :func:`signals.evaluate.sumo_run.along_stops`).
        cache_dir: keep each finished run there, keyed by the digest of its input files' bytes
            and settings, as soon as it finishes, and reuse it on a rerun (timings then are the
            cached run's): an interrupted benchmark resumes where it stopped.
        on_done: called as ``on_done(spec, n_done, n_to_run)`` after each run finishes.
        child: the function each child process runs on a spec (a module-level function
            returning a JSON-able dict; default: the static run above). Files a child reads
            besides net, routes and program are listed in the spec's ``inputs`` (digested into
            the cache key like the others).
    Returns:
        (results in the order of ``specs``, names of the runs that came from the cache).
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from signals.digests import sha256_file
    from signals.errors import atomic_write

    def key(spec: dict) -> str:
        files = {k: sha256_file(spec[k]) for k in ("net", "routes", "program") if spec.get(k)}
        files |= {str(f): sha256_file(f) for f in spec.get("inputs", ())}
        skip = ("net", "routes", "program", "name", "inputs")
        rest = {k: v for k, v in spec.items() if k not in skip}
        if child is not None:
            rest["child"] = f"{child.__module__}.{child.__qualname__}"
        return digest({"files": files, "settings": rest})

    out: list[dict | None] = [None] * len(specs)
    cached: list[str] = []
    todo = []
    for i, spec in enumerate(specs):
        k = key(spec)
        path = cache_dir / f"{k}.sumo.json" if cache_dir is not None else None
        if path is not None and path.is_file():
            out[i] = json.loads(path.read_text())
            cached.append(str(spec.get("name", k)))
            continue
        todo.append((i, path))
    if todo:
        clean = [{k: str(v) if isinstance(v, Path) else v for k, v in s.items()} for s in specs]
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as ex:
            futs = {ex.submit(child or _sumo_child, clean[i]): (i, p) for i, p in todo}
            for n_done, f in enumerate(as_completed(futs), 1):
                i, path = futs[f]
                out[i] = f.result()
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_write(path) as fh:
                        json.dump(out[i], fh)
                if on_done is not None:
                    on_done(specs[i], n_done, len(todo))
    return out, cached  # type: ignore[return-value]
