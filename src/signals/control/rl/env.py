"""Gymnasium environments for signal control on SUMO and on the queue model (same spaces).

* :class:`NetworkEnv`: every signal of a network at once -- observation (S, dim), action
  ``MultiDiscrete([k_cap] * S)`` (the next stage of each signal), reward the sum of the signals'
  rewards (each signal's own in ``info["agent_rewards"]``).
* :class:`SignalEnv`: one signal as the agent (observation (dim,), ``Discrete(k_cap)``), the
  other signals run a background controller (default: their plan, fixed time, through the loop).
* :class:`SharedPolicyVecEnv`: a :class:`NetworkEnv` seen by stable-baselines3 as a ``VecEnv``
  whose sub-environments are its signals, so one parameter-shared policy is trained on all of
  them at once (each signal an agent; MPLight's parameter sharing, Chen et al. 2020).

Backends (the same three calls ``reset(seed)``, ``step(desired)``, ``observation()`` and the
same :class:`~signals.control.adaptive.Observation`): :class:`signals.evaluate.queue_loop.
QueueLoop` and :class:`signals.control.rl.sumo_backend.SumoBackend`. The loop, not the agent,
inserts yellow and all-red, holds min green, forces max green and ignores an action that names an
empty stage slot (``info["action_mask"]`` marks the valid ones); the loop's programs passed the
safety gate when they were built, so no action can make a signal show an unchecked state.

Seeds: ``reset(seed=n)`` runs demand seed ``n`` (queue model: Poisson arrivals; SUMO: ``--seed``);
``reset()`` after that draws the next demand seed from ``seeds`` (cycled) or from the
environment's generator. ``reset`` reads and writes no file (the queue backend holds everything in
memory; SUMO reloads the scenario files it was built with).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from signals.control.adaptive import Controller, PlanFollower
from signals.control.rl.features import OBS_HIGH, OBS_LOW, ObsSpec, StageFeatures
from signals.control.rl.rewards import RewardContext, get_reward
from signals.errors import InputError

PathLike = str | os.PathLike
BACKENDS = ("queue", "sumo")


@dataclass(frozen=True)
class EnvConfig:
    """Settings shared by the environments and ``signals train`` (``[env]`` of its config).

    Attributes:
        backend: ``"queue"`` (the queue model) or ``"sumo"`` (libsumo micro).
        horizon_s: episode length; begin_s: scenario time the episode starts at.
        delta_t_s: decision interval (the loop's).
        reward: a name of :data:`signals.control.rl.rewards.REWARDS`.
        reward_scale: rewards are multiplied by this (default: 1 / 20 vehicles).
        stages: stage source for signals without a plan (``"auto"``, ``"conflict"``, ``"own"``).
        cv_share: connected-vehicle penetration of the queue backend (SUMO: the routes' vTypes).
        rsu_range_m: roadside-unit detection range along each lane.
        min_green_s, max_green_s: the loop's green bounds (None: each stage's own).
        seeds: demand seeds cycled by ``reset()`` without a seed (empty: drawn at random).
    """

    backend: str = "queue"
    horizon_s: float = 900.0
    begin_s: float = 0.0
    delta_t_s: float = 5.0
    reward: str = "queue"
    reward_scale: float = 0.05
    stages: str = "auto"
    cv_share: float = 1.0
    rsu_range_m: float = 300.0
    min_green_s: float | None = None
    max_green_s: float | None = 120.0
    seeds: tuple[int, ...] = ()

    def check(self, file=None) -> None:
        if self.backend not in BACKENDS:
            raise InputError(file, "backend", " | ".join(BACKENDS), repr(self.backend))
        get_reward(self.reward, file)
        if not self.horizon_s >= self.delta_t_s:
            raise InputError(
                file, "horizon_s", f">= delta_t_s ({self.delta_t_s:g})", self.horizon_s
            )

    def loop_config(self):
        from signals.evaluate.sumo_loop import LoopConfig

        return LoopConfig(
            delta_t_s=self.delta_t_s,
            min_green_s=self.min_green_s,
            max_green_s=self.max_green_s,
            rsu_range_m=self.rsu_range_m,
            stages=self.stages,
        )


def make_backend(
    net: PathLike, routes, config: EnvConfig, plans=None, needs=frozenset(), network=None
):
    """The backend (and its loop programs) for a scenario: files are read here, once."""
    from signals.evaluate.sumo_loop import loop_stages
    from signals.network import Network

    config.check()
    network = network if network is not None else Network.from_sumo(net)
    lc = config.loop_config()
    lc.check()
    if plans is not None:
        from signals.safety import assert_safe

        assert_safe(plans, network, existing=True)
    _, program = loop_stages(network, plans, lc)
    if config.backend == "queue":
        from signals.evaluate.queue import QueueModel
        from signals.evaluate.queue_loop import QueueLoop

        end = config.begin_s + config.horizon_s
        qm = QueueModel.from_routes(
            network,
            _one_demand_file(routes),
            begin_s=config.begin_s,
            end_s=end,
            bin_s=min(900.0, config.horizon_s),
        )
        return QueueLoop(
            qm,
            program,
            lc,
            cv_share=config.cv_share,
            horizon_s=config.horizon_s,
            needs=frozenset(needs) | {"queues", "counts"},
        )
    from signals.control.rl.sumo_backend import SumoBackend

    return SumoBackend(
        net,
        routes,
        program,
        network=network,
        config=lc,
        needs=frozenset(needs) | {"queues", "counts"},
        horizon_s=config.horizon_s,
        begin_s=config.begin_s,
    )


def _one_demand_file(routes):
    """The routed demand of ``routes`` for the queue model: the one file with vehicles or flows
    (files holding only vehicle types are skipped)."""
    from signals.demand import read_routes

    if isinstance(routes, (str, os.PathLike)):
        return read_routes(routes)
    found = [r for r in map(read_routes, routes) if r.n_records]
    if len(found) != 1:
        raise InputError(
            ",".join(map(str, routes)),
            "routes",
            "one route file with vehicles (others: vehicle types only) for the queue backend",
            f"{len(found)} files with vehicles",
        )
    return found[0]


class NetworkEnv(gym.Env):
    """All signals of one simulation as one environment (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, backend, obs_spec: ObsSpec | None = None, config: EnvConfig | None = None):
        obs_spec = obs_spec or ObsSpec()
        config = config or EnvConfig()
        config.check()
        self.backend, self.obs_spec, self.config = backend, obs_spec, config
        self.network = backend.network
        self.stages = backend.program.stages
        self.features = StageFeatures(self.stages, obs_spec, self.network.signal_ids)
        self.reward_fn = get_reward(config.reward)
        self.ctx = RewardContext(
            mov_signal=np.asarray(self.network.mov_signal),
            n_signals=self.network.n_signals,
            delta_t_s=float(config.delta_t_s),
        )
        S, dim, kc = self.network.n_signals, obs_spec.dim, obs_spec.k_cap
        self.n_agents = S
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, shape=(S, dim), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete(np.full(S, kc, dtype=np.int64))
        self._obs = None
        self._seed_i = 0
        self.episode_seed: int | None = None

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            demand_seed = int(seed)
        elif self.config.seeds:
            demand_seed = int(self.config.seeds[self._seed_i % len(self.config.seeds)])
            self._seed_i += 1
        else:
            demand_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.episode_seed = demand_seed
        self._obs = self.backend.reset(demand_seed)
        return self.features(self._obs), self._info(np.zeros(self.n_agents))

    def step(self, action):
        a = np.asarray(action, dtype=np.int64).reshape(self.n_agents)
        prev = self._obs
        self._obs = self.backend.step(a)
        r = self.reward_fn(prev, self._obs, self.ctx) * self.config.reward_scale
        obs = self.features(self._obs)
        return obs, float(r.sum()), False, bool(self.backend.done), self._info(r)

    def _info(self, agent_rewards: np.ndarray) -> dict:
        return {
            "agent_rewards": agent_rewards.astype(np.float32),
            "action_mask": self.features.mask.copy(),
            "time_s": float(self._obs.time_s),
            "demand_seed": self.episode_seed,
        }

    def action_masks(self) -> np.ndarray:
        """(S, k_cap) True for the stage slots each signal has (sb3-contrib's convention)."""
        return self.features.mask.copy()

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()


class SignalEnv(gym.Env):
    """One signal as the agent; the others follow ``background`` (default: their plan)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        backend,
        signal: int | str = 0,
        obs_spec: ObsSpec | None = None,
        config: EnvConfig | None = None,
        background: Controller | None = None,
    ):
        self.inner = NetworkEnv(backend, obs_spec, config)
        obs_spec = self.inner.obs_spec
        net = self.inner.network
        self.signal = net.signal_index(signal) if isinstance(signal, str) else int(signal)
        if not 0 <= self.signal < net.n_signals:
            raise InputError(None, "signal", f"0..{net.n_signals - 1} or a signal id", signal)
        self.background = background or PlanFollower()
        dim, kc = obs_spec.dim, obs_spec.k_cap
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, shape=(dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(kc)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.inner.reset(seed=seed, options=options)
        self.background.reset(self.inner.network, self.inner.stages, np.random.default_rng(seed))
        return obs[self.signal], self._info(info)

    def step(self, action):
        desired = self.background.act(self.inner._obs)
        desired = np.asarray(desired, dtype=np.int64).copy()
        desired[self.signal] = int(action)
        obs, _, term, trunc, info = self.inner.step(desired)
        r = float(info["agent_rewards"][self.signal])
        return obs[self.signal], r, term, trunc, self._info(info)

    def _info(self, info: dict) -> dict:
        s = self.signal
        return {
            "action_mask": info["action_mask"][s],
            "time_s": info["time_s"],
            "demand_seed": info["demand_seed"],
        }

    def action_masks(self) -> np.ndarray:
        return self.inner.features.mask[self.signal].copy()

    def close(self) -> None:
        self.inner.close()


class PlanEnv(gym.Env):
    """Plan-level control: every ``period_s`` the agent sets each signal's cycle and splits for
    the next period; the plans run fixed time through the loop (:class:`PlanFollower` with 1 s
    decisions), and the plans of an episode form a time-of-day :class:`~signals.plans.Schedule`
    (:meth:`schedule`) that exports through the safety gate like any other plan.

    Action (S, k_cap + 1) in [-1, 1]: column 0 maps linearly to a cycle in
    [``cycle_min_s``, ``cycle_max_s``]; columns 1..n of a signal with n stages are split logits
    (softmax over its stages). Greens share the cycle less the stages' change intervals, each at
    least its stage's min green (HCM 6th ed. Ch. 19: green = split x (cycle - lost time)); the
    cycle then follows from the greens. Observation: the :class:`NetworkEnv` features at the
    period boundary. Reward: the per-signal rewards summed over the period's seconds.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        backend,
        obs_spec: ObsSpec | None = None,
        config: EnvConfig | None = None,
        *,
        period_s: float = 900.0,
        cycle_min_s: float = 40.0,
        cycle_max_s: float = 150.0,
    ):
        if backend.config.delta_t_s != 1:
            raise InputError(
                None, "delta_t_s", "1 s decisions for plan-level control", backend.config.delta_t_s
            )
        if not 0 < cycle_min_s <= cycle_max_s:
            raise InputError(
                None, "cycle_min_s", f"in (0, cycle_max_s={cycle_max_s:g}]", cycle_min_s
            )
        self.inner = NetworkEnv(backend, obs_spec, config)
        if not self.inner.config.horizon_s >= period_s >= 1:
            raise InputError(None, "period_s", "1 s .. horizon_s", period_s)
        self.period_s, self.cycle_min_s, self.cycle_max_s = (
            float(period_s),
            cycle_min_s,
            cycle_max_s,
        )
        st = self.inner.stages
        S, kc = st.n_signals, self.inner.obs_spec.k_cap
        self.observation_space = self.inner.observation_space
        self.action_space = spaces.Box(-1.0, 1.0, shape=(S, kc + 1), dtype=np.float32)
        self._designs = _stage_designs(self.inner.network, st)
        change = np.concatenate([d.change_s for d in self._designs])
        self._lost_s = np.bincount(st.stage_signal, weights=change, minlength=S)
        self._min_green_s = np.maximum(
            np.concatenate([d.min_green_s for d in self._designs]), st.min_green_s
        )
        self._follower = PlanFollower()
        self.plans: list = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.inner.reset(seed=seed, options=options)
        self._follower.reset(self.inner.network, self.inner.stages)
        self.plans = []
        return obs, info

    def greens_from_action(self, action) -> np.ndarray:
        """(K,) stage greens of an action (see the class docstring)."""
        st = self.inner.stages
        a = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        cycle = self.cycle_min_s + (a[:, 0] + 1.0) / 2.0 * (self.cycle_max_s - self.cycle_min_s)
        avail = np.maximum(cycle - self._lost_s, 0.0)  # (S,) green time to share
        logits = np.where(self.inner.features.mask, a[:, 1:], -np.inf)
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        split = w / w.sum(axis=1, keepdims=True)  # (S, k_cap)
        slot = np.arange(len(st.stage_signal)) - st.signal_stage_start[st.stage_signal]
        g = split[st.stage_signal, slot] * avail[st.stage_signal]
        return np.ceil(np.maximum(g, self._min_green_s) - 1e-9)  # whole seconds (1 s steps)

    def step(self, action):
        g = self.greens_from_action(action)
        self._follower.set_greens(g)
        self.plans.append(self._planset(g))
        env = self.inner
        t_end = min(env.backend.time_s + self.period_s, env.config.horizon_s)
        total = np.zeros(env.n_agents)
        obs = info = None
        trunc = False
        while env.backend.time_s < t_end - 1e-9:
            obs, _, _, trunc, info = env.step(self._follower.act(env._obs))
            total += info["agent_rewards"]
            if trunc:
                break
        info = dict(info, agent_rewards=total.astype(np.float32))
        return obs, float(total.sum()), False, bool(trunc), info

    def _planset(self, green_s: np.ndarray):
        from signals.plans import PlanSet

        st = self.inner.stages
        out = {}
        for s, d in enumerate(self._designs):
            k0, k1 = int(st.signal_stage_start[s]), int(st.signal_stage_start[s + 1])
            out[d.plan.signal_id] = d.plan.retimed(green_s[k0:k1])
        return PlanSet(out)

    def schedule(self):
        """The plans of the episode so far as a time-of-day Schedule (period i from
        ``begin_s + i * period_s``), ready for :func:`signals.export.export`."""
        from signals.plans import Schedule

        b0 = self.inner.config.begin_s
        return Schedule(
            {
                f"rl_{i:02d}": (b0 + i * self.period_s, b0 + (i + 1) * self.period_s, p)
                for i, p in enumerate(self.plans)
            }
        )

    def close(self) -> None:
        self.inner.close()


