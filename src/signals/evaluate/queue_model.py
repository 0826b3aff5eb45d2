"""Vectorized store-and-forward queue model: the hot path that scores batches of signal plans.

The model is a fluid (or, with demand seeds, Poisson) point-queue network at 1 s resolution:

* vehicles enter an edge (from the demand, or discharged by an upstream movement), travel it at
  free-flow time (a per-edge delay line), and at the stop line split over the edge's movements by
  the turning ratios (the remainder ends its trip there and leaves the network);
* each movement keeps a vertical queue that discharges at saturation flow during *effective* green
  (HCM 6th ed., Ch. 19: g = G + Y + AR - l1 - l2, i.e. green starts ``startup_lost_s`` after the
  signal turns green and ends ``yellow_used_s`` into the yellow);
* permitted (yielding) movements get a share of their saturation flow that falls with the flow of
  the movements they yield to (HCM 6th ed., Ch. 31, permitted left-turn saturation flow);
* discharge is limited by the space left on the downstream edge (finite storage, spillback), and
  insertion of new vehicles by the space left on their first edge (SUMO's departDelay); a shared
  approach lane is first-in first-out, so a movement blocked downstream holds up its lane-mates
  (Daganzo 1995 FIFO diverge, :func:`fifo_factor`);
* edges that end at a junction without a traffic light pass their vehicles on ("pass-through"
  movements, always green), so split edges (turn bays) and priority junctions keep the flow.

Delay is time in network minus free-flow time: the area under every queue (stop-line queues and
insertion backlog), plus optional calibration terms (acceleration/deceleration per stop, a share
of the free-flow time lost to driver imperfection). Conservation holds exactly:
vehicles in = vehicles out + vehicles inside.

Everything is batch-first: a batch of B plans (times demand seeds) is evaluated together; the
time loop has no Python loop over signals, vehicles or plans. This module is the readable numpy
reference; :mod:`signals.evaluate.queue_kernel` is the same model compiled with numba, and the
tests check that both agree. No SUMO import here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from signals.errors import InputError
from signals.lanes import LaneGroups, lane_groups, sat_flow_vph
from signals.network import BASE_SAT_FLOW_VPHPL, Network

# Steps of the demand generator per draw; fixed so the Poisson stream of a seed never depends on
# how the horizon is cut into chunks.
CHUNK_STEPS = 300


@dataclass(frozen=True)
class QueueParams:
    """Model constants (defaults: HCM values; ``CALIBRATED`` holds the SUMO-calibrated set).

    Attributes:
        sat_flow_factor: multiplies every movement's saturation flow (network.mov_sat_flow_vps).
        startup_lost_s: l1, start-up lost time at the start of green (HCM 6th ed. Ch. 19: 2 s).
        yellow_used_s: e, extension of effective green into the yellow (HCM 6th ed. Ch. 19: 2 s).
        permissive: reduce the capacity of yielding movements by the flow they yield to.
        critical_headway_s: t_cg of a permitted left turn (HCM 6th ed. Ch. 31: 4.5 s).
        follow_up_headway_s: t_fh of a permitted left turn (HCM 6th ed. Ch. 31: 2.5 s).
        sneakers_per_green: vehicles of a yielding movement's queue that clear when its green
            ends while a foe it yields to is discharging ("sneakers", waiting inside the junction
            for the opposing flow to stop: HCM 2000 Ch. 16 App. C, f_min = 2(1 + P_L)/g, two per
            cycle; in SUMO the left turners waiting at the internal junction).
        stop_penalty_s: delay added per stop for decelerating and accelerating (Akcelik 1981,
            ARR 123; for SUMO's default car from 50 km/h: v/2a + v/2b = 13.9/5.2 + 13.9/9 = 4.2 s).
        freeflow_loss_frac: share of the free-flow travel time lost even without queues (SUMO's
            driver imperfection sigma and speed deviation), calibrated against SUMO.
        pass_sat_flow_vphpl: saturation flow per lane of pass-through movements (no signal).
        lane_groups: movements that share approach lanes share their saturation flow in
            proportion to their demand (the lane rule of Webster's design, :mod:`signals.lanes`;
            HCM 6th ed. Ch. 19 and 31), so every movement on a lane runs at the lane's degree of
            saturation; False splits each shared lane equally among its movements
            (``network.mov_sat_flow_vps`` as it is).
        fifo_lanes: which shared lanes are first-in first-out under spillback (a vehicle that
            cannot enter its full downstream edge holds up its lane, :func:`fifo_factor`):
            ``"signal"`` the approach lanes of signals, ``"all"`` also the one-lane edges at
            junctions without a signal, ``"off"`` none (each movement queues on its own).
    """

    sat_flow_factor: float = 1.0
    startup_lost_s: float = 2.0
    yellow_used_s: float = 2.0
    permissive: bool = True
    critical_headway_s: float = 4.5
    follow_up_headway_s: float = 2.5
    sneakers_per_green: float = 2.0
    stop_penalty_s: float = 0.0
    freeflow_loss_frac: float = 0.0
    pass_sat_flow_vphpl: float = BASE_SAT_FLOW_VPHPL
    lane_groups: bool = True
    fifo_lanes: str = "signal"

    def replace(self, **kw) -> QueueParams:
        return replace(self, **kw)


# Calibrated against SUMO micro 1.28 (default car, sigma 0.5) by ``signals bench calibration``
# on the tuning seeds 1 and 2 only, on two networks at once (the pilot zone and RESCO cologne8),
# over 900 s and the full hour, on calibration plans kept apart from the plans ``signals bench
# accuracy`` reports on; the record they came from (data digests, horizons, plans, grid, chosen
# values) is ``queue_calibration.json`` beside this file, and a test holds the two equal. In this
# model (lane groups, sneakers) SUMO's cars discharge at about 0.6 x the HCM lane saturation flow
# of :mod:`signals.lanes`, lose about 2.0 s per stop (Akcelik's estimate for SUMO's default car
# from 50 km/h: 4.2 s) and about 19 % of their free-flow time besides; no FIFO lanes fit better
# than FIFO approach lanes or more. The default of QueueModel.
CALIBRATED = QueueParams(
    sat_flow_factor=0.6, stop_penalty_s=1.992, freeflow_loss_frac=0.1861, fifo_lanes="off"
)


# --------------------------------------------------------------------------------- topology
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


# ------------------------------------------------------------------------------- plan tables
@dataclass(frozen=True, eq=False)
class PlanTables:
    """Per-plan timing in the form the time loop reads (B plans, S signals, K stages, M movements).

    Each stage k of a signal is cut into three segments of its cycle:
    [start, start + l1) where only movements continuing green from the previous stage discharge,
    [start + l1, green_end + e) where every movement green in the stage discharges, and
    [green_end + e, stage_end) (rest of yellow and all-red) where only movements staying green
    into the next stage discharge (HCM 6th ed. Ch. 19 effective green).

    Attributes:
        cycle_s, offset_s: (B, S).
        n_stages: (B, S) int.
        bounds_s: (B, S, K, 4) segment boundaries [start, start+l1, green_end+e, stage_end].
        shares: (B, K, M, 3) green share of movement m in the three segments of stage k.
    """

    cycle_s: np.ndarray
    offset_s: np.ndarray
    n_stages: np.ndarray
    bounds_s: np.ndarray
    shares: np.ndarray

    @property
    def batch(self) -> int:
        return self.cycle_s.shape[0]

    def take(self, rows: np.ndarray) -> PlanTables:
        return PlanTables(
            *(np.ascontiguousarray(getattr(self, f.name)[rows]) for f in fields(self))
        )


def _batched(x, ndim: int) -> np.ndarray:
    a = np.asarray(x)
    return a[None] if a.ndim == ndim else a


def plan_tables(plans, network: Network, params: QueueParams = QueueParams()) -> PlanTables:
    """Turn PlanArrays (``PlanSet.to_arrays``, optionally stacked to a leading batch axis B) into
    :class:`PlanTables`.

    ``plans`` needs cycle_s (S,), offset_s (S,), n_stages (S,), stage_end_s (S, K), green_end_s
    (S, K), mov_green (K, M), mov_yellow (K, M) and optionally mov_green_change (K, M), each with
    an optional leading axis B. Signal s is at cycle position (t - offset_s) mod cycle_s (SUMO:
    "a positive offset delays all phases").
    """
    S, M = network.n_signals, network.n_movements
    cyc = _batched(plans.cycle_s, 1).astype(float)
    off = _batched(plans.offset_s, 1).astype(float)
    nst = _batched(plans.n_stages, 1).astype(np.int64)
    se = _batched(plans.stage_end_s, 2).astype(float)
    ge = _batched(plans.green_end_s, 2).astype(float)
    g = _batched(plans.mov_green, 2).astype(float)
    y = _batched(plans.mov_yellow, 2).astype(float)
    B = cyc.shape[0]
    if cyc.shape != (B, S) or se.shape[:2] != (B, S) or g.shape[0] != B or g.shape[2] != M:
        raise InputError(
            "plans",
            "PlanArrays shape",
            f"cycle_s (B, {S}) and mov_green (B, K, {M})",
            f"{cyc.shape}, {g.shape}",
        )
    if (cyc <= 0).any():
        raise InputError("plans", "cycle_s", "positive cycles", float(cyc.min()))
    K = se.shape[2]
    # stage starts: end of the previous stage
    ss = np.concatenate([np.zeros((B, S, 1)), se[:, :, :-1]], axis=2)
    x = np.minimum(ge + params.yellow_used_s, se)
    a = np.minimum(ss + params.startup_lost_s, x)
    bounds = np.stack([ss, a, x, se], axis=-1)
    # links that stay green through the stage's yellow and all-red into the next stage
    if getattr(plans, "mov_green_change", None) is not None:
        cont = _batched(plans.mov_green_change, 2).astype(float)
    else:
        cont = np.clip(g - y, 0.0, None)
    nst_m = nst[:, network.mov_signal]  # (B, M)
    prev = (np.arange(K)[None, :, None] - 1) % np.maximum(nst_m[:, None, :], 1)
    cont_prev = np.minimum(np.take_along_axis(cont, prev, axis=1), g)
    shares = np.stack([cont_prev, g, np.minimum(cont, g)], axis=-1)
    return PlanTables(
        cycle_s=np.ascontiguousarray(cyc),
        offset_s=np.ascontiguousarray(off % cyc),
        n_stages=np.ascontiguousarray(nst),
        bounds_s=np.ascontiguousarray(bounds),
        shares=np.ascontiguousarray(shares),
    )


def green_fraction(tables: PlanTables, topo: Topology) -> np.ndarray:
    """(B, Mt) effective green share of the cycle per movement (g/C of HCM 6th ed. Eq. 19-16)."""
    b = tables.bounds_s  # (B, S, K, 4)
    seg = np.diff(b, axis=-1)  # (B, S, K, 3) segment lengths
    M = topo.n_mov
    sig = topo.mov_sig[:M]
    valid = np.arange(b.shape[2])[None, None, :] < tables.n_stages[..., None]  # (B, S, K)
    seg = seg * valid[..., None]
    # (B, K, M, 3) segment lengths of each movement's signal times its shares
    g = (np.moveaxis(seg[:, sig], 1, 2) * tables.shares).sum(axis=(1, 3))  # (B, M)
    out = np.ones((tables.batch, topo.n_mov_total))
    out[:, :M] = g / tables.cycle_s[:, sig]
    return out


def _overlap(lo, hi, a, b):
    return np.maximum(0.0, np.minimum(hi, b) - np.maximum(lo, a))


def effective_green_np(tables: PlanTables, topo: Topology, t: float, dt: float) -> np.ndarray:
    """(B, Mt) effective green share of each movement over [t, t + dt) (numpy reference)."""
    B = tables.batch
    M = topo.n_mov
    tau = np.mod(t - tables.offset_s, tables.cycle_s)  # (B, S) position in cycle (SUMO offset)
    se = tables.bounds_s[..., 3]  # (B, S, K)
    k = (se <= tau[..., None]).sum(-1)
    k = np.minimum(k, tables.n_stages - 1)
    sig = topo.mov_sig[:M]
    eff = np.ones((B, topo.n_mov_total))
    acc = np.zeros((B, M))
    lo, hi = tau, tau + dt
    for part in range(2):  # current stage and, if the step crosses its end, the next one
        bnd = np.take_along_axis(tables.bounds_s, k[..., None, None], axis=2)[:, :, 0, :]  # (B,S,4)
        o = np.stack([_overlap(lo, hi, bnd[..., i], bnd[..., i + 1]) for i in range(3)], -1)
        sh = np.take_along_axis(tables.shares, k[:, sig][:, None, :, None], axis=1)[:, 0]  # (B,M,3)
        acc += (o[:, sig, :] * sh).sum(-1)
        if part == 0:
            crosses = hi > bnd[..., 3]
            wrap = crosses & (k + 1 >= tables.n_stages)
            k = np.where(crosses, np.where(wrap, 0, k + 1), k)
            shift = np.where(wrap, tables.cycle_s, 0.0)
            lo = np.where(crosses, bnd[..., 3], np.inf) - shift
            hi = np.where(crosses, hi, -np.inf) - shift
    eff[:, :M] = acc / dt
    return eff


# ------------------------------------------------------------------------------------ state
@dataclass(eq=False)
class State:
    """Model state of B independent copies (batch-first)."""

    t: int
    q: np.ndarray  # (B, Mt) stop-line queue per movement
    prev_dis: np.ndarray  # (B, Mt) discharge in the previous step
    prev_eff: np.ndarray  # (B, Mt) effective green share in the previous step (yielding ones)
    occ: np.ndarray  # (B, E) vehicles on the edge (moving + queued)
    moving: np.ndarray  # (B, E) vehicles in the delay line
    ring: np.ndarray  # (B, R) delay lines, CSR by edge
    backlog: np.ndarray  # (B, Es) vehicles waiting to be inserted
    acc_m: np.ndarray  # (B, 3, Mt) delay_vs, stops, discharged (arrivals = discharged + queue)
    acc_r: np.ndarray  # (B, 8) see ROW_FIELDS
    qmax: np.ndarray  # (B, A) max approach queue over the samples
    samples: np.ndarray  # (B, n_samples, G) float32 lane-group queue samples
    sample_steps: int
    green_age: np.ndarray  # (B, Mt) online: seconds each movement has been green
    yellow_age: np.ndarray  # (B, Mt) online: seconds each movement has been yellow
    k: dict = field(default_factory=dict)  # compiled kernel's own working arrays

    @classmethod
    def zeros(cls, B: int, topo: Topology, n_samples: int, sample_steps: int) -> State:
        Mt, E, A, Es = topo.n_mov_total, topo.n_edges, len(topo.approach_edges), len(topo.src_edges)
        z = np.zeros
        return cls(
            t=0,
            q=z((B, Mt)),
            prev_dis=z((B, Mt)),
            prev_eff=z((B, Mt)),
            occ=z((B, E)),
            moving=z((B, E)),
            ring=z((B, topo.ring_size)),
            backlog=z((B, Es)),
            acc_m=z((B, 3, Mt)),
            acc_r=z((B, len(ROW_FIELDS))),
            qmax=z((B, A)),
            samples=z((B, n_samples, len(topo.grp_app)), dtype=np.float32),
            sample_steps=sample_steps,
            # online: at t = 0 every movement counts as green (or yellow) for long already
            green_age=np.full((B, Mt), 1e6),
            yellow_age=np.full((B, Mt), 1e6),
        )


ROW_FIELDS = (
    "demanded",  # vehicles whose departure time has come (inserted or waiting)
    "inserted",  # vehicles that entered the network
    "exited",  # vehicles that finished their trip
    "backlog_delay_vs",  # insertion waiting (SUMO departDelay)
    "moving_vs",  # vehicle-seconds travelling at free flow
    "queue_delay_vs",  # vehicle-seconds in stop-line queues
    "stops",
    "pass_delay_vs",  # part of queue_delay_vs in pass-through movements
)
R_DEM, R_INS, R_EXIT, R_BDEL, R_MOV, R_QDEL, R_STOP, R_PDEL = range(len(ROW_FIELDS))
A_DEL, A_STOP, A_DIS = range(3)


def approach_samples(group_samples: np.ndarray, group_approach: np.ndarray, A: int) -> np.ndarray:
    """(N, T, A) approach queues from (N, T, G) lane-group queues (a group lies on one approach
    and a movement's shares over its groups sum to 1, so this is the approach's total).

    :func:`signals.lanes.lane_groups` lists an approach's groups next to each other, so one
    ``np.add.reduceat`` pass over the samples does it (float32, as sampled)."""
    N, T, G = group_samples.shape
    ga = np.asarray(group_approach)
    out = np.zeros((N, T, A), dtype=group_samples.dtype)
    if G == 0:
        return out
    starts = np.flatnonzero(np.r_[True, ga[1:] != ga[:-1]])
    if len(np.unique(ga)) != len(starts):  # pragma: no cover - lane_groups keeps them together
        raise ValueError("lane groups of one approach are not contiguous")
    out[..., ga[starts]] = np.add.reduceat(group_samples, starts, axis=-1)
    return out


def _segsum(values: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) sums of ``values`` (B, k) over groups ``idx`` (k,) in [0, n) (rows independent)."""
    B, k = values.shape
    flat = (idx[None, :] + n * np.arange(B)[:, None]).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=B * n).reshape(B, n)


