"""Expand a plan into the signal states it shows: the one form every rule reads.

A stage plan (:class:`signals.plans.SignalPlan`) expands into its SUMO phases (green, pedestrian
clearance, yellow, all-red per stage, as ``SignalPlan.sumo_phases`` writes them); a raw SUMO
program (a ``<tlLogic>`` as read from a file, or a chain of the closed loop's program) is taken
as it is, phase by phase -- no fold into stages, so the gate reports exactly the transitions in
the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from signals.states import GREEN_CHARS, YELLOW_CHARS, gains_row
from signals.states import codes as _codes


@dataclass(frozen=True)
class Expansion:
    """The intervals of one signal's program.

    Attributes:
        states: (P,) state strings.
        codes: (P, n) uint8 state characters.
        dur_s: (P,) interval durations.
        label: (P,) 1-based number reported for the interval: the stage number of a stage plan,
            the SUMO phase number (index + 1) of a raw program.
        block: (P,) green-interval id for the max-green rule (-1 for change intervals).
        kind: "stage" or "SUMO phase" (what ``label`` numbers).
        cyclic: the last interval is followed by the first (a cycle); False for a chain.
    """

    states: tuple[str, ...]
    codes: np.ndarray
    dur_s: np.ndarray
    label: np.ndarray
    block: np.ndarray
    kind: str
    cyclic: bool

    @property
    def n(self) -> int:
        return len(self.states)

    def where(self, p: int) -> str:
        return f"{self.kind} {int(self.label[p])}"


def expand_plan(plan) -> Expansion:
    """Expansion of a :class:`signals.plans.SignalPlan` (stage numbers as labels)."""
    states, dur, label, block = [], [], [], []
    n = len(plan.phases)
    for k, ph in enumerate(plan.phases, start=1):
        for st, d, green in ph.intervals(plan.phases[k % n].state, n == 1):
            states.append(st)
            dur.append(d)
            label.append(k)
            block.append(k if green else -1)
    return _make(states, dur, label, block, "stage", True)


def expand_phases(phases: Sequence[tuple], cyclic: bool = True) -> Expansion:
    """Expansion of a raw SUMO phase list ``[(state, duration_s, ...), ...]``.

    Green intervals (vehicle or pedestrian green, no yellow) that follow each other form one
    block for the min- and max-green rules; a block starts where some link gains right of way,
    so a red clearance in which a link merely keeps its green (``'rrGrrrr'`` after
    ``'yyGrrrr'``) is part of the change interval, not a stage green of its own.
    """
    states = [str(p[0]) for p in phases]
    dur = [float(p[1]) for p in phases]
    label = list(range(1, len(states) + 1))
    block, b, prev = [], -1, False
    for i, st in enumerate(states):
        green = any(c in GREEN_CHARS for c in st) and not any(c in YELLOW_CHARS for c in st)
        before = states[i - 1] if (i or cyclic) and len(states) > 1 else None
        gains = before is None or bool(gains_row(_codes(before), _codes(st)).any())
        if green and not prev and gains:
            b = i + 1
        inside = green and (prev or gains)
        block.append(b if inside else -1)
        prev = inside
    return _make(states, dur, label, block, "SUMO phase", cyclic)


def _make(states, dur, label, block, kind, cyclic) -> Expansion:
    n = len(states[0]) if states else 0
    c = np.array([_codes(s) for s in states], dtype=np.uint8).reshape(len(states), n)
    return Expansion(
        tuple(states),
        c,
        np.asarray(dur, dtype=float),
        np.asarray(label, dtype=np.int64),
        np.asarray(block, dtype=np.int64),
        kind,
        cyclic,
    )
