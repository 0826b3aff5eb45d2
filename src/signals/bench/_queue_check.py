"""What ``signals bench calibration`` and ``signals bench accuracy`` share: the networks and their
seeded demand, the plan sets SUMO scores, SUMO micro on every (plan, seed, horizon), the queue
model on the same, and how the two are compared.

* **Networks** (``--nets``): ``pilot-zone`` (the recipe), a RESCO network the project did not
  build (``cologne8``, ``ingolstadt21``: the net and its own signal programs from the sumo-rl
  wheel, as ``signals bench realnets`` uses them), or a path to any ``.net.xml``.
* **Demand**: ``signals.demand.generate_routes`` (AM-peak profile, 0-3600 s) per demand seed, by
  content digest (:func:`signals.bench._common.routes_asset`). Volume: the recipe's base volume;
  for a RESCO net the hourly volume of its own trip file (cologne8: 2,046 trips in its hour), so
  the load is the scenario's, not one chosen here.
* **Plans**, designed once per network from the demand of the first tuning seed (a design
  forecast, the same plans on every seed): the *calibration* set (random-but-valid and scaled
  Webster plans), the *validation* set (netconvert's programs, Webster/HCM, cycles x0.7-1.5,
  shifted and random offsets, degraded splits, random-but-valid plans) and the *near-optimal*
  set (Webster and perturbations of its cycle, splits and offsets: the plans an optimizer's
  polish chooses among). Each set draws from its own generator (``--plan-seed`` and the set's
  name), so one set's size never changes another's plans. Every plan passes the gate as an
  existing program does (nothing unsafe; netconvert's below-guideline clearances kept).
* **Delay**, one definition on both sides (:mod:`signals.evaluate.metrics`): network average
  delay = timeLoss + departDelay per vehicle, vehicles still running or not yet inserted counted
  (RESCO); per-intersection control delay = time lost on the signal's approach edges per vehicle
  reaching its stop lines. The model's counterparts: queueing + insertion backlog + stop penalty
  per stop + free-flow loss share of the time moving, network-wide and per approach alike.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from signals.bench._common import TUNING_SEEDS, mean_min_max, net_asset, routes_asset

NETS = ("pilot-zone", "cologne8")
HORIZONS_S = (900.0, 3600.0)
DEMAND_END_S = 3600.0
DEMAND_BIN_S = 900.0
SET_NAMES = ("calibration", "validation", "near_optimal")
DELAY_DEFINITION = (
    "network: timeLoss + departDelay per vehicle, unfinished and not-yet-inserted counted; "
    "intersection: time lost on the approach edges per vehicle reaching the stop line; the model "
    "adds the stop penalty and the free-flow loss share on both"
)


def progress(bench: str, msg: str) -> None:
    print(f"bench {bench}: {msg}", file=sys.stderr, flush=True)


def add_common_arguments(p: argparse.ArgumentParser, seeds: Sequence[int], what: str) -> None:
    p.add_argument(
        "--nets",
        nargs="+",
        default=list(NETS),
        help="pilot-zone, cologne8, ingolstadt21 or a .net.xml path (default: pilot-zone cologne8)",
    )
    p.add_argument("--resco", default=None, help="RESCO folder (default: the installed sumo-rl)")
    p.add_argument(
        "--veh-per-hour", type=float, default=None, help="demand on a .net.xml path without meta"
    )
    p.add_argument("--work", default="out/bench/accuracy", help="work directory (kept)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(seeds),
        help=f"demand seeds ({what}; default {' '.join(map(str, seeds))})",
    )
    p.add_argument(
        "--horizons-s",
        type=float,
        nargs="+",
        default=list(HORIZONS_S),
        help="simulated horizons from the start of the demand, s (default 900 3600)",
    )
    p.add_argument("--jobs", type=int, default=2, help="SUMO processes in parallel")
    p.add_argument("--plan-seed", type=int, default=7, help="seed of the plan generators")


# ------------------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class BenchNet:
    """One network of the check: its file, its demand volume and its design plans."""

    name: str
    net: Path
    veh_per_hour: float | None  # None: the recipe's meta volume

    def routes(self, work: Path, seed: int) -> Path:
        return routes_asset(
            self.net,
            work,
            period="am_peak",
            seed=seed,
            end_s=DEMAND_END_S,
            veh_per_hour=self.veh_per_hour,
        )


def _resco_hourly_volume(trips: Path) -> float:
    """Trips per hour of a RESCO trip file (its count over its departure span, whole hours)."""
    import math
    import xml.etree.ElementTree as ET

    departs = [
        float(el.get("depart", "0"))
        for _, el in ET.iterparse(trips)
        if el.tag in ("trip", "vehicle") and el.get("depart", "").replace(".", "", 1).isdigit()
    ]
    if not departs:
        return 0.0
    hours = max(1, math.ceil((max(departs) - min(departs) + 1.0) / 3600.0))
    return len(departs) / hours


def bench_net(name: str, work: Path, *, resco: str | None, veh_per_hour: float | None) -> BenchNet:
    """The network called ``name`` (a recipe, a RESCO scenario or a .net.xml path)."""
    from signals.bench.realnets import NETS as RESCO_NETS
    from signals.bench.realnets import resco_dir
    from signals.errors import InputError, require_file
    from signals.netbuild import known_recipes

    if name in RESCO_NETS:
        base = resco_dir(resco)
        net = require_file(base / name / f"{name}.net.xml", "net", "a RESCO net file")
        trips = require_file(base / name / f"{name}.rou.xml", "trips", "a RESCO trip file")
        return BenchNet(name, net, veh_per_hour or _resco_hourly_volume(trips))
    if name in known_recipes():
        return BenchNet(name, net_asset(name, work), veh_per_hour)
    p = Path(name)
    if p.suffix != ".xml":
        raise InputError(
            None,
            "--nets",
            "a recipe ("
            + ", ".join(known_recipes())
            + "), "
            + ", ".join(RESCO_NETS)
            + " or a .net.xml path",
            repr(name),
        )
    return BenchNet(
        p.stem.removesuffix(".net"), require_file(p, "--nets", "a .net.xml"), veh_per_hour
    )


# ------------------------------------------------------------------------------- plans
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


class _Variants:
    """Plan-set variants, each signal's plan transformed, held to the gate as existing programs:
    a signal whose variant the gate refuses keeps its base plan."""

    def __init__(self, network, rng):
        from signals.safety import SafetyConfig

        self.network = network
        self.rng = rng
        self.safety = SafetyConfig()

    def safe(self, base, variant):
        from signals.plans import PlanSet
        from signals.safety import assert_safe, refused, validate

        bad = {v.signal_id for v in refused(validate(variant, self.network), existing=True)}
        ps = PlanSet({s: (base.plans[s] if s in bad else p) for s, p in variant.plans.items()})
        assert_safe(ps, self.network, existing=True)
        return ps

    def each(self, base, fn):
        from signals.plans import PlanSet

        return self.safe(base, PlanSet({sid: fn(p) for sid, p in base.plans.items()}))

    def perturbed(self, base, *, cycle_f=1.0, split_sigma=0.0, offset="keep", offset_frac=0.0):
        """Cycle scaled by ``cycle_f`` (greens in proportion), greens jittered (lognormal sigma
        ``split_sigma``, cycle kept), offsets kept (scaled), shifted by up to ``offset_frac`` of
        the cycle, or drawn at random."""
        rng, safety = self.rng, self.safety

        def fn(p):
            target = min(max(p.cycle_s * cycle_f, safety.cycle_min_s), safety.cycle_max_s)
            g = _greens(p) * (target - _change(p)) / max(_greens(p).sum(), 1e-9)
            if split_sigma > 0:
                w = g * rng.lognormal(0.0, split_sigma, len(g))
                g = w * g.sum() / w.sum()
            off = p.offset_s * target / p.cycle_s
            if offset == "shift":
                off += rng.uniform(-offset_frac, offset_frac) * target
            elif offset == "random":
                off = rng.uniform(0, target)
            return _retime(p, g, off % target, safety)

        return self.each(base, fn)

    def random_plan(self, base):
        import numpy as np

        rng, safety = self.rng, self.safety

        def fn(p):
            cyc = rng.uniform(60, 130)
            avail = max(cyc - _change(p), 5.0 * p.n_stages)
            g = rng.dirichlet(np.full(p.n_stages, 2.0)) * avail
            return _retime(p, g, rng.uniform(0, cyc), safety)

        return self.each(base, fn)


def _set_rng(plan_seed: int, set_name: str):
    import zlib

    import numpy as np

    return np.random.default_rng([int(plan_seed), zlib.crc32(set_name.encode())])


def plan_sets(
    network, flows_vph, *, plan_seed: int, sizes: Mapping[str, int]
) -> dict[str, list[tuple[str, object]]]:
    """The plan sets named in ``sizes`` ({set: number of plans}), each [(name, PlanSet)]."""
    from signals.control.fixed_time import webster_planset
    from signals.control.stage_sets import stage_templates
    from signals.plans import PlanSet

    default = PlanSet.from_network(network)
    webster = webster_planset(network, flows_vph, stage_templates(network))
    out: dict[str, list] = {}
    for set_name, n in sizes.items():
        v = _Variants(network, _set_rng(plan_seed, set_name))
        own = v.safe(default, default)
        plans: list[tuple[str, object]] = []
        if set_name == "calibration":
            # random plans and Webster at longer cycles, then (a bigger set, on cheap nets)
            # the kinds the validation and near-optimal sets hold: degraded splits, perturbed
            # Webster plans -- other draws of their own generator, never those sets' plans
            for k in range(n):
                if k < 6 and k % 2 == 0:
                    plans.append((f"cal_random_{k}", v.random_plan(own)))
                elif k < 6:
                    f = 0.8 + 0.15 * k
                    plans.append((f"cal_webster_x{f:.2f}", v.perturbed(webster, cycle_f=f)))
                elif k % 4 == 0:
                    plans.append((f"cal_degraded_{k}", v.perturbed(own, split_sigma=0.6)))
                elif k % 4 == 1:
                    sig = (0.3, 0.5)[(k // 4) % 2]
                    plans.append(
                        (f"cal_webster_degraded_{k}", v.perturbed(webster, split_sigma=sig))
                    )
                elif k % 4 == 2:
                    f = float(v.rng.uniform(0.9, 1.15))
                    plans.append(
                        (
                            f"cal_near_{k}",
                            v.perturbed(
                                webster,
                                cycle_f=f,
                                split_sigma=0.1,
                                offset="shift",
                                offset_frac=0.25,
                            ),
                        )
                    )
                else:
                    plans.append(
                        (
                            f"cal_near_random_{k}",
                            v.perturbed(webster, split_sigma=0.2, offset="random"),
                        )
                    )
        elif set_name == "validation":
            # diverse first, so a shorter set (--n-validation) still spans the range; a plan
            # is made only if the set keeps it
            recipe = [
                ("netconvert", own),
                ("webster", webster),
                ("cycle_x0.7", partial(v.perturbed, own, cycle_f=0.7)),
                ("degraded_0.6", partial(v.perturbed, own, split_sigma=0.6)),
                ("offsets_random", partial(v.perturbed, own, offset="random")),
                ("webster_cycle_x1.3", partial(v.perturbed, webster, cycle_f=1.3)),
                ("random_0", partial(v.random_plan, own)),
                ("cycle_x1.5", partial(v.perturbed, own, cycle_f=1.5)),
                ("webster_offsets_random", partial(v.perturbed, webster, offset="random")),
                ("webster_degraded", partial(v.perturbed, webster, split_sigma=0.5)),
                ("cycle_x0.85", partial(v.perturbed, own, cycle_f=0.85)),
                ("offsets_half", partial(v.perturbed, own, offset="shift", offset_frac=0.5)),
                ("degraded_0.3", partial(v.perturbed, own, split_sigma=0.3)),
                ("cycle_x1.25", partial(v.perturbed, own, cycle_f=1.25)),
                ("degraded_0.9", partial(v.perturbed, own, split_sigma=0.9)),
            ]
            recipe += [(f"random_{k}", partial(v.random_plan, own)) for k in range(1, n)]
            plans = [(name, m() if callable(m) else m) for name, m in recipe[:n]]
        elif set_name == "near_optimal":
            # Webster and n perturbations of it: cycle x0.9-1.15, splits jittered by 5-20 %
            # (lognormal sigma), offsets kept, shifted by up to a quarter cycle or random.
            plans = [("webster", webster)]
            for k in range(n):
                cycle_f = float(v.rng.uniform(0.9, 1.15)) if k % 2 else 1.0
                sigma = (0.05, 0.1, 0.2)[k % 3]
                offset = ("keep", "shift", "random")[(k // 3) % 3]
                plans.append(
                    (
                        f"near_{k}",
                        v.perturbed(
                            webster,
                            cycle_f=cycle_f,
                            split_sigma=sigma,
                            offset=offset,
                            offset_frac=0.25,
                        ),
                    )
                )
        else:  # pragma: no cover - programming error
            raise ValueError(set_name)
        out[set_name] = plans
    return out


# -------------------------------------------------------------------------------- runs
@dataclass
class Case:
    """One (network, demand seed): its routes, its plans (written as SUMO additionals)."""

    net: BenchNet
    network: object
    seed: int
    routes: Path
    programs: dict[str, list[tuple[str, Path]]]  # set -> [(plan name, .add.xml)]
    arrays: dict[str, object]  # set -> stacked plan arrays


def design_cases(
    nets: Sequence[BenchNet],
    seeds: Sequence[int],
    work: Path,
    *,
    plan_seed: int,
    sizes: Mapping[str, int],
    bench: str,
) -> list[Case]:
    """Plans per network (designed on the first tuning seed's demand), exported through the
    gate, and one :class:`Case` per (network, seed)."""
    from signals.control.fixed_time import movement_flows_vph
    from signals.export import export
    from signals.network import Network
    from signals.plans import stack_arrays

    cases = []
    for bn in nets:
        network = Network.from_sumo(bn.net)
        design = bn.routes(work, TUNING_SEEDS[0])
        flows = movement_flows_vph(network, design, 0.0, DEMAND_END_S)
        sets = plan_sets(network, flows, plan_seed=plan_seed, sizes=sizes)
        pdir = work / "plans" / bn.name
        programs = {
            s: [
                (n, export(ps, network, pdir / f"{s}.{n}.add.xml", "sumo", existing=True))
                for n, ps in plans
            ]
            for s, plans in sets.items()
        }
        arrays = {
            s: stack_arrays([ps.to_arrays(network) for _, ps in plans]) for s, plans in sets.items()
        }
        progress(bench, f"{bn.name}: {network.n_signals} signals, plans {dict(sizes)}")
        for seed in seeds:
            routes = bn.routes(work, seed)
            cases.append(Case(bn, network, seed, routes, programs, arrays))
    return cases


def run_sumo_cases(
    cases: Sequence[Case],
    horizons: Sequence[float],
    work: Path,
    *,
    jobs: int,
    bench: str,
    set_horizons: Mapping[str, Sequence[float]] | None = None,
    sumo_seed_offset: int = 0,
) -> tuple[dict, list[str], float]:
    """SUMO micro on every (case, set, plan, horizon), ``jobs`` at a time, longest first;
    finished runs are cached under ``work/sumo-cache`` by content digest. ``set_horizons``
    gives a set its own horizons (of ``horizons``). SUMO's own seed is the demand seed plus
    ``sumo_seed_offset`` (another offset: the same routes and plans, other driver randomness).

    Returns:
        ({(net, seed, set, horizon): [run per plan]}, cached run names, SUMO wall s summed).
    """
    from signals.bench._common import sumo_runs

    specs, keys = [], []
    for h in sorted(horizons, reverse=True):
        for c in cases:
            for s, progs in c.programs.items():
                if set_horizons and s in set_horizons and h not in set_horizons[s]:
                    continue
                for n, prog in progs:
                    specs.append(
                        {
                            "net": c.net.net,
                            "routes": c.routes,
                            "program": prog,
                            "end_s": float(h),
                            "seed": int(c.seed) + int(sumo_seed_offset),
                            "name": f"{c.net.name}/seed{c.seed}/{s}/{n}/{h:g}s"
                            + (f"/sumo-seed+{sumo_seed_offset}" if sumo_seed_offset else ""),
                        }
                    )
                    keys.append((c.net.name, c.seed, s, float(h)))
    progress(bench, f"{len(specs)} SUMO micro runs ({jobs} at a time, cached ones skipped)")
    runs, cached = sumo_runs(specs, jobs=jobs, cache_dir=work / "sumo-cache", on_done=_done(bench))
    out: dict = {}
    for k, r in zip(keys, runs, strict=True):
        out.setdefault(k, []).append(r)
    return out, cached, sum(float(r.get("wall_s", 0.0)) for r in runs)


def _done(bench: str):
    def report(spec: dict, n_done: int, n_todo: int) -> None:
        progress(bench, f"{n_done}/{n_todo} {spec.get('name', '')}")

    return report


# ------------------------------------------------------------------------------- model
def model_inputs(case: Case) -> tuple:
    """The queue model's demand inputs for one case, read once and reused for every params."""
    from signals.evaluate.queue import route_inputs

    return route_inputs(
        case.network, case.routes, begin_s=0.0, end_s=DEMAND_END_S, bin_s=DEMAND_BIN_S
    )


def model_result(case: Case, inputs: tuple, set_name: str, horizon_s: float, params):
    """The queue model (``params``) on the case's ``set_name`` plans over ``horizon_s``."""
    from signals.evaluate.queue import QueueModel, plan_tables

    turning, flows, passthrough = inputs
    qm = QueueModel(
        case.network, turning, flows, bin_s=DEMAND_BIN_S, passthrough=passthrough, params=params
    )
    return qm.evaluate(plan_tables(case.arrays[set_name], case.network, params), horizon_s)


def intersection_pairs(res, runs, signal_ids) -> tuple[list[float], list[float]]:
    """(model, SUMO) control delay of every (plan, intersection) with traffic on both sides."""
    import numpy as np

    idx = {sid: i for i, sid in enumerate(signal_ids)}
    ms, ss = [], []
    sig = res.signal_delay_s
    for p, s in enumerate(runs):
        for sid, v in s["signal_delay_s"].items():
            m = sig[p, idx[sid]] if sid in idx else np.nan
            if np.isfinite(v) and np.isfinite(m):
                ms.append(float(m))
                ss.append(float(v))
    return ms, ss


def agreement(model_s, sumo_s) -> dict:
    """How the model's network average delays agree with SUMO's over one set of plans:
    Spearman and Pearson correlation, mean absolute relative error, and the pick-the-best regret
    (SUMO's delay of the model's best plan over SUMO's best), with SUMO's spread (max / min)."""
    import numpy as np
    from scipy.stats import spearmanr

    x = np.asarray(model_s, dtype=float)
    y = np.asarray(sumo_s, dtype=float)
    return {
        "spearman": round(float(spearmanr(x, y).correlation), 4),
        "pearson": round(float(np.corrcoef(x, y)[0, 1]), 4),
        "mean_abs_rel_error": round(float(np.mean(np.abs(x - y) / y)), 4),
        "regret": round(float(y[int(np.argmin(x))] / y.min()), 4),
        "sumo_spread": round(float(y.max() / y.min()), 4),
        "sumo_avg_delay_s": [round(float(v), 2) for v in y],
        "model_avg_delay_s": [round(float(v), 2) for v in x],
    }


def summarise(values: Sequence[float]) -> dict:
    """mean, min and max of per-seed figures (4 decimals)."""
    return mean_min_max(values, 4)