def permitted_factor(v_opp_vps: np.ndarray, params: QueueParams) -> np.ndarray:
    """Share of saturation flow left to a yielding movement facing ``v_opp_vps`` veh/s.

    HCM 6th ed., Ch. 31 (permitted left-turn saturation flow):
    s_p = v_o exp(-v_o t_cg) / (1 - exp(-v_o t_fh)); normalized by its limit 1/t_fh at v_o = 0
    so an unopposed movement keeps its own saturation flow.
    """
    grid, table = permitted_table(params)
    return np.interp(np.asarray(v_opp_vps, dtype=float), grid, table)


# Tabulated on 0 .. 4 veh/s in steps of 0.002 veh/s and interpolated linearly (the compiled
# kernel reads the same table instead of calling exp per movement and step).
PERMIT_STEP_VPS = 0.002
PERMIT_N = 2001


def permitted_table(params: QueueParams) -> tuple[np.ndarray, np.ndarray]:
    """(grid (n,), factor (n,)) of :func:`permitted_factor` for these params."""
    key = (params.follow_up_headway_s, params.critical_headway_s)
    hit = _PERMIT_CACHE.get(key)
    if hit is None:
        v = np.arange(PERMIT_N) * PERMIT_STEP_VPS
        tf, tc = key
        with np.errstate(invalid="ignore", divide="ignore"):
            f = v * tf * np.exp(-v * tc) / -np.expm1(-v * tf)
        f[0] = 1.0
        hit = _PERMIT_CACHE[key] = (v, f)
    return hit


