"""SUMO signal state characters and the one definition of a legal change between them.

SUMO docs, "Traffic Lights", signal state definitions: ``r`` red, ``y``/``Y`` yellow (amber),
``g`` green minor (must yield to foes per SUMO's response matrix), ``G`` green major (priority),
``s`` green right-turn arrow (stop, then go like minor), ``u`` red-yellow (pre-green), ``o`` off
blinking (yield), ``O`` off (no signal: junction priority rules).

Right of way is ordered ``G`` > ``g``/``o``/``O`` > ``s`` > none (``y``, ``r``, ``u``). A change
that takes right of way away must show yellow first (MUTCD 2009 sec. 4D.26: a steady yellow
follows every steady green; docs/architecture.md, "Safety: nothing unsafe reaches a signal":
``G``->``g``, ``G``/``g``->``r``, ``G``/``g``->``s`` without yellow are unsafe). ``s`` -> ``r``
needs no yellow: an ``s`` vehicle has stopped before it enters (SUMO's own check,
MSTrafficLightLogic::init, agrees).

Every module that asks "is this change legal?" or "does this link lose right of way here?" uses
the lookup tables of this module: the plan model deriving change intervals, the safety gate, the
per-step checks of the closed loop, and the stage programs it installs. Core module: numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

VALID_STATE_CHARS = frozenset("ryYgGsuoO")
GREEN_CHARS = frozenset("gGsoO")  # vehicles may enter
MINOR_CHARS = frozenset("gsoO")  # ... but must yield to foes per SUMO's response matrix
YELLOW_CHARS = frozenset("yY")
RED_CHARS = frozenset("ru")

# right-of-way level of each character (0: none)
_LEVEL = {"G": 3, "g": 2, "o": 2, "O": 2, "s": 1}
ROW_LEVEL = np.zeros(256, dtype=np.int8)
for _c, _lv in _LEVEL.items():
    ROW_LEVEL[ord(_c)] = _lv

# Transition table over (previous char, next char): 0 legal, SKIP_YELLOW right of way taken away
# without yellow, BAD_SEQUENCE an order SUMO/MUTCD never show (yellow -> green, red -> yellow,
# green -> red-yellow).
LEGAL, SKIP_YELLOW, BAD_SEQUENCE = 0, 1, 2
TRANSITION = np.zeros((256, 256), dtype=np.int8)
for _a in VALID_STATE_CHARS:
    for _b in VALID_STATE_CHARS:
        la, lb = _LEVEL.get(_a, 0), _LEVEL.get(_b, 0)
        if _a in YELLOW_CHARS and _b in GREEN_CHARS:
            TRANSITION[ord(_a), ord(_b)] = BAD_SEQUENCE
        elif _a in RED_CHARS and _b in YELLOW_CHARS:
            TRANSITION[ord(_a), ord(_b)] = BAD_SEQUENCE
        elif _a in GREEN_CHARS and _b == "u":
            TRANSITION[ord(_a), ord(_b)] = BAD_SEQUENCE
        elif lb < la and _b not in YELLOW_CHARS and not (_a == "s" and _b in RED_CHARS):
            TRANSITION[ord(_a), ord(_b)] = SKIP_YELLOW

_LUTS: dict[frozenset, np.ndarray] = {}


def codes(state: str) -> np.ndarray:
    """(n,) uint8 character codes of a state string."""
    return np.frombuffer(state.encode(), dtype=np.uint8)


def in_set(state_codes: np.ndarray, chars: Iterable[str]) -> np.ndarray:
    """Membership of uint8 state codes in a character set, via a 256-entry lookup table."""
    key = frozenset(chars)
    lut = _LUTS.get(key)
    if lut is None:
        lut = np.zeros(256, dtype=bool)
        lut[[ord(c) for c in key]] = True
        _LUTS[key] = lut
    return lut[np.asarray(state_codes, dtype=np.uint8)]


def loses_row(prev_codes: np.ndarray, next_codes: np.ndarray) -> np.ndarray:
    """Where a link's right of way drops (G->g, G->r, g->s, ...): it must show yellow."""
    a = np.asarray(prev_codes, dtype=np.uint8)
    b = np.asarray(next_codes, dtype=np.uint8)
    return ROW_LEVEL[b] < ROW_LEVEL[a]


def gains_row(prev_codes: np.ndarray, next_codes: np.ndarray) -> np.ndarray:
    """Where a link's right of way rises (r->G, g->G, ...): foes must have cleared first."""
    a = np.asarray(prev_codes, dtype=np.uint8)
    b = np.asarray(next_codes, dtype=np.uint8)
    return ROW_LEVEL[b] > ROW_LEVEL[a]


def keeps_through_change(c: str, d: str) -> bool:
    """A link in ``c`` at the end of a green that is ``d`` in the next stage keeps ``c`` through
    the change interval only when it keeps at least its right of way (else yellow, then red)."""
    return c in GREEN_CHARS and d in GREEN_CHARS and _LEVEL.get(d, 0) >= _LEVEL.get(c, 0)


__all__ = [
    "VALID_STATE_CHARS",
    "GREEN_CHARS",
    "MINOR_CHARS",
    "YELLOW_CHARS",
    "RED_CHARS",
    "ROW_LEVEL",
    "TRANSITION",
    "LEGAL",
    "SKIP_YELLOW",
    "BAD_SEQUENCE",
    "codes",
    "in_set",
    "loses_row",
    "gains_row",
    "keeps_through_change",
]
