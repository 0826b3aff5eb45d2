"""The queue model's time loop compiled with numba: one plan (batch row) per thread at a time.

Exactly the model of :mod:`signals.evaluate.queue.reference` (``step_np``,
``online_effective_np``) and :mod:`signals.evaluate.queue.timing` (``effective_green_np``); the
tests check that both agree. What makes it fast:

* a row's whole state (about 1 MB for the 448-signal pilot zone) stays in the core's cache while
  the row runs a chunk of steps; ``prange`` gives rows to cores;
* three passes per step (movements, movements, edges) instead of numpy's dozens of temporaries;
  the edge pass also inserts new vehicles and reads the next step's stop-line arrivals;
* fixed-time green is precomputed per movement as at most J merged intervals of the cycle and
  only recomputed for a signal in the steps whose window touches one of its interval ends
  (event-driven): between ends a movement's effective green share does not change;
* the permitted-movement factor is read from a table (no exp per movement and step).

Measured figures are in the README (``signals bench hotpath``). No SUMO import.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from signals.evaluate.queue.demand import DemandStream
from signals.evaluate.queue.params import CHUNK_STEPS, QueueParams
from signals.evaluate.queue.reference import (
    A_DEL,
    A_DIS,
    A_STOP,
    R_BDEL,
    R_DEM,
    R_EXIT,
    R_INS,
    R_MOV,
    R_PDEL,
    R_QDEL,
    R_STOP,
    State,
    permitted_table,
)
from signals.evaluate.queue.timing import PlanTables
from signals.evaluate.queue.topology import Topology

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}


# ------------------------------------------------------------------------ fixed-time green
@njit(**_JIT)
def _count_pieces(bounds, shares, nst, mov_sig, n_mov):
    """Most merged non-zero green intervals of any (plan, movement)."""
    B = bounds.shape[0]
    K = bounds.shape[2]
    best = 1
    for b in range(B):
        for m in range(n_mov):
            s = mov_sig[m]
            n = 0
            last = -1.0
            for k in range(min(K, nst[b, s])):
                for j in range(3):
                    if bounds[b, s, k, j + 1] <= bounds[b, s, k, j]:
                        continue
                    sh = shares[b, k, m, j]
                    if sh != last and sh > 0.0:
                        n += 1
                    last = sh
            best = max(best, n)
    return best


@njit(**_JIT)
def _fill_pieces(bounds, shares, nst, mov_sig, n_mov, out):
    """out (B, M, J, 3): [start, end, share] of merged non-zero green intervals in the cycle."""
    B = bounds.shape[0]
    K = bounds.shape[2]
    for b in range(B):
        for m in range(n_mov):
            s = mov_sig[m]
            n = -1
            last = -1.0
            for k in range(min(K, nst[b, s])):
                for j in range(3):
                    lo = bounds[b, s, k, j]
                    hi = bounds[b, s, k, j + 1]
                    if hi <= lo:
                        continue
                    sh = shares[b, k, m, j]
                    if sh == last and sh > 0.0:
                        out[b, m, n, 1] = hi  # extend the current interval
                    elif sh > 0.0:
                        n += 1
                        out[b, m, n, 0] = lo
                        out[b, m, n, 1] = hi
                        out[b, m, n, 2] = sh
                    last = sh


@njit(**_JIT)
def _fill_ends(pieces, cyc, sig_mov_start, ends, n_ends):
    """ends (B, S, L): sorted distinct interval ends of each signal's movements in (0, C]."""
    B, S = cyc.shape
    J = pieces.shape[2]
    for b in range(B):
        for s in range(S):
            c = cyc[b, s]
            n = 0
            for m in range(sig_mov_start[s], sig_mov_start[s + 1]):
                for j in range(J):
                    if pieces[b, m, j, 2] <= 0.0:
                        continue
                    for x in (pieces[b, m, j, 0], pieces[b, m, j, 1]):
                        if 0.0 < x < c:
                            ends[b, s, n] = x
                            n += 1
            ends[b, s, n] = c
            n += 1
            srt = np.sort(ends[b, s, :n])
            k = 0
            for i in range(n):
                if i == 0 or srt[i] != srt[i - 1]:
                    ends[b, s, k] = srt[i]
                    k += 1
            n_ends[b, s] = k


