"""``signals evaluate``: run one scenario in SUMO and print its metrics."""

from __future__ import annotations

import json
import math

from signals.cli import _checks as C

# What --controller runs: "fixed" the programs (the net's own or --program) with no control in
# the loop; the others through the closed loop (signals.evaluate.sumo_loop.evaluate_online).
FIXED = "fixed"
ONLINE = (
    "max-pressure",
    "cv-max-pressure",
    "actuated",
    "actuated-det",
    "actuated-det-cv",
    "actuated-cv",
)
CONTROLLER_NAMES = (FIXED, *ONLINE)


def controller_name(text: str) -> str:
    """A controller ``signals evaluate`` can run (one line listing the valid names if not)."""
    import argparse

    name = text.strip().replace("_", "-")
    if name not in CONTROLLER_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(CONTROLLER_NAMES)}, found {text!r}"
        )
    return name


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="run a scenario in SUMO (micro or meso) and print delay, stops, queues, LOS, CO2",
        description=(
            "Run a SUMO scenario with the net's own signal programs (or --program), or with an "
            "online controller in the closed loop (--controller), and print network-wide "
            "metrics, connected vs other vehicles, and the worst intersections by HCM control "
            "delay."
        ),
    )
    p.add_argument("--net", required=True, help="SUMO .net.xml")
    p.add_argument(
        "--routes",
        required=True,
        action="append",
        help="route file(s); repeat or separate with commas",
    )
    p.add_argument(
        "--program", help="additional file with tlLogic programs (and optionally a WAUT)"
    )
    p.add_argument(
        "--additional",
        action="append",
        default=[],
        metavar="FILE",
        help=(
            "SUMO additional file(s): vehicle types, bus stops, detectors, tlLogics (root "
            "<additional> or <add>); repeat or separate with commas, loaded in this order"
        ),
    )
    p.add_argument("--meso", action="store_true", help="mesoscopic simulation instead of micro")
    p.add_argument("--begin", type=C.time_s, default=0.0, help="begin time, s (default 0)")
    p.add_argument("--end", type=C.time_s, default=3600.0, help="end time, s (default 3600)")
    p.add_argument("--seed", type=C.seed, default=0, help="SUMO --seed (default 0)")
    p.add_argument(
        "--out", help="write results.parquet, summary.csv, run.json and SUMO outputs here"
    )
    p.add_argument("--scenario", default="", help="scenario label for the results table")
    p.add_argument(
        "--controller",
        type=controller_name,
        default=None,
        help=(
            f"the controller to run: {FIXED} (default: the programs), or "
            f"{', '.join(ONLINE)} through the closed loop (SUMO micro)"
        ),
    )
    p.add_argument(
        "--policy",
        metavar="DIR",
        help=(
            "a trained RL policy (a policies/NAME or `signals train` output directory) through "
            "the closed loop, with the loop settings it was trained with"
        ),
    )
    p.add_argument(
        "--delta-t-s",
        type=C.positive,
        default=None,
        help="closed loop: decision interval, whole seconds (default: LoopConfig's, 5)",
    )
    C.add_stages_option(p)
    p.add_argument(
        "--queue-sample",
        type=C.nonneg,
        default=1.0,
        help="queue sampling period, s (default 1; 0 = off)",
    )
    p.add_argument("--top", type=C.count, default=10, help="intersections to list (default 10)")
    p.add_argument(
        "--json", action="store_true", help="also print the network summary as one JSON line"
    )
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    import sys

    from signals.errors import check_out_dir
    from signals.evaluate.sumo_run import SumoRunError, evaluate_sumo

    routes = [r for arg in args.routes for r in arg.split(",") if r]
    C.window(args.begin, args.end)
    _check_controller_args(args)
    if args.out:
        check_out_dir(args.out)
    try:
        res = _run(args, routes, evaluate_sumo)
    except SumoRunError as exc:
        if args.debug:
            raise
        print(f"signals: error: {exc}", file=sys.stderr)
        return 1
    _print(args, res)
    return 0


def _check_controller_args(args) -> None:
    """Combinations the closed loop cannot run: one line naming the option, exit 2."""
    from signals.errors import InputError

    if args.policy and args.controller is not None:
        raise InputError(
            None, "--policy", "no --controller with --policy", f"--controller {args.controller}"
        )
    online = args.controller in ONLINE or bool(args.policy)
    if online and args.meso:
        raise InputError(None, "--meso", f"SUMO micro for {_online_label(args)}", "--meso")
    if online and args.program:
        # the loop builds its stages from the net's own programs; a program file would be
        # replaced, so the run would not be what the options say
        raise InputError(
            None, "--program", f"no program file with {_online_label(args)}", args.program
        )
    if args.delta_t_s is not None and not online:
        raise InputError(
            None,
            "--delta-t-s",
            f"a closed-loop controller ({', '.join(ONLINE)})",
            f"--controller {args.controller or FIXED}",
        )
    if args.delta_t_s is not None and not float(args.delta_t_s).is_integer():
        raise InputError(None, "--delta-t-s", "a whole number of seconds", f"{args.delta_t_s:g}")


