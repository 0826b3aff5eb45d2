"""RL environment speed: the queue-model backend against the SUMO backend on the pilot zone.

In one run, on the 448-signal pilot zone with the AM-peak demand (routed, seed 1), the same
environment (:class:`signals.control.rl.env.NetworkEnv`: every signal an agent, 5 s decisions,
stage features, the queue reward) on each backend, over the same ``--horizon-s`` from an empty
network, every signal choosing a random valid stage at each decision (the same action stream on
both backends):

* ``queue_env_steps_per_s``: environment steps (decision instants, all 448 signals at once) per
  wall second of ``step`` calls on the queue-model backend (compiled kernel, warmed up first);
* ``sumo_env_steps_per_s``: the same with libsumo (SUMO micro), the peer a researcher would
  otherwise train on (sumo-rl, RESCO);
* ``ratio``: queue / SUMO; ``*_agent_steps_per_s`` multiply by the number of signals (what SB3
  counts with :class:`~signals.control.rl.env.SharedPolicyVecEnv`); ``*_reset_s`` the time of
  one ``reset`` (SUMO: loading the scenario; queue model: clearing arrays).

Each backend runs ``--repeats`` episodes (the same seed and actions); the medians of their wall
and CPU seconds are reported, each episode's wall time beside them. CPU seconds are reported
beside wall seconds (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from signals.bench._common import record, started


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--routes", default=None, help="routes file (default: AM peak, seed 1)")
    p.add_argument("--work", default="out/bench/pilot-zone", help="work directory (kept)")
    p.add_argument("--horizon-s", type=float, default=900.0, help="episode length, s")
    p.add_argument("--delta-t-s", type=float, default=5.0, help="decision interval, s")
    p.add_argument(
        "--repeats",
        type=int,
        nargs=2,
        default=[5, 2],
        metavar=("QUEUE", "SUMO"),
        help="episodes timed per backend (the median is reported; default 5 and 2)",
    )


def _episode(env, seed: int, rng: np.random.Generator) -> dict:
    w0 = time.perf_counter()
    env.reset(seed=seed)
    reset_s = time.perf_counter() - w0
    mask = env.action_masks()
    n_valid = mask.sum(axis=1)
    steps, done = 0, False
    w0, c0 = time.perf_counter(), time.process_time()
    while not done:
        a = (rng.random(len(n_valid)) * n_valid).astype(np.int64)  # a valid slot per signal
        _, _, term, trunc, _ = env.step(a)
        steps += 1
        done = term or trunc
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"steps": steps, "wall_s": wall, "cpu_s": cpu, "reset_s": reset_s}


def run(args: argparse.Namespace) -> dict:
    from signals.bench.hotpath import pilot_zone_assets
    from signals.control.rl.env import make_network_env

    start = started()
    net_p, routes = pilot_zone_assets(args.work, args.net, args.routes)
    kw = {"horizon_s": float(args.horizon_s), "delta_t_s": float(args.delta_t_s)}
    out: dict = {}
    for backend in ("queue", "sumo"):
        t0 = time.perf_counter()
        env = make_network_env(net_p, routes, backend=backend, **kw)
        build_s = time.perf_counter() - t0
        if backend == "queue":  # compile the kernel and fill caches, not timed
            env.reset(seed=0)
            env.step(np.zeros(env.n_agents, dtype=np.int64))
        reps = args.repeats[0] if backend == "queue" else args.repeats[1]
        eps = [_episode(env, 1, np.random.default_rng(0)) for _ in range(max(1, reps))]
        env.close()
        r = {k: float(np.median([e[k] for e in eps])) for k in eps[0]}
        r["steps"] = int(eps[0]["steps"])
        rate = r["steps"] / r["wall_s"]
        out |= {
            f"{backend}_env_build_s": round(build_s, 2),
            f"{backend}_env_reset_s": round(r["reset_s"], 3),
            f"{backend}_env_steps": r["steps"],
            f"{backend}_env_wall_s": round(r["wall_s"], 3),
            f"{backend}_env_cpu_s": round(r["cpu_s"], 3),
            f"{backend}_env_episodes": len(eps),
            f"{backend}_env_wall_s_each": [round(e["wall_s"], 3) for e in eps],
            f"{backend}_env_steps_per_s": round(rate, 2),
            f"{backend}_agent_steps_per_s": round(rate * env.n_agents, 1),
        }
        n_agents = env.n_agents
    return {
        **record(
            "rl",
            start,
            inputs={"net": net_p, "routes": routes},
            seeds=[] if args.routes else [1],  # the generated demand is seed 1 (speed only)
            horizon_s=args.horizon_s,
        ),
        "n_agents": n_agents,
        "delta_t_s": float(args.delta_t_s),
        **out,
        "ratio": round(out["queue_env_steps_per_s"] / out["sumo_env_steps_per_s"], 1),
        "ratio_cpu": round(
            (out["queue_env_steps"] / out["queue_env_cpu_s"])
            / (out["sumo_env_steps"] / out["sumo_env_cpu_s"]),
            1,
        ),
    }
