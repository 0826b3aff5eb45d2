"""Time-space diagram (issue 11, part 6): signal bars from the plans, trajectories from SUMO's
fcd output, bands swept at the MILP's travel times equal to what ``plan optimize`` reports,
and ``signals plan diagram`` end to end on a net with a V2X corridor (arterial3)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
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


def test_state_bars_follow_the_recorded_changes() -> None:
    """Bars from what a signal showed (any controller): each recorded state holds until the
    next change, clipped to the window; the same reading of a state as the plan bars."""
    from signals.timespace import state_bars

    net = Network.from_sumo(NET)
    (c,), _ = corridors(net, np.zeros(net.n_movements))
    sid, m = c.signals[1], c.out_movements[1]
    s = net.signal_index(sid)
    links = np.arange(*net.links_of(s).indices(net.n_links))
    mine = links[net.link_movement[links] == m] - links[0]
    n = len(links)
    green = "".join("G" if i in mine else "r" for i in range(n))
    yellow = "".join("y" if i in mine else "r" for i in range(n))
    red = "r" * n
    changes = [(0.0, red), (10.0, green), (37.0, yellow), (40.0, red), (55.0, green)]
    bars = state_bars(net, sid, changes, m, 5.0, 60.0)
    assert bars == [(5.0, 10.0, "R"), (10.0, 37.0, "G"), (37.0, 40.0, "Y"), (40.0, 55.0, "R"),
                    (55.0, 60.0, "G")]  # fmt: skip


def _experiment(tmp_path: Path, outputs: str = "", name: str = "exp") -> Path:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        f"""name = "ts"
[network]
path = "{NET}"
[sim]
end_s = 300
[[scenarios]]
name = "base"
veh_per_hour = 900
[run]
controllers = ["default", "webster", "max-pressure"]
seeds = [1, 2]
{outputs}
"""
    )
    return cfg


@pytest.mark.sumo
def test_experiment_runs_record_the_corridor_for_every_controller(tmp_path) -> None:
    """`signals run` records the corridor in each controller's first-seed run (the states its
    signals showed and its vehicles' fcd), which changes no result; the report draws one
    time-space diagram per controller from it, max-pressure included; a run without the
    recording asked for is redone; a corridor the net lacks is refused before any run."""
    from signals.experiment import run_experiment
    from signals.report import write_report
    from signals.timespace import FCD_FILE, STATES_FILE, read_switch_states

    quiet = lambda *a: None  # noqa: E731
    cfg = _experiment(tmp_path)
    out = tmp_path / "out"
    with_rec = pd.read_parquet(run_experiment(cfg, out, log=quiet))
    runs = out / "runs"
    for c in ("default", "webster", "max-pressure"):
        first = runs / f"base__{c}__s1"
        assert (first / FCD_FILE).is_file() and (first / STATES_FILE).is_file(), c
        assert not (runs / f"base__{c}__s2" / FCD_FILE).exists()  # the first seed only
    net = Network.from_sumo(NET)
    (c,), _ = corridors(net, np.zeros(net.n_movements))
    rec = read_switch_states(runs / "base__max-pressure__s1" / STATES_FILE)
    assert set(rec) == set(c.signals) and all(len(v) > 3 for v in rec.values())
    text = write_report(out).read_text()
    for ctl in ("default", "webster", "max-pressure"):
        assert (out / "report" / f"timespace-{ctl}.png").read_bytes()[:4] == b"\x89PNG"
    n_veh = [int(x) for x in re.findall(r"; (\d+) vehicles</figcaption>", text)]
    assert len(n_veh) == 3 and min(n_veh) > 10

    # the same sweep without the recording gives the same results
    cfg2 = _experiment(tmp_path, "[outputs]\ntrajectories = false", "plain")
    without = pd.read_parquet(run_experiment(cfg2, tmp_path / "plain", log=quiet))
    key = ["run_id", "scope", "metric"]
    a, b = with_rec.sort_values(key), without.sort_values(key)
    assert a[key].values.tolist() == b[key].values.tolist()
    assert np.allclose(a["value"].astype(float), b["value"].astype(float), equal_nan=True)
    # asking for it later redoes exactly the first-seed runs
    lines: list[str] = []
    run_experiment(cfg, tmp_path / "plain", log=lines.append)
    redone = [ln for ln in lines if "redo (the corridor recording" in ln]
    assert len(redone) == 3 and all("__s1:" in ln for ln in redone), lines

    for bad, field in (('corridor = "B9"', "B9"), ('corridor = ["A0", "nope"]', "nope")):
        p = subprocess.run(
            [sys.executable, "-m", "signals", "run", str(_experiment(tmp_path, f"[outputs]\n{bad}", "bad")),
             "--out", str(tmp_path / "bad")],
            capture_output=True, text=True,
        )  # fmt: skip
        err = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(err) == 1, p.stderr
        assert "outputs.corridor" in err[0] and field in err[0]
        assert not (tmp_path / "bad" / "runs").exists()