def green_pieces(tables: PlanTables, topo: Topology) -> np.ndarray:
    """(B, M, J, 3) effective green of each movement as merged intervals [start, end) x share.

    The same function of the cycle as the three segments per stage of ``PlanTables``.
    """
    M = topo.n_mov
    sig = topo.mov_sig[:M]
    J = _count_pieces(tables.bounds_s, tables.shares, tables.n_stages, sig, M)
    out = np.zeros((tables.batch, M, J, 3))
    _fill_pieces(tables.bounds_s, tables.shares, tables.n_stages, sig, M, out)
    return out


@njit(**_JIT)
def _ov(lo, hi, a, b):
    return max(min(hi, b) - max(lo, a), 0.0)


@njit(**_JIT)
def _green_row(b, cyc, tau, ptr, dirty, ends, pieces, sig_mov_start, eff):
    """eff[b] over [t, t+1) for the signals whose window touches an interval end; advance tau."""
    S = cyc.shape[1]
    J = pieces.shape[2]
    for s in range(S):
        c = cyc[b, s]
        lo = tau[b, s]
        gap = ends[b, s, ptr[b, s]] - lo  # to the next interval end after lo
        if dirty[b, s] or gap < 1.0:
            hi = lo + 1.0
            lo2 = lo - c  # the part of the window past the cycle end, if any
            hi2 = hi - c
            for m in range(sig_mov_start[s], sig_mov_start[s + 1]):
                e = 0.0
                for j in range(J):
                    a = pieces[b, m, j, 0]
                    z = pieces[b, m, j, 1]
                    e += pieces[b, m, j, 2] * (_ov(lo, hi, a, z) + _ov(lo2, hi2, a, z))
                eff[b, m] = e
        dirty[b, s] = gap <= 1.0
        nt = lo + 1.0
        if nt >= c:
            nt -= c
            ptr[b, s] = 0
        p = ptr[b, s]
        while ends[b, s, p] <= nt:
            p += 1
        ptr[b, s] = p
        tau[b, s] = nt


