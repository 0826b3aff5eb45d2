"""The types every online controller shares: :class:`Stages`, :class:`Observation`,
:class:`Controller`, and the two trivial controllers (hold, plan follower).

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
        det_gap_s: (M,) loop detectors (``"detectors"``): seconds since a vehicle last
            passed over any advance detector of the movement's lanes, 0 while one is over it
            (SUMO: ``inductionloop.getTimeSinceDetection`` of an E1 loop
            ``LoopConfig.detector_advance_s`` of travel upstream of the stop line).
        det_occupied: (M,) bool, a vehicle stands on a stop-bar presence detector of the
            movement's lanes (``"detectors"``).
        cv_eta_s: (M,) connected vehicles (``"cv_eta"``): seconds until the nearest *moving*
            connected vehicle in roadside-unit range on the movement's lanes reaches the stop
            line at its current speed (+inf if none) -- the arrival prediction CV actuation uses
            instead of a gap timer.
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
    det_gap_s: np.ndarray | None = None
    det_occupied: np.ndarray | None = None
    cv_eta_s: np.ndarray | None = None


# ====================================================================== exit storage
class ExitStorage:
    """Each movement's exit edge: its jam storage and the vehicles on it.

    One definition for the storage-aware rules (storage-aware max-pressure, the actuated
    spillback guard): an exit edge that feeds movements of its own counts the vehicles of those
    movements (the whole edge); an edge leaving the network counts what the observation gives
    for it (``down_*``). Storage: :attr:`Network.edge_storage_veh` (length x lanes / jam
    spacing); a movement with no exit edge never fills (storage 1e9).
    """

    def __init__(self, network: Network):
        mi = np.asarray(network.mov_in_edge, dtype=np.int64)
        mo = np.asarray(network.mov_out_edge, dtype=np.int64)
        store = np.maximum(np.asarray(network.edge_storage_veh, dtype=float), 1.0)
        self.storage_veh = np.where(mo >= 0, store[np.maximum(mo, 0)], 1e9)
        has_mov = np.bincount(mi, minlength=network.n_edges) > 0
        self._own = (mo >= 0) & has_mov[np.maximum(mo, 0)]
        self._mi, self._mo, self._E = mi, np.maximum(mo, 0), network.n_edges

    def vehicles(self, up: np.ndarray, down: np.ndarray) -> np.ndarray:
        """(M,) vehicles on each movement's exit edge, from the per-movement upstream counts
        ``up`` and downstream counts ``down`` of one observation (queues or counts)."""
        edge_tot = np.bincount(self._mi, weights=up, minlength=self._E)
        return np.where(self._own, edge_tot[self._mo], down)


# ========================================================================= controllers
class Controller:
    """Base class of online controllers.

    Class attributes:
        name: label used in results.
        needs: observation groups the loop must collect: ``"queues"`` (halting vehicles per
            lane: queue_veh, down_queue_veh), ``"counts"`` (vehicles per lane: approach_veh),
            ``"cv"`` / ``"cv_counts"`` (the same for connected vehicles in RSU range, from E2
            detectors), ``"detectors"`` (stop-bar and advance loop detectors: det_gap_s,
            det_occupied), ``"cv_eta"`` (arrival predictions of connected vehicles: cv_eta_s).
            Arrays not collected are zeros (None for the detector and ETA arrays).
        builtin: True for controllers SUMO runs itself (no per-step decisions from Python).
        decision_s: the decision interval the controller is designed for (actuated control
            times gaps to the second: 1 s), used by ``signals evaluate`` and experiment configs
            unless they set one; None: the loop's ``delta_t_s``.
    """

    name = "controller"
    needs: frozenset[str] = frozenset()
    builtin = False
    decision_s: float | None = None  # the decision interval it is made for (None: the loop's)

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
