"""``signals train CONFIG``: train a parameter-shared signal policy with stable-baselines3.

Config (TOML, typed, unknown keys rejected; paths relative to the config file)::

    name = "single-ppo"
    routes_seed = 7                 # demand seed of generated routes (not an episode seed)
    [network]                       # as in experiment configs: recipe = "..." or path = "..."
    path = "../networks/test/single.net.xml"
    [scenario]                      # as one [[scenarios]] table of an experiment config
    name = "am_peak"
    veh_per_hour = 900
    [env]                           # signals.control.rl.env.EnvConfig
    backend = "queue"
    horizon_s = 900
    seeds = [1, 2, 3]               # training demand seeds (never the evaluation seeds)
    [obs]                           # signals.control.rl.features.ObsSpec
    sensing = "detectors"
    [algo]                          # AlgoConfig: ppo | dqn and their main hyperparameters
    name = "ppo"
    total_steps = 20000
    [imitation]                     # optional: DAgger from our actuated control instead of RL
    expert = "actuated_det"         # (signals.control.rl.imitation.ImitationConfig)

Output directory (as RL Zoo keeps it): ``model.zip``, ``card.json`` (the resolved config, the
scenario's digests, seeds, library versions, training wall time), ``config.toml`` (a copy of
the config as given), ``checkpoints/`` (every ``checkpoint_every`` steps, with ``--resume``
continuing from the newest), ``logs/`` (SB3's CSV log and TensorBoard event files).

Every signal of the network is one agent of one shared policy
(:class:`~signals.control.rl.env.SharedPolicyVecEnv`): ``total_steps`` counts agent steps,
i.e. decisions x signals, as SB3 counts steps over sub-environments.

With an ``[imitation]`` table the policy is fitted by DAgger to an expert controller
(:mod:`signals.control.rl.imitation`) instead of PPO's own updates: ``algo`` then gives the
network and its seed, ``total_steps`` is not used, and the card records every round (samples,
fit accuracy, the policy's agreement with the expert on the states it reached).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from signals.config import load_typed, read_toml
from signals.control.rl.env import EnvConfig, NetworkEnv, SharedPolicyVecEnv, make_backend
from signals.control.rl.features import ObsSpec
from signals.control.rl.imitation import ImitationConfig
from signals.control.rl.policy import (
    ACTOR_CRITIC,
    ALGOS,
    CARD_FILE,
    MODEL_FILE,
    algo_class,
    read_card,
)
from signals.errors import InputError
from signals.experiment import (
    Experiment,
    NetworkSpec,
    Scenario,
    SimSpec,
    check_name,
    make_route_files,
    package_versions,
    resolve_network,
)


@dataclass(frozen=True)
class AlgoConfig:
    """The learner and its main hyperparameters (SB3 names; defaults are SB3's own except
    where noted). PPO: Schulman et al. 2017; DQN: Mnih et al. 2015."""

    name: str = "ppo"
    total_steps: int = 20_000
    seed: int = 0
    learning_rate: float = 3e-4
    gamma: float = 0.99
    batch_size: int = 64
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    # PPO
    n_steps: int = 128  # per sub-environment (signal) per update; SB3's default is 2048
    n_epochs: int = 10
    ent_coef: float = 0.0
    clip_range: float = 0.2
    gae_lambda: float = 0.95
    # DQN
    buffer_size: int = 50_000
    learning_starts: int = 1_000
    exploration_fraction: float = 0.2
    exploration_final_eps: float = 0.05
    train_freq: int = 4
    target_update_interval: int = 1_000
    # torch CPU threads (the policy is a small MLP: more threads only compete with the env)
    torch_threads: int = 1
    # fine-tuning: start from this policy directory's weights (same observation layout and
    # network; e.g. a DAgger policy), training only the critic for the first
    # critic_warmup_steps agent steps (the copied actor is kept while the value function,
    # which imitation never trained, learns the returns: Rajeswaran et al. 2018, DAPG, and
    # the usual warm start of PPO from behaviour cloning)
    init_from: str = ""
    critic_warmup_steps: int = 0

    def check(self, file) -> None:
        if self.name not in ALGOS:
            raise InputError(file, "algo.name", " | ".join(ALGOS), repr(self.name))
        for k in (
            "total_steps",
            "batch_size",
            "n_steps",
            "n_epochs",
            "buffer_size",
            "train_freq",
            "torch_threads",
        ):
            if getattr(self, k) < 1:
                raise InputError(file, f"algo.{k}", "an integer >= 1", getattr(self, k))
        if not 0 < self.gamma <= 1:
            raise InputError(file, "algo.gamma", "a discount in (0, 1]", self.gamma)
        if not self.learning_rate > 0:
            raise InputError(file, "algo.learning_rate", "a positive rate", self.learning_rate)
        if not self.net_arch or min(self.net_arch) < 1:
            raise InputError(file, "algo.net_arch", "layer sizes >= 1", self.net_arch)
        if self.init_from and self.name not in ACTOR_CRITIC:
            raise InputError(
                file, "algo.name", " | ".join(ACTOR_CRITIC) + " with init_from", repr(self.name)
            )
        if self.critic_warmup_steps < 0:
            raise InputError(
                file, "algo.critic_warmup_steps", "an integer >= 0", self.critic_warmup_steps
            )

    def sb3_kwargs(self) -> dict:
        common = {
            "learning_rate": self.learning_rate,
            "gamma": self.gamma,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "policy_kwargs": {"net_arch": list(self.net_arch)},
            "device": "cpu",
        }
        if self.name in ACTOR_CRITIC:
            return common | {
                "n_steps": self.n_steps,
                "n_epochs": self.n_epochs,
                "ent_coef": self.ent_coef,
                "clip_range": self.clip_range,
                "gae_lambda": self.gae_lambda,
            }
        return common | {
            "buffer_size": self.buffer_size,
            "learning_starts": self.learning_starts,
            "exploration_fraction": self.exploration_fraction,
            "exploration_final_eps": self.exploration_final_eps,
            "train_freq": self.train_freq,
            "target_update_interval": self.target_update_interval,
        }


@dataclass(frozen=True)
class OutputConfig:
    checkpoint_every: int = 0  # agent steps between checkpoints (0: only the final model)

    def check(self, file) -> None:
        if self.checkpoint_every < 0:
            raise InputError(
                file, "output.checkpoint_every", "an integer >= 0", self.checkpoint_every
            )


@dataclass(frozen=True)
class TrainConfig:
    name: str
    network: NetworkSpec
    scenario: Scenario
    env: EnvConfig = field(default_factory=EnvConfig)
    obs: ObsSpec = field(default_factory=ObsSpec)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    routes_seed: int = 1
    description: str = ""

    def check(self, file) -> None:
        check_name(file, "name", self.name)
        self.imitation.check(file)
        if self.imitation.enabled and self.algo.name != "ppo":
            raise InputError(
                file, "algo.name", '"ppo" with [imitation] (an actor to fit)', repr(self.algo.name)
            )

    @property
    def routes_seeds(self) -> list[int]:
        """The demand seeds training episodes are routed with."""
        return list(self.imitation.routes_seeds or [self.routes_seed])


def load_train_config(path: str | Path) -> TrainConfig:
    """The config at ``path``, with ``algo.init_from`` resolved against the config's folder."""
    cfg = load_typed(TrainConfig, read_toml(path), path)
    if cfg.algo.init_from:
        init = (Path(path).parent / cfg.algo.init_from).resolve()
        cfg = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, init_from=str(init)))
    return cfg


