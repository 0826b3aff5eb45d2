"""Argument types for the ``signals`` command: each rejects a bad value with one line naming the
option (argparse prints ``signals CMD: error: argument --X: expected ..., found ...``, exit 2)."""

from __future__ import annotations

import argparse
import math

from signals.config import SEED_MAX, VEH_PER_HOUR_MAX

# Times of day and simulated windows, s: up to a week
TIME_MAX_S = 7 * 86400.0


def _bad(expected: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, found {text!r}")


def _float(text: str, expected: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _bad(expected, text) from None
    if not math.isfinite(v):
        raise _bad(expected, text)
    return v


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**31 - 1]."""
    expected = f"an integer in [0, {SEED_MAX}]"
    try:
        v = int(text)
    except ValueError:
        raise _bad(expected, text) from None
    if not 0 <= v <= SEED_MAX:
        raise _bad(expected, text)
    return v


def time_s(text: str) -> float:
    """A time in seconds: finite, >= 0, at most a week."""
    expected = f"a time in s in [0, {TIME_MAX_S:g}]"
    v = _float(text, expected)
    if not 0 <= v <= TIME_MAX_S:
        raise _bad(expected, text)
    return v


def nonneg(text: str) -> float:
    """A finite number >= 0."""
    v = _float(text, "a finite number >= 0")
    if v < 0:
        raise _bad("a finite number >= 0", text)
    return v


def positive(text: str) -> float:
    """A finite number > 0."""
    v = _float(text, "a finite number > 0")
    if v <= 0:
        raise _bad("a finite number > 0", text)
    return v


def share(text: str) -> float:
    """A share in [0, 1]."""
    v = _float(text, "a number in [0, 1]")
    if not 0 <= v <= 1:
        raise _bad("a number in [0, 1]", text)
    return v


def veh_per_hour(text: str) -> float:
    """A demand volume, veh/h, in [0, VEH_PER_HOUR_MAX]."""
    expected = f"a volume in veh/h in [0, {VEH_PER_HOUR_MAX:g}]"
    v = _float(text, expected)
    if not 0 <= v <= VEH_PER_HOUR_MAX:
        raise _bad(expected, text)
    return v


def count(text: str) -> int:
    """An integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise _bad("an integer >= 1", text) from None
    if v < 1:
        raise _bad("an integer >= 1", text)
    return v


def window(begin_s: float, end_s: float, begin_opt: str = "--begin", end_opt: str = "--end"):
    """InputError unless the window ends after it begins."""
    from signals.errors import InputError

    if end_s <= begin_s:
        raise InputError(None, end_opt, f"a time after {begin_opt} {begin_s:g}", f"{end_s:g}")
