"""A trained RL policy against Webster, max-pressure and SUMO's actuated control, in SUMO micro.

In one run, on the pilot zone (AM peak, ``--end-s`` = 1 simulated hour, the routed demand of
every evaluation seed: 11, 12, 13 by default, none of which the policy was trained on -- its
card lists its training seeds, and the run refuses a seed the policy trained on), each
controller as the project runs it:

* ``policy``: the committed policy (``--policy``, default ``policies/pilot-zone-ppo``) through
  the closed loop (:class:`signals.control.rl.policy.PolicyController`, the loop settings and
  stages it was trained with);
* ``webster``: the Webster/HCM fixed-time plans of the seed's demand, static in SUMO;
* ``max_pressure``: Varaiya's max-pressure through the closed loop on the Webster plan's stages
  (as ``signals bench loop`` runs it);
* ``actuated``: SUMO's gap-based actuated control on the net's own phases (``type="actuated"``,
  what any engineer gets for free; as ``signals bench optimize`` and ``realnets`` run it).

Every controller's costs beside its gains (:func:`signals.bench._common.controller_figures`):
average delay, trips finished, vehicles left, teleports, stops; mean and min-max over the seeds.
``ratio_vs_webster`` = mean policy delay / mean Webster delay. Each SUMO run is a child process
(libsumo holds one simulation per process), ``--jobs`` at a time; finished runs are kept under
``--work`` by the digest of their inputs (net, routes, policy files), so an interrupted run
resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from signals.bench._common import (
    add_seed_arguments,
    bench_network,
    controller_figures,
    digest,
    mean_min_max,
    over_seeds,
    record,
    routes_asset,
    started,
)

CONTROLLERS = ("policy", "webster", "max_pressure", "actuated")
# How each controller runs (part of a kept run's key: a changed set-up is never reused)
SETUP = {
    "policy": "closed loop, the policy's own loop config and stages",
    "webster": "static Webster programs",
    "max_pressure": "closed loop, LoopConfig(), the Webster plans' stages",
    "actuated": "SUMO type=actuated, LoopConfig(stages='own')",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="policies/pilot-zone-ppo", help="policy directory")
    p.add_argument("--net", default=None, help="pilot-zone .net.xml (default: build the recipe)")
    p.add_argument("--work", default="out/bench/policy", help="work directory (kept)")
    add_seed_arguments(p)
    p.add_argument("--end-s", type=float, default=3600.0, help="simulated horizon, s")
    p.add_argument("--jobs", type=int, default=2, help="SUMO runs at a time")


def _child(spec: dict) -> dict:
    """One controller on one seed (a fresh process)."""
    from signals.control.adaptive import ActuatedSumo, MaxPressure
    from signals.evaluate.sumo_loop import evaluate_online
    from signals.evaluate.sumo_run import evaluate_sumo

    w0 = time.perf_counter()
    net, routes, end_s = spec["net"], spec["routes"], float(spec["end_s"])
    c = spec["controller"]
    if c == "webster":
        r = evaluate_sumo(net, routes, program=spec["webster_add"], end_s=end_s, queue_sample_s=0)
        summary = r.summary
    elif c == "policy":
        from signals.control.rl.policy import PolicyController, policy_loop_config

        ctl = PolicyController(spec["policy"])
        cfg = policy_loop_config(ctl.card)
        summary = evaluate_online(net, routes, ctl, config=cfg, end_s=end_s).summary
    elif c == "actuated":  # what SUMO gives for free: type="actuated" on the net's own phases
        from signals.evaluate.sumo_loop import LoopConfig

        cfg = LoopConfig(stages="own")
        summary = evaluate_online(net, routes, ActuatedSumo(), config=cfg, end_s=end_s).summary
    else:  # on the same Webster plans' stages as the static run (as `bench loop` runs it)
        from signals.control.fixed_time import movement_flows_vph, webster_planset
        from signals.network import Network

        network = Network.from_sumo(net)
        plans = webster_planset(network, movement_flows_vph(network, routes, 0.0, end_s))
        summary = evaluate_online(net, routes, MaxPressure(), plans=plans, end_s=end_s).summary
    return {
        "summary": {k: float(v) for k, v in summary.items()},
        "wall_s": time.perf_counter() - w0,
    }


def run(args: argparse.Namespace) -> dict:
    import multiprocessing as mp
    import sys
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from signals.control.fixed_time import movement_flows_vph, webster_planset
    from signals.control.rl.policy import CARD_FILE, MODEL_FILE, read_card
    from signals.digests import sha256_file
    from signals.errors import InputError, atomic_write
    from signals.export import export
    from signals.network import Network

    t_start = time.perf_counter()
    start = started()
    pol = Path(args.policy)
    card = read_card(pol)
    trained = set(card.get("training_seeds", [])) | {card.get("routes_seed")}
    trained |= set(card.get("routes_seeds", []))  # imitation: every episode's demand seed
    bad = [s for s in args.seeds if s in trained]
    if bad:
        raise InputError(
            pol / CARD_FILE,
            "training_seeds",
            "evaluation seeds the policy never trained on",
            bad[0],
        )
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    net_path = bench_network(args.net, work, "pilot-zone")
    network = Network.from_sumo(net_path)
    inputs: dict[str, Path] = {"net": net_path, "policy_model": pol / MODEL_FILE}
    specs = []
    for seed in args.seeds:
        routes = routes_asset(net_path, work, period="am_peak", seed=seed, end_s=args.end_s)
        inputs[f"routes_seed{seed}"] = routes
        sdir = work / f"seed{seed}"
        sdir.mkdir(parents=True, exist_ok=True)
        plans = webster_planset(network, movement_flows_vph(network, routes, 0.0, args.end_s))
        webster_add = export(plans, network, sdir / "webster.add.xml", "sumo")
        for c in CONTROLLERS:
            specs.append(
                {
                    "controller": c,
                    "seed": seed,
                    "net": str(net_path),
                    "routes": str(routes),
                    "end_s": float(args.end_s),
                    "webster_add": str(webster_add),
                    "policy": str(pol),
                }
            )

    def key(s: dict) -> str:
        files = [s["net"], s["routes"], s["webster_add"]]
        if s["controller"] == "policy":
            files += [str(pol / MODEL_FILE), str(pol / CARD_FILE)]
        return digest(
            {
                "files": [sha256_file(f) for f in files],
                "controller": s["controller"],
                "setup": SETUP[s["controller"]],
                "end_s": s["end_s"],
            }
        )

    cache = work / "runs"
    results: dict[int, dict] = {}
    cached: list[str] = []
    todo = []
    for i, s in enumerate(specs):
        p = cache / f"{key(s)}.json"
        if p.is_file():
            results[i] = json.loads(p.read_text())
            cached.append(f"{s['controller']}_seed{s['seed']}")
        else:
            todo.append((i, p))
    if todo:
        with ProcessPoolExecutor(max(1, args.jobs), mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(_child, specs[i]): (i, p) for i, p in todo}
            for n, f in enumerate(as_completed(futs), 1):
                i, p = futs[f]
                results[i] = f.result()
                p.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(p) as fh:
                    json.dump(results[i], fh)
                s = specs[i]
                print(
                    f"bench policy: {s['controller']} seed {s['seed']} done "
                    f"({n}/{len(todo)}, {results[i]['wall_s']:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    runs: dict[str, list[dict]] = {c: [] for c in CONTROLLERS}
    for i, s in enumerate(specs):
        runs[s["controller"]].append(
            {"seed": s["seed"], **controller_figures(results[i]["summary"])}
        )
    ctl = {c: {"over_seeds": over_seeds(r), "per_seed": r} for c, r in runs.items()}
    mean = {c: v["over_seeds"]["avg_delay_s"]["mean"] for c, v in ctl.items()}
    per = {c: [r["avg_delay_s"] for r in runs[c]] for c in CONTROLLERS}
    out = {
        **record(
            "policy",
            start,
            inputs=inputs,
            seeds=args.seeds,
            horizon_s=args.end_s,
            cached_runs=cached,
        ),
        "policy": str(pol),
        "policy_training_seeds": sorted(x for x in trained if x is not None),
        "policy_agent_steps": card.get("agent_steps"),
        "policy_train_wall_s": card.get("train_wall_s"),
        **{f"delay_{c}_s": mean[c] for c in CONTROLLERS},
        **{f"trips_{c}": ctl[c]["over_seeds"]["trips_finished"]["mean"] for c in CONTROLLERS},
        **{f"teleports_{c}": ctl[c]["over_seeds"]["teleports"]["mean"] for c in CONTROLLERS},
        "ratio_vs_webster": round(mean["policy"] / mean["webster"], 3),
        "ratio_vs_webster_per_seed": mean_min_max(
            [p / w for p, w in zip(per["policy"], per["webster"], strict=True)], 3
        ),
        "policy_below_max_pressure_and_actuated": mean["policy"]
        < min(mean["max_pressure"], mean["actuated"]),
        "controllers": ctl,
        "bench_wall_s": round(time.perf_counter() - t_start, 1),
    }
    return out
