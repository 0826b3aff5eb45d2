"""Lane-level saturation flows of a signal's movements: the one shared-lane rule.

Webster's flow ratios (:mod:`signals.control.fixed_time`), the HCM review figures
(:mod:`signals.control.hcm`) and the queue model's capacities
(:mod:`signals.evaluate.queue`) all read a movement's saturation flow from here:

* movement flows are spread over their lanes so drivers even out the lanes' loads (HCM lane
  utilization; what SUMO's lane changing does), by water-filling in through-car equivalents;
* a lane's saturation flow is the base 1900 pc/h/ln times the flow-weighted harmonic mean of the
  turn factors of the movements it carries (HCM 6th ed. Eq. 19-8 adjustments f_LT, f_RT; shared
  lanes per HCM Ch. 31);
* a movement gets each of its lanes' saturation flow in proportion to its share of that lane's
  flow, so every movement on a lane runs at the lane's v/s (the HCM lane-group view).

Only the flows *within* an approach matter (lanes never span approaches), so any flows
proportional to the movements' demand on each approach (turning ratios, say) give the same
result. Core module: no SUMO import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from signals.network import BASE_SAT_FLOW_VPHPL, TURN_FACTOR

if TYPE_CHECKING:
    from signals.network import Network


def lane_model(
    network: Network, s: int, flow_vph: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lane view of signal ``s``: movement flows spread over their lanes, and the shared-lane
    saturation flow 1900 x flow-weighted harmonic mean of the turn factors (HCM 6th ed. Eq. 19-8
    adjustments f_LT, f_RT; shared lanes per HCM Ch. 31).

    Drivers choose among a movement's lanes to even out the queues (HCM lane utilization, and
    what SUMO's lane changing does), so movements are spread by water-filling in through-car
    equivalents v / f_turn: movements with fewer lane choices first, each filling its least
    loaded lanes.

    Returns:
        lane_idx (n,) lane of each link, v_link (n,) veh/h, lane_sat (n_lanes,) veh/h,
        veh (n,) True for vehicle links.
    """
    ls = network.links_of(s)
    lm = network.link_movement[ls]
    veh = lm >= 0
    lanes = [network.link_from_lane[i] for i in range(ls.start, ls.stop)]
    uniq = {x: i for i, x in enumerate(sorted(set(lanes)))}
    lane_idx = np.array([uniq[x] for x in lanes], dtype=np.int64)
    f_turn = np.array([TURN_FACTOR.get(network.link_dir[i], 1.0) for i in range(ls.start, ls.stop)])
    flow = np.asarray(flow_vph, float)
    v_link = np.zeros(len(lm))
    load = np.zeros(len(uniq))  # through-car equivalents per lane
    movs = sorted({int(m) for m in lm[veh]}, key=lambda m: (int((lm == m).sum()), m))
    for m in movs:
        links = np.flatnonzero(lm == m)
        eq = flow[m] / float(np.mean(f_turn[links]))  # demand in through-car equivalents
        v_eq = water_fill(load[lane_idx[links]], eq)
        load[lane_idx[links]] += v_eq
        v_link[links] = v_eq * f_turn[links]
    lane_v = np.bincount(lane_idx, weights=v_link, minlength=len(uniq))
    lane_inv_f = np.bincount(lane_idx, weights=v_link / f_turn, minlength=len(uniq))
    # unloaded lanes: plain mean of their links' factors
    n_on = np.bincount(lane_idx, weights=veh.astype(float), minlength=len(uniq))
    f_mean = np.bincount(lane_idx, weights=np.where(veh, f_turn, 0.0), minlength=len(uniq))
    f_mean = f_mean / np.maximum(n_on, 1)
    lane_f = np.where(lane_v > 0, lane_v / np.maximum(lane_inv_f, 1e-12), np.maximum(f_mean, 0.1))
    return lane_idx, v_link, BASE_SAT_FLOW_VPHPL * lane_f, veh


