"""Demand: time-of-day profiles, routes from SUMO's own tools, turning ratios and entry flows.

Three ways to a routed ``.rou.xml`` (all deterministic for a given seed, byte for byte):

* :func:`generate_routes` -- random trips with fringe weighting (SUMO ``randomTrips.py``) whose
  departure times follow a time-of-day :class:`Period` profile, routed with ``duarouter``;
* :func:`routes_from_od` -- an OD matrix (CSV or SUMO O-format) through ``od2trips`` and ``duarouter``;
* :func:`routes_from_counts` -- turning-movement counts through SUMO ``routeSampler.py`` with
  candidate routes from ``randomTrips.py``/``duarouter``.

Every routes file defines ``<vTypeDistribution id="mix">`` with two passenger types, ``cv``
(connected, ``<param key="connected" value="1"/>``) and ``hv`` (other); each vehicle carries one of
the two, drawn with the seed. :func:`is_connected_type` is the shared contract for splitting
metrics by connected vs other vehicles.

The analysis half (:func:`read_routes`, :func:`turning_ratios`, :func:`entry_flows`,
:func:`edge_counts`, :func:`movement_counts`, :class:`Demand`) is pure numpy on parsed route files:
no SUMO import, and trips without routes are refused (docs/architecture.md, "Central types":
route before turning ratios).

Time convention: simulation time 0 is the start of the chosen period (07:00 for ``am_peak``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.config import SEED_MAX, VEH_PER_HOUR_MAX
from signals.errors import InputError, atomic_path, atomic_write, read_utf8, require_file

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

# --------------------------------------------------------------------------- vehicle types
CV_TYPE = "cv"
HV_TYPE = "hv"
TYPE_DISTRIBUTION = "mix"
# Trip attributes for every generated vehicle: best lane and the highest safe speed on insertion,
# so insertion itself does not add artificial departDelay (SUMO docs, "Definition of Vehicles,
# Vehicle Types, and Routes", departLane/departSpeed).
DEPART_ATTRS = {"departLane": "best", "departSpeed": "max"}


def is_connected_type(vtype_id: str) -> bool:
    """True for a connected-vehicle type id (ids starting with ``"cv"``), the split used by metrics."""
    return str(vtype_id).startswith(CV_TYPE)


def vtype_distribution_xml(cv_share: float, indent: str = "    ") -> str:
    """The ``<vTypeDistribution id="mix">`` block with the ``cv`` and ``hv`` passenger types."""
    _check_share(cv_share)
    i1, i2 = indent, indent * 2
    return (
        f'{i1}<vTypeDistribution id="{TYPE_DISTRIBUTION}">\n'
        f'{i2}<vType id="{CV_TYPE}" vClass="passenger" probability="{cv_share:.6f}" color="0,160,255">\n'
        f'{i2}{indent}<param key="connected" value="1"/>\n'
        f"{i2}</vType>\n"
        f'{i2}<vType id="{HV_TYPE}" vClass="passenger" probability="{1.0 - cv_share:.6f}"/>\n'
        f"{i1}</vTypeDistribution>\n"
    )


# --------------------------------------------------------------------------- periods
@dataclass(frozen=True)
class Period:
    """A time-of-day period with a scale factor and an intra-period shape in fixed bins.

    Attributes:
        name: period id, e.g. ``"am_peak"``.
        begin_s, end_s: time of day (seconds after midnight) the period covers.
        scale: demand relative to the base volume (the AM-peak mean hourly volume).
        bin_profile: (n_bins,) relative weights of consecutive ``bin_s`` bins; normalised to mean 1
            by :attr:`weights`, so the shape never changes the period volume.
        bin_s: bin width, 900 s (15 min, the HCM analysis period) by default.
    """

    name: str
    begin_s: float
    end_s: float
    scale: float
    bin_profile: tuple[float, ...]
    bin_s: float = 900.0

    def __post_init__(self) -> None:
        if self.end_s <= self.begin_s or self.scale < 0 or self.bin_s <= 0:
            raise ValueError(f"period {self.name}: bad times or scale")
        if not math.isclose(len(self.bin_profile) * self.bin_s, self.end_s - self.begin_s):
            raise ValueError(
                f"period {self.name}: {len(self.bin_profile)} bins do not cover the period"
            )
        if any(w < 0 for w in self.bin_profile) or sum(self.bin_profile) <= 0:
            raise ValueError(f"period {self.name}: bin weights must be >= 0 and not all 0")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.begin_s

    @property
    def n_bins(self) -> int:
        return len(self.bin_profile)

    @property
    def weights(self) -> np.ndarray:
        """(n_bins,) bin weights with mean exactly 1."""
        w = np.asarray(self.bin_profile, dtype=float)
        return w / w.mean()

    def bin_rates_vph(self, base_vph: float) -> np.ndarray:
        """(n_bins,) demand rate of each bin, veh/h: base x scale x weight."""
        return base_vph * self.scale * self.weights

    def volume_veh(self, base_vph: float) -> float:
        """Vehicles over the whole period: base x scale x duration in hours."""
        return base_vph * self.scale * self.duration_s / 3600.0

    def peak_hour_factor(self) -> float:
        """Peak-hour factor of the shape: peak-hour volume / (4 x its peak 15-min volume).

        PHF as defined in HCM 6th ed. Ch. 4 (Traffic Operations and Capacity Concepts).
        """
        per_hour = int(round(3600.0 / self.bin_s))
        w = self.weights
        if len(w) < per_hour:
            return float(w.sum() / (len(w) * w.max()))
        hourly = np.convolve(w, np.ones(per_hour), mode="valid")
        k = int(hourly.argmax())
        return float(hourly[k] / (per_hour * w[k : k + per_hour].max()))

    def rate_vph(self, t_s: np.ndarray | float, base_vph: float) -> np.ndarray:
        """Demand rate at simulation time ``t_s`` (0 = period start), veh/h.

        Times past the period end hold the last bin's rate.
        """
        idx = np.clip(
            np.floor(np.asarray(t_s, dtype=float) / self.bin_s).astype(np.int64), 0, self.n_bins - 1
        )
        return self.bin_rates_vph(base_vph)[idx]


# Shapes: 15-min weights ramping up to the peak hour and down again, chosen so the peak-hour factor
# is about 0.92, the default PHF the HCM 6th ed. recommends for urban streets without local data.
# Scales (off-peak 0.55, PM peak 0.95 of the AM peak) are the pilot's planning assumptions, to be
# replaced by the zone's own counts (routes_from_counts) when they exist.
PERIODS: dict[str, Period] = {
    "am_peak": Period(
        "am_peak", 7 * 3600, 9 * 3600, 1.0, (0.78, 0.90, 1.08, 1.20, 1.14, 1.02, 0.96, 0.92)
    ),
    "off_peak": Period(
        "off_peak", 10 * 3600, 15 * 3600, 0.55, (0.97,) * 8 + (1.12,) * 4 + (0.97,) * 8
    ),
    "pm_peak": Period(
        "pm_peak", 16 * 3600, 18 * 3600, 0.95, (0.84, 0.94, 1.06, 1.18, 1.12, 1.00, 0.96, 0.90)
    ),
}


def get_period(name: str | Period) -> Period:
    """The named period; InputError listing the known names otherwise."""
    if isinstance(name, Period):
        return name
    try:
        return PERIODS[name]
    except KeyError:
        raise InputError(None, "period", "one of " + ", ".join(PERIODS), repr(name)) from None


def profile_rates(
    period: str | Period, base_vph: float, begin_s: float, end_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant demand rate over the simulation window ``[begin_s, end_s]``.

    Returns:
        edges_s: (K+1,) breakpoints (window ends and the period's bin edges inside the window).
        rates_vph: (K,) rate on each piece, veh/h.
    """
    per = get_period(period)
    _check_window(begin_s, end_s)
    _check_nonneg(base_vph, "veh_per_hour")
    k0 = math.floor(begin_s / per.bin_s) + 1
    k1 = math.ceil(end_s / per.bin_s)
    inner = np.arange(k0, k1, dtype=float) * per.bin_s
    edges = np.concatenate(
        [[float(begin_s)], inner[(inner > begin_s) & (inner < end_s)], [float(end_s)]]
    )
    mids = 0.5 * (edges[:-1] + edges[1:])
    return edges, per.rate_vph(mids, base_vph)


def expected_volume(period: str | Period, base_vph: float, begin_s: float, end_s: float) -> float:
    """Vehicles the profile asks for in ``[begin_s, end_s]``: the integral of the rate."""
    edges, rates = profile_rates(period, base_vph, begin_s, end_s)
    return float((rates * np.diff(edges)).sum() / 3600.0)


