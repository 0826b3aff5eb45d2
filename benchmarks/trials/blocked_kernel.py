"""TRIAL, not shipped: the queue model's kernel with plans innermost (issue 15), kept to measure.

Not used by the project: ``signals.evaluate.queue.kernel`` (one plan per thread, float64) is the
kernel of record. Run ``python benchmarks/trials/blocked_kernel.py [BATCH] [HORIZON_S]`` to
compare both on the pilot zone in one run (same plans, same demand): it prints plan-hours per
second of each and the largest relative difference of average delay. What this session measured
(2-core Xeon, 2 MiB L2 per core, 105 MiB L3; B=64 and 128, 900 s) is in the issue 15 note: the
blocked float32 kernel is 1.2-1.5x the shipped kernel, the blocked float64 0.8x; float64 results
equal the shipped kernel's to 1e-15, float32 to 4e-6 relative in average delay.

Remeasured 2026-12-04 (one thread, CPU time, kernel only, 30 min horizon; another job held
both cores, so the figures are noisy): with 32 identical plans the blocked float32 kernel (P=32)
ran 8.6-8.9 plan-hours per CPU second against 3.0-3.6 for the shipped kernel; with 32 plans of
random offsets 5.4 against 3.5 (the event-driven green then has events in nearly every signal
of a block each step, handled plan by plan in scalar code). Per plan-step, timed inside the
kernel on random offsets: green 7.7 us, the step 27 us (P=32); smaller blocks were slower
(P=16 35 us, P=8 49 us, P=4 67 us: the vector loops' set-up and remainders, not the cache, set
the cost), P=64 36 us. Marking the arrays ``noalias`` (a numba ``pipeline_class`` setting
``flags.noalias``) gave about 4 %. The older 1.2-1.5x was measured through ``_compare``, whose
timed call can include a recompilation (its warm-up call has other array types when the batch
is padded), so it understated the blocked kernel. Outside the kernel, ``QueueModel.evaluate``
spends about 0.055 CPU s per plan-hour on its results (``approach_samples``' percentiles,
``reduceat``): at 25 plan-hours/s that alone would take more than the budget.

On the quiet machine the same day (random offsets, 30 min, kernel only, two repeats): one
thread, 32 plans, blocked float32 6.9 / 7.1 plan-hours per CPU second against 3.3 / 2.9 for the
shipped kernel (2.2x); both threads, 64 plans, 7.7 / 9.7 plan-hours per wall second against
6.8 / 5.8 (two blocks of 32 share the L3 and scale less well than the shipped rows).

Design (what the trial tried):

* the batch is cut into blocks of ``P`` plans (at most :data:`BLOCK_PLANS`); every field is one
  2-D array ``(items, P)`` with the plans innermost and contiguous, so one SIMD instruction
  updates a row of plans (the inner ``for p in range(P)`` loops are plain contiguous loops that
  LLVM vectorises); ``prange`` gives blocks to cores;
* float32 state and arithmetic by default (half the bytes per step: the loop is bound by memory
  bandwidth); the same code compiled for float64 is the stepped float64 reference the accuracy
  benchmark reports beside it (``precision="float64"``; online control always runs in float64);
* three passes per step (movements, movements, edges); the edge pass also inserts new vehicles
  and reads the next step's stop-line arrivals; the spillback share is computed where it is used
  unless FIFO lanes need it first;
* fixed-time green is precomputed per movement as at most J merged intervals of the cycle and
  only recomputed for a (signal, plan) in the steps whose window touches one of its interval
  ends (event-driven): between ends a movement's effective green share does not change;
* the HCM permitted-movement factor is read from a table (no exp per movement and step).

No SUMO import.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from signals.evaluate.queue.demand import DemandStream
from signals.evaluate.queue.kernel import _fill_ends, _ov, green_pieces, used_yields
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
    ROW_FIELDS,
    State,
    permitted_table,
)
from signals.evaluate.queue.timing import PlanTables
from signals.evaluate.queue.topology import Topology

_JIT = {"cache": True, "error_model": "numpy", "boundscheck": False}

# Plans per block: 32 float32 lanes keep LLVM's vector loop (8 or 16 lanes x interleave) in use;
# fewer plans fall back to its scalar remainder loop (measured: 1.4 vs 2.7 ns per movement-plan).
BLOCK_PLANS = 32
PRECISIONS = {"float32": np.float32, "float64": np.float64}
# the edge pass's per-step row totals (summed in the kernel's dtype, accumulated in float64)
E_DEM, E_INS, E_BDEL, E_MOV, E_GONE = range(5)


class Net(NamedTuple):
    """Read-only arrays of the topology and the model constants, in the kernel's dtype."""

    mov_in: np.ndarray  # (Mt,) int64
    mov_out: np.ndarray  # (Mt,) int64, -1 leaves the net
    sat: np.ndarray  # (Mt,) veh/s
    ratio: np.ndarray  # (Mt,)
    exit_share: np.ndarray  # (E,)
    storage: np.ndarray  # (E,) veh
    travel: np.ndarray  # (E,) int64 steps
    ring_start: np.ndarray  # (E+1,) int64
    yield_start: np.ndarray  # (Mt+1,) int64 CSR of the foes each movement yields to
    yield_idx: np.ndarray
    mov_app: np.ndarray  # (M,) int64 approach of each signal movement
    src_of: np.ndarray  # (E,) int64 source index or -1
    lane_start: np.ndarray  # (L+1,) FIFO lanes (CSR), empty without FIFO lanes
    lane_mov: np.ndarray
    mov_lane_start: np.ndarray  # (Mt+1,)
    mov_lane: np.ndarray
    grp_mov: np.ndarray  # (K,) lane-group pairs
    grp_idx: np.ndarray
    grp_w: np.ndarray
    pgrid: np.ndarray  # permitted-factor table: grid, values, slopes
    ptable: np.ndarray
    pslope: np.ndarray
    n_mov: int
    n_app: int
    n_grp: int
    permissive: bool
    fifo: bool
    pinv: float  # 1 / grid step
    sneakers: float
    zero: float  # typed constants of the kernel's dtype (keep float32 arithmetic float32)
    half: float
    one: float


