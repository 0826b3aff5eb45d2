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


def _number(text: str, expected: str, ok, cast=float):
    """``cast(text)`` if it parses, is finite and satisfies ``ok``; else one line naming it."""
    try:
        v = cast(text)
    except ValueError:
        raise _bad(expected, text) from None
    if not (math.isfinite(v) and ok(v)):
        raise _bad(expected, text)
    return v


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2**31 - 1]."""
    return _number(text, f"an integer in [0, {SEED_MAX}]", lambda v: 0 <= v <= SEED_MAX, int)


def time_s(text: str) -> float:
    """A time in seconds: finite, >= 0, at most a week."""
    return _number(text, f"a time in s in [0, {TIME_MAX_S:g}]", lambda v: 0 <= v <= TIME_MAX_S)


def nonneg(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, "a finite number >= 0", lambda v: v >= 0)


def positive(text: str) -> float:
    """A finite number > 0."""
    return _number(text, "a finite number > 0", lambda v: v > 0)


def share(text: str) -> float:
    """A share in [0, 1]."""
    return _number(text, "a number in [0, 1]", lambda v: 0 <= v <= 1)


def veh_per_hour(text: str) -> float:
    """A demand volume, veh/h, in [0, VEH_PER_HOUR_MAX]."""
    expected = f"a volume in veh/h in [0, {VEH_PER_HOUR_MAX:g}]"
    return _number(text, expected, lambda v: 0 <= v <= VEH_PER_HOUR_MAX)


def count(text: str) -> int:
    """An integer >= 1."""
    return _number(text, "an integer >= 1", lambda v: v >= 1, int)


def window(begin_s: float, end_s: float, begin_opt: str = "--begin", end_opt: str = "--end"):
    """InputError unless the window ends after it begins."""
    from signals.errors import InputError

    if end_s <= begin_s:
        raise InputError(None, end_opt, f"a time after {begin_opt} {begin_s:g}", f"{end_s:g}")


def add_stages_option(p: argparse.ArgumentParser) -> None:
    """``--stages auto|conflict|own``: where the stages come from (signals.control.stage_sets)."""
    from signals.control.stage_sets import SOURCES

    p.add_argument(
        "--stages",
        choices=SOURCES,
        default="auto",
        help="stages: the net's own stage order where it serves, else from the conflict matrix "
        "(auto, default); always from the conflict matrix; always the net's own",
    )
