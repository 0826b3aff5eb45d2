"""Signal plans (stage-based fixed-time programs): the plan model and reading/writing plan files.

The safety gate that every plan passes before it leaves the project is :mod:`signals.safety`.

Vocabulary:

* A **stage** (called a ``Phase`` here, as in timing sheets) is one green interval of a signal
  followed by its change interval: ``green_s`` (optionally ending with a pedestrian clearance
  sub-interval ``clear_s`` in ``clear_state``), then ``yellow_s``, then ``allred_s``.
  The yellow and all-red *states* are derived, not stored: a link green at the end of stage k and
  not green in stage k+1 shows 'y' during the yellow and 'r' during the all-red; a link green in
  both keeps its character through the change interval if it keeps its right of way
  (SUMO/netconvert convention, e.g. ``GGGgg -> yyygg -> rrrGG``); a link dropping from ``G`` to
  ``g`` shows yellow, then red (:func:`signals.states.keeps_through_change`).
* A ``SignalPlan`` is the ordered stages of one signal with its cycle and offset. The offset is the
  time (mod cycle) at which stage 1 green starts, counted from simulation time 0 -- the same
  meaning as SUMO's ``tlLogic offset`` ("a positive offset delays all phases"; SUMO
  NLJunctionControlBuilder::closeTrafficLightLogic).
* A ``PlanSet`` holds one plan per signal; a ``Schedule`` holds a PlanSet per time-of-day period.

Core module: no traci/libsumo import (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from signals.errors import InputError, require_file
from signals.safety.config import DEFAULT_MAX_GREEN_S, DEFAULT_MIN_GREEN_S
from signals.states import (
    GREEN_CHARS,
    MINOR_CHARS,
    RED_CHARS,
    VALID_STATE_CHARS,
    YELLOW_CHARS,
    keeps_through_change,
)

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

PLAN_FORMAT_VERSION = 1
OFFSET_REFERENCE = (
    "start of phase 1 green (SUMO tlLogic offset: phase 1 starts at offset + k*cycle)"
)
_TOL_S = 1e-3
DAY_S = 86400.0


# ============================================================================ plan model
@dataclass(frozen=True)
class Phase:
    """One stage: a green interval and the change interval that follows it.

    Attributes:
        state: SUMO state string during green (one character per link of the signal).
        green_s: green duration, including ``clear_s``.
        yellow_s: yellow change interval after the green.
        allred_s: red clearance interval after the yellow.
        min_green_s, max_green_s: bounds on ``green_s``.
        clear_state: optional state for the last ``clear_s`` seconds of green (pedestrian
            clearance: crossings already red while vehicles keep green, as netconvert builds it).
        clear_s: length of that sub-interval (0: none).
        yellow_state, allred_state: explicit states of the change interval; '' (the default)
            derives them from this stage and the next (see the module docstring). Read from SUMO
            programs only where they differ from the derived ones.
        tail: the SUMO phases after the first green phase exactly as a program holds them
            (state, duration_s), where its change does not fit one clearance, one yellow and
            one all-red state (a second yellow, links clearing one after another, several red
            states); () otherwise. With a tail the stage shows ``state`` for
            ``green_s - clear_s`` and then the tail, and ``clear_s``/``yellow_s``/``allred_s``
            summarise it (its green-only, yellow and remaining phases).
    """

    state: str
    green_s: float
    yellow_s: float
    allred_s: float
    min_green_s: float
    max_green_s: float
    clear_state: str = ""
    clear_s: float = 0.0
    yellow_state: str = ""
    allred_state: str = ""
    tail: tuple[tuple[str, float], ...] = ()

    @property
    def total_s(self) -> float:
        return self.green_s + self.yellow_s + self.allred_s

    @property
    def end_state(self) -> str:
        """State at the end of the green interval (after a pedestrian clearance, if any)."""
        return self.clear_state if self.clear_s > 0 and self.clear_state else self.state

    def to_dict(self) -> dict:
        d = {
            "state": self.state,
            "green_s": self.green_s,
            "yellow_s": self.yellow_s,
            "allred_s": self.allred_s,
            "min_green_s": self.min_green_s,
            "max_green_s": self.max_green_s,
        }
        if self.clear_s > 0:
            d["clear_state"] = self.clear_state
            d["clear_s"] = self.clear_s
        if self.yellow_state:
            d["yellow_state"] = self.yellow_state
        if self.allred_state:
            d["allred_state"] = self.allred_state
        if self.tail:
            d["tail"] = [[st, dur] for st, dur in self.tail]
        return d

    def intervals(self, next_state: str, single: bool = False) -> list[tuple[str, float, bool]]:
        """The SUMO phases this stage shows, (state, duration_s, part of the green); zero-length
        parts omitted. The one expansion of a stage (SUMO export, the gate, the queue model)."""
        if self.tail:
            parts = [(self.state, self.green_s - self.clear_s, True)]
            parts += [(st, float(d), False) for st, d in self.tail]
            return [p for p in parts if p[1] > 0]
        if self.clear_s > 0 and self.clear_state:
            parts = [
                (self.state, self.green_s - self.clear_s, True),
                (self.clear_state, self.clear_s, True),
            ]
        else:
            parts = [(self.state, self.green_s, True)]
        ys, rs = self.change_states(next_state, single)
        parts += [(ys, self.yellow_s, False), (rs, self.allred_s, False)]
        return [(st, float(d), g) for st, d, g in parts if d > 0]

    def change_states(self, next_state: str, single: bool = False) -> tuple[str, str]:
        """(yellow state, all-red state) after this stage, given the next stage's green state."""
        ys, rs = _derive_change(self.end_state, next_state, single)
        return self.yellow_state or ys, self.allred_state or rs


