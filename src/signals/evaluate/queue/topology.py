"""The network as the flat arrays the time loop runs on: :class:`Topology` and its builder
(movements, pass-through movements at junctions without a signal, FIFO lanes, lane groups,
saturation flows, yields) and the demand inputs read from routes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from signals.errors import InputError
from signals.evaluate.queue.params import QueueParams
from signals.lanes import LaneGroups, lane_groups, sat_flow_vph
from signals.network import Network


@dataclass(frozen=True, eq=False)
class Topology:
    """Flat arrays the time loop runs on: signal movements first, then pass-through movements.

    Shapes: S signals, E edges, M signal movements, Mt = M + pass-through movements, A approaches
    (edges with a signal movement), Es source edges (edges with demand).
    """

    n_signals: int
    n_edges: int
    n_mov: int  # M: signal movements (network order)
    mov_in: np.ndarray  # (Mt,) in-edge index
    mov_out: np.ndarray  # (Mt,) out-edge index, -1 if it leaves the modelled net
    mov_sig: np.ndarray  # (Mt,) signal index, -1 for pass-through (always green)
    sat_vps: np.ndarray  # (Mt,) saturation flow veh/s (factor applied)
    ratio: np.ndarray  # (Mt,) share of in-edge vehicles taking the movement
    sig_mov_start: np.ndarray  # (S+1,) CSR of signal movements
    edge_mov_start: np.ndarray  # (E+1,) CSR: movements by in-edge
    edge_mov: np.ndarray  # (Mt,)
    exit_share: np.ndarray  # (E,) share of stop-line arrivals ending their trip
    storage_veh: np.ndarray  # (E,)
    travel_steps: np.ndarray  # (E,) int >= 1, free-flow time in steps
    ring_start: np.ndarray  # (E+1,) CSR offsets of each edge's delay line
    yield_start: np.ndarray  # (Mt+1,) CSR: movements each movement yields to
    yield_idx: np.ndarray
    approach_edges: np.ndarray  # (A,) edge indices
    edge_app: np.ndarray  # (E,) approach index or -1
    src_edges: np.ndarray  # (Es,)
    src_rates_vps: np.ndarray  # (Es, n_bins)
    bin_steps: int  # steps per demand bin; demand is 0 after the last bin
    pass_from: np.ndarray  # (P,) edge indices of pass-through movements
    pass_to: np.ndarray
    # FIFO lanes (CSR, see fifo_lanes): movements of each lane, lanes of each movement
    lane_start: np.ndarray  # (L+1,)
    lane_mov: np.ndarray
    mov_lane_start: np.ndarray  # (Mt+1,)
    mov_lane: np.ndarray
    # HCM lane groups (signals.lanes.LaneGroups): each signal movement's share of its queue on
    # each group (K pairs), and each group's approach; the queue samples are per group
    lane_groups: LaneGroups
    grp_mov: np.ndarray  # (K,)
    grp_idx: np.ndarray  # (K,)
    grp_w: np.ndarray  # (K,)
    grp_app: np.ndarray  # (G,) approach index

    @property
    def n_mov_total(self) -> int:
        return len(self.mov_in)

    @property
    def ring_size(self) -> int:
        return int(self.ring_start[-1])


def unsignalized_transitions(network: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Default pass-through movements at junctions without a traffic light, from the topology.

    An edge with no signal movement hands its vehicles to the edges leaving its end junction
    (U-turns back along the same road excluded), split in proportion to their lanes. An edge
    whose end junction has no other exit (a fringe dead end) ends every trip there.

    Returns:
        from_edge (P,), to_edge (P,), ratio (P,).
    """
    E = network.n_edges
    has_sig = np.zeros(E, dtype=bool)
    has_sig[network.mov_in_edge] = True
    by_from: dict[str, list[int]] = {}
    for i, j in enumerate(network.edge_from):
        by_from.setdefault(j, []).append(i)
    f, t, r = [], [], []
    for e in np.flatnonzero(~has_sig):
        succ = [
            e2
            for e2 in by_from.get(network.edge_to[e], [])
            if not (
                network.edge_to[e2] == network.edge_from[e]
                and network.edge_from[e2] == network.edge_to[e]
            )
        ]
        if not succ:
            continue
        lanes = network.edge_lanes[succ].astype(float)
        for e2, w in zip(succ, lanes / lanes.sum(), strict=True):
            f.append(e)
            t.append(e2)
            r.append(w)
    return np.array(f, dtype=np.int64), np.array(t, dtype=np.int64), np.array(r, dtype=float)