# ---------------------------------------------------------------------------- one step
@njit(**_JIT)
def _step_row(
    b, t, dem,
    mov_in, mov_out, sat, ratio, exit_share, storage, travel, ring_start,
    yield_start, yield_idx, mov_app, src_of, n_mov, n_app,
    lane_start, lane_mov, mov_lane_start, mov_lane, grp_mov, grp_idx, grp_w, n_grp,
    permissive, pgrid, ptable, pslope, sneakers,
    q, prev_dis, prev_eff, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    eff, add, want, arr, din, inflow, space0, pos, aq, gq, sfac, lmin,
    blk, dlan, dmov, lmark, mmark, lookahead,
):  # fmt: skip
    """One 1 s step of row b: reference.step_np, with the next step's arrivals read at the end.

    On entry ``arr[b]`` holds this step's stop-line arrivals (already taken off ``occ``,
    ``moving`` and the delay lines) and ``space0[b]`` the space left on each edge; with
    ``lookahead`` the step ends by reading the next step's arrivals the same way (saves a pass).
    """
    E = occ.shape[1]
    Mt = q.shape[1]
    npt = ptable.shape[0]
    pinv = 1.0 / (pgrid[1] - pgrid[0])
    # 1. capacity and what each movement wants to send
    for m in range(Mt):
        cap = sat[m] * eff[b, m]
        y0 = yield_start[m]
        y1 = yield_start[m + 1]
        if permissive and y1 > y0:
            e_now = eff[b, m]
            drop = prev_eff[b, m] - e_now
            prev_eff[b, m] = e_now
            if cap > 0.0 or drop > 0.0:
                v = 0.0
                for j in range(y0, y1):
                    v += prev_dis[b, yield_idx[j]]
                if cap > 0.0:
                    # np.interp on the tabulated HCM permitted factor (permitted_table)
                    x = v * pinv
                    k = int(x)
                    if k >= npt - 1:
                        f = ptable[npt - 1]
                    elif k < 0:
                        f = ptable[0]
                    else:
                        f = pslope[k] * (v - pgrid[k]) + ptable[k]
                    cap *= f
                if drop > 0.0 and v > 0.0:
                    cap += sneakers * drop  # reference.step_np: sneakers at green end
        ad = arr[b, mov_in[m]] * ratio[m]
        qn = q[b, m] + ad
        add[b, m] = ad
        q[b, m] = qn
        w = min(qn, cap)
        want[b, m] = w
        o = mov_out[m]
        if o >= 0:
            din[b, o] += w
    # 2. spillback: each movement sends its share of the space downstream; with FIFO lanes
    # (reference.fifo_factor) a lane passes the lowest share of the movements queued on it.
    # Only lanes holding a blocked movement can pass less than everything, so only those and
    # their movements are visited (stamped with the step, no clearing between steps).
    nb = 0
    for m in range(Mt):
        o = mov_out[m]
        sh = 1.0
        if o >= 0:
            dn = din[b, o]
            sp = space0[b, o]
            if dn > sp:
                sh = sp / dn
        sfac[b, m] = sh
        if sh < 1.0 and want[b, m] > 0.0 and mov_lane_start[m + 1] > mov_lane_start[m]:
            blk[b, nb] = m
            nb += 1
    if nb > 0:
        stamp = t + 1
        nl = 0
        for i in range(nb):
            m = blk[b, i]
            for k in range(mov_lane_start[m], mov_lane_start[m + 1]):
                ln = mov_lane[k]
                if lmark[b, ln] != stamp:
                    lmark[b, ln] = stamp
                    dlan[b, nl] = ln
                    nl += 1
        nd = 0
        for i in range(nl):
            ln = dlan[b, i]
            mn = 1.0
            for j in range(lane_start[ln], lane_start[ln + 1]):
                mj = lane_mov[j]
                if want[b, mj] > 0.0 and sfac[b, mj] < mn:
                    mn = sfac[b, mj]
                if mmark[b, mj] != stamp:
                    mmark[b, mj] = stamp
                    dmov[b, nd] = mj
                    nd += 1
            lmin[b, ln] = mn
        for i in range(nd):
            m = dmov[b, i]
            k0 = mov_lane_start[m]
            k1 = mov_lane_start[m + 1]
            acc = 0.0
            for k in range(k0, k1):
                ln = mov_lane[k]
                acc += lmin[b, ln] if lmark[b, ln] == stamp else 1.0
            sfac[b, m] = acc / (k1 - k0)
    # 3. discharge and statistics
    qdel = 0.0
    stops = 0.0
    pdel = 0.0
    ext = 0.0
    for m in range(Mt):
        o = mov_out[m]
        d = want[b, m] * sfac[b, m]
        if o >= 0:
            occ[b, o] += d
            inflow[b, o] += d
        else:
            ext += d
        qn = q[b, m]
        ad = add[b, m]
        qa = qn - ad
        q1 = qn - d
        q[b, m] = q1
        occ[b, mov_in[m]] -= d
        qd = 0.5 * (qa + q1)
        passed = min(max(d - qa, 0.0), ad)
        acc_m[b, A_DEL, m] += qd
        acc_m[b, A_STOP, m] += ad - passed
        acc_m[b, A_DIS, m] += d
        qdel += qd
        stops += ad - passed
        if m >= n_mov:
            pdel += qd
        prev_dis[b, m] = d
    acc_r[b, R_QDEL] += qdel
    acc_r[b, R_STOP] += stops
    acc_r[b, R_PDEL] += pdel
    acc_r[b, R_EXIT] += ext
    # 4. insertion, delay lines, and the arrivals of the next step
    dsum = 0.0
    isum = 0.0
    bdel = 0.0
    mv = 0.0
    gone_sum = 0.0
    for e in range(E):
        j = src_of[e]
        if j >= 0:
            dm = dem[j]
            b0 = backlog[b, j]
            bl = b0 + dm
            room = max(storage[e] - occ[b, e], 0.0)
            ins = min(bl, room)
            b1 = bl - ins
            backlog[b, j] = b1
            dsum += dm
            isum += ins
            bdel += 0.5 * (b0 + b1)
            inflow[b, e] += ins
            occ[b, e] += ins
        p = pos[b, e]
        f = inflow[b, e]
        ring[b, ring_start[e] + p] = f
        mvv = moving[b, e] + f
        mv += mvv
        p += 1
        if p >= travel[e]:
            p = 0
        pos[b, e] = p
        din[b, e] = 0.0
        inflow[b, e] = 0.0
        if lookahead:
            # the next step's stop-line arrivals: vehicles that entered travel_steps ago
            sl = ring_start[e] + p
            a = ring[b, sl]
            ring[b, sl] = 0.0
            arr[b, e] = a
            moving[b, e] = mvv - a
            gone = a * exit_share[e]
            oc = occ[b, e] - gone
            occ[b, e] = oc
            gone_sum += gone
            space0[b, e] = max(storage[e] - oc, 0.0)
        else:
            moving[b, e] = mvv
    acc_r[b, R_DEM] += dsum
    acc_r[b, R_INS] += isum
    acc_r[b, R_BDEL] += bdel
    acc_r[b, R_MOV] += mv
    acc_r[b, R_EXIT] += gone_sum
    # approach queues (their max) and lane-group queues (the samples), every sample_steps
    if sample_steps > 0 and (t + 1) % sample_steps == 0:
        for a in range(n_app):
            aq[b, a] = 0.0
        for m in range(n_mov):
            aq[b, mov_app[m]] += q[b, m]
        for a in range(n_app):
            v = aq[b, a]
            if v > qmax[b, a]:
                qmax[b, a] = v
        si = (t + 1) // sample_steps - 1
        if si < samples.shape[1]:
            for g in range(n_grp):
                gq[b, g] = 0.0
            for k in range(grp_mov.shape[0]):
                gq[b, grp_idx[k]] += q[b, grp_mov[k]] * grp_w[k]
            for g in range(n_grp):
                samples[b, si, g] = gq[b, g]


