"""Movement names a traffic engineer reads: approach and turn (``NB L``, ``EB T+R``, ``XW N``).

* **approach**: the compass direction of travel on the incoming edge at the stop line -- the
  bearing of the last segment of its lanes' shapes (the mean over its lanes; segments shorter
  than :data:`MIN_SEGMENT_M` are extended backwards so a stub at the stop line does not decide).
  Eight sectors of 45 degrees: ``NB``, ``EB``, ``SB``, ``WB`` for the cardinal ones, ``NE``,
  ``SE``, ``SW``, ``NW`` for the diagonal ones. SUMO's coordinates are x east, y north (the
  projected net's frame; SUMO docs "Geo-Coordinates").
* **turn**: from SUMO's link direction codes (``Network.mov_dir``; SUMO docs "Networks/SUMO Road
  Networks", connection ``dir``): ``l``/``L`` -> ``L``, ``s`` -> ``T``, ``r``/``R`` -> ``R``,
  ``t`` -> ``U``.
* Two approaches of one signal with the same label (a joined cluster, a frontage road) get a
  suffix in the order of their edge ids: ``EB``, ``EB2``, ... -- never two approaches with one
  name.
* **crossings**: ``XW`` and the side of the junction the crossing lies on (its lane's centre
  relative to the junction: ``XW N`` crosses the north leg); ``ped <edge>`` where the net holds
  no shape for it.

The shapes are read from the net file (plain XML, gzip allowed) with the standard library:
:class:`signals.network.Network` holds no shapes. Core module: no traci/libsumo import.
"""

from __future__ import annotations

import gzip
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

MIN_SEGMENT_M = 2.0
PERMITTED_TURNS = ("L", "U")  # turns a 'g'-only service marks as permitted (yield to opposing)
TURN_OF_DIR = {"l": "L", "L": "L", "s": "T", "r": "R", "R": "R", "t": "U"}
TURN_ORDER = {"L": 0, "T": 1, "R": 2, "U": 3, "?": 4}  # first letter of a turn
_SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
APPROACH_ORDER = {a: k for k, a in enumerate(("NB", "SB", "EB", "WB", "NE", "SW", "SE", "NW"))}


@dataclass(frozen=True)
class MovementName:
    """Name of one vehicle movement.

    Attributes:
        approach: ``NB``, ``EB``, ... (with a suffix ``EB2`` where two approaches share one).
        turn: ``L``, ``T``, ``R``, ``U`` (``?`` for a direction code SUMO did not give).
        from_edge, to_edge: the SUMO edge ids.
    """

    approach: str
    turn: str
    from_edge: str
    to_edge: str

    @property
    def name(self) -> str:
        return f"{self.approach} {self.turn}"

    @property
    def edges(self) -> str:
        return f"{self.from_edge}->{self.to_edge}"


def compass(bearing_deg: float) -> str:
    """Sector of a bearing (degrees clockwise from north): 'N', 'NE', ..., 'NW'."""
    return _SECTORS[int(math.floor((bearing_deg % 360.0) / 45.0 + 0.5)) % 8]


def approach_label(bearing_deg: float) -> str:
    """Approach label of a direction of travel: NB/EB/SB/WB, or NE/SE/SW/NW when diagonal."""
    c = compass(bearing_deg)
    return c + "B" if len(c) == 1 else c


def bearing_deg(x0: float, y0: float, x1: float, y1: float) -> float:
    """Bearing of the vector (x0, y0) -> (x1, y1), degrees clockwise from north (y)."""
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0


def _end_vector(shape: list[tuple[float, float]]) -> tuple[float, float]:
    """Direction (dx, dy) of the last segment of ``shape``, extended backwards to MIN_SEGMENT_M."""
    if len(shape) < 2:
        return (0.0, 0.0)
    x1, y1 = shape[-1]
    for x0, y0 in reversed(shape[:-1]):
        if math.hypot(x1 - x0, y1 - y0) >= MIN_SEGMENT_M:
            break
    return (x1 - x0, y1 - y0)


