"""``signals plan validate|fixed-time|export``: the safety gate, Webster/HCM plans, plan writers."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from signals.cli import _checks as C
from signals.errors import InputError, check_out_dir, check_out_file


def register(sub) -> None:
    p = sub.add_parser("plan", help="signal plans: validate, fixed-time (Webster/HCM), export")
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
    f.add_argument("--net", required=True, help="SUMO .net.xml")
    f.add_argument(
        "--demand",
        action="append",
        default=[],
        metavar="PERIOD=ROUTES",
        help="routed demand of a period (repeatable); PERIOD is am_peak|off_peak|pm_peak or "
        "NAME@HH:MM-HH:MM; the routes file's time 0 is the period start",
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
    f.add_argument("--tod-zero-s", type=C.time_s, default=None, help=_TOD_HELP)
    _safety_args(f)
    f.set_defaults(func=_fixed_time)

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


_TOD = re.compile(r"^(?P<name>[\w.-]+)@(?P<b>\d{1,2}:\d{2})-(?P<e>\d{1,2}:\d{2})$")


def _period_bounds(spec: str) -> tuple[str, float, float]:
    from signals.demand import get_period

    m = _TOD.match(spec)
    if m:

        def hm(t: str) -> float:
            h, mi = t.split(":")
            return int(h) * 3600.0 + int(mi) * 60.0

        b, e = hm(m["b"]), hm(m["e"])
        if e <= b:
            raise InputError(None, "--demand period", "NAME@HH:MM-HH:MM with end after begin", spec)
        return m["name"], b, e
    per = get_period(spec)
    return per.name, per.begin_s, per.end_s


def _demand_specs(items: list[str], allow_star: bool = False) -> dict[str, tuple]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(None, "--demand", "PERIOD=ROUTES", item)
        per, routes = item.split("=", 1)
        if allow_star and per == "*":
            out["*"] = (0.0, 86400.0, routes)
            continue
        name, b, e = _period_bounds(per)
        out[name] = (b, e, routes)
    return out


def _fixed_time(args) -> int:
    from dataclasses import replace

    from signals.control.fixed_time import WebsterConfig, fixed_time_schedule
    from signals.export import export
    from signals.network import Network

    check_out_dir(args.out)
    net = Network.from_sumo(args.net)
    demand = _demand_specs(args.demand)
    if args.routes:
        name, b, e = _period_bounds(args.period)
        demand[name] = (b, e, args.routes)
    if not demand:
        raise InputError(None, "--demand/--routes", "at least one routed demand file", "none")
    safety = _safety(args)
    cfg = WebsterConfig(design_flow=args.design_flow)
    if args.cycle_max_s is not None:
        cfg = replace(cfg, cycle_max_s=min(cfg.cycle_max_s, args.cycle_max_s))
    if args.cycle_min_s is not None:
        cfg = replace(cfg, cycle_min_s=max(cfg.cycle_min_s, args.cycle_min_s))
    sched, flows = fixed_time_schedule(net, demand, cfg, safety)
    out = Path(args.out)
    # time 0 of a single-period simulation is that period's start (signals.demand convention)
    tod0 = args.tod_zero_s
    if tod0 is None:
        tod0 = min(b for _, b, _, _ in sched.ordered()) if len(sched.periods) == 1 else 0.0
    written = [
        export(sched, net, out / "plans.json", "json", flows=flows, clearance=safety),
        export(sched, net, out / "plans.add.xml", "sumo", tod_zero_s=tod0, clearance=safety),
        export(sched, net, out / "timing.csv", "csv", flows=flows, clearance=safety),
    ]
    for name, b, e, ps in sched.ordered():
        cycles = [p.cycle_s for p in ps]
        print(
            f"{name} [{b / 3600:g} h, {e / 3600:g} h): {len(ps)} signals, cycle "
            f"{min(cycles):g}-{max(cycles):g} s (mean {sum(cycles) / len(cycles):.1f} s)"
        )
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
        flows = {}
        for name, (b, e, routes) in _demand_specs(args.demand, allow_star=True).items():
            span = 3600.0 if name == "*" else e - b
            flows[name] = movement_flows_vph(net, routes, 0.0, span)
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