class Blocks(NamedTuple):
    """State and working arrays of nb blocks of P plans: (nb, items, P), plans innermost."""

    q: np.ndarray  # (nb, Mt, P) stop-line queues
    prev_dis: np.ndarray  # (nb, Mt, P) discharge of the previous step
    prev_eff: np.ndarray  # (nb, Mt, P) effective green of the previous step
    eff: np.ndarray  # (nb, Mt, P) effective green of this step
    want: np.ndarray  # (nb, Mt, P) what each movement can send
    sfac: np.ndarray  # (nb, Mt, P) share of it that leaves (FIFO lanes only)
    acc_m: np.ndarray  # (nb, 3, Mt, P) delay_vs, stops, discharged (derived: _row_totals)
    cum_arr: np.ndarray  # (nb, E, P) stop-line arrivals so far
    occ: np.ndarray  # (nb, E, P) vehicles on the edge
    moving: np.ndarray  # (nb, E, P) vehicles in its delay line
    arr: np.ndarray  # (nb, E, P) this step's stop-line arrivals
    din: np.ndarray  # (nb, E, P) what all movements want to send into the edge
    inflow: np.ndarray  # (nb, E, P) what entered the edge this step
    space0: np.ndarray  # (nb, E, P) space left at the start of the step
    ring: np.ndarray  # (nb, R, P) delay lines, CSR by edge
    pos: np.ndarray  # (nb, E) int64 write slot of each delay line
    backlog: np.ndarray  # (nb, Es, P) vehicles waiting to be inserted
    acc_e: np.ndarray  # (nb, 5, P) float64 edge-pass totals (E_*)
    acc_r: np.ndarray  # (nb, 8, P) float64 ROW_FIELDS, composed at the end of each call
    rs: np.ndarray  # (nb, 5, P) one step's edge-pass totals
    qmax: np.ndarray  # (nb, A, P)
    aq: np.ndarray  # (nb, A, P)
    gq: np.ndarray  # (nb, G, P)
    samples: np.ndarray  # (nb, n_samples, G, P) float32 lane-group queue samples
    lmin: np.ndarray  # (nb, L, P) FIFO lane shares
    vopp: np.ndarray  # (nb, P) flow a yielding movement faces
    green_age: np.ndarray  # (nb, Mt, P) float64, online
    yellow_age: np.ndarray  # (nb, Mt, P) float64, online


class Fixed(NamedTuple):
    """Fixed-time green of nb blocks (:func:`green_pieces`, event-driven)."""

    cyc: np.ndarray  # (nb, S, P) float64 cycle
    tau: np.ndarray  # (nb, S, P) float64 position in the cycle
    ptr: np.ndarray  # (nb, S, P) int64 next interval end
    nxt: np.ndarray  # (nb, S, P) float64 its time in the cycle
    dirty: np.ndarray  # (nb, S, P) bool: the last window touched an end
    ev: np.ndarray  # (nb, 2, P) float64 scratch: a signal's events, window starts
    ends: np.ndarray  # (nb, P, S, L) float64 sorted interval ends (read by one plan at a time)
    pieces: np.ndarray  # (nb, P, M, J, 3) float64 [start, end, share]
    sig_mov_start: np.ndarray  # (S+1,)


class Online(NamedTuple):
    """Online green: step i shows green[seg[i]] and yellow[seg[i]] ((G, nb, Mt, P) each)."""

    green: np.ndarray
    yellow: np.ndarray
    seg: np.ndarray  # (n,) int64
    l1: float  # start-up lost time, s
    e_used: float  # yellow used, s