@njit(**_JIT)
def _arrivals_row(
    b, exit_share, storage, ring_start, occ, moving, ring, acc_r, arr, din, inflow, space0, pos
):
    """Stop-line arrivals of row b's first step of a chunk (reference.step_np part 1)."""
    gone_sum = 0.0
    for e in range(occ.shape[1]):
        sl = ring_start[e] + pos[b, e]
        a = ring[b, sl]
        ring[b, sl] = 0.0
        arr[b, e] = a
        moving[b, e] -= a
        gone = a * exit_share[e]
        oc = occ[b, e] - gone
        occ[b, e] = oc
        gone_sum += gone
        space0[b, e] = max(storage[e] - oc, 0.0)
        din[b, e] = 0.0
        inflow[b, e] = 0.0
    acc_r[b, R_EXIT] += gone_sum


@njit(parallel=True, **_JIT)
def _fixed_chunk(
    t0, n, dem, row_slab, cyc, tau, ptr, dirty, ends, pieces, sig_mov_start,
    mov_in, mov_out, sat, ratio, exit_share, storage, travel, ring_start,
    yield_start, yield_idx, mov_app, src_of, n_mov, n_app,
    lane_start, lane_mov, mov_lane_start, mov_lane, grp_mov, grp_idx, grp_w, n_grp,
    permissive, pgrid, ptable, pslope, sneakers,
    q, prev_dis, prev_eff, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    eff, add, want, arr, din, inflow, space0, pos, aq, gq, sfac, lmin,
    blk, dlan, dmov, lmark, mmark,
):  # fmt: skip
    B = q.shape[0]
    for b in prange(B):
        _arrivals_row(
            b,
            exit_share,
            storage,
            ring_start,
            occ,
            moving,
            ring,
            acc_r,
            arr,
            din,
            inflow,
            space0,
            pos,
        )
        for i in range(n):
            _green_row(b, cyc, tau, ptr, dirty, ends, pieces, sig_mov_start, eff)
            _step_row(
                b, t0 + i, dem[row_slab[b], i],
                mov_in, mov_out, sat, ratio, exit_share, storage, travel, ring_start,
                yield_start, yield_idx, mov_app, src_of, n_mov, n_app,
                lane_start, lane_mov, mov_lane_start, mov_lane, grp_mov, grp_idx, grp_w, n_grp,
                permissive, pgrid, ptable, pslope, sneakers,
                q, prev_dis, prev_eff, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples,
                sample_steps, eff, add, want, arr, din, inflow, space0, pos, aq, gq, sfac, lmin,
                blk, dlan, dmov, lmark, mmark, i < n - 1,
            )  # fmt: skip


