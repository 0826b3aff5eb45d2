"""The queue model's time loop compiled with numba: one thread per batch row.

Exactly the model of :mod:`signals.evaluate.queue_model` (``effective_green_np``, ``step_np``,
``online_effective_np``), written as scalar loops so a row's state stays in cache and the two
cores each run whole plans in parallel (``prange`` over the batch). Tests check both agree.
No SUMO import.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from signals.evaluate.queue_model import (
    A_ARR,
    A_CAP,
    A_DEL,
    A_DIS,
    A_STOP,
    CHUNK_STEPS,
    R_BDEL,
    R_DEM,
    R_EXIT,
    R_INS,
    R_MOV,
    R_PDEL,
    R_QDEL,
    R_STOP,
    DemandStream,
    PlanTables,
    QueueParams,
    State,
    Topology,
)


@njit(cache=True, inline="always")
def _ov(lo, hi, a, b):
    x = min(hi, b) - max(lo, a)
    return x if x > 0.0 else 0.0


@njit(cache=True)
def _eff_fixed_row(b, t, cyc, off, nst, bounds, shares, sig_mov_start, n_mov, eff):
    """Effective green share of row b over [t, t+1): see queue_model.effective_green_np."""
    S = cyc.shape[1]
    for m in range(n_mov, eff.shape[1]):
        eff[b, m] = 1.0
    for s in range(S):
        c = cyc[b, s]
        tau = (t - off[b, s]) % c
        ns = nst[b, s]
        k = 0
        while k < ns - 1 and bounds[b, s, k, 3] <= tau:
            k += 1
        lo = tau
        hi = tau + 1.0
        o1 = _ov(lo, hi, bounds[b, s, k, 0], bounds[b, s, k, 1])
        o2 = _ov(lo, hi, bounds[b, s, k, 1], bounds[b, s, k, 2])
        o3 = _ov(lo, hi, bounds[b, s, k, 2], bounds[b, s, k, 3])
        m0 = sig_mov_start[s]
        m1 = sig_mov_start[s + 1]
        for m in range(m0, m1):
            eff[b, m] = o1 * shares[b, k, m, 0] + o2 * shares[b, k, m, 1] + o3 * shares[b, k, m, 2]
        end = bounds[b, s, k, 3]
        if hi > end:  # the step crosses into the next stage
            k2 = k + 1
            shift = 0.0
            if k2 >= ns:
                k2 = 0
                shift = c
            lo2 = end - shift
            hi2 = hi - shift
            p1 = _ov(lo2, hi2, bounds[b, s, k2, 0], bounds[b, s, k2, 1])
            p2 = _ov(lo2, hi2, bounds[b, s, k2, 1], bounds[b, s, k2, 2])
            p3 = _ov(lo2, hi2, bounds[b, s, k2, 2], bounds[b, s, k2, 3])
            for m in range(m0, m1):
                eff[b, m] += (
                    p1 * shares[b, k2, m, 0] + p2 * shares[b, k2, m, 1] + p3 * shares[b, k2, m, 2]
                )


@njit(cache=True)
def _step_row(
    b, t, dem, eff,
    mov_in, mov_out, sat, ratio, edge_mov_start, edge_mov, exit_share, storage, travel,
    ring_start, yield_start, yield_idx, edge_app, src_edges, n_mov,
    permissive, tc, tf,
    q, prev_dis, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    add, want, q0, din, scale, inflow, aq,
):  # fmt: skip
    """One 1 s step of row b: see queue_model.step_np (same order of operations)."""
    E = occ.shape[1]
    Mt = q.shape[1]
    # 1. arrivals at the stop lines
    for e in range(E):
        sl = ring_start[e] + t % travel[e]
        a = ring[b, sl]
        ring[b, sl] = 0.0
        moving[b, e] -= a
        g = a * exit_share[e]
        occ[b, e] -= g
        acc_r[b, R_EXIT] += g
        for j in range(edge_mov_start[e], edge_mov_start[e + 1]):
            m = edge_mov[j]
            add[b, m] = a * ratio[m]
        din[b, e] = 0.0
        inflow[b, e] = 0.0
    # 2. capacity and what each movement wants to send
    for m in range(Mt):
        cap = sat[m] * eff[b, m]
        if permissive and yield_start[m + 1] > yield_start[m]:
            v = 0.0
            for j in range(yield_start[m], yield_start[m + 1]):
                v += prev_dis[b, yield_idx[j]]
            if v > 1e-12:
                # HCM 6th ed. Ch. 31 permitted saturation flow, normalized by its v_o = 0 limit
                cap *= v * tf * math.exp(-v * tc) / -math.expm1(-v * tf)
        q0[b, m] = q[b, m]
        qn = q[b, m] + add[b, m]
        q[b, m] = qn
        w = qn if qn < cap else cap
        want[b, m] = w
        acc_m[b, m, A_CAP] += cap
        o = mov_out[m]
        if o >= 0:
            din[b, o] += w
    # 3. spillback: share of the downstream space
    for e in range(E):
        space = storage[e] - occ[b, e]
        if space < 0.0:
            space = 0.0
        d = din[b, e]
        scale[b, e] = space / d if d > space else 1.0
    # 4. discharge
    for m in range(Mt):
        o = mov_out[m]
        d = want[b, m]
        if o >= 0:
            d *= scale[b, o]
        qa = q0[b, m]
        q1 = q[b, m] - d
        q[b, m] = q1
        occ[b, mov_in[m]] -= d
        if o >= 0:
            occ[b, o] += d
            inflow[b, o] += d
        else:
            acc_r[b, R_EXIT] += d
        ad = add[b, m]
        qd = 0.5 * (qa + q1)
        passed = d - qa
        if passed < 0.0:
            passed = 0.0
        if passed > ad:
            passed = ad
        acc_m[b, m, A_DEL] += qd
        acc_m[b, m, A_STOP] += ad - passed
        acc_m[b, m, A_ARR] += ad
        acc_m[b, m, A_DIS] += d
        acc_r[b, R_QDEL] += qd
        acc_r[b, R_STOP] += ad - passed
        if m >= n_mov:
            acc_r[b, R_PDEL] += qd
        else:
            aq[b, edge_app[mov_in[m]]] += q1
        prev_dis[b, m] = d
    # 5. insertion on source edges
    for j in range(src_edges.shape[0]):
        e = src_edges[j]
        b0 = backlog[b, j]
        bl = b0 + dem[j]
        room = storage[e] - occ[b, e]
        if room < 0.0:
            room = 0.0
        ins = bl if bl < room else room
        backlog[b, j] = bl - ins
        acc_r[b, R_DEM] += dem[j]
        acc_r[b, R_INS] += ins
        acc_r[b, R_BDEL] += 0.5 * (b0 + backlog[b, j])
        inflow[b, e] += ins
        occ[b, e] += ins
    # 6. delay lines
    mv = 0.0
    for e in range(E):
        sl = ring_start[e] + t % travel[e]
        ring[b, sl] = inflow[b, e]
        moving[b, e] += inflow[b, e]
        mv += moving[b, e]
    acc_r[b, R_MOV] += mv
    # approach queues
    A = aq.shape[1]
    si = -1
    if sample_steps > 0 and (t + 1) % sample_steps == 0:
        si = (t + 1) // sample_steps - 1
        if si >= samples.shape[1]:
            si = -1
    for a in range(A):
        v = aq[b, a]
        if v > qmax[b, a]:
            qmax[b, a] = v
        if si >= 0:
            samples[b, si, a] = v
        aq[b, a] = 0.0


@njit(cache=True, parallel=True)
def _fixed_chunk(
    t0, n, dem, dem_row,
    cyc, off, nst, bounds, shares, sig_mov_start,
    mov_in, mov_out, sat, ratio, edge_mov_start, edge_mov, exit_share, storage, travel,
    ring_start, yield_start, yield_idx, edge_app, src_edges, n_mov,
    permissive, tc, tf,
    q, prev_dis, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    eff, add, want, q0, din, scale, inflow, aq,
):  # fmt: skip
    B = q.shape[0]
    for b in prange(B):
        for i in range(n):
            t = t0 + i
            _eff_fixed_row(b, t, cyc, off, nst, bounds, shares, sig_mov_start, n_mov, eff)
            _step_row(
                b, t, dem[dem_row[b], i], eff,
                mov_in, mov_out, sat, ratio, edge_mov_start, edge_mov, exit_share, storage, travel,
                ring_start, yield_start, yield_idx, edge_app, src_edges, n_mov,
                permissive, tc, tf,
                q, prev_dis, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
                add, want, q0, din, scale, inflow, aq,
            )  # fmt: skip


@njit(cache=True, parallel=True)
def _online_chunk(
    t0, n, dem, dem_row, green, yellow, green_age, yellow_age, l1, e_used,
    mov_in, mov_out, sat, ratio, edge_mov_start, edge_mov, exit_share, storage, travel,
    ring_start, yield_start, yield_idx, edge_app, src_edges, n_mov,
    permissive, tc, tf,
    q, prev_dis, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    eff, add, want, q0, din, scale, inflow, aq,
):  # fmt: skip
    B = q.shape[0]
    Mt = q.shape[1]
    for b in prange(B):
        for i in range(n):
            t = t0 + i
            # see queue_model.online_effective_np
            for m in range(Mt):
                g = green[b, m]
                y = yellow[b, m]
                ga = green_age[b, m]
                ya = yellow_age[b, m]
                if g > 0.0:
                    ga = (ga if ga < 1e8 else 0.0) + 1.0
                else:
                    ga = 1e9
                if y > 0.0:
                    ya = (ya if ya < 1e8 else 0.0) + 1.0
                else:
                    ya = 1e9
                green_age[b, m] = ga
                yellow_age[b, m] = ya
                gf = min(max(ga - l1, 0.0), 1.0)
                yf = min(max(e_used - (ya - 1.0), 0.0), 1.0)
                eff[b, m] = min(max(g * gf + y * yf, 0.0), 1.0)
            _step_row(
                b, t, dem[dem_row[b], i], eff,
                mov_in, mov_out, sat, ratio, edge_mov_start, edge_mov, exit_share, storage, travel,
                ring_start, yield_start, yield_idx, edge_app, src_edges, n_mov,
                permissive, tc, tf,
                q, prev_dis, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
                add, want, q0, din, scale, inflow, aq,
            )  # fmt: skip


def _topo_args(topo: Topology):
    return (
        topo.mov_in,
        topo.mov_out,
        topo.sat_vps,
        topo.ratio,
        topo.edge_mov_start,
        topo.edge_mov,
        topo.exit_share,
        topo.storage_veh,
        topo.travel_steps,
        topo.ring_start,
        topo.yield_start,
        topo.yield_idx,
        topo.edge_app,
        topo.src_edges,
        topo.n_mov,
    )


def _state_args(st: State):
    return (
        st.q,
        st.prev_dis,
        st.occ,
        st.moving,
        st.ring,
        st.backlog,
        st.acc_m,
        st.acc_r,
        st.qmax,
        st.samples,
        st.sample_steps,
    )


def _scratch(st: State, topo: Topology):
    B, Mt = st.q.shape
    E = topo.n_edges
    z = np.zeros
    return (
        z((B, Mt)),
        z((B, Mt)),
        z((B, Mt)),
        z((B, Mt)),
        z((B, E)),
        z((B, E)),
        z((B, E)),
        z((B, len(topo.approach_edges))),
    )


def _param_args(p: QueueParams):
    return (bool(p.permissive), float(p.critical_headway_s), float(p.follow_up_headway_s))


def run_fixed(
    st: State, topo: Topology, tables: PlanTables, stream: DemandStream, T: int, params: QueueParams
) -> None:
    """Run ``T`` steps of fixed-time plans on every row of ``st`` (in place)."""
    scratch = _scratch(st, topo)
    for t0 in range(st.t, st.t + T, CHUNK_STEPS):
        n = min(CHUNK_STEPS, st.t + T - t0)
        slabs, rows = stream.chunk(t0, n)
        _fixed_chunk(
            t0,
            n,
            np.ascontiguousarray(slabs),
            rows,
            tables.cycle_s,
            tables.offset_s,
            tables.n_stages,
            tables.bounds_s,
            tables.shares,
            topo.sig_mov_start,
            *_topo_args(topo),
            *_param_args(params),
            *_state_args(st),
            *scratch,
        )
    st.t += T


def run_online(
    st: State,
    topo: Topology,
    green: np.ndarray,
    yellow: np.ndarray,
    stream: DemandStream,
    n: int,
    params: QueueParams,
) -> None:
    """Run ``n`` steps with green/yellow shares (B, Mt) held constant (in place)."""
    scratch = _scratch(st, topo)
    slabs, rows = stream.chunk(st.t, n)
    _online_chunk(
        st.t,
        n,
        np.ascontiguousarray(slabs),
        rows,
        np.ascontiguousarray(green),
        np.ascontiguousarray(yellow),
        st.green_age,
        st.yellow_age,
        float(params.startup_lost_s),
        float(params.yellow_used_s),
        *_topo_args(topo),
        *_param_args(params),
        *_state_args(st),
        *scratch,
    )
    st.t += n