def water_fill(levels: np.ndarray, amount: float) -> np.ndarray:
    """Split ``amount`` over bins at ``levels`` so the lowest bins rise to a common level."""
    n = len(levels)
    if n == 0 or amount <= 0:
        return np.zeros(n)
    order = np.argsort(levels)
    lv = levels[order]
    out = np.zeros(n)
    for k in range(1, n + 1):
        nxt = lv[k] if k < n else np.inf
        need = k * nxt - lv[:k].sum()
        if need >= amount:
            level = (amount + lv[:k].sum()) / k
            out[order[:k]] = level - lv[:k]
            break
    return out


def movement_sat_flow_vph(network: Network, s: int, flow_vph: np.ndarray) -> np.ndarray:
    """(n_movements_of_s,) saturation flow of each movement of signal ``s``: each of its lanes'
    saturation flow in proportion to the movement's share of that lane's flow (equal shares on
    unloaded lanes), so a movement's v/s equals its lanes' v/s (HCM lane-group view)."""
    lane_idx, v_link, lane_sat, veh = lane_model(network, s, flow_vph)
    ls = network.links_of(s)
    lm = network.link_movement[ls]
    lane_v = np.bincount(lane_idx, weights=v_link, minlength=len(lane_sat))
    n_on = np.bincount(lane_idx, weights=veh.astype(float), minlength=len(lane_sat))
    share = np.where(
        lane_v[lane_idx] > 0,
        v_link / np.maximum(lane_v[lane_idx], 1e-12),
        1.0 / np.maximum(n_on[lane_idx], 1),
    )
    s_link = np.where(veh, lane_sat[lane_idx] * share, 0.0)
    m0 = int(network.signal_mov_start[s])
    n_m = int(network.signal_mov_start[s + 1]) - m0
    return np.bincount(lm[veh] - m0, weights=s_link[veh], minlength=n_m)


def sat_flow_vph(network: Network, flow: np.ndarray) -> np.ndarray:
    """(M,) saturation flow of every signal movement, veh/h (:func:`movement_sat_flow_vph` per
    signal); ``flow`` (M,) is each movement's demand, or anything proportional to it on each
    approach."""
    flow = np.asarray(flow, dtype=float)
    out = np.zeros(network.n_movements)
    for s in range(network.n_signals):
        m0, m1 = int(network.signal_mov_start[s]), int(network.signal_mov_start[s + 1])
        if m1 > m0:
            out[m0:m1] = movement_sat_flow_vph(network, s, flow)
    return out


# -------------------------------------------------------------------------------- lane groups
# SUMO direction codes -> HCM movement letters (left, through, right, U-turn)
_DIR_LETTER = {"l": "L", "L": "L", "s": "T", "r": "R", "R": "R", "t": "U"}


@dataclass(frozen=True)
class LaneGroups:
    """The HCM lane groups of every signal approach (HCM 6th ed., Ch. 19, "Lane groups"; also
    HCM 2010 Ch. 18): the exclusive lanes of one movement form one group (exclusive left-turn
    lanes, exclusive through lanes, exclusive right-turn lanes), and each lane shared by two or
    more movements is a group of its own. Read from the net's connections, so it holds for any
    net; a lane counts when a vehicle link of the signal leaves it.

    Attributes:
        ids: (G,) ``<approach edge>:<movement letters>`` (L, T, R, U; ``LT`` a shared lane),
            ``#<lane index>`` appended where letters repeat on an edge.
        edges: (G,) the approach edge of each group.
        signal: (G,) signal index of each group.
        n_lanes: (G,) lanes in the group.
        lanes: (G,) SUMO lane ids of each group.
        mov, group, weight: (K,) a movement's share of its queue on each group it uses: the
            share of its flow on the group's lanes (:func:`lane_model`'s lane choice), equal
            over its lanes where it has no flow.
    """

    ids: tuple[str, ...]
    edges: tuple[str, ...]
    signal: np.ndarray
    n_lanes: np.ndarray
    lanes: tuple[tuple[str, ...], ...]
    mov: np.ndarray
    group: np.ndarray
    weight: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    def lane_index(self) -> dict[str, int]:
        """SUMO lane id -> group index."""
        return {ln: g for g, lanes in enumerate(self.lanes) for ln in lanes}

    def from_movements(self, q: np.ndarray) -> np.ndarray:
        """(..., G) queues per group from (..., M) queues per movement."""
        q = np.asarray(q, dtype=float)
        out = np.zeros((*q.shape[:-1], self.n))
        np.add.at(out, (..., self.group), q[..., self.mov] * self.weight)
        return out