def _stage_designs(network, stages) -> list:
    """Per signal, its stages with the ITE change intervals and minimum greens (pedestrian walk
    and clearance included) every cycle-and-split design works on
    (:func:`signals.control.fixed_time.stage_design`)."""
    from signals.control.fixed_time import WebsterConfig, stage_design
    from signals.plans import SignalPlan

    cfg = WebsterConfig(drop_unwarranted_lefts=False)  # the stages as the loop has them
    out = []
    for s, sid in enumerate(network.signal_ids):
        k0, k1 = int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1])
        phases = stages.stage_phase[k0:k1]
        tpl = SignalPlan(sid, sum(p.total_s for p in phases), 0.0, phases)
        out.append(stage_design(network, tpl, None, cfg))
    return out


def _files(net, routes):
    if net is None or routes is None:
        raise InputError(None, "net/routes", "a .net.xml and a routes file", "none")
    return Path(net), routes


def make_network_env(
    net: PathLike | None = None,
    routes=None,
    obs_spec: ObsSpec | None = None,
    plans=None,
    network=None,
    **config,
) -> NetworkEnv:
    """Entry point of ``signals/QueueNetwork-v0`` and ``signals/SumoNetwork-v0``: keyword
    arguments are :class:`EnvConfig` and :class:`ObsSpec` fields (``network``: the net's
    :class:`Network` when the caller has read it already)."""
    spec_fields = set(ObsSpec.__dataclass_fields__)
    spec_kw = {k: config.pop(k) for k in list(config) if k in spec_fields}
    spec = obs_spec or ObsSpec(**spec_kw)
    if "seeds" in config:
        config["seeds"] = tuple(config["seeds"])
    cfg = EnvConfig(**config)
    net, routes = _files(net, routes)
    backend = make_backend(net, routes, cfg, plans, spec.needs, network)
    return NetworkEnv(backend, spec, cfg)