@njit(parallel=True, **_JIT)
def _online_chunk(
    t0, n, dem, row_slab, green, yellow, seg, green_age, yellow_age, l1, e_used,
    mov_in, mov_out, sat, ratio, exit_share, storage, travel, ring_start,
    yield_start, yield_idx, mov_app, src_of, n_mov, n_app,
    lane_start, lane_mov, mov_lane_start, mov_lane, grp_mov, grp_idx, grp_w, n_grp,
    permissive, pgrid, ptable, pslope, sneakers,
    q, prev_dis, prev_eff, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples, sample_steps,
    eff, add, want, arr, din, inflow, space0, pos, aq, gq, sfac, lmin,
    blk, dlan, dmov, lmark, mmark,
):  # fmt: skip
    B = q.shape[0]
    Mt = q.shape[1]
    for b in prange(B):
        _arrivals_row(
            b,
            exit_share,
            storage,
            ring_start,
            occ,
            moving,
            ring,
            acc_r,
            arr,
            din,
            inflow,
            space0,
            pos,
        )
        for i in range(n):
            # reference.online_effective_np
            g_i = seg[i]
            for m in range(Mt):
                gs = green[g_i, b, m]
                ys = yellow[g_i, b, m]
                ga = green_age[b, m]
                ya = yellow_age[b, m]
                ga = ((ga if ga < 1e8 else 0.0) + 1.0) if gs > 0.0 else 1e9
                ya = ((ya if ya < 1e8 else 0.0) + 1.0) if ys > 0.0 else 1e9
                green_age[b, m] = ga
                yellow_age[b, m] = ya
                gf = min(max(ga - l1, 0.0), 1.0)
                yf = min(max(e_used - (ya - 1.0), 0.0), 1.0)
                eff[b, m] = min(max(gs * gf + ys * yf, 0.0), 1.0)
            _step_row(
                b, t0 + i, dem[row_slab[b], i],
                mov_in, mov_out, sat, ratio, exit_share, storage, travel, ring_start,
                yield_start, yield_idx, mov_app, src_of, n_mov, n_app,
                lane_start, lane_mov, mov_lane_start, mov_lane, grp_mov, grp_idx, grp_w, n_grp,
                permissive, pgrid, ptable, pslope, sneakers,
                q, prev_dis, prev_eff, occ, moving, ring, backlog, acc_m, acc_r, qmax, samples,
                sample_steps, eff, add, want, arr, din, inflow, space0, pos, aq, gq, sfac, lmin,
                blk, dlan, dmov, lmark, mmark, i < n - 1,
            )  # fmt: skip


