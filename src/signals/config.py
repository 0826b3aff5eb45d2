"""Typed TOML configs that reject unknown keys (DESIGN.md conventions).

``load_typed(cls, data, file)`` fills a (possibly nested) dataclass from a dict, checking every key
and every value's type, and raises :class:`~signals.errors.InputError` naming the file, the dotted
field, what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from signals.errors import InputError, require_file

T = TypeVar("T")


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
        check(file)
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