def make_signal_env(
    net: PathLike | None = None,
    routes=None,
    signal: int | str = 0,
    obs_spec: ObsSpec | None = None,
    plans=None,
    background: Controller | None = None,
    **config,
) -> SignalEnv:
    """Entry point of ``signals/QueueSignal-v0`` and ``signals/SumoSignal-v0``."""
    env = make_network_env(net, routes, obs_spec, plans, **config)
    return SignalEnv(env.backend, signal, env.obs_spec, env.config, background)


# ============================================================================ SB3 VecEnv
def _vec_env_base():
    from stable_baselines3.common.vec_env import VecEnv

    return VecEnv


class SharedPolicyVecEnv(_vec_env_base()):
    """A :class:`NetworkEnv` as an SB3 ``VecEnv`` with one sub-environment per signal.

    ``step_async(actions)`` takes one action per signal; all signals act at the same decision
    instant of the one simulation, and all are done together at the horizon (a time limit:
    ``TimeLimit.truncated`` and ``terminal_observation`` in each info, then an automatic reset,
    SB3's convention).
    """

    def __init__(self, env: NetworkEnv):
        self.env = env
        kc, dim = env.obs_spec.k_cap, env.obs_spec.dim
        super().__init__(
            env.n_agents,
            spaces.Box(OBS_LOW, OBS_HIGH, shape=(dim,), dtype=np.float32),
            spaces.Discrete(kc),
        )
        self._actions = None
        self._seed: int | None = None
        self.episode_returns = np.zeros(env.n_agents)
        self.episode_len = 0

    def reset(self):
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        self.episode_returns[:] = 0.0
        self.episode_len = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        obs, _, term, trunc, info = self.env.step(self._actions)
        rew = info["agent_rewards"].astype(np.float32)
        self.episode_returns += rew
        self.episode_len += 1
        done = bool(term or trunc)
        infos = [{} for _ in range(self.num_envs)]
        if done:
            for i in range(self.num_envs):
                infos[i] = {
                    "terminal_observation": obs[i],
                    "TimeLimit.truncated": bool(trunc and not term),
                    "episode": {"r": float(self.episode_returns[i]), "l": self.episode_len},
                }
            obs = self.reset()
        return obs, rew, np.full(self.num_envs, done), infos

    def action_masks(self) -> np.ndarray:
        return self.env.action_masks()

    def close(self) -> None:
        self.env.close()

    def seed(self, seed: int | None = None):
        self._seed = seed
        return [seed] * self.num_envs

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name, value, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        out = getattr(self.env, method_name)(*args, **kwargs)
        if method_name == "action_masks":  # one row per signal (sb3-contrib's MaskablePPO)
            return [out[i] for i in self._indices(indices)]
        return [out] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [isinstance(self.env, wrapper_class)] * len(self._indices(indices))

    def _indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices


def make_plan_env(
    net: PathLike | None = None,
    routes=None,
    obs_spec: ObsSpec | None = None,
    plans=None,
    period_s: float = 900.0,
    cycle_min_s: float = 40.0,
    cycle_max_s: float = 150.0,
    **config,
) -> PlanEnv:
    """Entry point of ``signals/QueuePlan-v0`` and ``signals/SumoPlan-v0`` (1 s decisions).

    Without ``plans`` the loop runs the stage templates with the ITE change intervals the
    exported plans will have (:func:`_stage_designs`), so what ran is what exports."""
    config["delta_t_s"] = 1.0
    network = None
    if plans is None:
        from signals.control.adaptive import Stages
        from signals.control.stage_sets import stage_templates
        from signals.network import Network
        from signals.plans import PlanSet

        net_, _ = _files(net, routes)
        network = Network.from_sumo(net_)
        tpl = stage_templates(network, config.get("stages", "auto")).plans
        designs = _stage_designs(network, Stages.from_plans(network, tpl))
        plans = PlanSet({d.plan.signal_id: d.plan for d in designs})
    env = make_network_env(net, routes, obs_spec, plans, network=network, **config)
    return PlanEnv(
        env.backend,
        env.obs_spec,
        env.config,
        period_s=period_s,
        cycle_min_s=cycle_min_s,
        cycle_max_s=cycle_max_s,
    )
