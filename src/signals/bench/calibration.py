"""Queue-model calibration on the tuning seeds, at least two networks and both horizons.

The queue model's SUMO-facing constants (``signals.evaluate.queue.CALIBRATED``) are chosen
here and only here, on :data:`signals.bench._common.TUNING_SEEDS` (the evaluation seeds are
refused), on every network of ``--nets`` (default: the pilot zone and RESCO cologne8, a city
network the project did not build) and every horizon of ``--horizons-s`` (900 s and the full
hour) at once: one set of constants for all of them, never a per-net refit.

1. **Plans**: the calibration set of :mod:`signals.bench._queue_check` (random-but-valid and
   scaled Webster plans; ``--n-calibration``; on networks where SUMO is cheap more of them,
   ``--n-calibration-for``: also degraded splits and perturbed Webster plans), never the
   validation or near-optimal plans ``signals bench accuracy`` reports on.
2. **SUMO micro** scores every (network, seed, plan, horizon); runs are cached by content digest.
3. **Fit**: for every saturation-flow factor on ``--grid``, the stop penalty (s per stop) and
   the free-flow loss share are fitted by non-negative least squares of the *relative* residual
   of network average delay, pooled over every run (so a 40 s network weighs as much as a
   200 s one) with every network weighing the same; the factor is scored by the pooled
   per-intersection rank correlation minus the mean relative error of network delay (networks
   weighed alike), and the best one wins. Same delay definition on both sides
   (:data:`signals.bench._queue_check.DELAY_DEFINITION`).
4. **FIFO lanes chosen**: steps 3 runs once per option of ``--fifo-lanes`` (which shared lanes
   hold up their queue behind a vehicle blocked by spillback, ``QueueParams.fifo_lanes``), and
   the best-scoring option is shipped; every option's fit is reported.
5. **Model rules measured** (:data:`ABLATIONS`): the same fit with one rule of the model off --
   lane groups (each shared lane split equally among its movements), sneakers (none at a
   yielding green's end) -- is reported beside it: a rule earns its place by the pooled fit on
   these tuning data.
6. **Record**: the chosen values, the grid and its scores, the plans, the data digests and the
   horizons; ``--write-record`` writes it to ``src/signals/evaluate/queue/queue_calibration.json``,
   beside the constants it produces (a test holds ``CALIBRATED`` to that file). The JSON also
   reports the shipped constants' error on the same runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from signals.bench import _queue_check as Q
from signals.bench._common import EVALUATION_SEEDS, TUNING_SEEDS, record, started

GRID = tuple(round(0.4 + 0.05 * k, 2) for k in range(15))  # 0.40 ... 1.10
# more calibration plans where SUMO is cheap (8 signals: ~10 s per hour), so the fit sees the
# kinds of plans an optimizer and the accuracy check meet (degraded, perturbed Webster plans)
N_CALIBRATION_FOR = {"cologne8": 24}
# one rule of the model off at a time (QueueParams fields), each fitted like the shipped model
ABLATIONS = {
    "without_lane_groups": {"lane_groups": False},
    "without_sneakers": {"sneakers_per_green": 0.0},
}
RECORD_PATH = Path(__file__).resolve().parents[1] / "evaluate" / "queue" / "queue_calibration.json"
FITTED = ("sat_flow_factor", "stop_penalty_s", "freeflow_loss_frac", "fifo_lanes")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from signals.evaluate.queue import FIFO_LANES

    Q.add_common_arguments(p, TUNING_SEEDS[:2], "tuning seeds only")
    p.add_argument("--n-calibration", type=int, default=6, help="calibration plans per network")
    p.add_argument(
        "--n-calibration-for",
        nargs="*",
        default=[f"{k}={v}" for k, v in N_CALIBRATION_FOR.items()],
        metavar="NET=N",
        help="calibration plans of one network, where SUMO is cheap (default "
        + " ".join(f"{k}={v}" for k, v in N_CALIBRATION_FOR.items())
        + ")",
    )
    p.add_argument(
        "--grid",
        type=float,
        nargs="+",
        default=list(GRID),
        help="saturation-flow factors tried (default 0.40-1.10 by 0.05)",
    )
    p.add_argument(
        "--fifo-lanes",
        nargs="+",
        choices=FIFO_LANES,
        default=list(FIFO_LANES),
        help="FIFO-lane options tried (QueueParams.fifo_lanes; default all)",
    )
    p.add_argument(
        "--write-record",
        action="store_true",
        help=f"write the calibration record to {RECORD_PATH.relative_to(RECORD_PATH.parents[3])}",
    )


def _groups(cases, horizons, runs):
    """[(case, horizon, model inputs, SUMO runs)] for every (network, seed, horizon)."""
    out = []
    for c in cases:
        inputs = Q.model_inputs(c)
        for h in horizons:
            out.append((c, float(h), inputs, runs[(c.net.name, c.seed, "calibration", float(h))]))
    return out


def _design(groups, model_params):
    """Per group: (base delay per vehicle, [stops, moving] per vehicle, SUMO delay, result) of
    the model with ``model_params`` (its stop penalty and free-flow share unused)."""
    import numpy as np

    rows = []
    for c, h, inputs, sumo in groups:
        res = Q.model_result(c, inputs, "calibration", h, model_params)
        n = res.n_vehicles
        queued = (res.row["queue_delay_vs"] + res.row["backlog_delay_vs"]) / n
        X = np.stack([res.row["stops"] / n, res.row["moving_vs"] / n], axis=1)
        y = np.array([s["summary"]["avg_delay_s"] for s in sumo], dtype=float)
        rows.append((queued, X, y, res))
    return rows


def _net_weights(groups):
    """(runs,) weight of every SUMO run in the pooled fit: each network sums to 1."""
    from collections import Counter

    import numpy as np

    nets = [c.net.name for c, _, _, sumo in groups for _ in sumo]
    n = Counter(nets)
    return np.array([1.0 / n[k] for k in nets])


def _scores(groups, rows, params) -> dict:
    """Pooled figures of ``params`` over every group: relative error and intersection ranks,
    and the error of each (network, seed, horizon)."""
    import numpy as np
    from scipy.stats import spearmanr

    errs, ms, ss, per = [], [], [], {}
    for (c, h, _, sumo), (queued, X, y, res) in zip(groups, rows, strict=True):
        pred = queued + X @ np.array([params.stop_penalty_s, params.freeflow_loss_frac])
        e = np.abs(pred - y) / y
        errs.extend(e.tolist())
        res.params = params
        m, s = Q.intersection_pairs(res, sumo, c.network.signal_ids)
        ms += m
        ss += s
        per[f"{c.net.name}/seed{c.seed}/{h:g}s"] = round(float(e.mean()), 4)
    return {
        # each network weighs the same (its runs' mean), as in the fit
        "mean_abs_rel_error": round(float(np.average(errs, weights=_net_weights(groups))), 4),
        "spearman_intersection": round(float(spearmanr(ms, ss).correlation), 4),
        "n_intersection_pairs": len(ms),
        "mean_abs_rel_error_per_group": per,
    }


def fit(groups, grid, base=None, *, label: str = "") -> tuple[object, list[dict]]:
    """The best (QueueParams, grid table) over ``grid`` (see the module docstring); the other
    constants are ``base``'s (default: QueueParams())."""
    import numpy as np
    from scipy.optimize import nnls

    from signals.evaluate.queue import QueueParams

    base = QueueParams() if base is None else base
    table, best = [], None
    for f in grid:
        rows = _design(groups, base.replace(sat_flow_factor=float(f)))
        queued = np.concatenate([r[0] for r in rows])
        X = np.concatenate([r[1] for r in rows])
        y = np.concatenate([r[2] for r in rows])
        w = np.sqrt(_net_weights(groups))  # each network weighs the same
        coef, _ = nnls(X / y[:, None] * w[:, None], (y - queued) / y * w)  # relative residuals
        params = base.replace(
            sat_flow_factor=float(f),
            stop_penalty_s=round(float(coef[0]), 3),
            freeflow_loss_frac=round(float(coef[1]), 4),
        )
        sc = _scores(groups, rows, params)
        score = sc["spearman_intersection"] - sc["mean_abs_rel_error"]
        table.append({**{k: getattr(params, k) for k in FITTED}, **sc, "score": round(score, 4)})
        Q.progress("calibration", f"{label}factor {f:.2f}: {table[-1]}")
        if best is None or score > best[0]:
            best = (score, params)
    return best[1], table