# ------------------------------------------------------------------------ fixed-time green
@njit(**_JIT)
def _green_fixed(g, k, eff):
    """eff over [t, t+1) of block k for the (signal, plan) whose window touches an interval
    end; advances the cycle positions. The test of every (signal, plan) is one vector loop over
    the plans; the rare events (an end near the window) are handled plan by plan."""
    cyc, tau, ptr, nxt, dirty = g.cyc[k], g.tau[k], g.ptr[k], g.nxt[k], g.dirty[k]
    ends, pieces, ev = g.ends[k], g.pieces[k], g.ev[k]
    S, P = cyc.shape
    J = pieces.shape[2]
    for s in range(S):
        n_ev = 0
        for p in range(P):
            lo = tau[s, p]
            c = cyc[s, p]
            x = nxt[s, p]  # the next interval end after lo
            gap = x - lo
            recompute = dirty[s, p] or gap < 1.0
            dirty[s, p] = gap <= 1.0
            nt = lo + 1.0
            wrap = nt >= c
            if wrap:
                nt -= c
            tau[s, p] = nt
            e = (1 if recompute else 0) + (2 if (wrap or x <= nt) else 0)
            ev[0, p] = e
            ev[1, p] = lo
            n_ev += e
        if n_ev == 0:
            continue
        for p in range(P):
            e = int(ev[0, p])
            if e & 1:
                lo = ev[1, p]
                c = cyc[s, p]
                hi = lo + 1.0
                lo2 = lo - c  # the part of the window past the cycle end, if any
                hi2 = hi - c
                for m in range(g.sig_mov_start[s], g.sig_mov_start[s + 1]):
                    acc = 0.0
                    for j in range(J):
                        a = pieces[p, m, j, 0]
                        z = pieces[p, m, j, 1]
                        acc += pieces[p, m, j, 2] * (_ov(lo, hi, a, z) + _ov(lo2, hi2, a, z))
                    eff[m, p] = acc
            if e & 2:
                nt = tau[s, p]
                i = 0 if nt < ev[1, p] else ptr[s, p]  # wrapped: from the cycle start
                while ends[p, s, i] <= nt:
                    i += 1
                ptr[s, p] = i
                nxt[s, p] = ends[p, s, i]


@njit(**_JIT)
def _green_online(g, k, i, green_age, yellow_age, eff):
    """eff of step i from the online green/yellow shares (reference.online_effective_np)."""
    gi = g.seg[i]
    green = g.green[gi, k]
    yellow = g.yellow[gi, k]
    Mt, P = eff.shape
    for m in range(Mt):
        for p in range(P):
            gs = green[m, p]
            ys = yellow[m, p]
            ga = green_age[m, p]
            ya = yellow_age[m, p]
            ga = ((ga if ga < 1e8 else 0.0) + 1.0) if gs > 0.0 else 1e9
            ya = ((ya if ya < 1e8 else 0.0) + 1.0) if ys > 0.0 else 1e9
            green_age[m, p] = ga
            yellow_age[m, p] = ya
            gf = min(max(ga - g.l1, 0.0), 1.0)
            yf = min(max(g.e_used - (ya - 1.0), 0.0), 1.0)
            eff[m, p] = min(max(gs * gf + ys * yf, 0.0), 1.0)


# ---------------------------------------------------------------------------- one step
@njit(**_JIT)
def _arrivals(nt, occ, moving, arr, cum_arr, din, inflow, space0, ring, pos, rs):
    """Stop-line arrivals of a block's first step of a call (reference.step_np part 1)."""
    E, P = occ.shape
    zero = nt.zero
    for p in range(P):
        rs[E_GONE, p] = zero
    for e in range(E):
        sl = nt.ring_start[e] + pos[e]
        xs = nt.exit_share[e]
        st = nt.storage[e]
        for p in range(P):
            a = ring[sl, p]
            ring[sl, p] = zero
            arr[e, p] = a
            cum_arr[e, p] += a
            moving[e, p] -= a
            gone = a * xs
            oc = occ[e, p] - gone
            occ[e, p] = oc
            rs[E_GONE, p] += gone
            space0[e, p] = max(st - oc, zero)
            din[e, p] = zero
            inflow[e, p] = zero


@njit(inline="always", **_JIT)
def _insert(e, j, p, dm, st, zero, half, backlog, occ, inflow, rs):
    """Insertion of plan p's departures on source edge e (j) into the space left."""
    b0 = backlog[j, p]
    bl = b0 + dm
    ins = min(bl, max(st - occ[e, p], zero))
    b1 = bl - ins
    backlog[j, p] = b1
    rs[E_DEM, p] += dm
    rs[E_INS, p] += ins
    rs[E_BDEL, p] += half * (b0 + b1)
    inflow[e, p] += ins
    occ[e, p] += ins


