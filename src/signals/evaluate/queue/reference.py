"""The readable numpy model of record: the batch state, one 1 s step (:func:`step_np`), the
permitted-movement factor, FIFO lanes and the online effective green. The compiled kernel
(:mod:`signals.evaluate.queue.kernel`) is tested against it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from signals.evaluate.queue.params import QueueParams
from signals.evaluate.queue.topology import Topology


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
