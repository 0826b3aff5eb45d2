"""``signals plan validate|fixed-time|optimize|export``: the safety gate, Webster/HCM plans, OR-Tools
optimized plans, plan writers."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from signals.cli import _checks as C
from signals.errors import InputError, check_out_dir, check_out_file


def register(sub) -> None:
    p = sub.add_parser(
        "plan", help="signal plans: validate, fixed-time (Webster/HCM), optimize (OR-Tools), export"
    )
    psub = p.add_subparsers(dest="plan_command", metavar="ACTION")

    v = psub.add_parser(
        "validate", help="check a plan file (JSON or SUMO additional) against every safety rule"
    )
    v.add_argument("file", help="plan file: signals JSON or SUMO additional (.xml)")
    v.add_argument("--net", required=True, help="SUMO .net.xml the plans are for")
    v.add_argument("--json", action="store_true", help="print the violations as one JSON object")
    _safety_args(v, existing=True)
    v.set_defaults(func=_validate)

    f = psub.add_parser("fixed-time", help="Webster/HCM fixed-time plans per time-of-day period")
    _design_args(f)
    f.set_defaults(func=_fixed_time)

    o = psub.add_parser(
        "optimize",
        help="cycle and splits by OR-Tools CP-SAT per time-of-day period (HCM delay or v/c)",
    )
    _design_args(o)
    o.add_argument(
        "--objective",
        choices=("delay", "max_vc"),
        default="delay",
        help="total HCM control delay, or the largest degree of saturation (then delay)",
    )
    o.add_argument(
        "--common-cycle",
        choices=("none", "corridors", "all"),
        default="none",
        help="signals sharing one cycle: none, each V2X corridor of the net, or all",
    )
    o.add_argument("--cycle-step-s", type=C.count, default=5, help="first-pass cycle step, s")
    o.add_argument(
        "--time-limit-s", type=C.positive, default=5.0, help="CP-SAT time limit per solve"
    )
    o.add_argument("--seed", type=C.seed, default=0, help="CP-SAT random seed")
    o.add_argument("--workers", type=C.count, default=1, help="CP-SAT workers per solve")
    o.add_argument(
        "--jobs", type=C.count, default=1, help="processes solving signals (groups) in parallel"
    )
    o.add_argument(
        "--offsets",
        choices=("delay", "maxband", "multiband", "none"),
        default="delay",
        help="offsets of signals sharing a cycle (--common-cycle corridors|all): delay (CP-SAT "
        "over the network's pairwise delay tables), maxband / multiband (green waves on the "
        "corridors by MILP, delay offsets for the other signals), none (0)",
    )
    o.add_argument(
        "--corridor",
        action="append",
        default=[],
        metavar="NAME=SIG1,SIG2,...",
        help="a corridor as its signal ids in order (repeatable; default: the net's V2X "
        "corridors): the signals --common-cycle corridors groups and the bands run along",
    )
    o.add_argument(
        "--band-time-limit-s",
        type=C.positive,
        default=30.0,
        help="MILP time limit of the green-wave model (--offsets maxband|multiband)",
    )
    o.add_argument(
        "--polish",
        action="store_true",
        help="polish the plans by local search scored with the queue model (splits, and "
        "offsets of signals sharing a cycle); the model's best is kept",
    )
    o.add_argument(
        "--polish-confirm",
        action="store_true",
        help="polish, then run the solver's plans and the model's shortlist in SUMO over the "
        "period and keep SUMO's best (a few SUMO runs per period)",
    )
    o.add_argument(
        "--lead-lag",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the green-wave model run a corridor signal's stages in another order",
    )
    o.add_argument(
        "--offset-time-limit-s",
        type=C.positive,
        default=30.0,
        help="CP-SAT time limit of each group's offset model",
    )
    o.set_defaults(func=_optimize)

    d = psub.add_parser(
        "diagram",
        help="time-space diagram of a corridor: signal states, green bands, SUMO trajectories",
    )
    d.add_argument("file", help="plan file: signals JSON or SUMO additional (.xml)")
    d.add_argument("--net", required=True, help="SUMO .net.xml")
    d.add_argument(
        "--corridor",
        default=None,
        metavar="NAME[=SIG1,SIG2,...]",
        help="a V2X corridor id of the net, or a corridor as its signal ids in order "
        "(default: the net's first V2X corridor)",
    )
    d.add_argument("--period", default=None, help="the plan file's period (default: the first)")
    d.add_argument("--from-s", type=C.time_s, default=0.0, help="diagram start, simulation s")
    d.add_argument("--to-s", type=C.time_s, default=None, help="diagram end (default +600 s)")
    d.add_argument(
        "--routes", default=None, help="run SUMO on these routes up to --to-s for trajectories"
    )
    d.add_argument("--fcd", default=None, help="trajectories from this SUMO fcd-output file")
    d.add_argument(
        "--bands",
        default=None,
        help="optimize.json of `plan optimize --offsets maxband`: sweep the bands at its "
        "travel times (default: at the best single speed)",
    )
    d.add_argument("--out", required=True, help="output directory (timespace.png/.svg/.json)")
    _safety_args(d, existing=True)
    d.set_defaults(func=_diagram)

    e = psub.add_parser("export", help="write a plan file as sumo | csv | json | utdf")
    e.add_argument("file", help="plan file: signals JSON or SUMO additional (.xml)")
    e.add_argument("--net", required=True, help="SUMO .net.xml")
    e.add_argument("--format", required=True, choices=("sumo", "csv", "json", "utdf"))
    e.add_argument("--out", required=True, help="output file")
    e.add_argument(
        "--demand",
        action="append",
        default=[],
        metavar="PERIOD=ROUTES",
        help="routes per period for the v/c, delay and LOS columns (PERIOD '*' for all)",
    )
    e.add_argument("--tod-zero-s", type=C.time_s, default=0.0, help=_TOD_HELP)
    _safety_args(e, existing=True)
    e.set_defaults(func=_export)


def _design_args(f) -> None:
    """Arguments of every plan design (fixed-time, optimize): net, demand, output, safety."""
    f.add_argument("--net", required=True, help="SUMO .net.xml")
    f.add_argument(
        "--demand",
        action="append",
        default=[],
        metavar="PERIOD=ROUTES",
        help=_DEMAND_HELP,
    )
    f.add_argument("--routes", default=None, help="shorthand: one routes file for --period")
    f.add_argument("--period", default="am_peak", help="period of --routes (default am_peak)")
    f.add_argument("--out", required=True, help="output directory")
    f.add_argument(
        "--design-flow",
        choices=("mean", "peak15"),
        default="mean",
        help="mean period flow, or peak 15-min rate (V/PHF)",
    )
    C.add_stages_option(f)
    f.add_argument("--tod-zero-s", type=C.time_s, default=None, help=_TOD_HELP)
    _safety_args(f)


_DEMAND_HELP = (
    "demand of a period (repeatable). PERIOD is am_peak|off_peak|pm_peak or a stated window "
    "NAME@HH:MM-HH:MM or NAME@BEGIN_S-END_S (e.g. am@07:00-08:00, am@25200-28800). ROUTES is a "
    "routes file or a trip file (from/to, no routes: routed with duarouter into OUT/routes/). "
    "Departure times in the file are times of day when it has vehicles in the period's hours "
    "(and none before them, or some past the period's length): clock-time files such as RESCO's "
    "work as they are. Otherwise, when all its departures lie in [0, period length), time 0 is "
    "the period start. A named period whose hours hold none of a clock-time file's departures "
    "takes the file's own window. A named period runs over the hours its file covers (15-min "
    "steps: a 1-hour file for am_peak gives 07:00-08:00); a stated window is kept as stated. "
    "A window holding no vehicles is an error."
)
_TOD_HELP = "time of day (s) at simulation time 0, for the WAUT switch times (default 0)"


def _safety_args(p, existing: bool = False) -> None:
    if existing:
        p.add_argument(
            "--existing",
            action="store_true",
            help="the file holds programs running today: findings below guideline (ITE yellow "
            "and red clearance, min/max green, ...) are listed but do not refuse it; unsafe "
            "findings always do",
        )
    p.add_argument(
        "--allred-min-s", type=C.nonneg, default=None, help="configured red clearance, s"
    )
    p.add_argument("--min-green-s", type=C.nonneg, default=None, help="minimum green, s")
    p.add_argument("--cycle-min-s", type=C.nonneg, default=None)
    p.add_argument("--cycle-max-s", type=C.nonneg, default=None)
    p.add_argument("--max-green-s", type=C.nonneg, default=None, help="maximum green, s")


def _safety(args):
    from dataclasses import replace

    from signals.safety import SafetyConfig

    cfg = SafetyConfig()
    for name in ("allred_min_s", "min_green_s", "max_green_s", "cycle_min_s", "cycle_max_s"):
        val = getattr(args, name, None)
        if val is not None:
            if val < 0:
                raise InputError(None, f"--{name.replace('_', '-')}", "a number >= 0", val)
            cfg = replace(cfg, **{name: val})
    return cfg


def _print_unsafe(source, violations, as_json: bool = False) -> None:
    if as_json:
        print(
            json.dumps(
                {"file": str(source), "safe": False, "violations": [_vdict(v) for v in violations]}
            )
        )
        return
    print(f"signals: error: {source}: unsafe plan: {len(violations)} violation(s)", file=sys.stderr)
    for v in violations:
        print(f"  {v}", file=sys.stderr)


def _vdict(v) -> dict:
    return {
        "period": v.period,
        "signal": v.signal_id,
        "phase": v.phase,
        "links": list(v.links),
        "rule": v.rule,
        "severity": v.severity,
        "message": v.message,
    }


def _validate(args) -> int:
    from signals.network import Network
    from signals.plans import read_schedule
    from signals.safety import refused, validate_file

    net = Network.from_sumo(args.net)
    violations = validate_file(args.file, net, clearance=_safety(args))
    bad = refused(violations, existing=args.existing)
    if bad:
        _print_unsafe(args.file, violations, args.json)
        return 2
    sched = read_schedule(args.file, net)
    n = sum(len(ps) for *_, ps in sched.ordered())
    if args.json:
        doc = {"file": str(args.file), "safe": True, "n_plans": n}
        print(json.dumps(doc | {"violations": [_vdict(v) for v in violations]}))
    else:
        notes = f", {len(violations)} finding(s) below guideline" if violations else ""
        print(f"{args.file}: safe ({n} signal plans, {len(sched.periods)} period(s){notes})")
        for v in violations:
            print(f"  {v}")
    return 0


# a time in a stated window: HH:MM or seconds (e.g. 07:00 or 25200)
_T = r"\d{1,3}:\d{2}|\d+(?:\.\d+)?"
_TOD = re.compile(rf"^(?P<name>[\w.-]+)@(?P<b>{_T})-(?P<e>{_T})$")
_WINDOW_FORM = "NAME@HH:MM-HH:MM or NAME@BEGIN_S-END_S with end after begin"


def _period_bounds(spec: str) -> tuple[str, float, float, bool]:
    """(name, begin_s, end_s time of day, stated) of ``am_peak`` or ``NAME@07:00-08:00`` /
    ``NAME@25200-28800``; ``stated`` is True for a window given on the command line."""
    from signals.demand import get_period

    m = _TOD.match(spec)
    if m:

        def t_s(t: str) -> float:
            if ":" not in t:
                return float(t)
            h, mi = t.split(":")
            if int(mi) >= 60:
                raise InputError(None, "--demand period", _WINDOW_FORM, spec)
            return int(h) * 3600.0 + int(mi) * 60.0

        b, e = t_s(m["b"]), t_s(m["e"])
        if e <= b:
            raise InputError(None, "--demand period", _WINDOW_FORM, spec)
        return m["name"], b, e, True
    if "@" in spec:
        raise InputError(None, "--demand period", _WINDOW_FORM, spec)
    per = get_period(spec)
    return per.name, per.begin_s, per.end_s, False


def _demand_specs(items: list[str], allow_star: bool = False) -> dict[str, tuple]:
    """``PERIOD=FILE`` items -> {name: (begin_s, end_s, file, stated)}; ``*`` has no hours."""
    out: dict[str, tuple] = {}
    for item in items:
        if "=" not in item:
            raise InputError(None, "--demand", "PERIOD=ROUTES", item)
        per, routes = item.split("=", 1)
        if not routes:
            raise InputError(None, "--demand", "PERIOD=ROUTES with a file", item)
        if allow_star and per == "*":
            name, b, e, stated = "*", None, None, False
        else:
            name, b, e, stated = _period_bounds(per)
        if name in out:
            raise InputError(None, "--demand", "each period once", f"{name} twice")
        out[name] = (b, e, routes, stated)
    return out


def _demand_windows(net_path, specs: dict[str, tuple], route_dir: Path, seed: int = 0):
    """Route the trip files among ``specs`` into ``route_dir`` and find each period's window.

    Returns:
        ([DemandWindow], [(name, trips file, routed file, RoutedTrips)] for the files routed).
    """
    from signals.demand import demand_window, is_trip_file, route_trips_report

    windows, routed = [], []
    for name, (b, e, src, stated) in specs.items():
        path = src
        if is_trip_file(src):
            tag = "all" if name == "*" else name
            res = route_trips_report(src, net_path, route_dir / f"{tag}.rou.xml", seed=seed)
            routed.append((name, Path(src), res))
            path = res.path
        try:
            windows.append(demand_window(path, name, b, e, stated=stated))
        except InputError as exc:  # name the user's file, not the temporary routes
            raise InputError(src, exc.field, exc.expected, exc.found) from None
    return windows, routed


def _publish_routes(routed, out: Path) -> None:
    """Copy the routed trip files into ``out/routes/`` (each atomically) and say so."""
    import shutil

    from signals.demand import hhmm
    from signals.errors import atomic_path

    for name, src, res in routed:
        dst = out / "routes" / res.path.name
        with atomic_path(dst) as tmp:
            shutil.copyfile(res.path, tmp)
        print(
            f"{name}: routed trips {src} with duarouter -> {dst} ({res.n_vehicles:.0f} vehicles, "
            f"departures {res.first_depart_s:g}-{res.last_depart_s:g} s, "
            f"{hhmm(res.first_depart_s)}-{hhmm(res.last_depart_s)})"
        )


def _fixed_time(args) -> int:
    return _design_plans(args)


def _optimize(args) -> int:
    from signals.control.optimize import BandConfig, SplitConfig, optimize

    results: list = []  # one Optimization per period, in the order they are designed
    corridors = _corridor_specs(args.corridor)
    if args.offsets in ("maxband", "multiband") and args.common_cycle == "none":
        raise InputError(
            None,
            "--offsets",
            f"--common-cycle corridors or all with --offsets {args.offsets} (bands need one "
            "cycle along a corridor)",
            "--common-cycle none",
        )

    def design(net, flows, template, wcfg, safety, window):
        cfg = SplitConfig(
            objective=args.objective,
            common_cycle=args.common_cycle,
            cycle_step_s=args.cycle_step_s,
            time_limit_s=args.time_limit_s,
            seed=args.seed,
            workers=args.workers,
            jobs=args.jobs,
            offsets=args.offsets,
            offset_time_limit_s=args.offset_time_limit_s,
            bands=BandConfig(time_limit_s=args.band_time_limit_s, patterns=args.lead_lag),
            corridors=corridors,
            webster=wcfg,
        )
        r = optimize(net, flows, template, cfg, safety)
        if not (args.polish or args.polish_confirm):
            results.append((r, None))
            return r.plans
        pr = _polish(args, net, r.plans, window, safety)
        results.append((r, pr))
        return pr.plans

    def report(sched, out: Path) -> list[Path]:
        from dataclasses import asdict

        from signals.errors import atomic_write

        doc = {
            "objective": args.objective,
            "common_cycle": args.common_cycle,
            "offsets": args.offsets,
            "periods": {},
        }
        for (name, *_), (opt, pr) in zip(sched.ordered(), results, strict=True):
            res = opt.signals
            fin = [r for r in res if r.status != "no_demand"]
            flagged = [r for r in res if r.best_effort]
            w = [r.webster_delay_s for r in fin]
            d = [r.delay_s for r in fin]
            doc["periods"][name] = {
                "model_delay_s_mean": round(sum(d) / max(len(d), 1), 2),
                "webster_model_delay_s_mean": round(sum(w) / max(len(w), 1), 2),
                "n_best_effort": len(flagged),
                "signals": [asdict(r) for r in res],
            }
            print(
                f"{name}: model delay {doc['periods'][name]['model_delay_s_mean']:g} s/veh "
                f"(Webster {doc['periods'][name]['webster_model_delay_s_mean']:g}) averaged "
                f"over {len(fin)} signals; {len(flagged)} best-effort"
            )
            for r in flagged[:5]:
                print(f"  {r.signal_id}: {r.status}; {r.note or 'offsets ' + r.offset_status}")
            groups = {}
            for r in res:
                if r.offset_status:
                    groups.setdefault((r.group, r.cycle_s), []).append(r)
            doc["periods"][name]["offset_groups"] = [
                {
                    "group": g,
                    "cycle_s": c,
                    "n_signals": len(rs),
                    "status": rs[0].offset_status,
                    "model_delay_vs_h": rs[0].group_delay_vs_h,
                    "model_delay_zero_offsets_vs_h": rs[0].group_delay_zero_offsets_vs_h,
                }
                for (g, c), rs in groups.items()
            ]
            if pr is not None:
                doc["periods"][name]["polish"] = pr.summary()
                conf = pr.confirm_delay_s
                print(
                    f"  polish: {pr.n_scored} plans scored by the queue model, shortlist "
                    f"{len(pr.shortlist) - 1}; model delay {pr.model_delay_s[0]:.1f} -> "
                    f"{min(pr.model_delay_s):.1f} s"
                    + (
                        f"; SUMO (seed {POLISH_SUMO_SEED}) {conf[0]:.1f} -> {conf[pr.chosen]:.1f} s"
                        if conf
                        else ""
                    )
                    + ("; the optimizer's plans kept" if pr.chosen == 0 else "")
                )
            doc["periods"][name]["corridor_bands"] = [b.to_dict() for b in opt.bands]
            doc["periods"][name]["corridor_notes"] = list(opt.notes)
            for b in opt.bands:
                print(
                    f"  band {b.corridor} (cycle {b.cycle_s} s): outbound {b.band_out:.0%}, "
                    f"inbound {b.band_in:.0%} of the cycle ({b.band_out_s:.1f} / "
                    f"{b.band_in_s:.1f} s; MILP {b.milp_band_out_s:.1f} / "
                    f"{b.milp_band_in_s:.1f} s)"
                )
            for note in opt.notes:
                print(f"  {note}")
            for o in doc["periods"][name]["offset_groups"]:
                print(
                    f"  offsets {o['group'][:40]} ({o['n_signals']} signals, cycle "
                    f"{o['cycle_s']:g} s, {o['status']}): model delay at the coordinated "
                    f"approaches {o['model_delay_vs_h'] / 3600:.1f} veh h/h (offsets 0: "
                    f"{o['model_delay_zero_offsets_vs_h'] / 3600:.1f})"
                )
        path = out / "optimize.json"
        with atomic_write(path) as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        return [path]

    return _design_plans(args, design, report)


def _diagram(args) -> int:
    import tempfile

    import numpy as np

    from signals.control.fixed_time import movement_flows_vph
    from signals.control.optimize.bands import corridors
    from signals.errors import atomic_write
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export
    from signals.network import Network
    from signals.plans import read_schedule
    from signals.timespace import FCD_FILE, plot_timespace, read_fcd, recording_options

    check_out_dir(args.out)
    if args.routes and args.fcd:
        raise InputError(None, "--routes/--fcd", "one of them", "both")
    net = Network.from_sumo(args.net)
    sched = read_schedule(args.file, net)
    periods = {name: ps for name, _, _, ps in sched.ordered()}
    name = args.period or next(iter(periods))
    if name not in periods:
        raise InputError(args.file, "period", f"one of {sorted(periods)}", repr(name))
    plans = periods[name].plans
    t0 = float(args.from_s)
    t1 = float(args.to_s) if args.to_s is not None else t0 + 600.0
    if t1 <= t0:
        raise InputError(None, "--to-s", f"a time after --from-s ({t0:g})", f"{t1:g}")
    flows = np.zeros(net.n_movements)
    if args.routes:
        flows = movement_flows_vph(net, args.routes, 0.0, t1)
    spec = None
    cname = args.corridor
    if cname and "=" in cname:
        spec = _corridor_specs([cname])
        cname = next(iter(spec))
    cors, notes = corridors(net, flows, spec)
    pick = [c for c in cors if cname is None or c.name == cname]
    if not pick:
        have = sorted(c.name for c in cors) or "none"
        raise InputError(args.net, "corridor", f"one of the net's corridors ({have})", cname)
    cor = pick[0]
    missing = [sid for sid in cor.signals if sid not in plans]
    if missing:
        raise InputError(args.file, "signals", f"plans for every signal of {cor.name}", missing)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trajectories = []
    if args.fcd:
        trajectories = read_fcd(args.fcd, cor, net)
    elif args.routes:
        with tempfile.TemporaryDirectory(prefix="signals-diagram-") as tmp:
            prog = export(
                periods[name], net, Path(tmp) / "plans.add.xml", "sumo", existing=args.existing
            )
            options, _ = recording_options(cor, tmp, t0)
            evaluate_sumo(
                args.net,
                args.routes,
                program=prog,
                end_s=t1,
                network=net,
                queue_sample_s=0.0,
                extra_options=options,
            )
            trajectories = read_fcd(Path(tmp) / FCD_FILE, cor, net, t0, t1)
    travel = _band_travel(args.bands, name, cor) if args.bands else None
    drawn = plot_timespace(
        net, cor, plans, t0, t1, out / "timespace", trajectories, travel_s=travel
    )
    doc = {
        "net": str(args.net),
        "plans": str(args.file),
        "period": name,
        "corridor": cor.name,
        "signals": list(cor.signals),
        "cycle_s": plans[cor.signals[0]].cycle_s,
        "from_s": t0,
        "to_s": t1,
        **drawn,
    }
    with atomic_write(out / "timespace.json") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    for note in notes:
        print(note)
    head = f"{cor.name} ({len(cor.signals)} signals, period {name})"
    tail = f"{len(trajectories)} trajectories -> {out / 'timespace.png'}, .svg"
    if not drawn["bands"]:
        print(f"{head}: no band (the plans' cycles differ); {tail}")
        return 0
    ob, ib = drawn["bands"]["outbound"], drawn["bands"]["inbound"]
    at = (
        ("at the MILP's travel times", "")
        if travel
        else (f"at {ob['speed_factor']:.2f} x the limit", f" at {ib['speed_factor']:.2f}")
    )
    print(
        f"{head}: band outbound {ob['width']:.0%} of the cycle {at[0]}, "
        f"inbound {ib['width']:.0%}{at[1]}; {tail}"
    )
    return 0


def _band_travel(path: str, period: str, cor) -> dict[str, list[float]]:
    """The MILP's travel times of corridor ``cor`` in period ``period`` of an optimize.json."""
    doc = _load_doc(path)
    rows = (doc.get("periods", {}).get(period) or {}).get("corridor_bands") or []
    for row in rows:
        if row.get("corridor") == cor.name:
            tt = {"outbound": row.get("travel_out_s"), "inbound": row.get("travel_in_s")}
            if all(isinstance(v, list) and len(v) == len(cor.signals) - 1 for v in tt.values()):
                return tt
    raise InputError(
        path,
        f"periods.{period}.corridor_bands",
        f"travel times of corridor {cor.name} ({len(cor.signals) - 1} segments)",
        "none",
    )