@njit(**_JIT)
def _step(nt, t, dem, b, k, sample_steps, lookahead):
    """One 1 s step of block k (reference.step_np), the next step's arrivals read at the end.

    On entry ``arr`` holds this step's stop-line arrivals (already taken off ``occ``, ``moving``
    and the delay lines) and ``space0`` the space left on each edge.
    """
    q, prev_dis, prev_eff, eff = b.q[k], b.prev_dis[k], b.prev_eff[k], b.eff[k]
    want, sfac, acc_m = b.want[k], b.sfac[k], b.acc_m[k]
    occ, moving, arr, din = b.occ[k], b.moving[k], b.arr[k], b.din[k]
    inflow, space0, ring, pos = b.inflow[k], b.space0[k], b.ring[k], b.pos[k]
    backlog, rs, vopp, cum_arr = b.backlog[k], b.rs[k], b.vopp[k], b.cum_arr[k]
    Mt, P = q.shape
    E = occ.shape[0]
    zero, half = nt.zero, nt.half
    npt = nt.ptable.shape[0]
    # 1. capacity and what each movement wants to send
    for m in range(Mt):
        mi = nt.mov_in[m]
        o = nt.mov_out[m]
        sat = nt.sat[m]
        r = nt.ratio[m]
        y0 = nt.yield_start[m]
        y1 = nt.yield_start[m + 1]
        if nt.permissive and y1 > y0:
            for p in range(P):
                vopp[p] = zero
            for j in range(y0, y1):
                yj = nt.yield_idx[j]
                for p in range(P):
                    vopp[p] += prev_dis[yj, p]
            for p in range(P):
                e_now = eff[m, p]
                drop = prev_eff[m, p] - e_now
                prev_eff[m, p] = e_now
                cap = sat * e_now
                v = vopp[p]
                if cap > zero:
                    # np.interp on the tabulated HCM permitted factor (reference.permitted_table)
                    ix = int(v * nt.pinv)
                    if ix >= npt - 1:
                        f = nt.ptable[npt - 1]
                    else:
                        f = nt.pslope[ix] * (v - nt.pgrid[ix]) + nt.ptable[ix]
                    cap *= f
                if drop > zero and v > zero:
                    cap += nt.sneakers * drop  # reference.step_np: sneakers at green end
                want[m, p] = min(q[m, p] + arr[mi, p] * r, cap)
        else:
            for p in range(P):
                want[m, p] = min(q[m, p] + arr[mi, p] * r, sat * eff[m, p])
        if o >= 0:
            for p in range(P):
                din[o, p] += want[m, p]
    # 2. spillback with FIFO lanes (reference.fifo_factor): a lane passes the lowest share of
    # the movements queued on it; a movement on several lanes the mean of its lanes' shares
    if nt.fifo:
        for m in range(Mt):
            o = nt.mov_out[m]
            for p in range(P):
                sfac[m, p] = nt.one
            if o >= 0:
                for p in range(P):
                    dn = din[o, p]
                    sp = space0[o, p]
                    if dn > sp:
                        sfac[m, p] = sp / dn
        lmin = b.lmin[k]
        for ln in range(nt.lane_start.shape[0] - 1):
            for p in range(P):
                lmin[ln, p] = nt.one
            for j in range(nt.lane_start[ln], nt.lane_start[ln + 1]):
                mj = nt.lane_mov[j]
                for p in range(P):
                    if want[mj, p] > zero and sfac[mj, p] < lmin[ln, p]:
                        lmin[ln, p] = sfac[mj, p]
        for m in range(Mt):
            k0 = nt.mov_lane_start[m]
            k1 = nt.mov_lane_start[m + 1]
            if k1 > k0:
                for p in range(P):
                    sfac[m, p] = zero
                for j in range(k0, k1):
                    ln = nt.mov_lane[j]
                    for p in range(P):
                        sfac[m, p] += lmin[ln, p]
                inv = nt.one / (k1 - k0)
                for p in range(P):
                    sfac[m, p] *= inv
    # 3. discharge and statistics (the spillback share: what is left downstream over what
    # all movements want to send there)
    # (the queue before this step's arrivals is q; what left is acc_m[A_DIS], derived at the
    # end of the call from the arrivals at the edge's stop line: _row_totals)
    sstat, qstat = acc_m[A_STOP], acc_m[A_DEL]
    for m in range(Mt):
        mi = nt.mov_in[m]
        o = nt.mov_out[m]
        r = nt.ratio[m]
        if nt.fifo:
            for p in range(P):
                prev_dis[m, p] = want[m, p] * sfac[m, p]
        elif o >= 0:
            for p in range(P):
                w = want[m, p]
                dn = din[o, p]
                sp = space0[o, p]
                prev_dis[m, p] = w * (sp / dn) if dn > sp else w
        else:
            for p in range(P):
                prev_dis[m, p] = want[m, p]
        for p in range(P):
            d = prev_dis[m, p]
            ad = arr[mi, p] * r
            qa = q[m, p]
            q1 = qa + ad - d
            q[m, p] = q1
            occ[mi, p] -= d
            passed = min(max(d - qa, zero), ad)
            qstat[m, p] += half * (qa + q1)
            sstat[m, p] += ad - passed
        if o >= 0:
            for p in range(P):
                d = prev_dis[m, p]
                occ[o, p] += d
                inflow[o, p] += d
    # 4. insertion, delay lines, and the arrivals of the next step
    for j in range(5):
        for p in range(P):
            rs[j, p] = zero
    Pd = dem.shape[1]
    for e in range(E):
        j = nt.src_of[e]
        st = nt.storage[e]
        if j >= 0:
            if Pd > 1:  # a demand draw per plan (Poisson seeds)
                dj = dem[j]
                for p in range(P):
                    _insert(e, j, p, dj[p], st, zero, half, backlog, occ, inflow, rs)
            else:
                dm = dem[j, 0]
                for p in range(P):
                    _insert(e, j, p, dm, st, zero, half, backlog, occ, inflow, rs)
        ps = pos[e]
        w = nt.ring_start[e] + ps
        ps += 1
        if ps >= nt.travel[e]:
            ps = 0
        pos[e] = ps
        if lookahead:
            # the next step's stop-line arrivals: vehicles that entered travel_steps ago
            sl = nt.ring_start[e] + ps
            xs = nt.exit_share[e]
            for p in range(P):
                f = inflow[e, p]
                ring[w, p] = f  # (w == sl on a one-step edge: written, then read back)
                mvv = moving[e, p] + f
                rs[E_MOV, p] += mvv
                a = ring[sl, p]
                ring[sl, p] = zero
                arr[e, p] = a
                cum_arr[e, p] += a
                moving[e, p] = mvv - a
                gone = a * xs
                oc = occ[e, p] - gone
                occ[e, p] = oc
                rs[E_GONE, p] += gone
                space0[e, p] = max(st - oc, zero)
                din[e, p] = zero
                inflow[e, p] = zero
        else:
            for p in range(P):
                f = inflow[e, p]
                ring[w, p] = f
                mvv = moving[e, p] + f
                rs[E_MOV, p] += mvv
                moving[e, p] = mvv
                din[e, p] = zero
                inflow[e, p] = zero
    acc_e = b.acc_e[k]
    for j in range(5):
        for p in range(P):
            acc_e[j, p] += rs[j, p]
    # approach queues (their max) and lane-group queues (the samples), every sample_steps
    if sample_steps > 0 and (t + 1) % sample_steps == 0:
        aq, qmax, gq = b.aq[k], b.qmax[k], b.gq[k]
        aq[:] = zero
        for m in range(nt.n_mov):
            a = nt.mov_app[m]
            for p in range(P):
                aq[a, p] += q[m, p]
        for a in range(nt.n_app):
            for p in range(P):
                qmax[a, p] = max(qmax[a, p], aq[a, p])
        si = (t + 1) // sample_steps - 1
        if si < b.samples.shape[1]:
            gq[:] = zero
            for i in range(nt.grp_mov.shape[0]):
                g = nt.grp_idx[i]
                mm = nt.grp_mov[i]
                wg = nt.grp_w[i]
                for p in range(P):
                    gq[g, p] += q[mm, p] * wg
            smp = b.samples[k, si]
            for g in range(nt.n_grp):
                for p in range(P):
                    smp[g, p] = gq[g, p]


