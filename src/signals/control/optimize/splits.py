"""Cycle and green splits by CP-SAT, per signal and time-of-day period, on any network.

Each signal is timed on the stages Webster's design uses (:func:`signals.control.fixed_time.
design_templates`: the net's own stage order where it can serve, else stages from the conflict
matrix) with the same change intervals, minimum greens (the site's, the stage's own, pedestrian
walk + clearance) and maximum green (:func:`signals.control.fixed_time.stage_design`); only the
cycle and the greens are chosen here, in whole seconds, so SUMO's 1 s steps keep the cycle exact.

**Model** (one CP-SAT model per signal and candidate cycle C; OR-Tools CP-SAT):

* variables: the green g_k of every stage, integer seconds, ``min_green_s[k] <= g_k <=
  max_green_s``, sum g_k = C - sum of the change intervals;
* each loaded movement i gets the capacity its stages give (HCM lane-group view,
  :func:`signals.control.hcm.movement_service`: its lanes' saturation flow, the HCM permitted
  left-turn rate where it runs permitted beside a protected stage, its green link share, the
  change intervals through which it keeps green), c_i = sum_k r_ik (a_ik g_k + b_ik) / C,
  linear in the greens. A movement served in one stage is exact; one served in several at
  different rates is weighed in quarter-seconds of its fastest stage (``QUANTUM``);
* cost of movement i: its flow times the HCM control delay (HCM 6th ed. Eq. 19-19 uniform
  delay d1 + Eq. 19-20 incremental delay d2, :func:`signals.control.hcm.hcm_delay_s`, the
  timing sheets' own formula) with X_i = v_i / c_i, tabulated over every integer capacity index
  and read with an element constraint, so the objective is exact at whole seconds, convex or not;
* objective ``delay``: total delay (veh s/h); ``max_vc``: the largest degree of saturation X_i
  (in thousandths), then total delay.

**Cycle**: every candidate cycle from the lower to the upper bound (the Webster config's, inside
the site's) in ``cycle_step_s`` steps, then whole seconds around the best. Signals of one
coordination group (``common_cycle``: none, the V2X corridors of the net, or all) share one
cycle, the one of least summed objective; the per-signal problems at a fixed cycle are
independent, so this is the group's exact optimum over the candidates.

**Offsets** (``offsets``) of signals sharing a cycle: ``delay``, the network offsets of
:mod:`signals.control.optimize.offsets` (pairwise delay tables, the grid as a whole);
``maxband`` / ``multiband``, green waves on the corridors (:mod:`signals.control.optimize.
bands`, which may also reorder a corridor signal's stages: lead/lag), then the delay offsets for
the group's other signals with the corridor offsets held; ``none``: 0. Signals on a cycle of
their own keep offset 0.

**Robust**: every solve has a time limit, a fixed seed and a fixed worker count (reproducible);
a signal whose demand exceeds its capacity even at the best plan, or whose solve stopped at the
time limit, is flagged ``best_effort``; one whose minimum greens need a cycle above the maximum
gets that shortest cycle, flagged; one whose optimized plan fails the gate keeps its Webster
plan, flagged. Every output plan passes the safety gate.

Core module: no traci/libsumo import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from signals.control.fixed_time import (
    DEFAULT_SAFETY,
    StageDesign,
    WebsterConfig,
    cycle_bounds_s,
    design_templates,
    stage_design,
    timed_plan,
)
from signals.control.hcm import hcm_delay_s, movement_service
from signals.control.optimize.bands import BandConfig, CorridorBand
from signals.plans import PlanSet
from signals.safety import SafetyConfig, assert_safe, validate

if TYPE_CHECKING:  # pragma: no cover
    from signals.control.stage_sets import StageTemplates
    from signals.network import Network

OBJECTIVES = ("delay", "max_vc")
COMMON_CYCLE = ("none", "corridors", "all")
OFFSETS = ("none", "delay", "maxband", "multiband")
# capacity index of a movement served in several stages at different rates: quarter-seconds of
# green at its fastest stage's rate
QUANTUM = 4
X_CAP = 10.0  # degree of saturation where the delay tables stop growing (as hcm_plan_review)
# integer delay cost unit: a hundredth of a vehicle-second per hour (ties between splits resolve
# far below a hundredth of a second of average delay)
DELAY_SCALE = 100
# weight of max_vc's first objective over total delay: one signal's delay stays far below 1e9
# veh s/h (1e11 cost units), so a thousandth of X always outweighs it
LEXICOGRAPHIC = 10**11


@dataclass(frozen=True)
class SplitConfig:
    """Settings of the cycle-and-split optimizer.

    Attributes:
        objective: ``"delay"`` (total HCM control delay) or ``"max_vc"`` (the largest degree
            of saturation, then delay).
        common_cycle: which signals share one cycle: ``"none"``, ``"corridors"`` (the signals
            of each corridor: ``corridors`` where given, else each V2X corridor of the net; a
            signal on two corridors joins them) or ``"all"``.
        corridors: corridor name -> its signal ids in order (any net); None: the net's V2X
            corridors.
        cycle_step_s: step of the first pass over candidate cycles (whole seconds; the second
            pass tries every second around the best).
        analysis_period_h: T of the HCM incremental delay (HCM 6th ed. Eq. 19-20; 0.25 h).
        time_limit_s: CP-SAT time limit per solve.
        seed, workers: CP-SAT's random seed and worker count (fixed: reproducible plans).
        jobs: processes solving coordination groups in parallel (the plans do not depend on
            it).
        offsets: how the offsets of every group of two or more signals sharing a cycle are
            chosen: ``"delay"`` (:mod:`signals.control.optimize.offsets`), ``"maxband"`` or
            ``"multiband"`` (:mod:`signals.control.optimize.bands` on the group's corridors,
            delay offsets for its other signals), ``"none"`` (0).
        offset_time_limit_s: CP-SAT time limit of each group's offset model.
        bands: green-wave settings (speeds, lead/lag, MILP time limit); its ``method`` is
            taken from ``offsets``.
        webster: cycle bounds, lost time and left-turn stage rules shared with Webster's design.
    """

    objective: str = "delay"
    common_cycle: str = "none"
    cycle_step_s: int = 5
    analysis_period_h: float = 0.25
    time_limit_s: float = 5.0
    seed: int = 0
    workers: int = 1
    jobs: int = 1
    offsets: str = "delay"
    offset_time_limit_s: float = 30.0
    bands: BandConfig = field(default_factory=BandConfig)
    corridors: dict[str, tuple[str, ...]] | None = None
    webster: WebsterConfig = field(default_factory=WebsterConfig)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.common_cycle not in COMMON_CYCLE:
            raise ValueError(
                f"common_cycle must be one of {COMMON_CYCLE}, got {self.common_cycle!r}"
            )
        if int(self.cycle_step_s) < 1 or self.cycle_step_s != int(self.cycle_step_s):
            raise ValueError(f"cycle_step_s must be a whole number >= 1, got {self.cycle_step_s}")
        if not (self.analysis_period_h > 0 and self.time_limit_s > 0):
            raise ValueError("analysis_period_h and time_limit_s must be > 0")
        if self.offsets not in OFFSETS:
            raise ValueError(f"offsets must be one of {OFFSETS}, got {self.offsets!r}")
        if not self.offset_time_limit_s > 0:
            raise ValueError("offset_time_limit_s must be > 0")
        if self.workers < 1 or self.jobs < 1:
            raise ValueError(f"workers and jobs must be >= 1, got {self.workers}, {self.jobs}")


@dataclass(frozen=True)
class SignalResult:
    """What the optimizer chose for one signal, beside Webster's plan on the same stages.

    ``delay_s`` / ``webster_delay_s``: the model's flow-weighted HCM control delay (s/veh) of
    the optimized and the Webster plan; ``max_vc`` / ``webster_max_vc``: their largest degree
    of saturation. ``status``: ``optimal``, ``feasible`` (time limit), ``no_demand`` (Webster's
    plan kept) or ``webster`` (the optimized plan failed the gate; Webster's kept).
    """

    signal_id: str
    group: str
    cycle_s: float
    green_s: tuple[float, ...]
    delay_s: float
    max_vc: float
    webster_cycle_s: float
    webster_delay_s: float
    webster_max_vc: float
    status: str
    best_effort: bool
    note: str = ""
    offset_s: float = 0.0
    offset_status: str = ""  # the solver's for the group's offsets; "" where none were optimized
    offset_method: str = ""  # delay (pair tables) or maxband / multiband (a corridor signal)
    group_delay_vs_h: float = 0.0  # offsets model: the group's pair delay with its offsets
    group_delay_zero_offsets_vs_h: float = 0.0  # ... and with every offset 0


# ------------------------------------------------------------------------------ one signal
@dataclass(frozen=True, eq=False)
class _Signal:
    """The linear capacity model of one signal's loaded movements (see the module docstring):
    capacity c_i = (rate_i * E_i / q_i + cap0_i) / C veh/h with E_i = sum_k w_ik g_k."""

    sid: str
    design: StageDesign
    v: np.ndarray  # (n,) veh/h
    sat: np.ndarray  # (n,) veh/h
    w: np.ndarray  # (n, K) integer weights of the greens in the capacity index
    q: np.ndarray  # (n,) index units per second of green at ``rate``
    rate: np.ndarray  # (n,) veh/h
    cap0: np.ndarray  # (n,) veh s/h: capacity from the change intervals, independent of g

    def change_s(self) -> int:
        return int(round(float(self.design.change_s.sum())))

    def green_bounds(self, C: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(lo, hi) whole-second greens at cycle C, None if no split fits."""
        lo = self.design.min_green_s.astype(np.int64)
        total = C - self.change_s()
        if total < lo.sum():
            return None
        hi = np.minimum(int(math.floor(self.design.max_green_s)), total - (lo.sum() - lo))
        if hi.sum() < total or (hi < lo).any():
            return None
        return lo, hi

    def _delay(self, C: float, E: np.ndarray, i, T_h: float) -> tuple[np.ndarray, np.ndarray]:
        """(HCM control delay s/veh, X) of movements ``i`` at cycle C and capacity indices E."""
        cap = np.maximum((self.rate[i] * E / self.q[i] + self.cap0[i]) / C, 1e-9)
        X = np.minimum(self.v[i] / cap, X_CAP)
        return hcm_delay_s(C, cap * C / self.sat[i], X, cap, T_h=T_h), X

    def table(self, C: int, E: np.ndarray, i: int, objective: str, T_h: float) -> np.ndarray:
        """Integer cost of movement i at cycle C over capacity indices E."""
        d, X = self._delay(C, E, i, T_h)
        if objective == "max_vc":
            return np.round(X * 1000.0).astype(np.int64)
        return np.round(self.v[i] * d * DELAY_SCALE).astype(np.int64)

    def figures(self, C: float, green: np.ndarray, T_h: float) -> tuple[float, float]:
        """(flow-weighted delay s/veh, max X) of whole-second greens at cycle C."""
        d, X = self._delay(C, self.w @ np.asarray(green, dtype=float), slice(None), T_h)
        return float((self.v * d).sum() / self.v.sum()), float(X.max())


def _signal_model(
    network: Network,
    design: StageDesign,
    flow_vph: np.ndarray,
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> _Signal | None:
    """The capacity model of one signal, None when no movement carries flow. A movement's
    green seconds are linear in the stage greens (the pedestrian clearance sub-interval is
    fixed once the minimum green holds the walk), so two timings give the coefficients."""
    plan = design.plan
    g0 = design.min_green_s
    s0 = movement_service(network, timed_plan(design, g0, safety), flow_vph)
    s1 = movement_service(network, timed_plan(design, g0 + 1.0, safety), flow_vph)
    a = s1.green_s - s0.green_s  # (K, n_m) green seconds per second of stage green
    b = s0.green_s - a * g0[:, None]
    loaded = s0.flow_vph > 0
    if not loaded.any() or plan.n_stages == 0:
        return None
    per = (s0.rate_vph * a)[:, loaded].T  # (n, K) veh/h per second of each stage's green
    rate = per.max(axis=1)
    n_serving = (per > 1e-9).sum(axis=1)
    q = np.where(n_serving > 1, QUANTUM, 1).astype(np.int64)
    w = np.where(
        per > 1e-9, np.round(q[:, None] * per / np.maximum(rate[:, None], 1e-12)), 0
    ).astype(np.int64)
    # smallest integers: stages serving a movement at equal rates weigh 1 each
    div = np.gcd.reduce(np.column_stack([w, q]), axis=1)
    w, q = w // div[:, None], q // div
    cap0 = (s0.rate_vph * b).sum(axis=0)[loaded]
    return _Signal(
        plan.signal_id,
        design,
        s0.flow_vph[loaded],
        s0.sat_vph[loaded],
        w,
        q,
        np.maximum(rate, 1e-9),
        cap0,
    )


def _solve(sig: _Signal, C: int, cfg: SplitConfig) -> tuple[int, np.ndarray, str] | None:
    """(objective, greens (K,), "optimal"/"feasible") of signal ``sig`` at cycle C by CP-SAT;
    None when no split fits the cycle."""
    from ortools.sat.python import cp_model

    bounds = sig.green_bounds(C)
    if bounds is None:
        return None
    lo, hi = bounds
    K = len(lo)
    total = C - sig.change_s()
    m = cp_model.CpModel()
    g = [m.new_int_var(int(lo[k]), int(hi[k]), f"g{k}") for k in range(K)]
    m.add(sum(g) == total)
    costs, vcs = [], []
    # movements indexed by the same integer expression (one stage's green, most of them) share
    # one table: their costs add
    by_index: dict[tuple[int, ...], list[int]] = {}
    for i in range(len(sig.v)):
        by_index.setdefault(tuple(int(x) for x in sig.w[i]), []).append(i)
    for j, (wi, rows) in enumerate(by_index.items()):
        wv = np.array(wi)
        e_lo, e_hi = int(wv @ lo), int(wv @ hi)
        E = np.arange(e_lo, e_hi + 1, dtype=float)
        idx = m.new_int_var(0, e_hi - e_lo, f"e{j}")
        m.add(idx == sum(int(wv[k]) * g[k] for k in range(K) if wv[k]) - e_lo)
        objectives = ("delay", "max_vc") if cfg.objective == "max_vc" else ("delay",)
        for objective in objectives:
            tabs = [sig.table(C, E, i, objective, cfg.analysis_period_h) for i in rows]
            tab = np.max(tabs, axis=0) if objective == "max_vc" else np.sum(tabs, axis=0)
            c = m.new_int_var(int(tab.min()), int(tab.max()), f"{objective}{j}")
            m.add_element(idx, [int(x) for x in tab], c)
            (vcs if objective == "max_vc" else costs).append(c)
    delay = sum(costs)
    if cfg.objective == "max_vc":
        z = m.new_int_var(0, int(X_CAP * 1000), "max_vc")
        m.add_max_equality(z, vcs)
        m.minimize(z * LEXICOGRAPHIC + delay)
    else:
        m.minimize(delay)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(cfg.time_limit_s)
    solver.parameters.num_workers = int(cfg.workers)
    solver.parameters.random_seed = int(cfg.seed)
    # probing proves nothing these small models need and doubles their solve time (measured
    # on the RESCO nets and the hand-written test nets)
    solver.parameters.cp_model_probing_level = 0
    st = solver.solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    greens = np.array([solver.value(x) for x in g], dtype=float)
    return int(solver.objective_value), greens, "optimal" if st == cp_model.OPTIMAL else "feasible"


# --------------------------------------------------------------------------- coordination
def coordination_groups(
    network: Network, common_cycle: str, corridors: dict[str, tuple[str, ...]] | None = None
) -> dict[str, str]:
    """signal id -> coordination group: its own id (``none``), ``all``, or with
    ``corridors`` the corridors through it (``corridors``: name -> signal ids, else the V2X
    corridors entering it, ``network.edge_v2x``; corridors meeting at a signal join one group,
    named by their sorted ids; signals on none keep their own id)."""
    sids = list(network.signal_ids)
    if common_cycle == "none":
        return {s: s for s in sids}
    if common_cycle == "all":
        return {s: "all" for s in sids}
    if common_cycle != "corridors":
        raise ValueError(f"common_cycle must be one of {COMMON_CYCLE}, got {common_cycle!r}")
    through: dict[str, set[str]] = {}
    if corridors:
        for name, members in corridors.items():
            for sid in members:
                network.signal_index(sid)  # an unknown id is an InputError
                through.setdefault(sid, set()).add(name)
    else:
        for s, sid in enumerate(sids):
            cors = {network.edge_v2x[e] for e in network.mov_in_edge[network.movements_of(s)]}
            if cors - {""}:
                through[sid] = cors - {""}
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    on: dict[str, set[str]] = {}
    for sid in sids:
        cors = through.get(sid)
        if cors:
            on[sid] = cors
            first = root(min(cors))
            for c in cors:
                parent[root(c)] = first
    members: dict[str, set[str]] = {}
    for cors in on.values():
        r = root(min(cors))
        members.setdefault(r, set()).update(cors)
    names = {r: "+".join(sorted(cs)) for r, cs in members.items()}
    return {sid: names[root(min(on[sid]))] if sid in on else sid for sid in sids}


def _candidates(lo: int, hi: int, step: int) -> list[int]:
    out = list(range(lo, hi + 1, step))
    return out if out and out[-1] == hi else [*out, hi]


def _group_cycle(
    members: list[_Signal], lo_c: int, hi_c: int, step: int, solve, also: set[int]
) -> tuple[int, str]:
    """(cycle, note) of least summed objective for signals sharing one cycle: every ``step``
    seconds from the bounds and the cycles of ``also`` (the members' Webster cycles, so a
    signal on its own never does worse than Webster by the model), then every second around
    the best; (-1, why) if none fits."""
    need = max(int(math.ceil(m.design.min_cycle_s - 1e-9)) for m in members)
    lo, note = max(lo_c, need), ""
    hi = max(hi_c, lo)
    if lo > hi_c:
        note = (
            f"minimum greens and change intervals need a {lo} s cycle, above the {hi_c} s maximum"
        )

    def cost(C: int) -> tuple[float, int]:
        tot = 0.0
        for m in members:
            r = solve(m.sid, C)
            if r is None:
                return math.inf, C
            tot += r[0]
        return tot, C

    first = set(_candidates(lo, hi, step)) | {c for c in also if lo <= c <= hi}
    best = min(sorted(first), key=cost)
    best = min(range(max(lo, best - step + 1), min(hi, best + step - 1) + 1), key=cost)
    if not math.isfinite(cost(best)[0]):
        return -1, note or "no split fits any candidate cycle"
    return best, note


def _group_job(job) -> tuple[int, str, dict]:
    """One coordination group's (cycle, note, {signal id: CP-SAT result at that cycle}); a
    top-level function so a process pool can run groups in parallel."""
    members, lo_c, hi_c, also, cfg = job
    solved: dict[tuple[str, int], tuple | None] = {}
    by_id = {m.sid: m for m in members}

    def solve(sid: str, C: int):
        if (sid, C) not in solved:
            solved[(sid, C)] = _solve(by_id[sid], C, cfg)
        return solved[(sid, C)]

    C, note = _group_cycle(members, lo_c, hi_c, int(cfg.cycle_step_s), solve, also)
    return C, note, ({m.sid: solve(m.sid, C) for m in members} if C >= 0 else {})


@dataclass(frozen=True)
class Optimization:
    """What :func:`optimize` returns: the plans (checked safe), one :class:`SignalResult` per
    signal in network order, the green-wave bands of the corridors (``offsets`` maxband or
    multiband) and notes on corridors left out."""

    plans: PlanSet
    signals: list[SignalResult]
    bands: tuple[CorridorBand, ...] = ()
    notes: tuple[str, ...] = ()


def optimize_planset(
    network: Network,
    flow_vph: np.ndarray,
    template: PlanSet | StageTemplates | None = None,
    cfg: SplitConfig = SplitConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> tuple[PlanSet, list[SignalResult]]:
    """(plans, signal results) of :func:`optimize`."""
    r = optimize(network, flow_vph, template, cfg, safety)
    return r.plans, r.signals


def optimize(
    network: Network,
    flow_vph: np.ndarray,
    template: PlanSet | StageTemplates | None = None,
    cfg: SplitConfig = SplitConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> Optimization:
    """Optimized cycle and splits for every signal (see the module docstring); checked safe.

    Args:
        flow_vph: (M,) movement flows over the network, veh/h.
        template: the stages (as :func:`signals.control.fixed_time.webster_planset`).
    Returns:
        :class:`Optimization`. Offsets are 0 but where two or more signals share a cycle and
        ``cfg.offsets`` is not ``none``.
    Raises:
        UnsafePlanError: never expected; the gate runs on every output plan.
    """
    flow_vph = np.asarray(flow_vph, dtype=float)
    wcfg = cfg.webster
    stages, webster = design_templates(network, flow_vph, template, wcfg, safety)
    groups = coordination_groups(network, cfg.common_cycle, cfg.corridors)
    lo_c, hi_c = (int(math.ceil(x - 1e-9)) for x in cycle_bounds_s(wcfg, safety))
    T_h = cfg.analysis_period_h
    sigs: dict[str, _Signal | None] = {}
    for sid, tpl in stages.items():
        sigs[sid] = _signal_model(
            network, stage_design(network, tpl, flow_vph, wcfg, safety), flow_vph, safety
        )
    by_group: dict[str, list[str]] = {}
    for sid in stages:
        if sigs[sid] is not None:
            by_group.setdefault(groups.get(sid, sid), []).append(sid)
    jobs = [
        (
            [sigs[s] for s in members],
            lo_c,
            hi_c,
            {int(round(webster[s].cycle_s)) for s in members},
            cfg,
        )
        for members in by_group.values()
    ]
    if cfg.jobs > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(cfg.jobs, mp_context=mp.get_context("spawn")) as ex:
            done = list(ex.map(_group_job, jobs, chunksize=max(1, len(jobs) // (8 * cfg.jobs))))
    else:
        done = [_group_job(j) for j in jobs]
    chosen = {}  # sid -> (cycle or -1, note, CP-SAT result at that cycle)
    for members, (C, note, at_c) in zip(by_group.values(), done, strict=True):
        chosen |= {s: (C, note, at_c.get(s)) for s in members}

    plans, results = {}, []
    for sid in network.signal_ids:
        if sid not in stages:
            continue
        wp = webster[sid]
        sig = sigs[sid]
        group = groups.get(sid, sid)
        if sig is None or chosen[sid][0] < 0:
            plans[sid] = wp
            status = "no_demand" if sig is None else "webster"
            note = "no movement carries flow" if sig is None else chosen[sid][1]
            results.append(
                SignalResult(
                    sid,
                    group,
                    wp.cycle_s,
                    tuple(p.green_s for p in wp.phases),
                    0.0,
                    0.0,
                    wp.cycle_s,
                    0.0,
                    0.0,
                    status,
                    sig is not None,
                    note,
                )
            )
            continue
        C, note, (_, greens, status) = chosen[sid]
        plan = timed_plan(sig.design, greens, safety)
        w_green = np.array([p.green_s for p in wp.phases])
        if len(w_green) == sig.design.plan.n_stages:
            wd, wx = sig.figures(wp.cycle_s, w_green, T_h)
        else:  # pragma: no cover - both time the same stages
            wd, wx = math.nan, math.nan
        bad = validate(plan, network, clearance=safety)
        if bad:
            plan, status = wp, "webster"
            note = f"optimized plan refused by the gate ({bad[0].rule}); Webster's kept"
            greens = w_green
            C = int(wp.cycle_s)
        d, x = sig.figures(C, greens, T_h)
        plans[sid] = plan
        results.append(
            SignalResult(
                sid,
                group,
                float(plan.cycle_s),
                tuple(float(p.green_s) for p in plan.phases),
                round(d, 2),
                round(x, 3),
                float(wp.cycle_s),
                round(wd, 2),
                round(wx, 3),
                status,
                bool(status != "optimal" or x > 1.0 or note),
                note or ("demand above capacity at the best plan" if x > 1.0 else ""),
            )
        )
    bands, notes = (), ()
    if cfg.offsets != "none" and cfg.common_cycle != "none":
        plans, results, bands, notes = _coordinate(network, plans, results, flow_vph, cfg, safety)
    ps = PlanSet(plans)
    assert_safe(ps, network, clearance=safety)
    return Optimization(ps, results, bands, notes)


def _coordinate(
    network, plans: dict, results: list[SignalResult], flow_vph, cfg: SplitConfig, safety
):
    """Offsets of every group of two or more signals on one cycle: green waves on the group's
    corridors first (``maxband`` / ``multiband``), then CP-SAT delay offsets for the rest."""
    from signals.control.optimize.bands import corridors, optimize_bands
    from signals.control.optimize.offsets import optimize_offsets

    groups: dict[tuple[str, float], list[str]] = {}
    for r in results:
        groups.setdefault((r.group, plans[r.signal_id].cycle_s), []).append(r.signal_id)
    cors, notes, bcfg = [], [], cfg.bands
    if cfg.offsets in ("maxband", "multiband"):
        cors, notes = corridors(network, flow_vph, cfg.corridors)
        bcfg = replace(cfg.bands, method=cfg.offsets, seed=cfg.seed)
    done, bands, band_status = {}, [], {}
    for (gname, _), members in groups.items():
        if len(members) < 2:
            continue
        inside = set(members)
        mine = [c for c in cors if set(c.signals) <= inside]
        fixed: dict[str, int] = {}
        if mine:
            br = optimize_bands(network, plans, flow_vph, mine, bcfg, safety)
            if br.status == "none":  # no MILP solution in the limit: delay offsets for all
                notes.append(f"group {gname}: the green-wave MILP found no solution")
            else:
                plans.update(br.plans)
                fixed = br.offsets_s
                bands.extend(br.bands)
                band_status |= dict.fromkeys(br.offsets_s, br.status)
        res = optimize_offsets(
            network,
            plans,
            flow_vph,
            members,
            gname,
            time_limit_s=cfg.offset_time_limit_s,
            seed=cfg.seed,
            workers=cfg.workers,
            fixed=fixed,
        )
        for sid in members:
            plans[sid] = replace(plans[sid], offset_s=float(res.offsets_s[sid]))
            done[sid] = res
    out = []
    for r in results:
        res = done.get(r.signal_id)
        if res is None:
            out.append(r)
            continue
        out.append(
            replace(
                r,
                offset_s=float(res.offsets_s[r.signal_id]),
                offset_status=band_status.get(r.signal_id, res.status),
                offset_method=cfg.offsets if r.signal_id in band_status else "delay",
                green_s=tuple(float(p.green_s) for p in plans[r.signal_id].phases),
                group_delay_vs_h=res.delay_vs_h,
                group_delay_zero_offsets_vs_h=res.delay_zero_vs_h,
                best_effort=r.best_effort
                or res.status != "optimal"
                or band_status.get(r.signal_id, "optimal") != "optimal",
            )
        )
    return plans, out, tuple(bands), tuple(notes)
