"""HCM review figures of a fixed-time plan, for timing sheets: v/c, control delay and LOS.

Control delay per movement: HCM 6th ed. Eq. 19-19 (uniform delay d1 = 0.5 C (1 - g/C)^2 /
(1 - min(1, X) g/C)) plus Eq. 19-20 (incremental delay d2 = 900 T [(X - 1) + sqrt((X - 1)^2 +
8 k I X / (c T))], T = 0.25 h, k = 0.5 pretimed, I = 1); LOS from DESIGN.md (A <= 10 s, B <= 20,
C <= 35, D <= 55, E <= 80, F above or v/c > 1).

Core module: no traci/libsumo import.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from signals.control.fixed_time import movement_sat_flow_vph

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import SignalPlan


def los(delay_s: float, vc: float = 0.0) -> str:
    """HCM level of service (the project's one definition, :func:`signals.evaluate.metrics.hcm_los`)."""
    from signals.evaluate.metrics import hcm_los

    return str(hcm_los(float(delay_s), float(vc)))


def hcm_delay_s(
    cycle_s: float,
    green_s: np.ndarray,
    vc: np.ndarray,
    capacity_vph: np.ndarray,
    T_h: float = 0.25,
    k: float = 0.5,
    I: float = 1.0,  # noqa: E741 - HCM's symbol
) -> np.ndarray:
    """HCM control delay per lane group: uniform d1 (Eq. 19-19) + incremental d2 (Eq. 19-20).

    Args:
        green_s, vc, capacity_vph: (N,) effective green, v/c ratio X, capacity c.
    Returns:
        (N,) seconds per vehicle.
    """
    gC = np.clip(np.asarray(green_s, float) / cycle_s, 0.0, 1.0)
    X = np.asarray(vc, float)
    d1 = 0.5 * cycle_s * (1 - gC) ** 2 / np.maximum(1 - np.minimum(1.0, X) * gC, 1e-9)
    c = np.maximum(np.asarray(capacity_vph, float), 1e-9)
    d2 = 900 * T_h * ((X - 1) + np.sqrt((X - 1) ** 2 + 8 * k * I * X / (c * T_h)))
    return d1 + d2


def hcm_review(network: Network, plan: SignalPlan, flow_vph: np.ndarray | None) -> list[dict]:
    """Per-stage review figures for timing sheets.

    Returns:
        one dict per stage: movements (list of "from->to (dir)"), flow_vph (critical movement),
        v_c (critical v/c of the stage), delay_s (flow-weighted control delay of the movements
        served), los. Without flows: movements only, the figures None.
    """
    s = network.signal_index(plan.signal_id)
    ms = network.movements_of(s)
    out = []
    shares = [network.movement_green_share(s, ph.state) for ph in plan.phases]
    C = plan.cycle_s
    if flow_vph is not None:
        v = np.asarray(flow_vph, float)[ms]
        sat = movement_sat_flow_vph(network, s, flow_vph)
        # effective green per movement: greens of the stages that serve it (+ change intervals it
        # keeps green through); l1 = e so effective green = displayed green (HCM Ch. 19)
        g_m = np.zeros(len(v))
        for k, ph in enumerate(plan.phases):
            nxt = plan.phases[(k + 1) % plan.n_stages].state
            ys, rs = ph.change_states(nxt, plan.n_stages == 1)
            g_m += shares[k] * ph.green_s
            keep = network.movement_green_share(s, rs)
            g_m += keep * (ph.yellow_s + ph.allred_s)
        cap = sat * g_m / max(C, 1e-9)
        X = np.where(cap > 0, v / np.maximum(cap, 1e-9), np.where(v > 0, np.inf, 0.0))
        d = hcm_delay_s(C, g_m, np.where(np.isfinite(X), X, 10.0), cap)
    for k in range(plan.n_stages):
        served = np.flatnonzero(shares[k] > 0)
        names = [
            f"{network.mov_from_edge[ms.start + i]}->{network.mov_to_edge[ms.start + i]} ({network.mov_dir[ms.start + i]})"
            for i in served
        ]
        row: dict = {
            "movements": names,
            "flow_vph": None,
            "v_c": None,
            "delay_s": None,
            "los": None,
        }
        if flow_vph is not None and len(served):
            crit = served[np.argmax(v[served] / np.maximum(sat[served], 1e-9))]
            vs = v[served]
            dly = (
                float((d[served] * vs).sum() / vs.sum())
                if vs.sum() > 0
                else float(d[served].mean())
            )
            xs = float(np.max(X[served]))
            row.update(
                flow_vph=round(float(v[crit]), 1),
                v_c=round(xs, 3) if math.isfinite(xs) else None,
                delay_s=round(dly, 1),
                los=los(dly, xs),
            )
        out.append(row)
    return out


__all__ = ["hcm_delay_s", "hcm_review", "los"]
