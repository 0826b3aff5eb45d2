"""Max-pressure controllers: Varaiya's, capacity-aware, connected-vehicle only.

Core module: numpy/scipy only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import numpy as np

from signals.control.adaptive.base import Controller, ExitStorage, Observation, PlanFollower


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

    def __init__(
        self,
        tie_eps: float = 1e-6,
        measure: str = "queue",
        normalize: bool = False,
        spillback: float = 0.0,
    ):
        """
        Args:
            tie_eps: bonus of the current stage (ties keep it).
            measure: ``"queue"`` (halting vehicles, Varaiya's queue) or ``"count"`` (all
                vehicles on the lanes, as in PressLight / sumo-rl's pressure).
            normalize: capacity-aware pressure (Gregoire et al. 2015, "Capacity-aware
                backpressure traffic signal control", IEEE TCNS 2(2)): upstream vehicles over
                the movement's storage minus the downstream edge's vehicles over its storage,
                so that a filling link stops attracting green before it spills back.
            spillback: storage-aware pressure: a movement whose downstream edge holds at least
                this share of its storage (queued or counted vehicles, as ``measure``) weighs
                0, since green given to it cannot discharge into a full link (the blocking
                rule of store-and-forward models; Aboudolas et al. 2009, Transp. Res. C 17(2));
                0 turns it off.
        """
        if measure not in ("queue", "count"):
            raise ValueError(f"measure must be 'queue' or 'count', got {measure!r}")
        self.tie_eps = float(tie_eps)
        self.measure = measure
        self.normalize = bool(normalize)
        if not 0.0 <= spillback <= 1.0:
            raise ValueError(f"spillback must be a storage share in [0, 1], got {spillback}")
        self.spillback = float(spillback)
        cv = self.prefix == "cv_"
        key = (
            ("cv" if cv else "queues") if measure == "queue" else ("cv_counts" if cv else "counts")
        )
        self.needs = frozenset({key}) | self.extra_needs

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        self._sat = np.asarray(network.mov_sat_flow_vps, dtype=float)
        self._rows = np.arange(stages.n_signals)
        if self.normalize or self.spillback > 0:
            mi = np.asarray(network.mov_in_edge)
            store = np.maximum(np.asarray(network.edge_storage_veh, dtype=float), 1.0)
            lanes = np.maximum(np.asarray(network.edge_lanes, dtype=float), 1.0)
            self._s_in = np.maximum(store[mi] * network.mov_lanes / lanes[mi], 1.0)
            self._exit = ExitStorage(network)

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
        if self.normalize or self.spillback > 0:
            down_tot = self._exit.vehicles(up, down)  # the whole downstream edge
            s_out = self._exit.storage_veh
        if self.normalize:  # occupancy upstream minus occupancy downstream
            w = up / self._s_in - down_tot / s_out
        else:
            w = up - down
        if self.spillback > 0:
            w = np.where(down_tot >= self.spillback * s_out, 0.0, w)
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


class CycleMaxPressure(MaxPressure):
    """Cycle-based max-pressure (Le, Kovacs, Walton, Vu, Andrew, Hoogendoorn 2015,
    "Decentralized signal control for urban road networks", Transp. Res. Part C 58:431-450):
    every stage is served once per cycle in stage order, and at the start of each cycle the
    cycle's green time is split among the stages in proportion to their pressure.

    Green of stage k in the cycle starting now: ``min_g_k + (C - L - sum min_g) * p_k+ / sum p+``
    with C the cycle (``cycle_s``; None: each signal's plan cycle, the sum of its stages'
    green and change intervals), L the change intervals of the plan, p+ the positive part of
    the stage pressure (:meth:`MaxPressure.pressures`, options as there); with no positive
    pressure the plan's own greens are used. Unlike Varaiya's acyclic rule no stage waits more
    than one cycle, which is what keeps it stable under saturation with finite storage.
    """

    name = "cycle_max_pressure"

    def __init__(self, cycle_s: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if cycle_s is not None and not cycle_s > 0:
            raise ValueError(f"cycle_s must be > 0, got {cycle_s}")
        self.cycle_s = cycle_s

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        ph = stages.stage_phase
        self._plan_g = np.array([p.green_s for p in ph], dtype=float)
        change = np.array([p.total_s - p.green_s for p in ph], dtype=float)
        sig = stages.stage_signal
        S = stages.n_signals
        lost = np.bincount(sig, weights=change, minlength=S)
        cycle = np.bincount(sig, weights=self._plan_g + change, minlength=S)
        if self.cycle_s is not None:
            cycle = np.full(S, float(self.cycle_s))
        mn = np.asarray(stages.min_green_s, dtype=float)
        self._spare = np.maximum(cycle - lost - np.bincount(sig, weights=mn, minlength=S), 0.0)
        self._min = mn
        self._green = self._plan_g.copy()
        self._prev = np.full(S, -1, dtype=np.int64)

    def act(self, obs: Observation) -> np.ndarray:
        st = self.stages
        stage = np.asarray(obs.stage)
        new_cycle = (stage == 0) & (self._prev != 0)
        self._prev = stage.copy()
        if new_cycle.any():
            p = np.maximum(self.pressures(obs), 0.0)  # (S, Kmax), -inf -> 0 past the stages
            tot = p.sum(axis=1)
            for s in np.flatnonzero(new_cycle):
                ks = st.pad[s, : st.n_stages[s]]
                if tot[s] > 0:
                    share = p[s, : st.n_stages[s]] / tot[s]
                else:
                    g = self._plan_g[ks]
                    share = g / max(g.sum(), 1e-9)
                self._green[ks] = self._min[ks] + self._spare[s] * share
        g = self._green[st.pad[self._rows, stage]]
        done = (~np.asarray(obs.in_change)) & (obs.time_in_stage_s >= g - 1e-9)
        return np.where(done, (stage + 1) % st.n_stages, stage)
