"""RL on the public RESCO benchmark (cologne8, ingolstadt21), beside RESCO's published table.

RESCO (Ault & Sharon 2021, "Reinforcement Learning Benchmarks for Traffic Signal Control",
NeurIPS Datasets and Benchmarks) trains and evaluates each controller on the same scenario (net,
trips, 1 h window) and reports average delay (timeLoss + departDelay per vehicle, unfinished
vehicles included -- the definition ``signals bench realnets`` uses). In one run, per network:

* **rl**: one PPO policy shared by the network's signals, trained on the queue model from the
  scenario's routed trips (Poisson arrivals of the training seeds 101-108), the training settings
  of the committed pilot-zone config (``experiments/train/pilot-zone-ppo.toml``: chosen on the
  pilot zone's tuning seeds, nothing tuned on these networks) except the number of steps, then
  evaluated in SUMO micro through the closed loop;
* **dagger**: one policy shared by the network's signals, trained by DAgger imitation of our
  actuated control on loop detectors in SUMO micro (the committed pilot-zone imitation config,
  ``experiments/train/pilot-zone-dagger.toml``, chosen on the pilot zone's tuning seeds), one
  episode per round on the scenario's trips with the SUMO training seeds 1-3, every sample kept
  and a 256-sample batch (these nets have 8 and 21 signals, not 448: fixed before any run here,
  nothing tuned on these networks); imitation, not reward-trained RL;
* **own**: the net's own fixed-time programs (RESCO's fixed-time baseline), static;
* **max-pressure**: Varaiya's max-pressure through the closed loop;

each on the SUMO seeds ``--seeds`` (evaluation seeds 11-13; the trips are the scenario's, as in
RESCO). ``resco_published`` carries RESCO's own table (fixed time and the best published RL) for
comparison; it was not measured here. Install the nets for the benchmark only (``pip install
--no-deps sumo-rl``); they are never committed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from signals.bench._common import (
    add_seed_arguments,
    controller_figures,
    over_seeds,
    record,
    started,
)

NETS = ("cologne8", "ingolstadt21")
CONTROLLERS = ("rl", "dagger", "own", "max-pressure")
# Ault & Sharon 2021, Table 3 (average delay, s): fixed time and the best RL result per scenario
RESCO_PUBLISHED = {
    "cologne8": {"fixed_time_s": 63.8, "best_rl_s": 21.6},
    "ingolstadt21": {"fixed_time_s": 133.1, "best_rl_s": 59.6},
}
TRAINING_SEEDS = (101, 102, 103, 104, 105, 106, 107, 108)
TRAIN_DIR = Path(__file__).resolve().parents[3] / "experiments" / "train"
BASE_CONFIG = TRAIN_DIR / "pilot-zone-ppo.toml"
DAGGER_CONFIG = TRAIN_DIR / "pilot-zone-dagger.toml"
DAGGER_SUMO_SEEDS = (1, 2, 3)  # tuning seeds: rounds 0, 1, 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS, help="RESCO networks")
    p.add_argument("--resco", default=None, help="RESCO folder (default: the installed sumo-rl)")
    p.add_argument("--work", default="out/bench/resco-rl", help="work directory (kept)")
    add_seed_arguments(p, what="SUMO")
    p.add_argument("--horizon-s", type=float, default=3600.0, help="simulated window, s")
    p.add_argument("--steps", type=int, default=1_000_000, help="training agent steps per network")


def _progress(msg: str) -> None:
    print(f"bench resco-rl: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    from dataclasses import replace

    from signals.bench.realnets import resco_dir, resco_scenario
    from signals.control.adaptive import MaxPressure
    from signals.control.rl.policy import PolicyController, policy_loop_config
    from signals.control.rl.train import imitate_on, load_train_config, train_on
    from signals.digests import sha256_file
    from signals.evaluate.sumo_loop import evaluate_online
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.experiment import NetworkSpec, Scenario
    from signals.network import Network

    t0 = time.perf_counter()
    start = started()
    base = resco_dir(args.resco)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base_cfg = load_train_config(BASE_CONFIG)
    dagger_cfg = load_train_config(DAGGER_CONFIG)
    out: dict = {
        "delay_definition": "RESCO: timeLoss + departDelay per vehicle, unfinished included",
        "seeds_role": "SUMO --seed; the trips are the scenario's (trained and evaluated on, as RESCO does)",
        "training_seeds": list(TRAINING_SEEDS),
        "training_config": str(BASE_CONFIG.relative_to(BASE_CONFIG.parents[2])),
        "dagger_config": str(DAGGER_CONFIG.relative_to(DAGGER_CONFIG.parents[2])),
        "dagger_sumo_seeds": list(DAGGER_SUMO_SEEDS),
        "resco_published": RESCO_PUBLISHED,
        "networks": {},
    }
    inputs: dict[str, Path] = {"training_config": BASE_CONFIG, "dagger_config": DAGGER_CONFIG}
    for name in args.nets:
        net_path, trips, routes, dropped, begin = resco_scenario(base, name, work)
        end = begin + float(args.horizon_s)
        network = Network.from_sumo(net_path)
        n_steps = max(64, 2048 // network.n_signals)  # ~2048 samples per update
        cfg = replace(
            base_cfg,
            name=f"resco-{name}",
            network=NetworkSpec(path=str(net_path)),
            scenario=Scenario(name="resco", routes=str(routes)),
            env=replace(
                base_cfg.env, begin_s=begin, horizon_s=float(args.horizon_s), seeds=TRAINING_SEEDS
            ),
            algo=replace(
                base_cfg.algo,
                total_steps=int(args.steps),
                n_steps=n_steps,
                batch_size=min(base_cfg.algo.batch_size, n_steps * network.n_signals),
            ),
        )
        pol_dir = work / name / f"policy-{sha256_file(routes)[:8]}-{int(args.steps)}"
        if not (pol_dir / "model.zip").is_file():
            _progress(f"{name}: training {args.steps} agent steps on the queue model")
            train_on(cfg, net_path, [routes], pol_dir, progress="lines")
        dag_dir = work / name / f"dagger-{sha256_file(routes)[:8]}-{int(args.horizon_s)}"
        if not (dag_dir / "model.zip").is_file():
            _progress(f"{name}: DAgger imitation of actuated_det in SUMO micro")
            dcfg = replace(
                dagger_cfg,
                name=f"resco-{name}-dagger",
                network=NetworkSpec(path=str(net_path)),
                scenario=Scenario(name="resco", routes=str(routes)),
                env=replace(
                    dagger_cfg.env,
                    begin_s=begin,
                    horizon_s=float(args.horizon_s),
                    seeds=DAGGER_SUMO_SEEDS,
                ),
                imitation=replace(dagger_cfg.imitation, keep=1.0, batch_size=256),
            )
            imitate_on(dcfg, net_path, {0: [routes]}, dag_dir)
        policy = PolicyController(pol_dir)
        dagger = PolicyController(dag_dir)
        entry: dict = {
            "n_signals": network.n_signals,
            "window_s": [begin, end],
            "unroutable_trips_dropped": len(dropped),
            "policy_agent_steps": policy.card["agent_steps"],
            "policy_train_wall_s": policy.card["train_wall_s"],
            "dagger_agent_steps": dagger.card["agent_steps"],
            "dagger_train_wall_s": dagger.card["train_wall_s"],
            "dagger_rounds": [
                {k: r[k] for k in ("round", "beta", "n_samples", "train_accuracy")}
                | {"agreement": r["episodes"][0]["agreement"]}
                for r in dagger.card["imitation"]["record"]
            ],
            "per_seed": {c: [] for c in CONTROLLERS},
        }
        for seed in args.seeds:
            common = dict(begin_s=begin, end_s=end, seed=seed, network=network)
            for c in CONTROLLERS:
                w = time.perf_counter()
                if c in ("rl", "dagger"):
                    ctl = PolicyController(pol_dir if c == "rl" else dag_dir)
                    res = evaluate_online(
                        net_path, routes, ctl, config=policy_loop_config(ctl.card), **common
                    )
                elif c == "own":
                    res = evaluate_sumo(
                        net_path, routes, queue_sample_s=0.0, controller=c, **common
                    )
                else:
                    res = evaluate_online(net_path, routes, MaxPressure(), **common)
                row = {"seed": seed, **controller_figures(res.summary)}
                row["wall_s"] = round(time.perf_counter() - w, 1)
                entry["per_seed"][c].append(row)
                _progress(f"{name} seed {seed} {c}: {row}")
        entry["over_seeds"] = {c: over_seeds(rows) for c, rows in entry["per_seed"].items()}
        m = {c: o["avg_delay_s"]["mean"] for c, o in entry["over_seeds"].items()}
        entry["rl_below_own"] = m["rl"] < m["own"]
        entry["rl_below_max_pressure"] = m["rl"] < m["max-pressure"]
        entry["dagger_below_own"] = m["dagger"] < m["own"]
        entry["dagger_below_max_pressure"] = m["dagger"] < m["max-pressure"]
        inputs |= {
            f"{name}_net": net_path,
            f"{name}_trips": trips,
            f"{name}_routes": routes,
            f"{name}_policy": pol_dir / "model.zip",
            f"{name}_dagger": dag_dir / "model.zip",
        }
        out["networks"][name] = entry
    out["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    return {
        **record("resco-rl", start, inputs=inputs, seeds=args.seeds, horizon_s=args.horizon_s),
        **out,
    }
