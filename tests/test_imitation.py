"""Imitation (DAgger) of our actuated control into the shared RL policy, and the loop-detector
actuation features it sees (issue 12)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signals.control.rl.env import EnvConfig, make_backend
from signals.control.rl.features import ACTUATION_GAPS_S, ObsSpec, StageFeatures
from signals.control.rl.imitation import ImitationConfig, rollout

pytestmark = pytest.mark.sumo  # the scenario's routes come from SUMO's duarouter

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "networks" / "test" / "arterial3.net.xml"
HORIZON_S = 900.0

CONFIG = """
name = "tiny-dagger"
routes_seed = 7
[network]
path = "{net}"
[scenario]
name = "am"
veh_per_hour = 1500
[env]
backend = "queue"
horizon_s = 900
delta_t_s = 1
stages = "own+protected"
max_green_s = 300
seeds = [1, 2]
[obs]
actuation = true
[algo]
name = "ppo"
seed = 0
[imitation]
expert = "actuated_det"
routes_seeds = [7, 8]
rounds = 2
keep = 1.0
epochs = 30
batch_size = 256
timing = {{ max1_s = 60.0, max2_s = 120.0 }}
"""


def _signals(*args: str) -> subprocess.CompletedProcess:
    # one torch thread per process (the test runs beside other xdist workers)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "signals", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> Path:
    from signals.demand import generate_routes

    p = tmp_path_factory.mktemp("im") / "arterial3-seed9.rou.xml"  # a seed training never used
    generate_routes(NET, p, veh_per_hour=1500, end_s=HORIZON_S, seed=9)
    return p


@pytest.fixture(scope="module")
def dagger(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dagger")
    cfg = d / "tiny.toml"
    cfg.write_text(CONFIG.format(net=NET))
    r = _signals("train", str(cfg), "--out", str(d / "out"))
    assert r.returncode == 0, r.stderr
    assert "imitation: round 2" in r.stderr
    return d / "out"


def test_actuation_features_are_the_loops_detector_inputs_per_stage(routes: Path) -> None:
    env = EnvConfig(horizon_s=60, delta_t_s=1, stages="own+protected")
    spec = ObsSpec(actuation=True)
    assert "detectors" in spec.needs and "detectors" not in ObsSpec().needs
    # the layout without actuation is unchanged (the committed PPO policy's cards load)
    assert ObsSpec().dim == 3 * 8 + 2 * 8 + 2 and spec.dim == ObsSpec().dim + 4 * 8
    backend = make_backend(NET, routes, env, needs=spec.needs)
    obs = backend.reset(1)
    for _ in range(30):
        obs = backend.step(np.asarray(obs.stage))
    st = backend.program.stages
    M = backend.network.n_movements
    gap = np.linspace(0.0, 8.0, M)  # known detector readings
    occ = np.arange(M) % 3 == 0
    obs = dataclasses.replace(obs, det_gap_s=gap, det_occupied=occ)
    x = StageFeatures(st, spec, backend.network.signal_ids)(obs)
    assert x.shape == (backend.network.n_signals, spec.dim)
    G = st.mov_green.toarray()
    kc, base = spec.k_cap, 3 * spec.k_cap
    for s in range(backend.network.n_signals):
        for j, k in enumerate(st.pad[s]):
            if k < 0:
                continue
            for f, g in enumerate(ACTUATION_GAPS_S):
                want = G[k] @ (gap < g)
                assert x[s, base + f * kc + j] == pytest.approx(want, abs=1e-6)
            assert x[s, base + 3 * kc + j] == pytest.approx(G[k] @ occ, abs=1e-6)


def test_dagger_clones_the_actuated_expert_on_a_seed_it_never_saw(dagger: Path, routes) -> None:
    card = json.loads((dagger / "card.json").read_text())
    rec = card["imitation"]["record"]
    assert [r["round"] for r in rec] == [0, 1, 2] and card["routes_seeds"] == [7, 8]
    assert [r["beta"] for r in rec] == [1.0, 0.5, 0.25]
    assert rec[-1]["n_samples"] > rec[0]["n_samples"] > 0  # DAgger aggregates
    assert card["agent_steps"] > 0 and card["obs_spec"]["actuation"] is True
    # the policy alone (beta 0) on unseen demand, the expert labelling in shadow
    spec = {
        "net": str(NET),
        "routes": [str(routes)],
        "env": dataclasses.asdict(EnvConfig(**(card["env"] | {"seeds": ()}))),
        "obs": card["obs_spec"],
        "imitation": {k: v for k, v in card["imitation"].items() if k != "record"},
        "seed": 5,
        "beta": 0.0,
        "policy": str(dagger),
        "samples": str(dagger / "check.npz"),
        "rng_seed": 0,
    }
    import torch

    torch.set_num_threads(1)
    ep = rollout(spec)
    # it takes the expert's decision far more often than "never change stage" would, and
    # a fair share of the expert's stage changes (a tiny net and 30 training minutes)
    assert ep["agreement"] >= 0.85 and ep["agreement"] > ep["expert_holds"] + 0.03, ep
    assert ep["agreement_on_changes"] >= 0.35, ep


def test_the_cloned_policy_controls_as_well_as_its_expert(dagger: Path, routes) -> None:
    from signals.control.rl.policy import PolicyController, policy_loop_config
    from signals.evaluate.queue_loop import QueueLoop

    pol = PolicyController(dagger)
    ic = ImitationConfig(**{k: v for k, v in pol.card["imitation"].items() if k != "record"})
    env = EnvConfig(**(pol.card["env"] | {"seeds": ()}))
    delays = {}
    for name, ctl in (("policy", pol), ("expert", ic.make_expert())):
        ql = make_backend(NET, routes, env, needs=pol.needs | ctl.needs)
        assert isinstance(ql, QueueLoop)
        delays[name] = ql.run(ctl, seed=5).avg_delay_s
    assert policy_loop_config(pol.card).delta_t_s == 1
    assert delays["policy"] <= 1.15 * delays["expert"], delays


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (('expert = "actuated_det"', 'expert = "webster"'), "imitation.expert"),
        (("max1_s = 60.0", "max1_z = 60.0"), "imitation.timing"),
        (("keep = 1.0", "keep = 0.0"), "imitation.keep"),
        (('name = "ppo"', 'name = "dqn"'), "algo.name"),
    ],
)
def test_bad_imitation_configs_are_one_line(tmp_path: Path, edit, field: str, capsys) -> None:
    from signals.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.format(net=NET).replace(*edit))
    assert main(["train", str(cfg), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_bench_policy_refuses_a_demand_seed_the_policy_imitated_on(dagger: Path) -> None:
    r = _signals("bench", "policy", "--policy", str(dagger), "--seeds", "8", "--json")
    assert r.returncode == 2 and "training_seeds" in r.stderr, r.stderr


# ----------------------------------------------------------------------------- fine-tuning
def _finetune_config(d: Path, dagger: Path, *, steps: int, warmup: int, extra: str = "") -> Path:
    """The tiny DAgger config turned into a MaskablePPO fine-tune starting from ``dagger``."""
    head, _, _ = CONFIG.format(net=NET).partition("[imitation]")
    algo = (
        f'name = "maskable_ppo"\ninit_from = "{dagger}"\ntotal_steps = {steps}\n'
        f"critic_warmup_steps = {warmup}\nn_steps = 150\nbatch_size = 150\nn_epochs = 2\n"
    )
    cfg = d / "finetune.toml"
    cfg.write_text(head.replace('name = "ppo"\n', algo).replace("tiny-dagger", "tiny-ft") + extra)
    return cfg


def _actor_critic(model) -> tuple[dict, dict]:
    sd = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
    actor = {
        k: v for k, v in sd.items() if k.startswith(("mlp_extractor.policy_net", "action_net"))
    }
    critic = {k: v for k, v in sd.items() if k.startswith(("mlp_extractor.value_net", "value_net"))}
    return actor, critic


def test_finetuning_starts_from_the_dagger_actor_and_warms_the_critic_first(
    dagger: Path, tmp_path: Path
) -> None:
    import torch

    from signals.control.rl.policy import PolicyController
    from signals.control.rl.train import train

    start_actor, start_critic = _actor_critic(PolicyController(dagger).model)
    # 3 signals x 150 steps = 450 agent steps per update; the warm-up covers the first two
    warm = train(
        _finetune_config(tmp_path, dagger, steps=900, warmup=900), tmp_path / "warm", progress="off"
    )
    actor, critic = _actor_critic(PolicyController(warm).model)
    assert all(torch.equal(actor[k], start_actor[k]) for k in start_actor)  # actor untouched
    assert any(not torch.equal(critic[k], start_critic[k]) for k in start_critic)  # critic learnt
    card = json.loads((warm / "card.json").read_text())
    assert card["algo"]["name"] == "maskable_ppo" and card["init_from"]["name"] == "tiny-dagger"
    # the imitation's demand seeds stay training seeds of the fine-tuned policy
    assert {7, 8} <= set(card["routes_seeds"])

    tuned = train(
        _finetune_config(tmp_path, dagger, steps=1800, warmup=900), tmp_path / "ft", progress="off"
    )
    actor2, _ = _actor_critic(PolicyController(tuned).model)
    assert any(not torch.equal(actor2[k], start_actor[k]) for k in start_actor)  # then it learns
    r = _signals("bench", "policy", "--policy", str(tuned), "--seeds", "8", "--json")
    assert r.returncode == 2 and "training_seeds" in r.stderr, r.stderr


def test_maskable_ppo_sees_one_action_mask_row_per_signal(routes: Path) -> None:
    from sb3_contrib.common.maskable.utils import get_action_masks

    from signals.control.rl.env import NetworkEnv, SharedPolicyVecEnv

    env = EnvConfig(horizon_s=60, delta_t_s=1, stages="own+protected")
    venv = SharedPolicyVecEnv(NetworkEnv(make_backend(NET, routes, env), ObsSpec(), env))
    venv.reset()
    masks = get_action_masks(venv)
    assert masks.shape == (venv.num_envs, ObsSpec().k_cap)
    assert np.array_equal(masks, venv.env.features.mask)
    assert not masks.all()  # some signal lacks some stage slot: the mask matters here


@pytest.mark.parametrize(
    ("extra_edit", "field"),
    [
        (("actuation = true", "actuation = false"), "obs"),
        (('name = "maskable_ppo"', 'name = "dqn"'), "algo.name"),
        (("init_from = ", 'init_from = "nowhere" #'), "policy"),
    ],
)
def test_bad_finetune_configs_are_one_line(
    dagger: Path, tmp_path: Path, extra_edit, field: str, capsys
) -> None:
    from signals.cli import main

    cfg = _finetune_config(tmp_path, dagger, steps=450, warmup=0)
    cfg.write_text(cfg.read_text().replace(*extra_edit, 1))
    assert main(["train", str(cfg), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], lines
    assert not (tmp_path / "out" / "model.zip").exists()
