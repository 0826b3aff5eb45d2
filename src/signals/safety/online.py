"""Vectorized per-step checks of the closed loop: one SUMO step, every signal at once.

The same definitions as the gate's rules (:mod:`signals.states` for transitions, SUMO's foe and
response matrices for conflicts); what needs timers (yellow length, red clearance) is checked
once on the loop's programs by the gate, and second by second by :mod:`signals.safety.monitor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from signals.safety.geometry import geometry
from signals.states import (
    BAD_SEQUENCE,
    GREEN_CHARS,
    MINOR_CHARS,
    ROW_LEVEL,
    SKIP_YELLOW,
    TRANSITION,
    YELLOW_CHARS,
    in_set,
)

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network


def state_codes(network: Network, states: Sequence[str] | dict[str, str]) -> np.ndarray:
    """(L,) uint8 state characters over all network links from per-signal state strings.

    Args:
        states: S strings in network signal order, or {signal_id: state} covering every signal.
    """
    if isinstance(states, dict):
        states = [states[sid] for sid in network.signal_ids]
    codes = np.frombuffer("".join(states).encode(), dtype=np.uint8)
    if codes.shape[0] != network.n_links:
        raise ValueError(f"states cover {codes.shape[0]} links, the network has {network.n_links}")
    return codes.copy()


def conflicting_green(network: Network, state_codes: np.ndarray) -> np.ndarray:
    """(..., S) True where two foe links of a signal have right of way and neither yields.

    Args:
        state_codes: (..., L) uint8 state characters over network links.
    """
    g = geometry(network)
    codes = np.asarray(state_codes)
    gr = in_set(codes, GREEN_CHARS)
    mn = in_set(codes, MINOR_CHARS)
    i, j = g.pair_i, g.pair_j
    bad = (
        gr[..., i] & gr[..., j] & ~((mn[..., i] & g.pair_i_yields) | (mn[..., j] & g.pair_j_yields))
    )
    bad &= ~g.pair_merge  # lanes of one approach merging: SUMO's response resolves them
    return _any_by_group(bad, g.pair_signal, network.n_signals)


def illegal_transitions(
    network: Network, prev_codes: np.ndarray, next_codes: np.ndarray
) -> np.ndarray:
    """(..., S) True where a step's change breaks a rule that needs no timer: right of way taken
    away without yellow (vehicle links), an impossible sequence (yellow -> green, red -> yellow,
    green -> red-yellow), or a link gaining right of way while a foe it does not yield to shows
    yellow (green during clearance).

    Args:
        prev_codes, next_codes: (..., L) uint8 state characters.
    """
    a = np.asarray(prev_codes, dtype=np.uint8)
    b = np.asarray(next_codes, dtype=np.uint8)
    t = TRANSITION[a, b]
    veh = ~network.link_is_ped
    bad = ((t == SKIP_YELLOW) & veh) | (t == BAD_SEQUENCE)
    out = _any_by_group(bad, network.link_signal, network.n_signals)
    # green during a foe's yellow, both orientations of each foe pair
    g = geometry(network)
    gain = ROW_LEVEL[b] > ROW_LEVEL[a]
    ylw = in_set(b, YELLOW_CHARS)
    mn = in_set(b, MINOR_CHARS)
    i, j = g.pair_i, g.pair_j
    clr = (gain[..., i] & ylw[..., j] & ~(mn[..., i] & g.pair_i_yields)) | (
        gain[..., j] & ylw[..., i] & ~(mn[..., j] & g.pair_j_yields)
    )
    clr &= ~g.pair_merge
    return out | _any_by_group(clr, g.pair_signal, network.n_signals)


def _any_by_group(bad: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(bad.shape[:-1] + (n_groups,), dtype=bool)
    if bad.shape[-1] == 0:
        return out
    flat = bad.reshape(-1, bad.shape[-1])
    o = out.reshape(-1, n_groups)
    rows, cols = np.nonzero(flat)
    o[rows, group[cols]] = True
    return out