_PERMIT_CACHE: dict = {}


def fifo_factor(s_m: np.ndarray, want: np.ndarray, topo: Topology) -> np.ndarray:
    """(B, Mt) share of what each movement wants that leaves, with FIFO lanes.

    ``s_m`` is each movement's own spillback share (the space downstream over what all want
    to send there). A shared lane is first-in first-out: a vehicle that cannot enter its full
    downstream edge holds up the lane behind it, so a lane passes the lowest share of the
    movements queued on it (Daganzo 1995, The cell transmission model part II, FIFO diverge),
    and a movement on several lanes spreads over them evenly (the mean of its lanes' shares).
    """
    lm = topo.lane_mov
    sv = np.where(want[:, lm] > 0, s_m[:, lm], 1.0)
    lane_min = np.minimum.reduceat(sv, topo.lane_start[:-1], axis=1)
    n_l = np.diff(topo.mov_lane_start)
    has = n_l > 0
    tot = np.add.reduceat(lane_min[:, topo.mov_lane], topo.mov_lane_start[:-1][has], axis=1)
    out = s_m.copy()
    out[:, has] = tot / n_l[has]
    return out


def step_np(
    st: State, topo: Topology, eff: np.ndarray, demand: np.ndarray, params: QueueParams
) -> None:
    """Advance every copy one 1 s step in place (numpy reference of the compiled kernel).

    Args:
        st: state, modified in place.
        topo: topology.
        eff: (B, Mt) effective green share of each movement during the step.
        demand: (B, Es) vehicles departing on each source edge during the step.
        params: model constants.
    """
    dt = 1.0
    t = st.t
    B = st.q.shape[0]
    E = topo.n_edges
    # 1. arrivals at the stop lines: the slot of each delay line written travel_steps ago
    slot = topo.ring_start[:-1] + t % topo.travel_steps  # (E,)
    arr = st.ring[:, slot]
    st.ring[:, slot] = 0.0
    st.moving -= arr
    gone = arr * topo.exit_share
    st.occ -= gone
    st.acc_r[:, R_EXIT] += gone.sum(1)
    add = arr[:, topo.mov_in] * topo.ratio  # (B, Mt)

    # 2. capacity in this step (saturation flow x effective green, reduced when yielding)
    cap = topo.sat_vps * eff * dt
    if params.permissive and len(topo.yield_idx):
        owner = np.repeat(np.arange(topo.n_mov_total), np.diff(topo.yield_start))
        v_opp = _segsum(st.prev_dis[:, topo.yield_idx], owner, topo.n_mov_total) / dt
        has = np.diff(topo.yield_start) > 0
        cap = np.where(has, cap * permitted_factor(v_opp, params), cap)
        # sneakers: when a yielding movement's green ends while a foe is still discharging, the
        # vehicles waiting inside the junction clear (HCM 2000 Ch. 16 App. C: two per cycle)
        drop = np.maximum(st.prev_eff - eff, 0.0)
        sneak = has & (v_opp > 0.0) & (drop > 0.0)
        cap = np.where(sneak, cap + params.sneakers_per_green * drop, cap)
        st.prev_eff = np.where(has, eff, 0.0)
    qn = st.q + add
    want = np.minimum(qn, cap)

    # 3. spillback: a movement sends at most its share of the space left downstream
    space = np.maximum(topo.storage_veh - st.occ, 0.0)  # (B, E), at the start of the step
    out = topo.mov_out
    has_out = out >= 0
    din = _segsum(want[:, has_out], out[has_out], E)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = np.where(din > space, space / din, 1.0)
    s_m = np.ones_like(want)
    s_m[:, has_out] = scale[:, out[has_out]]
    if len(topo.lane_mov):
        s_m = fifo_factor(s_m, want, topo)
    dis = want * s_m
    q0 = qn - add  # queue before this step's arrivals (computed as the kernel does)
    q1 = qn - dis
    st.q = q1
    inflow = _segsum(dis[:, has_out], out[has_out], E)
    st.occ -= _segsum(dis, topo.mov_in, E)
    st.occ += inflow
    st.acc_r[:, R_EXIT] += dis[:, ~has_out].sum(1)

    # statistics: trapezoidal queue area (exact for the linear queue growth of D/D/1),
    # stops = arrivals that could not pass in the step they arrived (Akcelik 1981)
    qd = 0.5 * (q0 + q1) * dt
    st.acc_m[:, A_DEL] += qd
    st.acc_m[:, A_STOP] += add - np.clip(dis - q0, 0.0, add)
    st.acc_m[:, A_DIS] += dis
    st.acc_r[:, R_QDEL] += qd.sum(1)
    st.acc_r[:, R_PDEL] += qd[:, topo.n_mov :].sum(1)
    st.acc_r[:, R_STOP] += (add - np.clip(dis - q0, 0.0, add)).sum(1)
    st.prev_dis = dis

    # 4. insertion on source edges, into the space left after this step's moves
    src = topo.src_edges
    b0 = st.backlog
    bl = b0 + demand
    room = np.maximum(topo.storage_veh[src] - st.occ[:, src], 0.0)
    ins = np.minimum(bl, room)
    st.backlog = bl - ins
    st.acc_r[:, R_DEM] += demand.sum(1)
    st.acc_r[:, R_INS] += ins.sum(1)
    st.acc_r[:, R_BDEL] += (0.5 * (b0 + st.backlog) * dt).sum(1)
    inflow[:, src] += ins
    st.occ[:, src] += ins

    # 5. vehicles entering edges now arrive at the stop line travel_steps later
    st.ring[:, slot] = inflow
    st.moving += inflow
    st.acc_r[:, R_MOV] += st.moving.sum(1) * dt

    # approach queues (their max) and lane-group queues (the samples), every sample_steps (as
    # SUMO runs sample halting vehicles)
    st.t = t + 1
    if st.sample_steps > 0 and st.t % st.sample_steps == 0:
        aq = _segsum(
            q1[:, : topo.n_mov], topo.edge_app[topo.mov_in[: topo.n_mov]], len(topo.approach_edges)
        )
        np.maximum(st.qmax, aq, out=st.qmax)
        i = st.t // st.sample_steps - 1
        if i < st.samples.shape[1]:
            g = q1[:, topo.grp_mov] * topo.grp_w
            st.samples[:, i, :] = _segsum(g, topo.grp_idx, len(topo.grp_app))
    del B