def departure_times(
    period: str | Period, base_vph: float, begin_s: float, end_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Departure times following the profile: round(expected volume) of them, sorted.

    Given their number, the arrival times of a (non-homogeneous) Poisson process are independent
    draws from the density rate(t) / integral of rate (order-statistics property; Ross,
    *Introduction to Probability Models*, 11th ed., Sec. 5.3.5/5.4.1). They are drawn by inverting
    the piecewise-linear cumulative rate.

    Returns:
        (N,) seconds in [begin_s, end_s), floored to 0.01 s, non-decreasing.
    """
    edges, rates = profile_rates(period, base_vph, begin_s, end_s)
    widths = np.diff(edges)
    mass = rates * widths / 3600.0
    n = int(round(float(mass.sum())))
    if n == 0:
        return np.zeros(0)
    keep = mass > 0  # drop empty pieces so the cumulative curve is strictly increasing
    lo, hi, m = edges[:-1][keep], edges[1:][keep], mass[keep]
    cum = np.concatenate([[0.0], np.cumsum(m)])
    u = np.sort(rng.random(n)) * cum[-1]
    k = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(m) - 1)
    t = lo[k] + (u - cum[k]) / m[k] * (hi[k] - lo[k])
    # floor to 0.01 s (the precision written) so no departure rounds up onto end_s
    return np.floor(np.clip(t, begin_s, end_s) * 100.0) / 100.0


# --------------------------------------------------------------------------- net helpers
def meta_path(net_path: str | Path) -> Path:
    """``<name>.meta.json`` beside ``<name>.net.xml`` (or ``.net.xml.gz``)."""
    p = Path(net_path)
    name = p.name
    for suffix in (".net.xml.gz", ".net.xml", ".xml.gz", ".xml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".meta.json")


def base_veh_per_hour(net_path: str | Path) -> float:
    """The network's base demand (``base_veh_per_hour`` in its ``.meta.json``), veh/h."""
    meta = meta_path(net_path)
    if not meta.is_file():
        raise InputError(
            meta,
            "base_veh_per_hour",
            f"a {meta.name} beside the net, or an explicit veh_per_hour",
            "no such file",
        )
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(meta, "json", "a readable JSON object", type(exc).__name__) from None
    if not isinstance(data, dict) or "base_veh_per_hour" not in data:
        raise InputError(meta, "base_veh_per_hour", "a number", "missing")
    value = data["base_veh_per_hour"]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(meta, "base_veh_per_hour", "a number >= 0", repr(value))
    return float(value)


@dataclass(frozen=True)
class _Topology:
    edges: frozenset[str]
    successors: frozenset[tuple[str, str]]


def _open_xml(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _net_topology(net_path: Path) -> _Topology:
    """Non-internal edge ids and (from, to) edge pairs joined by a connection, from the net XML."""
    edges: set[str] = set()
    succ: set[tuple[str, str]] = set()
    first = True
    try:
        with _open_xml(net_path) as fh:
            for event, el in ET.iterparse(fh, events=("start",)):
                if first:
                    first = False
                    if el.tag != "net":
                        raise InputError(
                            net_path, "root element", "a SUMO network (<net>)", f"<{el.tag}>"
                        )
                if el.tag == "edge" and el.get("function", "normal") not in (
                    "internal",
                    "crossing",
                    "walkingarea",
                ):
                    edges.add(el.get("id", ""))
                elif el.tag == "connection":
                    f, t = el.get("from", ""), el.get("to", "")
                    if not f.startswith(":") and not t.startswith(":"):
                        succ.add((f, t))
                del event
    except ET.ParseError as exc:
        raise InputError(
            net_path, "xml", "a readable SUMO .net.xml", f"ParseError: {exc}"
        ) from None
    if first:
        raise InputError(net_path, "root element", "a SUMO network (<net>)", "empty file")
    return _Topology(frozenset(edges), frozenset(succ))


# --------------------------------------------------------------------------- validation
def _check_share(cv_share: float) -> None:
    if not isinstance(cv_share, int | float) or not (0.0 <= float(cv_share) <= 1.0):
        raise InputError(None, "cv_share", "a number in [0, 1]", repr(cv_share))


def _check_nonneg(value: float, field: str, file: str | Path | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(file, field, "a number >= 0", repr(value))


def _check_window(begin_s: float, end_s: float) -> None:
    _check_nonneg(begin_s, "begin_s")
    if not isinstance(end_s, int | float) or not end_s > begin_s:
        raise InputError(None, "end_s", f"a time after begin_s={begin_s}", repr(end_s))


def _check_seed(seed: int) -> None:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, int | np.integer)
        or not 0 <= seed <= SEED_MAX
    ):
        raise InputError(None, "seed", f"an integer in [0, {SEED_MAX}]", repr(seed))


def _check_vph(value: float, field: str = "veh_per_hour", file: str | Path | None = None) -> None:
    _check_nonneg(value, field, file)
    if value > VEH_PER_HOUR_MAX:
        raise InputError(
            file, field, f"a volume in veh/h in [0, {VEH_PER_HOUR_MAX:g}]", repr(value)
        )


# --------------------------------------------------------------------------- SUMO tool steps
def _sumo():
    from signals import sumo_tools  # runs SUMO's programs as subprocesses; no traci/libsumo

    return sumo_tools


def _duarouter(
    net: Path,
    trips: Path | Iterable[Path],
    out: Path,
    seed: int,
    *,
    additional: Iterable[Path] = (),
    ignore_errors: bool = True,
    unsorted: bool = False,
    begin_s: float | None = None,
    end_s: float | None = None,
    alternatives: Path | None = None,
    warnings: bool = False,
) -> str:
    """Route ``trips`` to ``out`` with duarouter; return its output (warnings included).

    Exact shortest paths on free-flow travel times (A*, the same routes as Dijkstra up to ties,
    about twice as fast on the pilot zone). With ``ignore_errors`` (the generators' default)
    unroutable trips are dropped; without it the first one stops duarouter (SumoToolError).
    ``additional`` files (vehicle types, TAZ) go to ``--additional-files``; ``begin_s``/``end_s``
    keep only departures in that window (duarouter ``--begin``/``--end``); departure times are
    written as given. ``unsorted`` reads input not sorted by departure (``--unsorted-input``),
    which hand-written and city trip files often are. ``warnings`` keeps duarouter's warnings
    in the returned text (with ``ignore_errors``, the trips it dropped).
    """
    st = _sumo()
    files = [trips] if isinstance(trips, str | Path) else list(trips)
    cmd = [
        st.binary("duarouter"),
        "-n", str(net), "-r", ",".join(str(f) for f in files), "-o", str(out),
        "--seed", str(int(seed)), "--no-step-log",
        "--alternatives-output", str(alternatives or out.with_suffix(".alt.xml")),
        "--routing-algorithm", "astar", "--routing-threads", "1",
    ]  # fmt: skip
    if ignore_errors:
        cmd.append("--ignore-errors")
    if not warnings:
        cmd.append("--no-warnings")
    extra = [str(a) for a in additional]
    if extra:
        cmd += ["--additional-files", ",".join(extra)]
    if unsorted:
        cmd += ["--unsorted-input", "--keep-vtype-distributions"]
    if begin_s is not None:
        cmd += ["--begin", repr(float(begin_s))]
    if end_s is not None:
        cmd += ["--end", repr(float(end_s))]
    return st.run(cmd)


# tags whose elements are vehicles that duarouter routes when they give from/to but no route
_ROUTABLE = ("vehicle", "flow")
_TRIP_ENDS = ("from", "to", "via", "fromTaz", "toTaz", "fromJunction", "toJunction")


def _has_route(el: ET.Element) -> bool:
    return el.get("route") is not None or any(c.tag in ("route", "routeDistribution") for c in el)


def is_trip_file(path: str | Path) -> bool:
    """True when a demand file needs routing before use (SUMO docs, "Definition of Vehicles...").

    That is: it holds a ``<trip>``, a ``<vehicle>``/``<flow>`` with trip ends (``from``/``to``,
    ``fromTaz``/``toTaz``, ``fromJunction``/``toJunction``, ``via``) and no route, or a
    ``<person>`` with a ``<personTrip>``. A file of routed vehicles and flows only is False.

    Raises:
        InputError: a missing file, or one that is not a readable SUMO routes file.
    """
    p = require_file(path, "routes", "an existing SUMO routes or trips file")
    for el in _route_file_elements(p):
        if el.tag == "trip":
            return True
        if el.tag in _ROUTABLE and not _has_route(el):
            if any(el.get(a) is not None for a in _TRIP_ENDS):
                return True
        if el.tag == "person" and any(c.tag == "personTrip" for c in el):
            return True
    return False


def _route_file_elements(p: Path):
    """The top-level elements of a SUMO routes file, in order (each cleared after use).

    Raises:
        InputError: a root other than <routes>/<additional>/<add>; unreadable or truncated XML.
    """
    depth, seen = 0, 0
    try:
        with _open_xml(p) as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if depth == 1 and el.tag not in ("routes", "additional", "add"):
                        raise InputError(
                            p, "root element", "a SUMO routes file (<routes>)", f"<{el.tag}>"
                        )
                    continue
                depth -= 1
                if depth == 1:
                    seen += 1
                    yield el
                    el.clear()
    except ET.ParseError as exc:
        raise InputError(p, "xml", "a readable SUMO routes file", f"ParseError: {exc}") from None
    if depth != 0 and not seen:
        raise InputError(p, "xml", "a readable SUMO routes file", "truncated file")


def _trip_edges(files: list[Path], topo: _Topology, net: Path) -> None:
    """InputError naming the file and trip for the first trip end that is no edge of ``net``."""
    for f in files:
        for el in _iter_top(f, "trip", "vehicle", "flow"):
            if _has_route(el):
                continue
            for attr in ("from", "to"):
                e = el.get(attr)
                if e is not None and e not in topo.edges:
                    raise InputError(
                        f, f"{el.tag} {el.get('id')} {attr}", f"an edge of {net.name}", repr(e)
                    )
            for e in (el.get("via") or "").split():
                if e not in topo.edges:
                    raise InputError(
                        f, f"{el.tag} {el.get('id')} via", f"edges of {net.name}", repr(e)
                    )


_VEH_IN_ERROR = re.compile(r"(?:vehicle|trip|flow|person) '([^']*)'")


def _unroutable(text: str) -> list[str]:
    """Ids of vehicles duarouter reported as unroutable, in order, each once."""
    ids: list[str] = []
    for ln in text.splitlines():
        if any(
            k in ln for k in ("has no valid route", "could not be", "not reachable", "not known")
        ):
            m = _VEH_IN_ERROR.search(ln)
            if m and m.group(1) not in ids:
                ids.append(m.group(1))
    return ids


def _file_of(files: list[Path], vid: str) -> Path:
    """The trips file that defines ``vid`` (flows: ``vid`` is ``flow.N``), else the first."""
    for f in files:
        for el in _iter_top(f, "trip", "vehicle", "flow", "person"):
            i = el.get("id", "")
            if vid == i or (el.tag == "flow" and vid.startswith(i + ".")):
                return f
    return files[0]


@dataclass(frozen=True)
class RoutedTrips:
    """What :func:`route_trips_report` did: the routes file, vehicles and trips left out."""

    path: Path
    n_vehicles: float
    first_depart_s: float
    last_depart_s: float
    dropped: tuple[str, ...]


def _vtype_ids(paths: Iterable[Path]) -> set[str]:
    """Ids of the vehicle types (and type distributions) defined in SUMO files."""
    ids: set[str] = set()
    for a in paths:
        for el in ET.parse(a).getroot().iter():
            if el.tag in ("vType", "vTypeDistribution") and el.get("id"):
                ids.add(el.get("id", ""))
    return ids


def _drop_vtypes(src: Path, dst: Path, ids: set[str]) -> None:
    """Copy a routes file without the top-level vehicle types ``ids``."""
    tree = ET.parse(src)
    root = tree.getroot()
    for el in list(root):
        if el.tag in ("vType", "vTypeDistribution") and el.get("id") in ids:
            root.remove(el)
    tree.write(dst, encoding="utf-8", xml_declaration=True)


def route_trips(
    trips: str | Path | Iterable[str | Path],
    net: str | Path,
    out: str | Path,
    *,
    additional: Iterable[str | Path] = (),
    seed: int = 0,
    begin_s: float | None = None,
    end_s: float | None = None,
    ignore_errors: bool = False,
    omit_additional_types: bool = False,
) -> Path:
    """Route trip files (``<trip>``/``<flow>`` with from/to, no routes) to a routes file.

    duarouter with free-flow shortest paths; departures are kept as in the file (clock times
    stay clock times), vehicle types from the trip files or ``additional`` are written with the
    routes (unless ``omit_additional_types``). ``out`` is complete or absent (written to a
    temporary name, then renamed). See :func:`route_trips_report` for the arguments.

    Returns:
        ``out`` as a Path.
    """
    return route_trips_report(
        trips,
        net,
        out,
        additional=additional,
        seed=seed,
        begin_s=begin_s,
        end_s=end_s,
        ignore_errors=ignore_errors,
        omit_additional_types=omit_additional_types,
    ).path


def route_trips_report(
    trips: str | Path | Iterable[str | Path],
    net: str | Path,
    out: str | Path,
    *,
    additional: Iterable[str | Path] = (),
    seed: int = 0,
    begin_s: float | None = None,
    end_s: float | None = None,
    ignore_errors: bool = False,
    omit_additional_types: bool = False,
) -> RoutedTrips:
    """:func:`route_trips`, returning what was routed and left out.

    Args:
        trips: one trip file or several (duarouter reads them together).
        net: SUMO .net.xml.
        out: routes file to write.
        additional: vehicle-type or other additional files the trips refer to.
        seed: duarouter's ``--seed``.
        begin_s, end_s: keep only departures in this window (file times), if given.
        ignore_errors: drop unroutable trips (listed in ``dropped``) instead of refusing the file.
        omit_additional_types: leave out of the routes the vehicle types defined in
            ``additional`` (for runs that load those files too: SUMO refuses a type defined
            twice; duarouter writes every type it used).

    Raises:
        InputError: a missing or non-SUMO file; a trip end that is no edge of the net; without
            ``ignore_errors``, the first trip duarouter cannot route (file, trip, duarouter's
            reason); no vehicle routed at all.
    """
    single = isinstance(trips, str | Path)
    files = [
        require_file(t, "trips", "an existing SUMO trips file")
        for t in ([trips] if single else list(trips))  # type: ignore[list-item]
    ]
    if not files:
        raise InputError(None, "trips", "at least one trips file", "none")
    net_p = require_file(net, "net", "an existing SUMO .net.xml file").resolve()
    adds = [require_file(a, "additional", "an existing SUMO additional file") for a in additional]
    _check_seed(seed)
    if begin_s is not None and end_s is not None:
        _check_window(begin_s, end_s)
    topo = _net_topology(net_p)
    for f in files:
        is_trip_file(f)  # a clear line for a file that is not a routes/trips file
    if not ignore_errors:
        _trip_edges(files, topo, net_p)
    out_p = Path(out)
    st = _sumo()
    with tempfile.TemporaryDirectory(prefix="signals-route-") as td:
        tmp = Path(td)
        routed = tmp / "routed.rou.xml"
        try:
            text = _duarouter(
                net_p,
                [f.resolve() for f in files],
                routed,
                seed,
                additional=[a.resolve() for a in adds],
                ignore_errors=ignore_errors,
                unsorted=True,
                begin_s=begin_s,
                end_s=end_s,
                alternatives=tmp / "routed.alt.xml",
                warnings=True,
            )
        except st.SumoToolError as exc:
            bad = _unroutable(str(exc))
            vid = bad[0] if bad else None
            m = None if vid else _VEH_IN_ERROR.search(exc.first_error)
            vid = vid or (m.group(1) if m else None)
            where = _file_of(files, vid) if vid is not None else files[0]
            field = f"trip {vid}" if vid is not None else "trips"
            raise InputError(
                where,
                field,
                f"a trip duarouter can route on {net_p.name} (--ignore-errors drops such trips)",
                exc.first_error or "duarouter failed",
            ) from None
        dropped = tuple(_unroutable(text)) if ignore_errors else ()
        r = read_routes(routed)
        if r.n_vehicles <= 0:
            what = f"{len(dropped)} unroutable, none routed" if dropped else "no vehicles"
            if begin_s is not None or end_s is not None:
                what += f" departing in [{begin_s or 0:g}, {end_s if end_s is not None else 'end'})"
            raise InputError(files[0], "trips", "at least one routable trip", what)
        with atomic_path(out_p) as dst:
            if omit_additional_types and adds:
                _drop_vtypes(routed, dst, _vtype_ids(adds))
            else:
                shutil.copyfile(routed, dst)
    return RoutedTrips(
        path=out_p,
        n_vehicles=r.n_vehicles,
        first_depart_s=float(r.depart_s.min()),
        last_depart_s=float(max(r.depart_s.max(), r.depart_end_s.max())),
        dropped=dropped,
    )


def _random_od_pairs(
    net: Path, n: int, tmp: Path, *, seed: int, fringe_factor: float, name: str = "od"
) -> list[tuple[str, str, str | None]]:
    """``n`` random (from, to, via) edge pairs from randomTrips, in generation order.

    Fringe weighting: randomTrips --fringe-factor multiplies the start/end probability of edges on
    the network boundary (SUMO docs, Tools/Trip, "Customized Weights"). Connectivity is checked by
    the one duarouter run that follows (randomTrips --validate would route everything twice).
    """
    st = _sumo()
    trips = tmp / f"{name}.trips.xml"
    cmd = [
        st.tool("randomTrips.py"),
        "-n", str(net), "-o", str(trips),
        "-b", "0", "-e", str(int(n)), "-p", "1",
        "--fringe-factor", repr(float(fringe_factor)),
        "--edge-permission", "passenger",
        "--seed", str(int(seed)),
        # No round trips back to the start node (U-turn loops around a block at the fringe).
        "--min-distance", "1",
        "--no-validate",  # the default --validate would route every trip an extra time
    ]  # fmt: skip
    st.run(cmd, cwd=tmp)
    return [(t.get("from", ""), t.get("to", ""), t.get("via")) for t in _iter_top(trips, "trip")]


def _pair_attrs(pair: tuple[str, str, str | None]) -> dict[str, str]:
    f, t, via = pair
    return {"from": f, "to": t, **({"via": via} if via else {})}


def _routed_random_trips(
    net: Path,
    ids: list[str],
    departs: np.ndarray,
    tmp: Path,
    *,
    seed: int,
    fringe_factor: float,
    max_rounds: int = 5,
) -> list[ET.Element]:
    """Routed vehicles ``ids`` departing at ``departs`` between random fringe-weighted OD pairs.

    Trips duarouter cannot route (disconnected parts of a net) are replaced by fresh random pairs in
    up to ``max_rounds - 1`` top-up rounds, so the volume follows the profile; any still missing
    after that are left out.
    """
    n = len(ids)
    done: dict[str, ET.Element] = {}
    todo = list(range(n))
    success = 1.0
    for k in range(max_rounds):
        if not todo:
            break
        m = len(todo) if k == 0 else int(math.ceil(len(todo) / max(success, 0.05) * 1.2)) + 5
        pairs = _random_od_pairs(
            net, m, tmp, seed=seed + 7919 * k, fringe_factor=fringe_factor, name=f"od{k}"
        )
        if k == 0:
            rows = [
                (ids[i], float(departs[i]), _pair_attrs(pr))
                for i, pr in zip(todo, pairs, strict=False)
            ]
        else:  # candidates; the routable ones take over the lost ids and departure times
            rows = [(f"topup{k}.{j}", 0.0, _pair_attrs(pr)) for j, pr in enumerate(pairs)]
        trips, routed = tmp / f"trips{k}.xml", tmp / f"routes{k}.xml"
        _write_trips(trips, rows)
        _duarouter(net, trips, routed, seed + 7919 * k)
        got = list(_iter_top(routed, "vehicle"))
        success = len(got) / max(len(rows), 1)
        if k == 0:
            for el in got:
                done[el.get("id", "")] = el
        else:
            lost = iter(todo)
            for el, i in zip(got, lost, strict=False):
                el.set("id", ids[i])
                el.set("depart", f"{float(departs[i]):.2f}")
                done[ids[i]] = el
        todo = [i for i in todo if ids[i] not in done]
    return [done[i] for i in ids if i in done]


# --------------------------------------------------------------------------- canonical writer
def _read_top(src: Path) -> tuple[list[str], list[ET.Element]]:
    """(serialized non-vehicle definitions, vehicle elements) at the top level of a route file;
    vTypes are dropped (the canonical file defines its own)."""
    defs: list[str] = []
    vehicles: list[ET.Element] = []
    depth = 0
    with _open_xml(src) as fh:
        for event, el in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth != 1:
                continue
            if el.tag == "vehicle":
                vehicles.append(el)
            elif el.tag not in ("vType", "vTypeDistribution"):
                defs.append(_element_xml(el, "    "))
                el.clear()
    return defs, vehicles


def _canonical_write(
    vehicles: list[ET.Element],
    out: Path,
    *,
    cv_share: float,
    rng: np.random.Generator,
    comment: str,
    defs: list[str] | None = None,
) -> int:
    """Write ``out``: our header, the vType distribution, ``defs``, then the vehicles by depart.

    Each vehicle gets ``cv`` or ``hv`` drawn with ``rng`` (Bernoulli(cv_share), the same law as
    SUMO's own vTypeDistribution sampling). Returns the number of vehicles.
    """
    order = sorted(range(len(vehicles)), key=lambda i: (float(vehicles[i].get("depart", "0")), i))
    draws = rng.random(len(vehicles)) < cv_share
    with atomic_write(out) as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write(f"<!-- {_xml_comment(comment)} -->\n")
        fh.write(
            '<routes xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://sumo.dlr.de/xsd/routes_file.xsd">\n'
        )
        fh.write(vtype_distribution_xml(cv_share))
        for d in defs or ():
            fh.write(d)
        for k, i in enumerate(order):
            el = vehicles[i]
            attrs = dict(el.attrib)
            for drop in ("type", "fromTaz", "toTaz"):
                attrs.pop(drop, None)
            ordered = {
                "id": attrs.pop("id", ""),
                "type": CV_TYPE if draws[k] else HV_TYPE,
                "depart": attrs.pop("depart", "0"),
            }
            ordered.update(attrs)
            el.attrib.clear()
            el.attrib.update(ordered)
            fh.write(_element_xml(el, "    "))
        fh.write("</routes>\n")
    return len(vehicles)


def _xml_comment(text: str) -> str:
    return text.replace("--", "- -")


def _element_xml(el: ET.Element, indent: str) -> str:
    """Serialize ``el`` in SUMO's style: one element per line, children indented."""

    def attrs(e: ET.Element) -> str:
        return "".join(f' {k}="{_esc(v)}"' for k, v in e.attrib.items())

    lines: list[str] = []

    def walk(e: ET.Element, ind: str) -> None:
        children = list(e)
        if not children:
            lines.append(f"{ind}<{e.tag}{attrs(e)}/>\n")
            return
        lines.append(f"{ind}<{e.tag}{attrs(e)}>\n")
        for c in children:
            walk(c, ind + "    ")
        lines.append(f"{ind}</{e.tag}>\n")

    walk(el, indent)
    return "".join(lines)


def _esc(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(">", "&gt;")


def _write_trips(path: Path, rows: Iterable[tuple[str, float, dict[str, str]]]) -> None:
    with open(path, "w") as fh:
        fh.write("<routes>\n")
        for vid, depart, attrs in rows:
            extra = "".join(f' {k}="{_esc(v)}"' for k, v in {**attrs, **DEPART_ATTRS}.items())
            fh.write(f'    <trip id="{_esc(vid)}" depart="{depart:.2f}"{extra}/>\n')
        fh.write("</routes>\n")


# --------------------------------------------------------------------------- generators
def generate_routes(
    net_path: str | Path,
    out_path: str | Path,
    *,
    period: str | Period = "am_peak",
    veh_per_hour: float | None = None,
    begin_s: float = 0,
    end_s: float = 3600,
    seed: int = 0,
    cv_share: float = 0.3,
    fringe_factor: float = 10.0,
) -> Path:
    """Random routed demand for one time-of-day period.

    Origin/destination pairs come from SUMO's randomTrips.py (``--fringe-factor``); departure
    times follow the period profile (:func:`departure_times`); duarouter computes the routes
    (``--ignore-errors``, ``--seed``) and unroutable pairs are replaced by fresh ones, so the volume
    is the profile's. Same arguments, same bytes.

    Args:
        net_path: SUMO .net.xml.
        out_path: routes file to write (atomically).
        period: a name from :data:`PERIODS` or a :class:`Period`.
        veh_per_hour: base volume (mean AM-peak hourly volume); default the net's ``.meta.json``.
        begin_s, end_s: simulation window; simulation time 0 is the period start.
        seed: seeds randomTrips, duarouter and the numpy draws (departures, vehicle types).
        cv_share: share of connected vehicles in [0, 1].
        fringe_factor: weight of fringe edges as origins/destinations (>= 1 favours through traffic).

    Returns:
        ``out_path`` as a Path.
    """
    net = require_file(net_path, "net", "an existing SUMO .net.xml file").resolve()
    per = get_period(period)
    _check_share(cv_share)
    _check_window(begin_s, end_s)
    _check_seed(seed)
    _check_nonneg(fringe_factor, "fringe_factor")
    if veh_per_hour is None:
        base = base_veh_per_hour(net)
        _check_vph(base, "base_veh_per_hour", meta_path(net))
    else:
        base = veh_per_hour
        _check_vph(base)
    _net_topology(net)  # a clear error for a file that is not a SUMO net
    rng = np.random.default_rng(seed)
    departs = departure_times(per, float(base), begin_s, end_s, rng)
    out = Path(out_path)
    comment = (
        f"signals demand generate: net={net.name} period={per.name} base_veh_per_hour={float(base):g} "
        f"begin_s={begin_s:g} end_s={end_s:g} seed={seed} cv_share={cv_share:g} fringe_factor={fringe_factor:g}"
    )
    ids = [f"{per.name}.{i}" for i in range(len(departs))]
    with tempfile.TemporaryDirectory(prefix="signals-demand-") as td:
        vehicles = []
        if ids:
            vehicles = _routed_random_trips(
                net, ids, departs, Path(td), seed=seed, fringe_factor=fringe_factor
            )
        _canonical_write(vehicles, out, cv_share=cv_share, rng=rng, comment=comment)
    return out


def _iter_top(path: Path, *tags: str):
    """Top-level elements named one of ``tags`` of an XML file, in order."""
    depth = 0
    with _open_xml(path) as fh:
        for event, el in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth == 1 and el.tag in tags:
                yield el


# ----------------------------------------------------------------- OD matrices
@dataclass(frozen=True)
class ODRow:
    """One OD relation: origin and destination (edge or TAZ ids) and a rate, veh/h."""

    origin: str
    destination: str
    veh_per_hour: float


def read_od(path: str | Path) -> list[ODRow]:
    """Read an OD matrix: CSV ``origin_edge,destination_edge,veh_per_hour`` or SUMO O-format.

    O-format (SUMO docs, "Demand/Importing O/D Matrices", ``$O;D2``/``$OR;D2``): ``*`` comment lines,
    the header, a ``from to`` time line in hours.minutes, a factor line, then ``origin dest count``
    rows. Counts are totals over the time line's interval; they become veh/h (x factor).
    """
    p = require_file(path, "od", "an OD matrix file (CSV or SUMO O-format)")
    text = read_utf8(p)
    lines = [ln.strip() for ln in text.splitlines()]
    content = [ln for ln in lines if ln and not ln.startswith("*")]
    if not content:
        raise InputError(p, "content", "OD rows", "empty file")
    if content[0].startswith("$"):
        return _read_o_format(p, content)
    return _read_od_csv(p)


def _read_od_csv(p: Path) -> list[ODRow]:
    rows = []
    with io.StringIO(read_utf8(p), newline="") as fh:
        reader = csv.DictReader(fh)
        need = ("origin_edge", "destination_edge", "veh_per_hour")
        header = [h.strip() for h in (reader.fieldnames or [])]
        if any(h not in header for h in need):
            raise InputError(p, "header", ",".join(need), ",".join(header) or "no header")
        for n, rec in enumerate(reader, start=2):
            rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k}
            vph = _num(p, f"line {n} veh_per_hour", rec["veh_per_hour"])
            rows.append(ODRow(rec["origin_edge"], rec["destination_edge"], vph))
    return rows


def _read_o_format(p: Path, content: list[str]) -> list[ODRow]:
    head = content[0].split(";")[0].upper()
    if head not in ("$O", "$OR"):
        raise InputError(p, "header", "$O;D2 or $OR;D2 (SUMO O-format)", content[0])
    if len(content) < 3:
        raise InputError(p, "time/factor lines", "'from to' and 'factor' lines", "missing")
    times = content[1].split()
    if len(times) != 2:
        raise InputError(p, "time line", "'from to' in hours.minutes", content[1])

    def hm(s: str) -> float:
        v = _num(p, "time line", s)
        h = math.floor(v)
        return h * 3600.0 + round((v - h) * 100) * 60.0

    t0, t1 = hm(times[0]), hm(times[1])
    if t1 <= t0:
        raise InputError(p, "time line", "an end after the start", content[1])
    factor = _num(p, "factor", content[2].split()[0])
    rows = []
    for ln in content[3:]:
        parts = ln.split()
        if len(parts) != 3:
            raise InputError(p, "row", "'origin destination count'", ln)
        count = _num(p, f"row {parts[0]} {parts[1]} count", parts[2])
        rows.append(ODRow(parts[0], parts[1], count * factor * 3600.0 / (t1 - t0)))
    return rows


def _num(p: Path, field: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(p, field, "a number >= 0", repr(text)) from None
    if not math.isfinite(v) or v < 0:
        raise InputError(p, field, "a number >= 0", repr(text))
    return v


def _taz_ids(taz_path: Path) -> set[str]:
    try:
        return {el.get("id", "") for el in ET.parse(taz_path).iter("taz")}
    except ET.ParseError as exc:
        raise InputError(taz_path, "xml", "a SUMO TAZ file", f"ParseError: {exc}") from None


def routes_from_od(
    net_path: str | Path,
    od: str | Path,
    out_path: str | Path,
    *,
    seed: int = 0,
    cv_share: float = 0.3,
    begin_s: float = 0,
    end_s: float = 3600,
    taz_path: str | Path | None = None,
) -> Path:
    """Routes from an OD matrix: od2trips (a tazRelation file) then duarouter.

    Without ``taz_path`` the origins and destinations are edge ids, each made its own TAZ.
    Every relation's rate (veh/h) applies over ``[begin_s, end_s]``; od2trips spreads the trips
    at random inside the window (seeded) and rounds fractional counts.

    Returns:
        ``out_path`` as a Path.
    """
    net = require_file(net_path, "net", "an existing SUMO .net.xml file").resolve()
    _check_share(cv_share)
    _check_window(begin_s, end_s)
    _check_seed(seed)
    rows = read_od(od)
    od_p = Path(od)
    topo = _net_topology(net)
    if taz_path is not None:
        taz = require_file(taz_path, "taz", "a SUMO TAZ (districts) file")
        known, what = _taz_ids(taz), f"a TAZ id of {Path(taz_path).name}"
    else:
        taz, known, what = None, topo.edges, f"an edge of {net.name}"
    for r in rows:
        for field, v in (("origin", r.origin), ("destination", r.destination)):
            if v not in known:
                raise InputError(od_p, field, what, repr(v))
        _check_vph(r.veh_per_hour, f"{r.origin}->{r.destination} veh_per_hour", od_p)
    rng = np.random.default_rng(seed)
    out = Path(out_path)
    comment = f"signals demand od: net={net.name} od={od_p.name} begin_s={begin_s:g} end_s={end_s:g} seed={seed} cv_share={cv_share:g}"
    dur_h = (end_s - begin_s) / 3600.0
    with tempfile.TemporaryDirectory(prefix="signals-demand-") as td:
        tmp = Path(td)
        if taz is None:
            taz = tmp / "taz.xml"
            ids = sorted({r.origin for r in rows} | {r.destination for r in rows})
            with open(taz, "w") as fh:
                fh.write("<additional>\n")
                for e in ids:
                    fh.write(f'    <taz id="{_esc(e)}" edges="{_esc(e)}"/>\n')
                fh.write("</additional>\n")
        rel = tmp / "od.xml"
        with open(rel, "w") as fh:
            fh.write(f'<data>\n    <interval id="od" begin="{begin_s:g}" end="{end_s:g}">\n')
            for r in rows:
                if r.veh_per_hour > 0:
                    fh.write(
                        f'        <tazRelation from="{_esc(r.origin)}" to="{_esc(r.destination)}" count="{r.veh_per_hour * dur_h:.4f}"/>\n'
                    )
            fh.write("    </interval>\n</data>\n")
        st = _sumo()
        trips = tmp / "trips.xml"
        st.run(
            [
                st.binary("od2trips"),
                "-n", str(taz), "-z", str(rel), "-o", str(trips),
                "--seed", str(int(seed)), "--prefix", "od.", "--ignore-vehicle-type",
                "--departlane", DEPART_ATTRS["departLane"], "--departspeed", DEPART_ATTRS["departSpeed"],
                "--no-step-log",
            ]
        )  # fmt: skip
        routed = tmp / "routes.xml"
        _duarouter(net, trips, routed, seed)
        defs, vehicles = _read_top(routed)
        _canonical_write(vehicles, out, cv_share=cv_share, rng=rng, comment=comment, defs=defs)
    return out


# ----------------------------------------------------------------- turning counts
@dataclass(frozen=True)
class CountRow:
    """A turning-movement count: vehicles going from ``from_edge`` straight onto ``to_edge``."""

    from_edge: str
    to_edge: str
    veh_per_hour: float
    begin_s: float
    end_s: float

    @property
    def count_veh(self) -> float:
        return self.veh_per_hour * (self.end_s - self.begin_s) / 3600.0


def read_counts(
    path: str | Path, net_path: str | Path, *, begin_s: float = 0, end_s: float = 3600
) -> list[CountRow]:
    """Read turning-movement counts ``from_edge,to_edge,veh_per_hour[,begin_s,end_s]`` and check them
    against the net (known edges, ``to_edge`` directly reachable from ``from_edge``)."""
    p = require_file(path, "counts", "a CSV of turning-movement counts")
    net = require_file(net_path, "net", "an existing SUMO .net.xml file").resolve()
    _check_window(begin_s, end_s)
    topo = _net_topology(net)
    rows: list[CountRow] = []
    with io.StringIO(read_utf8(p), newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        need = ("from_edge", "to_edge", "veh_per_hour")
        if any(h not in header for h in need):
            raise InputError(
                p,
                "header",
                "from_edge,to_edge,veh_per_hour[,begin_s,end_s]",
                ",".join(header) or "no header",
            )
        for n, rec in enumerate(reader, start=2):
            rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k}
            f, t = rec["from_edge"], rec["to_edge"]
            for field, e in (("from_edge", f), ("to_edge", t)):
                if e not in topo.edges:
                    raise InputError(p, f"line {n} {field}", f"an edge of {net.name}", repr(e))
            if (f, t) not in topo.successors:
                raise InputError(
                    p, f"line {n} to_edge", f"an edge entered directly from {f}", repr(t)
                )
            vph = _num(p, f"line {n} veh_per_hour", rec["veh_per_hour"])
            b = (
                _num(p, f"line {n} begin_s", rec["begin_s"])
                if rec.get("begin_s")
                else float(begin_s)
            )
            e = _num(p, f"line {n} end_s", rec["end_s"]) if rec.get("end_s") else float(end_s)
            if e <= b:
                raise InputError(
                    p, f"line {n} end_s", f"a time after begin_s={b:g}", repr(rec.get("end_s"))
                )
            rows.append(CountRow(f, t, vph, b, e))
    if not rows:
        raise InputError(p, "rows", "at least one count", "none")
    return rows


def write_edge_relations(rows: list[CountRow], path: str | Path) -> Path:
    """Write counts as a SUMO edgeRelation data file (one ``<interval>`` per distinct time window)."""
    windows = sorted({(r.begin_s, r.end_s) for r in rows})
    with atomic_write(path) as fh:
        fh.write("<data>\n")
        for k, (b, e) in enumerate(windows):
            fh.write(f'    <interval id="c{k}" begin="{b:g}" end="{e:g}">\n')
            for r in rows:
                if (r.begin_s, r.end_s) == (b, e):
                    fh.write(
                        f'        <edgeRelation from="{_esc(r.from_edge)}" to="{_esc(r.to_edge)}" count="{r.count_veh:.2f}"/>\n'
                    )
            fh.write("    </interval>\n")
        fh.write("</data>\n")
    return Path(path)


def routes_from_counts(
    net_path: str | Path,
    counts: str | Path,
    out_path: str | Path,
    *,
    seed: int = 0,
    cv_share: float = 0.3,
    begin_s: float = 0,
    end_s: float = 3600,
    n_candidates: int | None = None,
    fringe_factor: float = 10.0,
) -> Path:
    """Routes that reproduce turning-movement counts: SUMO routeSampler.py over candidate routes.

    Candidates are randomTrips/duarouter routes (fringe-weighted); routeSampler picks routes that
    pass the counted edge pairs until the counts are met (SUMO docs, Tools/Turns, routeSampler.py).
    Rows without their own ``begin_s,end_s`` use the call's window. Use :func:`counts_fit` to see how
    close the result comes (GEH per relation).

    Returns:
        ``out_path`` as a Path.
    """
    net = require_file(net_path, "net", "an existing SUMO .net.xml file").resolve()
    _check_share(cv_share)
    _check_seed(seed)
    rows = read_counts(counts, net, begin_s=begin_s, end_s=end_s)
    n_cand = (
        int(n_candidates) if n_candidates is not None else min(max(2000, 20 * len(rows)), 50000)
    )
    if n_cand <= 0:
        raise InputError(None, "n_candidates", "a positive integer", repr(n_candidates))
    rng = np.random.default_rng(seed)
    out = Path(out_path)
    comment = f"signals demand counts: net={net.name} counts={Path(counts).name} seed={seed} cv_share={cv_share:g} candidates={n_cand}"
    st = _sumo()
    with tempfile.TemporaryDirectory(prefix="signals-demand-") as td:
        tmp = Path(td)
        pairs = _random_od_pairs(net, n_cand, tmp, seed=seed, fringe_factor=fringe_factor)
        cand_trips, cand = tmp / "cand.trips.xml", tmp / "cand.rou.xml"
        _write_trips(
            cand_trips, [(f"c{j}", float(j), _pair_attrs(pr)) for j, pr in enumerate(pairs)]
        )
        _duarouter(net, cand_trips, cand, seed)
        turns = write_edge_relations(rows, tmp / "turns.xml")
        sampled = tmp / "sampled.rou.xml"
        attrs = " ".join(f'{k}="{v}"' for k, v in DEPART_ATTRS.items())
        st.run(
            [
                st.tool("routeSampler.py"),
                "-r", str(cand), "-t", str(turns), "-o", str(sampled),
                "--seed", str(int(seed)), "--prefix", "cnt.", "-a", attrs,
            ],
            cwd=tmp,
        )  # fmt: skip
        defs, vehicles = _read_top(sampled)
        _canonical_write(vehicles, out, cv_share=cv_share, rng=rng, comment=comment, defs=defs)
    return out


def counts_fit(
    net_path: str | Path,
    counts: str | Path,
    routes_path: str | Path,
    *,
    begin_s: float = 0,
    end_s: float = 3600,
):
    """Compare counted and routed turning volumes.

    A vehicle counts for a relation when its route has ``from_edge`` then ``to_edge`` and it departs
    inside the count's window. GEH = sqrt(2 (M - C)^2 / (M + C)) on hourly flows (UK DMRB Vol. 12
    Sec. 2 Part 1, 1996; GEH < 5 is the usual acceptance).

    Returns:
        pandas.DataFrame with from_edge, to_edge, begin_s, end_s, target_vph, routed_vph, geh.
    """
    import pandas as pd

    rows = read_counts(counts, net_path, begin_s=begin_s, end_s=end_s)
    routes = read_routes(routes_path)
    vocab = {e: i for i, e in enumerate(routes.edge_ids)}
    a, b, pos_w, pos_t0, _ = _route_pairs(routes)
    E = len(routes.edge_ids)
    code = a * E + b
    out = []
    for r in rows:
        fi, ti = vocab.get(r.from_edge, -1), vocab.get(r.to_edge, -1)
        if fi < 0 or ti < 0:
            got = 0.0
        else:
            sel = (code == fi * E + ti) & (pos_t0 >= r.begin_s) & (pos_t0 < r.end_s)
            got = float(pos_w[sel].sum())
        hours = (r.end_s - r.begin_s) / 3600.0
        m, c = got / hours, r.veh_per_hour
        geh = math.sqrt(2.0 * (m - c) ** 2 / (m + c)) if m + c > 0 else 0.0
        out.append((r.from_edge, r.to_edge, r.begin_s, r.end_s, c, m, geh))
    return pd.DataFrame(
        out, columns=["from_edge", "to_edge", "begin_s", "end_s", "target_vph", "routed_vph", "geh"]
    )


# --------------------------------------------------------------------------- route analysis
@dataclass(frozen=True, eq=False)
class Routes:
    """Routed vehicles of a route file as flat arrays (R route records).

    A plain vehicle is one record of weight 1. A ``<flow>`` is one record weighted by its expected
    number of vehicles, departing uniformly over ``[depart_s, depart_end_s]``. A vehicle or flow with
    a route distribution is one record per route, weighted by the route's probability share.

    Attributes:
        path: the file read.
        veh_id: (R,) vehicle or flow id of each record.
        veh_type: (R,) vType id ('' where none was given).
        depart_s, depart_end_s: (R,) departure window (equal for single vehicles).
        weight: (R,) vehicles the record stands for.
        route_start: (R+1,) CSR offsets into ``route_edge``.
        route_edge: (sum of route lengths,) indices into ``edge_ids``.
        edge_ids: vocabulary of edge ids used by the routes.
    """

    path: Path
    veh_id: tuple[str, ...]
    veh_type: tuple[str, ...]
    depart_s: np.ndarray
    depart_end_s: np.ndarray
    weight: np.ndarray
    route_start: np.ndarray
    route_edge: np.ndarray
    edge_ids: tuple[str, ...]

    @property
    def n_records(self) -> int:
        return len(self.weight)

    @property
    def n_vehicles(self) -> float:
        return float(self.weight.sum())

    def cv_share(self) -> float:
        """Weighted share of records whose type is connected (:func:`is_connected_type`)."""
        if self.n_records == 0:
            return 0.0
        cv = np.fromiter(
            (is_connected_type(t) for t in self.veh_type), dtype=bool, count=self.n_records
        )
        return float(self.weight[cv].sum() / self.weight.sum())


def _flow_count(p: Path, el: ET.Element) -> tuple[float, float, float]:
    """(begin, end, expected vehicles) of a ``<flow>`` (SUMO docs, "Repeated vehicles (Flows)")."""

    def f(name: str, default: float | None = None) -> float:
        v = el.get(name)
        if v is None:
            if default is None:
                raise InputError(p, f"flow {el.get('id')} {name}", "a number", "missing")
            return default
        try:
            return float(v)
        except ValueError:
            raise InputError(p, f"flow {el.get('id')} {name}", "a number", repr(v)) from None

    b = f("begin", 0.0)
    if el.get("number") is not None and el.get("end") is None:
        n = f("number")
        for rate_attr in ("vehsPerHour", "perHour", "period"):
            if el.get(rate_attr) is not None:
                r = f(rate_attr)
                span = n / r * 3600.0 if rate_attr != "period" else n * r
                return b, b + span, n
        return b, b, n
    e = f("end", 86400.0)
    dur = max(e - b, 0.0)
    if el.get("number") is not None:
        n = f("number")
    elif el.get("vehsPerHour") is not None or el.get("perHour") is not None:
        n = f("vehsPerHour" if el.get("vehsPerHour") is not None else "perHour") * dur / 3600.0
    elif el.get("period") is not None:
        pv = el.get("period", "")
        if pv.startswith("exp(") and pv.endswith(")"):  # Poisson flow: rate given
            n = float(pv[4:-1]) * dur
        else:
            per = f("period")
            n = dur / per if per > 0 else 0.0
    elif el.get("probability") is not None:
        n = f("probability") * dur
    else:
        raise InputError(
            p, f"flow {el.get('id')}", "number, vehsPerHour, period or probability", "none"
        )
    return b, e, n


def read_routes(routes_path: str | Path) -> Routes:
    """Parse a SUMO route file's routed vehicles and flows into :class:`Routes`.

    Handles vehicles/flows with an embedded ``<route>``, a ``route="id"`` reference to a named
    ``<route>`` or ``<routeDistribution>``, and embedded route distributions (duarouter's
    alternatives). Persons and containers are ignored.

    Raises:
        InputError: a missing or unreadable file, or trips/flows without routes (route them with
            duarouter first: docs/architecture.md, "Central types").
    """
    p = require_file(routes_path, "routes", "an existing SUMO routes file")
    named: dict[
        str, list[tuple[str, float]]
    ] = {}  # route or routeDistribution id -> [(edges, prob)]
    vocab: dict[str, int] = {}
    cache: dict[str, np.ndarray] = {}
    ids: list[str] = []
    types: list[str] = []
    t0: list[float] = []
    t1: list[float] = []
    wts: list[float] = []
    segs: list[np.ndarray] = []

    def edges_of(s: str) -> np.ndarray:
        a = cache.get(s)
        if a is None:
            a = np.fromiter((vocab.setdefault(e, len(vocab)) for e in s.split()), dtype=np.int64)
            cache[s] = a
        return a

    def routes_in(el: ET.Element) -> list[tuple[str, float]]:
        """Embedded route(s) of a vehicle/flow, as (edges, probability)."""
        for c in el:
            if c.tag == "route":
                if c.get("edges") is None and c.get("refId"):
                    return _ref(c.get("refId", ""))
                return [(c.get("edges", ""), 1.0)]
            if c.tag == "routeDistribution":
                return _dist(c)
        if el.get("route") is not None:
            return _ref(el.get("route", ""))
        return []

    def _dist(c: ET.Element) -> list[tuple[str, float]]:
        out = []
        for r in c.iter("route"):
            if r.get("edges") is not None:
                out.append((r.get("edges", ""), float(r.get("probability", "1"))))
            elif r.get("refId"):
                out += [
                    (e, pr * float(r.get("probability", "1"))) for e, pr in _ref(r.get("refId", ""))
                ]
        return out

    def _ref(rid: str) -> list[tuple[str, float]]:
        if rid not in named:
            raise InputError(
                p, "route", "a route or routeDistribution defined before its use", repr(rid)
            )
        return named[rid]

    for el in _route_file_elements(p):
        tag = el.tag
        if tag == "route" and el.get("id"):
            named[el.get("id", "")] = [(el.get("edges", ""), 1.0)]
        elif tag == "routeDistribution" and el.get("id"):
            named[el.get("id", "")] = _dist(el)
        elif tag in ("vehicle", "flow"):
            rs = routes_in(el)
            if not rs:
                raise InputError(
                    p,
                    f"{tag} {el.get('id')}",
                    "a routed vehicle (run duarouter on trips first: signals demand route)",
                    "no route",
                )
            if tag == "vehicle":
                try:
                    b = e = float(el.get("depart", "0"))
                except ValueError:
                    raise InputError(
                        p,
                        f"vehicle {el.get('id')} depart",
                        "a time in seconds",
                        repr(el.get("depart")),
                    ) from None
                n = 1.0
            else:
                b, e, n = _flow_count(p, el)
            total = sum(pr for _, pr in rs) or 1.0
            for edges, pr in rs:
                ids.append(el.get("id", ""))
                types.append(el.get("type", ""))
                t0.append(b)
                t1.append(e)
                wts.append(n * pr / total)
                segs.append(edges_of(edges))
        elif tag == "trip":
            raise InputError(
                p,
                f"trip {el.get('id')}",
                "a routed vehicle (run duarouter on trips first: signals demand route)",
                "a trip without route",
            )
    lengths = np.array([len(s) for s in segs], dtype=np.int64)
    return Routes(
        path=p,
        veh_id=tuple(ids),
        veh_type=tuple(types),
        depart_s=np.asarray(t0, dtype=float),
        depart_end_s=np.asarray(t1, dtype=float),
        weight=np.asarray(wts, dtype=float),
        route_start=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        route_edge=np.concatenate(segs) if segs else np.zeros(0, dtype=np.int64),
        edge_ids=tuple(vocab),
    )


def _as_routes(routes: str | Path | Routes) -> Routes:
    return routes if isinstance(routes, Routes) else read_routes(routes)


def _route_pairs(
    routes: Routes,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive edge pairs of all routes: (from, to, weight, record depart, record index), each (K,)."""
    lengths = np.diff(routes.route_start)
    rec = np.repeat(np.arange(routes.n_records), lengths)
    if len(rec) < 2:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0), np.zeros(0), z
    same = rec[:-1] == rec[1:]
    a = routes.route_edge[:-1][same]
    b = routes.route_edge[1:][same]
    r = rec[:-1][same]
    return a, b, routes.weight[r], routes.depart_s[r], r


def _vocab_to_net(network: Network, routes: Routes) -> np.ndarray:
    """(len(routes.edge_ids),) network edge index of each route edge; InputError if unknown."""
    index = {e: i for i, e in enumerate(network.edge_ids)}
    out = np.fromiter(
        (index.get(e, -1) for e in routes.edge_ids), dtype=np.int64, count=len(routes.edge_ids)
    )
    if (out < 0).any():
        bad = routes.edge_ids[int(np.flatnonzero(out < 0)[0])]
        raise InputError(
            routes.path, "route edge", f"an edge of {Path(network.path).name}", repr(bad)
        )
    return out


def _window_mask(routes: Routes, begin_s: float | None, end_s: float | None) -> np.ndarray:
    m = np.ones(routes.n_records, dtype=bool)
    if begin_s is not None:
        m &= routes.depart_s >= begin_s
    if end_s is not None:
        m &= routes.depart_s < end_s
    return m


def edge_counts(
    network: Network,
    routes: str | Path | Routes,
    *,
    begin_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """(E,) vehicles whose route uses each network edge (departing in the window, if given)."""
    r = _as_routes(routes)
    to_net = _vocab_to_net(network, r)
    lengths = np.diff(r.route_start)
    w = np.repeat(np.where(_window_mask(r, begin_s, end_s), r.weight, 0.0), lengths)
    return np.bincount(to_net[r.route_edge], weights=w, minlength=network.n_edges)[
        : network.n_edges
    ]


def movement_counts(
    network: Network,
    routes: str | Path | Routes,
    *,
    begin_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """(M,) vehicles whose route takes each movement (from_edge then to_edge), by departure window."""
    r = _as_routes(routes)
    to_net = _vocab_to_net(network, r)
    a, b, w, t, _ = _route_pairs(r)
    if begin_s is not None or end_s is not None:
        keep = np.ones(len(a), dtype=bool)
        if begin_s is not None:
            keep &= t >= begin_s
        if end_s is not None:
            keep &= t < end_s
        w = np.where(keep, w, 0.0)
    E = network.n_edges
    codes = to_net[a] * E + to_net[b]
    uniq, inv = np.unique(codes, return_inverse=True)
    sums = np.bincount(inv, weights=w, minlength=len(uniq))
    mov_out = np.asarray(network.mov_out_edge, dtype=np.int64)
    mov = np.asarray(network.mov_in_edge, dtype=np.int64) * E + mov_out
    out = np.zeros(network.n_movements)
    if len(uniq):
        k = np.clip(np.searchsorted(uniq, mov), 0, len(uniq) - 1)
        hit = (uniq[k] == mov) & (mov_out >= 0)
        out[hit] = sums[k[hit]]
    return out


def turning_ratios(
    network: Network, routes_path: str | Path | Routes | Sequence[str | Path]
) -> np.ndarray:
    """(M,) share of the vehicles on each movement's from_edge that continue onto its to_edge.

    Counted over all routed vehicles of the file -- or of several files together, as SUMO loads
    them (weights for flows). Vehicles that end their trip on the from_edge count in the
    denominator, so ratios per from_edge sum to at most 1; a from_edge no vehicle uses gives 0
    for its movements.
    """
    many = not isinstance(routes_path, str | Path | Routes)
    passes = np.zeros(network.n_edges)
    moves = np.zeros(network.n_movements)
    for one in routes_path if many else [routes_path]:
        r = _as_routes(one)
        passes = passes + edge_counts(network, r)
        moves = moves + movement_counts(network, r)
    denom = passes[np.asarray(network.mov_in_edge, dtype=np.int64)]
    return np.divide(moves, denom, out=np.zeros_like(moves), where=denom > 0)


def entry_flows(
    network: Network,
    routes_path: str | Path | Routes,
    *,
    bin_s: float = 900,
    begin_s: float = 0,
    end_s: float = 3600,
) -> np.ndarray:
    """(E, n_bins) rate of vehicles departing on each edge per time bin, veh/s.

    Bins are ``[begin_s + k bin_s, ...)``, the last one clipped at ``end_s``; each bin's count is
    divided by its own width. A flow's vehicles are spread uniformly over its departure window.
    """
    _check_window(begin_s, end_s)
    if not bin_s > 0:
        raise InputError(None, "bin_s", "a number > 0", repr(bin_s))
    r = _as_routes(routes_path)
    to_net = _vocab_to_net(network, r)
    n_bins = int(math.ceil((end_s - begin_s) / bin_s - 1e-9))
    lo = begin_s + np.arange(n_bins) * bin_s
    hi = np.minimum(lo + bin_s, end_s)
    out = np.zeros((network.n_edges, n_bins))
    if r.n_records == 0:
        return out
    first = to_net[r.route_edge[r.route_start[:-1]]]
    t0, t1 = r.depart_s[:, None], r.depart_end_s[:, None]
    span = np.maximum(t1 - t0, 0.0)
    overlap = np.clip(np.minimum(t1, hi[None, :]) - np.maximum(t0, lo[None, :]), 0.0, None)
    point = (t0 >= lo[None, :]) & (t0 < hi[None, :])
    share = np.where(
        span > 0, overlap / np.where(span > 0, span, 1.0), point.astype(float)
    )  # (R, n_bins)
    contrib = share * r.weight[:, None]
    np.add.at(out, first, contrib)
    return out / (hi - lo)[None, :]


# --------------------------------------------------------------------------- Demand bundle
@dataclass(frozen=True, eq=False)
class Demand:
    """What controllers and the queue model need from a routes file, as arrays.

    Attributes:
        routes_path: the routes file.
        begin_s, end_s, bin_s: the analysis window and bin width.
        turning_ratio: (M,) see :func:`turning_ratios`.
        entry_flow_vps: (E, n_bins) see :func:`entry_flows`.
        mov_flow_vph: (M,) vehicles per hour taking each movement, departing in the window.
        cv_share: connected-vehicle share of the file's vehicles.
    """

    routes_path: Path
    begin_s: float
    end_s: float
    bin_s: float
    turning_ratio: np.ndarray
    entry_flow_vps: np.ndarray
    mov_flow_vph: np.ndarray
    cv_share: float

    @classmethod
    def from_routes(
        cls,
        network: Network,
        routes_path: str | Path,
        *,
        begin_s: float = 0,
        end_s: float = 3600,
        bin_s: float = 900,
    ) -> Demand:
        r = read_routes(routes_path)
        hours = (end_s - begin_s) / 3600.0
        return cls(
            routes_path=r.path,
            begin_s=float(begin_s),
            end_s=float(end_s),
            bin_s=float(bin_s),
            turning_ratio=turning_ratios(network, r),
            entry_flow_vps=entry_flows(network, r, bin_s=bin_s, begin_s=begin_s, end_s=end_s),
            mov_flow_vph=movement_counts(network, r, begin_s=begin_s, end_s=end_s) / hours,
            cv_share=r.cv_share(),
        )


# --------------------------------------------------------------------------- demand windows
WINDOW_STEP_S = 900.0  # windows a file covers are whole 15-min steps (the HCM analysis period)


@dataclass(frozen=True)
class DemandWindow:
    """The part of a routes file a time-of-day period plans for, and the period's real hours.

    Attributes:
        name: period name.
        routes: the routed file.
        begin_s, end_s: time of day (s after midnight) the period covers: its label and switch times.
        file_begin_s, file_end_s: the same window in the routes file's own times; vehicles
            departing in ``[file_begin_s, file_end_s)`` make the period's flows. Always
            ``file_end_s - file_begin_s == end_s - begin_s``.
        clock_time: the file's times are times of day (else time 0 is the period start).
        n_vehicles: vehicles departing in the file window (flows: expected counts).
        first_depart_s, last_depart_s: departure span of the whole file.
    """

    name: str
    routes: Path
    begin_s: float
    end_s: float
    file_begin_s: float
    file_end_s: float
    clock_time: bool
    n_vehicles: float
    first_depart_s: float
    last_depart_s: float


def hhmm(t_s: float) -> str:
    """``HH:MM`` (``HH:MM:SS`` when not whole minutes) of a time in seconds; hours may pass 24."""
    t = int(round(t_s))
    h, m, sec = t // 3600, t % 3600 // 60, t % 60
    return f"{h:02d}:{m:02d}" + (f":{sec:02d}" if sec else "")


def demand_window(
    routes: str | Path | Routes,
    name: str,
    begin_s: float | None = None,
    end_s: float | None = None,
    *,
    stated: bool = False,
) -> DemandWindow:
    """Which departures of a routes file a period plans for, and the hours it really covers.

    The rule (``signals plan fixed-time --demand``), with the period's hours ``[B, E)`` and its
    length ``L = E - B``:

    * clock time: when the file has vehicles departing in ``[B, E)`` of its own times, and either
      none before ``B`` or departures past ``L`` (so it cannot be a file starting at the period
      begin), its times are times of day and the period takes those departures (RESCO and city
      files, e.g. 25200-28800 s);
    * period time: otherwise, when all its departures lie in ``[0, L)``, time 0 of the file is
      the period start (the ``signals demand generate`` convention);
    * a named period (``stated=False``) whose hours hold none of a clock-time file's departures
      takes the file's own departures as its window.

    A named period's hours shrink to what the file covers, in whole 15-min steps (a 1-hour file
    for the 2-hour ``am_peak`` covers 07:00-08:00); a stated window is kept as stated. Without
    ``begin_s``/``end_s`` (``*``) the window is what the file covers.

    Raises:
        InputError: a file with no vehicles, or a window holding no vehicles (file, the period,
            the window asked for, where the file's departures are).
    """
    r = _as_routes(routes)
    if r.n_records == 0 or r.n_vehicles <= 0:
        raise InputError(r.path, "vehicles", "at least one routed vehicle or flow", "none")
    step = WINDOW_STEP_S
    t0 = float(r.depart_s.min())
    last_start = float(r.depart_s.max())
    t_end = max(float(r.depart_end_s.max()), last_start)
    cov_b = math.floor(t0 / step) * step
    cov_e = max(math.ceil(t_end / step) * step, math.floor(last_start / step) * step + step)

    def count(b: float, e: float) -> float:
        m = (r.depart_s >= b) & (r.depart_s < e)
        return float(r.weight[m].sum())

    def span() -> str:
        return f"departures {t0:g}-{t_end:g} s ({hhmm(t0)}-{hhmm(t_end)})"

    if begin_s is None or end_s is None:
        lb, le, fb, clock = cov_b, cov_e, cov_b, True
    else:
        B, E = float(begin_s), float(end_s)
        L = E - B
        in_hours = count(B, E) > 0
        relative = t0 >= 0 and last_start < L
        if in_hours and (t0 >= B or not relative):
            clock = True
            lb, le = (B, E) if stated else (max(B, cov_b), min(E, cov_e))
            fb = lb
        elif relative:
            clock = False
            lb, le = (B, E) if stated else (B, B + min(L, cov_e))
            fb = 0.0
        elif not stated:
            lb, le, fb, clock = cov_b, cov_e, cov_b, True
        else:
            raise InputError(
                r.path,
                f"--demand {name}",
                f"vehicles departing in {B:g}-{E:g} s ({hhmm(B)}-{hhmm(E)}), as times of day "
                f"or from time 0 = {hhmm(B)}",
                f"none: the file's {span()}",
            )
    fe = fb + (le - lb)
    n = count(fb, fe)
    if n <= 0:
        raise InputError(
            r.path,
            f"--demand {name}",
            f"vehicles departing in {fb:g}-{fe:g} s of the file",
            f"none: the file's {span()}",
        )
    return DemandWindow(
        name=name,
        routes=r.path,
        begin_s=float(lb),
        end_s=float(le),
        file_begin_s=float(fb),
        file_end_s=float(fe),
        clock_time=clock,
        n_vehicles=n,
        first_depart_s=t0,
        last_depart_s=t_end,
    )
