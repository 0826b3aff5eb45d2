"""Max-pressure controllers: Varaiya's, capacity-aware, connected-vehicle only.

Core module: numpy/scipy only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import numpy as np

from signals.control.adaptive.base import Controller, Observation, PlanFollower


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