def lane_groups(network: Network, flow_vph: np.ndarray | None = None) -> LaneGroups:
    """The HCM lane groups of ``network`` (see :class:`LaneGroups`); ``flow_vph`` (M,) the
    movement flows that split a movement over its lanes (anything proportional per approach;
    equal shares when None)."""
    flow = np.ones(network.n_movements) if flow_vph is None else np.asarray(flow_vph, float)
    ids: list[str] = []
    sig: list[int] = []
    lanes: list[tuple[str, ...]] = []
    movs: list[int] = []
    grps: list[int] = []
    wts: list[float] = []
    for s in range(network.n_signals):
        ls = network.links_of(s)
        lm = network.link_movement[ls]
        if not (lm >= 0).any():
            continue
        lane_idx, v_link, _, veh = lane_model(network, s, flow)
        lane_ids = sorted(set(network.link_from_lane[ls.start : ls.stop]))
        served: dict[str, set[int]] = {}  # lane id -> movements leaving it
        for k in np.flatnonzero(veh):
            served.setdefault(lane_ids[lane_idx[k]], set()).add(int(lm[k]))
        # group key per lane: (edge, movement) for an exclusive lane, (edge, lane) when shared
        keys: dict[tuple, list[str]] = {}
        for ln, ms in served.items():
            edge, _, index = ln.rpartition("_")
            key = (edge, "m", min(ms)) if len(ms) == 1 else (edge, "lane", int(index))
            keys.setdefault(key, []).append(ln)
        first = len(ids)
        group_of_lane = {}
        for key, members in sorted(keys.items(), key=lambda kv: (kv[0][0], min(kv[1]))):
            ms = served[members[0]]
            letters = sorted(
                {_DIR_LETTER.get(network.link_dir[ls.start + k], "T") for k in range(len(lm))
                 if lm[k] in ms},
                key="LTRU".index,
            )  # fmt: skip
            ids.append(f"{key[0]}:{''.join(letters)}")
            sig.append(s)
            lanes.append(tuple(sorted(members)))
            for ln in members:
                group_of_lane[ln] = len(ids) - 1
        _unique_labels(ids, lanes, first)
        # each movement's share on each group: its links' flow shares (lane_model), or equal
        for m in sorted({int(x) for x in lm[veh]}):
            links = np.flatnonzero(lm == m)
            v = v_link[links]
            share = v / v.sum() if v.sum() > 0 else np.full(len(links), 1.0 / len(links))
            per: dict[int, float] = {}
            for k, w in zip(links, share, strict=True):
                g = group_of_lane[lane_ids[lane_idx[k]]]
                per[g] = per.get(g, 0.0) + float(w)
            for g, w in sorted(per.items()):
                movs.append(m)
                grps.append(g)
                wts.append(w)
    return LaneGroups(
        tuple(ids),
        tuple(i.rpartition(":")[0] for i in ids),
        np.asarray(sig, dtype=np.int64),
        np.asarray([len(x) for x in lanes], dtype=np.int64),
        tuple(lanes),
        np.asarray(movs, dtype=np.int64),
        np.asarray(grps, dtype=np.int64),
        np.asarray(wts, dtype=float),
    )


def _unique_labels(ids: list[str], lanes: list[tuple[str, ...]], first: int) -> None:
    """Append ``#<first lane index>`` to the ids from ``first`` on that repeat (two shared
    lanes with the same movements on one edge)."""
    seen: dict[str, int] = {}
    for g in range(first, len(ids)):
        seen[ids[g]] = seen.get(ids[g], 0) + 1
    for g in range(first, len(ids)):
        if seen[ids[g]] > 1:
            ids[g] = f"{ids[g]}#{lanes[g][0].rpartition('_')[2]}"
