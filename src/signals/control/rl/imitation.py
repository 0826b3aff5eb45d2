"""Imitation learning of a rule-based expert: DAgger (Ross, Gordon & Bagnell 2011, "A reduction
of imitation learning and structured prediction to no-regret online learning", AISTATS) into
the parameter-shared policy the RL trainer uses.

Why: PPO from scratch on the queue model learns slowly at 448 signals and never sees SUMO's
gridlock; our own actuated control (:class:`signals.control.adaptive.Actuated`) already beats
SUMO's actuated control by a wide margin (``signals bench adaptive``). Cloning it gives a
policy that starts from a strong controller (the "warm start" of DQfD, Hester et al. 2018, and of
most RL-for-signals work that beats its baselines), on the same observation layout, action
space and closed loop as every other policy -- so it runs through ``signals evaluate --policy``
and ``signals bench policy`` unchanged, and can be fine-tuned further with PPO.

The procedure (``[imitation]`` of a ``signals train`` config, :class:`ImitationConfig`):

1. round 0: the expert drives the backend (SUMO or the queue model) through one episode per
   training demand; at every decision each signal's feature vector
   (:class:`~signals.control.rl.features.StageFeatures`) is recorded with the stage the expert
   asks for (a share ``keep`` of the (signal, decision) pairs, drawn at random);
2. the policy's actor is fitted to all pairs recorded so far by masked cross-entropy (stage
   slots a signal does not have are never a target and never chosen);
3. rounds 1..n: the episode is driven by a mixture -- each signal at each decision follows the
   expert with probability ``beta_decay ** round``, otherwise the current policy -- while the
   expert keeps observing and labels every state the mixture reaches (the states the policy
   itself visits, which plain behaviour cloning never trains on); then step 2 again.

The expert runs in shadow: it sees every observation, including the stage the loop actually
shows, so its timers (gaps, max-outs, calls) follow what was played. The loop inserts change
intervals and holds min green for every action, expert or policy, so nothing here can show an
unchecked state.

Core module apart from torch / stable-baselines3 (imported where used); no traci import (the
SUMO backend is created by :func:`signals.control.rl.env.make_backend`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from signals.errors import InputError

EXPERTS = {"actuated_det": "detectors", "actuated_cv": "cv", "actuated_det_cv": "both"}


@dataclass(frozen=True)
class ImitationConfig:
    """``[imitation]`` of a training config (empty ``expert``: no imitation, plain RL).

    Attributes:
        expert: the rule to imitate, one of :data:`EXPERTS` (our actuated control on its inputs).
        timing: :class:`~signals.control.adaptive.ActuatedTiming` fields of the expert.
        penetration: connected-vehicle penetration the expert's CV inputs assume.
        routes_seeds: demand seeds, one training episode each per round (the config's
            ``routes_seed`` when empty); never evaluation seeds.
        rounds: DAgger rounds after the expert's own (0: behaviour cloning only).
        beta_decay: round i follows the expert with probability ``beta_decay ** i``.
        keep: share of (signal, decision) samples recorded.
        epochs, batch_size, learning_rate: the supervised fit (Adam) after each round.
        jobs: episodes run at a time (processes; libsumo holds one simulation per process).
    """

    expert: str = ""
    timing: dict[str, float | bool | str | None] = field(default_factory=dict)
    penetration: float = 1.0
    routes_seeds: list[int] = field(default_factory=list)
    rounds: int = 2
    beta_decay: float = 0.5
    keep: float = 0.25
    epochs: int = 4
    batch_size: int = 4096
    learning_rate: float = 1e-3
    jobs: int = 2

    @property
    def enabled(self) -> bool:
        return bool(self.expert)

    def check(self, file=None) -> None:
        if not self.enabled:
            return
        if self.expert not in EXPERTS:
            raise InputError(file, "imitation.expert", " | ".join(EXPERTS), repr(self.expert))
        try:
            self.expert_timing()
        except TypeError as exc:
            raise InputError(file, "imitation.timing", "ActuatedTiming fields", str(exc)) from None
        if not 0.0 < self.penetration <= 1.0:
            raise InputError(file, "imitation.penetration", "a rate in (0, 1]", self.penetration)
        for name in ("epochs", "batch_size", "jobs"):
            if getattr(self, name) < 1:
                raise InputError(file, f"imitation.{name}", "an integer >= 1", getattr(self, name))
        if self.rounds < 0:
            raise InputError(file, "imitation.rounds", "an integer >= 0", self.rounds)
        for name in ("beta_decay", "keep"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise InputError(file, f"imitation.{name}", "a share in (0, 1]", v)
        if not self.learning_rate > 0:
            raise InputError(file, "imitation.learning_rate", "a positive rate", self.learning_rate)

    def expert_timing(self):
        from signals.control.adaptive import ActuatedTiming

        t = ActuatedTiming(**self.timing)
        t.check()
        return t

    def make_expert(self):
        from signals.control.adaptive import Actuated

        return Actuated(EXPERTS[self.expert], self.expert_timing(), penetration=self.penetration)

    def beta(self, round_i: int) -> float:
        return 1.0 if round_i == 0 else self.beta_decay**round_i


# ----------------------------------------------------------------------------- one episode
def rollout(spec: dict) -> dict:
    """One episode (a child process for the SUMO backend): the expert in shadow, a mixture of
    expert and policy acting. ``spec``: net, routes, env / obs / imitation (asdict), seed,
    beta, policy (a directory or None), samples (an .npz path to write), rng_seed.
    Returns the episode's figures; the samples go to ``spec["samples"]``."""
    from signals.control.rl.env import EnvConfig, make_backend
    from signals.control.rl.features import ObsSpec, StageFeatures
    from signals.control.rl.policy import masked_scores

    env = EnvConfig(**(spec["env"] | {"seeds": tuple(spec["env"].get("seeds", ()))}))
    obs_spec = ObsSpec(**spec["obs"])
    ic = ImitationConfig(**spec["imitation"])
    expert = ic.make_expert()
    routes = spec["routes"]
    backend = make_backend(spec["net"], routes, env, needs=obs_spec.needs | expert.needs)
    network, stages = backend.network, backend.program.stages
    feats = StageFeatures(stages, obs_spec, network.signal_ids)
    rng = np.random.default_rng(int(spec["rng_seed"]))
    beta = float(spec["beta"])
    model = None
    if spec.get("policy") and beta < 1.0:
        import torch

        from signals.control.rl.policy import MODEL_FILE, algo_class

        # one thread: the actor is a small MLP and the episodes run one per core
        # (more threads oversubscribe the cores: measured ~2x slower episodes)
        torch.set_num_threads(1)
        model = algo_class("ppo").load(str(Path(spec["policy"]) / MODEL_FILE), device="cpu")
    obs = backend.reset(int(spec["seed"]))
    expert.reset(network, stages, np.random.default_rng(int(spec["seed"])))
    S = network.n_signals
    steps = 0
    xs, ys, ms = [], [], []
    agree = n_pol = switch_agree = n_switch = 0
    while not backend.done:
        a_exp = np.asarray(expert.act(obs), dtype=np.int64)
        x = feats(obs)
        rec = rng.random(S) < ic.keep
        xs.append(x[rec])
        ys.append(a_exp[rec])
        ms.append(feats.mask[rec])
        a = a_exp
        if model is not None:
            a_pol = np.argmax(masked_scores(model, x, feats.mask), axis=1)
            live = ~np.asarray(obs.in_change, dtype=bool)  # requests in a change are ignored
            agree += int((a_pol == a_exp)[live].sum())
            n_pol += int(live.sum())
            sw = live & (a_exp != np.asarray(obs.stage))
            switch_agree += int((a_pol == a_exp)[sw].sum())
            n_switch += int(sw.sum())
            a = np.where(rng.random(S) < beta, a_exp, a_pol)
        obs = backend.step(a)
        steps += S
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    np.savez(
        spec["samples"],
        x=np.concatenate(xs).astype(np.float32),
        y=np.concatenate(ys).astype(np.int16),
        mask=np.concatenate(ms),
    )
    out = {
        "seed": int(spec["seed"]),
        "routes": Path(str(routes if isinstance(routes, (str, Path)) else routes[0])).name,
        "beta": beta,
        "agent_steps": steps,
        "samples": int(sum(len(y) for y in ys)),
        # the policy's agreement with the expert on the states this episode reached (live
        # decisions), and on the decisions where the expert changes stage
        "agreement": round(agree / n_pol, 4) if n_pol else None,
        "agreement_on_changes": round(switch_agree / n_switch, 4) if n_switch else None,
        # the trivial baseline: the share of those decisions where the expert holds its stage
        "expert_holds": round(1.0 - n_switch / n_pol, 4) if n_pol else None,
    }
    for k in ("arrived", "teleports"):  # the SUMO backend's counts
        if hasattr(backend, k):
            out[k] = int(getattr(backend, k))
    return out