def passthrough_from_routes(network: Network, routes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass-through movements with ratios counted from routed vehicles (edge pairs of routes).

    For every edge without a signal movement, the share of the vehicles using it that continue onto
    each next edge; edges no routed vehicle uses keep the topology default of
    :func:`unsignalized_transitions`.

    Args:
        network: the Network.
        routes: a routes file or :class:`signals.demand.Routes`.

    Returns:
        from_edge (P,), to_edge (P,), ratio (P,).
    """
    from signals import demand

    r = routes if isinstance(routes, demand.Routes) else demand.read_routes(routes)
    E = network.n_edges
    to_net = np.array([network.edge_index(e) for e in r.edge_ids], dtype=np.int64)
    lengths = np.diff(r.route_start)
    rec = np.repeat(np.arange(r.n_records), lengths)
    edges = to_net[r.route_edge] if len(r.route_edge) else np.zeros(0, np.int64)
    w_all = r.weight[rec] if len(rec) else np.zeros(0)
    uses = np.bincount(edges, weights=w_all, minlength=E)
    same = rec[:-1] == rec[1:] if len(rec) > 1 else np.zeros(0, dtype=bool)
    a, b, w = edges[:-1][same], edges[1:][same], w_all[:-1][same]
    has_sig = np.zeros(E, dtype=bool)
    has_sig[network.mov_in_edge] = True
    keep = ~has_sig[a]
    codes, inv = np.unique(a[keep] * E + b[keep], return_inverse=True)
    cnt = np.bincount(inv, weights=w[keep], minlength=len(codes))
    f, t = codes // E, codes % E
    ratio = cnt / np.maximum(uses[f], 1e-12)
    df, dt_, dr = unsignalized_transitions(network)
    unused = uses[df] <= 0
    return (
        np.concatenate([f, df[unused]]).astype(np.int64),
        np.concatenate([t, dt_[unused]]).astype(np.int64),
        np.concatenate([ratio, dr[unused]]),
    )


FIFO_LANES = ("off", "signal", "all")


def fifo_lanes(
    network: Network, pass_from: np.ndarray, which: str = "signal"
) -> tuple[np.ndarray, ...]:
    """The FIFO lanes of ``which`` (see QueueParams.fifo_lanes) as CSR arrays over all Mt
    movements (signal movements, then pass-through movements from ``pass_from``):
    (lane_start (L+1,), lane_mov, mov_lane_start (Mt+1,), mov_lane).

    A signal movement uses the from-lanes of its links; with ``"all"`` the pass-through
    movements of a one-lane edge share that lane too (a pass-through's lane is not known on
    wider edges, so those stay independent).
    """
    if which not in FIFO_LANES:
        raise InputError("queue model", "fifo_lanes", " or ".join(FIFO_LANES), which)
    M = network.n_movements
    members: dict[object, set[int]] = {}
    for lane, m in zip(network.link_from_lane, network.link_movement, strict=True):
        if m >= 0 and which != "off":
            members.setdefault(lane, set()).add(int(m))
    for k, e in enumerate(np.asarray(pass_from, dtype=np.int64)):
        if network.edge_lanes[e] == 1 and which == "all":
            members.setdefault(("pass", int(e)), set()).add(M + k)
    lanes = [sorted(v) for v in members.values()]
    Mt = M + len(pass_from)
    lane_start = np.concatenate([[0], np.cumsum([len(v) for v in lanes])]).astype(np.int64)
    lane_mov = np.array([m for v in lanes for m in v], dtype=np.int64)
    lane_of = np.repeat(np.arange(len(lanes), dtype=np.int64), np.diff(lane_start))
    order = np.argsort(lane_mov, kind="stable")
    mov_lane_start = np.concatenate([[0], np.cumsum(np.bincount(lane_mov, minlength=Mt))]).astype(
        np.int64
    )
    return lane_start, lane_mov, mov_lane_start, lane_of[order]


def signal_sat_flow_vps(network: Network, turning: np.ndarray, params: QueueParams) -> np.ndarray:
    """(M,) saturation flow of each signal movement, veh/s, before ``sat_flow_factor``.

    With ``params.lane_groups`` the lane rule Webster designs with (:func:`signals.lanes.
    sat_flow_vph`: movements spread over their lanes by demand, a shared lane's saturation flow
    the harmonic mean of its turn factors, every movement on a lane at the lane's v/s), the
    turning ratios standing for the demand on each approach; else the network's per-movement
    values (a shared lane split equally).
    """
    if not params.lane_groups or network.n_movements == 0:
        return np.asarray(network.mov_sat_flow_vps, dtype=float)
    return sat_flow_vph(network, turning) / 3600.0


def route_inputs(
    network: Network, routes, *, begin_s: float = 0.0, end_s: float = 3600.0, bin_s: float = 900.0
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The model's demand inputs from a routes file or :class:`signals.demand.Routes`: turning
    ratios (M,), entry flows (E, n_bins) binned from ``begin_s``, pass-through movements."""
    from signals import demand

    r = routes if isinstance(routes, demand.Routes) else demand.read_routes(routes)
    return (
        demand.turning_ratios(network, r),
        demand.entry_flows(network, r, bin_s=bin_s, begin_s=begin_s, end_s=end_s),
        passthrough_from_routes(network, r),
    )


def _movement_yields(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """CSR (start (M+1,), idx) of the movements each movement must yield to (SUMO response)."""
    s, i, j = np.nonzero(network.link_prohibits)
    li = network.signal_link_start[s] + i
    lj = network.signal_link_start[s] + j
    mi = network.link_movement[li]
    mj = network.link_movement[lj]
    ok = (mi >= 0) & (mj >= 0) & (mi != mj)
    pairs = (
        np.unique(np.stack([mi[ok], mj[ok]], axis=1), axis=0)
        if ok.any()
        else np.zeros((0, 2), np.int64)
    )
    M = network.n_movements
    start = np.zeros(M + 1, dtype=np.int64)
    np.add.at(start, pairs[:, 0] + 1, 1)
    return np.cumsum(start), pairs[:, 1].astype(np.int64)


def build_topology(
    network: Network,
    turning: np.ndarray,
    entry_flow_vps: np.ndarray,
    *,
    bin_s: float | None = None,
    passthrough: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    params: QueueParams = QueueParams(),
    source: str = "queue model",
) -> Topology:
    """Check the inputs and build the flat :class:`Topology`.

    Args:
        network: the Network.
        turning: (M,) share of vehicles on each movement's in-edge that take the movement.
        entry_flow_vps: (E,) constant or (E, n_bins) veh/s departing on each edge per bin.
        bin_s: seconds per column of ``entry_flow_vps`` (required for 2-D; 1 for per-second).
        passthrough: (from_edge (P,), to_edge (P,), ratio (P,)) movements at junctions without a
            signal; default :func:`unsignalized_transitions`.
        params: model constants.
        source: names the input in error messages.
    """
    M, E = network.n_movements, network.n_edges
    turning = np.asarray(turning, dtype=float)
    if turning.shape != (M,):
        raise InputError(source, "turning", f"shape ({M},) (one ratio per movement)", turning.shape)
    if not np.all(np.isfinite(turning)) or (turning < 0).any() or (turning > 1 + 1e-9).any():
        raise InputError(
            source,
            "turning",
            "ratios in [0, 1]",
            f"min {turning.min():.3g}, max {turning.max():.3g}",
        )
    flows = np.asarray(entry_flow_vps, dtype=float)
    if flows.ndim == 1:
        flows = flows[:, None]
        bin_s = math.inf if bin_s is None else bin_s
    if flows.ndim != 2 or flows.shape[0] != E:
        raise InputError(source, "entry_flow_vps", f"shape ({E},) or ({E}, n_bins)", flows.shape)
    if not np.all(np.isfinite(flows)) or (flows < 0).any():
        raise InputError(
            source, "entry_flow_vps", "non-negative finite veh/s", f"min {np.nanmin(flows):.3g}"
        )
    if bin_s is None or not bin_s > 0:
        raise InputError(source, "bin_s", "a positive bin length for 2-D entry flows", bin_s)

    if passthrough is None:
        passthrough = unsignalized_transitions(network)
    pf, pt, pr = (np.asarray(a) for a in passthrough)
    pf, pt, pr = pf.astype(np.int64), pt.astype(np.int64), pr.astype(float)
    if (pr < 0).any() or not np.all(np.isfinite(pr)):
        raise InputError(source, "passthrough ratio", "ratios in [0, 1]", f"min {pr.min():.3g}")

    mov_in = np.concatenate([network.mov_in_edge, pf])
    mov_out = np.concatenate([network.mov_out_edge, pt])
    mov_sig = np.concatenate([network.mov_signal, np.full(len(pf), -1, dtype=np.int64)])
    sat = (
        np.concatenate(
            [
                signal_sat_flow_vps(network, turning, params),
                network.edge_lanes[pf] * params.pass_sat_flow_vphpl / 3600.0,
            ]
        )
        * params.sat_flow_factor
    )
    ratio = np.concatenate([turning, pr])

    per_edge = np.bincount(mov_in, weights=ratio, minlength=E)
    over = per_edge > 1 + 1e-6
    if over.any():
        e = int(np.flatnonzero(over)[0])
        raise InputError(
            source,
            f"turning ratios of edge {network.edge_ids[e]}",
            "a sum <= 1",
            f"{per_edge[e]:.4f}",
        )
    exit_share = np.clip(1.0 - per_edge, 0.0, 1.0)

    order = np.argsort(mov_in, kind="stable")
    edge_mov_start = np.concatenate([[0], np.cumsum(np.bincount(mov_in, minlength=E))])

    speed = np.maximum(network.edge_speed_mps, 0.1)
    travel = np.maximum(1, np.rint(network.edge_length_m / speed)).astype(np.int64)
    ring_start = np.concatenate([[0], np.cumsum(travel)]).astype(np.int64)

    ys, yi = _movement_yields(network)
    P = len(pf)
    ys = np.concatenate([ys, np.full(P, ys[-1], dtype=np.int64)])

    approach = np.unique(network.mov_in_edge)
    edge_app = np.full(E, -1, dtype=np.int64)
    edge_app[approach] = np.arange(len(approach))

    src = np.flatnonzero(flows.sum(axis=1) > 0)
    bin_steps = int(min(round(bin_s), 2**40)) if math.isfinite(bin_s) else 2**40
    lane_start, lane_mov, mov_lane_start, mov_lane = fifo_lanes(network, pf, params.fifo_lanes)
    groups = lane_groups(network, ratio[:M])  # turning ratios: flows in proportion per approach
    return Topology(
        n_signals=network.n_signals,
        n_edges=E,
        n_mov=M,
        mov_in=mov_in.astype(np.int64),
        mov_out=mov_out.astype(np.int64),
        mov_sig=mov_sig.astype(np.int64),
        sat_vps=sat.astype(float),
        ratio=ratio,
        sig_mov_start=np.asarray(network.signal_mov_start, dtype=np.int64),
        edge_mov_start=edge_mov_start.astype(np.int64),
        edge_mov=order.astype(np.int64),
        exit_share=exit_share,
        storage_veh=np.maximum(np.asarray(network.edge_storage_veh, dtype=float), 1.0),
        travel_steps=travel,
        ring_start=ring_start,
        yield_start=ys,
        yield_idx=yi,
        approach_edges=approach.astype(np.int64),
        edge_app=edge_app,
        src_edges=src.astype(np.int64),
        src_rates_vps=np.ascontiguousarray(flows[src]),
        bin_steps=max(1, bin_steps),
        pass_from=pf,
        pass_to=pt,
        lane_start=lane_start,
        lane_mov=lane_mov,
        mov_lane_start=mov_lane_start,
        mov_lane=mov_lane,
        lane_groups=groups,
        grp_mov=groups.mov,
        grp_idx=groups.group,
        grp_w=groups.weight,
        grp_app=edge_app[[network.edge_index(e) for e in groups.edges]].astype(np.int64),
    )