def _online_label(args) -> str:
    return f"--policy {args.policy}" if args.policy else f"--controller {args.controller}"


def _run(args, routes, evaluate_sumo):
    additional = [a for arg in args.additional for a in arg.split(",") if a]
    if args.controller in ONLINE or args.policy:
        return _run_online(args, routes, additional)
    return evaluate_sumo(
        args.net,
        routes,
        program=args.program,
        additional=additional,
        meso=args.meso,
        begin_s=args.begin,
        end_s=args.end,
        seed=args.seed,
        out_dir=args.out,
        scenario=args.scenario,
        controller=args.controller or "",
        queue_sample_s=args.queue_sample,
    )


def _run_online(args, routes, additional):
    """The named controller through the closed loop; the result is labelled with its name."""
    from dataclasses import replace

    from signals.control.adaptive import make_controller
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online

    config = LoopConfig(stages=args.stages)
    network = None  # parsed here only when the controller needs it, then handed to the loop
    if args.policy:
        from signals.control.rl.policy import PolicyController, policy_loop_config

        controller = PolicyController(args.policy)
        config = policy_loop_config(controller.card)  # the loop the policy was trained in
    else:
        kwargs = {}
        if args.controller == "actuated-cv":  # unseen demand from the routes' movement flows
            from signals.control.fixed_time import movement_flows_vph
            from signals.network import Network

            network = Network.from_sumo(args.net)
            kwargs["flows_vph"] = movement_flows_vph(network, routes, args.begin, args.end)
        controller = make_controller(args.controller, **kwargs)
        # the record and the table carry the name the user ran (as experiment configs do),
        # which names the same controller as its class name ("max_pressure")
        controller.name = args.controller
    if args.delta_t_s is not None:
        config = replace(config, delta_t_s=args.delta_t_s)
    elif controller.decision_s is not None:
        config = replace(config, delta_t_s=controller.decision_s)
    res = evaluate_online(
        args.net,
        routes,
        controller,
        additional=additional,
        config=config,
        begin_s=args.begin,
        end_s=args.end,
        seed=args.seed,
        out_dir=args.out,
        scenario=args.scenario,
        queue_sample_s=args.queue_sample,
        network=network,
    )
    return res.result


def _print(args, res) -> None:
    mode = "meso" if args.meso else "micro"
    print(
        f"{res.run_id}: SUMO {mode}, {args.begin:g}-{args.end:g} s, seed {args.seed}, "
        f"{res.wall_s:.1f} s wall ({res.sim_wall_s:.1f} s in SUMO)"
    )
    print()
    print(format_tables(res.metrics, top=args.top))
    if res.paths:
        print()
        for k in ("results", "summary", "run"):
            if k in res.paths:
                print(f"{k:<8} {res.paths[k]}")
    if args.json:
        print(json.dumps({"run_id": res.run_id, **res.summary, "wall_s": res.wall_s}))


def _fmt(v: float, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.{digits}f}"


def format_tables(df, top: int = 10) -> str:
    """Network metrics (all / connected / other) and the ``top`` worst intersections."""
    from signals.evaluate import metrics as M

    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        return [fmt.format(*header), *(fmt.format(*r) for r in rows)]

    lines: list[str] = []
    vals = {(s, m): v for s, m, v in zip(df["scope"], df["metric"], df["value"], strict=True)}
    net_metrics = [m for m in M.METRICS if (M.NETWORK, m) in vals]
    rows = []
    for m in net_metrics:
        rows.append(
            [
                m,
                _fmt(vals[(M.NETWORK, m)]),
                _fmt(vals.get((M.CONNECTED, m), math.nan)),
                _fmt(vals.get((M.OTHER, m), math.nan)),
                M.METRICS[m][0],
            ]
        )
    lines += table(["network", "all", "connected", "other", "unit"], rows)

    sig = df[df["scope"].str.startswith("signal:")]
    if len(sig):
        wide = sig.pivot_table(index="scope", columns="metric", values="value", aggfunc="first")
        if "control_delay_s" in wide:
            wide = wide.sort_values("control_delay_s", ascending=False, na_position="last")
        shown = wide.head(top)
        cols = [
            c
            for c in (
                "control_delay_s",
                "los",
                "vc_ratio",
                "flow_vph",
                "queue_mean_veh",
                "queue_max_veh",
            )
            if c in wide
        ]
        rows = []
        for scope, r in shown.iterrows():
            cells = [str(scope).split(":", 1)[1]]
            for c in cols:
                cells.append(M.los_letter(r[c]) or "-" if c == "los" else _fmt(float(r[c])))
            rows.append(cells)
        lines += ["", f"worst {len(shown)} of {len(wide)} intersections by control delay"]
        lines += table(["signal", *cols], rows)
    return "\n".join(lines)