# ----------------------------------------------------------------------------- the fit
def fit_actor(model, x: np.ndarray, y: np.ndarray, mask: np.ndarray, ic: ImitationConfig, seed=0):
    """Fit an SB3 actor-critic policy's action logits to expert actions by masked
    cross-entropy (invalid stage slots at -inf). Returns the last epoch's mean loss and the
    training accuracy."""
    import torch

    pol = model.policy
    g = torch.Generator().manual_seed(int(seed))
    X = torch.as_tensor(x, dtype=torch.float32)
    Y = torch.as_tensor(y.astype(np.int64))
    Mk = torch.as_tensor(mask, dtype=torch.bool)
    opt = torch.optim.Adam(pol.parameters(), lr=ic.learning_rate)
    pol.set_training_mode(True)
    n = len(Y)
    loss_sum = correct = 0.0
    for _ in range(ic.epochs):
        perm = torch.randperm(n, generator=g)
        loss_sum = correct = 0.0
        for i in range(0, n, ic.batch_size):
            b = perm[i : i + ic.batch_size]
            latent = pol.mlp_extractor.forward_actor(pol.features_extractor(X[b]))
            logits = pol.action_net(latent).masked_fill(~Mk[b], -1e9)
            loss = torch.nn.functional.cross_entropy(logits, Y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(b)
            correct += float((logits.argmax(dim=1) == Y[b]).sum())
    pol.set_training_mode(False)
    return {"loss": round(loss_sum / max(n, 1), 5), "train_accuracy": round(correct / max(n, 1), 4)}


def _spaces_env(dim: int, k_cap: int):
    """A stand-in environment with the policy's spaces (SB3 builds a policy from spaces)."""
    import gymnasium as gym
    from gymnasium import spaces

    from signals.control.rl.features import OBS_HIGH, OBS_LOW

    class Spaces(gym.Env):
        observation_space = spaces.Box(OBS_LOW, OBS_HIGH, shape=(dim,), dtype=np.float32)
        action_space = spaces.Discrete(k_cap)

        def reset(self, *, seed=None, options=None):  # pragma: no cover - never stepped
            super().reset(seed=seed)
            return np.zeros(dim, dtype=np.float32), {}

        def step(self, action):  # pragma: no cover - never stepped
            return np.zeros(dim, dtype=np.float32), 0.0, True, False, {}

    return Spaces()


def imitate(cfg, net: Path, routes_by_seed: dict[int, list[Path]], out: Path, progress=print):
    """DAgger (module docstring) for a :class:`~signals.control.rl.train.TrainConfig` with an
    ``[imitation]`` table; writes ``model.zip`` to ``out`` and returns the per-round record."""
    import concurrent.futures as cf
    import multiprocessing as mp

    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from signals.control.rl.policy import MODEL_FILE

    ic: ImitationConfig = cfg.imitation  # TrainConfig.check requires algo "ppo" here
    torch.manual_seed(cfg.algo.seed)
    env = _spaces_env(cfg.obs.dim, cfg.obs.k_cap)
    model = PPO("MlpPolicy", DummyVecEnv([lambda: env]), verbose=0, **cfg.algo.sb3_kwargs())
    samples = out / "imitation"
    samples.mkdir(parents=True, exist_ok=True)
    record = []
    data: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    ctx = mp.get_context("spawn")
    seeds = sorted(routes_by_seed)
    for r in range(ic.rounds + 1):
        beta = ic.beta(r)
        specs = [
            {
                "net": str(net),
                "routes": [str(p) for p in routes_by_seed[s]],
                "env": asdict(cfg.env),
                "obs": asdict(cfg.obs),
                "imitation": asdict(ic),
                "seed": int(cfg.env.seeds[(r * len(seeds) + i) % len(cfg.env.seeds)])
                if cfg.env.seeds
                else r,
                "beta": beta,
                "policy": str(out) if r > 0 else None,
                "samples": str(samples / f"round{r}_routes{s}.npz"),
                "rng_seed": 1000 * r + s,
            }
            for i, s in enumerate(seeds)
        ]
        with cf.ProcessPoolExecutor(max_workers=min(ic.jobs, len(specs)), mp_context=ctx) as ex:
            episodes = list(ex.map(rollout, specs))
        for sp in specs:
            z = np.load(sp["samples"])
            data.append((z["x"], z["y"], z["mask"]))
        x = np.concatenate([d[0] for d in data])
        y = np.concatenate([d[1] for d in data])
        m = np.concatenate([d[2] for d in data])
        fit = fit_actor(model, x, y, m, ic, seed=cfg.algo.seed + r)
        model.save(str(out / MODEL_FILE))
        row = {"round": r, "beta": round(beta, 4), "episodes": episodes, "n_samples": len(y), **fit}
        record.append(row)
        progress(
            f"imitation: round {r} (beta {beta:.3g}): {len(y)} samples, fit accuracy "
            f"{fit['train_accuracy']:.3f}; policy agreement on the episodes "
            + ", ".join(
                f"{e['agreement']} ({e['agreement_on_changes']} on changes)" for e in episodes
            )
        )
    return model, record
