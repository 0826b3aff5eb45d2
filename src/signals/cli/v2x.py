"""``signals v2x map|spat``: MAP and SPaT messages for the roadside units (signals.v2x)."""

from __future__ import annotations

from signals.cli import _checks as C


def register(sub) -> None:
    p = sub.add_parser("v2x", help="MAP and SPaT messages for roadside units")
    vsub = p.add_subparsers(dest="v2x_command", metavar="ACTION")

    m = vsub.add_parser("map", help="MAP JSON per signal: lanes, connections, signal groups")
    m.add_argument("net", help="a SUMO .net.xml")
    m.add_argument(
        "--out", required=True, help="a .json file (all signals) or a directory (one file each)"
    )
    m.add_argument("--signals", default=None, help="comma-separated signal ids (default all)")
    m.set_defaults(func=_map)

    s = vsub.add_parser(
        "spat",
        help="SPaT stream (JSON Lines): from fixed-time plans alone, or from a SUMO run",
    )
    s.add_argument("net", help="a SUMO .net.xml")
    s.add_argument("--out", required=True, help="output .jsonl file")
    s.add_argument("--plans", default=None, help="plan file (JSON or SUMO additional)")
    s.add_argument(
        "--routes",
        default=None,
        help="route file(s): run SUMO and record the SPaT the signals actually showed",
    )
    s.add_argument(
        "--controller",
        default=None,
        help="online controller in the loop (max_pressure, cv_max_pressure); default fixed-time",
    )
    s.add_argument("--begin", type=C.time_s, default=0.0, help="begin time, s")
    s.add_argument("--end", type=C.time_s, default=3600.0, help="end time, s")
    s.add_argument("--seed", type=C.seed, default=0, help="SUMO seed (with --routes)")
    s.add_argument("--every", choices=("change", "1hz"), default="change")
    s.add_argument("--format", choices=("j2735", "csae53"), default="j2735")
    s.add_argument("--signals", default=None, help="comma-separated signal ids (default all)")
    s.set_defaults(func=_spat)


def _ids(text: str | None) -> list[str] | None:
    return [x for x in text.split(",") if x] if text else None


def _map(args) -> int:
    from signals.errors import check_out_dir, check_out_file
    from signals.network import Network
    from signals.v2x import write_map

    if args.out.endswith(".json"):
        check_out_file(args.out)
    else:
        check_out_dir(args.out)
    net = Network.from_sumo(args.net)
    paths = write_map(net, args.out, _ids(args.signals))
    print(f"wrote MAP for {len(paths) if len(paths) > 1 else net.n_signals} signals: {args.out}")
    return 0


def _plans(path: str | None, network):
    if path is None:
        return None
    from signals.errors import InputError
    from signals.plans import read_schedule

    sched = read_schedule(path, network)
    periods = sched.ordered()
    if len(periods) != 1:
        raise InputError(
            path, "periods", "one plan set (choose one period's plans)", f"{len(periods)} periods"
        )
    return periods[0][3]


def _spat(args) -> int:
    from signals.errors import check_out_file
    from signals.network import Network
    from signals.v2x import SpatWriter, spat_from_plans

    C.window(args.begin, args.end)
    check_out_file(args.out)
    net = Network.from_sumo(args.net)
    plans = _plans(args.plans, net)
    sel = _ids(args.signals)
    if sel:
        for sid in sel:
            net.signal_index(sid, args.net)
    if args.routes is None:
        if args.controller:
            from signals.errors import InputError

            raise InputError(None, "--controller", "--routes to run the controller on", "none")
        n = spat_from_plans(
            net,
            plans,
            args.out,
            begin_s=args.begin,
            end_s=args.end,
            every=args.every,
            fmt=args.format,
            signals=sel,
        )
        print(f"wrote {n} SPaT messages (fixed-time plans, no simulation): {args.out}")
        return 0
    from signals.control.adaptive import make_controller
    from signals.evaluate.sumo_loop import evaluate_online

    ctl = make_controller(args.controller) if args.controller else None
    w = SpatWriter(net, args.out, every=args.every, fmt=args.format, signals=sel)
    try:
        res = evaluate_online(
            args.net,
            args.routes,
            ctl,
            plans=plans,
            begin_s=args.begin,
            end_s=args.end,
            seed=args.seed,
            network=net,
            spat=w,
        )
    except BaseException:
        w.abort()
        raise
    print(
        f"wrote {w.n_messages} SPaT messages ({res.result.run_id}, avg delay "
        f"{res.summary.get('avg_delay_s', float('nan')):.1f} s): {args.out}"
    )
    return 0