@njit(**_JIT)
def _row_totals(nt, b, k):
    """acc_m[A_DIS] (what left each movement: its arrivals less its queue) and acc_r
    (ROW_FIELDS) of block k, from the movement and edge accumulators."""
    acc_m, acc_e, acc_r, q, cum_arr = b.acc_m[k], b.acc_e[k], b.acc_r[k], b.q[k], b.cum_arr[k]
    Mt, P = q.shape
    dis = acc_m[A_DIS]
    for m in range(Mt):
        mi = nt.mov_in[m]
        r = nt.ratio[m]
        for p in range(P):
            dis[m, p] = cum_arr[mi, p] * r - q[m, p]
    for p in range(P):
        qd = 0.0
        sd = 0.0
        pd = 0.0
        ex = acc_e[E_GONE, p]
        for m in range(Mt):
            v = float(acc_m[A_DEL, m, p])
            qd += v
            if m >= nt.n_mov:
                pd += v
            sd += float(acc_m[A_STOP, m, p])
            if nt.mov_out[m] < 0:
                ex += float(dis[m, p])
        acc_r[R_DEM, p] = acc_e[E_DEM, p]
        acc_r[R_INS, p] = acc_e[E_INS, p]
        acc_r[R_EXIT, p] = ex
        acc_r[R_BDEL, p] = acc_e[E_BDEL, p]
        acc_r[R_MOV, p] = acc_e[E_MOV, p]
        acc_r[R_QDEL, p] = qd
        acc_r[R_STOP, p] = sd
        acc_r[R_PDEL, p] = pd


