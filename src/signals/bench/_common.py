"""Shared set-up for the benchmarks."""

from __future__ import annotations

from pathlib import Path


def bench_network(net: str | None, work: Path, recipe: str) -> Path:
    """``net`` if given, else the ``recipe`` network built once under ``work/net`` and reused."""
    if net:
        return Path(net)
    from signals.netbuild import build

    path = work / "net" / f"{recipe}.net.xml"
    return path if path.exists() else Path(build(recipe, work / "net"))