def init_weights(model, cfg: TrainConfig, file=None) -> dict:
    """Copy the weights of the policy directory ``cfg.algo.init_from`` into ``model`` (an
    actor-critic of the same layout). The observation layout must be the policy's own; a
    mismatch is one line. Returns what the card records of the start."""
    src = Path(cfg.algo.init_from)
    card = read_card(src)
    if card.get("obs_spec") != json.loads(json.dumps(dataclasses.asdict(cfg.obs))):
        raise InputError(file, "obs", f"the observation layout of {src}", "a different [obs] table")
    algo = card.get("algo", {}).get("name")
    if algo not in ACTOR_CRITIC:
        raise InputError(src / CARD_FILE, "algo.name", " | ".join(ACTOR_CRITIC), repr(algo))
    init = algo_class(algo).load(str(src / MODEL_FILE), device="cpu")
    theirs, ours = init.policy.state_dict(), model.policy.state_dict()
    shapes = {k: tuple(v.shape) for k, v in theirs.items()}
    if shapes != {k: tuple(v.shape) for k, v in ours.items()}:
        raise InputError(file, "algo.net_arch", f"the network of {src}", cfg.algo.net_arch)
    model.policy.load_state_dict(theirs)
    from signals.digests import sha256_file

    seeds = set(card.get("routes_seeds", [])) | {card.get("routes_seed")}
    return {
        "path": os.path.relpath(src),
        "name": card.get("name"),
        "model_sha256": sha256_file(src / MODEL_FILE),
        "git_revision": card.get("git_revision"),
        "routes_seeds": sorted(s for s in seeds if s is not None),
        "training_seeds": card.get("training_seeds", []),
    }