def _load_doc(path: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InputError(path, "file", "a readable JSON file", type(e).__name__) from None
    if not isinstance(doc, dict):
        raise InputError(path, "file", "a JSON object", type(doc).__name__)
    return doc


POLISH_SUMO_SEED = 1  # the shortlist runs on its own SUMO seed (benchmarks evaluate on 0)


def _polish(args, net, plans, window, safety):
    """The queue-model polish of one period's plans; with --polish-confirm SUMO runs the
    solver's plans and the model's shortlist over the period's window and decides."""
    import tempfile

    from signals.control.optimize.polish import PolishConfig, polish
    from signals.evaluate.queue import QueueModel
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.export import export

    routes, fb, fe = window
    model = QueueModel.from_routes(net, routes, begin_s=fb, end_s=fe)
    cfg = PolishConfig(horizon_s=fe - fb, seed=args.seed)

    def confirm(shortlist):
        out = []
        with tempfile.TemporaryDirectory(prefix="signals-polish-") as tmp:
            for k, ps in enumerate(shortlist):
                prog = export(
                    ps, net, Path(tmp) / f"shortlist{k}.add.xml", "sumo", clearance=safety
                )
                res = evaluate_sumo(
                    args.net,
                    routes,
                    program=prog,
                    begin_s=fb,
                    end_s=fe,
                    seed=POLISH_SUMO_SEED,
                    network=net,
                    queue_sample_s=0.0,
                )
                out.append(res.summary["avg_delay_s"])
        return out

    return polish(net, model, plans, cfg, safety, confirm if args.polish_confirm else None)


def _corridor_specs(items: list[str]) -> dict[str, tuple[str, ...]] | None:
    """--corridor NAME=SIG1,SIG2,... -> {name: signal ids}; a malformed item is an InputError."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, _, sigs = item.partition("=")
        ids = tuple(x.strip() for x in sigs.split(",") if x.strip())
        if not name.strip() or len(ids) < 2 or len(set(ids)) != len(ids) or name in out:
            raise InputError(
                None,
                "--corridor",
                "NAME=SIG1,SIG2,... (a new name, two or more distinct signal ids)",
                repr(item),
            )
        out[name.strip()] = ids
    return out or None


def _design_plans(args, design=None, report=None) -> int:
    """Design plans per period (Webster, or ``design(net, flows, templates, cfg, safety)``),
    export them through the gate (JSON, SUMO additional, timing sheet) and print a summary."""
    import tempfile
    from dataclasses import replace

    from signals.control.fixed_time import WebsterConfig, fixed_time_schedule
    from signals.export import export
    from signals.network import Network

    check_out_dir(args.out)
    net = Network.from_sumo(args.net)
    specs = _demand_specs(args.demand)
    if args.routes:
        name, b, e, stated = _period_bounds(args.period)
        if name in specs:
            raise InputError(None, "--routes", f"a period other than --demand's {name}", name)
        specs[name] = (b, e, args.routes, stated)
    if not specs:
        raise InputError(None, "--demand/--routes", "at least one routed demand file", "none")
    safety = _safety(args)
    cfg = WebsterConfig(design_flow=args.design_flow)
    if args.cycle_max_s is not None:
        cfg = replace(cfg, cycle_max_s=min(cfg.cycle_max_s, args.cycle_max_s))
    if args.cycle_min_s is not None:
        cfg = replace(cfg, cycle_min_s=max(cfg.cycle_min_s, args.cycle_min_s))
    out = Path(args.out)
    timed = None
    if design is not None:

        def timed(network, flows, template, window):
            return design(network, flows, template, cfg, safety, window)

    with tempfile.TemporaryDirectory(prefix="signals-plan-routes-") as td:
        windows, routed = _demand_windows(args.net, specs, Path(td))
        # Each period's flows come from the departures in its window of the file (file times),
        # and its plans run over the hours that window really covers (times of day).
        demand = {
            w.name: (w.begin_s, w.end_s, w.routes, w.file_begin_s, w.file_end_s) for w in windows
        }
        sched, flows = fixed_time_schedule(
            net, demand, cfg, safety, stages=args.stages, design=timed
        )
        # time 0 of a single-period simulation is that period's start (signals.demand
        # convention), unless its file runs on clock time (then time 0 is midnight)
        tod0 = args.tod_zero_s
        if tod0 is None:
            one = windows[0]
            tod0 = one.begin_s if len(windows) == 1 and not one.clock_time else 0.0
        written = [
            export(sched, net, out / "plans.json", "json", flows=flows, clearance=safety),
            export(sched, net, out / "plans.add.xml", "sumo", tod_zero_s=tod0, clearance=safety),
            export(sched, net, out / "timing.csv", "csv", flows=flows, clearance=safety),
        ]
        _publish_routes(routed, out)
    by_name = {w.name: w for w in windows}
    for name, b, e, ps in sched.ordered():
        cycles = [p.cycle_s for p in ps]
        w = by_name[name]
        clock = "times of day" if w.clock_time else f"time 0 = {b / 3600:g} h"
        print(
            f"{name} [{b / 3600:g} h, {e / 3600:g} h): {len(ps)} signals, cycle "
            f"{min(cycles):g}-{max(cycles):g} s (mean {sum(cycles) / len(cycles):.1f} s); "
            f"{w.n_vehicles:.0f} vehicles departing {w.file_begin_s:g}-{w.file_end_s:g} s of "
            f"{w.routes.name} ({clock})"
        )
    if report is not None:
        written += report(sched, out)
    for w in written:
        print(w)
    return 0


def _export(args) -> int:
    from signals.control.fixed_time import movement_flows_vph
    from signals.export import export
    from signals.network import Network
    from signals.plans import read_schedule
    from signals.safety import UnsafePlanError, check_file

    check_out_file(args.out)
    net = Network.from_sumo(args.net)
    sched = read_schedule(args.file, net)
    try:  # the file as written, with the same findings as `plan validate`
        check_file(args.file, net, clearance=_safety(args), existing=args.existing)
    except UnsafePlanError as exc:
        _print_unsafe(args.file, exc.violations)
        return 2
    flows = None
    if args.demand:
        import tempfile

        flows = {}
        specs = _demand_specs(args.demand, allow_star=True)
        with tempfile.TemporaryDirectory(prefix="signals-export-routes-") as td:
            # trip files are routed for the flows only (the routes are not kept)
            windows, routed = _demand_windows(args.net, specs, Path(td))
            for name, _, res in routed:
                print(f"{name}: routed trips with duarouter ({res.n_vehicles:.0f} vehicles)")
            for w in windows:
                flows[w.name] = movement_flows_vph(net, w.routes, w.file_begin_s, w.file_end_s)
        # a named demand that matches no period of the file would leave the sheet without flows
        unknown = sorted(set(flows) - set(sched.periods) - {"*"})
        if unknown:
            raise InputError(
                None,
                "--demand",
                f"a period of {Path(args.file).name} ({', '.join(sorted(sched.periods))}) or '*'",
                ", ".join(unknown),
            )
    try:
        path = export(
            sched,
            net,
            args.out,
            args.format,
            flows=flows,
            tod_zero_s=args.tod_zero_s,
            clearance=_safety(args),
            existing=args.existing,
        )
    except UnsafePlanError as exc:
        _print_unsafe(args.file, exc.violations)
        return 2
    print(path)
    return 0
