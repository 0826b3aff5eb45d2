"""Per-signal rewards by name, pluggable (issue 12).

A reward function maps the observations before and after one decision interval to one value per
signal (S,): ``fn(prev, obs, ctx) -> (S,)``. Register your own with :func:`register_reward`.
Rewards read the full observation (all vehicles): the simulator knows them while training; what
the policy *sees* is limited by :class:`signals.control.rl.features.ObsSpec` sensing.

Built in (vehicle counts summed over the signal's movements):

* ``queue``: minus the halting vehicles (Chu et al. 2019, IEEE T-ITS, "Multi-agent deep
  reinforcement learning for large-scale traffic signal control", queue term);
* ``pressure``: minus the absolute pressure, vehicles on the incoming lanes minus the
  turning-weighted vehicles downstream (PressLight, Wei et al. 2019, KDD);
* ``waiting_time``: minus the halting vehicle-seconds over the interval, trapezoid of the queues
  at its two ends (RESCO's and sumo-rl's waiting-time reward, in veh-s);
* ``queue_change``: the fall in halting vehicles over the interval (sumo-rl's
  ``diff-waiting-time`` idea on queues; positive when the queue shrinks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from signals.control.adaptive import Observation
from signals.errors import InputError


@dataclass(frozen=True)
class RewardContext:
    """What a reward may use besides the observations: movement -> signal, counts, interval."""

    mov_signal: np.ndarray  # (M,)
    n_signals: int
    delta_t_s: float

    def per_signal(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.mov_signal, weights=x, minlength=self.n_signals)


RewardFn = Callable[[Observation, Observation, RewardContext], np.ndarray]


def _queue(prev: Observation, obs: Observation, ctx: RewardContext) -> np.ndarray:
    return -ctx.per_signal(obs.queue_veh)


def _pressure(prev: Observation, obs: Observation, ctx: RewardContext) -> np.ndarray:
    down = obs.down_approach_veh if obs.down_approach_veh is not None else 0.0
    return -np.abs(ctx.per_signal(obs.approach_veh - down))


def _waiting_time(prev: Observation, obs: Observation, ctx: RewardContext) -> np.ndarray:
    return -0.5 * (ctx.per_signal(prev.queue_veh) + ctx.per_signal(obs.queue_veh)) * ctx.delta_t_s


def _queue_change(prev: Observation, obs: Observation, ctx: RewardContext) -> np.ndarray:
    return ctx.per_signal(prev.queue_veh) - ctx.per_signal(obs.queue_veh)


REWARDS: dict[str, RewardFn] = {
    "queue": _queue,
    "pressure": _pressure,
    "waiting_time": _waiting_time,
    "queue_change": _queue_change,
}


def register_reward(name: str, fn: RewardFn) -> None:
    """Make ``fn`` available as ``reward = "name"`` in environments and training configs."""
    REWARDS[name] = fn


def get_reward(name: str, file=None) -> RewardFn:
    try:
        return REWARDS[name]
    except KeyError:
        raise InputError(
            file, "reward", "one of " + ", ".join(sorted(REWARDS)), repr(name)
        ) from None
