"""What an RL agent sees: per-signal feature vectors of fixed size from an :class:`Observation`.

One signal is one agent. Its vector is built from the movement-level arrays of the common
:class:`~signals.control.adaptive.Observation` (so the SUMO and the queue-model backends give the
same vector for the same traffic), aggregated per stage through the stage's green share of each
movement -- the phase-level features of MPLight (Chen et al. 2020, "Toward a thousand lights:
decentralized deep reinforcement learning for large-scale traffic signal control", AAAI) and
FRAP (Zheng et al. 2019, CIKM): an intersection with other movements or another stage count gets
a vector of the same layout, so one parameter-shared policy serves every signal.

Layout (``k_cap`` stage slots, f features per stage, :attr:`StageFeatures.dim` in all)::

    [ per stage: queue, approach, downstream queue (x sensing groups) ]  f * k_cap
    [ per stage, with ``actuation``: loop-detector actuation (below) ]     4 * k_cap
    [ current stage, one-hot ]                                             k_cap
    [ time in stage / max_time_s (clipped to 1), in change interval ]      2
    [ action mask: 1 for the signal's stages, 0 for empty slots ]          k_cap

Vehicle counts are divided by ``scale_veh``. Sensing (what the pilot zone can measure):
``"detectors"`` (lane-area detectors over the approach lanes: all vehicles), ``"cv"`` (connected
vehicles within roadside-unit range only, divided by the penetration rate to estimate all
vehicles) or ``"both"`` (the two groups side by side).

With ``actuation`` the vector also carries what an actuated controller times its greens by
(FHWA Traffic Signal Timing Manual, 2nd ed., ch. 5: passage time on advance loops, presence on
the stop bar), per stage through the same green shares: the movements whose advance loop saw a
vehicle less than 1, 3 (the unit extension) and 6 s ago, and the movements with a vehicle on
the stop-bar presence zone (``Observation.det_gap_s``, ``det_occupied``; the loop's
``"detectors"``).

Core module: numpy/scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signals.control.adaptive import Observation, Stages
from signals.errors import InputError

SENSING = ("detectors", "cv", "both")
FEATURES_PER_GROUP = 3  # queue, approach, downstream queue
# actuation features: advance-loop detections within these seconds, then stop-bar presence
ACTUATION_GAPS_S = (1.0, 3.0, 6.0)
ACTUATION_FEATURES = len(ACTUATION_GAPS_S) + 1
# Feature bounds (the observation space's): counts are clipped at 100 x scale_veh vehicles
OBS_LOW, OBS_HIGH = -1.0, 100.0


@dataclass(frozen=True)
class ObsSpec:
    """The observation layout a policy is trained with (saved in its card).

    Attributes:
        k_cap: stage slots per signal (signals with more stages are refused).
        sensing: ``"detectors"``, ``"cv"`` or ``"both"``.
        cv_share: penetration rate the connected-vehicle counts are divided by.
        scale_veh: vehicle counts are divided by this.
        max_time_s: time in stage is divided by this (and clipped to 1).
        actuation: add the loop-detector actuation features (module docstring).
    """

    k_cap: int = 8
    sensing: str = "detectors"
    cv_share: float = 1.0
    scale_veh: float = 20.0
    max_time_s: float = 120.0
    actuation: bool = False

    def check(self, file=None) -> None:
        if self.sensing not in SENSING:
            raise InputError(file, "sensing", " | ".join(SENSING), repr(self.sensing))
        if not 1 <= self.k_cap <= 64:
            raise InputError(file, "k_cap", "a stage count in 1..64", self.k_cap)
        if not 0.0 < self.cv_share <= 1.0:
            raise InputError(file, "cv_share", "a penetration rate in (0, 1]", self.cv_share)
        for name in ("scale_veh", "max_time_s"):
            if not getattr(self, name) > 0:
                raise InputError(file, name, "a positive number", getattr(self, name))

    @property
    def groups(self) -> tuple[str, ...]:
        """Observation prefixes: "" (all vehicles) and/or "cv_" (connected vehicles)."""
        return {"detectors": ("",), "cv": ("cv_",), "both": ("", "cv_")}[self.sensing]

    @property
    def needs(self) -> frozenset[str]:
        """The loop's observation groups (:attr:`Controller.needs`) these features read."""
        out: set[str] = set()
        if "" in self.groups:
            out |= {"queues", "counts"}
        if "cv_" in self.groups:
            out |= {"cv", "cv_counts"}
        if self.actuation:
            out.add("detectors")
        return frozenset(out)

    @property
    def dim(self) -> int:
        per_stage = FEATURES_PER_GROUP * len(self.groups) + ACTUATION_FEATURES * self.actuation
        return per_stage * self.k_cap + 2 * self.k_cap + 2


class StageFeatures:
    """Maps an :class:`Observation` to the (S, dim) float32 feature matrix of all signals."""

    def __init__(self, stages: Stages, spec: ObsSpec = ObsSpec(), signal_ids=None):
        spec.check()
        n = stages.n_stages
        if int(n.max()) > spec.k_cap:
            s = int(np.argmax(n))
            sid = signal_ids[s] if signal_ids is not None else s
            raise InputError(None, "k_cap", f">= {int(n.max())} stages (signal {sid})", spec.k_cap)
        self.stages, self.spec = stages, spec
        S, kc = stages.n_signals, spec.k_cap
        # (S * k_cap, K) selection of each signal's stages into its slots
        self._slot = np.full((S, kc), -1, dtype=np.int64)
        self._slot[:, : stages.k_max] = stages.pad
        self.mask = self._slot >= 0  # (S, k_cap)
        self._rows = np.arange(S)

    @property
    def dim(self) -> int:
        return self.spec.dim

    def __call__(self, obs: Observation) -> np.ndarray:
        sp_, st = self.spec, self.stages
        S, kc = st.n_signals, sp_.k_cap
        valid = self.mask
        idx = np.maximum(self._slot, 0)
        cols = []
        for pre in sp_.groups:
            f = (1.0 / sp_.cv_share if pre else 1.0) / sp_.scale_veh
            for name in ("queue_veh", "approach_veh", "down_queue_veh"):
                cols.append(np.asarray(getattr(obs, pre + name)) * f)
        if sp_.actuation:
            if obs.det_gap_s is None or obs.det_occupied is None:
                raise InputError(None, "observation", "loop detector arrays (actuation)", "none")
            gap = np.asarray(obs.det_gap_s, dtype=float)
            cols += [(gap < g).astype(float) for g in ACTUATION_GAPS_S]
            cols.append(np.asarray(obs.det_occupied, dtype=float))
        per_stage = st.mov_green @ np.stack(cols, axis=1)  # (K, f): one sparse product
        parts = [np.where(valid, per_stage[idx, j], 0.0) for j in range(len(cols))]
        onehot = np.zeros((S, kc))
        stage = np.clip(np.asarray(obs.stage, dtype=np.int64), 0, kc - 1)
        onehot[self._rows, stage] = 1.0
        tis = np.clip(np.asarray(obs.time_in_stage_s, dtype=float) / sp_.max_time_s, -1.0, 1.0)
        chg = np.asarray(obs.in_change, dtype=float)
        x = np.concatenate(
            [*parts, onehot, tis[:, None], chg[:, None], valid.astype(float)], axis=1
        )
        return np.clip(x, OBS_LOW, OBS_HIGH).astype(np.float32)