def _is_green(c: str) -> bool:
    return c in GREEN_CHARS


def _derive_change(end_state: str, next_state: str, single: bool) -> tuple[str, str]:
    """Yellow and all-red states between a stage's end-of-green and the next stage's green."""
    ys, rs = [], []
    for c, d in zip(end_state, next_state, strict=False):
        # a link keeps its character only if it keeps its right of way (G -> g is a change)
        keep = keeps_through_change(c, d) and not single
        if keep:
            ys.append(c)
            rs.append(c)
        elif _is_green(c):
            ys.append("y")
            rs.append("r")
        else:
            ys.append("r" if c not in RED_CHARS else c)
            rs.append("r" if c not in RED_CHARS else c)
    return "".join(ys), "".join(rs)


def _expand(plan: SignalPlan) -> list[tuple[int, str, float]]:
    """(1-based stage number, state, duration_s) of every SUMO phase; zero-length parts omitted."""
    out = []
    n = len(plan.phases)
    for k, ph in enumerate(plan.phases, start=1):
        out += [(k, st, d) for st, d, _ in ph.intervals(plan.phases[k % n].state, n == 1)]
    return out


@dataclass(frozen=True)
class SignalPlan:
    """Fixed-time plan of one signal.

    Attributes:
        signal_id: SUMO tlLogic id.
        cycle_s: cycle length; equals the sum of the stages' green + yellow + all-red.
        offset_s: time in [0, cycle) at which stage 1 green starts (see module docstring).
        phases: ordered stages.
    """

    signal_id: str
    cycle_s: float
    offset_s: float
    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", tuple(self.phases))

    @property
    def n_stages(self) -> int:
        return len(self.phases)

    def sumo_phases(self) -> list[tuple[str, float]]:
        """Expand the stages into SUMO phases.

        Returns:
            list of (state, duration_s): per stage its green (and pedestrian clearance),
            yellow and all-red parts; zero-length parts are omitted.
        """
        return [(st, d) for _, st, d in _expand(self)]

    def stage_starts_s(self) -> np.ndarray:
        """(K,) start of each stage's green within the cycle."""
        tot = np.array([p.total_s for p in self.phases], dtype=float)
        return np.concatenate([[0.0], np.cumsum(tot)[:-1]])

    def retimed(
        self,
        green_s: Sequence[float],
        *,
        yellow_s: Sequence[float] | None = None,
        allred_s: Sequence[float] | None = None,
        offset_s: float | None = None,
    ) -> SignalPlan:
        """A copy with new stage greens (and optionally change intervals); the cycle follows."""
        phases = []
        for k, ph in enumerate(self.phases):
            g = float(green_s[k])
            y = float(yellow_s[k]) if yellow_s is not None else ph.yellow_s
            r = float(allred_s[k]) if allred_s is not None else ph.allred_s
            # a tail as written survives a new green only (the change interval is unchanged)
            tail = ph.tail if (y, r) == (ph.yellow_s, ph.allred_s) and g >= ph.clear_s else ()
            phases.append(
                replace(
                    ph, green_s=g, yellow_s=y, allred_s=r, clear_s=min(ph.clear_s, g), tail=tail
                )
            )
        cycle = float(sum(p.total_s for p in phases))
        off = self.offset_s if offset_s is None else float(offset_s)
        return SignalPlan(self.signal_id, cycle, off % cycle if cycle > 0 else 0.0, tuple(phases))

    def canonical(self) -> SignalPlan:
        """The same plan with explicit change states dropped where they equal the derived ones
        (the form reading a SUMO program gives)."""
        n = len(self.phases)
        out = []
        for k, ph in enumerate(self.phases):
            ys, rs = _derive_change(ph.end_state, self.phases[(k + 1) % n].state, n == 1)
            out.append(
                replace(
                    ph,
                    yellow_state=""
                    if ph.yellow_state == ys or ph.yellow_s <= 0
                    else ph.yellow_state,
                    allred_state=""
                    if ph.allred_state == rs or ph.allred_s <= 0
                    else ph.allred_state,
                    clear_state=ph.clear_state if ph.clear_s > 0 else "",
                )
            )
        return replace(self, phases=tuple(out))

    def to_dict(self) -> dict:
        return {
            "signal_id": self.signal_id,
            "cycle_s": self.cycle_s,
            "offset_s": self.offset_s,
            "phases": [p.to_dict() for p in self.phases],
        }

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_sumo_phases(
        cls, signal_id: str, phases: Sequence[tuple], offset_s: float = 0.0
    ) -> SignalPlan:
        """Fold a SUMO phase sequence into stages.

        A stage starts at a phase with green and no yellow that follows a green-less phase,
        brings new green links, or upgrades a link from 'g' to 'G'. Following phases with green
        and no yellow (before any yellow) are its pedestrian clearance; phases with yellow make
        its yellow; the rest (green-less, or green only for links continuing into the next stage)
        its all-red. The program is rotated so that stage 1 is first and the offset moved
        accordingly, so the timings in SUMO are unchanged.

        Args:
            phases: sequence of (state, duration_s[, min_s[, max_s]]).
        """
        seq = [
            (
                str(p[0]),
                float(p[1]),
                *(float(x) if x is not None else None for x in (*p[2:4], None, None)[:2]),
            )
            for p in phases
        ]
        n = len(seq)
        if n == 0:
            return cls(signal_id, 0.0, 0.0, ())
        states = [p[0] for p in seq]
        greens = [{i for i, c in enumerate(s) if _is_green(c)} for s in states]
        majors = [{i for i, c in enumerate(s) if c == "G"} for s in states]
        has_y = [any(c in YELLOW_CHARS for c in s) for s in states]

        def starts(i: int) -> bool:
            p = (i - 1) % n
            if not greens[i] or has_y[i]:
                return False
            if n == 1:
                return True
            if not greens[p]:
                return True
            return bool(greens[i] - greens[p]) or bool((majors[i] - majors[p]) & greens[p])

        start_idx = [i for i in range(n) if starts(i)]
        if not start_idx:
            green_any = [i for i in range(n) if greens[i] and not has_y[i]]
            start_idx = [green_any[0] if green_any else 0]
        cycle = sum(p[1] for p in seq)
        s0 = start_idx[0]
        pos0 = sum(p[1] for p in seq[:s0])
        stages: list[Phase] = []
        observed: list[tuple[str, str]] = []
        for a, st in enumerate(start_idx):
            end = start_idx[a + 1] if a + 1 < len(start_idx) else s0 + n
            group = [seq[i % n] for i in range(st, end)]
            state, g = group[0][0], group[0][1]
            mn, mx = group[0][2], group[0][3]
            clear_state, clear_s, y, r = "", 0.0, 0.0, 0.0
            y_state, r_state = "", ""
            for ph in group[1:]:
                s = ph[0]
                if any(c in YELLOW_CHARS for c in s):
                    y += ph[1]
                    y_state = y_state or s
                elif y == 0 and r == 0 and any(_is_green(c) for c in s):
                    clear_state, clear_s = s, clear_s + ph[1]
                    g += ph[1]
                else:  # all-red (or green folded into it when it is not a new stage)
                    r += ph[1]
                    r_state = r_state or s
            observed.append((y_state, r_state, tuple((p[0], p[1]) for p in group)))
            static = mn is None or mx is None or (mn == mx == group[0][1])
            min_g = DEFAULT_MIN_GREEN_S if static else float(mn)
            max_g = max(g, DEFAULT_MAX_GREEN_S) if static else max(float(mx), g)
            stages.append(Phase(state, g, y, r, min_g, max_g, clear_state, clear_s))
        # keep the observed change states only where they differ from the derived ones
        for a, ph in enumerate(stages):
            nxt = stages[(a + 1) % len(stages)].state
            ys, rs = ph.change_states(nxt, len(stages) == 1)
            y_obs, r_obs, raw = observed[a]
            ph = replace(
                ph,
                yellow_state=y_obs if ph.yellow_s > 0 and y_obs != ys else "",
                allred_state=r_obs if ph.allred_s > 0 and r_obs != rs else "",
            )
            shown = [(st, d) for st, d, _ in ph.intervals(nxt, len(stages) == 1)]
            if not _same_phases(shown, [(st, d) for st, d in raw if d > 0]):
                # the change does not fit one clearance, yellow and all-red: keep it as written
                ph = replace(ph, tail=tuple((st, float(d)) for st, d in raw[1:]))
            stages[a] = ph
        off = (float(offset_s) + pos0) % cycle if cycle > 0 else 0.0
        return cls(signal_id, float(cycle), off, tuple(stages))