def _parse_shape(text: str | None) -> list[tuple[float, float]]:
    pts = []
    for p in (text or "").split():
        xy = p.split(",")
        try:
            pts.append((float(xy[0]), float(xy[1])))
        except (ValueError, IndexError):
            return []
    return pts


@dataclass(frozen=True)
class _Geometry:
    edge_end_vec: dict  # edge id -> (dx, dy) mean end direction of its lanes
    crossing_center: dict  # crossing edge id -> (x, y)
    junction_xy: dict  # junction id -> (x, y)
    crossing_node: dict  # crossing edge id -> junction id
    crossing_edges: dict  # crossing edge id -> the road edges it crosses (SUMO crossingEdges)


@lru_cache(maxsize=8)
def _geometry_cached(path: str, mtime_ns: int, size: int) -> _Geometry:
    del mtime_ns, size  # cache key only
    opener = gzip.open if _is_gzip(path) else open
    vec: dict = {}
    cross: dict = {}
    cross_node: dict = {}
    cross_edges: dict = {}
    junc: dict = {}
    with opener(path, "rb") as fh:
        for _, el in ET.iterparse(fh, events=("end",)):
            tag = el.tag
            if tag == "edge":
                fn = el.get("function", "normal") or "normal"
                eid = el.get("id", "")
                shapes = [_parse_shape(ln.get("shape")) for ln in el.findall("lane")]
                if fn == "crossing":
                    pts = [p for s in shapes for p in s]
                    if pts:
                        cross[eid] = (
                            sum(p[0] for p in pts) / len(pts),
                            sum(p[1] for p in pts) / len(pts),
                        )
                    # crossing edge ids are ':<junction>_c<k>'
                    cross_node[eid] = eid[1:].rsplit("_", 1)[0]
                    cross_edges[eid] = tuple(el.get("crossingEdges", "").split())
                elif fn == "normal":
                    vs = [_end_vector(s) for s in shapes]
                    vs = [v for v in vs if v != (0.0, 0.0)]
                    if vs:
                        # unit vectors averaged: lanes of one edge run parallel
                        ux = sum(v[0] / math.hypot(*v) for v in vs)
                        uy = sum(v[1] / math.hypot(*v) for v in vs)
                        vec[eid] = (ux, uy)
                el.clear()
            elif tag == "junction":
                try:
                    junc[el.get("id", "")] = (float(el.get("x")), float(el.get("y")))
                except (TypeError, ValueError):
                    pass
                el.clear()
    return _Geometry(vec, cross, junc, cross_node, cross_edges)


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _geometry(network: Network) -> _Geometry:
    p = Path(network.path)
    st = p.stat()
    return _geometry_cached(str(p), st.st_mtime_ns, st.st_size)


def edge_bearing_deg(network: Network, edge_id: str) -> float:
    """Direction of travel at the end of an edge (its stop line), degrees clockwise from north
    (see the module docstring); NaN where the net holds no shape for it."""
    v = _geometry(network).edge_end_vec.get(edge_id)
    return bearing_deg(0.0, 0.0, *v) if v else math.nan


def crossed_edges(network: Network, link: int) -> tuple[str, ...]:
    """The road edges pedestrian link ``link`` (global index) crosses; () if unknown."""
    return _geometry(network).crossing_edges.get(crossing_edge(network, link), ())