# ------------------------------------------------------------------------------- drivers
def used_yields(topo: Topology, tables: PlanTables) -> tuple[np.ndarray, np.ndarray]:
    """The yield CSR reduced to pairs green in the same stage of some plan of ``tables``.

    A movement only loses capacity to foes that discharge while it is green; foes the plans never
    show green together with it (the signal separates them, with change intervals longer than
    the effective-green extension) always have zero discharge then, so dropping them changes no
    number and saves the time loop most of its yield look-ups.
    """
    ys, yi = topo.yield_start, topo.yield_idx
    owner = np.repeat(np.arange(len(ys) - 1), np.diff(ys))
    M = topo.n_mov
    keep = np.zeros(len(yi), dtype=bool)
    sig = owner < M
    if sig.any():
        g = tables.shares[..., 1] > 0  # (B, K, M) green in the stage's main segment
        a, b = owner[sig], yi[sig]
        keep[sig] = (g[:, :, a] & g[:, :, b]).any(axis=(0, 1))
    new_start = np.concatenate([[0], np.cumsum(np.bincount(owner[keep], minlength=len(ys) - 1))])
    return new_start.astype(np.int64), np.ascontiguousarray(yi[keep])


def _topo_args(topo: Topology, yields: tuple[np.ndarray, np.ndarray] | None = None):
    M = topo.n_mov
    mov_app = np.ascontiguousarray(topo.edge_app[topo.mov_in[:M]])
    src_of = np.full(topo.n_edges, -1, dtype=np.int64)
    src_of[topo.src_edges] = np.arange(len(topo.src_edges))
    ys, yi = yields if yields is not None else (topo.yield_start, topo.yield_idx)
    return (
        topo.mov_in,
        topo.mov_out,
        topo.sat_vps,
        topo.ratio,
        topo.exit_share,
        topo.storage_veh,
        topo.travel_steps,
        topo.ring_start,
        ys,
        yi,
        mov_app,
        src_of,
        M,
        len(topo.approach_edges),
        topo.lane_start,
        topo.lane_mov,
        topo.mov_lane_start,
        topo.mov_lane,
        topo.grp_mov,
        topo.grp_idx,
        topo.grp_w,
        len(topo.grp_app),
    )


def _param_args(p: QueueParams):
    grid, table = permitted_table(p)
    slope = np.append(np.diff(table) / np.diff(grid), 0.0)  # as np.interp computes it
    return (bool(p.permissive), grid, table, slope, float(p.sneakers_per_green))


def _kernel_arrays(st: State, topo: Topology) -> dict:
    """Working arrays of the kernel, kept on the state between calls (online use)."""
    if not st.k:
        B, Mt = st.q.shape
        E = topo.n_edges
        L = max(len(topo.lane_start) - 1, 1)
        z = np.zeros
        st.k.update(
            eff=z((B, Mt)),
            add=z((B, Mt)),
            want=z((B, Mt)),
            arr=z((B, E)),  # this step's arrivals, already taken off the delay lines
            din=z((B, E)),
            inflow=z((B, E)),
            space0=z((B, E)),
            pos=np.zeros((B, E), dtype=np.int64),
            aq=z((B, len(topo.approach_edges))),
            gq=z((B, len(topo.grp_app))),
            sfac=z((B, Mt)),  # each movement's share of what it wants that leaves
            lmin=z((B, L)),  # each FIFO lane's share
            # FIFO bookkeeping of a step: blocked movements, the lanes they hold up and the
            # movements on those lanes; marks carry the step they were set in
            blk=np.zeros((B, Mt), dtype=np.int64),
            dlan=np.zeros((B, L), dtype=np.int64),
            dmov=np.zeros((B, Mt), dtype=np.int64),
            lmark=np.zeros((B, L), dtype=np.int64),
            mmark=np.zeros((B, Mt), dtype=np.int64),
        )
    return st.k


