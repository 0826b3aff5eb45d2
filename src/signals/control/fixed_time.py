"""Fixed-time plans: Webster's cycle and splits with HCM refinements, per time-of-day period.

Per signal, the stages come from :func:`signals.control.stage_sets.stage_templates` (the net's
own stage order where it can serve, else stages built from SUMO's conflict matrix); Webster sets
the cycle, the green splits and the change intervals:

* **flow ratios** (HCM 6th ed., Ch. 19, "critical lane group" method): the movement flows are
  spread over their lanes; a lane's flow ratio in a stage is its flow served there divided by its
  saturation flow, 1900 pc/h/ln times the flow-weighted turn adjustment of the movements sharing
  it (HCM Eq. 19-8 with f_LT, f_RT; shared lanes as the harmonic flow-weighted mean, HCM Ch. 31).
  A link is served in every stage where it is green, at its lane's saturation flow where it is
  'G' (or only ever 'g'), at the HCM permitted left-turn saturation flow against the opposing
  'G' flow where it also has a protected stage; it needs v / (sum of those saturation flows) in
  each of them. The stage's critical ratio y_k is the largest lane ratio.
* **lost time** per stage t_L = l1 + Y + AR - e (HCM Eq. 19-?; start-up lost time l1 = 2 s,
  extension of effective green e = 2 s, so t_L = Y + AR), L = sum over stages.
* **cycle**: Webster (1958, Road Research Technical Paper 39) C0 = (1.5 L + 5) / (1 - Y),
  Y = sum y_k; at least the HCM minimum cycle for a target critical v/c X_c,
  C_min = L X_c / (X_c - Y) (HCM 6th ed., Ch. 19, Eq. 19-?); clamped to the cycle bounds, and
  the maximum cycle when Y >= X_c (oversaturated).
* **splits**: effective greens proportional to y_k (Webster), at least the minimum green (and the
  pedestrian walk + clearance where crossings are green); rounded to whole seconds so SUMO's 1 s
  steps keep the cycle exact.
* **change intervals** from the approach speed and the intersection width (ITE Traffic
  Engineering Handbook, 7th ed., ch. 12): yellow y = t + v/(2a + 2Ag), red clearance
  r = (W + L)/v, over the links that lose green at the end of the stage; both rounded up to whole
  seconds; yellow at least 3 s (MUTCD 2009 sec. 4D.26).

Review figures (v/c, HCM control delay, LOS) for timing sheets: :mod:`signals.control.hcm`.

Core module: no traci/libsumo import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.control.stage_sets import (
    StageTemplates,
    change_intervals,
    conflict_plan,
    stage_templates,
)
from signals.lanes import lane_model
from signals.plans import GREEN_CHARS, PlanSet, Schedule, SignalPlan
from signals.safety import SafetyConfig, assert_safe, geometry, validate

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from signals.network import Network

DEFAULT_SAFETY = SafetyConfig()


@dataclass(frozen=True)
class WebsterConfig:
    """Parameters of the fixed-time design.

    Attributes:
        startup_lost_s: HCM start-up lost time l1.
        extension_s: HCM extension of effective green e (into the yellow).
        cycle_min_s, cycle_max_s: cycle bounds (inside the safety gate's bounds).
        target_vc: HCM target critical v/c for the minimum cycle.
        (Yellow and red clearance come from the site's SafetyConfig through
        ``signals.safety.required_yellow_s`` / ``required_allred_s``, the gate's own formulas.)
        design_flow: "mean" uses the period's mean hourly flow; "peak15" divides by the
            peak-hour factor of the route departures (HCM: v = V / PHF).
        drop_unwarranted_lefts: drop protected-left stages whose left turns fail the
            cross-product warrant (left volume x opposing volume above ``left_cross_product``
            for one / two or more opposing lanes; FHWA Traffic Signal Timing Manual, 2008,
            sec. 4.3.2): those lefts keep their permitted ('g') service.
    """

    startup_lost_s: float = 2.0
    extension_s: float = 2.0
    cycle_min_s: float = 20.0
    cycle_max_s: float = 120.0
    target_vc: float = 0.9
    design_flow: str = "mean"
    drop_unwarranted_lefts: bool = True
    left_cross_product: tuple[float, float] = (50_000.0, 100_000.0)


# ------------------------------------------------------------------------- flow ratios
def stage_flow_ratios(network: Network, plan: SignalPlan, flow_vph: np.ndarray) -> np.ndarray:
    """Critical flow ratio y_k of each stage (HCM critical lane group; see module docstring).

    Args:
        flow_vph: (M,) movement flows over the whole network, veh/h.
    Returns:
        (K,) y_k in [0, inf).
    """
    s = network.signal_index(plan.signal_id)
    ls = network.links_of(s)
    K = plan.n_stages
    lm = network.link_movement[ls]
    n = len(lm)
    states = np.array([[c for c in ph.state] for ph in plan.phases]).reshape(K, n)
    green = np.isin(states, list(GREEN_CHARS))
    major = states == "G"
    lane_idx, v_link, lane_sat, veh = lane_model(network, s, flow_vph)
    n_lanes = int(lane_idx.max()) + 1 if len(lane_idx) else 0
    if n_lanes == 0:
        return np.zeros(K)
    sat_link = lane_sat[lane_idx]  # (n,) saturation flow of each link's lane, veh/h
    # saturation flow of each link in each stage that serves it: its lane's where it is 'G' (or
    # only ever 'g'); the HCM permitted left-turn saturation flow where a link with a protected
    # stage runs permitted ('g', yielding to opposing 'G' flow v_o), HCM 6th ed. Ch. 31:
    # s_p = v_o exp(-v_o t_cg / 3600) / (1 - exp(-v_o t_fh / 3600)), t_cg = 4.5 s, t_fh = 2.5 s.
    has_major = major.any(axis=0)
    proh = network.link_prohibits[s, :n, :n]
    s_stage = np.zeros((K, n))
    for k in range(K):
        v_o = (proh & major[k][None, :]).astype(float) @ v_link  # (n,) opposing flow, veh/h
        vo = np.maximum(v_o, 1e-6)
        s_perm = vo * np.exp(-vo * 4.5 / 3600.0) / (1.0 - np.exp(-vo * 2.5 / 3600.0))
        permitted = green[k] & ~major[k] & has_major
        s_stage[k] = np.where(major[k] | (green[k] & ~has_major), sat_link, 0.0)
        s_stage[k] = np.where(permitted, np.minimum(s_perm, sat_link), s_stage[k])
    # a link served in several stages needs v / sum(s) of each of them (Webster's lane group
    # served in more than one phase); lanes add the ratios of the links they carry
    ratio = np.where(veh, v_link / np.maximum(s_stage.sum(axis=0), 1e-9), 0.0)  # (n,)
    y = np.zeros(K)
    for k in range(K):
        served = (s_stage[k] > 0) & veh
        lane_y = np.bincount(lane_idx, weights=np.where(served, ratio, 0.0), minlength=n_lanes)
        y[k] = float(lane_y.max())
    return y


def _walk_need_s(network: Network, plan: SignalPlan, safety: SafetyConfig) -> np.ndarray:
    """(K,) minimum green of each stage from its crossings: walk + pedestrian clearance."""
    s = network.signal_index(plan.signal_id)
    ls = network.links_of(s)
    ped = network.link_is_ped[ls]
    out = np.zeros(plan.n_stages)
    if not ped.any():
        return out
    # unknown crossing lengths (NaN) time as 0 here; the gate then refuses the plan, naming them
    cross = np.nan_to_num(geometry(network).crossing_m[ls], nan=0.0)
    for k, ph in enumerate(plan.phases):
        g = np.array([c in GREEN_CHARS for c in ph.state]) & ped
        if g.any():
            need_clear = float(cross[g].max()) / safety.ped_speed_mps - ph.yellow_s - ph.allred_s
            out[k] = safety.walk_min_s + max(need_clear, 0.0)
    return out


# ---------------------------------------------------------------------------- Webster
def drop_unwarranted_left_stages(
    network: Network, plan: SignalPlan, flow_vph: np.ndarray, cfg: WebsterConfig = WebsterConfig()
) -> SignalPlan:
    """Drop stages that only protect left turns (or other permitted links) the volumes do not
    warrant.

    A stage is a candidate when every link green in it is green in another stage too, so no
    movement loses service; the links whose only 'G' is in that stage must each fail the
    cross-product warrant (left volume x opposing volume, opposing = the 'G' flow the link
    yields to where it runs permitted; FHWA Traffic Signal Timing Manual 2008, sec. 4.3.2).
    At most all candidates are dropped; at least two stages remain.
    """
    K = plan.n_stages
    if K <= 2:
        return plan
    s = network.signal_index(plan.signal_id)
    ls = network.links_of(s)
    n = int(network.signal_n_links[s])
    lm = network.link_movement[ls]
    veh = lm >= 0
    _, v_link, _, _ = lane_model(network, s, flow_vph)
    states = np.array([list(ph.state) for ph in plan.phases]).reshape(K, n)
    green = np.isin(states, list(GREEN_CHARS))
    major = states == "G"
    proh = network.link_prohibits[s, :n, :n]
    lane_of = [network.link_from_lane[i] for i in range(ls.start, ls.stop)]
    keep = list(range(K))
    for k in range(K):
        if len(keep) <= 2:
            break
        others = [j for j in keep if j != k]
        if not (green[k] <= green[others].any(axis=0)).all():
            continue  # a link would lose all service
        only_here = major[k] & ~major[others].any(axis=0) & veh
        warranted = False
        for i in np.flatnonzero(only_here):
            # opposing: the 'G' links it yields to in the stages where it runs permitted
            perm = [j for j in others if green[j, i]]
            if not perm:
                warranted = True
                break
            opp = proh[i][None, :] & major[perm]
            v_o = max(float(v_link[row].sum()) for row in opp)
            opp_lanes = max(len({lane_of[j] for j in np.flatnonzero(row)}) for row in opp)
            # per-lane left volume x opposing volume (FHWA TSTM sec. 4.3.2)
            limit = cfg.left_cross_product[0 if opp_lanes <= 1 else 1]
            v_left = float(v_link[lm == lm[i]].sum()) if lm[i] >= 0 else float(v_link[i])
            if v_left * v_o > limit:
                warranted = True
                break
        if not warranted:
            keep.remove(k)
    if len(keep) == K:
        return plan
    phases = []
    for a, k in enumerate(keep):
        ph = plan.phases[k]
        nxt_was = (k + 1) % K
        nxt_now = keep[(a + 1) % len(keep)]
        if nxt_now != nxt_was:  # explicit change states were for the dropped successor
            ph = replace(ph, yellow_state="", allred_state="", tail=())
        phases.append(ph)
    cycle = float(sum(p.total_s for p in phases))
    return SignalPlan(plan.signal_id, cycle, plan.offset_s % cycle if cycle else 0.0, tuple(phases))


@dataclass(frozen=True)
class StageDesign:
    """A signal's stages ready for timing: what every cycle-and-split design works on.

    Attributes:
        plan: the stages with their change intervals (ITE, the site's floors) and offset 0;
            greens as the template's.
        min_green_s: (K,) whole-second minimum green of each stage: the site's and the
            stage's own minimum, the pedestrian walk + clearance where crossings are green.
        walk_need_s: (K,) walk + pedestrian clearance of each stage (0 without crossings).
        change_s: (K,) yellow + all-red of each stage.
        lost_s: (K,) HCM lost time t_L = l1 + Y + AR - e of each stage.
        max_green_s: the site's maximum green (never the plan's own), at least max(min_green_s).
    """

    plan: SignalPlan
    min_green_s: np.ndarray
    walk_need_s: np.ndarray
    change_s: np.ndarray
    lost_s: np.ndarray
    max_green_s: float

    @property
    def min_cycle_s(self) -> float:
        """The shortest cycle the minimum greens and change intervals allow."""
        return float((self.min_green_s + self.change_s).sum())


def stage_design(
    network: Network,
    template: SignalPlan,
    flow_vph: np.ndarray,
    cfg: WebsterConfig = WebsterConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> StageDesign:
    """The template's stages with change intervals and green bounds (:class:`StageDesign`);
    protected-left stages the volumes do not warrant are dropped first
    (:func:`drop_unwarranted_left_stages`, with ``cfg.drop_unwarranted_lefts``)."""
    if cfg.drop_unwarranted_lefts:
        template = drop_unwarranted_left_stages(network, template, flow_vph, cfg)
    ys, rs = change_intervals(network, template, safety)
    # pedestrian clearance sub-interval: crossings stop early enough to clear (MUTCD 4E.06)
    plan = template.retimed(
        [p.green_s for p in template.phases], yellow_s=ys, allred_s=rs, offset_s=0.0
    )
    walk_need = _walk_need_s(network, plan, safety)
    min_g = np.maximum(
        np.maximum([max(safety.min_green_s, p.min_green_s) for p in plan.phases], walk_need),
        0.0,
    )
    min_g = np.ceil(min_g - 1e-9)
    lost = ys + rs + cfg.startup_lost_s - cfg.extension_s  # HCM t_L per stage
    max_g = max(safety.max_green_s, float(min_g.max(initial=0.0)))
    return StageDesign(plan, min_g, walk_need, ys + rs, lost, max_g)


def timed_plan(design: StageDesign, green_s: np.ndarray, safety: SafetyConfig) -> SignalPlan:
    """The design's stages with these whole-second greens (offset 0): the site's maximum
    green recorded on every stage, the pedestrian clearance sub-interval long enough for the
    crossings green in it."""
    phases = []
    for k, p in enumerate(design.plan.phases):
        clear = p.clear_s
        if p.clear_s > 0 and p.clear_state:
            need = design.walk_need_s[k] - safety.walk_min_s
            clear = float(
                min(max(p.clear_s, math.ceil(need - 1e-9)), green_s[k] - safety.walk_min_s)
            )
        phases.append(
            replace(p, green_s=float(green_s[k]), max_green_s=safety.max_green_s, clear_s=clear)
        )
    return SignalPlan(
        design.plan.signal_id, float(sum(p.total_s for p in phases)), 0.0, tuple(phases)
    )


def cycle_bounds_s(cfg: WebsterConfig, safety: SafetyConfig) -> tuple[float, float]:
    """(lowest, highest) cycle a design may choose: the config's bounds inside the site's."""
    return max(cfg.cycle_min_s, safety.cycle_min_s), min(cfg.cycle_max_s, safety.cycle_max_s)


def webster_plan(
    network: Network,
    template: SignalPlan,
    flow_vph: np.ndarray,
    cfg: WebsterConfig = WebsterConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> SignalPlan:
    """Webster/HCM fixed-time plan for one signal on the template's stage sequence.

    Protected-left stages the left-turn volumes do not warrant are dropped first (see
    :func:`drop_unwarranted_left_stages`); the order of the remaining stages is kept.

    Args:
        template: the signal's stages (e.g. from :func:`signals.control.stage_sets.stage_templates`).
        flow_vph: (M,) movement flows over the network, veh/h.
    Returns:
        a plan with offset 0 (coordination is the optimizer's job).
    """
    d = stage_design(network, template, flow_vph, cfg, safety)
    K = d.plan.n_stages
    y = stage_flow_ratios(network, d.plan, flow_vph)
    L = float(d.lost_s.sum())
    Y = float(y.sum())
    lo, hi = cycle_bounds_s(cfg, safety)
    if Y >= min(cfg.target_vc, 0.95):
        C = hi  # oversaturated: longest allowed cycle (HCM Ch. 19 guidance)
    else:
        c_webster = (1.5 * L + 5.0) / (1.0 - Y)  # Webster (1958), optimum cycle
        c_min = L * cfg.target_vc / (cfg.target_vc - Y)  # HCM minimum cycle for target X_c
        C = min(max(c_webster, c_min, lo), hi)
    C = max(C, d.min_cycle_s)
    C = float(math.ceil(C - 1e-9))
    # effective green split proportional to y (Webster); actual green G = g + l1 - e
    g_eff_total = C - L
    weights = y if Y > 0 else np.ones(K)
    g_eff = g_eff_total * weights / weights.sum()
    green = g_eff + cfg.startup_lost_s - cfg.extension_s
    green = _fit_greens(green, d.min_green_s, C - float(d.change_s.sum()))
    # the site's max green (never the plan's own): cap, and the cycle shortens accordingly
    green = np.minimum(green, d.max_green_s)
    return timed_plan(d, green, safety)


def _fit_greens(green: np.ndarray, min_g: np.ndarray, total: float) -> np.ndarray:
    """Whole-second greens >= min_g summing exactly to ``total`` (largest remainder)."""
    g = np.maximum(green, min_g)
    free = g > min_g
    excess = g.sum() - total
    if excess > 0 and free.any():  # take back from the stages above their minimum, pro rata
        room = (g - min_g) * free
        g = g - excess * room / max(room.sum(), 1e-12)
        g = np.maximum(g, min_g)
    elif excess < 0:
        g = g + (-excess) * (g / g.sum())
    base = np.floor(g + 1e-9)
    rest = int(round(total - base.sum()))
    order = np.argsort(-(g - base))
    for i in range(abs(rest)):
        j = order[i % len(g)]
        if rest > 0:
            base[j] += 1
        elif base[j] - 1 >= min_g[j]:
            base[j] -= 1
    return base


def design_templates(
    network: Network,
    flow_vph: np.ndarray,
    template: PlanSet | StageTemplates | None = None,
    cfg: WebsterConfig = WebsterConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> tuple[dict[str, SignalPlan], dict[str, SignalPlan]]:
    """(the stages each signal is timed on, its Webster plan on them): ``template`` (default
    :func:`signals.control.stage_sets.stage_templates`, "auto"), except where a template is
    the net's own program and its Webster plan fails the gate on either severity: that signal
    is timed on its conflict-matrix stages instead. A plain PlanSet is taken as given."""
    flow_vph = np.asarray(flow_vph, dtype=float)
    if flow_vph.shape != (network.n_movements,):
        raise ValueError(f"flow_vph must have shape ({network.n_movements},), got {flow_vph.shape}")
    if template is None:
        template = stage_templates(network, "auto", safety)
    source = template.source if isinstance(template, StageTemplates) else {}
    if isinstance(template, StageTemplates):
        template = template.plans
    stages, plans = {}, {}
    for sid, p in template.plans.items():
        plan = webster_plan(network, p, flow_vph, cfg, safety)
        if source.get(sid) == "own" and validate(plan, network, clearance=safety):
            # the net's own stage order did not survive Webster's timing: conflict-matrix stages
            p = conflict_plan(network, network.signal_index(sid), safety)
            plan = webster_plan(network, p, flow_vph, cfg, safety)
        stages[sid], plans[sid] = p, plan
    return stages, plans


def webster_planset(
    network: Network,
    flow_vph: np.ndarray,
    template: PlanSet | StageTemplates | None = None,
    cfg: WebsterConfig = WebsterConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> PlanSet:
    """Webster/HCM plans for every signal of the network (or of ``template``) on the stages of
    :func:`design_templates`; checked safe.

    Raises:
        UnsafePlanError: never expected; the gate runs on every generated plan.
    """
    ps = PlanSet(design_templates(network, flow_vph, template, cfg, safety)[1])
    assert_safe(ps, network, clearance=safety)
    return ps


# ------------------------------------------------------------------------ demand and periods
def movement_flows_vph(
    network: Network,
    routes: str | Path | Sequence[str | Path],
    begin_s: float = 0.0,
    end_s: float = 3600.0,
    design_flow: str = "mean",
) -> np.ndarray:
    """(M,) movement flows of vehicles departing in [begin_s, end_s), veh/h (signals.demand).

    Several route files: the sum of each file's flows. ``design_flow="peak15"`` divides by the
    peak-hour factor of the departures (HCM v = V/PHF).
    """
    from signals.demand import movement_counts, read_routes

    if not isinstance(routes, (str, Path)):
        flows_each = [movement_flows_vph(network, f, begin_s, end_s, design_flow) for f in routes]
        return sum(flows_each, np.zeros(network.n_movements))

    r = read_routes(routes)
    span_end = min(end_s, float(np.max(r.depart_end_s)) if len(r.depart_end_s) else end_s)
    hours = max(span_end - begin_s, 1.0) / 3600.0
    flows = movement_counts(network, r, begin_s=begin_s, end_s=end_s) / hours
    if design_flow == "peak15":
        edges = np.arange(begin_s, end_s + 1e-9, 900.0)
        if len(edges) >= 2:
            counts, _ = np.histogram(r.depart_s, bins=edges, weights=r.weight)
            if counts.max() > 0:
                phf = counts.sum() / (len(counts) * counts.max())
                flows = flows / max(phf, 0.5)
    elif design_flow != "mean":
        raise ValueError(f"design_flow must be 'mean' or 'peak15', got {design_flow!r}")
    return flows


def fixed_time_schedule(
    network: Network,
    demand: dict[str, tuple],
    cfg: WebsterConfig = WebsterConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
    stages: str = "auto",
    design=None,
) -> tuple[Schedule, dict[str, np.ndarray]]:
    """Time-of-day Webster plans on the stage templates (:func:`stage_templates`, ``stages``);
    ``design(network, flow_vph, templates, (routes, file_begin_s, file_end_s)) -> PlanSet``
    times them instead where given (the optimizer, :mod:`signals.control.optimize`; the
    period's demand window for designs that read the routes, e.g. the queue-model polish).

    Args:
        demand: period name -> (begin_s, end_s time of day, routes file[, file_begin_s,
            file_end_s]): the flows come from the vehicles departing in [file_begin_s,
            file_end_s) of the file's own times (default [0, end_s - begin_s): time 0 of the
            file is the period start, the signals.demand convention; see
            :func:`signals.demand.demand_window` for clock-time files).
    Returns:
        (schedule, {period: (M,) design flows veh/h}).
    """
    template = stage_templates(network, stages, safety)
    periods, flows = {}, {}
    for name, (b, e, routes, *window) in demand.items():
        fb, fe = (float(window[0]), float(window[1])) if window else (0.0, float(e - b))
        f = movement_flows_vph(network, routes, fb, fe, cfg.design_flow)
        flows[name] = f
        if design is None:
            ps = webster_planset(network, f, template, cfg, safety)
        else:
            ps = design(network, f, template, (routes, fb, fe))
        periods[name] = (float(b), float(e), ps)
    return Schedule(periods), flows


__all__ = [
    "StageDesign",
    "WebsterConfig",
    "change_intervals",
    "cycle_bounds_s",
    "design_templates",
    "fixed_time_schedule",
    "movement_flows_vph",
    "stage_design",
    "stage_flow_ratios",
    "timed_plan",
    "webster_plan",
    "webster_planset",
]
