"""What the gate needs to know about a network, computed once per Network object.

Approach speeds, the distance each link travels through its junction (the W of the ITE red
clearance), crossing lengths, and SUMO's foe pairs with their yield relations. Geometry that the
net does not carry is NaN, never a guess: the rules turn NaN into the most conservative
requirement or into a violation that says what could not be checked (the gate fails closed).
"""

from __future__ import annotations

import weakref
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class NetGeometry:
    """Per-network arrays of the gate (L links over the whole network).

    Attributes:
        link_speed_mps: (L,) approach speed of each vehicle link (0 for pedestrian links).
        link_width_m: (L,) length of the link's internal lane chain (SUMO ``via``), NaN unknown.
        crossing_m: (L,) crossing length of each pedestrian link, NaN unknown (0 vehicles).
        pair_i, pair_j: (F,) foe pairs i < j (global link indices) from SUMO's foe matrix.
        pair_i_yields, pair_j_yields: (F,) SUMO's response: i must yield to j (resp. j to i).
        pair_signal: (F,) signal of each pair.
        link_used: (L,) the state character controls a connection (SUMO accepts programs with
            characters for links that do not exist; those control nothing and are not checked).
        pair_merge: (F,) the two links come from the same approach edge and merge into the same
            lane, and SUMO's response makes one yield: lanes of one signal group merging after
            the stop line, not a signal conflict (a conflict monitor compares signal groups).
    """

    def __init__(self, network: Network):
        n = network
        lm = n.link_movement
        self.link_speed_mps = np.where(
            lm >= 0, n.mov_speed_mps[np.maximum(lm, 0)] if n.n_movements else 0.0, 0.0
        )
        pi, pj, pij, pji = [], [], [], []
        for s in range(n.n_signals):
            k = int(n.signal_n_links[s])
            a, b = np.nonzero(np.triu(n.link_foes[s, :k, :k], 1))
            base = int(n.signal_link_start[s])
            pi.append(a + base)
            pj.append(b + base)
            pij.append(n.link_prohibits[s, a, b])
            pji.append(n.link_prohibits[s, b, a])
        cat = np.concatenate
        self.pair_i = cat(pi).astype(np.int64) if pi else np.zeros(0, np.int64)
        self.pair_j = cat(pj).astype(np.int64) if pj else np.zeros(0, np.int64)
        self.pair_i_yields = cat(pij).astype(bool) if pij else np.zeros(0, bool)
        self.pair_j_yields = cat(pji).astype(bool) if pji else np.zeros(0, bool)
        self.pair_signal = n.link_signal[self.pair_i] if len(self.pair_i) else np.zeros(0, np.int64)
        self.link_used = np.array(
            [bool(a or b) for a, b in zip(n.link_from_lane, n.link_to_lane, strict=True)],
            dtype=bool,
        )
        self.pair_merge = _same_approach_merges(n, self)
        self.link_width_m, self.crossing_m = _junction_geometry(n)


def _same_approach_merges(n: Network, g: NetGeometry) -> np.ndarray:
    edge = [lane.rsplit("_", 1)[0] for lane in n.link_from_lane]
    out = np.zeros(len(g.pair_i), dtype=bool)
    for k, (i, j) in enumerate(zip(g.pair_i, g.pair_j, strict=True)):
        out[k] = (
            bool(n.link_from_lane[i])
            and edge[i] == edge[j]
            and n.link_to_lane[i] == n.link_to_lane[j]
            and bool(g.pair_i_yields[k] or g.pair_j_yields[k])
        )
    return out


def geometry(network: Network) -> NetGeometry:
    """The (cached) :class:`NetGeometry` of a network."""
    g = _CACHE.get(network)
    if g is None:
        g = _CACHE[network] = NetGeometry(network)
    return g


def link_width_m(network: Network) -> np.ndarray:
    """(L,) distance each link travels through its junction (NaN where the net has no internal
    lanes for it, e.g. built with ``--no-internal-links``)."""
    return geometry(network).link_width_m


def _junction_geometry(network: Network) -> tuple[np.ndarray, np.ndarray]:
    lanes: dict[str, float] = {}
    via_of: dict[tuple[str, int], str] = {}
    internal_next: dict[str, str] = {}
    try:
        for _, el in ET.iterparse(Path(network.path), events=("end",)):
            if el.tag == "lane":
                lanes[el.get("id", "")] = float(el.get("length", "nan"))
            elif el.tag == "connection":
                via = el.get("via")
                frm = el.get("from", "")
                if el.get("tl") is not None and via:
                    via_of[(el.get("tl", ""), int(el.get("linkIndex", "-1")))] = via
                elif frm.startswith(":") and via:
                    internal_next[f"{frm}_{el.get('fromLane', '0')}"] = via
            elif el.tag in ("edge", "junction"):
                el.clear()
    except (ET.ParseError, OSError, ValueError):
        lanes, via_of, internal_next = {}, {}, {}  # unknown: NaN below, the rules fail closed
    L = network.n_links
    width = np.full(L, np.nan)
    cross = np.zeros(L)
    for i in range(L):
        if not (network.link_from_lane[i] or network.link_to_lane[i]):
            continue  # a state character that controls no connection: nothing to clear
        if network.link_is_ped[i]:
            cross[i] = np.nan
            for lane in (network.link_to_lane[i], network.link_from_lane[i]):
                if "_c" in lane and lane in lanes:
                    cross[i] = lanes[lane]
                    break
            continue
        sid = network.signal_ids[int(network.link_signal[i])]
        lane = via_of.get((sid, int(network.link_index[i])))
        total, seen = 0.0, 0
        while lane and lane in lanes and seen < 4:
            total += lanes[lane]
            lane = internal_next.get(lane)
            seen += 1
        if total > 0:
            width[i] = total
    width.setflags(write=False)
    cross.setflags(write=False)
    return width, cross


def min_yellow_s(network: Network, cfg=None) -> np.ndarray:
    """(L,) guideline yellow of each vehicle link for its approach speed (0 for crossings)."""
    from signals.safety.config import SafetyConfig, required_yellow_s

    g = geometry(network)
    y = required_yellow_s(g.link_speed_mps, cfg or SafetyConfig())
    return np.where(network.link_is_ped, 0.0, y)