# ------------------------------------------------------------------------------------ demand
class DemandStream:
    """Vehicles departing on each source edge per step: fluid rates or Poisson draws per seed.

    With seeds, row r of the batch uses the stream of ``seeds[row_seed[r]]`` (common random
    numbers: every plan sees the same arrivals for a given seed). Same seed, same numbers.
    """

    def __init__(self, topo: Topology, seeds: Sequence[int] | None, row_seed: np.ndarray):
        self.topo = topo
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self.row_seed = np.asarray(row_seed, dtype=np.int64)
        self.rngs = None if seeds is None else [np.random.default_rng(s) for s in self.seeds]
        self._buf: np.ndarray | None = None
        self._buf_t0 = 0
        self._rates_t: np.ndarray | None = None

    def rates(self, t0: int, n: int) -> np.ndarray:
        """(n, Es) veh/s for steps t0 .. t0+n-1 (0 after the last bin)."""
        if self._rates_t is None:  # (n_bins + 1, Es): bins as rows, then a row of zeros
            r = self.topo.src_rates_vps
            self._rates_t = np.ascontiguousarray(np.vstack([r.T, np.zeros((1, r.shape[0]))]))
        nb = self._rates_t.shape[0] - 1
        bins = np.minimum((t0 + np.arange(n)) // self.topo.bin_steps, nb)
        return self._rates_t[bins]

    def chunk(self, t0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Demand for steps [t0, t0+n): (slabs, row_index) with slabs (n_slabs, n, Es)."""
        lam = self.rates(t0, n)
        if self.rngs is None:
            return lam[None], np.zeros(len(self.row_seed), dtype=np.int64)
        return self._poisson(t0, n, lam), self.row_seed

    def _poisson(self, t0: int, n: int, lam: np.ndarray) -> np.ndarray:
        # draw whole CHUNK_STEPS blocks in order, so the stream never depends on n
        need_end = t0 + n
        while self._buf is None or self._buf_t0 + self._buf.shape[1] < need_end:
            b0 = 0 if self._buf is None else self._buf_t0 + self._buf.shape[1]
            block_lam = self.rates(b0, CHUNK_STEPS)
            block = np.stack([rng.poisson(block_lam).astype(float) for rng in self.rngs])
            if self._buf is None:
                self._buf, self._buf_t0 = block, b0
            else:
                keep = max(0, t0 - self._buf_t0)
                self._buf = np.concatenate([self._buf[:, keep:], block], axis=1)
                self._buf_t0 += keep
        i = t0 - self._buf_t0
        return self._buf[:, i : i + n]


# ------------------------------------------------------------------------------------ result
@dataclass(eq=False)
class QueueResult:
    """Metrics of N evaluated rows (plans x seeds), batch-first.

    Attributes:
        plan_index, seed: (N,) which plan and demand seed each row is (seed -1: fluid demand).
        horizon_s: simulated seconds.
        row: dict of (N,) totals (ROW_FIELDS plus n_inside).
        avg_delay_s: (N,) delay per vehicle (time in network minus free-flow time, counting
            vehicles still inside and those not yet inserted: the RESCO definition).
        avg_stops: (N,) stops per vehicle.
        throughput_veh: (N,) finished trips.
        mov_delay_vs, mov_arrivals, mov_stops, mov_discharged, mov_capacity_veh: (N, M) signal
            movements.
        signal_delay_s: (N, S) control delay per vehicle arriving at the signal.
        signal_vc: (N, S) highest movement volume/capacity ratio at the signal.
        approach_edges: (A,) edge indices; approach_queue_mean/max/p95_veh: (N, A).
    """

    network: Network
    params: QueueParams
    plan_index: np.ndarray
    seed: np.ndarray
    horizon_s: float
    row: dict[str, np.ndarray]
    mov_delay_vs: np.ndarray
    mov_arrivals: np.ndarray
    mov_stops: np.ndarray
    mov_discharged: np.ndarray
    mov_capacity_veh: np.ndarray
    approach_edges: np.ndarray
    approach_queue_mean_veh: np.ndarray
    approach_queue_max_veh: np.ndarray
    approach_queue_p95_veh: np.ndarray
    queue_samples: np.ndarray | None = None  # (N, n_samples, G) lane-group queues, float32
    lane_groups: LaneGroups | None = None  # the groups of queue_samples
    group_approach: np.ndarray | None = None  # (G,) approach index of each group
    travel_s: np.ndarray | None = None  # (E,) free-flow time of each edge, s (1 s steps)
    extra: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.plan_index)

    @property
    def n_vehicles(self) -> np.ndarray:
        return self.row["demanded"]

    @property
    def total_delay_vs(self) -> np.ndarray:
        p = self.params
        r = self.row
        return (
            r["queue_delay_vs"]
            + r["backlog_delay_vs"]
            + p.stop_penalty_s * r["stops"]
            + p.freeflow_loss_frac * r["moving_vs"]
        )

    @property
    def avg_delay_s(self) -> np.ndarray:
        return self.total_delay_vs / np.maximum(self.n_vehicles, 1e-9)

    @property
    def avg_stops(self) -> np.ndarray:
        return self.row["stops"] / np.maximum(self.n_vehicles, 1e-9)

    @property
    def throughput_veh(self) -> np.ndarray:
        return self.row["exited"]

    @property
    def signal_arrivals(self) -> np.ndarray:
        return _segsum(self.mov_arrivals, self.network.mov_signal, self.network.n_signals)

    @property
    def approach_signal(self) -> np.ndarray:
        """(A,) signal index of each approach edge."""
        net = self.network
        first = np.full(net.n_edges, -1, dtype=np.int64)
        first[net.mov_in_edge[::-1]] = net.mov_signal[::-1]
        return first[self.approach_edges]

    def _per_approach(self, x: np.ndarray) -> np.ndarray:
        net = self.network
        app = np.searchsorted(self.approach_edges, net.mov_in_edge)
        return _segsum(x, app, len(self.approach_edges))

    @property
    def approach_arrivals(self) -> np.ndarray:
        """(N, A) vehicles that reached each approach's stop line."""
        return self._per_approach(self.mov_arrivals)

    @property
    def approach_capacity_vps(self) -> np.ndarray:
        """(N, A) saturation flow x effective green share, summed over the approach's movements."""
        return self._per_approach(self.mov_capacity_veh) / max(self.horizon_s, 1e-9)

    @property
    def approach_moving_vs(self) -> np.ndarray:
        """(N, A) vehicle-seconds spent moving on each approach edge: the vehicles that reached
        its stop line times the edge's free-flow time (the per-approach part of the row's
        ``moving_vs``; vehicles still on their way at the horizon are left out)."""
        if self.travel_s is None:
            return np.zeros_like(self.approach_arrivals)
        return self.approach_arrivals * self.travel_s[self.approach_edges]

    @property
    def approach_time_loss_s(self) -> np.ndarray:
        """(N, A) time lost on each approach, the model's counterpart of SUMO's timeLoss on the
        approach edge and the same definition as the network delay (:attr:`total_delay_vs`):
        queueing, the stop penalty per stop and the free-flow loss share of the time moving."""
        p = self.params
        return (
            self._per_approach(self.mov_delay_vs + p.stop_penalty_s * self.mov_stops)
            + p.freeflow_loss_frac * self.approach_moving_vs
        )

    @property
    def signal_delay_s(self) -> np.ndarray:
        """(N, S) control delay: approach time loss per vehicle arriving at the signal
        (the definition of ``control_delay_s`` in :mod:`signals.evaluate.metrics`)."""
        S = self.network.n_signals
        sig = self.approach_signal
        tot = _segsum(self.approach_time_loss_s, sig, S)
        n = _segsum(self.approach_arrivals, sig, S)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, tot / np.maximum(n, 1e-12), np.nan)

    @property
    def signal_vc(self) -> np.ndarray:
        """(N, S) highest movement v/c at each signal (arrivals over capacity offered)."""
        net = self.network
        x = self.mov_arrivals / np.maximum(self.mov_capacity_veh, 1e-9)
        out = np.zeros((self.n_rows, net.n_signals))
        np.maximum.at(out.T, net.mov_signal, x.T)
        return out

    def to_frame(
        self,
        *,
        run_id: str | Sequence[str] = "",
        scenario: str = "",
        controller: str | Sequence[str] = "queue_model",
    ):
        """Long table (run_id, scenario, controller, seed, scope, metric, value, unit).

        Scopes: "network", "signal:<id>", "approach:<edge id>" (docs/architecture.md, "Metrics").
        ``run_id`` and ``controller`` may be one string or one per row.
        """
        return _to_frame(self, run_id=run_id, scenario=scenario, controller=controller)


def _result(
    st: State,
    topo: Topology,
    network: Network,
    params: QueueParams,
    plan_index,
    seed,
    green_s: np.ndarray,
) -> QueueResult:
    """Metrics from a final state; ``green_s`` (B, Mt) effective green seconds per movement."""
    M = topo.n_mov
    T = max(st.t, 1)
    row = {name: st.acc_r[:, i].copy() for i, name in enumerate(ROW_FIELDS)}
    row["n_inside"] = st.moving.sum(1) + st.q.sum(1)
    row["n_backlog"] = st.backlog.sum(1)
    app_in = topo.edge_app[topo.mov_in[:M]]
    A = len(topo.approach_edges)
    qmean = _segsum(st.acc_m[:, A_DEL, :M], app_in, A) / T
    n_samp = min(st.samples.shape[1], st.t // st.sample_steps) if st.sample_steps > 0 else 0
    samples = st.samples[:, :n_samp, :] if n_samp > 0 else None
    if samples is not None:
        p95 = np.percentile(approach_samples(samples, topo.grp_app, A).astype(float), 95, axis=1)
    else:
        p95 = np.full_like(qmean, np.nan)
    return QueueResult(
        network=network,
        params=params,
        plan_index=np.asarray(plan_index),
        seed=np.asarray(seed),
        horizon_s=float(st.t),
        row=row,
        mov_delay_vs=st.acc_m[:, A_DEL, :M].copy(),
        mov_arrivals=st.acc_m[:, A_DIS, :M] + st.q[:, :M],
        mov_stops=st.acc_m[:, A_STOP, :M].copy(),
        mov_discharged=st.acc_m[:, A_DIS, :M].copy(),
        mov_capacity_veh=topo.sat_vps[:M] * green_s[:, :M],
        approach_edges=topo.approach_edges,
        approach_queue_mean_veh=qmean,
        approach_queue_max_veh=st.qmax.copy(),
        approach_queue_p95_veh=p95,
        queue_samples=samples,
        lane_groups=topo.lane_groups,
        group_approach=topo.grp_app,
        travel_s=topo.travel_steps.astype(float),
    )


# ------------------------------------------------------------------------------------- model
def _backend(name: str) -> str:
    if name not in ("auto", "numpy", "numba"):
        raise InputError("queue model", "backend", "auto, numpy or numba", name)
    if name == "auto":
        try:
            import numba  # noqa: F401

            return "numba"
        except ImportError:  # pragma: no cover
            return "numpy"
    return name


class QueueModel:
    """Vectorized queue/delay evaluator for batches of fixed-time plans and for online control.

    Example::

        qm = QueueModel(net, turning=turning_ratios(net, routes), entry_flow_vps=flows, bin_s=900)
        res = qm.evaluate(stack_arrays([ps.to_arrays(net) for ps in plansets]), horizon_s=3600)
        res.avg_delay_s          # (B,)
        res.to_frame(scenario="am_peak")

    Online (many independent copies, a controller choosing green each decision interval)::

        qm.reset(batch=8, stages=PlanSet.from_network(net).to_arrays(net))
        obs = qm.step(stage_idx, dt_s=5)  # stage_idx (B, S) or green shares (B, M)
    """

    def __init__(
        self,
        network: Network,
        turning: np.ndarray,
        entry_flow_vps: np.ndarray,
        *,
        bin_s: float | None = None,
        passthrough: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        params: QueueParams = CALIBRATED,
        backend: str = "auto",
    ):
        self.network = network
        self.params = params
        self.backend = _backend(backend)
        self.topo = build_topology(
            network, turning, entry_flow_vps, bin_s=bin_s, passthrough=passthrough, params=params
        )
        self._online: dict | None = None

    @classmethod
    def from_routes(
        cls,
        network: Network,
        routes,
        *,
        begin_s: float = 0.0,
        end_s: float = 3600.0,
        bin_s: float = 900.0,
        params: QueueParams = CALIBRATED,
        backend: str = "auto",
    ) -> QueueModel:
        """Model fed by a routed demand file: turning ratios and entry flows from
        :mod:`signals.demand`, pass-through ratios from the same routes.

        Entry flows are binned from ``begin_s``; the model's t = 0 is ``begin_s``.
        """
        turning, flows, passthrough = route_inputs(
            network, routes, begin_s=begin_s, end_s=end_s, bin_s=bin_s
        )
        return cls(
            network,
            turning,
            flows,
            bin_s=bin_s,
            passthrough=passthrough,
            params=params,
            backend=backend,
        )

    # -------------------------------------------------------------------- offline
    def evaluate(
        self,
        plans,
        horizon_s: float,
        seeds: Sequence[int] | None = None,
        *,
        queue_sample_s: float = 5.0,
    ) -> QueueResult:
        """Evaluate a batch of fixed-time plans over ``horizon_s`` (1 s steps from t = 0).

        Args:
            plans: PlanArrays (one PlanSet) or stacked PlanArrays with a leading batch axis B,
                or a prepared :class:`PlanTables`.
            horizon_s: simulated seconds.
            seeds: None for fluid demand; else Poisson arrivals per seed and the batch becomes
                B x len(seeds) rows (plan-major: row = plan * n_seeds + seed_index).
            queue_sample_s: sampling interval of approach queues for the 95th percentile.

        Returns:
            QueueResult with one row per (plan, seed).
        """
        tables = (
            plans
            if isinstance(plans, PlanTables)
            else plan_tables(plans, self.network, self.params)
        )
        B = tables.batch
        T = int(math.ceil(horizon_s))
        n_seeds = 1 if seeds is None else len(seeds)
        plan_index = np.repeat(np.arange(B), n_seeds)
        row_seed = np.tile(np.arange(n_seeds), B)
        if n_seeds > 1:
            tables = tables.take(plan_index)
        N = len(plan_index)
        ss = max(1, int(round(queue_sample_s)))
        stream = DemandStream(self.topo, seeds, row_seed)
        st = self._run_fixed(N, tables, stream, T, T // ss, ss)
        seed_arr = np.full(N, -1) if seeds is None else np.asarray(seeds)[row_seed]
        green_s = green_fraction(tables, self.topo) * T
        return _result(st, self.topo, self.network, self.params, plan_index, seed_arr, green_s)

    def _run_fixed(
        self, N: int, tables: PlanTables, stream: DemandStream, T: int, n_samp: int, ss: int
    ) -> State:
        if self.backend == "numba":
            from signals.evaluate import queue_kernel

            return queue_kernel.run_fixed(N, self.topo, tables, stream, T, self.params, n_samp, ss)
        st = State.zeros(N, self.topo, n_samp, ss)
        for t0 in range(0, T, CHUNK_STEPS):
            n = min(CHUNK_STEPS, T - t0)
            slabs, rows = stream.chunk(t0, n)
            for i in range(n):
                eff = effective_green_np(tables, self.topo, float(st.t), 1.0)
                step_np(st, self.topo, eff, slabs[rows, i, :], self.params)
        return st

    # -------------------------------------------------------------------- online
    def reset(
        self,
        batch: int,
        *,
        seeds: Sequence[int] | None = None,
        stages=None,
        horizon_s: float | None = None,
        queue_sample_s: float = 5.0,
    ) -> dict:
        """Start ``batch`` independent copies at t = 0 with empty network.

        Args:
            batch: number of copies B.
            seeds: None for fluid demand, else one Poisson seed per copy (len B).
            stages: PlanArrays (unbatched) whose stages define the stage indices accepted by
                :meth:`step` (e.g. ``PlanSet.from_network(net).to_arrays(net)``).
            horizon_s: expected episode length; with it, approach queues are kept every
                ``queue_sample_s`` for the 95th percentile of :meth:`result`.
            queue_sample_s: approach-queue sampling interval (max and 95th percentile).

        Returns:
            the observation dict (see :meth:`observe`).
        """
        if seeds is not None and len(seeds) != batch:
            raise InputError("queue model", "seeds", f"{batch} seeds (one per copy)", len(seeds))
        ss = max(1, int(round(queue_sample_s)))
        n_samp = 0 if horizon_s is None else int(math.ceil(horizon_s)) // ss
        st = State.zeros(batch, self.topo, n_samp, ss)
        stream = DemandStream(
            self.topo, seeds, np.arange(batch) if seeds is not None else np.zeros(batch, np.int64)
        )
        stage_green = stage_yellow = None
        if stages is not None:
            stage_green = np.asarray(stages.mov_green, dtype=float)
            stage_yellow = np.asarray(stages.mov_yellow, dtype=float)
            if stage_green.ndim != 2 or stage_green.shape[1] != self.network.n_movements:
                raise InputError(
                    "queue model",
                    "stages.mov_green",
                    f"(K, {self.network.n_movements})",
                    stage_green.shape,
                )
        self._online = {
            "state": st,
            "stream": stream,
            "green": np.zeros((batch, self.topo.n_mov_total)),
            "stage_green": stage_green,
            "stage_yellow": stage_yellow,
            "seeds": None if seeds is None else list(seeds),
            "green_s": np.zeros((batch, self.topo.n_mov_total)),
            "batch": batch,
        }
        return self.observe()

    def green_from_stages(self, stage_idx: np.ndarray) -> np.ndarray:
        """(B, M) green shares of movements for per-signal stage indices (B, S)."""
        o = self._require_online()
        if o["stage_green"] is None:
            raise InputError(
                "queue model",
                "stages",
                "reset(..., stages=PlanArrays) before stage indices",
                "none",
            )
        k = np.asarray(stage_idx, dtype=np.int64)[:, self.network.mov_signal]  # (B, M)
        K = o["stage_green"].shape[0]
        if (k < 0).any() or (k >= K).any():
            raise InputError("queue model", "stage index", f"0..{K - 1}", int(k.max()))
        return o["stage_green"][k, np.arange(k.shape[1])]

    def step(
        self,
        action: np.ndarray,
        dt_s: int = 1,
        *,
        yellow: np.ndarray | None = None,
        observe: bool = True,
    ) -> dict | None:
        """Advance every copy ``dt_s`` seconds with the given signal decision held constant.

        Args:
            action: (B, S) int stage indices into ``reset(stages=...)``, or (B, M) float green
                share of each signal movement.
            dt_s: seconds to advance (integer steps of 1 s).
            yellow: optional (B, M) share of each movement's links showing yellow (the loop
                inserts yellow and all-red; a yellow movement keeps discharging for
                ``yellow_used_s``, HCM 6th ed. Ch. 19).
            observe: False to skip building the observation (a caller that reads the state
                itself, e.g. :class:`signals.evaluate.queue_loop.QueueLoop`).

        Returns:
            the observation dict (see :meth:`observe`), or None with ``observe=False``.
        """
        o = self._require_online()
        B = o["batch"]
        M = self.network.n_movements
        a = np.asarray(action)
        if a.shape == (B, self.network.n_signals) and np.issubdtype(a.dtype, np.integer):
            green = self.green_from_stages(a)
        elif a.shape == (B, M):
            green = a.astype(float)
        else:
            raise InputError(
                "queue model",
                "action",
                f"(B={B}, S={self.network.n_signals}) ints or ({B}, {M}) shares",
                a.shape,
            )
        n = int(dt_s)
        if n < 1:
            raise InputError("queue model", "dt_s", "an integer >= 1", dt_s)
        y = np.zeros((B, M)) if yellow is None else np.asarray(yellow, dtype=float)
        self.run_schedule(green[None], y[None], np.zeros(n, dtype=np.int64))
        return self.observe() if observe else None

    def run_schedule(self, green: np.ndarray, yellow: np.ndarray, segments: np.ndarray) -> None:
        """Advance every copy ``len(segments)`` seconds; second i shows the green and yellow
        shares ``green[segments[i]]``, ``yellow[segments[i]]`` ((G, B, M) each): one call for a
        whole decision interval of a closed loop whose signals change within it."""
        o = self._require_online()
        st = o["state"]
        B = o["batch"]
        M, Mt = self.network.n_movements, self.topo.n_mov_total
        green = np.asarray(green, dtype=float)
        G = green.shape[0]
        if green.shape != (G, B, M) or np.shape(yellow) != (G, B, M):
            raise InputError("queue model", "schedule", f"(G, B={B}, M={M}) shares", green.shape)
        seg = np.asarray(segments, dtype=np.int64)
        if seg.ndim != 1 or not len(seg) or seg.min() < 0 or seg.max() >= G:
            raise InputError("queue model", "segments", f"indices in 0..{G - 1}", seg.shape)
        g = np.ones((G, B, Mt))
        g[..., :M] = np.clip(green, 0.0, 1.0)
        y = np.zeros((G, B, Mt))
        y[..., :M] = np.clip(np.asarray(yellow, dtype=float), 0.0, 1.0)
        if self.backend == "numba":
            from signals.evaluate import queue_kernel

            queue_kernel.run_online(st, self.topo, g, y, o["stream"], len(seg), self.params, seg)
        else:
            for i in seg.tolist():
                eff = online_effective_np(st, g[i], y[i], self.params)
                slabs, rows = o["stream"].chunk(st.t, 1)
                step_np(st, self.topo, eff, slabs[rows, 0, :], self.params)
        o["green"] = g[seg[-1]]
        o["green_s"] += np.einsum("gbm,g->bm", g, np.bincount(seg, minlength=G).astype(float))

    def change(
        self,
        stage_from: np.ndarray,
        stage_to: np.ndarray,
        *,
        yellow_s: int = 3,
        allred_s: int = 2,
    ) -> dict:
        """Run the change interval between two stage choices (B, S) of ``reset(stages=...)``.

        Links green in both stages stay green; the rest of the old stage's green shows yellow
        for ``yellow_s`` then red for ``allred_s`` (signals whose stage does not change keep
        their green). The caller (control loop) decides when; the safety gate owns the
        durations (docs/architecture.md, "Central types": the loop inserts yellow and all-red).
        """
        g_from = self.green_from_stages(stage_from)
        g_to = self.green_from_stages(stage_to)
        keep = np.minimum(g_from, g_to)
        obs = self.observe()
        if yellow_s > 0:
            obs = self.step(keep, int(yellow_s), yellow=g_from - keep)
        if allred_s > 0:
            obs = self.step(keep, int(allred_s))
        return obs

    def observe(self) -> dict:
        """Arrays for controllers (B copies): ``t_s`` (int), ``queue_veh`` (B, M) stop-line
        queues, ``approach_queue_veh`` (B, A), ``occupancy_veh`` (B, E), ``pressure_veh`` (B, M)
        (max-pressure weight: queue minus the ratio-weighted queues downstream, Varaiya 2013),
        ``delay_vs`` (B,) delay so far, ``arrived_veh`` (B,) finished trips so far."""
        o = self._require_online()
        st = o["state"]
        q, occ, acc_r = st.q, st.occ, st.acc_r
        M = self.network.n_movements
        tp = self.topo
        # downstream weighted queue of each edge: sum over its movements of ratio x queue
        down = _segsum(q * tp.ratio, tp.mov_in, tp.n_edges)
        out = tp.mov_out[:M]
        press = q[:, :M] - np.where(out >= 0, down[:, np.maximum(out, 0)], 0.0)
        app = _segsum(q[:, :M], tp.edge_app[tp.mov_in[:M]], len(tp.approach_edges))
        p = self.params
        delay = (
            acc_r[:, R_QDEL]
            + acc_r[:, R_BDEL]
            + p.stop_penalty_s * acc_r[:, R_STOP]
            + p.freeflow_loss_frac * acc_r[:, R_MOV]
        )
        return {
            "t_s": st.t,
            "queue_veh": q[:, :M].copy(),
            "approach_queue_veh": app,
            "occupancy_veh": occ.copy(),
            "pressure_veh": press,
            "delay_vs": delay,
            "arrived_veh": acc_r[:, R_EXIT].copy(),
        }

    def result(self) -> QueueResult:
        """Metrics of the online copies so far (one row per copy)."""
        o = self._require_online()
        st = self.state
        B = o["batch"]
        seeds = np.full(B, -1) if o["seeds"] is None else np.asarray(o["seeds"])
        return _result(st, self.topo, self.network, self.params, np.arange(B), seeds, o["green_s"])

    @property
    def state(self) -> State:
        """The online state (batch-first arrays)."""
        return self._require_online()["state"]

    def _require_online(self) -> dict:
        if self._online is None:
            raise InputError(
                "queue model", "online state", "reset(batch) before step()", "no reset"
            )
        return self._online


def online_effective_np(
    st: State, green: np.ndarray, yellow: np.ndarray, params: QueueParams
) -> np.ndarray:
    """(B, Mt) effective green of one online step; updates the green/yellow ages in ``st``.

    A movement that turns green discharges after ``startup_lost_s``; a yellow one keeps
    discharging for ``yellow_used_s`` (HCM 6th ed. Ch. 19 effective green).
    """
    st.green_age = np.where(green > 0, np.where(st.green_age < 1e8, st.green_age, 0.0) + 1.0, 1e9)
    st.yellow_age = np.where(
        yellow > 0, np.where(st.yellow_age < 1e8, st.yellow_age, 0.0) + 1.0, 1e9
    )
    # fraction of this 1 s step past the start-up lost time / within the used yellow
    g_frac = np.clip(st.green_age - params.startup_lost_s, 0.0, 1.0)
    y_frac = np.clip(params.yellow_used_s - (st.yellow_age - 1.0), 0.0, 1.0)
    # a movement already green keeps full discharge while it turns partly yellow
    return np.clip(green * g_frac + yellow * y_frac, 0.0, 1.0)


# ------------------------------------------------------------------------------- long table
def _to_frame(res: QueueResult, *, run_id, scenario: str, controller):
    """Long-schema DataFrame of a QueueResult with the builders of :mod:`signals.evaluate.metrics`
    (the same definitions as SUMO runs; see :meth:`QueueResult.to_frame`)."""
    import pandas as pd

    from signals.evaluate import metrics as Mx

    net = res.network
    N = res.n_rows
    run_ids = [run_id] * N if isinstance(run_id, str) else list(run_id)
    ctrls = [controller] * N if isinstance(controller, str) else list(controller)
    app_ids = [net.edge_ids[e] for e in res.approach_edges]
    app_sig = res.approach_signal
    tl = res.approach_time_loss_s
    ent = res.approach_arrivals
    cap = res.approach_capacity_vps
    frames = []
    for r in range(N):
        inside, backlog = float(res.row["n_inside"][r]), float(res.row["n_backlog"][r])
        rows = Mx.scalar_rows(
            {
                "avg_delay_s": res.avg_delay_s[r],
                "avg_stops": res.avg_stops[r],
                "throughput_veh": res.throughput_veh[r],
                "n_vehicles": res.n_vehicles[r],
                "n_unfinished": inside + backlog,
                "n_running": inside,
                "n_undeparted": backlog,
            }
        )
        rows += Mx.approach_rows(
            app_ids, app_sig, net.signal_ids, tl[r], ent[r], res.horizon_s, cap[r]
        )
        if res.queue_samples is not None and res.queue_samples.shape[1] > 0:
            gs = res.queue_samples[r : r + 1]
            aq = approach_samples(gs, res.group_approach, len(app_ids))[0]
            rows += Mx.queue_rows(app_ids, app_sig, net.signal_ids, aq)
            g = res.lane_groups
            rows += Mx.lane_group_queue_rows(g.ids, g.signal, g.n_lanes, net.signal_ids, gs[0])
        frames.append(
            Mx.results_frame(
                rows,
                run_id=run_ids[r],
                scenario=scenario,
                controller=ctrls[r],
                seed=int(res.seed[r]),
            )
        )
    return pd.concat(frames, ignore_index=True)
