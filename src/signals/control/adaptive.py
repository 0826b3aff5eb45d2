"""Online (adaptive) controllers: SUMO actuated, max-pressure and connected-vehicle max-pressure.

An online controller maps an :class:`Observation` to the stage each signal should show next; the
closed loop (:mod:`signals.evaluate.sumo_loop`) -- not the controller -- inserts the yellow and
all-red change intervals, holds minimum green, forces a change at maximum green and passes every
state through the safety gate. A controller can therefore ask for anything (an unknown stage, a
jump every step): the loop decides what is safe.

Controller API (docs/architecture.md, "Central types")::

    ctl.reset(network, stages, rng)        # once per run
    desired = ctl.act(obs)                 # (S,) int, local stage index 0..n_stages[s]-1

Core module: numpy/scipy only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import Phase, PlanSet


# ============================================================================= stages
@dataclass(frozen=True, eq=False)
class Stages:
    """The stages (green states) each signal can show under online control, as flat arrays.

    Shapes: S signals, K stages over all signals, M movements, Kmax the most stages of a signal.

    Attributes:
        signal_stage_start: (S+1,) CSR offsets into the stage arrays.
        stage_signal: (K,) signal index of each stage.
        stage_state: (K,) SUMO green state strings.
        stage_phase: (K,) the :class:`signals.plans.Phase` each stage comes from (its yellow,
            all-red, pedestrian clearance and min/max green).
        min_green_s, max_green_s: (K,) green bounds of each stage.
        mov_green: (K, M) sparse share of each movement's links green in each stage.
        pad: (S, Kmax) global stage index of local stage k of signal s, -1 past n_stages.
    """

    signal_stage_start: np.ndarray
    stage_signal: np.ndarray
    stage_state: tuple[str, ...]
    stage_phase: tuple
    min_green_s: np.ndarray
    max_green_s: np.ndarray
    mov_green: sp.csr_matrix
    pad: np.ndarray

    @property
    def n_signals(self) -> int:
        return len(self.signal_stage_start) - 1

    @property
    def n_stages(self) -> np.ndarray:
        """(S,) number of stages per signal."""
        return np.diff(self.signal_stage_start)

    @property
    def k_max(self) -> int:
        return int(self.pad.shape[1])

    def local(self, s: int, k: int) -> int:
        """Global stage index of local stage ``k`` of signal ``s``."""
        return int(self.signal_stage_start[s]) + int(k)

    @classmethod
    def from_plans(
        cls, network: Network, plans: PlanSet | None = None, default: PlanSet | None = None
    ) -> Stages:
        """Stages from a PlanSet.

        Signals missing from ``plans`` take their plan in ``default`` (if None: the stage
        templates, :func:`signals.control.stage_sets.stage_templates`, "auto"). Stage order is
        the plan's order, so "next stage" means the plan's cycle order.
        """
        phases: list[list[Phase]] = []
        for sid in network.signal_ids:
            plan = plans.plans.get(sid) if plans is not None else None
            if plan is None:
                if default is None:
                    from signals.control.stage_sets import stage_templates

                    default = stage_templates(network).plans
                plan = default.plans[sid]
            phases.append(list(plan.phases))
        return cls.from_phases(network, phases)

    @classmethod
    def from_phases(cls, network: Network, phases: list[list[Phase]]) -> Stages:
        """Stages from per-signal lists of :class:`signals.plans.Phase` (network signal order)."""
        S = network.n_signals
        if len(phases) != S:
            raise ValueError(f"{len(phases)} phase lists for {S} signals")
        start = np.zeros(S + 1, dtype=np.int64)
        sig, states, objs, mn, mx = [], [], [], [], []
        rows, cols, vals = [], [], []
        for s, plist in enumerate(phases):
            if not plist:
                raise ValueError(f"signal {network.signal_ids[s]} has no stages")
            ms = network.movements_of(s)
            for ph in plist:
                k = len(sig)
                sig.append(s)
                states.append(ph.state)
                objs.append(ph)
                mn.append(float(ph.min_green_s))
                mx.append(float(ph.max_green_s))
                share = network.movement_green_share(s, ph.state)
                nz = np.flatnonzero(share)
                rows += [k] * len(nz)
                cols += list(ms.start + nz)
                vals += list(share[nz])
            start[s + 1] = len(sig)
        K = len(sig)
        n = np.diff(start)
        kmax = int(n.max())
        pad = np.full((S, kmax), -1, dtype=np.int64)
        for s in range(S):
            pad[s, : n[s]] = np.arange(start[s], start[s + 1])
        mg = sp.csr_matrix((vals, (rows, cols)), shape=(K, network.n_movements), dtype=float)
        return cls(
            signal_stage_start=start,
            stage_signal=np.asarray(sig, dtype=np.int64),
            stage_state=tuple(states),
            stage_phase=tuple(objs),
            min_green_s=np.asarray(mn, dtype=float),
            max_green_s=np.asarray(mx, dtype=float),
            mov_green=mg,
            pad=pad,
        )

    def with_bounds(self, min_green_s: float | None, max_green_s: float | None) -> Stages:
        """A copy with every stage's min and/or max green replaced (None keeps the plan's)."""
        mn = (
            self.min_green_s if min_green_s is None else np.full_like(self.min_green_s, min_green_s)
        )
        mx = (
            self.max_green_s if max_green_s is None else np.full_like(self.max_green_s, max_green_s)
        )
        return replace(self, min_green_s=mn, max_green_s=np.maximum(mx, mn))

    def gather(self, values_k: np.ndarray, fill: float = -math.inf) -> np.ndarray:
        """(K,) per-stage values -> (S, Kmax) padded with ``fill``."""
        out = np.where(self.pad >= 0, values_k[np.maximum(self.pad, 0)], fill)
        return out


# ======================================================================== observation
@dataclass(frozen=True, eq=False)
class Observation:
    """What an online controller sees at a decision instant (arrays over movements / signals).

    Movement arrays (M,) count vehicles on the lanes that feed each movement; a lane shared by k
    movements gives each 1/k of its vehicles. The ``cv_*`` variants count connected vehicles only,
    and only within roadside-unit range (zero where a movement has no RSU coverage); they are
    raw counts, not scaled by the penetration rate.

    Attributes:
        time_s: simulation time.
        queue_veh: (M,) halting vehicles (speed < 0.1 m/s) upstream of each movement.
        approach_veh: (M,) vehicles on the movement's incoming lanes.
        down_queue_veh: (M,) turning-weighted halting vehicles downstream (Varaiya 2013:
            sum over next movements p of r(m, p) * queue(p); an exit edge counts its halting
            vehicles).
        cv_queue_veh, cv_approach_veh, cv_down_queue_veh: (M,) the same, connected vehicles in
            RSU range only.
        cv_observed: (M,) True where an RSU covers the movement's incoming lanes.
        stage: (S,) local index of the stage shown or being changed to.
        time_in_stage_s: (S,) seconds since that stage's green began (negative during the change
            interval that leads to it).
        in_change: (S,) True during a yellow / all-red change interval.
        down_approach_veh, cv_down_approach_veh: (M,) like ``down_queue_veh`` with vehicle
            counts instead of halting vehicles (collected with ``"counts"`` / ``"cv_counts"``).
    """

    time_s: float
    queue_veh: np.ndarray
    approach_veh: np.ndarray
    down_queue_veh: np.ndarray
    cv_queue_veh: np.ndarray
    cv_approach_veh: np.ndarray
    cv_down_queue_veh: np.ndarray
    cv_observed: np.ndarray
    stage: np.ndarray
    time_in_stage_s: np.ndarray
    in_change: np.ndarray
    down_approach_veh: np.ndarray | None = None
    cv_down_approach_veh: np.ndarray | None = None


# ========================================================================= controllers
class Controller:
    """Base class of online controllers.

    Class attributes:
        name: label used in results.
        needs: observation groups the loop must collect: ``"queues"`` (halting vehicles per
            lane: queue_veh, down_queue_veh), ``"counts"`` (vehicles per lane: approach_veh),
            ``"cv"`` / ``"cv_counts"`` (the same for connected vehicles in RSU range, from E2
            detectors). Arrays not collected are zeros.
        builtin: True for controllers SUMO runs itself (no per-step decisions from Python).
    """

    name = "controller"
    needs: frozenset[str] = frozenset()
    builtin = False

    def reset(
        self, network: Network, stages: Stages, rng: np.random.Generator | None = None
    ) -> None:
        self.network = network
        self.stages = stages
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def act(self, obs: Observation) -> np.ndarray:  # pragma: no cover - abstract
        """(S,) desired local stage index per signal."""
        raise NotImplementedError


class HoldController(Controller):
    """Always asks for the current stage: the loop's max-green rule alone cycles the stages."""

    name = "hold"

    def act(self, obs: Observation) -> np.ndarray:
        return np.asarray(obs.stage).copy()


