"""RL (issue 12): one Observation on both backends, the environments, training, policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import signals.control.rl  # noqa: F401  (registers the environment ids)
from signals.control.adaptive import Controller, MaxPressure, Observation, PlanFollower
from signals.control.rl.env import EnvConfig, SharedPolicyVecEnv, make_network_env
from signals.control.rl.features import ObsSpec, StageFeatures
from signals.control.rl.rewards import REWARDS, RewardContext, register_reward
from signals.errors import InputError
from signals.evaluate.queue import QueueModel
from signals.evaluate.queue_loop import QueueLoop
from signals.evaluate.sumo_loop import LoopConfig, evaluate_online, loop_stages
from signals.network import Network
from signals.safety import conflicting_green, illegal_transitions

pytestmark = pytest.mark.sumo  # the scenario's routes come from SUMO's duarouter

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
HORIZON_S = 600.0


@pytest.fixture(scope="module")
def arterial(tmp_path_factory) -> tuple[Path, Path, Network]:
    from signals.demand import generate_routes

    net = TEST_NETS / "arterial3.net.xml"
    routes = tmp_path_factory.mktemp("rl") / "arterial3.rou.xml"
    generate_routes(net, routes, veh_per_hour=1500, end_s=HORIZON_S, seed=7, cv_share=0.5)
    return net, routes, Network.from_sumo(net)


def _queue_loop(arterial, **kw) -> QueueLoop:
    net, routes, network = arterial
    cfg = LoopConfig(audit=True)
    _, program = loop_stages(network, None, cfg)
    qm = QueueModel.from_routes(network, routes, end_s=HORIZON_S, bin_s=300)
    return QueueLoop(qm, program, cfg, horizon_s=HORIZON_S, **kw)


class Cheater(Controller):
    """Asks for another (often nonexistent) stage every decision."""

    name = "cheater"

    def act(self, obs):
        S = len(obs.stage)
        return np.where(self.rng.random(S) < 0.7, obs.stage + 1, self.rng.integers(-3, 9, S))


# ----------------------------------------------------------------- one observation type
def test_max_pressure_runs_unchanged_on_the_queue_model_and_in_sumo(arterial) -> None:
    """The same controller object, the same Observation type, both backends; on the queue
    model max-pressure beats holding each stage to max green, as in SUMO."""
    net, routes, network = arterial
    ql = _queue_loop(arterial)
    seen: list[Observation] = []

    class Spy(MaxPressure):
        def act(self, obs):
            seen.append(obs)
            return super().act(obs)

    mp_q = ql.run(Spy(), seed=1)
    assert isinstance(seen[-1], Observation) and seen[-1].queue_veh.shape == (network.n_movements,)
    n_q = len(seen)
    assert n_q == int(HORIZON_S / 5)  # one decision every delta_t up to the horizon
    hold_q = ql.run(PlanFollower(), seed=1)
    from signals.control.adaptive import HoldController

    stuck_q = ql.run(HoldController(), seed=1)
    assert mp_q.avg_delay_s[0] < stuck_q.avg_delay_s[0]
    assert hold_q.throughput_veh[0] > 0
    res = evaluate_online(net, routes, Spy(), end_s=HORIZON_S, network=network)
    assert len(seen) > n_q  # the same class ran in SUMO too
    assert isinstance(seen[-1], Observation)
    assert res.loop.decisions == int(HORIZON_S / 5)


def test_queue_loop_observation_is_the_model_state(arterial) -> None:
    ql = _queue_loop(arterial, cv_share=0.5)
    obs = ql.reset(seed=3)
    assert obs.time_s == 0 and not obs.queue_veh.any()
    for _ in range(60):
        obs = ql.step(obs.stage)  # hold: the loop's max green rotates the stages
    M = ql.network.n_movements
    st = ql.qm.state
    np.testing.assert_allclose(obs.queue_veh, st.q[0, :M])
    assert (obs.approach_veh >= obs.queue_veh - 1e-9).all()
    assert obs.queue_veh.sum() > 5  # traffic has built up
    # connected vehicles are a thinned subset of what is there, never more
    assert (obs.cv_queue_veh <= np.rint(obs.queue_veh) + 1e-9).all()
    assert 0 < obs.cv_queue_veh.sum() < obs.queue_veh.sum()


def test_a_cheating_controller_on_the_queue_model_only_shows_gate_checked_states(arterial):
    """The queue loop plays the SUMO loop's checked programs: whatever is asked, every state
    it shows is conflict-free, every change between consecutive states is legal, each yellow
    lasts the ITE minimum and each stage green its min green."""
    from signals.safety import min_yellow_s

    ql = _queue_loop(arterial)
    net = ql.network
    prog = ql.program
    shown: list[tuple[float, np.ndarray]] = []
    audit = ql._audit

    def spy(rows):
        audit(rows)
        shown.append((ql.time_s, prog.flat_codes(net, rows)))

    ql._audit = spy
    ctl = Cheater()
    ql.run(ctl, seed=2, rng=np.random.default_rng(0))
    times = np.array([t for t, _ in shown])
    log = np.array([c for _, c in shown])
    assert len(log) > 20
    assert not conflicting_green(net, log).any()
    assert not illegal_transitions(net, log[:-1], log[1:]).any()
    st = ql.loop.stats
    assert st.invalid > 0 and st.held > 0 and st.switches > 0
    # per link: every yellow run lasts at least the ITE minimum
    y_min = min_yellow_s(net)
    dur = np.diff(np.append(times, ql.time_s))
    for li in np.flatnonzero(~net.link_is_ped):
        y = log[:, li] == ord("y")
        t_run = 0.0
        for i in range(len(y)):
            if y[i]:
                t_run += dur[i]
            elif t_run > 0:
                assert t_run + 1e-9 >= y_min[li], (li, t_run)
                t_run = 0.0
    # stage greens last at least min green (the last one may be cut by the horizon)
    stage_rows = set(prog.green_row.tolist())
    for s in range(net.n_signals):
        sl = net.links_of(s)
        states = [c[sl].tobytes() for c in log]
        greens = {prog.row_codes[r, : sl.stop - sl.start].tobytes() for r in stage_rows}
        start = None
        for i, stt in enumerate(states + [b""]):
            if start is not None and (i == len(states) or stt != states[start]):
                if i < len(states) and states[start] in greens:
                    assert times[i] - times[start] + 1e-9 >= prog.stages.min_green_s.min()
                start = None
            if start is None and i < len(states):
                start = i


# ----------------------------------------------------------------------- environments
@pytest.mark.parametrize(
    "env_id",
    [
        "signals/QueueNetwork-v0",
        "signals/QueueSignal-v0",
        "signals/SumoNetwork-v0",
        "signals/SumoSignal-v0",
        "signals/SumoPlan-v0",
    ],
)
def test_environments_pass_gymnasium_check_env(arterial, env_id: str) -> None:
    net, routes, _ = arterial
    kw = {"period_s": 60} if "Plan" in env_id else {}
    env = gym.make(env_id, net=str(net), routes=str(routes), horizon_s=120, **kw)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_sumo_and_queue_backends_have_the_same_spaces(arterial) -> None:
    net, routes, _ = arterial
    q = make_network_env(net, routes, backend="queue", horizon_s=60)
    s = make_network_env(net, routes, backend="sumo", horizon_s=60)
    try:
        assert q.observation_space == s.observation_space
        assert q.action_space == s.action_space
        oq, iq = q.reset(seed=1)
        os_, is_ = s.reset(seed=1)
        assert oq.shape == os_.shape and oq.dtype == os_.dtype
        np.testing.assert_array_equal(iq["action_mask"], is_["action_mask"])
        a = q.action_space.sample()
        for _ in range(12):
            oq, rq, *_ = q.step(a)
            os_, rs, *_ = s.step(a)
        # the same stage bookkeeping (one-hot stage, time in stage, mask) on both backends
        kc = q.obs_spec.k_cap
        np.testing.assert_allclose(oq[:, -2 * kc - 2 :], os_[:, -2 * kc - 2 :])
        assert rq < 0 and rs < 0  # traffic queued on both
    finally:
        q.close()
        s.close()


def test_queue_env_is_reproducible_and_reset_reads_no_file(arterial) -> None:
    net, routes, _ = arterial
    env = make_network_env(net, routes, horizon_s=300)

    def episode(seed):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs]
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(rng.integers(0, 8, env.n_agents))
            out.append(obs)
            done = term or trunc
        return np.array(out)

    a, b, c = episode(5), episode(5), episode(6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with (
        mock.patch("builtins.open", side_effect=AssertionError("file read in reset")),
        mock.patch("os.open", side_effect=AssertionError("file read in reset")),
    ):
        env.reset(seed=7)
        env.step(np.zeros(env.n_agents, dtype=np.int64))


def test_shared_policy_vec_env_makes_every_signal_an_agent(arterial) -> None:
    net, routes, network = arterial
    env = make_network_env(net, routes, horizon_s=60, seeds=[3])
    venv = SharedPolicyVecEnv(env)
    assert venv.num_envs == network.n_signals
    obs = venv.reset()
    assert obs.shape == (network.n_signals, env.obs_spec.dim)
    for i in range(12):
        obs, rew, done, infos = venv.step(np.zeros(venv.num_envs, dtype=np.int64))
        assert rew.shape == (venv.num_envs,)
        if i < 11:
            assert not done.any()
    assert done.all()  # the horizon (60 s / 5 s) ends every agent's episode together
    assert all(inf["TimeLimit.truncated"] and "terminal_observation" in inf for inf in infos)
    assert all(inf["episode"]["l"] == 12 for inf in infos)
    assert env.backend.time_s == 0  # reset automatically
    venv.close()


def test_features_and_rewards(arterial) -> None:
    net, routes, network = arterial
    ql = _queue_loop(arterial)
    obs = ql.reset(seed=1)
    for _ in range(40):
        obs = ql.step(obs.stage)
    stages = ql.program.stages
    f = StageFeatures(stages, ObsSpec(k_cap=6))
    x = f(obs)
    assert x.shape == (network.n_signals, ObsSpec(k_cap=6).dim)
    # the queue feature of each stage slot is the stage's green-weighted queue / scale
    want = (stages.mov_green @ obs.queue_veh) / 20.0
    for s in range(network.n_signals):
        k0, k1 = stages.signal_stage_start[s], stages.signal_stage_start[s + 1]
        np.testing.assert_allclose(x[s, : k1 - k0], want[k0:k1], rtol=1e-5)
        assert not x[s, k1 - k0 : 6].any()  # empty slots are zero
    np.testing.assert_array_equal(x[:, -6:], f.mask)
    with pytest.raises(InputError, match="k_cap"):
        StageFeatures(stages, ObsSpec(k_cap=1))
    ctx = RewardContext(np.asarray(network.mov_signal), network.n_signals, 5.0)
    q = REWARDS["queue"](obs, obs, ctx)
    np.testing.assert_allclose(-q.sum(), obs.queue_veh.sum())
    register_reward("twice_queue", lambda p, o, c: 2 * REWARDS["queue"](p, o, c))
    env = make_network_env(net, routes, horizon_s=60, reward="twice_queue", reward_scale=1.0)
    env.reset(seed=1)
    for _ in range(6):
        _, r, _, _, info = env.step(np.zeros(env.n_agents, dtype=np.int64))
    qs = env.backend.observation().queue_veh.sum()
    assert r == pytest.approx(-2 * qs, rel=1e-6)
    with pytest.raises(InputError, match="reward"):
        make_network_env(net, routes, reward="nope")


# --------------------------------------------------------------------------- training
TINY_CONFIG = """
name = "tiny"
routes_seed = 7
[network]
path = "{net}"
[scenario]
name = "am"
veh_per_hour = 1500
cv_share = 0.5
[env]
backend = "queue"
horizon_s = 600
seeds = [1, 2, 3, 4]
[algo]
name = "ppo"
total_steps = 4000
n_steps = 64
batch_size = 64
seed = 0
[output]
checkpoint_every = 2000
"""


def _signals(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signals", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("train")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY_CONFIG.format(net=TEST_NETS / "arterial3.net.xml"))
    r = _signals("train", str(cfg), "--out", str(d / "out"))
    assert r.returncode == 0, r.stderr
    assert "agent steps" in r.stderr  # plain progress lines off a terminal
    return d / "out"


def test_training_beats_a_random_policy_and_writes_its_record(tiny_policy: Path) -> None:
    from signals.control.rl.policy import PolicyController

    out = tiny_policy
    card = json.loads((out / "card.json").read_text())
    assert card["agent_steps"] >= 4000 and card["n_agents"] == 3
    assert card["training_seeds"] == [1, 2, 3, 4] and card["train_wall_s"] > 0
    assert len(card["inputs"]["net"]["sha256"]) == 64
    assert (out / "config.toml").is_file() and (out / "model.zip").is_file()
    assert (out / "logs" / "progress.csv").is_file()
    assert any((out / "logs").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (out / "checkpoints").glob("*.zip"))
    routes = sorted((out / "inputs" / "demand").glob("*.rou.xml"))[0]
    env = make_network_env(TEST_NETS / "arterial3.net.xml", routes, horizon_s=600)
    pol = PolicyController(out)
    pol.reset(env.network, env.stages)
    rng = np.random.default_rng(0)
    mask = env.action_masks()

    def ret(act, seed):
        env.reset(seed=seed)
        tot, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(act())
            tot += r
            done = term or trunc
        return tot

    eval_seeds = (100, 101)  # never trained on
    trained = np.mean([ret(lambda: pol.act(env.backend.observation()), s) for s in eval_seeds])
    random = np.mean(
        [
            ret(lambda: np.array([rng.choice(np.flatnonzero(m)) for m in mask]), s)
            for s in eval_seeds
        ]
    )
    assert trained > random * 0.8, (trained, random)  # returns are negative: 20 % less queue


def test_resume_continues_from_the_checkpoint(tiny_policy: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(tiny_policy, out)
    cfg = out / "config.toml"
    r = _signals("train", str(cfg), "--out", str(out), "--resume", "--steps", "5000")
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "card.json").read_text())
    assert card["agent_steps"] >= 5000 and card["resumed_from"].endswith(".zip")


def test_a_trained_policy_runs_in_sumo_through_evaluate(tiny_policy: Path, arterial) -> None:
    net, routes, _ = arterial
    r = _signals(
        "evaluate", "--net", str(net), "--routes", str(routes), "--policy", str(tiny_policy),
        "--end", "300", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["throughput_veh"] > 0 and summary["n_teleports"] == 0


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (("[algo]", "[algo]\nlearning_rat = 0.1"), "algo.learning_rat"),
        (('name = "ppo"', 'name = "a2c"'), "algo.name"),
        (('backend = "queue"', 'backend = "cityflow"'), "backend"),
        (("horizon_s = 600", "horizon_s = -5"), "horizon_s"),
    ],
)
def test_bad_train_configs_are_one_line(tmp_path: Path, edit, field: str, capsys) -> None:
    from signals.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text(TINY_CONFIG.format(net=TEST_NETS / "arterial3.net.xml").replace(*edit))
    assert main(["train", str(cfg), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and str(cfg) in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_env_config_rejects_bad_values() -> None:
    with pytest.raises(InputError, match="backend"):
        EnvConfig(backend="x").check()
    with pytest.raises(InputError, match="sensing"):
        ObsSpec(sensing="radar").check()


def test_bench_rl_measures_both_backends(arterial, capsys) -> None:
    from signals.cli import main

    net, routes, _ = arterial
    assert (
        main(
            [
                "bench",
                "rl",
                "--net",
                str(net),
                "--routes",
                str(routes),
                "--horizon-s",
                "60",
                "--json",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert d["queue_env_steps"] == d["sumo_env_steps"] == 12
    assert d["ratio"] == pytest.approx(
        d["queue_env_steps_per_s"] / d["sumo_env_steps_per_s"], rel=0.05, abs=0.1
    )
    assert len(d["inputs_sha256"]["net"]) == 64 and d["n_agents"] == 3


def test_plan_level_action_gives_an_exportable_time_of_day_plan(arterial, tmp_path) -> None:
    """Cycle and splits once per period; the episode's plans are a Schedule that passes the
    safety gate on export, with the greens and cycles the actions asked for."""
    from signals.export import export
    from signals.plans import read_schedule

    net, routes, network = arterial
    env = gym.make(
        "signals/QueuePlan-v0", net=str(net), routes=str(routes), horizon_s=600, period_s=300
    ).unwrapped
    check_env(env, skip_render_check=True)
    env.reset(seed=4)
    long = np.zeros(env.action_space.shape, dtype=np.float32)
    long[:, 0] = 1.0  # the longest cycle, equal splits
    short = np.full(env.action_space.shape, -1.0, dtype=np.float32)
    _, r1, _, tr1, _ = env.step(long)
    _, r2, _, tr2, _ = env.step(short)
    assert not tr1 and tr2  # two 300 s periods end the 600 s episode
    sched = env.schedule()
    assert [b for _, b, _, _ in sched.ordered()] == [0.0, 300.0]
    (_, _, _, p_long), (_, _, _, p_short) = sched.ordered()
    for sid in network.signal_ids:
        c_long, c_short = p_long.plans[sid].cycle_s, p_short.plans[sid].cycle_s
        assert c_long >= 150 - 1e-9 and c_short < c_long
    path = export(sched, network, tmp_path / "rl.add.xml", "sumo")  # the gate passes it
    back = read_schedule(path, network)
    assert len(back.periods) == 2


def test_dqn_trains_and_its_policy_never_picks_a_missing_stage(arterial, tmp_path) -> None:
    from signals.control.rl.policy import PolicyController
    from signals.control.rl.train import train

    net, routes, network = arterial
    cfg = tmp_path / "dqn.toml"
    text = TINY_CONFIG.format(net=net).replace('name = "ppo"', 'name = "dqn"')
    cfg.write_text(text.replace("total_steps = 4000", "total_steps = 1500\nlearning_starts = 300"))
    out = train(cfg, tmp_path / "out", progress="off")
    pol = PolicyController(out)
    env = make_network_env(net, routes, horizon_s=300)
    pol.reset(env.network, env.stages)
    obs = env.backend.reset(seed=3)
    n = env.stages.n_stages
    for _ in range(30):
        a = pol.act(obs)
        assert ((a >= 0) & (a < n)).all()
        obs = env.backend.step(a)
    assert json.loads((out / "card.json").read_text())["algo"]["name"] == "dqn"


def test_experiment_configs_run_a_policy(tiny_policy: Path, tmp_path: Path) -> None:
    import pandas as pd

    from signals.experiment import load_experiment, run_experiment

    cfg = tmp_path / "exp.toml"
    base = f"""
