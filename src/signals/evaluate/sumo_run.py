"""SUMO runs through libsumo: the model of record (docs/architecture.md, "Evaluators").

Two layers, so that a closed loop (an online controller deciding phases each step) reuses
everything but the loop itself:

* :class:`RunSpec` + :func:`sumo_options` -- the checked inputs and the SUMO command line with
  SUMO's own outputs switched on (tripinfo with unfinished and undeparted vehicles, emissions,
  statistic output, edgeData for control delay, queue output in meso);
* :class:`SumoSimulation` -- a started libsumo simulation with subscriptions for per-approach
  queues (micro) and SUMO's record of every signal state change; :meth:`SumoSimulation.advance`
  steps and samples,
  :meth:`SumoSimulation.finish` closes SUMO and :meth:`SumoSimulation.results` turns SUMO's
  outputs into the long metrics table of :mod:`signals.evaluate.metrics`.

:func:`evaluate_sumo` is the static run: the net's own programs or a program file, no control
in the loop. A closed loop looks like::

    with SumoSimulation(spec, network, OutputFiles.in_dir(tmp)) as sim:
        while sim.time_s < spec.end_s:
            ...  # read sim.ls (the libsumo module), set phases
            sim.advance(sim.time_s + 1.0)
        sim.finish()  # SUMO's finished-trip statistics, then close (SUMO writes its outputs)
    df, stats = sim.results(run_id="...")

``import libsumo`` happens only inside this module's functions: libsumo runs one simulation per
process, so sweeps use process pools (docs/architecture.md, "Scale").
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from signals.errors import InputError, created_dir, require_file
from signals.evaluate import metrics as M
from signals.lanes import lane_groups
from signals.network import Network

PathLike = str | os.PathLike


class SumoRunError(RuntimeError):
    """SUMO refused the inputs or stopped during a run; the message carries SUMO's own error."""


# ----------------------------------------------------------------------------- inputs
def _first_tag(path: Path) -> str | None:
    """Tag of the root element (comments and the XML declaration skipped), None if not XML."""
    try:
        with open(path, "rb") as fh:
            opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            for _event, el in ET.iterparse(fh, events=("start",)):
                return el.tag
    except (ET.ParseError, OSError, EOFError):
        return None
    return None


def _check_xml(path: PathLike, field_name: str, roots: tuple[str, ...], what: str) -> Path:
    p = require_file(path, field_name, f"an existing {what}")
    tag = _first_tag(p)
    if tag not in roots:
        expected = f"{what} (root element {' or '.join(f'<{r}>' for r in roots)})"
        raise InputError(p, field_name, expected, f"<{tag}>" if tag else "not an XML file")
    return p


_ROUTE_TAGS = ("vehicle", "trip", "flow")

# Roots SUMO accepts for an additional file (SUMO docs, "Additional files": <additional>; netedit
# and older tools write <add>); route files may be additional-rooted too (vTypes, routes).
ADDITIONAL_ROOTS = ("additional", "add")


def split_paths(values: PathLike | Sequence[PathLike] | None) -> list[str]:
    """File lists as SUMO takes them: one path, a comma-separated string, or a sequence of
    either (``-a a.xml,b.xml``, a repeated option)."""
    if values is None:
        return []
    if isinstance(values, str | os.PathLike):
        values = [values]
    return [part for v in values for part in str(v).split(",") if part]


