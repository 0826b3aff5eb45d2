"""Shared fixtures: tiny SUMO nets generated with netgenerate (fast, deterministic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from signals import sumo_tools

REPO = Path(__file__).resolve().parents[1]
TEST_NETS = REPO / "networks" / "test"


def _netgenerate(out: Path, *extra: str) -> Path:
    sumo_tools.run(
        [
            sumo_tools.binary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--grid.length",
            "200",
            "--grid.attach-length",
            "150",
            "--no-turnarounds",
            "true",
            "--seed",
            "1",
            "-o",
            str(out),
            *extra,
        ]
    )
    return out


@pytest.fixture(scope="session")
def grid_net(tmp_path_factory) -> Path:
    """A 2x2 grid whose four inner junctions are traffic lights (fringe ends are not)."""
    d = tmp_path_factory.mktemp("grid")
    return _netgenerate(
        d / "grid.net.xml",
        "--default-junction-type",
        "traffic_light",
        "--tls.discard-simple",
        "true",
    )


@pytest.fixture(scope="session")
def no_tls_net(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("notls")
    return _netgenerate(d / "plain.net.xml", "--default-junction-type", "priority")