def movement_names(network: Network) -> tuple[MovementName, ...]:
    """(M,) name of every vehicle movement of ``network`` (see the module docstring)."""
    geo = _geometry(network)
    out: list[MovementName | None] = [None] * network.n_movements
    for s in range(network.n_signals):
        ms = network.movements_of(s)
        edges = sorted(set(network.mov_from_edge[ms]))
        base = {}
        for e in edges:
            v = geo.edge_end_vec.get(e)
            base[e] = approach_label(bearing_deg(0.0, 0.0, *v)) if v else "?B"
        label, seen = {}, {}
        for e in edges:  # sorted edge ids: a stable suffix order
            b = base[e]
            seen[b] = seen.get(b, 0) + 1
            label[e] = b if seen[b] == 1 else f"{b}{seen[b]}"
        # two movements of one approach with one turn (two lefts of a 5-leg junction): a
        # suffix in the order of their to-edge ids, as for approaches
        turns: dict[tuple[str, str], list[int]] = {}
        for m in range(ms.start, ms.stop):
            t = TURN_OF_DIR.get(network.mov_dir[m], "?")
            turns.setdefault((network.mov_from_edge[m], t), []).append(m)
        for (fe, t), mm in turns.items():
            for k, m in enumerate(sorted(mm, key=lambda i: network.mov_to_edge[i])):
                out[m] = MovementName(
                    label[fe], t if k == 0 else f"{t}{k + 1}", fe, network.mov_to_edge[m]
                )
    return tuple(out)  # type: ignore[arg-type]


def crossing_edge(network: Network, link: int) -> str:
    """The crossing edge id of pedestrian link ``link`` (global link index), '' if none."""
    for lane in (network.link_from_lane[link], network.link_to_lane[link]):
        if lane.startswith(":") and "_c" in lane:
            edge = lane.rsplit("_", 1)[0]
            if edge.rsplit("_", 1)[-1].startswith("c"):
                return edge
    return ""


def crossing_names(network: Network, s: int) -> dict[int, str]:
    """{global link index: name} for the pedestrian links of signal ``s`` (``XW N``, ...)."""
    geo = _geometry(network)
    ls = network.links_of(s)
    names: dict[int, str] = {}
    edge_name: dict[str, str] = {}
    seen: dict[str, int] = {}
    links = [li for li in range(ls.start, ls.stop) if network.link_is_ped[li]]
    for e in sorted({crossing_edge(network, li) for li in links} - {""}):
        c = geo.crossing_center.get(e)
        j = geo.junction_xy.get(geo.crossing_node.get(e, ""))
        if c is None or j is None or (c == j):
            edge_name[e] = f"ped {e}"
            continue
        b = "XW " + compass(bearing_deg(j[0], j[1], c[0], c[1]))
        seen[b] = seen.get(b, 0) + 1
        edge_name[e] = b if seen[b] == 1 else f"{b}{seen[b]}"
    for li in links:
        e = crossing_edge(network, li)
        names[li] = edge_name.get(e, f"ped link {int(network.link_index[li])}")
    return names


def group_names(names: list[MovementName], suffix: dict[int, str] | None = None) -> list[str]:
    """Movements of one stage by approach: ``['NB L+T+R', 'SB T+R']`` (turns L, T, R, U).

    Args:
        names: the stage's movements.
        suffix: optional {index in ``names``: tag}; movements with a tag (e.g. ``perm`` for a
            permitted-only service) form their own group ``NB L (perm)``.
    """
    suffix = suffix or {}
    groups: dict[tuple[str, str], list[str]] = {}
    for i, n in enumerate(names):
        groups.setdefault((n.approach, suffix.get(i, "")), []).append(n.turn)
    out = []
    for (a, tag), turns in sorted(
        groups.items(), key=lambda kv: (APPROACH_ORDER.get(kv[0][0], 99), kv[0][0], kv[0][1])
    ):
        t = "+".join(sorted(dict.fromkeys(turns), key=lambda x: (TURN_ORDER.get(x[:1], 9), x)))
        out.append(f"{a} {t}" + (f" ({tag})" if tag else ""))
    return out


__all__ = [
    "MovementName",
    "approach_label",
    "bearing_deg",
    "compass",
    "crossed_edges",
    "crossing_edge",
    "crossing_names",
    "edge_bearing_deg",
    "group_names",
    "movement_names",
]