def has_tllogic(path: PathLike) -> bool:
    """Whether an XML file holds a ``<tlLogic>`` element anywhere (streamed, gz aware)."""
    p = Path(path)
    with open(p, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    try:
        with opener(p, "rb") as fh:
            for _event, el in ET.iterparse(fh, events=("start",)):
                if el.tag == "tlLogic":
                    return True
    except ET.ParseError as exc:
        raise InputError(
            p, "xml", "a readable SUMO additional file", f"ParseError: {exc}"
        ) from None
    return False


def check_route_edges(routes: Sequence[Path], network: Network) -> None:
    """Raise InputError naming the routes file, the vehicle (or route) and the edge for the first
    edge a ``<route edges=...>`` or a trip's ``from``/``to``/``via`` names that the net lacks.

    SUMO itself refuses such a file at load time; checking first gives one line naming the file
    instead of SUMO's message about the vehicle (docs/architecture.md, "Bad input and faults").
    """
    known = set(network.edge_ids)
    net_name = Path(network.path).name if network.path else "the net"
    for p in routes:
        with open(p, "rb") as fh:
            opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
        owner: list[str] = []
        try:
            with opener(p, "rb") as fh:
                for event, el in ET.iterparse(fh, events=("start", "end")):
                    if event == "end":
                        if el.tag in _ROUTE_TAGS and owner:
                            owner.pop()
                        el.clear()
                        continue
                    if el.tag in _ROUTE_TAGS:
                        owner.append(el.get("id", "?"))
                        names = [el.get("from"), el.get("to"), *(el.get("via") or "").split()]
                        where = f"{el.tag} {owner[-1]!r} from/to/via"
                    elif el.tag == "route":
                        names = (el.get("edges") or "").split()
                        rid = el.get("id")
                        where = f"route {rid!r} edges" if rid else f"route of {owner[-1]!r} edges"
                        if not rid and not owner:
                            where = "route edges"
                    else:
                        continue
                    for e in names:
                        if e and e not in known:
                            raise InputError(p, where, f"edges of {net_name}", repr(e))
        except ET.ParseError as exc:
            raise InputError(p, "xml", "a readable SUMO route file", f"ParseError: {exc}") from None


def _is_connected_fn():
    try:
        from signals.demand import is_connected_type
    except ImportError:  # pragma: no cover - demand.py not there yet

        def is_connected_type(vtype: str) -> bool:
            return str(vtype).startswith("cv")

    return is_connected_type


@dataclass(frozen=True)
class RunSpec:
    """Checked inputs of one SUMO run.

    Attributes:
        net: SUMO .net.xml.
        routes: route (or trip/flow) files, loaded with ``-r`` in this order.
        program: additional file with tlLogic programs (and optionally a WAUT), or None for the
            net's own programs.
        additional: further SUMO additional files (vehicle types, bus stops, detectors, tlLogics;
            root ``<additional>`` or ``<add>``), loaded with ``-a`` in this order before the
            program file and the run's own generated additional.
        meso: mesoscopic simulation (``--mesosim --meso-junction-control``) instead of micro.
        begin_s, end_s: simulated window.
        seed: SUMO's ``--seed``.
        time_to_teleport_s: SUMO ``--time-to-teleport`` (SUMO's default 300 s).
        queue_sample_s: queue / signal-state sampling period; 0 switches sampling off.
        extra_options: further SUMO options; an option given here replaces the one this module
            would set (``--additional-files`` is merged instead).
    """

    net: Path
    routes: tuple[Path, ...]
    program: Path | None = None
    additional: tuple[Path, ...] = ()
    meso: bool = False
    begin_s: float = 0.0
    end_s: float = 3600.0
    seed: int = 0
    time_to_teleport_s: float = 300.0
    queue_sample_s: float = 1.0
    extra_options: tuple[str, ...] = ()

    @classmethod
    def make(
        cls,
        net: PathLike,
        routes: PathLike | Sequence[PathLike],
        *,
        program: PathLike | None = None,
        additional: PathLike | Sequence[PathLike] = (),
        meso: bool = False,
        begin_s: float = 0.0,
        end_s: float = 3600.0,
        seed: int = 0,
        time_to_teleport_s: float = 300.0,
        queue_sample_s: float = 1.0,
        extra_options: Sequence[str] = (),
    ) -> RunSpec:
        """Check every input; raise InputError (file, field, expected, found) on bad input."""
        net_p = _check_xml(net, "net", ("net",), "SUMO network file")
        if isinstance(routes, str | os.PathLike):
            routes = [r for r in str(routes).split(",") if r]
        if not routes:
            raise InputError(None, "routes", "at least one route file", "none")
        route_ps = tuple(
            _check_xml(r, "routes", ("routes", *ADDITIONAL_ROOTS), "SUMO route file")
            for r in routes
        )
        prog_p = (
            _check_xml(program, "program", (*ADDITIONAL_ROOTS, "tlLogics"), "SUMO additional file")
            if program is not None
            else None
        )
        add_ps = tuple(
            _check_xml(a, "additional", ADDITIONAL_ROOTS, "SUMO additional file")
            for a in split_paths(additional)
        )
        for name, v in (("begin_s", begin_s), ("end_s", end_s), ("queue_sample_s", queue_sample_s)):
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise InputError(None, name, "a finite number >= 0", repr(v))
        if end_s <= begin_s:
            raise InputError(None, "end_s", f"a time after begin_s={begin_s}", repr(end_s))
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
            raise InputError(None, "seed", "an integer", repr(seed))
        return cls(
            net=net_p.resolve(),
            routes=tuple(r.resolve() for r in route_ps),
            program=prog_p.resolve() if prog_p else None,
            additional=tuple(a.resolve() for a in add_ps),
            meso=bool(meso),
            begin_s=float(begin_s),
            end_s=float(end_s),
            seed=int(seed),
            time_to_teleport_s=float(time_to_teleport_s),
            queue_sample_s=float(queue_sample_s),
            extra_options=tuple(str(o) for o in extra_options),
        )

    def as_dict(self) -> dict:
        d = asdict(self)
        d["net"] = str(self.net)
        d["routes"] = [str(r) for r in self.routes]
        d["program"] = str(self.program) if self.program else None
        d["additional"] = [str(a) for a in self.additional]
        d["extra_options"] = list(self.extra_options)
        return d

    def digest(self) -> str:
        """Short hash of everything that changes the simulation (for default run ids)."""
        h = hashlib.sha1()
        for p in (self.net, *self.routes, *self.inputs_additional()):
            h.update(str(p).encode())
            st = p.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        h.update(
            repr((self.meso, self.begin_s, self.end_s, self.seed, self.time_to_teleport_s)).encode()
        )
        h.update(repr(self.extra_options).encode())
        return h.hexdigest()[:8]

    def inputs_additional(self) -> list[Path]:
        """The additional files given as inputs, in SUMO's load order (program file last)."""
        return [*self.additional, *([self.program] if self.program else [])]


@dataclass(frozen=True)
class OutputFiles:
    """Where SUMO writes its outputs for one run (all inside one working directory)."""

    dir: Path
    tripinfo: Path
    statistic: Path
    edgedata: Path
    additional: Path
    tls_states: Path
    queue: Path
    errors: Path

    @classmethod
    def in_dir(cls, d: PathLike) -> OutputFiles:
        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        return cls(
            dir=d,
            tripinfo=d / "tripinfo.xml",
            statistic=d / "statistic.xml",
            edgedata=d / "edgedata.xml",
            additional=d / "signals.add.xml",
            tls_states=d / "tls-states.xml",
            queue=d / "queue.csv",
            errors=d / "sumo-errors.log",
        )


_SHORT = {
    "-n": "--net-file",
    "-r": "--route-files",
    "-a": "--additional-files",
    "-b": "--begin",
    "-e": "--end",
    "-t": "--duration-log.statistics",
}


def _option_names(options: Sequence[str]) -> set[str]:
    return {_SHORT.get(o, o).split("=", 1)[0] for o in options if o.startswith("-")}


def _write_additional(spec: RunSpec, files: OutputFiles, signal_ids: Sequence[str]) -> None:
    from xml.sax.saxutils import quoteattr

    # One edgeData interval over the whole window; internal edges included so a junction's
    # acceleration delay can be added to its signal (SUMO docs, "Simulation/Output/Lane- or
    # Edge-based Traffic Measures": timeLoss, entered, departed).
    lines = [
        "<additional>",
        f'    <edgeData id="signals_edgedata" file="{files.edgedata.name}" '
        f'begin="{spec.begin_s:g}" end="{spec.end_s:g}" withInternal="true" excludeEmpty="true"/>',
    ]
    # Every state change of every signal, whoever caused it (program, WAUT, actuation or a
    # closed-loop controller through TraCI) -- SUMO docs, "Simulation/Output/Traffic Lights",
    # SaveTLSSwitchStates. Green shares for capacity come from these, not from sampling.
    lines += [
        f'    <timedEvent type="SaveTLSSwitchStates" source={quoteattr(s)} dest="{files.tls_states.name}"/>'
        for s in signal_ids
    ]
    lines.append("</additional>\n")
    files.additional.write_text("\n".join(lines))


def sumo_options(spec: RunSpec, files: OutputFiles, signal_ids: Sequence[str] = ()) -> list[str]:
    """SUMO command-line options (without the binary name) for one evaluation run.

    Outputs: tripinfo with ``write-unfinished`` and ``write-undeparted`` (vehicles still running
    or not yet inserted at the end, for the RESCO delay), the emissions device on every vehicle
    (CO2/fuel in tripinfo), ``--statistic-output`` (SUMO's own trip statistics, the numbers of
    ``--duration-log.statistics``), an edgeData interval for control delay, the switch states
    of ``signal_ids`` (green shares for v/c) and, in meso with sampling on, ``--queue-output``
    every ``queue_sample_s``. Warnings go to the error log only.
    """
    _write_additional(spec, files, signal_ids)
    extra = list(spec.extra_options)
    given = _option_names(extra)
    # SUMO loads additionals in order and a later tlLogic of a signal becomes its active
    # program: the given additional files first, then the caller's (a controller's programs),
    # then the program file, then the run's own outputs
    user = [str(p) for p in spec.additional]
    additionals = [*user, *(str(p) for p in ([spec.program] if spec.program else []))] + [
        str(files.additional)
    ]
    if "--additional-files" in given:  # merge: given files, the caller's, then ours
        for i, o in enumerate(extra):
            if _SHORT.get(o, o) == "--additional-files" and i + 1 < len(extra):
                extra[i + 1] = ",".join([*user, extra[i + 1], *additionals[len(user) :]])
    ours: list[tuple[str, list[str]]] = [
        ("--net-file", [str(spec.net)]),
        ("--route-files", [",".join(str(r) for r in spec.routes)]),
        ("--additional-files", [",".join(additionals)]),
        ("--begin", [f"{spec.begin_s:g}"]),
        ("--end", [f"{spec.end_s:g}"]),
        ("--seed", [str(spec.seed)]),
        ("--time-to-teleport", [f"{spec.time_to_teleport_s:g}"]),
        ("--no-step-log", []),
        ("--no-warnings", []),
        ("--error-log", [str(files.errors)]),
        ("--tripinfo-output", [str(files.tripinfo)]),
        ("--tripinfo-output.write-unfinished", []),
        ("--tripinfo-output.write-undeparted", []),
        ("--device.emissions.probability", ["1"]),
        ("--statistic-output", [str(files.statistic)]),
    ]
    if spec.meso:
        # Without junction control meso lets vehicles pass red lights (SUMO docs, "Simulation/
        # Meso": --meso-junction-control models traffic lights as in micro).
        ours += [("--mesosim", []), ("--meso-junction-control", [])]
        if spec.queue_sample_s > 0:
            # column output (.csv): far cheaper to write and read than XML; skip-empty is
            # required for column formats (SUMO --help), empty samples are zeros when read
            ours += [
                ("--queue-output", [str(files.queue)]),
                ("--queue-output.period", [f"{spec.queue_sample_s:g}"]),
                ("--queue-output.skip-empty", []),
            ]
    argv: list[str] = []
    for name, args in ours:
        if name not in given:
            argv += [name, *args]
    return argv + extra


# -------------------------------------------------------------------------- approaches
@dataclass(frozen=True)
class Approaches:
    """The incoming edges of every signal, in signal order.

    Attributes:
        edge_ids: (A,) approach edge ids (each edge once).
        signal: (A,) signal index of each approach.
        mov_approach: (M,) approach index of each movement (-1 if its edge went to another signal).
    """

    edge_ids: tuple[str, ...]
    signal: np.ndarray
    mov_approach: np.ndarray

    @classmethod
    def of(cls, network: Network) -> Approaches:
        ids: list[str] = []
        sig: list[int] = []
        index: dict[str, int] = {}
        for s in range(network.n_signals):
            for e in network.approach_edges(s):
                if e not in index:
                    index[e] = len(ids)
                    ids.append(e)
                    sig.append(s)
        mov_app = np.array(
            [
                index[e] if sig[index[e]] == s else -1
                for e, s in zip(network.mov_from_edge, network.mov_signal, strict=True)
            ],
            dtype=np.int64,
        )
        return cls(tuple(ids), np.asarray(sig, dtype=np.int64), mov_app)

    @property
    def n(self) -> int:
        return len(self.edge_ids)


def static_green_share(network: Network) -> np.ndarray:
    """(L,) share of the cycle each link is green ('G'/'g') in the net's own programs."""
    share = np.zeros(network.n_links)
    for s in range(network.n_signals):
        ph = network.phases_of(s)
        dur = network.phase_duration_s[ph]
        cycle = float(dur.sum())
        if cycle <= 0:
            continue
        ln = network.links_of(s)
        for state, d in zip(network.phase_state[ph], dur, strict=True):
            g = np.frombuffer(state.encode(), dtype=np.uint8)
            share[ln] += ((g == ord("G")) | (g == ord("g"))) * (d / cycle)
    return share


def approach_capacity_vps(
    network: Network, app: Approaches, link_green_share: np.ndarray
) -> np.ndarray:
    """(A,) capacity per approach: sum over its movements of saturation flow x green share.

    HCM 6th ed. Eq. 19-16, c = s * g/C, with g/C the measured (or programmed) share of time the
    movement's links show green; permissive green ('g') counts fully, so this is an upper bound
    for movements that yield. Rough by design (the brief: v/c only decides LOS F).
    """
    veh = network.link_movement >= 0
    lm = network.link_movement[veh]
    n_links = np.bincount(lm, minlength=network.n_movements)
    g_links = np.bincount(lm, weights=link_green_share[veh], minlength=network.n_movements)
    mov_share = g_links / np.maximum(n_links, 1)
    cap_mov = network.mov_sat_flow_vps * mov_share
    ok = app.mov_approach >= 0
    return np.bincount(app.mov_approach[ok], weights=cap_mov[ok], minlength=app.n)


# --------------------------------------------------------------------------- simulation
# SUMO's trip statistics (TraCI generic parameters device.tripinfo.<name>)
FINISHED_STATS = (
    "count",
    "duration",
    "waitingTime",
    "timeLoss",
    "departDelay",
    "routeLength",
    "speed",
)


# words in SUMO's load errors that point at the program file or at the route files
_PROGRAM_WORDS = ("tls", "tllogic", "traffic light", "phase", "waut", "program")
_ROUTE_WORDS = ("vehicle", "route", "vtype", "car-following", "flow", "trip", "depart")


# Lane-group queues are sampled every 5 s (as the queue model samples its queues): 720 samples
# an hour for the 95th percentile. Every second would add about a fifth to a pilot-zone run
# (5,000 lanes read per sample; measured +5 s on a 9 s, 600 s run).
LANE_GROUP_SAMPLE_S = 5.0


class SumoSimulation:
    """A libsumo simulation set up for evaluation; use as a context manager.

    On entry SUMO starts with :func:`sumo_options`. Queues: in micro every approach edge is
    subscribed once to its halting-vehicle count (speed < 0.1 m/s, SUMO's halting definition)
    and :meth:`advance` reads ``edge.getAllSubscriptionResults()`` every ``queue_sample_s`` into
    a numpy row (no per-edge get calls); every lane of an HCM lane group
    (:func:`signals.lanes.lane_groups`) is read every :data:`LANE_GROUP_SAMPLE_S` and summed per
    group. In meso (no lanes; no lane group figures), where a queued vehicle is not necessarily
    halting, queues come from SUMO's ``--queue-output`` (queueing_count per segment queue, the
    meso queue definition in MSQueueExport) at the same period, so meso needs no Python stepping.
    Green shares (for capacity and v/c) come from SUMO's SaveTLSSwitchStates output, which
    records every state change, including those a closed-loop controller makes.

    Attributes:
        spec, network, files, approaches: the run's inputs.
        command: the SUMO command line.
        ls: the libsumo module while running (for closed-loop controllers).
        time_s: current simulation time.
        queue_veh: (T, A) halting vehicles per sample and approach (meso: after finish()).
        group_queue_veh: (T, G) halting vehicles per sample and lane group (micro only).
        n_samples: queue samples taken.
        finished_stats: SUMO's trip statistics over finished trips, read just before closing.
        sim_wall_s: wall time spent inside SUMO (start, steps, close).
    """

    def __init__(self, spec: RunSpec, network: Network, files: OutputFiles):
        self.spec = spec
        self.network = network
        self.files = files
        self.approaches = Approaches.of(network)
        self.lane_groups = lane_groups(network)
        lane_group = self.lane_groups.lane_index()
        self._group_lanes = tuple(lane_group)
        self._lane_group = np.fromiter(lane_group.values(), dtype=np.int64, count=len(lane_group))
        # lane groups every LANE_GROUP_SAMPLE_S (a multiple of the queue sampling period)
        self._group_every = max(1, round(LANE_GROUP_SAMPLE_S / max(spec.queue_sample_s, 1e-9)))
        self.command = ["sumo", *sumo_options(spec, files, network.signal_ids)]
        self.ls = None
        self.time_s = spec.begin_s
        self.n_samples = 0
        self.finished_stats: dict[str, float] = {}
        self.sim_wall_s = 0.0
        self.queue_veh = np.zeros((0, self.approaches.n))
        self.group_queue_veh = np.zeros((0, self.lane_groups.n))
        self._queue_rows: list[np.ndarray] = []
        self._group_rows: list[np.ndarray] = []
        # micro samples queues from Python; meso lets SUMO write them (queue output)
        self._sampling = spec.queue_sample_s > 0 and not spec.meso
        self._next_sample = spec.begin_s + spec.queue_sample_s
        self._closed = False
        self._green_share: np.ndarray | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> SumoSimulation:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        import libsumo

        if libsumo.simulation.isLoaded():
            raise SumoRunError(
                "a libsumo simulation is already running in this process (libsumo runs one "
                "simulation per process; use a process pool for sweeps)"
            )
        check_route_edges(self.spec.routes, self.network)
        t0 = time.perf_counter()
        failed: BaseException | None = None
        with _stderr_captured() as captured:
            try:
                libsumo.start(self.command)
            except libsumo.TraCIException as exc:
                failed = exc
                with contextlib.suppress(Exception):
                    libsumo.close()
        raw = captured.read_text(errors="replace") if captured.exists() else ""
        captured.unlink(missing_ok=True)
        if failed is not None:
            # SUMO refused what it was given (unknown edge in a route, broken program, bad
            # option): bad input, reported as one line with SUMO's first error, naming the file.
            msg = self._error_text(failed, raw)
            raise InputError(self._inputs_label(msg), "SUMO", "inputs SUMO can load", msg) from None
        if raw.strip():
            sys.stderr.write(raw)  # a successful start keeps whatever SUMO printed
        self.ls = libsumo
        self.time_s = float(libsumo.simulation.getTime())
        if self._sampling:
            key = libsumo.constants.LAST_STEP_VEHICLE_HALTING_NUMBER
            for e in self.approaches.edge_ids:
                libsumo.edge.subscribe(e, [key])
        self.sim_wall_s += time.perf_counter() - t0

    def _inputs_label(self, message: str = "") -> str:
        """The input file SUMO's message names (by path or file name), else all of them."""
        spec = self.spec
        files = [spec.net, *spec.routes, *spec.inputs_additional()]
        for f in files:
            if str(f) in message or f"'{f.name}'" in message or f'"{f.name}"' in message:
                return str(f)
        low = message.lower()
        if spec.program and any(w in low for w in _PROGRAM_WORDS):
            return str(spec.program)
        if spec.additional and any(w in low for w in (*_PROGRAM_WORDS, "stop", "detector")):
            return "+".join(str(f) for f in spec.additional)
        if any(w in low for w in _ROUTE_WORDS):
            return "+".join(str(f) for f in spec.routes)
        return "+".join(str(f) for f in files)

    def _error_text(self, exc: BaseException, raw: str = "") -> str:
        """SUMO's first error message -- from what SUMO printed while loading, else its error
        log, else the exception (often just "Process Error") -- on one line without the
        "Error: " prefix."""
        msg = str(exc).strip()
        texts = [raw]
        if self.files.errors.is_file():
            texts.append(self.files.errors.read_text(errors="replace"))
        for text in texts:
            lines = [ln for ln in text.splitlines() if ln.startswith("Error")]
            if lines:
                msg = lines[0]
                break
        msg = " ".join(msg.split())
        if msg.startswith("Error:"):
            msg = msg[len("Error:") :].strip()
        return msg or type(exc).__name__

    def _sample(self) -> None:
        res = self.ls.edge.getAllSubscriptionResults()
        key = self.ls.constants.LAST_STEP_VEHICLE_HALTING_NUMBER
        self._queue_rows.append(
            np.fromiter(
                (res[e][key] for e in self.approaches.edge_ids),
                dtype=np.int32,
                count=self.approaches.n,
            )
        )
        if self.n_samples % self._group_every == 0:
            # direct getters: cheaper than lane subscriptions (see sumo_loop's observer), and a
            # closed-loop controller's own lane subscriptions stay as it made them
            get = self.ls.lane.getLastStepHaltingNumber
            n = len(self._group_lanes)
            halting = np.fromiter(map(get, self._group_lanes), dtype=float, count=n)
            self._group_rows.append(
                np.bincount(self._lane_group, weights=halting, minlength=self.lane_groups.n)
            )
        self.n_samples += 1

    def advance(self, until_s: float) -> float:
        """Simulate up to ``until_s`` (capped at the end), sampling on the way; return the time."""
        ls = self.ls
        if ls is None or self._closed:
            raise SumoRunError("the simulation is not running")
        until = min(float(until_s), self.spec.end_s)
        t0 = time.perf_counter()
        try:
            while self.time_s < until - 1e-9:
                target = until
                if self._sampling and self._next_sample < target:
                    target = self._next_sample
                ls.simulationStep(target)
                self.time_s = float(ls.simulation.getTime())
                if self._sampling and self.time_s >= self._next_sample - 1e-9:
                    self._sample()
                    self._next_sample += self.spec.queue_sample_s
        except ls.TraCIException as exc:
            raise SumoRunError(
                f"SUMO stopped at t={self.time_s:g} s: {self._error_text(exc)}"
            ) from None
        finally:
            self.sim_wall_s += time.perf_counter() - t0
        return self.time_s

    def finish(self) -> None:
        """Read SUMO's finished-trip statistics, then close SUMO so it writes its outputs."""
        if self.ls is not None and not self._closed:
            # device.tripinfo.* are SUMO's running trip statistics over *arrived* vehicles: the
            # numbers --duration-log.statistics prints for a run without write-unfinished
            # (SUMO docs, TraCI "Simulation Value Retrieval", generic parameters).
            for k in FINISHED_STATS:
                with contextlib.suppress(Exception):
                    self.finished_stats[k] = float(
                        self.ls.simulation.getParameter("", f"device.tripinfo.{k}")
                    )
        self.close()

    def close(self) -> None:
        """Close libsumo (idempotent); SUMO writes tripinfo, statistic and edgeData outputs."""
        if self.ls is not None and not self._closed:
            self._closed = True
            t0 = time.perf_counter()
            try:
                self.ls.close()
            finally:
                self.sim_wall_s += time.perf_counter() - t0
        if self._queue_rows:
            self.queue_veh = np.vstack(self._queue_rows)
            self.group_queue_veh = np.vstack(self._group_rows)
            self._queue_rows, self._group_rows = [], []

    # -- results -----------------------------------------------------------------------
    @property
    def link_green_share(self) -> np.ndarray | None:
        """(L,) share of [begin, end) each link showed green, from SUMO's switch states.

        Available after :meth:`finish`; falls back to the net's own programs when the switch
        states file is missing and no program file was given, else None.
        """
        if self._green_share is None and self._closed and self.files.tls_states.is_file():
            self._green_share = read_tls_switch_states(
                self.files.tls_states, self.network, self.spec.begin_s, self.time_s
            )
        if self._green_share is not None:
            return self._green_share
        if self.spec.program is None and not any(map(has_tllogic, self.spec.additional)):
            return static_green_share(self.network)
        return None

    def results(
        self, *, run_id: str, scenario: str = "", controller: str = "", seed: int | None = None
    ) -> tuple[pd.DataFrame, dict]:
        """Metrics table and SUMO's own statistics after :meth:`finish`.

        Returns:
            (long metrics DataFrame, {"finished": ..., "statistic_output": ...}).
        """
        if not self._closed:
            raise SumoRunError("results() needs a finished simulation: call finish() first")
        spec, net, app = self.spec, self.network, self.approaches
        stats = read_statistic_output(self.files.statistic)
        vehicles = read_tripinfo(self.files.tripinfo, _is_connected_fn())
        rows = M.vehicle_rows(vehicles)
        rows += M.scalar_rows(
            {
                "n_teleports": stats.get("teleports.total", math.nan),
                "n_teleports_jam": stats.get("teleports.jam", math.nan),
                "n_teleports_yield": stats.get("teleports.yield", math.nan),
                "n_teleports_wrong_lane": stats.get("teleports.wrongLane", math.nan),
                "n_collisions": stats.get("safety.collisions", math.nan),
            }
        )
        time_loss, entering, junction_tl = read_edgedata(self.files.edgedata, app, net)
        share = self.link_green_share
        cap = approach_capacity_vps(net, app, share) if share is not None else None
        rows += M.approach_rows(
            app.edge_ids,
            app.signal,
            net.signal_ids,
            time_loss,
            entering,
            self.time_s - spec.begin_s,
            capacity_vps=cap,
            junction_time_loss_s=junction_tl,
        )
        if spec.meso and spec.queue_sample_s > 0:
            self.queue_veh = read_meso_queue_output(
                self.files.queue, app, spec.begin_s, self.time_s, spec.queue_sample_s
            )
            self.n_samples = self.queue_veh.shape[0]
        if self.queue_veh.shape[0]:
            rows += M.queue_rows(app.edge_ids, app.signal, net.signal_ids, self.queue_veh)
        if self.group_queue_veh.shape[0]:
            g = self.lane_groups
            rows += M.lane_group_queue_rows(
                g.ids, g.signal, g.n_lanes, net.signal_ids, self.group_queue_veh
            )
            rows += M.queue_series_rows(self.queue_veh, self.spec.begin_s, self.spec.queue_sample_s)
        df = M.results_frame(
            rows,
            run_id=run_id,
            scenario=scenario,
            controller=controller,
            seed=spec.seed if seed is None else seed,
        )
        return df, {"finished": dict(self.finished_stats), "statistic_output": stats}


# ------------------------------------------------------------------------------ readers
def read_tripinfo(path: PathLike, is_connected=None) -> M.VehicleRecords:
    """Per-vehicle records from a SUMO tripinfo file (write-unfinished / write-undeparted aware).

    ``depart="-1"`` marks a vehicle never inserted, ``arrival="-1"`` one still running. Emissions
    (CO2_abs, fuel_abs) are in mg in SUMO's tripinfo (HBEFA models) and are converted to g.
    """
    is_connected = is_connected or _is_connected_fn()
    cols: dict[str, list] = {
        k: [] for k in ("dd", "tl", "du", "wt", "wc", "dep", "arr", "con", "co2", "fuel")
    }
    cur: dict | None = None
    for event, el in ET.iterparse(str(path), events=("start", "end")):
        if event == "start":
            if el.tag == "tripinfo":
                cur = {"co2": 0.0, "fuel": 0.0}
            continue
        if el.tag == "emissions" and cur is not None:
            cur["co2"] = float(el.get("CO2_abs", 0.0)) / 1000.0
            cur["fuel"] = float(el.get("fuel_abs", 0.0)) / 1000.0
        elif el.tag == "tripinfo" and cur is not None:
            g = el.get
            cols["dd"].append(float(g("departDelay", 0.0)))
            cols["tl"].append(float(g("timeLoss", 0.0)))
            cols["du"].append(float(g("duration", 0.0)))
            cols["wt"].append(float(g("waitingTime", 0.0)))
            cols["wc"].append(float(g("waitingCount", 0.0)))
            cols["dep"].append(float(g("depart", -1.0)) >= 0)
            cols["arr"].append(float(g("arrival", -1.0)) >= 0)
            cols["con"].append(bool(is_connected(g("vType", ""))))
            cols["co2"].append(cur["co2"])
            cols["fuel"].append(cur["fuel"])
            cur = None
            el.clear()
    A = np.asarray
    return M.VehicleRecords(
        depart_delay_s=A(cols["dd"], dtype=float),
        time_loss_s=A(cols["tl"], dtype=float),
        duration_s=A(cols["du"], dtype=float),
        waiting_time_s=A(cols["wt"], dtype=float),
        stops=A(cols["wc"], dtype=float),
        departed=A(cols["dep"], dtype=bool),
        finished=A(cols["arr"], dtype=bool),
        connected=A(cols["con"], dtype=bool),
        co2_g=A(cols["co2"], dtype=float),
        fuel_g=A(cols["fuel"], dtype=float),
    )


def along_stops(path: PathLike, edge_ids) -> tuple[int, float]:
    """(number, mean stops) of the finished trips of a tripinfo file that enter and leave on
    ``edge_ids`` (a corridor's edges) and not on the same edge: the vehicles that drive along
    it. Stops are tripinfo's waitingCount, as ``avg_stops``."""
    on = set(edge_ids)
    stops = []
    for _, el in ET.iterparse(str(path)):
        if el.tag != "tripinfo":
            continue
        if float(el.get("arrival", -1.0)) >= 0:
            a = el.get("departLane", "").rpartition("_")[0]
            b = el.get("arrivalLane", "").rpartition("_")[0]
            if a in on and b in on and a != b:
                stops.append(float(el.get("waitingCount", 0.0)))
        el.clear()
    return len(stops), (float(np.mean(stops)) if stops else math.nan)


def read_statistic_output(path: PathLike) -> dict[str, float]:
    """SUMO ``--statistic-output`` flattened to {"element.attribute": value}."""
    out: dict[str, float] = {}
    root = ET.parse(str(path)).getroot()
    for el in root:
        for k, v in el.attrib.items():
            with contextlib.suppress(ValueError):
                out[f"{el.tag}.{k}"] = float(v)
    return out


def read_edgedata(
    path: PathLike, app: Approaches, network: Network
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-approach time loss and entering vehicles, and per-signal junction time loss.

    Returns:
        time_loss_s (A,), entering_veh (A,) = entered + departed, junction_time_loss_s (S,) summed
        over the internal edges (``:<junction>_<n>``) of each signal's junctions.
    """
    idx = {e: i for i, e in enumerate(app.edge_ids)}
    junction_signal = {j: s for s, js in enumerate(network.signal_junctions) for j in js}
    tl = np.zeros(app.n)
    n_in = np.zeros(app.n)
    jtl = np.zeros(network.n_signals)
    for _event, el in ET.iterparse(str(path), events=("end",)):
        if el.tag != "edge":
            continue
        eid = el.get("id", "")
        loss = float(el.get("timeLoss", 0.0))
        if eid.startswith(":"):
            s = junction_signal.get(eid[1:].rsplit("_", 1)[0])
            if s is not None:
                jtl[s] += loss
        elif eid in idx:
            i = idx[eid]
            tl[i] += loss
            n_in[i] += float(el.get("entered", 0.0)) + float(el.get("departed", 0.0))
        el.clear()
    return tl, n_in, jtl


def read_meso_queue_output(
    path: PathLike, app: Approaches, begin_s: float, end_s: float, period_s: float
) -> np.ndarray:
    """(T, A) queued vehicles per sample and approach from meso ``--queue-output`` (CSV).

    Each row is one segment queue (MSQueueExport::writeMesoQueue); its ``queueing_count`` is
    summed over the segments and queues of the edge. SUMO writes at begin, begin + period, ...
    before end; samples without any queue are skipped in the file (skip-empty) and are zeros here.
    """
    n = max(int(math.ceil((end_s - begin_s) / period_s - 1e-9)), 0)
    q = np.zeros((n, app.n))
    p = Path(path)
    if n == 0 or not p.is_file() or p.stat().st_size == 0:
        return q
    df = pd.read_csv(p, sep=";", usecols=["data_timestep", "lane_id", "lane_queueing_count"])
    if df.empty:
        return q
    idx = {e: i for i, e in enumerate(app.edge_ids)}
    edge = df["lane_id"].astype(str).str.rsplit("_", n=1).str[0]
    col = edge.map(idx)
    k = np.rint((df["data_timestep"].astype(float).to_numpy() - begin_s) / period_s)
    ok = col.notna().to_numpy() & (k >= 0) & (k < n)
    np.add.at(
        q,
        (k[ok].astype(np.int64), col[ok].astype(np.int64).to_numpy()),
        df["lane_queueing_count"].to_numpy(dtype=float)[ok],
    )
    return q


def read_tls_switch_states(
    path: PathLike, network: Network, begin_s: float, end_s: float
) -> np.ndarray:
    """(L,) share of [begin_s, end_s) each link showed green ('G' or 'g').

    Reads SUMO's SaveTLSSwitchStates output: one ``<tlsState time id state>`` per change; a
    state holds until the signal's next record. Links of signals without records are NaN.
    """
    changes: dict[str, list[tuple[float, str]]] = {}
    for _event, el in ET.iterparse(str(path), events=("end",)):
        if el.tag == "tlsState":
            changes.setdefault(el.get("id", ""), []).append(
                (float(el.get("time", 0.0)), el.get("state", ""))
            )
        el.clear()
    span = max(end_s - begin_s, 1e-9)
    share = np.full(network.n_links, np.nan)
    for s, sid in enumerate(network.signal_ids):
        recs = changes.get(sid)
        ln = network.links_of(s)
        if not recs:
            continue
        acc = np.zeros(ln.stop - ln.start)
        times = [t for t, _ in recs[1:]] + [end_s]
        for (t, state), t_next in zip(recs, times, strict=True):
            dur = min(t_next, end_s) - max(t, begin_s)
            if dur <= 0 or len(state) != len(acc):
                continue
            g = np.frombuffer(state.encode(), dtype=np.uint8)
            acc += ((g == ord("G")) | (g == ord("g"))) * dur
        share[ln] = acc / span
    return share


# ------------------------------------------------------------------------- static run
@dataclass
class SumoResult:
    """Outcome of one SUMO run.

    Attributes:
        run_id: the run's id (the ``run_id`` column).
        metrics: the long metrics table (:data:`signals.evaluate.metrics.COLUMNS`).
        summary: network-scope metric -> value.
        paths: written files (results, summary, run and SUMO's raw outputs) when ``out_dir``.
        sumo_statistics: {"finished": SUMO trip statistics over arrived vehicles,
            "statistic_output": SUMO's --statistic-output (counts unfinished vehicles too)}.
        wall_s: wall time of the whole call; sim_wall_s: time spent inside SUMO.
        n_samples: queue/signal samples taken.
    """

    run_id: str
    metrics: pd.DataFrame
    summary: dict[str, float]
    paths: dict[str, Path] = field(default_factory=dict)
    sumo_statistics: dict[str, dict[str, float]] = field(default_factory=dict)
    wall_s: float = 0.0
    sim_wall_s: float = 0.0
    n_samples: int = 0


def default_run_id(spec: RunSpec, scenario: str = "", controller: str = "") -> str:
    name = scenario or spec.net.name.split(".")[0]
    mode = "meso" if spec.meso else "micro"
    return f"{name}-{controller or 'static'}-{mode}-seed{spec.seed}-{spec.digest()}"


@contextlib.contextmanager
def _stderr_captured() -> Iterator[Path]:
    """Send file descriptor 2 (where SUMO's C++ code prints its errors) to a temporary file for
    the body; yields that file's path (the caller reads and removes it)."""
    fd, name = tempfile.mkstemp(prefix="signals-sumo-stderr-", suffix=".txt")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        yield Path(name)
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


@contextlib.contextmanager
def _workdir(out_dir: Path | None) -> Iterator[Path]:
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="signals-sumo-") as d:
            yield Path(d)
        return
    # a run that fails (bad input found by SUMO, a crash) leaves no new folder behind
    with created_dir(out_dir):
        d = Path(tempfile.mkdtemp(prefix=".sumo-", dir=out_dir))
        try:
            yield d
        finally:
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)


def gate_programs(spec: RunSpec, network: Network, *, clearance=None) -> list:
    """The safety gate on what SUMO will run: every tlLogic of every additional file and of
    the program file, as written, and the net's own programs unless a program file replaces
    them (existing programs: unsafe findings raise, guideline findings are returned).

    Raises:
        UnsafePlanError: nothing unsafe reaches SUMO, by any input path.
    """
    from signals.safety import SafetyConfig, check_file, check_network_programs

    clearance = clearance or SafetyConfig()
    out: list = []
    for p in spec.additional:
        if has_tllogic(p):  # a vType / bus stop / detector file has nothing to gate
            out += check_file(p, network, clearance=clearance, existing=True)
    if spec.program is not None:
        return out + check_file(spec.program, network, clearance=clearance, existing=True)
    return out + check_network_programs(network, clearance=clearance)


def evaluate_sumo(
    net: PathLike,
    routes: PathLike | Sequence[PathLike],
    *,
    program: PathLike | None = None,
    additional: PathLike | Sequence[PathLike] = (),
    meso: bool = False,
    begin_s: float = 0,
    end_s: float = 3600,
    seed: int = 0,
    out_dir: PathLike | None = None,
    scenario: str = "",
    controller: str = "",
    run_id: str | None = None,
    network: Network | None = None,
    queue_sample_s: float = 1.0,
    extra_options: Sequence[str] = (),
    time_to_teleport_s: float = 300.0,
    keep_sumo_outputs: bool = True,
) -> SumoResult:
    """Run one static SUMO scenario (the net's own programs or ``program``) and measure it.

    Args:
        net: SUMO .net.xml with traffic lights.
        routes: route file(s); a comma-separated string or a sequence.
        program: additional file with tlLogic programs (optionally a WAUT), loaded with ``-a``.
        additional: further additional files (a sequence or a comma-separated string), loaded
            with ``-a`` in this order before ``program``; their tlLogics pass the safety gate.
        meso: mesoscopic instead of microscopic simulation.
        begin_s, end_s: simulated window.
        seed: SUMO ``--seed``.
        out_dir: where results.parquet, summary.csv, run.json and SUMO's raw outputs
            (``sumo/``) go; None keeps nothing on disk.
        scenario, controller, run_id: labels of the results table (run_id defaults to
            :func:`default_run_id`).
        network: the already-loaded Network of ``net`` (loaded here if None).
        queue_sample_s: queue/signal-state sampling period; 0 switches sampling off.
        extra_options: further SUMO options (they replace this module's option of the same name).
        time_to_teleport_s: SUMO ``--time-to-teleport``.
        keep_sumo_outputs: keep SUMO's raw outputs under ``out_dir/sumo``.

    Raises:
        InputError: a missing file or one that is not the SUMO file expected.
        SumoRunError: SUMO refused the inputs or stopped during the run.
    """
    t0 = time.perf_counter()
    spec = RunSpec.make(
        net,
        routes,
        program=program,
        additional=additional,
        meso=meso,
        begin_s=begin_s,
        end_s=end_s,
        seed=seed,
        time_to_teleport_s=time_to_teleport_s,
        queue_sample_s=queue_sample_s,
        extra_options=extra_options,
    )
    network = network if network is not None else Network.from_sumo(spec.net)
    gate_programs(spec, network)
    run_id = run_id or default_run_id(spec, scenario, controller)
    out = Path(out_dir) if out_dir is not None else None
    with _workdir(out) as work:
        files = OutputFiles.in_dir(work)
        sim = SumoSimulation(spec, network, files)
        with sim:
            sim.advance(spec.end_s)
            sim.finish()
        df, stats = sim.results(run_id=run_id, scenario=scenario, controller=controller)
        summary = _network_summary(df)
        paths: dict[str, Path] = {}
        wall_s = time.perf_counter() - t0
        if out is not None:
            if keep_sumo_outputs:
                raw = out / "sumo"
                if raw.exists():
                    shutil.rmtree(raw)
                os.replace(work, raw)
                raw.chmod(0o755)  # mkdtemp makes it owner-only
                paths |= {
                    "tripinfo": raw / files.tripinfo.name,
                    "statistic": raw / files.statistic.name,
                    "edgedata": raw / files.edgedata.name,
                    "tls_states": raw / files.tls_states.name,
                    "errors": raw / files.errors.name,
                }
                if spec.meso and spec.queue_sample_s > 0:
                    paths["queue"] = raw / files.queue.name
            run_info = {
                "run_id": run_id,
                "scenario": scenario,
                "controller": controller,
                "spec": spec.as_dict(),
                "sumo_command": [c.replace(str(work), str(out / "sumo")) for c in sim.command]
                if keep_sumo_outputs
                else sim.command,
                "wall_s": round(wall_s, 3),
                "sim_wall_s": round(sim.sim_wall_s, 3),
                "n_samples": sim.n_samples,
                "sumo_statistics": stats,
            }
            paths |= M.save_results(df, out, run_info)
    return SumoResult(
        run_id=run_id,
        metrics=df,
        summary=summary,
        paths=paths,
        sumo_statistics=stats,
        wall_s=time.perf_counter() - t0,
        sim_wall_s=sim.sim_wall_s,
        n_samples=sim.n_samples,
    )


def _network_summary(df: pd.DataFrame) -> dict[str, float]:
    net = df[df["scope"] == M.NETWORK]
    return {str(m): float(v) for m, v in zip(net["metric"], net["value"], strict=True)}


def evaluate_online(*args, **kwargs):
    """Closed-loop run with an online controller (issue 5); see
    :func:`signals.evaluate.sumo_loop.evaluate_online` (re-exported here, imported lazily)."""
    from signals.evaluate.sumo_loop import evaluate_online as _evaluate_online

    return _evaluate_online(*args, **kwargs)
