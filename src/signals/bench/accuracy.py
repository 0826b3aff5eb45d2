"""Queue model vs SUMO micro on the evaluation seeds, with the shipped constants.

Does the surrogate rank signal plans the way SUMO does, on networks and demand it was not
calibrated on? Per network of ``--nets`` (default: the pilot zone and RESCO cologne8), per
evaluation seed (``--seeds``, default 11 12 13; the constants were chosen on the tuning seeds by
``signals bench calibration``) and per horizon (``--horizons-s``, default 900 s and the hour):

* the **validation** set (``--n-validation``, default 20: netconvert's programs, Webster/HCM,
  cycles x0.7-1.5, shifted and random offsets, degraded splits, random-but-valid plans):
  ``spearman_avg_delay`` and ``mean_abs_rel_error_avg_delay`` of network average delay across
  the plans, and ``spearman_intersection_delay`` (per-intersection control delay, pooled over
  plans and intersections with traffic on both sides);
* the **near-optimal** set (Webster and ``--n-near-optimal`` perturbations of its cycle, splits
  and offsets, default 20: the plans an optimizer's polish chooses among):
  ``spearman_near_optimal`` and ``regret_near_optimal`` (SUMO's delay of the model's best plan
  over SUMO's best), with SUMO's own spread of the set; on the longest horizon only (a polish
  is judged over the period it times, the hour);
* **SUMO against itself** on the networks of ``--noise-nets`` (default cologne8): both sets over
  the hour again in SUMO with another seed (demand seed + 1000; the same routes and plans),
  scored against the first run as the model is (``sumo_self_*``): how well one SUMO run can rank
  the plans another SUMO run sees, the ceiling of any model's figures.

Every figure is given per seed and as mean and min-max over the seeds; the targets of the
figures issue are checked on the full hour: Spearman >= 0.9 and error <= 0.2 on the validation
set, Spearman >= 0.8 and regret <= 1.03 on the near-optimal set. The model runs with
``signals.evaluate.queue.CALIBRATED`` (the shipped defaults; the record they came from is
``src/signals/evaluate/queue/queue_calibration.json``), never a refit on these runs. Plans, demand,
SUMO runs (cached by content digest) and the delay definition are those of
:mod:`signals.bench._queue_check`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from signals.bench import _queue_check as Q
from signals.bench._common import EVALUATION_SEEDS, record, started

# The model as shipped before sneakers (git 43edd31, its calibrated constants):
# its figures on the same SUMO runs are reported beside the shipped ones, as what the change
# bought.
PREVIOUS = {
    "sat_flow_factor": 0.65,
    "stop_penalty_s": 2.711,
    "freeflow_loss_frac": 0.1443,
    "lane_groups": True,
    "sneakers_per_green": 0.0,
    "fifo_lanes": "signal",
}
PREVIOUS_GIT = "43edd31"
PREVIOUS_WHAT = "no sneakers, FIFO approach lanes at signals, its constants"
PREVIOUS_FIGURES = (
    "spearman_avg_delay",
    "mean_abs_rel_error_avg_delay",
    "spearman_intersection_delay",
    "spearman_near_optimal",
    "regret_near_optimal",
)

TARGETS = {  # the figures issue's acceptance, on the full hour, mean over evaluation seeds
    "spearman_avg_delay": (">=", 0.9),
    "mean_abs_rel_error_avg_delay": ("<=", 0.2),
    "spearman_near_optimal": (">=", 0.8),
    "regret_near_optimal": ("<=", 1.03),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    Q.add_common_arguments(p, EVALUATION_SEEDS, "evaluation seeds")
    p.add_argument("--n-validation", type=int, default=20, help="validation plans (>= 20)")
    p.add_argument("--n-near-optimal", type=int, default=20, help="near-optimal perturbations")
    p.add_argument(
        "--near-optimal-seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds of the near-optimal set (default: --seeds)",
    )
    p.add_argument(
        "--near-optimal-nets",
        nargs="+",
        default=None,
        help="networks of the near-optimal set (default: --nets; 21 SUMO hours per seed each)",
    )
    p.add_argument(
        "--noise-nets",
        nargs="*",
        default=["cologne8"],
        help="networks whose plans SUMO also runs with another SUMO seed over the hour (same "
        "routes and plans), for SUMO's agreement with itself: the ceiling of any model's "
        "(default cologne8; the pilot zone costs 41 SUMO hours per seed)",
    )


def _met(name: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, bound = TARGETS[name]
    return value >= bound if op == ">=" else value <= bound


NOISE_SEED_OFFSET = 1000  # SUMO's seed for the noise runs: the demand seed + this


def _horizon_figures(cases, h: float, runs, params, noise=None) -> dict:
    """Per seed and over seeds, both sets, one network at horizon ``h``; ``noise`` (runs with
    another SUMO seed, keyed as ``runs``) adds SUMO's agreement with itself on each set it
    holds."""
    from scipy.stats import spearmanr

    per_seed: dict = {"validation": {}, "near_optimal": {}}
    pairs_m: list[float] = []
    pairs_s: list[float] = []
    model_wall = 0.0
    for c in cases:
        inputs = Q.model_inputs(c)
        for s in c.programs:
            if (c.net.name, c.seed, s, h) not in runs:  # near-optimal: the longest horizon only
                continue
            sumo = runs[(c.net.name, c.seed, s, h)]
            t0 = time.perf_counter()
            res = Q.model_result(c, inputs, s, h, params)
            model_wall += time.perf_counter() - t0
            y = [r["summary"]["avg_delay_s"] for r in sumo]
            a = Q.agreement(res.avg_delay_s, y)
            a["sumo_teleports_max"] = max(r["summary"].get("n_teleports", 0.0) for r in sumo)
            if s == "validation":
                m, ss = Q.intersection_pairs(res, sumo, c.network.signal_ids)
                a["spearman_intersection"] = round(float(spearmanr(m, ss).correlation), 4)
                pairs_m += m
                pairs_s += ss
            alt = (noise or {}).get((c.net.name, c.seed, s, h))
            if alt is not None:
                # SUMO with another seed scored like the model: what no model can beat
                b = Q.agreement([r["summary"]["avg_delay_s"] for r in alt], y)
                a["sumo_self"] = {k: b[k] for k in ("spearman", "regret", "mean_abs_rel_error")}
                a["sumo_self"]["other_seed_avg_delay_s"] = b["model_avg_delay_s"]
            per_seed[s][c.seed] = a
    v, n = per_seed["validation"], per_seed["near_optimal"]
    out = {
        "spearman_avg_delay": Q.summarise([a["spearman"] for a in v.values()]),
        "mean_abs_rel_error_avg_delay": Q.summarise([a["mean_abs_rel_error"] for a in v.values()]),
        "spearman_intersection_delay": round(float(spearmanr(pairs_m, pairs_s).correlation), 4),
        "n_intersection_pairs": len(pairs_m),
        "model_wall_s": round(model_wall, 2),
    }
    if n:
        out |= {
            "spearman_near_optimal": Q.summarise([a["spearman"] for a in n.values()]),
            "regret_near_optimal": Q.summarise([a["regret"] for a in n.values()]),
            "near_optimal_sumo_spread": Q.summarise([a["sumo_spread"] for a in n.values()]),
        }
    # SUMO against itself, named as the model's figures of each set
    for d, names in (
        (
            v,
            {
                "spearman": "spearman_avg_delay",
                "mean_abs_rel_error": "mean_abs_rel_error_avg_delay",
            },
        ),
        (n, {"spearman": "spearman_near_optimal", "regret": "regret_near_optimal"}),
    ):
        own = [a["sumo_self"] for a in d.values() if "sumo_self" in a]
        if own:
            for k, name in names.items():
                out[f"sumo_self_{name}"] = Q.summarise([o[k] for o in own])
    out["per_seed"] = {s: {str(k): a for k, a in d.items()} for s, d in per_seed.items()}
    return out


def run(args: argparse.Namespace) -> dict:
    from signals.bench.calibration import RECORD_PATH
    from signals.digests import sha256_file
    from signals.evaluate.queue import CALIBRATED, QueueParams

    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    near_seeds = list(args.near_optimal_seeds or args.seeds)
    seeds = sorted(set(args.seeds) | set(near_seeds))
    nets = [
        Q.bench_net(n, work, resco=args.resco, veh_per_hour=args.veh_per_hour) for n in args.nets
    ]
    wanted = args.near_optimal_nets
    near_nets = {
        bn.name
        for given, bn in zip(args.nets, nets, strict=True)
        if wanted is None or given in wanted or bn.name in wanted
    }
    # each set has its own generator, so leaving a net's near-optimal set out changes no plan
    cases = [
        c
        for bn in nets
        for c in Q.design_cases(
            [bn],
            seeds,
            work,
            plan_seed=args.plan_seed,
            sizes={"validation": args.n_validation}
            | ({"near_optimal": args.n_near_optimal} if bn.name in near_nets else {}),
            bench="accuracy",
        )
    ]
    # the near-optimal set only on its seeds, the validation set only on --seeds
    for c in cases:
        c.programs = {
            s: p
            for s, p in c.programs.items()
            if (s == "near_optimal" and c.seed in near_seeds)
            or (s == "validation" and c.seed in args.seeds)
        }
    hour = max(float(h) for h in args.horizons_s)
    runs, cached, sumo_wall = Q.run_sumo_cases(
        cases,
        args.horizons_s,
        work,
        jobs=args.jobs,
        bench="accuracy",
        set_horizons={"near_optimal": [hour]},
    )
    noisy = set(args.noise_nets or [])
    noise_cases = [  # both sets, over the hour
        c for c in cases if c.programs and (c.net.name in noisy or str(c.net.net) in noisy)
    ]
    noise: dict = {}
    if noise_cases:
        noise, noise_cached, noise_wall = Q.run_sumo_cases(
            noise_cases,
            [hour],
            work,
            jobs=args.jobs,
            bench="accuracy",
            sumo_seed_offset=NOISE_SEED_OFFSET,
        )
        cached = [*cached, *noise_cached]
        sumo_wall += noise_wall
    networks: dict = {}
    for bn in nets:
        mine = [c for c in cases if c.net is bn]
        first = mine[0]
        networks[bn.name] = {
            "net": str(bn.net),
            "net_sha256": sha256_file(bn.net),
            "veh_per_hour": bn.veh_per_hour,
            "n_signals": first.network.n_signals,
            "validation_plans": [n for n, _ in first.programs.get("validation", [])],
            "near_optimal_plans": [
                n
                for n, _ in next(
                    (c for c in mine if "near_optimal" in c.programs), first
                ).programs.get("near_optimal", [])
            ],
            "horizons": {
                f"{h:g}": _horizon_figures(mine, float(h), runs, CALIBRATED, noise)
                for h in args.horizons_s
            },
        }
        previous = QueueParams(**PREVIOUS)
        networks[bn.name]["previous_model"] = {
            f"{h:g}": {
                k: v
                for k, v in _horizon_figures(mine, float(h), runs, previous).items()
                if k in PREVIOUS_FIGURES
            }
            for h in args.horizons_s
        }
        longest = networks[bn.name]["horizons"].get(f"{hour:g}", {})
        networks[bn.name]["targets_met"] = {
            k: _met(k, (longest.get(k) or {}).get("mean")) for k in TARGETS
        }
    inputs = {f"{bn.name}_net": bn.net for bn in nets}
    inputs |= {f"{c.net.name}_routes_seed{c.seed}": c.routes for c in cases}
    inputs["calibration_record"] = RECORD_PATH
    return {
        **record(
            "accuracy",
            start,
            inputs=inputs,
            seeds=seeds,
            horizon_s=max(args.horizons_s),
            cached_runs=cached,
        ),
        "near_optimal_seeds": near_seeds,
        "near_optimal_nets": sorted(near_nets),
        "horizons_s": [float(h) for h in args.horizons_s],
        "delay_definition": Q.DELAY_DEFINITION,
        "params": "shipped (signals.evaluate.queue.CALIBRATED)",
        "shipped": asdict(CALIBRATED),
        "previous_model": {**PREVIOUS, "git_revision": PREVIOUS_GIT, "what": PREVIOUS_WHAT},
        "targets": {k: f"{op} {b}" for k, (op, b) in TARGETS.items()},
        "noise_nets": sorted({c.net.name for c in noise_cases}),
        "noise_sumo_seed_offset": NOISE_SEED_OFFSET,
        "n_sumo_runs": sum(len(v) for v in runs.values()) + sum(len(v) for v in noise.values()),
        "sumo_micro_wall_s_total": round(sumo_wall, 1),
        "networks": networks,
    }
