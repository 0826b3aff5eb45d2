"""Time-space diagram (issue 11, part 6): signal bars from the plans, trajectories from SUMO's
fcd output, bands swept at the MILP's travel times equal to what ``plan optimize`` reports,
and ``signals plan diagram`` end to end on a net with a V2X corridor (arterial3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signals.cli import main
from signals.control.optimize import corridors
from signals.control.optimize.bands import green_seconds
from signals.network import Network
from signals.plans import read_schedule
from signals.timespace import edge_positions, movement_bars, read_fcd

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
NET = TEST_NETS / "arterial3.net.xml"


@pytest.fixture(scope="module")
def optimized(tmp_path_factory):
    """arterial3 with routed demand and its green-wave plans from ``plan optimize``."""
    from signals.demand import generate_routes

    d = tmp_path_factory.mktemp("ts")
    routes = generate_routes(NET, d / "a.rou.xml", veh_per_hour=900, end_s=900, seed=1)
    out = d / "opt"
    argv = [
        "plan", "optimize", "--net", str(NET), "--routes", str(routes), "--out", str(out),
        "--common-cycle", "corridors", "--offsets", "maxband", "--cycle-step-s", "10",
        "--time-limit-s", "2", "--band-time-limit-s", "5",
    ]  # fmt: skip
    assert main(argv) == 0
    return routes, out


def test_bars_follow_the_plan_and_its_offset(optimized):
    net = Network.from_sumo(NET)
    _, out = optimized
    (_, _, _, ps), *_ = read_schedule(out / "plans.json", net).ordered()
    (c,), _ = corridors(net, np.zeros(net.n_movements))
    plan = ps.plans[c.signals[1]]
    m = c.out_movements[1]
    C = plan.cycle_s
    bars = movement_bars(net, plan, m, 0.0, 3 * C)
    assert bars[0][0] == 0.0 and bars[-1][1] == 3 * C
    assert all(a[1] == b[0] for a, b in zip(bars, bars[1:], strict=False))  # no gaps
    green = sum(b - a for a, b, code in bars if code == "G")
    assert green == pytest.approx(3 * green_seconds(net, plan, m).sum(), abs=1e-6)
    # green starts offset seconds after the program's own green starts
    starts = [a for a, _, code in bars if code == "G" and a > 0]  # not the window's clip
    g = green_seconds(net, plan, m)
    own = [float(x) for x in range(int(C)) if g[x] and not g[x - 1]]
    assert starts and {(s - plan.offset_s) % C for s in starts} <= set(own)


def test_fcd_positions_run_along_the_corridor(tmp_path):
    net = Network.from_sumo(NET)
    (c,), _ = corridors(net, np.zeros(net.n_movements))
    where = edge_positions(c, net)
    out_e, in_e = c.out_edges[0][-1], c.in_edges[0][0]
    f = tmp_path / "fcd.xml"
    f.write_text(
        "<fcd-export>"
        f'<timestep time="10"><vehicle id="a" lane="{out_e}_0" pos="5"/>'
        f'<vehicle id="b" lane="{in_e}_0" pos="5"/><vehicle id="z" lane="nowhere_0" pos="1"/>'
        "</timestep>"
        f'<timestep time="11"><vehicle id="a" lane="{out_e}_0" pos="20"/>'
        f'<vehicle id="b" lane="{in_e}_0" pos="20"/></timestep>'
        "</fcd-export>"
    )
    tr = {t.vehicle: t for t in read_fcd(f, c, net)}
    assert set(tr) == {"a", "b"}
    assert not tr["a"].inbound and np.diff(tr["a"].position_m)[0] == pytest.approx(15)
    assert tr["b"].inbound and np.diff(tr["b"].position_m)[0] < 0  # back towards the start
    assert where[in_e][1] == pytest.approx(c.positions_m()[1])  # inbound leaves signal 2


def test_plan_diagram_draws_the_bands_plan_optimize_reports(optimized, tmp_path, capsys):
    routes, out = optimized
    d = tmp_path / "d"
    argv = [
        "plan", "diagram", str(out / "plans.json"), "--net", str(NET), "--routes", str(routes),
        "--bands", str(out / "optimize.json"), "--from-s", "300", "--to-s", "600",
        "--out", str(d),
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((d / "timespace.json").read_text())
    assert (d / "timespace.png").stat().st_size > 0 and (d / "timespace.svg").stat().st_size > 0
    assert doc["corridor"] == "ART" and doc["n_trajectories"] > 0
    (period,) = json.loads((out / "optimize.json").read_text())["periods"].values()
    (band,) = period["corridor_bands"]
    # the diagram's sweep of the exported plans is the band the optimizer reported
    assert doc["bands"]["outbound"]["width"] == pytest.approx(band["band_out"], abs=1e-3)
    assert doc["bands"]["inbound"]["width"] == pytest.approx(band["band_in"], abs=1e-3)
    assert "ART" in capsys.readouterr().out


def test_plan_diagram_refuses_an_unknown_corridor(optimized, tmp_path, capsys):
    _, out = optimized
    d = tmp_path / "d"
    rc = main(
        ["plan", "diagram", str(out / "plans.json"), "--net", str(NET), "--corridor", "B9",
         "--out", str(d)]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "B9" in err[0] and "ART" in err[0]
    assert not d.exists()
