"""Typed TOML configs that reject unknown keys (docs/architecture.md, "Conventions").

``load_typed(cls, data, file)`` fills a (possibly nested) dataclass from a dict, checking every key
and every value's type, and raises :class:`~signals.errors.InputError` naming the file, the dotted
field, what was expected and what was found.

Besides types, the project's conventional field names carry a domain that is checked at load
time, before anything is built or written (so a bad value names the config and its field instead
of surfacing later from a library call that does not know the file): ``*_s`` is a time or duration
in seconds (finite, >= 0), ``seed``/``seeds`` a 32-bit seed, ``veh_per_hour`` a volume in veh/h up
to :data:`VEH_PER_HOUR_MAX`, ``*_share`` a share in [0, 1], ``period`` a time-of-day period name
(:data:`signals.demand.PERIODS`) and ``recipe`` a network recipe (``networks/<name>.toml``).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from signals.errors import InputError, require_file

T = TypeVar("T")

# Input limits, one definition for configs, the CLI and signals.demand.
# SUMO's --seed (and randomTrips', duarouter's, numpy's legacy seeds) is a 32-bit signed integer
SEED_MAX = 2**31 - 1
# A base demand far above any city network's entry capacity (the pilot zone's is 14,400 veh/h);
# beyond it a value is a typo (1e12 veh/h would try to allocate hundreds of GiB of departures)
VEH_PER_HOUR_MAX = 100_000.0


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; a syntax error becomes an InputError with the parser's message."""
    p = require_file(path, "config", "an existing TOML config file")
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(p, "toml", "valid TOML", str(exc)) from None


def load_typed(cls: type[T], data: Any, file: str | Path, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise InputError."""
    if not isinstance(data, dict):
        raise InputError(file, prefix or "config", "a table", type(data).__name__)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            file, _join(prefix, unknown[0]), "one of " + ", ".join(sorted(fields)), "unknown key"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(file, key, "a value (required)", "missing")
            continue
        kwargs[name] = _coerce(hints[name], data[name], file, key)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if callable(check):
        check(file)  # the class's own checks first (its messages are the more specific)
    for name, value in kwargs.items():
        _check_domain(name, value, file, _join(prefix, name))
    return obj


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(tp: Any, value: Any, file, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, file, key)
            except InputError as exc:
                errors.append(exc.expected)
        raise InputError(file, key, " or ".join(errors), repr(value))
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise InputError(file, key, "a list", repr(value))
        inner = args[0] if args else Any
        items = [_coerce(inner, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(file, key, "a table", repr(value))
        return {k: _coerce(args[1], v, file, f"{key}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise InputError(file, key, "one of " + ", ".join(map(repr, args)), repr(value))
        return value
    if dataclasses.is_dataclass(tp):
        return load_typed(tp, value, file, key)
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(file, key, "a number", repr(value))
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(file, key, "an integer", repr(value))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(file, key, "true or false", repr(value))
        return value
    if tp is str:
        if not isinstance(value, str):
            raise InputError(file, key, "a string", repr(value))
        return value
    return value


def _check_domain(name: str, value: Any, file, key: str) -> None:
    """The domain of a conventionally named field (see the module docstring)."""
    if value is None:
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_domain(name, v, file, f"{key}[{i}]")
        return
    if name in ("seed", "seeds") and isinstance(value, int):
        if not 0 <= value <= SEED_MAX:
            raise InputError(file, key, f"an integer in [0, {SEED_MAX}]", repr(value))
    elif name.endswith("_s") and isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise InputError(file, key, "a time in s, finite and >= 0", repr(value))
    elif name == "veh_per_hour" and isinstance(value, int | float):
        if not (math.isfinite(value) and 0 <= value <= VEH_PER_HOUR_MAX):
            raise InputError(
                file, key, f"a volume in veh/h in [0, {VEH_PER_HOUR_MAX:g}]", repr(value)
            )
    elif name.endswith("_share") and isinstance(value, int | float):
        if not 0 <= value <= 1:
            raise InputError(file, key, "a share in [0, 1]", repr(value))
    elif name == "period" and isinstance(value, str):
        from signals.demand import PERIODS

        if value not in PERIODS:
            raise InputError(file, key, "one of " + ", ".join(PERIODS), repr(value))
    elif name == "recipe" and isinstance(value, str):
        from signals.netbuild import recipe_path

        try:
            recipe_path(value)
        except InputError as exc:
            raise InputError(file, key, exc.expected, exc.found) from None