def _critic_warmup(until_steps: int):
    """A callback that trains only the critic on the rollouts collected before
    ``until_steps`` agent steps: the actor's parameters take no gradient there (Adam skips
    parameters without one), then all train."""
    from stable_baselines3.common.callbacks import BaseCallback

    class CriticWarmup(BaseCallback):
        def _set(self, train_actor: bool) -> None:
            pol = self.model.policy
            for mod in (pol.mlp_extractor.policy_net, pol.action_net):
                for p in mod.parameters():
                    p.requires_grad_(train_actor)

        def _on_rollout_end(self) -> None:  # runs just before the update on that rollout
            self._set(self.num_timesteps > until_steps)

        def _on_training_end(self) -> None:
            self._set(True)

        def _on_step(self) -> bool:
            return True

    return CriticWarmup()


def scenario_files(
    cfg: TrainConfig, config_path: Path, work_dir: Path, routes_seed: int | None = None
) -> tuple[Path, list[Path]]:
    """The net and route files of the config (recipes built, demand generated, once), routed
    with ``routes_seed`` (default: the config's)."""
    exp = Experiment(
        name=cfg.name,
        network=cfg.network,
        scenarios=[cfg.scenario],
        sim=SimSpec(begin_s=cfg.env.begin_s, end_s=cfg.env.begin_s + cfg.env.horizon_s),
    )
    net = resolve_network(exp, config_path, work_dir / "networks")
    seed = cfg.routes_seed if routes_seed is None else int(routes_seed)
    routes = make_route_files(exp, cfg.scenario, seed, net, config_path, work_dir)
    return net, routes


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    best, best_n = None, -1
    for p in ckpt_dir.glob("model_*_steps.zip"):
        m = re.fullmatch(r"model_(\d+)_steps\.zip", p.name)
        if m and int(m.group(1)) > best_n:
            best, best_n = p, int(m.group(1))
    return best