def _state_args(st: State, k: dict):
    return (
        st.q,
        st.prev_dis,
        st.prev_eff,
        st.occ,
        st.moving,
        st.ring,
        st.backlog,
        st.acc_m,
        st.acc_r,
        st.qmax,
        st.samples,
        st.sample_steps,
        k["eff"],
        k["add"],
        k["want"],
        k["arr"],
        k["din"],
        k["inflow"],
        k["space0"],
        k["pos"],
        k["aq"],
        k["gq"],
        k["sfac"],
        k["lmin"],
        k["blk"],
        k["dlan"],
        k["dmov"],
        k["lmark"],
        k["mmark"],
    )


def run_fixed(
    B: int,
    topo: Topology,
    tables: PlanTables,
    stream: DemandStream,
    T: int,
    params: QueueParams,
    n_samples: int,
    sample_steps: int,
) -> State:
    """Run ``T`` steps of the B fixed-time plans of ``tables`` from an empty network."""
    st = State.zeros(B, topo, n_samples, sample_steps)
    k = _kernel_arrays(st, topo)
    k["eff"][:, topo.n_mov :] = 1.0  # pass-through movements: no signal, always green
    pieces = green_pieces(tables, topo)
    cyc = np.ascontiguousarray(tables.cycle_s)
    S = topo.n_signals
    per_sig = int(np.diff(topo.sig_mov_start).max()) if S else 0
    ends = np.zeros((B, S, 2 * pieces.shape[2] * per_sig + 1))
    n_ends = np.zeros((B, S), dtype=np.int64)
    _fill_ends(pieces, cyc, topo.sig_mov_start, ends, n_ends)
    tau = np.mod(-tables.offset_s, cyc)
    ptr = np.argmax(ends > tau[..., None], axis=2).astype(np.int64)
    dirty = np.ones((B, S), dtype=np.bool_)
    targs = _topo_args(topo, used_yields(topo, tables))
    for t0 in range(0, T, CHUNK_STEPS):
        n = min(CHUNK_STEPS, T - t0)
        slabs, rows = stream.chunk(t0, n)
        _fixed_chunk(
            t0,
            n,
            np.ascontiguousarray(slabs),
            np.ascontiguousarray(rows, dtype=np.int64),
            cyc,
            tau,
            ptr,
            dirty,
            ends,
            pieces,
            topo.sig_mov_start,
            *targs,
            *_param_args(params),
            *_state_args(st, k),
        )
    st.t = T
    return st


def run_online(
    st: State,
    topo: Topology,
    green: np.ndarray,
    yellow: np.ndarray,
    stream: DemandStream,
    n: int,
    params: QueueParams,
    segments: np.ndarray,
) -> None:
    """Run ``n`` steps (in place) with green/yellow shares (G, B, Mt): step i shows
    ``green[segments[i]]`` (``segments``: (n,) ints)."""
    k = _kernel_arrays(st, topo)
    if "_topo_args" not in k:  # the same for every call of an online run
        k["_topo_args"], k["_param_args"] = _topo_args(topo), _param_args(params)
    slabs, rows = stream.chunk(st.t, n)
    # one copy: run on this thread (handing one row to the thread pool costs more CPU than
    # the row's work: measured on the pilot zone, RL env steps 2x the CPU time)
    single = st.q.shape[0] == 1
    threads = numba.get_num_threads()
    if single:
        numba.set_num_threads(1)
    try:
        _online_chunk(
            st.t,
            n,
            np.ascontiguousarray(slabs),
            np.ascontiguousarray(rows, dtype=np.int64),
            np.ascontiguousarray(green),
            np.ascontiguousarray(yellow),
            np.ascontiguousarray(segments, dtype=np.int64),
            st.green_age,
            st.yellow_age,
            float(params.startup_lost_s),
            float(params.yellow_used_s),
            *k["_topo_args"],
            *k["_param_args"],
            *_state_args(st, k),
        )
    finally:
        if single:
            numba.set_num_threads(threads)
    st.t += n
