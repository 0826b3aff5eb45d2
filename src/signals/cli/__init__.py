"""The ``signals`` command. Each area registers its sub-commands from its own module here.

Errors: an :class:`~signals.errors.InputError` (bad input) prints one line
``signals: error: FILE: FIELD: expected X, found Y`` and exits 2 with no traceback unless
``--debug`` is given (DESIGN.md, "Bad input and faults").
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under signals.cli that each define ``register(subparsers)``; every sub-command they add
# sets ``func`` to a callable taking the parsed args and returning an exit code (or None for 0).
AREAS = ("network", "demand", "evaluate", "experiment", "plan", "bench", "v2x", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signals",
        description="Traffic signal optimizer for a connected-vehicle (V2X) pilot zone.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in AREAS:
        try:
            mod = importlib.import_module(f"signals.cli.{area}")
        except ModuleNotFoundError as exc:
            if exc.name == f"signals.cli.{area}":
                continue  # area not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from signals.errors import InputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2 if args.command is None else 0
    try:
        rc = args.func(args)
    except InputError as exc:
        if args.debug:
            raise
        print(f"signals: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
