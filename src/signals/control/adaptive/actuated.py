"""Actuated control of our own, as NEMA TS 2 / NTCIP 1202 controllers run it, on loop detectors,
on connected-vehicle arrival predictions, or on both.

What a phase does (FHWA, *Traffic Signal Timing Manual*, 2nd ed., 2015, FHWA-HOP-08-024,
chapter 5 "Vehicle and pedestrian timing"; NEMA TS 2-2016 sec. 3.5; NTCIP 1202 v03 phase
objects), here per *stage* -- a set of compatible movements from the conflict matrix or the
net's own programs, so any net works:

* **minimum green** (the stage's own, never below the gate's) and, under pedestrian recall,
  the walk interval (MUTCD 2009 sec. 4E.06: >= 7 s);
* **passage time** (unit extension): the green is extended while a vehicle crossed an advance
  detector of the stage's movements less than ``passage_s`` ago; **gap-out** otherwise. With
  *gap reduction* (volume-density operation, STM 5.3.2) the allowed gap falls linearly from
  ``passage_s`` to ``min_gap_s`` over ``reduce_over_s`` once ``reduce_after_s`` have passed
  since a conflicting call;
* **max-out**: the maximum-green timer starts at the first conflicting call (not at the start
  of green, NEMA TS 2 3.5.3.5) and ends the green at ``max1_s``; **dynamic max** (STM 5.3.3):
  two max-outs in a row raise the stage's max by ``dynamic_step_s`` up to ``max2_s``, two
  gap-outs in a row lower it back towards ``max1_s``;
* **calls** with locking memory: a detection on a movement that is not green places a call that
  stays until the movement is served; **recall** modes per stage (``none``, ``min``: always
  called; ``max``: always called and never gaps out; ``ped``: always called, green >= walk);
  ``major_recall`` applies to each signal's major stage (most saturation flow served, the
  main-street through phases an engineer puts on recall);
* **phase skipping**: the next stage is the first stage after the current one, in the stage
  order, that has a call (stages without demand are skipped); with no conflicting call the green
  rests;
* **dual-ring-like concurrency**: when some movements of the stage have gapped out while others
  still extend, the controller moves to a called stage that keeps every still-extending movement
  green (as one ring crosses to its next phase while the other extends), carrying the max timer
  over so the extending movements cannot run past their max;
* **coordination** (STM chapter 6): with a background plan (cycle, offset, splits), the
  coordinated stage (each plan's first stage) does not gap out; it yields only within the
  permissive window after its yield point; every other stage is forced off at the end of its
  split, may start only if its minimum green fits before its force-off, and unused time returns
  to the coordinated stage (early return), so actuated signals keep their place in a green wave.

Inputs (``inputs``):

* ``"detectors"``: :attr:`Observation.det_gap_s` (advance loops) and ``det_occupied``
  (stop-bar presence), placed as the loop places them (``LoopConfig.detector_advance_s`` of
  travel before the stop line; on a lane shorter than that, back on the lane that alone feeds
  it, as SUMO places its actuated loops);
* ``"cv"``: connected vehicles only, within roadside-unit range: an extension while a CV is
  predicted at the stop line within ``passage_s / penetration`` (at penetration p the headway
  between connected vehicles is that of all vehicles over p), calls from CV queues and
  arrivals. A stage's demand may be unseen: given the movements' expected flows
  (``flows_vph``: historical counts, what the fixed-time plans are computed from), a movement
  not green calls its stage once an unseen vehicle more likely than not waits there -- the
  unequipped vehicles arrive as a Poisson stream of rate (1 - p) q independent of the
  connected ones (thinning of a Poisson process), so after t seconds without green
  P(one waits) = 1 - exp(-(1 - p) q t) >= 1/2, or at the latest once it has been red for
  ``unseen_max_red_s`` (a movement with rare demand would otherwise wait for minutes); without
  flows every stage is on min recall. A CV queued on a green movement extends (its queue is
  still discharging), and so does the queue's unseen tail once the last queued CV has moved
  off: (1 - p) / p vehicles per lane on average (the expected number of unequipped vehicles
  behind the last probe of a queue, Comert & Cetin 2009, "Queue length estimation from probe
  vehicle location and the impacts of sample size", EJOR 197(2)), at the HCM base saturation
  headway (:data:`SAT_HEADWAY_S`). A stage with a movement no roadside unit covers
  (``Observation.cv_observed``) sees nothing of it and holds its whole *fallback* green: the
  split of the ``fallback`` plans, or of the background plan when coordinated, else
  ``max1_s``. With ``cv_fallback`` every stage holds, whatever the CVs show, its minimum green
  plus the share 1 - p of the rest of its fallback green; as p falls the controller becomes
  its fixed-time fallback, at p = 1 it is fully actuated;
* ``"both"``: detector actuation, plus extension for a CV predicted within ``cv_horizon_s``
  beyond the advance loop and calls from CVs; at penetration 0 it is the detector controller.

Core module: numpy/scipy only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from signals.control.adaptive.base import Controller, ExitStorage, Observation
from signals.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from signals.plans import PlanSet

RECALLS = ("none", "min", "max", "ped")
INPUTS = ("detectors", "cv", "both")
WALK_S = 7.0  # MUTCD 2009 sec. 4E.06: minimum walk interval
# HCM 6th ed. Eq. 19-8: base saturation flow 1,900 pc/h/ln, i.e. one vehicle every 1.9 s
SAT_HEADWAY_S = 3600.0 / 1900.0


@dataclass(frozen=True)
class ActuatedTiming:
    """Timing of :class:`Actuated` (every stage; seconds). Defaults are a common starting point
    (STM table 5-3 for passage and max green at 30-45 mph approaches), chosen on the tuning seeds
    by ``signals bench adaptive --tune``, never on the evaluation seeds."""

    passage_s: float = 3.0
    min_gap_s: float | None = None  # None: no gap reduction
    reduce_after_s: float = 15.0
    reduce_over_s: float = 15.0
    max1_s: float = 40.0
    max2_s: float = 80.0
    dynamic_step_s: float = 10.0  # 0: no dynamic max
    recall: str = "none"
    major_recall: str | None = None  # None: as ``recall``
    skip: bool = True
    concurrency: bool = True
    cv_horizon_s: float = 6.0
    cv_calls: bool = True  # "both": connected vehicles place calls too (not only extend)
    permissive_s: float = 10.0
    # a vehicle that has stood this long on the stop bar of a permissive ('g') movement of the
    # green stage holds the green (stop-line presence in extend mode, STM 5.2), so that it can
    # turn in the gap that ends the opposing extension; counted from when it first stood there,
    # red included, as SUMO counts the wait before it teleports a vehicle. None: never; 0: as
    # soon as one waits (signals.bench.adaptive.TUNING has the values tried)
    permissive_hold_s: float | None = None
    # such a vehicle calls the stages that protect its movement once it has stood there this
    # long (the detector delay of NTCIP 1202 v03 detector options; 0: at once), so that a
    # protected stage added for it (stage source "own+protected") runs only when it is needed
    permitted_call_delay_s: float = 0.0
    # a movement that one stage only permits and another protects (a left with a protected
    # stage), standing this long on its stop bar in red, has its protecting stage served next,
    # ahead of the stage order: a left facing a saturated opposing flow in its permitted stage
    # then skips the wait through that stage (demand-chosen lead / lag left-turn sequence, FHWA
    # Traffic Signal Timing Manual 2nd ed., on left-turn phase sequence). None: never
    priority_wait_s: float | None = None
    # "cv": hold the fallback green's share 1 - p (signals.bench.adaptive runs it on, with the
    # Webster splits as fallback greens; its TUNING has the runs)
    cv_fallback: bool = False
    # "cv" with flows: a movement with expected demand is called at the latest after this red
    unseen_max_red_s: float = 120.0
    # spillback guard: a movement whose exit edge holds halting vehicles on at least this share
    # of its storage neither extends nor calls (0: off)
    spill_guard: float = 0.0

    def check(self) -> None:
        for name in ("passage_s", "min_gap_s", "max1_s", "max2_s"):
            v = getattr(self, name)
            if v is None and name == "min_gap_s":
                continue
            if not (math.isfinite(v) and v > 0):
                raise InputError(None, name, "seconds > 0", v)
        if self.min_gap_s is not None and self.min_gap_s > self.passage_s:
            raise InputError(
                None, "min_gap_s", f"<= passage_s ({self.passage_s:g})", self.min_gap_s
            )
        if self.max2_s < self.max1_s:
            raise InputError(None, "max2_s", f">= max1_s ({self.max1_s:g})", self.max2_s)
        for name in ("permissive_hold_s", "priority_wait_s"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise InputError(None, name, "seconds >= 0 or None", v)
        for name in (
            "reduce_after_s",
            "reduce_over_s",
            "dynamic_step_s",
            "cv_horizon_s",
            "permissive_s",
            "unseen_max_red_s",
            "permitted_call_delay_s",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InputError(None, name, "seconds >= 0", v)
        if not 0.0 <= self.spill_guard <= 1.0:
            raise InputError(None, "spill_guard", "a storage share in [0, 1]", self.spill_guard)
        for name in ("recall", "major_recall"):
            if getattr(self, name) not in RECALLS + ((None,) if name == "major_recall" else ()):
                raise InputError(None, name, " | ".join(RECALLS), repr(getattr(self, name)))


class Actuated(Controller):
    """NEMA-style actuated control (module docstring), vectorized over all signals.

    Args:
        inputs: ``"detectors"``, ``"cv"`` or ``"both"``.
        timing: :class:`ActuatedTiming`.
        penetration: connected-vehicle penetration the ``"cv"`` extension assumes, in (0, 1].
        coordination: background plans (cycle, offset and the splits of the stages, which must
            be these plans' stages) for coordinated operation; None: free operation.
        flows_vph: (M,) expected flow of each movement (``"cv"``: calls for unseen demand,
            module docstring); None: every stage on min recall.
        fallback: fixed-time plans of the stages whose greens are the ``"cv"`` fallback greens
            (free operation); None: the coordination plans' splits, else ``max1_s``.
    """

    name = "actuated_det"  # set from ``inputs`` (and coordination) in __init__
    decision_s = 1.0  # gaps are timed to the second

    def __init__(
        self,
        inputs: str = "detectors",
        timing: ActuatedTiming | dict | None = None,
        penetration: float = 1.0,
        coordination: PlanSet | None = None,
        flows_vph: np.ndarray | None = None,
        fallback: PlanSet | None = None,
    ):
        if inputs not in INPUTS:
            raise InputError(None, "inputs", " | ".join(INPUTS), repr(inputs))
        if not 0.0 < penetration <= 1.0:
            raise InputError(None, "penetration", "a rate in (0, 1]", penetration)
        self.inputs = inputs
        if isinstance(timing, dict):  # from an experiment config
            timing = ActuatedTiming(**timing)
        self.timing = timing or ActuatedTiming()
        self.timing.check()
        self.penetration = float(penetration)
        self.coordination = coordination
        self.flows_vph = None if flows_vph is None else np.asarray(flows_vph, dtype=float)
        self.fallback = fallback
        needs = {"detectors"} if inputs != "cv" else set()
        if inputs != "detectors":
            needs |= {"cv", "cv_eta"}
        if self.timing.spill_guard > 0:
            needs |= {"queues"}
        self.needs = frozenset(needs)
        self.name = {"detectors": "actuated_det", "cv": "actuated_cv", "both": "actuated_det_cv"}[
            inputs
        ] + ("_coord" if coordination is not None else "")

    # ------------------------------------------------------------------ set-up
    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        tm = self.timing
        S, K, M = stages.n_signals, len(stages.stage_state), network.n_movements
        self._rows = np.arange(S)
        self._G = (stages.mov_green > 0).astype(float).tocsr()  # (K, M) stage serves movement
        self._P = self._protected(network, stages)  # (K, M) ... with right of way ('G')
        # movements some stage only permits and another protects
        only_permitted = np.asarray((self._G - self._P).sum(axis=0)).ravel() > 0
        self._split = only_permitted & (np.asarray(self._P.sum(axis=0)).ravel() > 0)
        self._mov_sig = np.asarray(network.mov_signal, dtype=np.int64)
        self._n = stages.n_stages
        # major stage: most saturation flow served
        served = self._G @ np.asarray(network.mov_sat_flow_vps, dtype=float)
        major = np.zeros(K, dtype=bool)
        for s in range(S):
            k0, k1 = int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1])
            major[k0 + int(np.argmax(served[k0:k1]))] = True
        recall = np.where(major, tm.major_recall or tm.recall, tm.recall)
        self._unseen_vps = None  # "cv": arrival rate of unequipped vehicles per movement
        if self.inputs == "cv" and self.flows_vph is None:
            recall = np.where(recall == "none", "min", recall)
        elif self.inputs == "cv":
            if self.flows_vph.shape != (M,):
                raise InputError(None, "flows_vph", f"({M},) movement flows", self.flows_vph.shape)
            self._unseen_vps = (1.0 - self.penetration) * self.flows_vph / 3600.0
            self._green_t = np.full(M, np.nan)  # when each movement was last green
        self._recall_call = recall != "none"
        self._recall_max = recall == "max"
        self._min_g = np.where(
            recall == "ped", np.maximum(stages.min_green_s, WALK_S), stages.min_green_s
        )
        self._coord = None
        if self.coordination is not None:
            self._coord = self._plan_points(self.coordination, "coordination")
        self._exit = ExitStorage(network) if tm.spill_guard > 0 else None
        # the green a stage holds whatever its inputs show: its minimum, and in "cv" mode with
        # cv_fallback the share (1 - p) of the rest of its fallback green (the fallback or
        # background plan's split, else max1) that unseen vehicles could be using, so that at
        # penetration -> 0 the controller runs its fixed-time fallback, and at p = 1 it is
        # fully actuated
        self._hold_g = self._min_g.copy()
        self._fallback_g = np.full(K, tm.max1_s)
        back = self._coord
        if self.fallback is not None:
            back = self._plan_points(self.fallback, "fallback")
        if back is not None:
            self._fallback_g = back["force_off"] - back["start"]
        self._fallback_g = np.maximum(self._fallback_g, self._min_g)
        if self.inputs == "cv" and tm.cv_fallback:
            room = self._fallback_g - self._min_g
            self._hold_g = self._min_g + (1.0 - self.penetration) * room
        self._blind_done = self.inputs != "cv"  # stages no RSU covers: found at the first act
        self._cv_queue_t = np.full(M, -np.inf)  # when a CV last stood queued on the movement
        self._stood_since = np.full(M, np.nan)  # since when a vehicle stands on the stop bar
        self._max = np.full(K, tm.max1_s)
        self._n_max_out = np.zeros(K, dtype=np.int64)
        self._n_gap_out = np.zeros(K, dtype=np.int64)
        self._call = np.zeros(M, dtype=bool)
        self._max_start = np.full(S, np.nan)
        self._green_start = np.full(S, np.nan)
        self._carry = np.zeros(S, dtype=bool)
        self._last_t: float | None = None

    @staticmethod
    def _protected(network, stages):
        import scipy.sparse as sp

        rows, cols = [], []
        for k, (s, state) in enumerate(zip(stages.stage_signal, stages.stage_state, strict=True)):
            share = network.movement_state_share(int(s), state, "G")
            nz = np.flatnonzero(share > 0) + int(network.signal_mov_start[int(s)])
            rows += [k] * len(nz)
            cols += nz.tolist()
        shape = (len(stages.stage_state), network.n_movements)
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)

    def _plan_points(self, plans: PlanSet, what: str) -> dict:
        """Cycle, offset, and per-stage split start / force-off points of fixed-time plans of
        the stages (``what``: the argument they came in, for the error)."""
        st, net = self.stages, self.network
        S = st.n_signals
        cycle = np.zeros(S)
        offset = np.zeros(S)
        start = np.zeros(len(st.stage_state))
        force_off = np.zeros(len(st.stage_state))
        for s, sid in enumerate(net.signal_ids):
            plan = plans.plans.get(sid)
            k0, k1 = int(st.signal_stage_start[s]), int(st.signal_stage_start[s + 1])
            if plan is None or [p.state for p in plan.phases] != list(st.stage_state[k0:k1]):
                raise InputError(
                    sid,
                    what,
                    "a plan of the stages the loop runs",
                    "other stages",
                )
            cycle[s] = float(plan.cycle_s)
            offset[s] = float(plan.offset_s)
            c = 0.0
            for i, ph in enumerate(plan.phases):
                start[k0 + i] = c
                force_off[k0 + i] = c + float(ph.green_s)
                c += float(ph.total_s)
        return {"cycle": cycle, "offset": offset, "start": start, "force_off": force_off}

    # ------------------------------------------------------------------ decisions
    def act(self, obs: Observation) -> np.ndarray:
        st, tm = self.stages, self.timing
        t = float(obs.time_s)
        dt = 1.0 if self._last_t is None else max(t - self._last_t, 1e-9)
        self._last_t = t
        rows, n = self._rows, self._n
        if not self._blind_done:  # a stage serving a movement no RSU sees holds its fallback
            unseen = ~np.asarray(obs.cv_observed, dtype=bool)
            blind = (self._G @ unseen.astype(float)) > 0
            self._hold_g = np.where(blind, self._fallback_g, self._hold_g)
            self._blind_done = True
        cur = np.asarray(obs.stage, dtype=np.int64)
        k = st.pad[rows, cur]
        in_change = np.asarray(obs.in_change, dtype=bool)
        tis = np.asarray(obs.time_in_stage_s, dtype=float)
        # a new green (or a change towards one): restart its max timer unless carried over
        gs = t - tis
        new = ~np.isclose(gs, self._green_start)
        self._green_start = gs
        self._max_start[new & ~self._carry] = np.nan
        self._carry[new] = False
        showing = ~in_change[self._mov_sig]
        green_m = (np.asarray(self._G[k].sum(axis=0)).ravel() > 0) & showing
        prot_m = (np.asarray(self._P[k].sum(axis=0)).ravel() > 0) & showing
        # passage (with gap reduction after a conflicting call)
        passage = np.full(len(rows), tm.passage_s)
        if tm.min_gap_s is not None and tm.min_gap_s < tm.passage_s:
            since = np.nan_to_num(t - self._max_start, nan=0.0)
            frac = np.clip((since - tm.reduce_after_s) / max(tm.reduce_over_s, 1e-9), 0.0, 1.0)
            passage -= frac * (tm.passage_s - tm.min_gap_s)
        ext_m, call_m, present_m = self._inputs(obs, passage[self._mov_sig], dt)
        if self._unseen_vps is not None:  # an unseen vehicle more likely than not waits
            self._green_t = np.where(green_m | np.isnan(self._green_t), t, self._green_t)
            red_s = t - self._green_t
            likely = self._unseen_vps * red_s >= math.log(2.0)
            call_m = call_m | likely | ((self._unseen_vps > 0) & (red_s >= tm.unseen_max_red_s))
        if self._exit is not None:
            # spillback guard: nothing leaves through a full exit, so its movements neither
            # extend the green nor call one (the exit-blocking rule of SCOOT, Hunt et al. 1981,
            # TRRL LR1014, as a queue detector on the exit link reports it); a call
            # already locked waits until the exit clears
            q = np.asarray(obs.queue_veh, dtype=float)
            full = self._exit.vehicles(q, np.asarray(obs.down_queue_veh, dtype=float))
            free = full < tm.spill_guard * self._exit.storage_veh
            ext_m, present_m = ext_m & free, present_m & free
        else:
            free = np.ones(len(call_m), dtype=bool)
        waiting = present_m & green_m & ~prot_m
        self._stood_since = np.where(
            present_m, np.where(np.isnan(self._stood_since), t, self._stood_since), np.nan
        )
        stood_s = t - self._stood_since + 1e-9  # nan where nobody stands on the stop bar
        # locking calls on red movements, cleared when served; a movement green only
        # permissively ('g', e.g. a left turn before its protected stage) calls the stages
        # that protect it while a vehicle waits on its stop bar (non-locking presence), once
        # it has stood there permitted_call_delay_s
        self._call = (self._call | call_m) & ~green_m
        asking = waiting & (stood_s >= tm.permitted_call_delay_s)
        calls_k = (self._G @ (self._call & free).astype(float) + self._P @ asking.astype(float)) > 0
        calls_k |= self._recall_call
        calls = st.gather(calls_k.astype(float), fill=0.0) > 0  # (S, Kmax)
        calls[rows, cur] = False
        force = np.zeros(len(rows), dtype=bool)
        if self._coord is not None:
            may_start, force = self._coordinated(t, cur, k)
            calls[:, 0] |= cur != 0  # the coordinated stage is on recall once left
            calls &= may_start
        conflict = calls.any(axis=1) & ~in_change
        self._max_start = np.where(conflict & np.isnan(self._max_start), t, self._max_start)
        # extension of the current stage; a vehicle waiting on the stop bar of a permissive
        # movement (a left turn yielding to the opposing flow), once it has stood there
        # permissive_hold_s, holds the green as stop-line presence detection does (STM 5.2,
        # "extend" mode), so that it can turn in the gap that ends the opposing movements'
        # extension instead of facing yellow
        if tm.permissive_hold_s is not None:
            ext_m = ext_m | (waiting & (stood_s >= tm.permissive_hold_s))
        ext_now = ext_m & green_m
        n_ext = np.bincount(self._mov_sig, weights=ext_now, minlength=len(rows))
        extending = (n_ext > 0) | self._recall_max[k]
        ready = ~in_change & (tis + 1e-9 >= self._min_g[k])
        max_out = ready & conflict & (t - self._max_start + 1e-9 >= self._max[k])
        held = tis + 1e-9 >= self._hold_g[k]
        gap_out = ready & held & conflict & ~extending
        # next stage: first called stage after the current one in stage order
        local = np.arange(st.k_max)[None, :]
        order = (local - cur[:, None]) % np.maximum(n[:, None], 1)
        order = np.where(st.pad >= 0, order, st.k_max + 1)
        if self._coord is not None:
            max_out &= cur != 0  # the coordinated stage neither maxes nor gaps out
            gap_out &= cur != 0
            force &= ready
        if tm.priority_wait_s is not None:  # starving lefts: their protecting stage first
            starving = present_m & ~green_m & self._split & (stood_s >= tm.priority_wait_s)
            first = st.gather((self._P @ starving.astype(float) > 0).astype(float), fill=0.0)
            order = np.where(first > 0, order - (st.k_max + 1), order)
        cost = np.where(calls, order, st.k_max + 1)
        nxt = np.argmin(cost, axis=1)
        has_next = cost[rows, nxt] <= st.k_max
        if self._coord is not None:  # force-off with nothing called: back to the coordinated stage
            nxt = np.where(force & ~has_next, 0, nxt)
            has_next |= force & (cur != 0)
        if not tm.skip:
            nxt = np.where(has_next, (cur + 1) % n, nxt)
        terminate = (gap_out | max_out | force) & has_next & (nxt != cur)
        # dual-ring-like concurrency: some movements gapped out, others extend
        if tm.concurrency:
            keep = (self._G @ ext_now.astype(float)) >= n_ext[st.stage_signal] - 1e-9
            keep = st.gather(keep.astype(float), fill=0.0) > 0
            partial = ready & held & conflict & (n_ext > 0) & ~terminate & ~self._recall_max[k]
            partial &= n_ext < np.bincount(self._mov_sig, weights=green_m, minlength=len(rows))
            cand = np.where(calls & keep, order, st.k_max + 1)
            cand[rows, cur] = st.k_max + 1
            pn = np.argmin(cand, axis=1)
            # ... only to the next called stage in the ring order: like a NEMA ring, it never
            # skips a called stage (NEMA TS 2-2016 3.5.3, phase sequence; FHWA Traffic Signal
            # Timing Manual 2nd ed. ch. 5, dual-ring operation). Going back past one to the
            # stage it came from let two stages sharing an extending left alternate with the
            # max timer carried from one to the other, and the cross street wait unserved
            # past SUMO's 300 s teleport (pilot zone, tuning seeds 4 and 5, signal r03c18)
            first = cost.min(axis=1) if tm.skip else 1  # order of the stage a change goes to
            partial &= cand[rows, pn] <= np.minimum(first, st.k_max)
            if self._coord is not None:
                partial &= cur != 0
            nxt = np.where(partial, pn, nxt)
            self._carry |= partial
            terminate |= partial
        self._dynamic_max(k, terminate & max_out & ~gap_out, terminate & gap_out)
        return np.where(terminate, nxt, cur)

    def _inputs(self, obs: Observation, passage_m: np.ndarray, dt: float):
        """(M,) extension, new-call and stop-bar presence flags from the controller's inputs."""
        M = len(passage_m)
        ext = np.zeros(M, dtype=bool)
        call = np.zeros(M, dtype=bool)
        present = np.zeros(M, dtype=bool)
        if self.inputs != "cv":
            if obs.det_gap_s is None or obs.det_occupied is None:
                raise InputError(
                    None, "observation", "loop detector arrays (needs 'detectors')", "none"
                )
            gap = np.asarray(obs.det_gap_s, dtype=float)
            ext |= gap < passage_m
            present |= np.asarray(obs.det_occupied, dtype=bool)
            call |= (gap < dt) | present
        if self.inputs != "detectors":
            if obs.cv_eta_s is None:
                raise InputError(
                    None, "observation", "CV arrival predictions (needs 'cv_eta')", "none"
                )
            eta = np.asarray(obs.cv_eta_s, dtype=float)
            horizon = (
                passage_m / self.penetration if self.inputs == "cv" else self.timing.cv_horizon_s
            )
            ext |= eta < horizon
            cv_q = np.asarray(obs.cv_queue_veh) > 0
            if self.inputs == "cv":
                # a queue with a CV in it still discharges, and after its last CV has moved
                # off, so does its unseen tail of (1 - p) / p vehicles (module docstring)
                t = float(obs.time_s)
                self._cv_queue_t[cv_q] = t
                p = self.penetration
                tail_s = (1.0 - p) / p * SAT_HEADWAY_S
                ext |= cv_q | (t - self._cv_queue_t <= tail_s + 1e-9)
            if self.inputs == "cv" or self.timing.cv_calls:
                present |= cv_q
                call |= np.isfinite(eta) | cv_q
        return ext, call, present

    def _coordinated(self, t: float, cur, k):
        """(S, Kmax) stages that may start now; (S,) the current stage must (or, the
        coordinated one, may) end now."""
        co, st = self._coord, self.stages
        c = np.mod(t - co["offset"], np.maximum(co["cycle"], 1.0))  # cycle second, stage 0 at 0
        fo = st.gather(co["force_off"], fill=-np.inf)
        mg = st.gather(self._min_g, fill=np.inf)
        # a non-coordinated stage may start if its minimum green ends before its force-off
        ok = (c[:, None] + mg <= fo) & (np.arange(st.k_max)[None, :] > 0)
        # the coordinated stage yields only within the permissive window after its yield point
        y = co["force_off"][st.pad[:, 0]]
        window = (c >= y) & (c <= y + self.timing.permissive_s)
        ok &= np.where(cur == 0, window, True)[:, None]
        ok[:, 0] = cur != 0
        # the coordinated stage yields (to a called stage) in its window; the others are
        # forced off at the end of their split
        over = (c >= co["force_off"][k]) | (c < co["start"][k])
        return ok, np.where(cur == 0, window, over)

    def _dynamic_max(self, k: np.ndarray, maxed: np.ndarray, gapped: np.ndarray) -> None:
        step = self.timing.dynamic_step_s
        if step <= 0:
            return
        km, kg = k[maxed], k[gapped]
        self._n_max_out[km] += 1
        self._n_gap_out[km] = 0
        self._n_gap_out[kg] += 1
        self._n_max_out[kg] = 0
        up = km[self._n_max_out[km] >= 2]
        self._max[up] = np.minimum(self._max[up] + step, self.timing.max2_s)
        self._n_max_out[up] = 0
        down = kg[self._n_gap_out[kg] >= 2]
        self._max[down] = np.maximum(self._max[down] - step, self.timing.max1_s)
        self._n_gap_out[down] = 0
