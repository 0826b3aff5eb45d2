"""``signals bench NAME [--json]``: benchmarks that measure the project and its peer in one run."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys

import signals.bench


def _names() -> list[str]:
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules(signals.bench.__path__)
        if not m.name.startswith("_")
    )


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="benchmarks (project vs peer, same run): " + ", ".join(_names())
    )
    bsub = p.add_subparsers(dest="bench_name", metavar="NAME")
    for name in _names():
        mod = importlib.import_module(f"signals.bench.{name.replace('-', '_')}")
        b = bsub.add_parser(
            name, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None
        )
        b.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        mod.add_arguments(b)
        b.set_defaults(func=_runner(mod))


def _runner(mod):
    def run(args: argparse.Namespace) -> int:
        from contextlib import nullcontext

        from signals.errors import check_out_dir, new_dirs_removed_on_failure

        work = getattr(args, "work", None)
        if work:
            check_out_dir(work, "--work")
        # a benchmark that stops on bad input leaves no new (empty) work folders behind
        with new_dirs_removed_on_failure(work) if work else nullcontext():
            result = mod.run(args)
        if args.json:
            sys.stdout.flush()
            print(json.dumps(result, sort_keys=False))
        else:
            width = max(map(len, result), default=0)
            for k, v in result.items():
                print(f"{k:<{width}}  {v}")
        return 0

    return run
