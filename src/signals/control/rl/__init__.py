"""Reinforcement learning for signal control (issue 12): environments, rewards, training, policies.

Importing this package registers the environments with gymnasium (versioned ids)::

    import gymnasium as gym
    import signals.control.rl  # noqa: F401
    env = gym.make("signals/QueueNetwork-v0", net="x.net.xml", routes="x.rou.xml", horizon_s=900)

=========================  ===================================================================
``signals/QueueNetwork-v0``  every signal, queue-model backend (:class:`env.NetworkEnv`)
``signals/SumoNetwork-v0``   every signal, SUMO (libsumo) backend
``signals/QueueSignal-v0``   one signal as the agent, the others on their plan (:class:`env.SignalEnv`)
``signals/SumoSignal-v0``    the same on SUMO
``signals/QueuePlan-v0``     plan level: cycle and splits of every signal once per period
                             (:class:`env.PlanEnv`); the episode's plans export as a schedule
``signals/SumoPlan-v0``      the same on SUMO
=========================  ===================================================================

The queue and SUMO forms have the same observation and action spaces for the same network and
settings, so a policy trained on one runs on the other.
"""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = {
    "signals/QueueNetwork-v0": ("make_network_env", "queue"),
    "signals/SumoNetwork-v0": ("make_network_env", "sumo"),
    "signals/QueueSignal-v0": ("make_signal_env", "queue"),
    "signals/SumoSignal-v0": ("make_signal_env", "sumo"),
    "signals/QueuePlan-v0": ("make_plan_env", "queue"),
    "signals/SumoPlan-v0": ("make_plan_env", "sumo"),
}

for _id, (_fn, _backend) in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(
            id=_id,
            entry_point=f"signals.control.rl.env:{_fn}",
            kwargs={"backend": _backend},
            disable_env_checker=True,  # tests run gymnasium's full check_env instead
        )
