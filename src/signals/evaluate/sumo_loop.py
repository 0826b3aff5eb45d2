"""Closed control loop: an online controller drives SUMO's signals through libsumo (issue 5).

Every ``delta_t_s`` the loop reads observations from subscriptions into arrays, asks the
controller for the stage each signal should show (:meth:`Controller.act`), and applies what is
safe. The loop -- not the controller -- inserts the change interval (pedestrian clearance,
yellow, all-red), holds minimum green, forces a change at maximum green and ignores requests for
unknown stages. Nothing reaches SUMO that the safety gate (:mod:`signals.safety`) has not passed.

Two ways of driving the signals (``LoopConfig.mode``):

* ``"program"`` (default, fast): each signal gets one SUMO program built from its stages
  (:class:`StageProgram`): a green phase per stage that lasts until the loop ends it, and for
  every ordered pair of stages (i, j) a chain of change phases (clearance, yellow, all-red) whose
  ``next`` points at the green of j. A stage change is one ``trafficlight.setPhase`` call; SUMO
  runs the change interval itself, so between decisions the loop advances SUMO ``delta_t_s`` at a
  time in one ``simulationStep(t)`` call. Before the program is installed, every phase passes
  the conflict check and every change chain green_i -> ... -> green_j passes the gate's rules
  (:meth:`StageProgram.check`: transitions, yellow, red clearance, both severities), so every
  state SUMO can reach from it has been checked.
* ``"state"``: the loop steps SUMO every second, computes each signal's state itself, passes
  every changed state through ``conflicting_green`` and ``illegal_transitions`` and only then
  calls ``trafficlight.setRedYellowGreenState``. Same decisions, more Python per second; kept to
  measure the difference (``signals bench loop``) and as a second implementation.

``audit=True`` additionally steps every second, reads the state SUMO actually shows (a
trafficlight subscription), checks it with the gate and compares it with the loop's own
bookkeeping; tests use it with a controller that tries to cheat.

Observations (:class:`signals.control.adaptive.Observation`) come from lane subscriptions
(halting number and vehicle number) combined by sparse matrices into per-movement queues, and,
for connected-vehicle controllers, from E2 lane-area detectors restricted to the connected
vehicle types (``vTypes``) over the roadside-unit range -- no per-vehicle Python.

libsumo is imported only inside functions (docs/architecture.md, "Layers"); the run itself is
:class:`signals.evaluate.sumo_run.SumoSimulation`, so metrics, the connected/other split and
the outputs are those of static runs.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from signals.control.adaptive import Controller, Observation, Stages
from signals.control.stage_sets import SOURCES as STAGE_SOURCES
from signals.control.stage_sets import conflict_plan, stage_templates
from signals.errors import InputError
from signals.network import Network
from signals.plans import GREEN_CHARS, PlanSet
from signals.safety import (
    SafetyConfig,
    UnsafePlanError,
    Violation,
    assert_safe,
    check_file,
    check_network_programs,
    conflicting_green,
    geometry,
    illegal_transitions,
    required_allred_s,
    required_yellow_s,
    validate_program,
)
from signals.states import loses_row

PathLike = str | os.PathLike
PROGRAM_ID = "signals_loop"
DEFAULT_SAFETY = SafetyConfig()
# Duration of a stage's green phase in the loop program: "until the loop ends it".
GREEN_HOLD_S = 1.0e6
# traci constants (traci/constants.py): lane / lane-area / traffic-light variables.
_HALT = 0x14  # LAST_STEP_VEHICLE_HALTING_NUMBER
_COUNT = 0x10  # LAST_STEP_VEHICLE_NUMBER
_TL_STATE = 0x20  # TL_RED_YELLOW_GREEN_STATE
# observation groups read from the connected-vehicle E2 detectors
CV_NEEDS = frozenset({"cv", "cv_counts", "cv_eta"})
_TL_PHASE = 0x28  # TL_CURRENT_PHASE
_TL_NEXT_SWITCH = 0x2D  # TL_NEXT_SWITCH
_GREEN = np.frombuffer("".join(sorted(GREEN_CHARS)).encode(), dtype=np.uint8)
_RED = ord("r")


class SafetyViolation(RuntimeError):
    """The loop was about to send (or SUMO showed) a state the safety gate rejects."""


@dataclass(frozen=True)
class LoopConfig:
    """Settings of the closed loop.

    Attributes:
        delta_t_s: decision interval (seconds, a whole number of SUMO steps).
        min_green_s: minimum green of every stage; None: each stage's own (the plan's
            ``min_green_s``), never below ``SafetyConfig.min_green_s``.
        max_green_s: maximum green; at a decision past it the loop changes stage even if the
            controller asks to stay (to its requested stage, else the next in plan order).
            None: each stage's own ``max_green_s``. Default 300 s, a starvation guard only:
            Varaiya's max-pressure has no maximum green, and on the pilot zone (AM peak, seed 1,
            1 h, delta_t 5 s) a tighter cap cost delay: 60 s -> 201.8 s, 120 s -> 197.5 s,
            180 s -> 195.5 s, 300 s -> 194.3 s (Webster 199.4 s). Shorter decision intervals
            (2-3 s) and larger min green (10-15 s) were worse too.
        allred_s: lower bound on all-red (on top of the plan's and the ITE red clearance).
        mode: "program" or "state" (module docstring).
        audit: step every second and check what SUMO shows (slower; for tests).
        rsu_range_m: connected-vehicle detection range of a roadside unit along each lane.
        read: "direct" (getter calls at each decision) or "subscription" (libsumo
            subscriptions); same values, see :meth:`MovementObserver._values` for the costs.
        rsu_at: "all" (every signal has an RSU: the pilot zone's 448 signals are all being
            upgraded) or "rsu" (only signals a V2X corridor enters, ``Network.signal_rsu``).
        detector_advance_s: where the advance loop detectors lie (controllers that need
            ``"detectors"``): this many seconds of travel at the lane's speed limit upstream of
            the stop line, as SUMO's own actuated control places them (SUMO docs, "Traffic
            Lights", actuated ``detector-gap``, default 2 s).
        stop_bar_zone_m: length of the stop-bar presence detector, from the stop line upstream
            (a SUMO E2 lane-area detector, clipped to the lane): the 6 x 40 ft (about 12 m)
            presence loop the FHWA Traffic Signal Timing Manual (2nd ed., 2015, ch. 6 on
            detection design) takes as typical at the stop line, so that a vehicle standing
            anywhere near the line is seen. A point loop 1 m from the line missed vehicles
            that SUMO stops 1.04 m short of it (the call was lost, the vehicle stood 300 s and
            was teleported).
        stages: where the stages of signals without a given plan come from
            (:func:`signals.control.stage_sets.stage_templates`): "auto" (the net's own stage
            order where it serves, else the conflict-matrix stages), "conflict" or "own".
    """

    delta_t_s: float = 5.0
    min_green_s: float | None = None
    max_green_s: float | None = 300.0
    allred_s: float = 0.0
    mode: str = "program"
    audit: bool = False
    rsu_range_m: float = 300.0
    rsu_at: str = "all"
    read: str = "direct"
    stages: str = "auto"
    detector_advance_s: float = 2.0
    stop_bar_zone_m: float = 12.2

    def check(self) -> None:
        if not (self.delta_t_s >= 1 and float(self.delta_t_s).is_integer()):
            raise InputError(None, "delta_t_s", "a whole number of seconds >= 1", self.delta_t_s)
        if self.mode not in ("program", "state"):
            raise InputError(None, "mode", "'program' or 'state'", repr(self.mode))
        if self.read not in ("direct", "subscription"):
            raise InputError(None, "read", "'direct' or 'subscription'", repr(self.read))
        if self.stages not in STAGE_SOURCES:
            raise InputError(None, "stages", " | ".join(STAGE_SOURCES), repr(self.stages))
        if self.rsu_at not in ("all", "rsu"):
            raise InputError(None, "rsu_at", "'all' or 'rsu'", repr(self.rsu_at))
        if not (math.isfinite(self.detector_advance_s) and self.detector_advance_s > 0):
            raise InputError(
                None, "detector_advance_s", "seconds of travel > 0", self.detector_advance_s
            )
        if not (math.isfinite(self.stop_bar_zone_m) and self.stop_bar_zone_m > 0):
            raise InputError(None, "stop_bar_zone_m", "a length > 0 m", self.stop_bar_zone_m)
        if not self.rsu_range_m > 0:
            raise InputError(None, "rsu_range_m", "a range > 0 m", self.rsu_range_m)
        for name in ("min_green_s", "max_green_s"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise InputError(None, name, "a positive number of seconds or None", v)


def _codes(state: str) -> np.ndarray:
    return np.frombuffer(state.encode(), dtype=np.uint8)


def _is_green(codes: np.ndarray) -> np.ndarray:
    return np.isin(codes, _GREEN)


def _ceil_s(x: float) -> float:
    return float(math.ceil(x - 1e-9))


# ============================================================================ programs
@dataclass(frozen=True, eq=False)
class StageProgram:
    """Per-signal SUMO programs for online control, as flat row arrays (R rows in all).

    Row r of signal s is phase ``r - prog_start[s]`` of the program installed on s. The first
    n_stages rows of a signal are its stage greens; the rest are the change chains.

    Attributes:
        stages: the stages (with the loop's green bounds).
        prog_start: (S+1,) CSR offsets into the rows.
        row_state: (R,) SUMO state strings.
        row_codes: (R, Lmax) uint8 state characters, padded with 'r'.
        row_dur_s: (R,) phase durations (``GREEN_HOLD_S`` for stage greens).
        row_next: (R,) global row that follows (a stage green follows itself).
        row_target: (R,) global stage a row belongs to or leads to.
        row_green: (R,) True for stage greens.
        green_row: (K,) global row of each stage's green.
        trans_row: (S, Kmax, Kmax) global row a change i -> j starts with (the green of j when
            the change needs no interval), -1 on the diagonal.
        trans_s: (S, Kmax, Kmax) duration of the change i -> j.
        run_end_s: (R, Lmax) seconds from the start of row r until the link's character changes
            within the change chain, +inf where it lasts into the next stage green.
        run_next: (R, Lmax) the character that follows at that change.
        green_after_s: (K, Lmax) shortest change interval from stage k to a stage where the
            link is green (+inf if none): a red link's earliest green is a change time plus this.
    """

    stages: Stages
    prog_start: np.ndarray
    row_state: tuple[str, ...]
    row_codes: np.ndarray
    row_dur_s: np.ndarray
    row_next: np.ndarray
    row_target: np.ndarray
    row_green: np.ndarray
    green_row: np.ndarray
    trans_row: np.ndarray
    trans_s: np.ndarray
    run_end_s: np.ndarray
    run_next: np.ndarray
    green_after_s: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.row_state)

    @classmethod
    def build(
        cls,
        network: Network,
        stages: Stages,
        safety: SafetyConfig = DEFAULT_SAFETY,
        allred_s: float = 0.0,
    ) -> StageProgram:
        """Build and check the programs.

        Change i -> j: the stage's pedestrian clearance state (if any), then yellow for the
        links whose right of way drops (``G``->``g`` included; duration >= the plan's yellow and
        ``safety.required_yellow_s`` of those links), then all-red (>= the plan's, ``allred_s``
        and ``safety.required_allred_s`` of the losing links); durations rounded up to whole
        seconds. A change where no link loses right of way goes straight to the new green.
        States come from ``Phase.change_states`` (the plan's own change states for its own next
        stage). Every chain green_i -> ... -> green_j then passes the gate's rules
        (:func:`signals.safety.validate_program` on the chain, both severities).

        Raises:
            UnsafePlanError: a state or transition of some program fails the gate.
        """
        S = network.n_signals
        lmax = int(network.signal_n_links.max())
        geo = geometry(network)
        y_min = required_yellow_s(geo.link_speed_mps, safety)
        r_min = required_allred_s(geo.link_width_m, geo.link_speed_mps, safety)
        kmax = stages.k_max
        st, dur, nxt, tgt, grn = [], [], [], [], []
        prog_start = np.zeros(S + 1, dtype=np.int64)
        green_row = np.zeros(len(stages.stage_state), dtype=np.int64)
        trans_row = np.full((S, kmax, kmax), -1, dtype=np.int64)
        trans_s = np.zeros((S, kmax, kmax))
        for s in range(S):
            k0, k1 = int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1])
            n = k1 - k0
            lsl = network.links_of(s)
            veh = ~network.link_is_ped[lsl]
            ped = network.link_is_ped[lsl] & geo.link_used[lsl]
            # unknown crossing lengths (NaN) time as 0 here; the chain check then refuses them
            cross = np.nan_to_num(geo.crossing_m[lsl], nan=0.0)
            for a in range(n):
                green_row[k0 + a] = len(st)
                st.append(stages.stage_state[k0 + a])
                dur.append(GREEN_HOLD_S)
                nxt.append(len(st) - 1)
                tgt.append(k0 + a)
                grn.append(True)
            for a in range(n):
                ph = stages.stage_phase[k0 + a]
                for b in range(n):
                    if a == b:
                        continue
                    to_state = stages.stage_state[k0 + b]
                    own_next = b == (a + 1) % n
                    p_use = ph if own_next else replace(ph, yellow_state="", allred_state="")
                    # crossings that lose their walk in this change stop first, early enough
                    # to clear before any conflicting green (MUTCD 2009 sec. 4E.06)
                    losing_ped = ped & _is_green(_codes(ph.state)) & ~_is_green(_codes(to_state))
                    clear_state = "".join(
                        "r" if losing_ped[i] else c for i, c in enumerate(ph.state)
                    )
                    if losing_ped.any() or (own_next and ph.clear_s > 0 and ph.clear_state):
                        p_use = replace(p_use, clear_state=clear_state, clear_s=1.0)
                    else:
                        p_use = replace(p_use, clear_s=0.0, clear_state="")
                    ys, rs = p_use.change_states(to_state, False)
                    parts: list[tuple[str, float]] = []
                    need_y = need_r = 0.0
                    losing = loses_row(_codes(p_use.end_state), _codes(ys))
                    if losing.any():
                        lv = losing & veh
                        need_y = _ceil_s(
                            max(ph.yellow_s, float(y_min[lsl][lv].max(initial=0.0)), 1.0)
                        )
                        parts.append((ys, need_y))
                        need_r = _ceil_s(
                            max(
                                ph.allred_s,
                                allred_s,
                                float(r_min[lsl][lv].max(initial=safety.allred_min_s)),
                            )
                        )
                        if need_r > 0:
                            parts.append((rs, need_r))
                    if p_use.clear_s > 0:
                        walk_out = float(cross[losing_ped].max(initial=0.0)) / safety.ped_speed_mps
                        clear_dur = max(
                            _ceil_s(walk_out - need_y - need_r),
                            _ceil_s(ph.clear_s) if own_next else 0.0,
                            1.0,
                        )
                        parts.insert(0, (clear_state, clear_dur))
                    # drop parts that repeat the previous state (nothing changes)
                    chain: list[tuple[str, float]] = []
                    prev = ph.state
                    for p_state, p_dur in parts:
                        if p_state == prev:
                            continue
                        chain.append((p_state, p_dur))
                        prev = p_state
                    first = len(st)
                    for i, (p_state, p_dur) in enumerate(chain):
                        st.append(p_state)
                        dur.append(p_dur)
                        nxt.append(first + i + 1 if i + 1 < len(chain) else int(green_row[k0 + b]))
                        tgt.append(k0 + b)
                        grn.append(False)
                    trans_row[s, a, b] = first if chain else int(green_row[k0 + b])
                    trans_s[s, a, b] = float(sum(d for _, d in chain))
            prog_start[s + 1] = len(st)
        R = len(st)
        codes = np.full((R, lmax), _RED, dtype=np.uint8)
        for r, state in enumerate(st):
            codes[r, : len(state)] = _codes(state)
        row_dur = np.asarray(dur, dtype=float)
        row_next = np.asarray(nxt, dtype=np.int64)
        row_green = np.asarray(grn, dtype=bool)
        # run_end_s: walk each chain forward (chains are short)
        run_end = np.full((R, lmax), np.inf)
        run_next = codes.copy()
        for r in range(R):
            if row_green[r]:
                continue
            t = row_dur[r]
            q = row_next[r]
            same = np.ones(lmax, dtype=bool)
            out = np.full(lmax, np.inf)
            while True:
                changed = same & (codes[q] != codes[r])
                out[changed] = t
                run_next[r, changed] = codes[q, changed]
                same &= ~changed
                if row_green[q] or not same.any():
                    break
                t += row_dur[q]
                q = row_next[q]
            run_end[r] = out
        stage_green = _is_green(codes[green_row])  # (K, Lmax)
        green_after = np.full((len(green_row), lmax), np.inf)
        for s in range(S):
            k0, k1 = int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1])
            for a in range(k1 - k0):
                for b in range(k1 - k0):
                    if a != b:
                        cand = np.where(stage_green[k0 + b], trans_s[s, a, b], np.inf)
                        green_after[k0 + a] = np.minimum(green_after[k0 + a], cand)
        prog = cls(
            stages=stages,
            prog_start=prog_start,
            row_state=tuple(st),
            row_codes=codes,
            row_dur_s=row_dur,
            row_next=row_next,
            row_target=np.asarray(tgt, dtype=np.int64),
            row_green=row_green,
            green_row=green_row,
            trans_row=trans_row,
            trans_s=trans_s,
            run_end_s=run_end,
            run_next=run_next,
            green_after_s=green_after,
        )
        bad = prog.check(network, safety)
        if bad:
            raise UnsafePlanError(bad)
        return prog

    # ------------------------------------------------------------------ checks
    def flat_codes(self, network: Network, rows: np.ndarray) -> np.ndarray:
        """(L,) state characters over all links when signal s shows row ``rows[s]``."""
        return self.row_codes[rows[network.link_signal], network.link_index]

    def check(self, network: Network, safety: SafetyConfig = DEFAULT_SAFETY) -> list[Violation]:
        """The gate on every change the program can make: for each ordered pair of stages
        (i, j) the chain green_i -> change rows -> green_j goes through the gate's rules
        (:func:`signals.safety.validate_program`, not cyclic, both severities), and every row
        through the per-step conflict check."""
        out: list[Violation] = []
        counts = np.diff(self.prog_start)
        for q in range(int(counts.max())):
            has = q < counts
            rows = self.prog_start[:-1] + np.minimum(q, counts - 1)
            bad = conflicting_green(network, self.flat_codes(network, rows)) & has
            for s in np.flatnonzero(bad):
                out.append(
                    Violation(
                        network.signal_ids[s],
                        "conflicting_green",
                        f"loop program phase {q} {self.row_state[rows[s]]!r}",
                    )
                )
        hold = max(safety.min_green_s, safety.cycle_max_s)  # a green held past any clearance
        for s, sid in enumerate(network.signal_ids):
            k0, k1 = (
                int(self.stages.signal_stage_start[s]),
                int(self.stages.signal_stage_start[s + 1]),
            )
            for a in range(k1 - k0):
                for b in range(k1 - k0):
                    if a == b:
                        continue
                    chain = [(self.row_state[self.green_row[k0 + a]], hold)]
                    chain += self.change_rows(s, a, b)
                    chain.append((self.row_state[self.green_row[k0 + b]], hold))
                    for v in validate_program(sid, chain, network, clearance=safety, cyclic=False):
                        out.append(
                            replace(v, message=f"loop change {a + 1} -> {b + 1}: {v.message}")
                        )
        return out

    def change_rows(self, s: int, a: int, b: int) -> list[tuple[str, float]]:
        """(state, duration) of the change chain of signal ``s`` from local stage ``a`` to
        ``b`` (empty where the change needs no interval)."""
        out = []
        r = int(self.trans_row[s, a, b])
        while not self.row_green[r]:
            out.append((self.row_state[r], float(self.row_dur_s[r])))
            r = int(self.row_next[r])
        return out

    # ------------------------------------------------------------------ libsumo
    def install(self, ls, network: Network, stage0: np.ndarray) -> None:
        """Install the programs with every signal in the green of its local stage ``stage0``."""
        Phase, Logic = ls.trafficlight.Phase, ls.trafficlight.Logic
        for s, sid in enumerate(network.signal_ids):
            r0, r1 = int(self.prog_start[s]), int(self.prog_start[s + 1])
            phases = [
                Phase(
                    float(self.row_dur_s[r]),
                    self.row_state[r],
                    float(self.row_dur_s[r]),
                    float(self.row_dur_s[r]),
                    (int(self.row_next[r] - r0),),
                )
                for r in range(r0, r1)
            ]
            cur = int(self.green_row[self.stages.local(s, int(stage0[s]))] - r0)
            ls.trafficlight.setProgramLogic(sid, Logic(PROGRAM_ID, 0, cur, phases))
            ls.trafficlight.setProgram(sid, PROGRAM_ID)
            ls.trafficlight.setPhase(sid, cur)


# =========================================================================== observer
def connected_type_ids(route_files: Sequence[PathLike]) -> list[str]:
    """Ids of the connected-vehicle vTypes defined in route files (``demand.is_connected_type``)."""
    import xml.etree.ElementTree as ET

    from signals.demand import is_connected_type

    ids: set[str] = set()
    for f in route_files:
        for _ev, el in ET.iterparse(str(f), events=("end",)):
            if el.tag == "vType" and is_connected_type(el.get("id", "")):
                ids.add(el.get("id", ""))
            if el.tag in ("vehicle", "trip", "flow", "route"):
                el.clear()
    return sorted(ids)


class _UpstreamLanes:
    """Where an advance loop goes when its lane is shorter than the loop's distance from the
    stop line: back along the lane that alone feeds it, as SUMO's actuated logic places its
    loops (``MSActuatedTrafficLightLogic::init``: on the logical predecessor lane while the
    current lane has a single incoming lane), here only while that lane feeds nothing else,
    so the loop sees exactly the traffic of the stop line's lane. Elsewhere (the lane has
    several feeders, or the net ends) the loop stays at the start of its own lane, as before.
    On ingolstadt21 (RESCO), tuning SUMO seeds 1-2, this moved 57 of 156 loops and took our
    detector actuation from 209.9 / 202.1 s to 169.8 / 163.5 s (``signals.bench.adaptive.TUNING``).
    The net is read (sumolib) only when some lane is that short."""

    def __init__(self, net_path) -> None:
        self._path = net_path
        self._net = None

    def place(self, lane_id: str, pos_m: float) -> tuple[str, float]:
        """(lane id, position) of a loop ``pos_m`` from the start of ``lane_id`` (< 0: before
        it)."""
        if pos_m >= 0.5:
            return lane_id, pos_m
        if self._net is None:
            import sumolib

            self._net = sumolib.net.readNet(str(self._path), withInternal=False)
        lane = self._net.getLane(lane_id)
        cur, pos = lane, pos_m
        while pos < 0:
            feeders = cur.getIncoming()
            if len(feeders) != 1 or len(feeders[0].getOutgoing()) != 1:
                break
            cur = feeders[0]
            pos += cur.getLength()
        return cur.getID(), max(pos, 0.5)


class MovementObserver:
    """Per-movement observations from lane and E2 subscriptions (see :class:`Observation`).

    Lanes U: the incoming lanes of all movements and the lanes of exit edges (movement targets
    that feed no signal). Sparse matrices (built once):

    * ``up`` (M, U): lane -> movement, a lane shared by k movements gives 1/k to each;
    * ``down`` (M, M): r(m, p) for the movements p leaving the edge movement m enters
      (Varaiya 2013 turning ratios; from the routes when given, else lane shares);
    * ``exit`` (M, U): the lanes of m's target edge when it is an exit.
    """

    def __init__(
        self,
        network: Network,
        config: LoopConfig,
        turning_ratio: np.ndarray | None = None,
        cv_types: Sequence[str] = (),
        needs: frozenset[str] = frozenset(),
    ):
        self.network = network
        self.needs = needs
        self.cv_types = list(cv_types)
        M = network.n_movements
        veh_links = np.flatnonzero(network.link_movement >= 0)
        in_edges = set(network.mov_from_edge)
        lanes: dict[str, int] = {}

        def lane_index(ln: str) -> int:
            if ln not in lanes:
                lanes[ln] = len(lanes)
            return lanes[ln]

        up_pairs: set[tuple[int, int]] = set()
        for li in veh_links:
            up_pairs.add((int(network.link_movement[li]), lane_index(network.link_from_lane[li])))
        exit_lanes: dict[str, set[int]] = {}
        for li in veh_links:
            to = network.link_to_lane[li]
            e = to.rsplit("_", 1)[0]
            if e not in in_edges:
                exit_lanes.setdefault(e, set()).add(lane_index(to))
        self.lane_ids = tuple(lanes)
        U = len(self.lane_ids)
        rows = np.array([m for m, _ in up_pairs], dtype=np.int64)
        cols = np.array([u for _, u in up_pairs], dtype=np.int64)
        share = np.bincount(cols, minlength=U).astype(float)
        self.up = sp.csr_matrix((1.0 / share[cols], (rows, cols)), shape=(M, U))
        # downstream movements
        if turning_ratio is None:
            lanes_m = np.asarray(network.mov_lanes, dtype=float)
            tot = np.bincount(network.mov_in_edge, weights=lanes_m, minlength=network.n_edges)
            turning_ratio = lanes_m / np.maximum(tot[network.mov_in_edge], 1e-9)
        turning_ratio = np.asarray(turning_ratio, dtype=float)
        by_in: dict[int, list[int]] = {}
        for p in range(M):
            by_in.setdefault(int(network.mov_in_edge[p]), []).append(p)
        dr, dc, dv, xr, xc = [], [], [], [], []
        for m in range(M):
            out_e = int(network.mov_out_edge[m])
            for p in by_in.get(out_e, []):
                dr.append(m)
                dc.append(p)
                dv.append(turning_ratio[p])
            for u in exit_lanes.get(network.mov_to_edge[m], ()):
                xr.append(m)
                xc.append(u)
        self.down = sp.csr_matrix((dv, (dr, dc)), shape=(M, M))
        self.exit = sp.csr_matrix((np.ones(len(xr)), (xr, xc)), shape=(M, U))
        # connected-vehicle detection zones (E2 over the RSU range at each lane end)
        rsu = (
            np.ones(network.n_signals, dtype=bool)
            if config.rsu_at == "all"
            else np.asarray(network.signal_rsu, dtype=bool)
        )
        end_rsu = np.zeros(U, dtype=bool)
        start_rsu = np.zeros(U, dtype=bool)
        for li in veh_links:
            s = int(network.link_signal[li])
            if not rsu[s]:
                continue
            end_rsu[lanes[network.link_from_lane[li]]] = True
            to = network.link_to_lane[li]
            if to in lanes:
                start_rsu[lanes[to]] = True
        self.cv_zones: list[tuple[str, int, float, float]] = []  # (det id, lane idx, pos, end)
        R = float(config.rsu_range_m)
        for u, ln in enumerate(self.lane_ids):
            e = ln.rsplit("_", 1)[0]
            try:
                length = float(network.edge_length_m[network.edge_index(e)])
            except KeyError:
                continue
            if end_rsu[u] and start_rsu[u] and 2 * R >= length:
                self.cv_zones.append((f"signals_cv_{u}", u, 0.0, length))
                continue
            if end_rsu[u]:
                self.cv_zones.append((f"signals_cv_{u}_in", u, max(0.0, length - R), length))
            if start_rsu[u]:
                self.cv_zones.append((f"signals_cv_{u}_out", u, 0.0, min(R, length)))
        self.cv_lane = np.array([z[1] for z in self.cv_zones], dtype=np.int64)
        # zones that reach a lane's stop line (arrival predictions, "cv_eta")
        self._eta_zones = [(z[0], z[1], z[3]) for z in self.cv_zones if not z[0].endswith("_out")]
        # loop detectors ("detectors"): an advance E1 loop and a stop-bar E2 presence zone on
        # every lane that feeds a movement; movement m reads the lanes up[m] (CSR, every
        # movement has one)
        up_csr = self.up.tocsr()
        up_csr.sort_indices()
        self.det_lane = np.unique(cols)
        slot = np.full(U, -1, dtype=np.int64)
        slot[self.det_lane] = np.arange(len(self.det_lane))
        self._mov_det = slot[up_csr.indices]
        self._mov_det_ptr = up_csr.indptr
        self.det_loops: list[tuple[str, str, float]] = []  # advance E1: (id, lane, pos)
        self.det_zones: list[tuple[str, str, float, float]] = []  # stop bar E2: + end
        adv_s = float(config.detector_advance_s)
        upstream = _UpstreamLanes(network.path)
        for u in self.det_lane.tolist():
            ln = self.lane_ids[u]
            e = network.edge_index(ln.rsplit("_", 1)[0])
            length = float(network.edge_length_m[e])
            d = adv_s * float(network.edge_speed_mps[e])
            self.det_loops.append((f"signals_det_{u}_adv", *upstream.place(ln, length - d)))
            zone = (max(length - config.stop_bar_zone_m, 0.0), length)
            self.det_zones.append((f"signals_det_{u}_stop", ln, *zone))
        covered = np.zeros(U)
        covered[self.cv_lane] = 1.0
        self.cv_observed = (self.up @ covered) > 0
        self._perm: dict[str, np.ndarray] = {}
        self.read = "direct"
        z = np.zeros(M)
        self._zeros = z

    # ------------------------------------------------------------------ setup
    def detector_xml(self) -> str:
        """Additional file with the loop detectors (``"detectors"``) and the connected-vehicle
        E2 detectors (SUMO docs, "Lanearea
        Detectors (E2)": ``vTypes`` restricts a detector to those vehicle types; ``speedThreshold``
        0.1 m/s makes its halting count use the lane halting definition)."""
        from xml.sax.saxutils import quoteattr

        types = " ".join(self.cv_types)
        out = ["<additional>"]
        if "detectors" in self.needs:  # SUMO docs, "Induction Loops Detectors (E1)"
            for det, ln, pos in self.det_loops:
                out.append(
                    f"    <inductionLoop id={quoteattr(det)} lane={quoteattr(ln)} "
                    f'pos="{pos:.2f}" friendlyPos="true" period="86400" file="NUL"/>'
                )
            for det, ln, a, b in self.det_zones:  # SUMO docs, "Lanearea Detectors (E2)"
                out.append(
                    f"    <laneAreaDetector id={quoteattr(det)} lane={quoteattr(ln)} "
                    f'pos="{a:.2f}" endPos="{b:.2f}" friendlyPos="true" period="86400" '
                    'file="NUL"/>'
                )
        if not self.needs & CV_NEEDS:
            out.append("</additional>")
            return "\n".join(out) + "\n"
        for det, u, a, b in self.cv_zones:
            out.append(
                f"    <laneAreaDetector id={quoteattr(det)} lane={quoteattr(self.lane_ids[u])} "
                f'pos="{a:.2f}" endPos="{b:.2f}" vTypes={quoteattr(types)} '
                f'speedThreshold="0.1" friendlyPos="true" period="86400" file="NUL"/>'
            )
        out.append("</additional>")
        return "\n".join(out) + "\n"

    def subscribe(self, ls, read: str = "direct") -> None:
        """Set up reading: ``"subscription"`` subscribes every lane / detector once; ``"direct"``
        (default) calls the getters at each decision instead (see :meth:`observe`)."""
        self.read = read
        if read != "subscription":
            return
        for group, domain, ids in self._groups(ls):
            for i in ids:
                domain.subscribe(i, self._vars(group))

    def _groups(self, ls) -> list[tuple[str, object, tuple[str, ...]]]:
        out = []
        if self.needs & {"queues", "counts"}:
            out.append(("lane", ls.lane, self.lane_ids))
        if self.needs & {"cv", "cv_counts"} and self.cv_zones:
            out.append(("cv", ls.lanearea, tuple(z[0] for z in self.cv_zones)))
        return out

    def _vars(self, group: str) -> list[int]:
        halt, count = ("queues", "counts") if group == "lane" else ("cv", "cv_counts")
        return [v for v, need in ((_HALT, halt), (_COUNT, count)) if need in self.needs]

    def _values(self, group: str, domain, ids: tuple[str, ...]) -> dict[int, np.ndarray]:
        """{variable: (len(ids),) values} for one group of lanes or detectors.

        libsumo subscriptions return a dict per object, which costs more than calling the getter
        itself: measured on the 448-signal pilot zone (3,984 lanes, CPU time per decision)
        getAllSubscriptionResults + conversion 8.5 ms (halting only) / 13.2 ms (halting and
        count), direct getters 4.4 / 8.3 ms. Both are read once per decision, never per step.
        """
        n = len(ids)
        vars_ = self._vars(group)
        if self.read == "subscription":
            res = domain.getAllSubscriptionResults()
            perm = self._perm.get(group)
            if perm is None or len(res) != n:
                pos = {k: i for i, k in enumerate(res)}
                perm = self._perm[group] = np.array([pos[k] for k in ids], dtype=np.int64)
            vals = res.values()
            return {v: np.fromiter((d[v] for d in vals), dtype=float, count=n)[perm] for v in vars_}
        getters = {_HALT: domain.getLastStepHaltingNumber, _COUNT: domain.getLastStepVehicleNumber}
        return {v: np.fromiter(map(getters[v], ids), dtype=float, count=n) for v in vars_}

    def observe(self, ls) -> dict[str, np.ndarray]:
        """Movement arrays (only the groups the controller needs; zeros for the others)."""
        z = self._zeros
        out = dict.fromkeys(
            (
                "queue_veh",
                "approach_veh",
                "down_queue_veh",
                "cv_queue_veh",
                "cv_approach_veh",
                "cv_down_queue_veh",
                "down_approach_veh",
                "cv_down_approach_veh",
            ),
            z,
        )
        U = len(self.lane_ids)
        for group, domain, ids in self._groups(ls):
            vals = self._values(group, domain, ids)
            pre = "" if group == "lane" else "cv_"
            if group == "cv":  # detectors -> lanes
                vals = {
                    v: np.bincount(self.cv_lane, weights=x, minlength=U) for v, x in vals.items()
                }
            if _HALT in vals:
                h = vals[_HALT]
                q = self.up @ h
                out[pre + "queue_veh"] = q
                out[pre + "down_queue_veh"] = self.down @ q + self.exit @ h
            if _COUNT in vals:
                c = vals[_COUNT]
                n = self.up @ c
                out[pre + "approach_veh"] = n
                out[pre + "down_approach_veh"] = self.down @ n + self.exit @ c
        if "detectors" in self.needs:
            out |= self._detectors(ls)
        if "cv_eta" in self.needs:
            out["cv_eta_s"] = self._cv_eta(ls)
        return out

    def _per_movement(self, lane_values: np.ndarray, ufunc) -> np.ndarray:
        """(M,) ``ufunc`` (np.minimum / np.maximum) over each movement's lanes."""
        return ufunc.reduceat(lane_values[self._mov_det], self._mov_det_ptr[:-1])

    def _detectors(self, ls) -> dict[str, np.ndarray]:
        """det_gap_s from the advance E1 loops and det_occupied from the stop-bar E2 zones
        (direct getters, one of each per lane)."""
        n = len(self.det_loops)
        adv = np.fromiter(
            map(ls.inductionloop.getTimeSinceDetection, (d[0] for d in self.det_loops)),
            dtype=float,
            count=n,
        )
        stop = np.fromiter(
            map(ls.lanearea.getLastStepVehicleNumber, (d[0] for d in self.det_zones)),
            dtype=float,
            count=n,
        )
        return {
            "det_gap_s": self._per_movement(adv, np.minimum),
            "det_occupied": self._per_movement((stop > 0.0).astype(float), np.maximum) > 0,
        }

    def _cv_eta(self, ls) -> np.ndarray:
        """(M,) seconds until the nearest moving connected vehicle in RSU range on the
        movement's lanes reaches the stop line (distance over speed; +inf if none)."""
        U = len(self.lane_ids)
        eta = np.full(U, np.inf)
        ids_of = ls.lanearea.getLastStepVehicleIDs
        pos_of, speed_of = ls.vehicle.getLanePosition, ls.vehicle.getSpeed
        for det, u, end in self._eta_zones:
            for v in ids_of(det):
                sp_ = speed_of(v)
                if sp_ >= 1.0:  # moving; halted CVs are queues, not arrivals
                    eta[u] = min(eta[u], max(end - pos_of(v), 0.0) / sp_)
        if not len(self.det_lane):
            return np.full(self.network.n_movements, np.inf)
        return self._per_movement(eta[self.det_lane], np.minimum)


# ============================================================================= the loop
@dataclass
class LoopStats:
    """What the loop did.

    Attributes:
        decisions: decision instants.
        switches: stage changes applied; forced: of which by max green.
        held: requests for another stage refused (min green not reached or changing).
        invalid: requests for a stage that does not exist (ignored).
        set_calls: libsumo calls that changed a signal (setPhase / setRedYellowGreenState).
        gate_checks: per-step gate evaluations (state mode and audit).
        control_wall_s: Python time outside SUMO (observe, act, apply).
        audit_steps, audit_mismatch: audited seconds and states differing from the bookkeeping.
        violations: gate failures seen in audit (never expected).
        state_log: (T, L) uint8 states SUMO showed each audited second (``log_states``).
    """

    decisions: int = 0
    switches: int = 0
    forced: int = 0
    held: int = 0
    invalid: int = 0
    set_calls: int = 0
    gate_checks: int = 0
    control_wall_s: float = 0.0
    audit_steps: int = 0
    audit_mismatch: int = 0
    violations: list[str] = field(default_factory=list)
    state_log: np.ndarray | None = None

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "state_log"}
        d["violations"] = list(self.violations[:20])
        return d


