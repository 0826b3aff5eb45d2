"""A trained policy as an online controller: runs in the SUMO loop and on the queue model.

A policy directory (``policies/NAME/`` or a training run's output) holds ``model.zip``
(stable-baselines3) and ``card.json`` (how it was trained: the observation layout, the
environment settings, the scenario and seeds, the wall time, its evaluation). Loading it gives a
:class:`PolicyController`, a :class:`~signals.control.adaptive.Controller` like max-pressure: the
loop inserts the change intervals and checks every state, so a policy can only choose among the
gate-checked stages.

Action masking at inference: a stage slot a signal does not have is never chosen (the policy's
preferences over the valid slots only: PPO's logits, DQN's Q-values).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from signals.control.adaptive import Controller, Observation
from signals.control.rl.features import ObsSpec, StageFeatures
from signals.errors import InputError, require_file

MODEL_FILE = "model.zip"
CARD_FILE = "card.json"
# maskable_ppo: sb3-contrib's MaskablePPO (Huang & Ontanon 2022, "A closer look at invalid
# action masking in policy gradient algorithms"): PPO sampling only the stage slots a signal has
ALGOS = ("ppo", "dqn", "maskable_ppo")
ACTOR_CRITIC = ("ppo", "maskable_ppo")  # same policy network: weights move between the two


def algo_class(name: str):
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import DQN, PPO

    try:
        return {"ppo": PPO, "dqn": DQN, "maskable_ppo": MaskablePPO}[name]
    except KeyError:
        raise InputError(None, "algo", " | ".join(ALGOS), repr(name)) from None


def read_card(path: str | os.PathLike) -> dict:
    """The card of a policy directory (or of the directory holding a ``model.zip``)."""
    p = Path(path)
    card_p = require_file(p / CARD_FILE, "policy", f"a policy directory with {CARD_FILE}")
    try:
        return json.loads(card_p.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(card_p, "json", "a policy card (JSON)", str(exc)) from None


def policy_loop_config(card: dict):
    """The closed-loop settings a policy was trained with (its card's ``env``)."""
    from signals.control.rl.env import EnvConfig

    env = dict(card.get("env", {}))
    env["seeds"] = tuple(env.get("seeds", ()))
    try:
        return EnvConfig(**env).loop_config()
    except TypeError as exc:
        raise InputError(CARD_FILE, "env", "the env settings of a policy card", str(exc)) from None


def masked_scores(model, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, k_cap) the policy's preference for each action, -inf where ``mask`` is False."""
    import torch

    with torch.no_grad():
        t = torch.as_tensor(x, dtype=torch.float32)
        if hasattr(model, "q_net"):  # DQN
            s = model.q_net(t)
        else:  # actor-critic: the action distribution's logits
            s = model.policy.get_distribution(t).distribution.logits
    s = s.cpu().numpy().astype(float)
    return np.where(mask, s, -np.inf)


class PolicyController(Controller):
    """An SB3 policy over :class:`StageFeatures` (one shared policy for every signal)."""

    name = "rl_policy"

    def __init__(self, path: str | os.PathLike, deterministic: bool = True):
        self.path = Path(path)
        self.card = read_card(self.path)
        try:
            self.spec = ObsSpec(**self.card["obs_spec"])
            algo = self.card["algo"]["name"]
        except (KeyError, TypeError) as exc:
            raise InputError(
                self.path / CARD_FILE, "obs_spec/algo", "a policy card", repr(exc)
            ) from None
        model_p = require_file(self.path / MODEL_FILE, "policy", "a trained model.zip")
        self.model = algo_class(algo).load(str(model_p), device="cpu")
        self.deterministic = bool(deterministic)
        self.needs = self.spec.needs
        self.name = str(self.card.get("name", "rl_policy"))

    def reset(self, network, stages, rng=None) -> None:
        super().reset(network, stages, rng)
        self.features = StageFeatures(stages, self.spec, network.signal_ids)

    def act(self, obs: Observation) -> np.ndarray:
        x = self.features(obs)
        scores = masked_scores(self.model, x, self.features.mask)
        if self.deterministic:
            return np.argmax(scores, axis=1)
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        u = self.rng.random((len(p), 1))
        return (p.cumsum(axis=1) < u).sum(axis=1)