def _row_of(table: list[dict], params) -> dict:
    """The grid row of ``params``, less the constants."""
    return next(
        {k: v for k, v in row.items() if k not in FITTED}
        for row in table
        if all(row[k] == getattr(params, k) for k in FITTED)
    )


def run(args: argparse.Namespace) -> dict:
    from signals.errors import InputError
    from signals.evaluate.queue import CALIBRATED, QueueParams

    start = started()
    bad = sorted(set(args.seeds) & set(EVALUATION_SEEDS))
    if bad:
        raise InputError(
            None, "--seeds", "tuning seeds only (the evaluation seeds are never tuned on)", bad
        )
    n_for = {}
    for item in args.n_calibration_for or []:
        name, _, n = item.partition("=")
        if not n.isdigit() or int(n) < 1:
            raise InputError(None, "--n-calibration-for", "NET=N with N >= 1", item)
        n_for[name] = int(n)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    nets = [
        Q.bench_net(n, work, resco=args.resco, veh_per_hour=args.veh_per_hour) for n in args.nets
    ]
    cases = [
        c
        for bn in nets
        for c in Q.design_cases(
            [bn],
            args.seeds,
            work,
            plan_seed=args.plan_seed,
            sizes={"calibration": n_for.get(bn.name, args.n_calibration)},
            bench="calibration",
        )
    ]
    runs, cached, sumo_wall = Q.run_sumo_cases(
        cases, args.horizons_s, work, jobs=args.jobs, bench="calibration"
    )
    groups = _groups(cases, args.horizons_s, runs)
    fits = {
        f: fit(groups, args.grid, QueueParams(fifo_lanes=f), label=f"FIFO lanes {f}, ")
        for f in args.fifo_lanes
    }
    best = max(fits, key=lambda f: _row_of(fits[f][1], fits[f][0])["score"])
    params, table = fits[best]
    # the same fit with one rule off at a time: what each rule brings
    ablations = {
        name: fit(
            groups,
            args.grid,
            QueueParams(fifo_lanes=best, **off),
            label=name.replace("_", " ") + ", ",
        )
        for name, off in ABLATIONS.items()
    }
    chosen = {k: getattr(params, k) for k in FITTED}
    shipped = {k: getattr(CALIBRATED, k) for k in FITTED}
    inputs = {f"{c.net.name}_net": c.net.net for c in cases}
    inputs |= {f"{c.net.name}_routes_seed{c.seed}": c.routes for c in cases}
    out = {
        **record(
            "calibration",
            start,
            inputs=inputs,
            seeds=args.seeds,
            horizon_s=max(args.horizons_s),
            cached_runs=cached,
        ),
        "horizons_s": [float(h) for h in args.horizons_s],
        "networks": {bn.name: {"net": str(bn.net), "veh_per_hour": bn.veh_per_hour} for bn in nets},
        "delay_definition": Q.DELAY_DEFINITION,
        "plans": {
            bn.name: [n for n, _ in next(c for c in cases if c.net is bn).programs["calibration"]]
            for bn in nets
        },
        "n_sumo_runs": sum(len(v) for v in runs.values()),
        "sumo_micro_wall_s_total": round(sumo_wall, 1),
        "grid": table,
        "fifo_lanes": {
            f: {k: getattr(p, k) for k in FITTED} | _row_of(t, p) for f, (p, t) in fits.items()
        },
        "chosen": chosen,
        "chosen_figures": _row_of(table, params),
        "shipped": shipped,
        "shipped_figures": _scores(groups, _design(groups, CALIBRATED), CALIBRATED),
        "shipped_equals_chosen": shipped == chosen,
        **{
            name: {
                "off": ABLATIONS[name],
                "chosen": {k: getattr(p, k) for k in FITTED},
                "chosen_figures": _row_of(t, p),
            }
            for name, (p, t) in ablations.items()
        },
    }
    if args.write_record:
        from signals.errors import atomic_write

        with atomic_write(RECORD_PATH) as fh:
            json.dump(out, fh, indent=1)
            fh.write("\n")
    return out