def _same_phases(a: Sequence[tuple[str, float]], b: Sequence[tuple[str, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and abs(float(x[1]) - float(y[1])) <= _TOL_S for x, y in zip(a, b, strict=True)
    )


@dataclass(frozen=True)
class PlanArrays:
    """Batch form of a PlanSet over all signals of a network (what the queue model consumes).

    Shapes: S signals (network order), K = max stages, M movements (network order); every field
    gains a leading batch axis B after :func:`stack_arrays`. Times are seconds within the cycle,
    measured from the start of stage 1 green; signal s is at cycle position
    ``(t - offset_s[s]) mod cycle_s[s]`` at simulation time t.

    Attributes:
        cycle_s: (S,) cycle length.
        offset_s: (S,) offset (start of stage 1 green).
        n_stages: (S,) int number of stages.
        stage_end_s: (S, K) cumulative end of each stage including its yellow and all-red,
            padded with cycle_s.
        green_end_s: (S, K) end of the green part of each stage, padded with cycle_s.
        yellow_end_s: (S, K) end of the yellow part, padded with cycle_s.
        mov_green: (K, M) share of movement m's links green during the green of stage k of m's
            signal (0 for k >= n_stages of that signal).
        mov_yellow: (K, M) share of movement m's links yellow during the yellow of stage k.
        mov_green_change: (K, M) share of m's links that stay green through the change interval
            (yellow and all-red) of stage k because they are green in stage k+1 too.
    """

    cycle_s: np.ndarray
    offset_s: np.ndarray
    n_stages: np.ndarray
    stage_end_s: np.ndarray
    green_end_s: np.ndarray
    yellow_end_s: np.ndarray
    mov_green: np.ndarray
    mov_yellow: np.ndarray
    mov_green_change: np.ndarray


_STAGE_FIELDS_S = ("stage_end_s", "green_end_s", "yellow_end_s")
_STAGE_FIELDS_M = ("mov_green", "mov_yellow", "mov_green_change")


def stack_arrays(arrays: Sequence[PlanArrays]) -> PlanArrays:
    """Stack PlanArrays of the same network along a new leading batch axis B.

    Stage axes are padded to the largest K (times with each plan's cycle_s, shares with 0).

    Returns:
        PlanArrays with cycle_s (B, S), stage_end_s (B, S, K), mov_green (B, K, M), ...
    """
    if not arrays:
        raise ValueError("stack_arrays needs at least one PlanArrays")
    K = max(a.stage_end_s.shape[-1] for a in arrays)
    out: dict[str, list] = {f.name: [] for f in fields(PlanArrays)}
    for a in arrays:
        for name in ("cycle_s", "offset_s", "n_stages"):
            out[name].append(getattr(a, name))
        for name in _STAGE_FIELDS_S:
            v = getattr(a, name)
            pad = np.repeat(a.cycle_s[:, None], K - v.shape[-1], axis=1)
            out[name].append(np.concatenate([v, pad], axis=1))
        for name in _STAGE_FIELDS_M:
            v = getattr(a, name)
            out[name].append(np.concatenate([v, np.zeros((K - v.shape[0], v.shape[1]))], axis=0))
    return PlanArrays(**{k: np.stack(v) for k, v in out.items()})


@dataclass(frozen=True)
class PlanSet:
    """One SignalPlan per signal id."""

    plans: dict[str, SignalPlan]

    def __iter__(self):
        return iter(self.plans.values())

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, signal_id: str) -> SignalPlan:
        return self.plans[signal_id]

    @classmethod
    def from_network(cls, network: Network) -> PlanSet:
        """The net's own programs (network.phase_* arrays), folded into stages."""
        plans = {}
        for s, sid in enumerate(network.signal_ids):
            sl = network.phases_of(s)
            seq = [
                (
                    network.phase_state[p],
                    network.phase_duration_s[p],
                    network.phase_min_s[p],
                    network.phase_max_s[p],
                )
                for p in range(sl.start, sl.stop)
            ]
            plans[sid] = SignalPlan.from_sumo_phases(sid, seq, float(network.signal_offset_s[s]))
        return cls(plans)

    @classmethod
    def from_sumo_additional(
        cls, path: str | Path, network: Network | None = None, program_id: str | None = None
    ) -> PlanSet:
        """Read tlLogic programs from a SUMO additional file.

        Args:
            path: SUMO additional (or net) file with ``<tlLogic>`` elements.
            network: when given, signal ids are checked against it.
            program_id: which program to read when a signal has several (required then).
        Raises:
            InputError: unreadable file, no tlLogic, unknown signal, ambiguous programs.
        """
        return _planset_from_progs(path, _read_tllogics(path), network, program_id, strict=True)

    def to_arrays(self, network: Network) -> PlanArrays:
        """Batch arrays over ALL signals of ``network`` (signals without a plan keep the net's own
        program). See :class:`PlanArrays` for the shapes."""
        M = network.n_movements
        default: PlanSet | None = None
        plans = []
        for sid in network.signal_ids:
            p = self.plans.get(sid)
            if p is None:
                default = default or PlanSet.from_network(network)
                p = default.plans[sid]
            plans.append(p)
        for sid in self.plans:
            network.signal_index(sid)
        K = max(1, max(p.n_stages for p in plans))
        cycle = np.array([p.cycle_s for p in plans], dtype=float)
        offset = np.array([p.offset_s for p in plans], dtype=float)
        n_st = np.array([p.n_stages for p in plans], dtype=np.int64)
        stage_end = np.repeat(cycle[:, None], K, axis=1)
        green_end = stage_end.copy()
        yellow_end = stage_end.copy()
        mg = np.zeros((K, M))
        my = np.zeros((K, M))
        mc = np.zeros((K, M))
        for s, p in enumerate(plans):
            t = 0.0
            ms = network.movements_of(s)
            n = p.n_stages
            for k, ph in enumerate(p.phases):
                green_end[s, k] = t + ph.green_s
                yellow_end[s, k] = t + ph.green_s + ph.yellow_s
                t += ph.total_s
                stage_end[s, k] = t
                ys, _ = ph.change_states(p.phases[(k + 1) % n].state, n == 1)
                mg[k, ms] = network.movement_green_share(s, ph.state)
                mc[k, ms] = network.movement_green_share(s, ys)
                my[k, ms] = _movement_share(network, s, ys, YELLOW_CHARS)
        return PlanArrays(cycle, offset, n_st, stage_end, green_end, yellow_end, mg, my, mc)

    def to_dict(self) -> dict:
        return {"signals": [self.plans[k].to_dict() for k in sorted(self.plans)]}


def _movement_share(network: Network, s: int, state: str, chars: frozenset) -> np.ndarray:
    links = network.links_of(s)
    codes = np.array([c in chars for c in state], dtype=float)
    lm = network.link_movement[links]
    veh = lm >= 0
    m0 = int(network.signal_mov_start[s])
    n_m = int(network.signal_mov_start[s + 1]) - m0
    counts = np.bincount(lm[veh] - m0, minlength=n_m)
    hits = np.bincount(lm[veh] - m0, weights=codes[veh], minlength=n_m)
    return hits / np.maximum(counts, 1)


@dataclass(frozen=True)
class Schedule:
    """Time-of-day plans: period name -> (begin_s, end_s, PlanSet), times of day in seconds."""

    periods: dict[str, tuple[float, float, PlanSet]]

    def ordered(self) -> list[tuple[str, float, float, PlanSet]]:
        return sorted(
            ((k, b, e, p) for k, (b, e, p) in self.periods.items()), key=lambda x: (x[1], x[0])
        )

    def to_dict(self) -> dict:
        return {
            "version": PLAN_FORMAT_VERSION,
            "kind": "signals.schedule",
            "offset_reference": OFFSET_REFERENCE,
            "periods": [
                {"name": k, "begin_s": b, "end_s": e, **p.to_dict()}
                for k, b, e, p in self.ordered()
            ],
        }

    @classmethod
    def single(
        cls, planset: PlanSet, name: str = "all", begin_s: float = 0.0, end_s: float = 86400.0
    ) -> Schedule:
        return cls({name: (begin_s, end_s, planset)})


# ========================================================================= files
def _read_tllogics(path: str | Path) -> list[tuple[str, str, float, list[tuple], dict]]:
    """(signal id, programID, offset, [(state, duration, minDur, maxDur)], params) per tlLogic."""
    import xml.etree.ElementTree as ET

    path = require_file(path, "plan file", "an existing SUMO additional file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(path, "xml", "a readable SUMO additional file", str(exc)) from None
    out = []
    for tl in root.iter("tlLogic"):
        sid = tl.get("id")
        if not sid:
            raise InputError(path, "tlLogic id", "a signal id", "missing")
        pid = tl.get("programID", "0")
        phases = []
        for i, ph in enumerate(tl.iter("phase")):
            state = ph.get("state")
            dur = ph.get("duration")
            if state is None or dur is None:
                raise InputError(
                    path, f"tlLogic {sid} phase {i} state/duration", "both attributes", "missing"
                )
            try:
                d = float(dur)
                mn = float(ph.get("minDur")) if ph.get("minDur") is not None else None
                mx = float(ph.get("maxDur")) if ph.get("maxDur") is not None else None
            except ValueError:
                raise InputError(
                    path, f"tlLogic {sid} phase {i} duration", "a number", dur
                ) from None
            phases.append((state, d, mn, mx))
        try:
            offset = float(tl.get("offset", "0") or 0)
        except ValueError:
            raise InputError(path, f"tlLogic {sid} offset", "a number", tl.get("offset")) from None
        params = {p.get("key"): p.get("value", "") for p in tl.iter("param")}
        out.append((sid, pid, offset, phases, params))
    if not out:
        raise InputError(path, "tlLogic", "at least one <tlLogic> element", "none")
    return out


def _num(path, where: str, d: dict, key: str, default: Any = None) -> float:
    if key not in d:
        if default is not None:
            return default
        raise InputError(path, f"{where}.{key}", "a number", "missing")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InputError(path, f"{where}.{key}", "a finite number", repr(v))
    return float(v)


# review fields written by signals.export into JSON; accepted (and ignored) on reading
_REVIEW_KEYS = {
    "number",
    "movements",
    "flow_vph",
    "v_c",
    "delay_s",
    "los",
}
_PHASE_KEYS = {
    "state",
    "green_s",
    "yellow_s",
    "allred_s",
    "min_green_s",
    "max_green_s",
    "clear_state",
    "clear_s",
    "yellow_state",
    "allred_state",
    "tail",
}


def _planset_from_json(path, where: str, signals: Any) -> PlanSet:
    if not isinstance(signals, list):
        raise InputError(
            path,
            f"{where}.signals" if where else "signals",
            "a list of signal plans",
            type(signals).__name__,
        )
    plans = {}
    for i, sd in enumerate(signals):
        w = f"{where}.signals[{i}]" if where else f"signals[{i}]"
        if not isinstance(sd, dict) or not isinstance(sd.get("signal_id"), str):
            raise InputError(
                path,
                f"{w}.signal_id",
                "a string",
                repr(sd.get("signal_id") if isinstance(sd, dict) else sd),
            )
        unknown = set(sd) - {
            "signal_id",
            "cycle_s",
            "offset_s",
            "phases",
            "offset_reference",
            "movements",
        }
        if unknown:
            raise InputError(
                path,
                f"{w}",
                "keys signal_id, cycle_s, offset_s, phases",
                ", ".join(sorted(unknown)),
            )
        phases = []
        if not isinstance(sd.get("phases"), list):
            raise InputError(path, f"{w}.phases", "a list of phases", repr(sd.get("phases")))
        for k, pd in enumerate(sd["phases"]):
            wp = f"{w}.phases[{k}]"
            if not isinstance(pd, dict):
                raise InputError(path, wp, "an object", repr(pd))
            unknown = set(pd) - _PHASE_KEYS - _REVIEW_KEYS
            if unknown:
                raise InputError(
                    path, wp, "keys " + ", ".join(sorted(_PHASE_KEYS)), ", ".join(sorted(unknown))
                )
            if not isinstance(pd.get("state"), str):
                raise InputError(path, f"{wp}.state", "a SUMO state string", repr(pd.get("state")))
            g = _num(path, wp, pd, "green_s")
            phases.append(
                Phase(
                    pd["state"],
                    g,
                    _num(path, wp, pd, "yellow_s"),
                    _num(path, wp, pd, "allred_s"),
                    _num(path, wp, pd, "min_green_s", DEFAULT_MIN_GREEN_S),
                    _num(path, wp, pd, "max_green_s", max(g, DEFAULT_MAX_GREEN_S)),
                    str(pd.get("clear_state", "")),
                    _num(path, wp, pd, "clear_s", 0.0),
                    str(pd.get("yellow_state", "")),
                    str(pd.get("allred_state", "")),
                    _tail(path, f"{wp}.tail", pd.get("tail", [])),
                )
            )
        sid = sd["signal_id"]
        if sid in plans:
            raise InputError(path, f"{w}.signal_id", "each signal once per period", f"{sid} twice")
        cyc = _num(path, w, sd, "cycle_s")
        plans[sid] = SignalPlan(sid, cyc, _num(path, w, sd, "offset_s", 0.0), tuple(phases))
    return PlanSet(plans)


def _tail(path, where: str, value: Any) -> tuple[tuple[str, float], ...]:
    ok = isinstance(value, list) and all(
        isinstance(x, list)
        and len(x) == 2
        and isinstance(x[0], str)
        and isinstance(x[1], int | float)
        and not isinstance(x[1], bool)
        and math.isfinite(x[1])
        and x[1] > 0
        for x in value
    )
    if not ok:
        raise InputError(path, where, "a list of [state, duration_s > 0] pairs", repr(value)[:60])
    return tuple((str(a), float(b)) for a, b in value)


# top-level and period-level keys of a JSON plan file (as Schedule.to_dict and signals.export
# write them); anything else is a typo or a file of another format, refused rather than ignored
_TOP_KEYS = {"version", "kind", "offset_reference", "net", "periods", "signals"}
_PERIOD_KEYS = {"name", "begin_s", "end_s", "signals"}


def _load_json(path: Path) -> Any:
    """Parse a JSON file (UTF-8, RFC 8259); every failure is an InputError naming the file."""
    from signals.errors import read_utf8

    text = read_utf8(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, "json", "a valid JSON plan file", str(exc)) from None
    except RecursionError:
        raise InputError(
            path, "json", "a JSON plan file of ordinary depth", "nesting too deep to parse"
        ) from None


def _schedule_from_json(path: Path) -> Schedule:
    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise InputError(path, "root", "a JSON object", type(doc).__name__)
    ver = doc.get("version")
    if ver != PLAN_FORMAT_VERSION:
        raise InputError(path, "version", str(PLAN_FORMAT_VERSION), repr(ver))
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise InputError(
            path, unknown[0], "a top-level key " + ", ".join(sorted(_TOP_KEYS)), "unknown key"
        )
    if "periods" in doc and "signals" in doc:
        raise InputError(path, "root", "either a 'periods' or a 'signals' list", "both")
    if "periods" in doc:
        periods = {}
        if not isinstance(doc["periods"], list):
            raise InputError(path, "periods", "a list", type(doc["periods"]).__name__)
        for i, pd in enumerate(doc["periods"]):
            w = f"periods[{i}]"
            if not isinstance(pd, dict) or not isinstance(pd.get("name"), str):
                raise InputError(path, f"{w}.name", "a string", repr(pd)[:60])
            unknown = sorted(set(pd) - _PERIOD_KEYS)
            if unknown:
                raise InputError(
                    path,
                    f"{w}.{unknown[0]}",
                    "a period key " + ", ".join(sorted(_PERIOD_KEYS)),
                    "unknown key",
                )
            name = pd["name"]
            if name in periods:
                raise InputError(path, f"{w}.name", "each period name once", f"{name!r} again")
            b, e = _num(path, w, pd, "begin_s"), _num(path, w, pd, "end_s")
            if b < 0:
                raise InputError(path, f"{w}.begin_s", "a time of day >= 0 s", repr(b))
            if e <= b:
                raise InputError(path, f"{w}.end_s", f"a time after begin_s={b:g}", repr(e))
            periods[name] = (b, e, _planset_from_json(path, w, pd.get("signals")))
        return Schedule(periods)
    if "signals" in doc:
        return Schedule.single(_planset_from_json(path, "", doc["signals"]))
    raise InputError(path, "root", "a 'periods' or 'signals' list", ", ".join(sorted(doc)))


def read_schedule(path: str | Path, network: Network | None = None) -> Schedule:
    """Read plans from a JSON plan file (a schedule or a single plan set) or a SUMO additional.

    A SUMO additional with a ``<WAUT>`` gives one period per programID; without one it gives a
    single period "all" over the day.

    Raises:
        InputError: missing/unreadable file, bad fields, unknown signal ids.
    """
    path = require_file(path, "plan file", "an existing plan file (.json or SUMO .xml)")
    head = path.read_text(errors="replace")[:2048].lstrip()
    if head.startswith("{"):
        sched = _schedule_from_json(path)
    elif head.startswith("<"):
        sched = _schedule_from_sumo(path, network)
    else:
        raise InputError(
            path, "format", "a JSON plan file or a SUMO additional file", repr(head[:20])
        )
    if network is not None:
        for _, _, _, ps in sched.ordered():
            for sid in ps.plans:
                network.signal_index(sid, path)
    return sched


def _planset_from_progs(
    path, progs: list, network: Network | None, program_id: str | None, strict: bool
) -> PlanSet:
    by_sig: dict[str, dict[str, tuple]] = {}
    for sid, pid, offset, phases, params in progs:
        by_sig.setdefault(sid, {})[pid] = (offset, phases, params)
    plans = {}
    for sid, pmap in by_sig.items():
        if network is not None:
            network.signal_index(sid, path)
        if program_id is not None:
            if program_id not in pmap:
                if not strict:
                    continue
                raise InputError(
                    path, f"tlLogic {sid} programID", repr(program_id), ", ".join(sorted(pmap))
                )
            offset, phases, params = pmap[program_id]
        elif len(pmap) > 1:
            raise InputError(
                path,
                f"tlLogic {sid}",
                "one program per signal (or choose a programID)",
                f"{len(pmap)} programs: {', '.join(sorted(pmap))}",
            )
        else:
            offset, phases, params = next(iter(pmap.values()))
        plan = SignalPlan.from_sumo_phases(sid, phases, offset)
        # min/max green written by signals.export as tlLogic params (exact round trip)
        bounds = []
        for key in ("signals.min_green_s", "signals.max_green_s"):
            vals = params.get(key, "").split()
            try:
                bounds.append([float(v) for v in vals] if len(vals) == plan.n_stages else None)
            except ValueError:
                raise InputError(
                    path, f"tlLogic {sid} param {key}", "numbers", params[key]
                ) from None
        if bounds[0] or bounds[1]:
            plan = replace(
                plan,
                phases=tuple(
                    replace(
                        ph,
                        min_green_s=bounds[0][k] if bounds[0] else ph.min_green_s,
                        max_green_s=bounds[1][k] if bounds[1] else ph.max_green_s,
                    )
                    for k, ph in enumerate(plan.phases)
                ),
            )
        plans[sid] = plan
    return PlanSet(plans)


def _schedule_from_sumo(path: Path, network: Network | None) -> Schedule:
    """Periods of a SUMO additional: one per programID, bounds from the export's params or from
    the WAUT switch times."""
    import xml.etree.ElementTree as ET

    progs = _read_tllogics(path)
    root = ET.parse(path).getroot()
    pids = sorted({p[1] for p in progs})
    bounds: dict[str, list] = {}
    for _, pid, _, _, params in progs:
        try:
            b = (
                float(params["signals.period_begin_s"])
                if "signals.period_begin_s" in params
                else None
            )
            e = float(params["signals.period_end_s"]) if "signals.period_end_s" in params else None
        except ValueError:
            raise InputError(path, f"programID {pid} period params", "numbers", params) from None
        bounds.setdefault(pid, [b, e])
    wauts = list(root.iter("WAUT"))
    if wauts:
        switches = []
        for k, sw in enumerate(wauts[0].iter("wautSwitch")):
            t = sw.get("time", "0")
            try:
                tf = float(t)
            except ValueError:
                tf = math.nan
            if not math.isfinite(tf) or tf < 0:
                raise InputError(
                    path, f"wautSwitch[{k}] time", "a time of day in s (a number >= 0)", repr(t)
                )
            switches.append((tf, sw.get("to")))
        switches.sort()
        for i, (t, pid) in enumerate(switches):
            if pid not in pids:
                raise InputError(path, "wautSwitch to", "a programID of the tlLogics", repr(pid))
            nxt = switches[i + 1][0] if i + 1 < len(switches) else DAY_S
            bb = bounds.setdefault(pid, [None, None])
            bb[0] = t if bb[0] is None else bb[0]
            bb[1] = nxt if bb[1] is None else bb[1]
    elif len(pids) > 1 and any(bounds[p][0] is None for p in pids):
        raise InputError(
            path,
            "WAUT",
            "a WAUT when signals have several programs",
            f"programs {', '.join(pids)} and no WAUT",
        )
    if len(pids) == 1 and bounds[pids[0]][0] is None:
        return Schedule.single(_planset_from_progs(path, progs, network, None, strict=True))
    periods = {}
    for pid in pids:
        b, e = bounds[pid]
        ps = _planset_from_progs(path, progs, network, pid, strict=False)
        periods[pid] = (0.0 if b is None else b, DAY_S if e is None else e, ps)
    return Schedule(periods)


def write_schedule_json(schedule: Schedule, path: str | Path, extra: dict | None = None) -> Path:
    """Write a schedule as JSON atomically (no safety check here: callers export via
    :mod:`signals.export`, which checks first)."""
    from signals.errors import atomic_write

    doc = schedule.to_dict()
    if extra:
        doc.update(extra)
    with atomic_write(path) as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    return Path(path)


__all__ = [
    "PLAN_FORMAT_VERSION",
    "OFFSET_REFERENCE",
    "GREEN_CHARS",
    "MINOR_CHARS",
    "RED_CHARS",
    "VALID_STATE_CHARS",
    "YELLOW_CHARS",
    "Phase",
    "SignalPlan",
    "PlanSet",
    "PlanArrays",
    "Schedule",
    "stack_arrays",
    "read_schedule",
    "write_schedule_json",
]