@njit(parallel=True, **_JIT)
def _chunk(t0, n, dem, nt, b, fixed, online, use_fixed, sample_steps):
    """Run n steps of every block from t0: the one driver of fixed-time and online runs.

    ``dem`` (nb, n, Es, Pd): vehicles departing per step (Pd 1 when every plan sees the same).
    """
    nb = b.q.shape[0]
    for k in prange(nb):
        blk_eff = b.eff[k]
        rs = b.rs[k]
        _arrivals(
            nt, b.occ[k], b.moving[k], b.arr[k], b.cum_arr[k], b.din[k], b.inflow[k], b.space0[k],
            b.ring[k], b.pos[k], rs,
        )  # fmt: skip
        acc_e = b.acc_e[k]
        for p in range(rs.shape[1]):
            acc_e[E_GONE, p] += rs[E_GONE, p]
        for i in range(n):
            if use_fixed:
                _green_fixed(fixed, k, blk_eff)
            else:
                _green_online(online, k, i, b.green_age[k], b.yellow_age[k], blk_eff)
            _step(nt, t0 + i, dem[k, i], b, k, sample_steps, i < n - 1)
        _row_totals(nt, b, k)


# ------------------------------------------------------------------------------- drivers
def net_arrays(
    topo: Topology, params: QueueParams, dtype, yields: tuple[np.ndarray, np.ndarray] | None = None
) -> Net:
    """The kernel's :class:`Net` of a topology (``yields``: a reduced yield CSR)."""
    f = np.dtype(dtype).type
    M = topo.n_mov
    src_of = np.full(topo.n_edges, -1, dtype=np.int64)
    src_of[topo.src_edges] = np.arange(len(topo.src_edges))
    ys, yi = yields if yields is not None else (topo.yield_start, topo.yield_idx)
    grid, table = permitted_table(params)
    slope = np.append(np.diff(table) / np.diff(grid), 0.0)  # as np.interp computes it

    def fa(x):
        return np.ascontiguousarray(x, dtype=dtype)

    def ia(x):
        return np.ascontiguousarray(x, dtype=np.int64)

    return Net(
        mov_in=ia(topo.mov_in),
        mov_out=ia(topo.mov_out),
        sat=fa(topo.sat_vps),
        ratio=fa(topo.ratio),
        exit_share=fa(topo.exit_share),
        storage=fa(topo.storage_veh),
        travel=ia(topo.travel_steps),
        ring_start=ia(topo.ring_start),
        yield_start=ia(ys),
        yield_idx=ia(yi),
        mov_app=ia(topo.edge_app[topo.mov_in[:M]]),
        src_of=src_of,
        lane_start=ia(topo.lane_start),
        lane_mov=ia(topo.lane_mov),
        mov_lane_start=ia(topo.mov_lane_start),
        mov_lane=ia(topo.mov_lane),
        grp_mov=ia(topo.grp_mov),
        grp_idx=ia(topo.grp_idx),
        grp_w=fa(topo.grp_w),
        pgrid=fa(grid),
        ptable=fa(table),
        pslope=fa(slope),
        n_mov=int(M),
        n_app=len(topo.approach_edges),
        n_grp=len(topo.grp_app),
        permissive=bool(params.permissive) and len(yi) > 0,
        fifo=len(topo.lane_mov) > 0,
        pinv=f(1.0 / (grid[1] - grid[0])),
        sneakers=f(params.sneakers_per_green),
        zero=f(0.0),
        half=f(0.5),
        one=f(1.0),
    )


def blocks_zeros(nb: int, P: int, topo: Topology, n_samples: int, dtype) -> Blocks:
    Mt, E = topo.n_mov_total, topo.n_edges
    L = max(len(topo.lane_start) - 1, 1)

    def z(*shape, dt=dtype):
        return np.zeros((nb, *shape, P), dtype=dt)

    return Blocks(
        q=z(Mt), prev_dis=z(Mt), prev_eff=z(Mt), eff=z(Mt), want=z(Mt), sfac=z(Mt),
        acc_m=z(3, Mt), cum_arr=z(E), occ=z(E), moving=z(E), arr=z(E), din=z(E), inflow=z(E), space0=z(E),
        ring=z(topo.ring_size), pos=np.zeros((nb, E), dtype=np.int64),
        backlog=z(len(topo.src_edges)), acc_e=z(5, dt=np.float64),
        acc_r=z(len(ROW_FIELDS), dt=np.float64), rs=z(5), qmax=z(len(topo.approach_edges)),
        aq=z(len(topo.approach_edges)), gq=z(len(topo.grp_app)),
        samples=z(n_samples, len(topo.grp_app), dt=np.float32), lmin=z(L),
        vopp=np.zeros((nb, P), dtype=dtype),
        # online: at t = 0 every movement counts as green (or yellow) for long already
        green_age=np.full((nb, Mt, P), 1e6), yellow_age=np.full((nb, Mt, P), 1e6),
    )  # fmt: skip


