"""Queue model vs SUMO micro: does the surrogate rank signal plans the way SUMO does?

In one run, on one network and one routed demand (default: the pilot zone, AM peak, seed 1):

1. **Plans.** A *calibration* set (``--n-calibration``, default 6: random-but-valid plans and
   scaled Webster plans, their own seeds) and a separate *validation* set (``--n-validation``,
   default 20): netconvert's programs, Webster/HCM, cycles scaled x0.7/0.85/1.25/1.5, shifted and
   random offsets, degraded splits and random-but-valid plans. Every plan passes the gate as
   an existing program does (nothing unsafe; signals whose variant fails keep the base plan).
2. **SUMO micro** runs every plan over ``--horizon-s`` (default 900 s from the start of the
   demand; ``--jobs`` processes in parallel) with the plan loaded as a SUMO additional.
3. **Calibration** on the calibration set only: the saturation-flow factor is chosen from a grid
   and the stop penalty (s per stop) and free-flow loss share are fitted by non-negative least
   squares of the network average delay; the fitted constants are reported.
4. **Validation**: the calibrated queue model evaluates the validation plans in one batch and is
   compared with SUMO: ``spearman_avg_delay`` (rank correlation of network average delay across
   plans), ``mean_abs_rel_error_avg_delay``, ``spearman_intersection_delay`` (per-intersection
   control delay, pooled over plans and intersections with traffic in SUMO).

Delay is the project's one definition (timeLoss + departDelay, vehicles still in the network and
not yet inserted counted; ``signals.evaluate.metrics``) on both sides.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from signals.bench._common import record, started


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", default=None, help="SUMO .net.xml (default: build the pilot zone)")
    p.add_argument("--routes", default=None, help="routes file (default: generate, seed 1)")
    p.add_argument("--veh-per-hour", type=float, default=None, help="demand when generating")
    p.add_argument("--work", default="out/bench/accuracy", help="work directory (kept)")
    p.add_argument("--horizon-s", type=float, default=900.0, help="simulated horizon, s")
    p.add_argument("--n-validation", type=int, default=20, help="validation plans (>= 20)")
    p.add_argument("--n-calibration", type=int, default=6, help="calibration plans")
    p.add_argument("--jobs", type=int, default=2, help="SUMO processes in parallel")
    p.add_argument("--seed", type=int, default=7, help="seed of the plan generator")


# ------------------------------------------------------------------------------- plans
def _safe_variant(base, variant, network):
    """``variant`` with every signal whose plan the gate refuses replaced by ``base``'s plan.

    The variants are programs for SUMO to score, many derived from the net's own programs, so
    they are held to the gate as existing programs are: unsafe findings refuse, below-guideline
    ones (netconvert's 0-2 s red clearance) are kept as the net has them.
    """
    from signals.plans import PlanSet
    from signals.safety import assert_safe, refused, validate

    bad = {v.signal_id for v in refused(validate(variant, network), existing=True)}
    plans = {sid: (base.plans[sid] if sid in bad else p) for sid, p in variant.plans.items()}
    ps = PlanSet(plans)
    assert_safe(ps, network, existing=True)
    return ps, len(bad)


def _retime(plan, greens, offset_s, safety):
    """Whole-second greens, each at least the stage minimum; max green widened to fit."""
    import numpy as np

    lo = np.array([max(ph.min_green_s, safety.min_green_s, ph.clear_s) for ph in plan.phases])
    g = np.maximum(np.round(np.asarray(greens, dtype=float)), np.ceil(lo))
    p = plan.retimed(g.tolist(), offset_s=offset_s)
    phases = tuple(
        replace(
            ph,
            max_green_s=max(ph.max_green_s, ph.green_s),
            min_green_s=min(ph.min_green_s, ph.green_s),
        )
        for ph in p.phases
    )
    return replace(p, phases=phases)


def _greens(plan):
    import numpy as np

    return np.array([ph.green_s for ph in plan.phases], dtype=float)


def _change(plan):
    return sum(ph.yellow_s + ph.allred_s for ph in plan.phases)


def make_plans(network, flows_vph, rng, n_validation: int, n_calibration: int):
    """(validation [(name, PlanSet)], calibration [(name, PlanSet)]): diverse, all safe."""
    import numpy as np

    from signals.control.fixed_time import webster_planset
    from signals.plans import PlanSet
    from signals.safety import SafetyConfig

    safety = SafetyConfig()
    default = PlanSet.from_network(network)
    default, _ = _safe_variant(default, default, network)
    webster = webster_planset(network, flows_vph)

    def each(base, fn):
        variant = PlanSet({sid: fn(p) for sid, p in base.plans.items()})
        return _safe_variant(base, variant, network)[0]

    def scaled(base, f):
        def fn(p):
            chg = _change(p)
            target = min(max(p.cycle_s * f, safety.cycle_min_s), safety.cycle_max_s)
            g = _greens(p) * (target - chg) / max(_greens(p).sum(), 1e-9)
            return _retime(p, g, (p.offset_s * f) % target, safety)

        return each(base, fn)

    def offsets(base, how):
        def fn(p):
            off = rng.uniform(0, p.cycle_s) if how == "random" else (p.offset_s + how * p.cycle_s)
            return _retime(p, _greens(p), off % p.cycle_s, safety)

        return each(base, fn)

    def degraded(base, sigma):
        def fn(p):
            g = _greens(p)
            w = g * rng.lognormal(0.0, sigma, len(g))
            return _retime(p, w * g.sum() / w.sum(), p.offset_s, safety)

        return each(base, fn)

    def random_plan(base):
        def fn(p):
            cyc = rng.uniform(60, 130)
            avail = max(cyc - _change(p), 5.0 * p.n_stages)
            g = rng.dirichlet(np.full(p.n_stages, 2.0)) * avail
            return _retime(p, g, rng.uniform(0, cyc), safety)

        return each(base, fn)

    val = [("netconvert", default), ("webster", webster)]
    for f in (0.7, 0.85, 1.25, 1.5):
        val.append((f"cycle_x{f}", scaled(default, f)))
    val.append(("webster_cycle_x1.3", scaled(webster, 1.3)))
    for how in (0.5, "random"):
        val.append((f"offsets_{how}", offsets(default, how)))
    val.append(("webster_offsets_random", offsets(webster, "random")))
    for k, sigma in enumerate((0.3, 0.6, 0.9)):
        val.append((f"degraded_{k}", degraded(default, sigma)))
    val.append(("webster_degraded", degraded(webster, 0.5)))
    k = 0
    while len(val) < n_validation:
        val.append((f"random_{k}", random_plan(default)))
        k += 1
    cal = []
    for k in range(n_calibration):
        if k % 2 == 0:
            cal.append((f"cal_random_{k}", random_plan(default)))
        else:
            cal.append((f"cal_webster_x{0.8 + 0.15 * k:.2f}", scaled(webster, 0.8 + 0.15 * k)))
    return val[:n_validation], cal


# --------------------------------------------------------------------------------- SUMO
def run_sumo(
    net: Path, routes: Path, programs: list[Path], end_s: float, jobs: int
) -> tuple[list[dict], list[str]]:
    """SUMO micro on every program, ``jobs`` at a time (:func:`signals.bench._common.sumo_runs`;
    finished runs are cached beside the plans by content digest and not redone on a rerun).

    Returns:
        (per program: avg_delay_s, signal_delay_s, wall_s, n_teleports; the cached run names).
    """
    from signals.bench._common import sumo_runs

    specs = [
        {"net": net, "routes": routes, "program": p, "end_s": end_s, "name": Path(p).stem}
        for p in programs
    ]
    cache = Path(programs[0]).parent / "sumo-cache" if programs else None
    runs, cached = sumo_runs(specs, jobs=jobs, cache_dir=cache)
    return [
        {
            "avg_delay_s": r["summary"]["avg_delay_s"],
            "signal_delay_s": r["signal_delay_s"],
            "wall_s": r["wall_s"],
            "n_teleports": r["summary"].get("n_teleports", 0.0),
        }
        for r in runs
    ], cached


# ---------------------------------------------------------------------------- calibrate
def intersection_pairs(res, sumo_runs, signal_ids) -> tuple[list[float], list[float]]:
    """(model, SUMO) control delay of every (plan, intersection) with traffic on both sides."""
    import numpy as np

    idx = {sid: i for i, sid in enumerate(signal_ids)}
    ms, ss_ = [], []
    for p, s in enumerate(sumo_runs):
        for sid, v in s["signal_delay_s"].items():
            m = res.signal_delay_s[p, idx[sid]] if sid in idx else np.nan
            if np.isfinite(v) and np.isfinite(m):
                ms.append(float(m))
                ss_.append(float(v))
    return ms, ss_


def calibrate(qm_factory, tables, sumo_runs, signal_ids, grid=(0.7, 0.8, 0.9, 1.0, 1.1)):
    """Calibrate on the calibration plans only.

    For each saturation-flow factor on ``grid``: fit (stop penalty, free-flow loss share) by
    non-negative least squares of network average delay, and score the factor by the rank
    correlation of per-intersection control delay minus the mean relative error of average
    delay. The best-scoring factor and its fit win.

    Returns:
        (QueueParams, fit report dict).
    """
    import numpy as np
    from scipy.optimize import nnls
    from scipy.stats import spearmanr

    y = np.array([s["avg_delay_s"] for s in sumo_runs], dtype=float)
    best = None
    for f in grid:
        qm = qm_factory(f)
        res = qm.evaluate(tables, qm.horizon_s)
        n = res.n_vehicles
        base = (res.row["queue_delay_vs"] + res.row["backlog_delay_vs"]) / n
        X = np.stack([res.row["stops"] / n, res.row["moving_vs"] / n], axis=1)
        coef, _ = nnls(X, y - base)
        err = float(np.mean(np.abs(base + X @ coef - y) / y))
        # the stop penalty changes the intersection delays: score them with the fitted one
        res.params = res.params.replace(stop_penalty_s=float(coef[0]))
        rho = float(spearmanr(*intersection_pairs(res, sumo_runs, signal_ids)).correlation)
        score = rho - err
        if best is None or score > best[0]:
            best = (score, f, coef, err, rho)
    _, f, coef, err, rho = best
    params = qm_factory(f).params.replace(
        sat_flow_factor=float(f), stop_penalty_s=float(coef[0]), freeflow_loss_frac=float(coef[1])
    )
    return params, {
        "calibration_mean_abs_rel_error": round(err, 4),
        "calibration_spearman_intersection": round(rho, 4),
    }


# ---------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    from signals import demand
    from signals.bench.hotpath import pilot_zone_assets
    from signals.control.fixed_time import movement_flows_vph
    from signals.evaluate.queue_model import QueueModel, QueueParams, plan_tables
    from signals.export import export
    from signals.network import Network
    from signals.plans import stack_arrays

    start = started()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.net is None:
        net_path, routes = pilot_zone_assets(work.parent / "pilot-zone", None, args.routes)
    else:
        net_path = Path(args.net)
        routes = Path(args.routes) if args.routes else work / f"{net_path.stem}.rou.xml"
        if not routes.exists():
            demand.generate_routes(
                net_path, routes, begin_s=0, end_s=3600, seed=1, veh_per_hour=args.veh_per_hour
            )
    network = Network.from_sumo(net_path)
    H = float(args.horizon_s)
    flows = movement_flows_vph(network, routes, 0.0, 3600.0)
    rng = np.random.default_rng(args.seed)
    val, cal = make_plans(network, flows, rng, args.n_validation, args.n_calibration)

    # SUMO micro on every plan (each plan written as a SUMO additional, safety-checked)
    pdir = work / "plans"
    programs = [
        export(ps, network, pdir / f"{name}.add.xml", "sumo", existing=True)
        for name, ps in cal + val
    ]
    t0 = time.perf_counter()
    sumo, cached = run_sumo(net_path, routes, programs, H, args.jobs)
    sumo_wall = time.perf_counter() - t0
    sumo_cal, sumo_val = sumo[: len(cal)], sumo[len(cal) :]

    r = demand.read_routes(routes)

    def factory(f):
        qm = QueueModel.from_routes(
            network, r, begin_s=0, end_s=3600, bin_s=900, params=QueueParams(sat_flow_factor=f)
        )
        qm.horizon_s = H
        return qm

    cal_arrays = stack_arrays([ps.to_arrays(network) for _, ps in cal])
    params, fit = calibrate(factory, cal_arrays, sumo_cal, network.signal_ids)

    qm = QueueModel.from_routes(network, r, begin_s=0, end_s=3600, bin_s=900, params=params)
    tables = plan_tables(stack_arrays([ps.to_arrays(network) for _, ps in val]), network, params)
    qm.evaluate(tables, 30.0)  # compile / load the kernel
    t0 = time.perf_counter()
    res = qm.evaluate(tables, H)
    model_wall = time.perf_counter() - t0

    y = np.array([s["avg_delay_s"] for s in sumo_val])
    x = res.avg_delay_s
    ms, ss_ = intersection_pairs(res, sumo_val, network.signal_ids)
    return {
        **record(
            "accuracy",
            start,
            inputs={"net": net_path, "routes": routes},
            seeds=[1],
            horizon_s=H,
            cached_runs=cached,
        ),
        "net": str(net_path),
        "n_signals": network.n_signals,
        "n_plans": len(val),
        "n_calibration_plans": len(cal),
        "spearman_avg_delay": round(float(spearmanr(x, y).correlation), 4),
        "mean_abs_rel_error_avg_delay": round(float(np.mean(np.abs(x - y) / y)), 4),
        "spearman_intersection_delay": round(float(spearmanr(ms, ss_).correlation), 4),
        "n_intersection_pairs": len(ms),
        "pearson_avg_delay": round(float(np.corrcoef(x, y)[0, 1]), 4),
        "calibrated": {
            "sat_flow_factor": params.sat_flow_factor,
            "stop_penalty_s": round(params.stop_penalty_s, 3),
            "freeflow_loss_frac": round(params.freeflow_loss_frac, 4),
            **fit,
        },
        "sumo_micro_wall_s_total": round(sumo_wall, 1),
        "sumo_teleports_max": max(s["n_teleports"] for s in sumo),
        "queue_model_wall_s": round(model_wall, 3),
        "plans": [
            {
                "name": n,
                "sumo_avg_delay_s": round(float(a), 2),
                "model_avg_delay_s": round(float(b), 2),
            }
            for (n, _), a, b in zip(val, y, x, strict=True)
        ],
    }
