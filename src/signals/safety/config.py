"""The site's safety settings and the clearance formulas the gate and the plan generators share.

Every required duration has one definition here: the generators (``control.fixed_time``, the
closed loop's stage programs) build change intervals with these functions and the gate checks
plans against the same functions, so a generated plan meets the gate by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MIN_GREEN_S = 5.0
DEFAULT_MAX_GREEN_S = 120.0
GRAVITY_MPS2 = 9.81


@dataclass(frozen=True)
class SafetyConfig:
    """Clearance and bounds of a site. Never taken from the plan being checked.

    Attributes:
        reaction_s: perception-reaction time t of the ITE yellow formula (ITE: 1 s).
        decel_mps2: deceleration a of the ITE yellow formula (ITE: 10 ft/s^2 = 3.05 m/s^2).
        grade: approach grade G (fraction, uphill positive).
        yellow_min_s: guideline floor of any yellow (MUTCD 2009 sec. 4D.26: 3 to 6 s).
        yellow_unsafe_s: a yellow shorter than this is unsafe, whatever the approach speed
            (NEMA TS 2 sec. 6.2.4: a conflict monitor flags a yellow change interval under
            2.7 s, "minimum yellow change monitoring").
        allred_min_s: configured floor of the red clearance after a yellow, before a foe's green.
        allred_max_s: cap on the ITE red clearance (W + L)/v for very wide junctions (joined
            clusters), where the kinematic value exceeds what practice uses (ITE 2020
            recommended practice: red clearance rarely above 6 s).
        vehicle_length_m: L of the ITE red clearance (20 ft).
        min_green_s: minimum vehicle green (the site's, e.g. NTCIP 1202 phaseMinimumGreen).
        max_green_s: maximum green of a stage (NTCIP 1202 phaseMaximum1).
        cycle_min_s, cycle_max_s: allowed cycle range.
        ped_speed_mps: pedestrian walking speed for crossing clearance (MUTCD 2009 sec. 4E.06:
            3.5 ft/s = 1.07 m/s).
        walk_min_s: minimum walk interval (MUTCD 2009 sec. 4E.06: 7 s, may be reduced to 4 s).
        check_max_green: also apply the max-green rule.
    """

    reaction_s: float = 1.0
    decel_mps2: float = 3.05
    grade: float = 0.0
    yellow_min_s: float = 3.0
    yellow_unsafe_s: float = 2.7
    allred_min_s: float = 1.0
    allred_max_s: float = 6.0
    vehicle_length_m: float = 6.1
    min_green_s: float = DEFAULT_MIN_GREEN_S
    max_green_s: float = DEFAULT_MAX_GREEN_S
    cycle_min_s: float = 20.0
    cycle_max_s: float = 180.0
    ped_speed_mps: float = 1.07
    walk_min_s: float = 4.0
    check_max_green: bool = True


def ite_yellow_s(speed_mps: np.ndarray | float, cfg: SafetyConfig = SafetyConfig()) -> np.ndarray:
    """ITE minimum yellow change interval.

    ITE Traffic Engineering Handbook (7th ed., ch. 12) kinematic formula
    ``y = t + v / (2a + 2 A g)`` with t = 1 s, a = 3.05 m/s^2 (10 ft/s^2), A = 9.81 m/s^2, g = grade.

    Args:
        speed_mps: approach speed(s), any shape.
    Returns:
        array of the same shape, seconds.
    """
    v = np.asarray(speed_mps, dtype=float)
    return cfg.reaction_s + v / (2.0 * cfg.decel_mps2 + 2.0 * GRAVITY_MPS2 * cfg.grade)


def ite_allred_s(
    width_m: np.ndarray | float, speed_mps: np.ndarray | float, vehicle_length_m: float = 6.1
) -> np.ndarray:
    """ITE red clearance interval ``r = (W + L) / v``.

    ITE Traffic Engineering Handbook (7th ed., ch. 12): W = distance from the stop line to the far
    side of the last conflicting lane, L = vehicle length (20 ft = 6.1 m), v = approach speed.
    """
    v = np.maximum(np.asarray(speed_mps, dtype=float), 0.1)
    return (np.asarray(width_m, dtype=float) + vehicle_length_m) / v


def required_yellow_s(
    speed_mps: np.ndarray | float, cfg: SafetyConfig = SafetyConfig()
) -> np.ndarray:
    """Guideline yellow: the ITE kinematic value, at least the MUTCD 3 s floor."""
    return np.maximum(ite_yellow_s(speed_mps, cfg), cfg.yellow_min_s)


def required_allred_s(
    width_m: np.ndarray | float, speed_mps: np.ndarray | float, cfg: SafetyConfig = SafetyConfig()
) -> np.ndarray:
    """Guideline red clearance: ITE (W + L)/v capped at ``allred_max_s``, at least the configured
    floor. Where W is unknown (NaN) the cap is required: the gate assumes the widest junction."""
    w = np.asarray(width_m, dtype=float)
    r = ite_allred_s(np.nan_to_num(w, nan=0.0), speed_mps, cfg.vehicle_length_m)
    r = np.where(np.isnan(w), cfg.allred_max_s, np.minimum(r, cfg.allred_max_s))
    return np.maximum(r, cfg.allred_min_s)