def _to_blocks(x: np.ndarray, nb: int, P: int) -> np.ndarray:
    """(nb*P, ...) batch-first -> (nb, ..., P) contiguous."""
    y = x.reshape(nb, P, *x.shape[1:])
    return np.ascontiguousarray(np.moveaxis(y, 1, -1))


def _from_blocks(x: np.ndarray, B: int) -> np.ndarray:
    """(nb, ..., P) -> (B, ...) batch-first (a view when nb == 1)."""
    y = np.moveaxis(x, -1, 1)
    if x.shape[0] == 1:
        return y[0, :B]
    return y.reshape(-1, *y.shape[2:])[:B]


def state_view(b: Blocks, B: int, t: int, sample_steps: int) -> State:
    """The batch-first :class:`State` of blocks (views when there is one block)."""
    return State(
        t=t,
        q=_from_blocks(b.q, B),
        prev_dis=_from_blocks(b.prev_dis, B),
        prev_eff=_from_blocks(b.prev_eff, B),
        occ=_from_blocks(b.occ, B),
        moving=_from_blocks(b.moving, B),
        ring=_from_blocks(b.ring, B),
        backlog=_from_blocks(b.backlog, B),
        acc_m=_from_blocks(b.acc_m, B),
        acc_r=_from_blocks(b.acc_r, B),
        qmax=_from_blocks(b.qmax, B),
        samples=_from_blocks(b.samples, B),
        sample_steps=sample_steps,
        green_age=_from_blocks(b.green_age, B),
        yellow_age=_from_blocks(b.yellow_age, B),
        k={"blocks": b},
    )


