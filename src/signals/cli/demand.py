"""``signals demand generate|od|counts|route|turning|periods``: routed demand scenarios and turning ratios."""

from __future__ import annotations

from signals.cli import _checks as C


def register(sub) -> None:
    p = sub.add_parser("demand", help="demand scenarios: random, OD, counts; turning ratios")
    dsub = p.add_subparsers(dest="demand_command", metavar="ACTION")

    g = dsub.add_parser("generate", help="random fringe-weighted routes for a time-of-day period")
    _common(g)
    g.add_argument(
        "--period", default="am_peak", help="am_peak, off_peak or pm_peak (default am_peak)"
    )
    g.add_argument(
        "--veh-per-hour",
        type=C.veh_per_hour,
        default=None,
        help="base volume, veh/h (default: the net's .meta.json)",
    )
    g.add_argument(
        "--fringe-factor",
        type=C.nonneg,
        default=10.0,
        help="weight of fringe edges as trip ends (default 10)",
    )
    g.set_defaults(func=_generate)

    o = dsub.add_parser(
        "od",
        help="routes from an OD matrix (CSV origin_edge,destination_edge,veh_per_hour or O-format)",
    )
    _common(o)
    o.add_argument("--od", required=True, help="OD matrix file")
    o.add_argument("--taz", default=None, help="TAZ file when the OD ids are districts, not edges")
    o.set_defaults(func=_od)

    c = dsub.add_parser(
        "counts",
        help="routes reproducing turning counts (CSV from_edge,to_edge,veh_per_hour[,begin_s,end_s])",
    )
    _common(c)
    c.add_argument("--counts", required=True, help="turning-movement count CSV")
    c.add_argument(
        "--candidates", type=C.count, default=None, help="candidate routes for routeSampler"
    )
    c.set_defaults(func=_counts)

    r = dsub.add_parser(
        "route",
        help="route trip files (<trip>/<flow> with from/to, no routes) with duarouter; "
        "departures kept as in the files",
    )
    r.add_argument("trips", nargs="+", metavar="TRIPS", help="SUMO trip file(s)")
    r.add_argument("--net", required=True, help="SUMO .net.xml")
    r.add_argument("--out", required=True, help="routes file to write (complete or absent)")
    r.add_argument(
        "--additional",
        action="append",
        default=[],
        metavar="FILE",
        help="vehicle-type or other additional file the trips use (repeatable)",
    )
    r.add_argument(
        "--omit-additional-types",
        action="store_true",
        help="leave the vehicle types of the --additional files out of the routes (when the run "
        "loads those files too: SUMO refuses a type defined twice)",
    )
    r.add_argument("--seed", type=C.seed, default=0)
    r.add_argument("--begin", type=C.time_s, default=None, help="keep departures from this time, s")
    r.add_argument("--end", type=C.time_s, default=None, help="keep departures before this time, s")
    r.add_argument(
        "--ignore-errors",
        action="store_true",
        help="drop trips duarouter cannot route (listed) instead of refusing the file",
    )
    r.set_defaults(func=_route)

    t = dsub.add_parser("turning", help="turning ratios per movement from a routes file")
    t.add_argument("--net", required=True, help="SUMO .net.xml")
    t.add_argument("--routes", required=True, help="routed .rou.xml")
    t.add_argument("--csv", default=None, help="write the table to this CSV")
    t.set_defaults(func=_turning)

    q = dsub.add_parser("periods", help="list the time-of-day periods and their 15-min shapes")
    q.set_defaults(func=_periods)


def _common(p) -> None:
    p.add_argument("--net", required=True, help="SUMO .net.xml")
    p.add_argument("--out", required=True, help="routes file to write")
    p.add_argument("--begin", type=C.time_s, default=0.0, help="window start, s (0 = period start)")
    p.add_argument("--end", type=C.time_s, default=3600.0, help="window end, s")
    p.add_argument("--seed", type=C.seed, default=0)
    p.add_argument(
        "--cv-share", type=C.share, default=0.3, help="connected-vehicle share in [0, 1]"
    )


def _check_common(args) -> None:
    """Command-line checks before any work: the window, and an --out a file can be written to."""
    from signals.errors import check_out_file

    C.window(args.begin, args.end)
    check_out_file(args.out)


def _report(path) -> None:
    from signals.demand import read_routes

    r = read_routes(path)
    print(f"{path}: {r.n_vehicles:.0f} vehicles, connected share {r.cv_share():.3f}")


