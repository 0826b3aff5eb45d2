"""HCM review figures of a fixed-time plan, for timing sheets: v/c, control delay and LOS.

Per movement (HCM lane-group view, movement flows on their lanes as the Webster design sees them,
:func:`signals.lanes.movement_sat_flow_vph`):

* **service per stage**: a movement is served in every stage where one of its links is green; at
  its saturation flow where a link is ``G`` (or the movement is never ``G``), at the HCM permitted
  left-turn saturation flow against the opposing ``G`` flow where it runs ``g`` and has a
  protected stage elsewhere (HCM 6th ed. Ch. 31, as ``fixed_time.stage_flow_ratios``);
* **flow ratio** v / (sum of its stage saturation flows), attributed to each stage serving it --
  the Webster overlap split the design uses, so a movement served in three stages carries a third
  of its need in each when the saturation flows are equal;
* **critical movement of a stage** (HCM 6th ed. Ch. 19, Step 7, "critical lane groups": the
  critical path passes each phase once, through the lane group with the highest flow ratio, and
  a lane group served in several phases counts once on that path): among the movements whose
  *main service* is that stage (the stage giving it the largest share of its capacity), the one
  with the highest flow ratio. A stage that mainly serves no loaded movement (an overlap stage)
  takes the highest-ratio loaded movement it serves whose lane group is not critical elsewhere,
  else none. Lane groups are the movements of an approach sharing a lane (HCM Ch. 19), and the
  stages pick in order of their candidates' flow ratios, so the same lane group is never
  critical in several stages; each movement's delay counts in one stage: its main one;
* **critical intersection v/c** X_c = (C / (C - L)) sum_i y_c,i (HCM 6th ed. Ch. 19, Step 8),
  y_c,i the highest attributed flow ratio of stage i (the Webster design's Y),
  L = sum of the stage lost times l1 + Y + AR - e (l1 = e = 2 s, as the Webster design). A signal
  is **oversaturated** when X_c > 1 even at the maximum cycle ``cycle_max_s`` (or its own, if
  longer): no retiming of the cycle within its bounds gives it capacity;

Control delay per movement: HCM 6th ed. Eq. 19-19 (uniform delay d1 = 0.5 C (1 - g/C)^2 /
(1 - min(1, X) g/C)) plus Eq. 19-20 (incremental delay d2 = 900 T [(X - 1) + sqrt((X - 1)^2 +
8 k I X / (c T))], T = 0.25 h, k = 0.5 pretimed, I = 1); LOS as docs/architecture.md,
"Metrics" (A <= 10 s, B <= 20, C <= 35, D <= 55, E <= 80, F above or v/c > 1).

Core module: no traci/libsumo import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from signals.lanes import movement_sat_flow_vph
from signals.plans import _expand

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


def _stage_shares(network: Network, plan: SignalPlan) -> tuple[np.ndarray, np.ndarray]:
    """((K, n_m) share of each movement's links green in each stage, (K, n_m) True where one
    of its links is 'G' there)."""
    s = network.signal_index(plan.signal_id)
    ms, ls = network.movements_of(s), network.links_of(s)
    K, n_m = plan.n_stages, ms.stop - ms.start
    lm = network.link_movement[ls] - ms.start
    veh = network.link_movement[ls] >= 0
    shares = np.array([network.movement_green_share(s, ph.state) for ph in plan.phases])
    major = np.zeros((K, n_m), dtype=bool)
    for k, ph in enumerate(plan.phases):
        g = np.frombuffer(ph.state.encode(), dtype=np.uint8) == ord("G")
        np.logical_or.at(major[k], lm[veh], g[veh])
    return shares.reshape(K, n_m), major


@dataclass(frozen=True)
class Service:
    """How a plan serves the movements of one signal (HCM lane-group view, module docstring).

    Attributes:
        flow_vph: (n_m,) movement flows.
        sat_vph: (n_m,) saturation flow on their lanes (:func:`signals.lanes.movement_sat_flow_vph`).
        stage_sat_vph: (K, n_m) saturation flow each stage gives (0 where it does not serve).
        rate_vph: (K, n_m) discharge rate while green in each stage (``stage_sat_vph`` per
            green link share; the lane's saturation flow where not served).
        green_s: (K, n_m) green seconds of each movement in each stage, link-averaged, over the
            intervals the stage shows (green, pedestrian clearance, change interval, or a
            program's phases as written): links keeping green through a change count it
            (l1 = e: effective green = displayed green, HCM Ch. 19).
        cycle_s: the plan's cycle.
    """

    flow_vph: np.ndarray
    sat_vph: np.ndarray
    stage_sat_vph: np.ndarray
    rate_vph: np.ndarray
    green_s: np.ndarray
    cycle_s: float

    def capacity_by_stage_vph(self) -> np.ndarray:
        """(K, n_m) capacity each stage gives each movement, veh/h."""
        return self.rate_vph * self.green_s / max(self.cycle_s, 1e-9)


def movement_service(network: Network, plan: SignalPlan, flow_vph: np.ndarray) -> Service:
    """:class:`Service` of ``plan`` under the network's movement flows ``flow_vph`` (M,)."""
    s = network.signal_index(plan.signal_id)
    ms, ls = network.movements_of(s), network.links_of(s)
    K = plan.n_stages
    lm = network.link_movement[ls] - ms.start
    veh = network.link_movement[ls] >= 0
    n_m = ms.stop - ms.start
    shares, major = _stage_shares(network, plan)
    served = shares > 0
    has_major = major.any(axis=0)
    v = np.asarray(flow_vph, float)[ms]
    sat = movement_sat_flow_vph(network, s, flow_vph)
    # stage saturation flow of each movement: full where it has a 'G' link in the stage (or is
    # never 'G'); HCM permitted left-turn saturation flow against the opposing 'G' flow where it
    # runs 'g' only and has a protected stage elsewhere (HCM 6th ed. Ch. 31):
    # s_p = v_o exp(-v_o t_cg / 3600) / (1 - exp(-v_o t_fh / 3600)), t_cg = 4.5 s, t_fh = 2.5 s
    n = len(lm)
    proh = network.link_prohibits[s, :n, :n]
    s_stage = np.zeros((K, n_m))
    for k in range(K):
        full = served[k] & (major[k] | ~has_major)
        s_stage[k] = np.where(full, sat * shares[k], 0.0)
        perm = served[k] & ~major[k] & has_major
        if perm.any():
            maj_link = np.zeros(n, dtype=bool)
            maj_link[veh] = major[k][lm[veh]]
            for i in np.flatnonzero(perm):
                mine = np.flatnonzero(lm == i)
                opp = {int(lm[j]) for j in np.flatnonzero(proh[mine].any(axis=0) & maj_link)}
                vo = max(float(v[list(opp)].sum()) if opp else 0.0, 1e-6)
                sp = vo * np.exp(-vo * 4.5 / 3600.0) / (1.0 - np.exp(-vo * 2.5 / 3600.0))
                s_stage[k, i] = min(sp, sat[i]) * shares[k, i]
    gt = np.zeros((K, n_m))
    for k, st, dur in _expand(plan):
        gt[k - 1] += network.movement_green_share(s, st) * dur
    rate = np.where(shares > 0, s_stage / np.maximum(shares, 1e-12), sat)
    return Service(v, sat, s_stage, rate, gt, float(plan.cycle_s))


# HCM start-up lost time l1 and extension of effective green e (as WebsterConfig's defaults)
STARTUP_LOST_S = 2.0
EXTENSION_S = 2.0
PERMITTED_TAG = "perm"


def hcm_review(
    network: Network,
    plan: SignalPlan,
    flow_vph: np.ndarray | None,
    *,
    cycle_max_s: float | None = None,
) -> list[dict]:
    """Per-stage review figures for timing sheets (see the module docstring).

    Returns:
        one dict per stage of ``plan``: ``movements`` (names grouped by approach, ``NB L+T``,
        permitted-only lefts tagged ``(perm)``), ``crossings`` (``XW N``, ...), ``sumo``
        (``name=from->to`` per movement), ``served`` (False for a stage that serves no vehicle
        movement and no crossing), ``critical`` (the critical movement's lane group, ``NB L+T`` where
        it shares a lane, or None), ``flow_vph`` (the flow of the movements the stage mainly
        serves), ``flow_ratio`` (the critical movement's attributed flow ratio y), ``v_c`` (the
        highest v/c of the loaded movements the stage mainly serves), ``delay_s`` (their
        flow-weighted HCM control delay) and ``los``. Without flows, or where the stage carries
        no flow, the figures are None (``flow_vph`` 0 where flows are given).
    """
    return hcm_plan_review(network, plan, flow_vph, cycle_max_s=cycle_max_s)[0]


def hcm_plan_review(
    network: Network,
    plan: SignalPlan,
    flow_vph: np.ndarray | None,
    *,
    cycle_max_s: float | None = None,
) -> tuple[list[dict], dict]:
    """(per-stage rows as :func:`hcm_review`, signal figures).

    Args:
        cycle_max_s: the maximum cycle for the oversaturation test (default: the plan's cycle).
    Returns:
        signal figures: ``flow_vph`` (total), ``critical_v_c`` X_c at the plan's cycle,
        ``critical_v_c_max_cycle`` X_c at max(cycle, cycle_max_s), ``cycle_max_s`` used,
        ``oversaturated`` (bool), ``lost_time_s``, ``delay_s`` (flow-weighted over the loaded
        movements) and ``los``; the figures None without flows.
    """
    from signals.naming import PERMITTED_TURNS, crossing_names, group_names, movement_names

    s = network.signal_index(plan.signal_id)
    ms = network.movements_of(s)
    ls = network.links_of(s)
    names = movement_names(network)[ms]
    xw = crossing_names(network, s)
    K = plan.n_stages
    C = plan.cycle_s
    lm = network.link_movement[ls] - ms.start  # local movement of each link, < 0 for none
    n_m = ms.stop - ms.start
    shares, major = _stage_shares(network, plan)
    served = shares > 0

    rows: list[dict] = []
    for k, ph in enumerate(plan.phases):
        idx = [int(i) for i in np.flatnonzero(served[k])]
        tag = {
            j: PERMITTED_TAG
            for j, i in enumerate(idx)
            if not major[k, i] and names[i].turn[:1] in PERMITTED_TURNS
        }
        cross = sorted(
            {
                xw[ls.start + int(li)]
                for li in np.flatnonzero(network.link_is_ped[ls])
                if ph.state[li] in "Gg" and ls.start + int(li) in xw
            }
        )
        rows.append(
            {
                "movements": group_names([names[i] for i in idx], tag),
                "crossings": cross,
                "sumo": [f"{names[i].name}={names[i].edges}" for i in idx],
                "served": bool(idx or cross),
                "critical": None,
                "flow_vph": None,
                "flow_ratio": None,
                "v_c": None,
                "delay_s": None,
                "los": None,
            }
        )
    sig: dict = {
        "flow_vph": None,
        "critical_v_c": None,
        "critical_v_c_max_cycle": None,
        "cycle_max_s": max(C, float(cycle_max_s or 0.0)),
        "oversaturated": False,
        "lost_time_s": float(
            sum(ph.yellow_s + ph.allred_s + STARTUP_LOST_S - EXTENSION_S for ph in plan.phases)
        ),
        "delay_s": None,
        "los": None,
    }
    if flow_vph is None or K == 0:
        return rows, sig

    svc = movement_service(network, plan, flow_vph)
    v, s_stage, gt = svc.flow_vph, svc.stage_sat_vph, svc.green_s
    g_m = gt.sum(axis=0)
    cap_k = svc.capacity_by_stage_vph()  # (K, n_m) capacity each stage gives
    cap = cap_k.sum(axis=0)
    X = np.where(cap > 0, v / np.maximum(cap, 1e-9), np.where(v > 0, np.inf, 0.0))
    d = hcm_delay_s(C, g_m, np.where(np.isfinite(X), X, 10.0), cap)
    ratio = np.where(served.any(axis=0), v / np.maximum(s_stage.sum(axis=0), 1e-9), np.inf)
    ratio = np.where(v > 0, ratio, 0.0)
    main = np.argmax(cap_k, axis=0)  # the stage giving each movement most of its capacity
    loaded = v > 0

    lanes = [
        {network.link_from_lane[ls.start + int(li)] for li in np.flatnonzero(lm == i)}
        for i in range(n_m)
    ]
    # lane groups: movements of one approach sharing a lane (HCM Ch. 19 lane groups; their
    # flow ratios are equal on the shared lane), as components of the lane-sharing relation
    grp = list(range(n_m))

    def root(i: int) -> int:
        while grp[i] != i:
            i = grp[i]
        return i

    for i in range(n_m):
        for j in range(i):
            if lanes[i] & lanes[j]:
                grp[root(i)] = root(j)
    group_of = [root(i) for i in range(n_m)]

    # critical lane groups, once per signal (HCM Ch. 19 Step 7): the highest flow ratios first,
    # each stage from the movements it mainly serves; then overlap-only stages from any loaded
    # movement they serve, of a lane group not critical elsewhere
    crit: list[int | None] = [None] * K
    taken: set[int] = set()
    for only_main in (True, False):
        pairs = [
            (float(ratio[i]), k, int(i))
            for k in range(K)
            if crit[k] is None
            for i in np.flatnonzero(served[k] & loaded & ((main == k) | (not only_main)))
        ]
        for _, k, i in sorted(pairs, key=lambda x: (-x[0], x[1], x[2])):
            if crit[k] is None and group_of[i] not in taken:
                crit[k] = i
                taken.add(group_of[i])
    for k, row in enumerate(rows):
        # the stage's volume: the flows it mainly serves (each vehicle counted in one stage)
        own = np.flatnonzero(served[k] & loaded & (main == k))
        row["flow_vph"] = round(float(v[own].sum()), 1)
        i = crit[k]
        if i is not None:
            group = [j for j in np.flatnonzero(served[k]) if group_of[j] == group_of[i]]
            row["critical"] = group_names([names[j] for j in group])[0]
            row["flow_ratio"] = round(float(ratio[i]), 4) if math.isfinite(ratio[i]) else None
            if not len(own):
                own = np.array([i])
        if not len(own):
            continue
        xs = float(np.max(X[own]))
        dly = float((d[own] * v[own]).sum() / v[own].sum())
        row.update(
            v_c=round(xs, 3) if math.isfinite(xs) else None,
            delay_s=round(dly, 1),
            los=los(dly, xs),
        )
    # the critical sum over the stages: each stage's highest attributed flow ratio (a movement
    # served in several stages carries its share in each, as the Webster design counts it)
    Y = float(sum(float(ratio[served[k] & loaded].max(initial=0.0)) for k in range(K)))
    L = sig["lost_time_s"]

    def x_c(cycle: float) -> float:
        return Y * cycle / (cycle - L) if cycle > L else math.inf

    sig["flow_vph"] = round(float(v.sum()), 1)
    xc, xm = x_c(C), x_c(sig["cycle_max_s"])
    sig["critical_v_c"] = round(xc, 3) if math.isfinite(xc) else None
    sig["critical_v_c_max_cycle"] = round(xm, 3) if math.isfinite(xm) else None
    sig["oversaturated"] = bool(xm > 1.0)
    if loaded.any():
        dly = float((d[loaded] * v[loaded]).sum() / v[loaded].sum())
        sig["delay_s"] = round(dly, 1)
        sig["los"] = los(dly, xc if math.isfinite(xc) else 10.0)
    return rows, sig


__all__ = ["Service", "hcm_delay_s", "hcm_plan_review", "hcm_review", "los", "movement_service"]