def block_size(B: int) -> tuple[int, int]:
    """(blocks, plans per block) for a batch of B: enough blocks for every thread, at most
    :data:`BLOCK_PLANS` plans each (the last block padded with copies of the last plan)."""
    threads = numba.get_num_threads()
    P = min(BLOCK_PLANS, max(1, -(-B // threads)))
    return -(-B // P), P


def _demand(stream: DemandStream, t0: int, n: int, rows: np.ndarray, nb: int, P: int, dtype):
    slabs, row_slab = stream.chunk(t0, n)
    if stream.rngs is None:  # fluid: every plan the same rates
        d = np.ascontiguousarray(slabs[0], dtype=dtype)[:, :, None]  # (n, Es, 1)
        return np.broadcast_to(d, (nb, *d.shape))
    return _to_blocks(np.asarray(slabs, dtype=dtype)[row_slab[rows]], nb, P)


def run_fixed(
    B: int,
    topo: Topology,
    tables: PlanTables,
    stream: DemandStream,
    T: int,
    params: QueueParams,
    n_samples: int,
    sample_steps: int,
    precision: str = "float32",
) -> State:
    """Run ``T`` steps of the B fixed-time plans of ``tables`` from an empty network."""
    dtype = PRECISIONS[precision]
    nb, P = block_size(B)
    rows = np.minimum(np.arange(nb * P), B - 1)  # padding: copies of the last plan
    tab = tables.take(rows) if nb * P != B else tables
    b = blocks_zeros(nb, P, topo, n_samples, dtype)
    b.eff[:, topo.n_mov :, :] = 1.0  # pass-through movements: no signal, always green
    pieces = green_pieces(tab, topo)
    cyc = np.ascontiguousarray(tab.cycle_s)
    S = topo.n_signals
    per_sig = int(np.diff(topo.sig_mov_start).max()) if S else 0
    ends = np.zeros((nb * P, S, 2 * pieces.shape[2] * per_sig + 1))
    n_ends = np.zeros((nb * P, S), dtype=np.int64)
    _fill_ends(pieces, cyc, topo.sig_mov_start, ends, n_ends)
    tau = np.mod(-tab.offset_s, cyc)
    ptr = np.argmax(ends > tau[..., None], axis=2).astype(np.int64)
    fixed = Fixed(
        cyc=_to_blocks(cyc, nb, P),
        tau=_to_blocks(tau, nb, P),
        ptr=_to_blocks(ptr, nb, P),
        nxt=_to_blocks(np.take_along_axis(ends, ptr[..., None], axis=2)[..., 0], nb, P),
        dirty=np.ones((nb, S, P), dtype=np.bool_),
        ev=np.zeros((nb, 2, P)),
        ends=ends.reshape(nb, P, *ends.shape[1:]),
        pieces=pieces.reshape(nb, P, *pieces.shape[1:]),
        sig_mov_start=np.ascontiguousarray(topo.sig_mov_start, dtype=np.int64),
    )
    nt = net_arrays(topo, params, dtype, used_yields(topo, tab))
    online = _no_online(dtype)
    for t0 in range(0, T, CHUNK_STEPS):
        n = min(CHUNK_STEPS, T - t0)
        dem = _demand(stream, t0, n, rows, nb, P, dtype)
        _chunk(t0, n, dem, nt, b, fixed, online, True, sample_steps)
    return state_view(b, B, T, sample_steps)


def _no_online(dtype) -> Online:
    z = np.zeros((1, 1, 1, 1))
    return Online(z, z, np.zeros(1, dtype=np.int64), 0.0, 0.0)


def _no_fixed() -> Fixed:
    z3 = np.zeros((1, 1, 1))
    return Fixed(
        z3, z3, np.zeros((1, 1, 1), dtype=np.int64), z3, np.zeros((1, 1, 1), dtype=np.bool_),
        np.zeros((1, 2, 1)), np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 1, 1, 3)),
        np.zeros(2, dtype=np.int64),
    )  # fmt: skip


def online_state(B: int, topo: Topology, n_samples: int, sample_steps: int) -> State:
    """A float64 online :class:`State` whose arrays are views of one block of B plans."""
    return state_view(blocks_zeros(1, B, topo, n_samples, np.float64), B, 0, sample_steps)


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
    ``green[segments[i]]`` (``segments``: (n,) ints). ``st`` comes from :func:`online_state`."""
    b: Blocks = st.k["blocks"]
    if "_net" not in st.k:  # the same for every call of an online run
        st.k["_net"] = net_arrays(topo, params, np.float64)
        st.k["_fixed"] = _no_fixed()
    B = st.q.shape[0]
    g = Online(
        green=np.ascontiguousarray(np.moveaxis(green, 1, -1))[:, None],
        yellow=np.ascontiguousarray(np.moveaxis(yellow, 1, -1))[:, None],
        seg=np.ascontiguousarray(segments, dtype=np.int64),
        l1=float(params.startup_lost_s),
        e_used=float(params.yellow_used_s),
    )
    dem = _demand(stream, st.t, n, np.arange(B), 1, B, np.float64)
    # one block: run on this thread (the thread pool costs more CPU than one block's work)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        _chunk(st.t, n, dem, st.k["_net"], b, st.k["_fixed"], g, False, st.sample_steps)
    finally:
        numba.set_num_threads(threads)
    st.t += n


# ------------------------------------------------------------------------------ comparison
def _compare(B: int, T: int) -> None:  # pragma: no cover - a measurement, run by hand
    import time

    from signals.bench.hotpath import pilot_zone_assets
    from signals.evaluate.queue import QueueModel, green_fraction, kernel, plan_tables
    from signals.evaluate.queue.model import _result
    from signals.network import Network
    from signals.plans import PlanSet, stack_arrays

    net_p, routes = pilot_zone_assets("out/bench/pilot-zone")
    net = Network.from_sumo(net_p)
    qm = QueueModel.from_routes(net, routes, begin_s=0, end_s=3600, bin_s=900)
    plan = PlanSet.from_network(net).to_arrays(net)
    tables = plan_tables(stack_arrays([plan] * B), net, qm.params)
    runs = {
        "shipped f64": lambda b, tab, t: kernel.run_fixed(
            b, qm.topo, tab, DemandStream(qm.topo, None, np.zeros(b, np.int64)), t, qm.params,
            t // 5, 5,
        ),
    }  # fmt: skip
    for prec in ("float32", "float64"):
        runs[f"blocked {prec}"] = lambda b, tab, t, prec=prec: run_fixed(
            b, qm.topo, tab, DemandStream(qm.topo, None, np.zeros(b, np.int64)), t, qm.params,
            t // 5, 5, prec,
        )  # fmt: skip
    delay = {}
    for name, f in runs.items():
        f(2, tables.take(np.arange(2)), 20)  # compile, not timed
        w = time.perf_counter()
        st = f(B, tables, T)
        w = time.perf_counter() - w
        res = _result(st, qm.topo, net, qm.params, np.arange(B), np.full(B, -1),
                      green_fraction(tables, qm.topo) * T)  # fmt: skip
        delay[name] = res.avg_delay_s
        print(f"{name}: {B * T / 3600 / w:.2f} plan-hours/s, avg delay {res.avg_delay_s[0]:.4f} s")
    for name in runs:
        rel = np.max(np.abs(delay[name] / delay["shipped f64"] - 1))
        print(f"{name}: max relative delay difference vs shipped {rel:.2e}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    _compare(
        int(sys.argv[1]) if len(sys.argv) > 1 else 64,
        int(sys.argv[2]) if len(sys.argv) > 2 else 900,
    )
