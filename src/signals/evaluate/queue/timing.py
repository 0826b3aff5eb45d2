"""Fixed-time plans in the form the time loop reads (:class:`PlanTables`) and the effective
green they give each movement (HCM 6th ed. Ch. 19)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from signals.errors import InputError
from signals.evaluate.queue.params import QueueParams
from signals.evaluate.queue.topology import Topology
from signals.network import Network


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