class ClosedLoop:
    """Bookkeeping and decisions of the loop for a running :class:`SumoSimulation`.

    Arrays over signals: ``stage`` (local index shown or being changed to), ``green_start_s``
    (when that stage's green began / begins), ``row`` and ``row_end_s`` (the program row each
    signal shows, emulated every second where needed).
    """

    def __init__(
        self,
        network: Network,
        program: StageProgram,
        controller: Controller,
        config: LoopConfig,
        observer: MovementObserver | None,
        begin_s: float,
        spat=None,
        log_states: bool = False,
    ):
        self.network = network
        self.program = program
        self.stages = program.stages
        self.controller = controller
        self.config = config
        self.observer = observer
        self.spat = spat
        self.log_states = log_states
        S = network.n_signals
        self.stage = np.zeros(S, dtype=np.int64)
        self.green_start_s = np.full(S, float(begin_s))
        self.row = program.green_row[self.stages.pad[:, 0]].copy()
        self.row_end_s = np.full(S, math.inf)
        self.row_start_s = np.full(S, float(begin_s))
        self.begin_s = float(begin_s)
        self.stats = LoopStats()
        self._rows_idx = np.arange(S)
        self._sent_row = self.row.copy()
        self._sent_codes = program.flat_codes(network, self.row)
        self._log: list[np.ndarray] = []
        self._prev_obs_codes: np.ndarray | None = None
        self._link_change_s = np.full(network.n_links, float(begin_s))
        self._last_codes = self._sent_codes.copy()
        self.effective_codes = self._sent_codes.copy()
        self._min_g = self.stages.min_green_s
        self._max_g = self.stages.max_green_s

    # ------------------------------------------------------------------ bookkeeping
    def advance_rows(self, t: float) -> None:
        """Emulate SUMO's program: move every signal whose change row has ended at ``t``."""
        prog = self.program
        for _ in range(16):
            exp = self.row_end_s <= t + 1e-9
            if not exp.any():
                break
            idx = np.flatnonzero(exp)
            new = prog.row_next[self.row[idx]]
            self.row_start_s[idx] = self.row_end_s[idx]
            self.row[idx] = new
            d = prog.row_dur_s[new]
            self.row_end_s[idx] = np.where(prog.row_green[new], math.inf, self.row_end_s[idx] + d)

    def observation(self, t: float, ls) -> Observation:
        arrays = self.observer.observe(ls) if self.observer is not None else {}
        z = np.zeros(self.network.n_movements)
        tis = t - self.green_start_s
        return Observation(
            time_s=t,
            queue_veh=arrays.get("queue_veh", z),
            approach_veh=arrays.get("approach_veh", z),
            down_queue_veh=arrays.get("down_queue_veh", z),
            cv_queue_veh=arrays.get("cv_queue_veh", z),
            cv_approach_veh=arrays.get("cv_approach_veh", z),
            cv_down_queue_veh=arrays.get("cv_down_queue_veh", z),
            cv_observed=self.observer.cv_observed
            if self.observer is not None
            else np.zeros(len(z), bool),
            stage=self.stage.copy(),
            time_in_stage_s=tis,
            in_change=tis < 0,
            down_approach_veh=arrays.get("down_approach_veh", z),
            cv_down_approach_veh=arrays.get("cv_down_approach_veh", z),
            det_gap_s=arrays.get("det_gap_s"),
            det_occupied=arrays.get("det_occupied"),
            cv_eta_s=arrays.get("cv_eta_s"),
        )

    def decide(self, t: float, desired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signals to switch now and their target stages, after the loop's rules."""
        st = self.stages
        n = st.n_stages
        desired = np.asarray(desired)
        if desired.shape != self.stage.shape:
            raise ValueError(
                f"controller returned shape {desired.shape}, expected {self.stage.shape}"
            )
        desired = np.where(np.isfinite(desired.astype(float)), desired, -1).astype(np.int64)
        k = st.pad[self._rows_idx, self.stage]
        tis = t - self.green_start_s
        in_change = tis < -1e-9
        valid = (desired >= 0) & (desired < n)
        want = valid & (desired != self.stage)
        eligible = ~in_change & (tis + 1e-9 >= self._min_g[k])
        forced = ~in_change & (tis + 1e-9 >= self._max_g[k]) & (n > 1)
        target = np.where(want, desired, (self.stage + 1) % n)
        switch = eligible & (want | forced) & (target != self.stage)
        self.stats.invalid += int((~valid).sum())
        self.stats.held += int((want & ~eligible).sum())
        self.stats.forced += int((switch & ~want).sum())
        return np.flatnonzero(switch), target

    def apply(self, t: float, idx: np.ndarray, target: np.ndarray, ls=None) -> None:
        """Start the change interval of every switching signal (bookkeeping + program mode call;
        ``ls=None``: bookkeeping only, for a backend that reads the rows itself)."""
        if not len(idx):
            return
        prog = self.program
        i, j = self.stage[idx], target[idx]
        rows = prog.trans_row[idx, i, j]
        self.green_start_s[idx] = t + prog.trans_s[idx, i, j]
        self.stage[idx] = j
        self.row[idx] = rows
        self.row_start_s[idx] = t
        self.row_end_s[idx] = np.where(prog.row_green[rows], math.inf, t + prog.row_dur_s[rows])
        self.stats.switches += len(idx)
        if self.config.mode == "program" and ls is not None:
            sids = self.network.signal_ids
            base = prog.prog_start[idx]
            for s, r in zip(idx.tolist(), (rows - base).tolist(), strict=True):
                ls.trafficlight.setPhase(sids[s], r)
            self.stats.set_calls += len(idx)

    def send_states(self, ls) -> None:
        """State mode: gate the emulated states and send the changed ones."""
        changed = np.flatnonzero(self.row != self._sent_row)
        if not len(changed):
            return
        codes = self.program.flat_codes(self.network, self.row)
        self.stats.gate_checks += 1
        bad = conflicting_green(self.network, codes) | illegal_transitions(
            self.network, self._sent_codes, codes
        )
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise SafetyViolation(
                f"signal {self.network.signal_ids[s]}: refused state {self.program.row_state[self.row[s]]!r}"
            )
        sids, states = self.network.signal_ids, self.program.row_state
        for s in changed.tolist():
            ls.trafficlight.setRedYellowGreenState(sids[s], states[self.row[s]])
        self.stats.set_calls += len(changed)
        self._sent_row = self.row.copy()
        self._sent_codes = codes

    def audit(self, t: float, ls) -> None:
        """Check the states SUMO shows at ``t`` with the gate and against the bookkeeping.

        SUMO switches a phase at the beginning of the step that starts at its end time, so the
        state read between steps at ``t`` is the one vehicles used from t-1 to t: it is compared
        with the loop's state after its actions at t-1 (``effective_codes``).
        """
        res = ls.trafficlight.getAllSubscriptionResults()
        shown = "".join(res[s][_TL_STATE] for s in self.network.signal_ids)
        codes = np.frombuffer(shown.encode(), dtype=np.uint8)
        if len(codes) != self.network.n_links:
            self.stats.violations.append(
                f"t={t:g}: state length {len(codes)} != {self.network.n_links} links"
            )
            return
        self.stats.audit_steps += 1
        self.stats.gate_checks += 1
        expect = self.effective_codes
        self.stats.audit_mismatch += int((codes != expect).any())
        bad = conflicting_green(self.network, codes)
        if self._prev_obs_codes is not None:
            bad |= illegal_transitions(self.network, self._prev_obs_codes, codes)
        for s in np.flatnonzero(bad)[:5]:
            self.stats.violations.append(f"t={t:g} signal {self.network.signal_ids[s]}")
        self._prev_obs_codes = codes
        if self.log_states:
            self._log.append(codes.copy())

    def finish_log(self) -> None:
        if self.log_states and self._log:
            self.stats.state_log = np.vstack(self._log)

    # ------------------------------------------------------------------ SPaT timing
    def link_timing(self, t: float):
        """Per-link SPaT timing from the bookkeeping (bounds for online control)."""
        from signals.v2x import LinkTiming

        net, prog, st = self.network, self.program, self.stages
        codes = prog.flat_codes(net, self.row)
        changed = codes != self._last_codes
        self._link_change_s[changed] = t
        self._last_codes = codes
        ls_sig = net.link_signal
        li = net.link_index
        row = self.row[ls_sig]
        run_end = prog.run_end_s[row, li] + self.row_start_s[ls_sig]
        dt = self.config.delta_t_s

        def next_decision(x: np.ndarray) -> np.ndarray:
            return self.begin_s + np.ceil((x - self.begin_s) / dt - 1e-9) * dt

        k = st.pad[self._rows_idx, self.stage]
        gs = self.green_start_s
        t_min = next_decision(np.maximum(gs + self._min_g[k], t))  # earliest possible change
        t_max = next_decision(np.maximum(gs + self._max_g[k], t))  # latest (forced) change
        # links green in the current stage and in no other stage of their signal must end by t_max
        green_now = _is_green(codes)
        stage_codes = prog.row_codes[prog.green_row]  # (K, Lmax)
        g_all = _is_green(stage_codes)
        n_green_stages = np.zeros(net.n_links, dtype=np.int64)
        for q in range(st.k_max):
            kk = st.pad[ls_sig, q]
            n_green_stages += (kk >= 0) & g_all[np.maximum(kk, 0), li]
        exact = np.isfinite(run_end)
        k_link = k[ls_sig]
        min_end = np.where(
            exact,
            run_end,
            np.where(green_now, t_min[ls_sig], t_min[ls_sig] + prog.green_after_s[k_link, li]),
        )
        multi = (st.n_stages > 1)[ls_sig]
        bounded = green_now & (n_green_stages <= 1) & multi
        max_end = np.where(exact, run_end, np.where(bounded, t_max[ls_sig], np.nan))
        likely = np.where(exact, run_end, np.nan)
        nxt = np.where(exact, prog.run_next[row, li], np.where(green_now, ord("y"), ord("G")))
        return LinkTiming(
            time_s=t,
            state=codes,
            start_s=self._link_change_s.copy(),
            min_end_s=min_end,
            max_end_s=max_end,
            likely_end_s=likely,
            next_state=nxt.astype(np.uint8),
            fixed=False,
        )


def static_program_timing(ls, network: Network):
    """A timing source for static (fixed-time) programs running in SUMO: reads each signal's
    active program once, then per second its phase index and next switch (subscriptions)."""
    from signals.v2x import CyclicTiming

    programs = []
    for sid in network.signal_ids:
        prog_id = ls.trafficlight.getProgram(sid)
        logic = next(
            lg for lg in ls.trafficlight.getAllProgramLogics(sid) if lg.programID == prog_id
        )
        programs.append([(p.state, float(p.duration)) for p in logic.phases])
        ls.trafficlight.subscribe(sid, [_TL_STATE, _TL_PHASE, _TL_NEXT_SWITCH])
    timing = CyclicTiming(network, programs, offsets_s=None)

    def at(t: float):
        res = ls.trafficlight.getAllSubscriptionResults()
        phase = np.array([res[s][_TL_PHASE] for s in network.signal_ids], dtype=np.int64)
        nsw = np.array([res[s][_TL_NEXT_SWITCH] for s in network.signal_ids], dtype=float)
        # SUMO switches at the beginning of the step starting at nextSwitch: a phase whose
        # switch time is now is already over for the step t -> t+1 the SPaT describes.
        over = nsw <= t + 1e-9
        n_ph = np.diff(timing.phase_start)
        phase = np.where(over, (phase + 1) % n_ph, phase)
        nsw = np.where(over, nsw + timing.dur[timing.phase_start[:-1] + phase], nsw)
        return timing.at_phase(t, phase, nsw)

    return at


@dataclass
class OnlineResult:
    """Outcome of :func:`evaluate_online`: the static-run result plus the loop's figures.

    Attributes:
        result: :class:`signals.evaluate.sumo_run.SumoResult` (metrics with the connected/other
            split, summary, paths, wall times).
        loop: :class:`LoopStats`.
        wall_s: wall time of the whole call.
    """

    result: object
    loop: LoopStats
    wall_s: float

    @property
    def summary(self) -> dict[str, float]:
        return self.result.summary

    @property
    def metrics(self):
        return self.result.metrics


def loop_stages(
    network: Network,
    plans: PlanSet | None,
    config: LoopConfig = LoopConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
    with_program: bool = True,
) -> tuple[Stages, StageProgram | None]:
    """The stages the loop controls and, for loop controllers, their checked programs.

    Signals without a plan in ``plans`` take :func:`signals.control.stage_sets.stage_templates`
    (``config.stages``). A signal whose template is the net's own program and whose change
    chains fail the gate (a stage order that only works in the program's own sequence) is given
    its conflict-matrix stages instead; any other failure refuses the run.

    Raises:
        UnsafePlanError: a given plan's stages (or a conflict-matrix stage set) fail the gate.
    """
    templates = None
    if plans is None or any(sid not in plans.plans for sid in network.signal_ids):
        templates = stage_templates(network, config.stages, safety)
    for attempt in range(2):
        stages = Stages.from_plans(network, plans, templates.plans if templates else None)
        if not with_program:
            return stages, None
        K = len(stages.stage_state)
        mn = stages.min_green_s if config.min_green_s is None else np.full(K, config.min_green_s)
        mn = np.maximum(mn, safety.min_green_s)
        mx = stages.max_green_s if config.max_green_s is None else np.full(K, config.max_green_s)
        stages = replace(stages, min_green_s=mn, max_green_s=np.maximum(mx, mn))
        try:
            return stages, StageProgram.build(network, stages, safety, config.allred_s)
        except UnsafePlanError as exc:
            bad = {v.signal_id for v in exc.violations}
            own = {
                sid
                for sid in bad
                if templates is not None
                and templates.source.get(sid) == "own"
                and (plans is None or sid not in plans.plans)
            }
            if attempt or own != bad:
                raise
            fixed = dict(templates.plans.plans)
            for sid in own:
                fixed[sid] = conflict_plan(network, network.signal_index(sid), safety)
            templates = replace(
                templates,
                plans=PlanSet(fixed),
                source={**templates.source, **{sid: "conflict" for sid in own}},
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _planset_xml(plans: PlanSet) -> str:
    from signals.export import sumo_additional_text
    from signals.plans import Schedule

    return sumo_additional_text(Schedule.single(plans, name=PROGRAM_ID + "_fixed"))


def evaluate_online(
    net: PathLike,
    routes: PathLike | Sequence[PathLike],
    controller: Controller | None,
    *,
    plans: PlanSet | None = None,
    additional: PathLike | Sequence[PathLike] = (),
    config: LoopConfig = LoopConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
    begin_s: float = 0.0,
    end_s: float = 3600.0,
    seed: int = 0,
    out_dir: PathLike | None = None,
    scenario: str = "",
    run_id: str | None = None,
    network: Network | None = None,
    turning_ratio: np.ndarray | None = None,
    queue_sample_s: float = 0.0,
    extra_options: Sequence[str] = (),
    time_to_teleport_s: float = 300.0,
    spat=None,
    log_states: bool = False,
    rng: np.random.Generator | None = None,
) -> OnlineResult:
    """Run SUMO with an online controller in the closed loop (or fixed-time with ``None``).

    Args:
        net, routes: the scenario (routes with ``cv``/``hv`` vehicle types for the CV split).
        controller: an online controller; ``None`` runs the plans (or the net's own programs)
            fixed-time, with the loop only observing (for SPaT streams of fixed-time runs).
        plans: stages to control (default: the net's own programs folded into stages).
        additional: further SUMO additional files (vehicle types, bus stops, detectors), loaded
            first in the order given; their tlLogics pass the safety gate as written.
        config: loop settings; safety: the gate's clearances.
        begin_s, end_s, seed: SUMO window and seed.
        out_dir: results.parquet, summary.csv, run.json and SUMO's outputs go here (None: keep
            nothing).
        turning_ratio: (M,) Varaiya's r for the downstream term; default from the routes
            (``demand.turning_ratios``).
        queue_sample_s: the static run's queue/state sampling (0: off, the fastest loop).
        spat: a :class:`signals.v2x.SpatWriter` to stream SPaT into (forces 1 s steps).
        log_states: keep the (T, L) states SUMO showed (audit mode) in ``loop.state_log``.
        rng: passed to ``controller.reset``.

    Raises:
        InputError: bad inputs; UnsafePlanError: stages that fail the gate.
    """
    from signals.evaluate import sumo_run as SR

    t_all = time.perf_counter()
    config.check()
    spec0 = SR.RunSpec.make(
        net, routes, additional=additional, begin_s=begin_s, end_s=end_s, seed=seed
    )
    network = network if network is not None else Network.from_sumo(spec0.net)
    for p in spec0.additional:  # every tlLogic SUMO will load passes the gate, by every path
        if SR.has_tllogic(p):
            check_file(p, network, clearance=safety)
    # nothing unsafe reaches a signal: the plans (or the net's own programs) the stages come
    # from, as existing programs; the loop's own programs are checked in full when built
    if plans is not None:
        assert_safe(plans, network, clearance=safety, existing=True)
    else:
        check_network_programs(network, clearance=safety)
    if spat is not None and controller is not None and controller.builtin:
        raise InputError(
            None, "spat", "a fixed-time or loop-controlled run", f"SUMO-built-in {controller.name}"
        )
    loop_program = controller is not None and (
        not controller.builtin or getattr(controller, "uses_loop_program", False)
    )
    stages, program = loop_stages(network, plans, config, safety, loop_program)
    name = "fixed_time" if controller is None else controller.name
    out = Path(out_dir) if out_dir is not None else None
    with SR._workdir(out) as work:
        adds: list[str] = []
        observer = None
        if controller is not None and controller.builtin:
            p = work / "actuated.add.xml"
            p.write_text(controller.additional_xml(network, stages, program=program))
            # SUMO's actuated programs, as written; with the loop's clearances they are the
            # project's own programs, held to the guideline too
            check_file(p, network, clearance=safety, existing=not loop_program)
            adds.append(str(p))
        elif controller is None and plans is not None:
            p = work / "fixed.add.xml"
            p.write_text(_planset_xml(plans))
            adds.append(str(p))
        if controller is not None and not controller.builtin:
            if turning_ratio is None and controller.needs:
                from signals.demand import turning_ratios

                try:  # Varaiya's r(m, p) from the routes; lane shares if they cannot be read
                    turning_ratio = turning_ratios(network, spec0.routes)
                except InputError:
                    turning_ratio = None
            wants_cv = bool(controller.needs & CV_NEEDS)
            cv_types = connected_type_ids(spec0.routes) if wants_cv else []
            observer = MovementObserver(network, config, turning_ratio, cv_types, controller.needs)
            if wants_cv and not cv_types:
                raise InputError(
                    ",".join(map(str, spec0.routes)),
                    "vType",
                    "connected vehicle types (ids starting 'cv')",
                    "none",
                )
            if controller.needs & (CV_NEEDS | {"detectors"}):
                p = work / "loop_detectors.add.xml"
                p.write_text(observer.detector_xml())
                adds.append(str(p))
        extra = list(extra_options)
        if adds:
            extra += ["--additional-files", ",".join(adds)]
        spec = SR.RunSpec.make(
            net,
            routes,
            additional=spec0.additional,
            begin_s=begin_s,
            end_s=end_s,
            seed=seed,
            time_to_teleport_s=time_to_teleport_s,
            queue_sample_s=queue_sample_s,
            extra_options=extra,
        )
        files = SR.OutputFiles.in_dir(work)
        sim = SR.SumoSimulation(spec, network, files)
        with sim:
            loop_stats = _drive(
                sim, network, controller, program, config, observer, spat, log_states, rng
            )
            sim.finish()
        if spat is not None:
            spat.close()
        rid = run_id or SR.default_run_id(spec, scenario, name)
        df, stats = sim.results(run_id=rid, scenario=scenario, controller=name)
        summary = SR._network_summary(df)
        paths: dict[str, Path] = {}
        wall_s = time.perf_counter() - t_all
        if out is not None:
            raw = out / "sumo"
            if raw.exists():
                shutil.rmtree(raw)
            os.replace(work, raw)
            raw.chmod(0o755)
            paths["tripinfo"] = raw / files.tripinfo.name
            from signals.evaluate import metrics as M

            info = {
                "run_id": rid,
                "scenario": scenario,
                "controller": name,
                "spec": spec.as_dict(),
                "loop_config": config.__dict__,
                "loop": loop_stats.as_dict(),
                "wall_s": round(wall_s, 3),
                "sim_wall_s": round(sim.sim_wall_s, 3),
                "sumo_statistics": stats,
            }
            paths |= M.save_results(df, out, info)
    res = SR.SumoResult(
        run_id=rid,
        metrics=df,
        summary=summary,
        paths=paths,
        sumo_statistics=stats,
        wall_s=time.perf_counter() - t_all,
        sim_wall_s=sim.sim_wall_s,
        n_samples=sim.n_samples,
    )
    return OnlineResult(result=res, loop=loop_stats, wall_s=time.perf_counter() - t_all)


def _drive(sim, network, controller, program, config, observer, spat, log_states, rng) -> LoopStats:
    """The loop itself (inside a started SumoSimulation)."""
    ls = sim.ls
    begin, end = sim.spec.begin_s, sim.spec.end_s
    if controller is None or controller.builtin:
        # fixed-time / SUMO-actuated: nothing to decide; stream SPaT if asked
        stats = LoopStats()
        if spat is None:
            sim.advance(end)
            return stats
        timing = static_program_timing(ls, network)
        t = begin
        spat.add(timing(t))
        while t < end - 1e-9:
            t = sim.advance(t + 1.0)
            spat.add(timing(t))
        return stats
    controller.reset(network, program.stages, rng)
    loop = ClosedLoop(network, program, controller, config, observer, begin, spat, log_states)
    if config.mode == "program":
        program.install(ls, network, loop.stage)
    else:
        sids = network.signal_ids
        for s in range(network.n_signals):
            ls.trafficlight.setRedYellowGreenState(sids[s], program.row_state[loop.row[s]])
    if observer is not None:
        observer.subscribe(ls, config.read)
    fine = config.mode == "state" or config.audit or spat is not None
    if config.audit:
        for sid in network.signal_ids:
            ls.trafficlight.subscribe(sid, [_TL_STATE])
    dt = float(config.delta_t_s)
    t = begin
    next_decision = begin
    ctl_s = 0.0
    while True:
        c0 = time.perf_counter()
        if fine:
            if config.audit and t > begin:
                loop.audit(t, ls)  # what SUMO used from t-1 to t
            loop.advance_rows(t)
        if t >= next_decision - 1e-9 and t < end - 1e-9:
            obs = loop.observation(t, ls)
            desired = controller.act(obs)
            idx, target = loop.decide(t, desired)
            loop.apply(t, idx, target, ls)
            loop.stats.decisions += 1
            next_decision += dt
        if config.mode == "state":
            loop.send_states(ls)
        if spat is not None:
            spat.add(loop.link_timing(t))
        if config.audit:
            loop.effective_codes = program.flat_codes(network, loop.row)
        ctl_s += time.perf_counter() - c0
        if t >= end - 1e-9:
            break
        t = sim.advance(min(t + 1.0, end) if fine else min(next_decision, end))
    loop.finish_log()
    loop.stats.control_wall_s = ctl_s
    return loop.stats