name = "withrl"
[network]
path = "{TEST_NETS / "arterial3.net.xml"}"
[sim]
end_s = 240
[[scenarios]]
name = "am"
veh_per_hour = 1200
[run]
controllers = ["default"]
seeds = [1]
jobs = 1
"""
    cfg.write_text(base + f'policies = ["{tiny_policy}"]\n')
    results = run_experiment(cfg, tmp_path / "out", log=lambda _: None)
    df = pd.read_parquet(results)
    assert set(df["controller"]) == {"default", "rl-out"}
    rec = json.loads((tmp_path / "out" / "runs" / "am__rl-out__s1" / "record.json").read_text())
    assert len(rec["task"]["inputs"]["policy_sha256"]) == 2
    cfg.write_text(base + 'policies = ["no/such/policy"]\n')
    with pytest.raises(InputError, match=r"run\.policies\[0\]"):
        load_experiment(cfg)


def test_bench_policy_refuses_seeds_the_policy_trained_on(tmp_path: Path, capsys) -> None:
    from signals.cli import main

    policy = Path(__file__).resolve().parents[1] / "policies" / "pilot-zone-ppo"
    work = tmp_path / "work"
    args = ["bench", "policy", "--policy", str(policy), "--work", str(work), "--seeds", "11", "101"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training_seeds" in err[0] and "101" in err[0], err
    assert not work.exists()


def test_training_runs_on_the_sumo_backend(arterial, tmp_path) -> None:
    """Fine-tuning in SUMO is the same command with env.backend = "sumo" (libsumo, one per
    process)."""
    from signals.control.rl.train import train

    net, _, _ = arterial
    cfg = tmp_path / "sumo.toml"
    text = TINY_CONFIG.format(net=net).replace('backend = "queue"', 'backend = "sumo"')
    cfg.write_text(
        text.replace("total_steps = 4000", "total_steps = 300").replace(
            "horizon_s = 600", "horizon_s = 120"
        )
    )
    out = train(cfg, tmp_path / "out", progress="off")
    card = json.loads((out / "card.json").read_text())
    assert card["env"]["backend"] == "sumo" and card["agent_steps"] >= 300