def _generate(args) -> int:
    from signals.demand import get_period
    from signals.errors import InputError

    _check_common(args)
    try:
        get_period(args.period)
    except InputError as exc:
        raise InputError(None, "--period", exc.expected, exc.found) from None
    from signals.demand import generate_routes

    out = generate_routes(
        args.net,
        args.out,
        period=args.period,
        veh_per_hour=args.veh_per_hour,
        begin_s=args.begin,
        end_s=args.end,
        seed=args.seed,
        cv_share=args.cv_share,
        fringe_factor=args.fringe_factor,
    )
    _report(out)
    return 0


def _od(args) -> int:
    _check_common(args)
    from signals.demand import routes_from_od

    out = routes_from_od(
        args.net,
        args.od,
        args.out,
        seed=args.seed,
        cv_share=args.cv_share,
        begin_s=args.begin,
        end_s=args.end,
        taz_path=args.taz,
    )
    _report(out)
    return 0


def _counts(args) -> int:
    _check_common(args)
    from signals.demand import counts_fit, routes_from_counts

    out = routes_from_counts(
        args.net,
        args.counts,
        args.out,
        seed=args.seed,
        cv_share=args.cv_share,
        begin_s=args.begin,
        end_s=args.end,
        n_candidates=args.candidates,
    )
    _report(out)
    fit = counts_fit(args.net, args.counts, out, begin_s=args.begin, end_s=args.end)
    ok = float((fit["geh"] < 5).mean() * 100) if len(fit) else 100.0
    print(
        f"counts: {len(fit)} relations, target {fit['target_vph'].sum():.0f} veh/h, "
        f"routed {fit['routed_vph'].sum():.0f} veh/h, GEH<5 for {ok:.1f}%, max GEH {fit['geh'].max():.2f}"
    )
    return 0


def _route(args) -> int:
    from signals.demand import hhmm, route_trips_report
    from signals.errors import check_out_file

    if args.begin is not None and args.end is not None:
        C.window(args.begin, args.end)
    check_out_file(args.out)
    res = route_trips_report(
        args.trips,
        args.net,
        args.out,
        additional=args.additional,
        seed=args.seed,
        begin_s=args.begin,
        end_s=args.end,
        ignore_errors=args.ignore_errors,
        omit_additional_types=args.omit_additional_types,
    )
    dropped = ""
    if res.dropped:
        first = ", ".join(res.dropped[:3]) + (", ..." if len(res.dropped) > 3 else "")
        dropped = f"; {len(res.dropped)} unroutable trip(s) dropped: {first}"
    print(
        f"{res.path}: {res.n_vehicles:.0f} vehicles routed, departures "
        f"{res.first_depart_s:g}-{res.last_depart_s:g} s "
        f"({hhmm(res.first_depart_s)}-{hhmm(res.last_depart_s)}){dropped}"
    )
    return 0


def _turning(args) -> int:
    import pandas as pd

    from signals.demand import movement_counts, read_routes, turning_ratios
    from signals.errors import atomic_path, check_out_file
    from signals.network import Network

    if args.csv:
        check_out_file(args.csv, "--csv")
    net = Network.from_sumo(args.net)
    routes = read_routes(args.routes)
    df = pd.DataFrame(
        {
            "signal": [net.signal_ids[s] for s in net.mov_signal],
            "from_edge": net.mov_from_edge,
            "to_edge": net.mov_to_edge,
            "dir": net.mov_dir,
            "vehicles": movement_counts(net, routes),
            "ratio": turning_ratios(net, routes),
        }
    )
    if args.csv:
        with atomic_path(args.csv) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        print(f"{args.csv}: {len(df)} movements")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 120):
            print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _periods(args) -> int:
    from signals.demand import PERIODS

    for p in PERIODS.values():
        hhmm = f"{int(p.begin_s // 3600):02d}:{int(p.begin_s % 3600 // 60):02d}-{int(p.end_s // 3600):02d}:{int(p.end_s % 3600 // 60):02d}"
        shape = " ".join(f"{w:.2f}" for w in p.weights)
        phf = p.peak_hour_factor()
        print(
            f"{p.name:<9} {hhmm}  scale {p.scale:.2f}  PHF {phf:.3f}  bins {p.bin_s / 60:.0f} min: {shape}"
        )
    del args
    return 0
