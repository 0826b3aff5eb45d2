"""Online (adaptive) controllers: SUMO actuated, max-pressure and connected-vehicle max-pressure.

An online controller maps an :class:`Observation` to the stage each signal should show next; the
closed loop (:mod:`signals.evaluate.sumo_loop`) -- not the controller -- inserts the yellow and
all-red change intervals, holds minimum green, forces a change at maximum green and passes every
state through the safety gate. A controller can therefore ask for anything (an unknown stage, a
jump every step): the loop decides what is safe.

Controller API (docs/architecture.md, "Central types")::

    ctl.reset(network, stages, rng)        # once per run
    desired = ctl.act(obs)                 # (S,) int, local stage index 0..n_stages[s]-1

Core module: numpy/scipy only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from functools import partial

from signals.control.adaptive.actuated import Actuated, ActuatedTiming
from signals.control.adaptive.base import (
    Controller,
    HoldController,
    Observation,
    PlanFollower,
    Stages,
)
from signals.control.adaptive.pressure import CVMaxPressure, CycleMaxPressure, MaxPressure
from signals.control.adaptive.sumo_actuated import ActuatedSumo

__all__ = [
    "CONTROLLERS",
    "Actuated",
    "ActuatedTiming",
    "ActuatedSumo",
    "CVMaxPressure",
    "CycleMaxPressure",
    "Controller",
    "HoldController",
    "MaxPressure",
    "Observation",
    "PlanFollower",
    "Stages",
    "make_controller",
]

CONTROLLERS = {
    "max_pressure": MaxPressure,
    "cv_max_pressure": CVMaxPressure,
    "cycle_max_pressure": CycleMaxPressure,
    "actuated": ActuatedSumo,
    # our actuated control by its inputs (signals evaluate / experiment configs)
    "actuated_det": partial(Actuated, "detectors"),
    "actuated_det_cv": partial(Actuated, "both"),
    "actuated_cv": partial(Actuated, "cv"),
    "hold": HoldController,
    "plan_follower": PlanFollower,
}


def make_controller(name: str, **kwargs) -> Controller:
    """A controller by name (keys of :data:`CONTROLLERS`)."""
    from signals.errors import InputError

    try:
        cls = CONTROLLERS[name.replace("-", "_")]
    except KeyError:
        raise InputError(
            None, "controller", "one of " + ", ".join(sorted(CONTROLLERS)), repr(name)
        ) from None
    return cls(**kwargs)