def _progress_lines(total: int):
    """A callback printing one plain line per tenth of the run (logs, CI: no terminal bar)."""
    import sys

    from stable_baselines3.common.callbacks import BaseCallback

    class Lines(BaseCallback):
        def _on_training_start(self) -> None:
            self._t0 = time.perf_counter()
            self._start = self.num_timesteps
            self._next = 0.1

        def _on_step(self) -> bool:
            f = (self.num_timesteps - self._start) / max(total, 1)
            if f >= self._next:
                el = time.perf_counter() - self._t0
                eta = el * (1 - f) / max(f, 1e-9)
                print(
                    f"train: {self.num_timesteps} agent steps ({100 * f:.0f} %), "
                    f"{el:.0f} s elapsed, ETA {eta:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                self._next += 0.1
            return True

    return Lines()


def train(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: str = "bar",
    total_steps: int | None = None,
) -> Path:
    """Train from a config; returns the output directory (see the module docstring).

    ``progress``: ``"bar"`` (a terminal progress bar, tqdm/rich), ``"lines"`` (a plain line per
    tenth of the run on stderr) or ``"off"``."""
    t0 = time.perf_counter()
    config_path = Path(config_path)
    cfg = load_train_config(config_path)
    out = Path(out_dir)
    if (
        resume
        and _latest_checkpoint(out / "checkpoints") is None
        and not (out / MODEL_FILE).is_file()
    ):
        raise InputError(out, "checkpoints", "a run to resume (checkpoints/ or model.zip)", "none")
    if cfg.algo.init_from:
        read_card(cfg.algo.init_from)  # a missing policy is one line before anything is built
    out.mkdir(parents=True, exist_ok=True)
    if cfg.imitation.enabled:
        by_seed = {}
        for seed in cfg.routes_seeds:
            net, by_seed[seed] = scenario_files(cfg, config_path, out / "inputs", seed)
        imitate_on(cfg, net, by_seed, out, t0=t0)
    else:
        net, routes = scenario_files(cfg, config_path, out / "inputs")
        train_on(
            cfg, net, routes, out, resume=resume, progress=progress, total_steps=total_steps, t0=t0
        )
    if config_path.resolve() != (out / "config.toml").resolve():
        shutil.copyfile(config_path, out / "config.toml")
    return out


def train_on(
    cfg: TrainConfig,
    net: Path,
    routes: list[Path],
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: str = "bar",
    total_steps: int | None = None,
    t0: float | None = None,
) -> Path:
    """Train on given scenario files (a config built in code, e.g. by a benchmark); writes the
    same outputs as :func:`train` except ``config.toml``."""
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.logger import configure

    from signals.evaluate.metrics import provenance

    t0 = time.perf_counter() if t0 is None else t0
    made_by = provenance()  # the code that trains, taken before the tree can change
    out = Path(out_dir)
    steps = int(total_steps if total_steps is not None else cfg.algo.total_steps)
    if steps < 1:
        raise InputError(None, "--steps", "an integer >= 1", steps)
    ckpt_dir = out / "checkpoints"
    start_from = _latest_checkpoint(ckpt_dir) if resume else None
    if resume and start_from is None and not (out / MODEL_FILE).is_file():
        raise InputError(out, "checkpoints", "a run to resume (checkpoints/ or model.zip)", "none")
    if start_from is None and resume:
        start_from = out / MODEL_FILE
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(cfg.algo.torch_threads)
    env = NetworkEnv(make_backend(net, routes, cfg.env, needs=cfg.obs.needs), cfg.obs, cfg.env)
    venv = SharedPolicyVecEnv(env)
    Algo = algo_class(cfg.algo.name)
    if start_from is not None:
        model = Algo.load(str(start_from), env=venv, device="cpu")
        done_steps = int(model.num_timesteps)
    else:
        model = Algo("MlpPolicy", venv, verbose=0, **cfg.algo.sb3_kwargs())
        done_steps = 0
    started_from = None
    if cfg.algo.init_from:
        if start_from is None:
            started_from = init_weights(model, cfg)
        elif (out / CARD_FILE).is_file():  # a resumed fine-tune keeps what it started from
            started_from = json.loads((out / CARD_FILE).read_text()).get("init_from")
    formats = ["csv"]
    try:
        import tensorboard  # noqa: F401

        formats.append("tensorboard")
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        pass
    model.set_logger(configure(str(out / "logs"), formats))
    callbacks = []
    if cfg.output.checkpoint_every > 0:
        every = max(1, cfg.output.checkpoint_every // venv.num_envs)  # callback counts VecEnv steps
        callbacks.append(CheckpointCallback(every, str(ckpt_dir), name_prefix="model"))
    remaining = max(0, steps - done_steps)
    if cfg.algo.critic_warmup_steps and model.num_timesteps < cfg.algo.critic_warmup_steps:
        callbacks.append(_critic_warmup(cfg.algo.critic_warmup_steps))
    if progress == "lines":
        callbacks.append(_progress_lines(remaining))
    if remaining:
        model.learn(
            remaining,
            callback=callbacks or None,
            progress_bar=progress == "bar",
            reset_num_timesteps=start_from is None,
        )
    model.save(str(out / MODEL_FILE))
    wall = time.perf_counter() - t0
    prev_wall = 0.0
    if start_from is not None and (out / CARD_FILE).is_file():
        prev_wall = float(json.loads((out / CARD_FILE).read_text()).get("train_wall_s", 0.0))
    card = _card(cfg, net, routes, made_by, wall_s=prev_wall + wall)
    card |= {
        "algo": card["algo"] | {"total_steps": steps},
        "n_agents": venv.num_envs,
        "agent_steps": int(model.num_timesteps),
        "resumed_from": str(start_from) if start_from is not None else None,
    }
    if started_from is not None:
        card["init_from"] = started_from
        # the ancestor's demand seeds are this policy's training seeds too (bench policy
        # refuses them as evaluation seeds)
        card["routes_seeds"] = sorted(set(started_from["routes_seeds"]) | {cfg.routes_seed})
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    venv.close()
    return out


def _card(cfg: TrainConfig, net: Path, routes: list[Path], made_by: dict, wall_s: float) -> dict:
    """What a policy directory says of how it was made (its ``card.json``)."""
    from signals.digests import sha256_file

    return {
        "name": cfg.name,
        "description": cfg.description,
        "algo": dataclasses.asdict(cfg.algo),
        "obs_spec": dataclasses.asdict(cfg.obs),
        "env": dataclasses.asdict(cfg.env),
        "network": dataclasses.asdict(cfg.network),
        "scenario": dataclasses.asdict(cfg.scenario),
        "routes_seed": cfg.routes_seed,
        "training_seeds": list(cfg.env.seeds),
        "inputs": {
            "net": {"file": net.name, "sha256": sha256_file(net)},
            "routes": [{"file": r.name, "sha256": sha256_file(r)} for r in routes],
        },
        "train_wall_s": round(wall_s, 2),
        "git_revision": made_by.get("git_revision"),
        "git_dirty": made_by.get("git_dirty"),
        "versions": package_versions(),
    }


def imitate_on(
    cfg: TrainConfig,
    net: Path,
    routes_by_seed: dict[int, list[Path]],
    out_dir: str | Path,
    *,
    t0: float | None = None,
) -> Path:
    """DAgger from the config's expert (:func:`signals.control.rl.imitation.imitate`) on given
    scenario files; writes ``model.zip`` and ``card.json`` (with the rounds) to ``out_dir``."""
    import sys

    from signals.control.rl.imitation import imitate
    from signals.evaluate.metrics import provenance

    t0 = time.perf_counter() if t0 is None else t0
    made_by = provenance()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _, rounds = imitate(
        cfg, net, routes_by_seed, out, progress=lambda m: print(m, file=sys.stderr, flush=True)
    )
    routes = [r for seed in sorted(routes_by_seed) for r in routes_by_seed[seed]]
    card = _card(cfg, net, routes, made_by, wall_s=time.perf_counter() - t0)
    card |= {
        "algo": card["algo"] | {"total_steps": 0},
        "imitation": dataclasses.asdict(cfg.imitation) | {"record": rounds},
        # the demand seeds the episodes were routed with are training seeds too: an
        # evaluation must not use them (signals bench policy refuses them)
        "routes_seeds": sorted(routes_by_seed),
        "agent_steps": int(sum(e["agent_steps"] for r in rounds for e in r["episodes"])),
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return out
