"""``signals run CONFIG``: run an experiment config and print the controller comparison."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("run", help="run an experiment config (scenarios x controllers x seeds)")
    p.add_argument("config", help="experiments/<name>.toml")
    p.add_argument("--out", default=None, help="output directory (default out/<experiment name>)")
    p.add_argument(
        "--jobs", type=_jobs, default=None, help="parallel SUMO runs (default from config)"
    )
    p.add_argument(
        "--backend", choices=["local", "ray"], default=None, help="local processes or a Ray cluster"
    )
    p.add_argument(
        "--address",
        default=None,
        help="with --backend ray: a running Ray cluster (default: start a local one)",
    )
    p.add_argument(
        "--networks-dir",
        default=None,
        help="where recipe networks are built/reused (default OUT/networks)",
    )
    p.set_defaults(func=_run)
    r = sub.add_parser("report", help="write the HTML report of a `signals run` output directory")
    r.add_argument("run_dir", help="the output directory of `signals run`")
    r.add_argument(
        "--baseline", default=None, help="controller the changes are against (default: the first)"
    )
    r.set_defaults(func=_report)


def _report(args) -> int:
    from signals.report import write_report

    print(f"report: {write_report(args.run_dir, baseline=args.baseline)}")
    return 0


def _jobs(text: str) -> int:
    import argparse

    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return v


def _run(args) -> int:
    """Exit 0 when every run finished, 1 when any failed (a SUMO error or a killed worker), 2 for a
    bad config (nothing written)."""
    import json
    import signal
    import sys

    import pandas as pd

    from signals.experiment import load_experiment, run_experiment

    exp = load_experiment(args.config)  # validate before anything is written
    backend = args.backend or exp.run.backend
    if args.address and backend != "ray":
        from signals.errors import InputError

        raise InputError("command line", "--address", "--backend ray with it", backend)
    out = Path(args.out or Path("out") / exp.name)

    def _terminate(signum, frame):  # SIGTERM: stop the workers and clean up, like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        results = run_experiment(
            args.config,
            out,
            jobs=args.jobs,
            backend=args.backend,
            address=args.address,
            networks_dir=args.networks_dir,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    runs = json.loads((out / "run.json").read_text())["runs"]
    failed = sorted(rid for rid, state in runs.items() if state != "ok")
    if not results.is_file():
        print(f"no run finished; see {out}/runs/*/error.txt", file=sys.stderr)
        return 1
    df = pd.read_parquet(results)
    print(comparison_table(df).to_string())
    print(f"\nresults: {results}\nsummary: {out / 'summary.csv'}\nrun record: {out / 'run.json'}")
    if exp.outputs.report:
        from signals.report import write_report

        print(f"report: {write_report(out)}")
    if failed:
        print(
            f"{len(failed)} run(s) failed: {', '.join(failed)} (see {out}/runs/<run>/error.txt)",
            file=sys.stderr,
        )
        return 1
    return 0


HEADLINE = [
    "avg_delay_s",
    "avg_travel_time_s",
    "avg_stops",
    "throughput_veh",
    "lane_queue_p95_veh",
    "n_teleports",
    "co2_g",
]


def comparison_table(df):
    """Network-wide headline metrics, scenario x controller, mean over seeds."""
    net = df[(df["scope"] == "network") & (df["metric"].isin(HEADLINE))].copy()
    net["value"] = net["value"].astype(float)
    table = net.pivot_table(
        index=["scenario", "controller"], columns="metric", values="value", aggfunc="mean"
    )
    return table[[m for m in HEADLINE if m in table.columns]].round(2)