class PlanFollower(Controller):
    """Cycles the stages in plan order with the plan's green times (fixed-time through the loop).

    With a 1 s decision interval the greens are exact; offsets are not applied (every signal
    starts stage 1 at time 0).
    """

    name = "plan_follower"

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        self._green_s = np.array([ph.green_s for ph in stages.stage_phase], dtype=float)

    def set_greens(self, green_s: np.ndarray) -> None:
        """Run other greens from now on ((K,) per stage; the plan-level RL action)."""
        self._green_s = np.asarray(green_s, dtype=float).copy()

    def act(self, obs: Observation) -> np.ndarray:
        st = self.stages
        g = self._green_s[st.pad[np.arange(st.n_signals), obs.stage]]
        done = (~obs.in_change) & (obs.time_in_stage_s >= g - 1e-9)
        return np.where(done, (obs.stage + 1) % st.n_stages, obs.stage)


class MaxPressure(Controller):
    """Max-pressure control (Varaiya 2013, "Max pressure control of a network of signalized
    intersections", Transp. Res. Part C 36:177-195).

    Movement pressure ``w(l,m) = x(l,m) - sum_p r(m,p) x(m,p)`` (queue upstream minus the
    turning-weighted queues downstream, :attr:`Observation.down_queue_veh`); stage pressure
    ``sum over movements of w * c * S`` with c the saturation flow (network.mov_sat_flow_vps) and
    S the stage's green share of the movement. Each signal asks for its highest-pressure stage;
    ties keep the current stage. Vectorized over all signals: one sparse product per decision.
    """

    name = "max_pressure"
    needs = frozenset({"queues"})
    prefix = ""
    extra_needs: frozenset[str] = frozenset()

    def __init__(self, tie_eps: float = 1e-6, measure: str = "queue", normalize: bool = False):
        """
        Args:
            tie_eps: bonus of the current stage (ties keep it).
            measure: ``"queue"`` (halting vehicles, Varaiya's queue) or ``"count"`` (all
                vehicles on the lanes, as in PressLight / sumo-rl's pressure).
            normalize: capacity-aware pressure (Gregoire et al. 2015, "Capacity-aware
                backpressure traffic signal control", IEEE TCNS 2(2)): upstream vehicles over
                the movement's storage minus the downstream edge's vehicles over its storage,
                so that a filling link stops attracting green before it spills back.
        """
        if measure not in ("queue", "count"):
            raise ValueError(f"measure must be 'queue' or 'count', got {measure!r}")
        self.tie_eps = float(tie_eps)
        self.measure = measure
        self.normalize = bool(normalize)
        cv = self.prefix == "cv_"
        key = (
            ("cv" if cv else "queues") if measure == "queue" else ("cv_counts" if cv else "counts")
        )
        self.needs = frozenset({key}) | self.extra_needs

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        self._sat = np.asarray(network.mov_sat_flow_vps, dtype=float)
        self._rows = np.arange(stages.n_signals)
        if self.normalize:
            E = network.n_edges
            mi = np.asarray(network.mov_in_edge)
            mo = np.asarray(network.mov_out_edge)
            store = np.maximum(np.asarray(network.edge_storage_veh, dtype=float), 1.0)
            lanes = np.maximum(np.asarray(network.edge_lanes, dtype=float), 1.0)
            self._s_in = np.maximum(store[mi] * network.mov_lanes / lanes[mi], 1.0)
            self._s_out = np.where(mo >= 0, store[np.maximum(mo, 0)], 1e9)
            has_mov = np.bincount(mi, minlength=E) > 0
            self._out_has_mov = (mo >= 0) & has_mov[np.maximum(mo, 0)]
            self._mi, self._mo, self._E = mi, np.maximum(mo, 0), E

    def _counts(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        z = np.zeros_like(obs.queue_veh)
        if self.measure == "queue":
            up = getattr(obs, self.prefix + "queue_veh")
            down = getattr(obs, self.prefix + "down_queue_veh")
        else:
            up = getattr(obs, self.prefix + "approach_veh")
            down = getattr(obs, self.prefix + "down_approach_veh")
        return up, (down if down is not None else z)

    def pressures(self, obs: Observation) -> np.ndarray:
        """(S, Kmax) stage pressures, -inf past each signal's stages."""
        up, down = self._counts(obs)
        if self.normalize:
            # occupancy upstream minus occupancy of the whole downstream edge
            edge_tot = np.bincount(self._mi, weights=up, minlength=self._E)
            down_tot = np.where(self._out_has_mov, edge_tot[self._mo], down)
            w = up / self._s_in - down_tot / self._s_out
        else:
            w = up - down
        return self.stages.gather(self.stages.mov_green @ (w * self._sat))

    def act(self, obs: Observation) -> np.ndarray:
        p = self.pressures(obs)
        p[self._rows, obs.stage] += self.tie_eps  # hysteresis: ties keep the current stage
        return np.argmax(p, axis=1)


class CVMaxPressure(MaxPressure):
    """Max-pressure that sees only connected vehicles within roadside-unit range.

    The counts come from :attr:`Observation.cv_queue_veh` and ``cv_down_queue_veh`` (E2 detectors
    that register connected vehicle types only, over the last/first ``rsu_range_m`` of each lane
    at an RSU signal). With ``scale=True`` the counts are divided by the penetration rate to
    estimate all vehicles; for pure max-pressure this does not change any decision (every stage
    pressure of a signal scales by the same 1/p, so the argmax is the same) but it keeps the
    pressures in vehicle units for controllers that compare them with thresholds.

    Fallback (``fallback="plan"``, default): a signal that has no connected vehicle in view at a
    decision instant has no evidence for any stage; it follows its plan instead (stages in plan
    order with the plan's green times, e.g. the Webster plan the loop was given), so that as the
    penetration drops the controller degrades towards the fixed-time plan rather than holding
    a stage until max green. ``fallback="hold"`` keeps the current stage (the loop's max-green
    rule then rotates the stages).
    """

    name = "cv_max_pressure"
    needs = frozenset({"cv", "cv_counts"})
    prefix = "cv_"
    extra_needs = frozenset({"cv_counts"})  # the plan fallback looks at every CV in view

    def __init__(
        self,
        penetration: float = 1.0,
        scale: bool = True,
        tie_eps: float = 1e-6,
        fallback: str = "plan",
        measure: str = "queue",
        normalize: bool = False,
    ):
        super().__init__(tie_eps, measure, normalize)
        if not 0.0 < penetration <= 1.0:
            raise ValueError(f"penetration must be in (0, 1], got {penetration}")
        if fallback not in ("plan", "hold"):
            raise ValueError(f"fallback must be 'plan' or 'hold', got {fallback!r}")
        self.penetration = float(penetration)
        self.scale = bool(scale)
        self.fallback = fallback

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        self._plan = PlanFollower()
        self._plan.reset(network, stages, rng)
        self._mov_signal = np.asarray(network.mov_signal)

    def _counts(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        f = 1.0 / self.penetration if self.scale else 1.0
        up, down = super()._counts(obs)
        return up * f, down * f

    def act(self, obs: Observation) -> np.ndarray:
        best = super().act(obs)
        if self.fallback == "hold":
            return best
        seen = np.bincount(
            self._mov_signal,
            weights=obs.cv_approach_veh + obs.cv_queue_veh + obs.cv_down_queue_veh,
            minlength=self.stages.n_signals,
        )
        return np.where(seen > 0, best, self._plan.act(obs))


class ActuatedSumo(Controller):
    """SUMO's own gap-based actuated control (SUMO docs, "Traffic Lights": type="actuated").

    The plan's programs are converted to ``type="actuated"`` (green phases get minDur/maxDur,
    change intervals stay fixed) and loaded from an additional file; SUMO places its induction
    loops and extends greens while vehicles keep arriving within ``max_gap_s``. The loop makes
    no decisions for it (``builtin``).
    """

    name = "actuated"
    builtin = True

    def __init__(
        self, max_gap_s: float = 3.0, detector_gap_s: float = 2.0, passing_time_s: float = 1.9
    ):
        self.max_gap_s = float(max_gap_s)
        self.detector_gap_s = float(detector_gap_s)
        self.passing_time_s = float(passing_time_s)

    def act(self, obs: Observation) -> np.ndarray:
        return np.asarray(obs.stage).copy()

    def additional_xml(
        self, network: Network, stages: Stages, program_id: str = "signals_actuated"
    ) -> str:
        """A SUMO additional file with one actuated tlLogic per signal (stage order kept)."""
        from xml.sax.saxutils import quoteattr

        out = ["<additional>"]
        for s, sid in enumerate(network.signal_ids):
            ks = range(int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1]))
            phs = [stages.stage_phase[k] for k in ks]
            n = len(phs)
            out.append(
                f'    <tlLogic id={quoteattr(sid)} programID={quoteattr(program_id)} type="actuated" '
                f'offset="{float(network.signal_offset_s[s]):g}">'
            )
            out.append(f'        <param key="max-gap" value="{self.max_gap_s:g}"/>')
            out.append(f'        <param key="detector-gap" value="{self.detector_gap_s:g}"/>')
            out.append(f'        <param key="passing-time" value="{self.passing_time_s:g}"/>')
            for i, (k, ph) in enumerate(zip(ks, phs, strict=True)):
                mn = float(stages.min_green_s[k])
                mx = max(float(stages.max_green_s[k]), mn)
                parts = ph.intervals(phs[(i + 1) % n].state, n == 1)
                # the stage's first green is actuated; the rest (pedestrian clearance, the
                # change interval, as the plan shows it) keeps its fixed durations
                g = min(max(parts[0][1], mn), mx)
                out.append(
                    f'        <phase duration="{g:g}" minDur="{mn:g}" maxDur="{mx:g}" state="{ph.state}"/>'
                )
                for st, d, _ in parts[1:]:
                    out.append(f'        <phase duration="{d:g}" state="{st}"/>')
            out.append("    </tlLogic>")
        out.append("</additional>")
        return "\n".join(out) + "\n"


CONTROLLERS = {
    "max_pressure": MaxPressure,
    "cv_max_pressure": CVMaxPressure,
    "actuated": ActuatedSumo,
    "hold": HoldController,
    "plan_follower": PlanFollower,
}


def make_controller(name: str, **kwargs) -> Controller:
    """A controller by name (keys of :data:`CONTROLLERS`)."""
    from signals.errors import InputError

    try:
        cls = CONTROLLERS[name.replace("-", "_")]
    except KeyError:
        raise InputError(
            None, "controller", "one of " + ", ".join(sorted(CONTROLLERS)), repr(name)
        ) from None
    return cls(**kwargs)
