"""The ``signals`` command. Each area registers its sub-commands from its own module here.

Errors: an :class:`~signals.errors.InputError` (bad input) prints one line
``signals: error: FILE: FIELD: expected X, found Y`` and exits 2 with no traceback unless
``--debug`` is given (docs/architecture.md, "Bad input and faults"). Command-line mistakes (a
missing option, a value of the wrong type or range) are one line too, ``signals CMD: error:
argument --X: ...``, and an operating-system error on a named file (permission denied, a folder
where a file should be, a full disk) is reported the same way instead of as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under signals.cli that each define ``register(subparsers)``; every sub-command they add
# sets ``func`` to a callable taking the parsed args and returning an exit code (or None for 0).
AREAS = ("network", "demand", "evaluate", "experiment", "plan", "bench", "v2x", "train")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block): ``PROG: error: MESSAGE``.

    Sub-command parsers inherit the class, so every ``signals ...`` mistake prints one line and
    exits 2; ``--help`` still shows the usage.
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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


def _sumo_tool_error() -> type[Exception]:
    from signals.sumo_tools import SumoToolError  # no SUMO needed to import it

    return SumoToolError


def main(argv: list[str] | None = None) -> int:
    from signals.errors import InputError
    from signals.safety import UnsafePlanError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a command-line error (2, one line)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2 if args.command is None else 0
    try:
        rc = args.func(args)
    except InputError as exc:
        if args.debug:
            raise
        if exc.file == "-" and getattr(args, "config", None):
            # a value from the config that a library function checked: name the config file
            exc = InputError(args.config, exc.field, exc.expected, exc.found)
        print(f"signals: error: {exc}", file=sys.stderr)
        return 2
    except _sumo_tool_error() as exc:
        # a SUMO program refused its input: one line with its first error, not its whole output
        if args.debug:
            raise
        tool = exc.tool or "SUMO tool"
        print(
            f"signals: error: {tool}: SUMO: expected input {tool} accepts, found {exc.first_error}",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        # an operating-system refusal on a named file (permissions, a file where a folder should
        # be, a full disk): the same one line, naming the file
        if args.debug or not (exc.filename or exc.errno):
            raise
        what = type(exc).__name__ if not exc.strerror else exc.strerror
        err = InputError(exc.filename, "file", "a path this command can read or write", what)
        print(f"signals: error: {err}", file=sys.stderr)
        return 2
    except UnsafePlanError as exc:
        # the safety gate refused a plan on its way out (to SUMO, SPaT or a file): nothing
        # was run or written; the first finding, and how many more (`plan validate` lists all)
        if args.debug:
            raise
        print(f"signals: error: unsafe plan refused by the safety gate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
