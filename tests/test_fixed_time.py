"""Fixed-time plans: Webster cycle and splits, HCM refinements, ITE change intervals, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from signals import sumo_tools
from signals.cli import main
from signals.control.fixed_time import (
    WebsterConfig,
    change_intervals,
    drop_unwarranted_left_stages,
    fixed_time_schedule,
    movement_flows_vph,
    stage_flow_ratios,
    webster_plan,
    webster_planset,
)
from signals.control.hcm import hcm_delay_s, hcm_review, los
from signals.network import Network
from signals.plans import (
    PlanSet,
    read_schedule,
)
from signals.safety import (
    ite_allred_s,
    ite_yellow_s,
    link_width_m,
    validate,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_sumo(TEST_NETS / "single.net.xml")


def _routes(
    tmp: Path, net: Network, vph: np.ndarray, name: str = "r.rou.xml", end_s: float = 3600
) -> Path:
    """A routes file with one flow per movement (from edge -> to edge) at the given rates."""
    rows = []
    for m in range(net.n_movements):
        if vph[m] > 0:
            rows.append(
                f'<flow id="f{m}" begin="0" end="{end_s}" vehsPerHour="{vph[m]}">'
                f'<route edges="{net.mov_from_edge[m]} {net.mov_to_edge[m]}"/></flow>'
            )
    p = tmp / name
    p.write_text("<routes>\n" + "\n".join(rows) + "\n</routes>\n")
    return p


def test_movement_flows_from_routes(tmp_path, net):
    vph = np.arange(net.n_movements, dtype=float) * 10 + 50
    path = _routes(tmp_path, net, vph)
    got = movement_flows_vph(net, path, 0, 3600)
    np.testing.assert_allclose(got, vph, rtol=1e-9)
    # a half-hour file in a longer window still gives hourly rates
    half = _routes(tmp_path, net, vph, "h.rou.xml", end_s=1800)
    np.testing.assert_allclose(movement_flows_vph(net, half, 0, 7200), vph, rtol=1e-9)


def test_flow_ratio_uses_lanes_and_critical_stage(net):
    plan = PlanSet.from_network(net)["C"]
    flows = np.zeros(net.n_movements)
    y0 = stage_flow_ratios(net, plan, flows)
    assert (y0 == 0).all()
    # one through movement of stage 1 at 600 veh/h on 2 lanes: y = 300 / 1900 in stage 1
    s1 = net.movement_green_share(0, plan.phases[0].state)
    m = next(
        i
        for i in range(net.n_movements)
        if net.mov_dir[i] == "s" and s1[i] == 1 and net.mov_lanes[i] >= 1
    )
    links = np.flatnonzero(net.link_movement == m)
    lanes = {net.link_from_lane[i] for i in links}
    flows[m] = 600.0
    y = stage_flow_ratios(net, plan, flows)
    # the lane(s) may be shared with other (zero-flow) movements: only flow-weighted factors count
    assert y[0] == pytest.approx(600.0 / len(links) / 1900.0)
    assert len(lanes) == len(links)
    assert y[1] == 0 and y[2] == 0


def test_webster_cycle_and_splits(net):
    template = PlanSet.from_network(net)["C"]
    rng = np.random.default_rng(3)
    flows = rng.uniform(80, 220, net.n_movements)
    flows[[m for m in range(net.n_movements) if net.mov_dir[m] == "l"]] = 350.0
    cfg = WebsterConfig(drop_unwarranted_lefts=False)
    plan = webster_plan(net, template, flows, cfg)
    y = stage_flow_ratios(net, plan, flows)
    ys, rs = change_intervals(net, template)
    np.testing.assert_allclose([p.yellow_s for p in plan.phases], ys)
    np.testing.assert_allclose([p.allred_s for p in plan.phases], rs)
    L = float((ys + rs).sum())  # l1 = e = 2 s: lost time per stage = Y + AR (HCM)
    Y = float(y.sum())
    assert 0 < Y < 0.9
    c0 = (1.5 * L + 5) / (1 - Y)  # Webster 1958
    cmin = L * 0.9 / (0.9 - Y)  # HCM minimum cycle, X_c = 0.9
    expect = math.ceil(min(max(c0, cmin, cfg.cycle_min_s), cfg.cycle_max_s))
    greens = np.array([p.green_s for p in plan.phases])
    assert plan.n_stages == template.n_stages
    assert (greens > 5).all()  # no minimum green binds: pure Webster
    assert plan.cycle_s == expect
    # effective greens proportional to the critical flow ratios (whole seconds)
    np.testing.assert_allclose(greens, (plan.cycle_s - L) * y / Y, atol=1.0)
    assert plan.cycle_s == sum(p.total_s for p in plan.phases)
    assert all(float(g).is_integer() for g in greens)
    assert validate(plan, net) == []


def test_unwarranted_protected_left_stage_is_dropped(net):
    template = PlanSet.from_network(net)["C"]
    # stage 2 only upgrades the two lefts (links 6 and 13) from permitted 'g' to protected 'G'
    assert template.n_stages == 3
    lefts = sorted({int(net.link_movement[i]) for i in (6, 13)})
    flows = np.full(net.n_movements, 300.0)
    flows[lefts] = 40.0  # 40 x 600 opposing < 100,000: not warranted (FHWA TSTM 4.3.2)
    light = drop_unwarranted_left_stages(net, template, flows)
    assert light.n_stages == 2
    assert [p.state for p in light.phases] == [template.phases[0].state, template.phases[2].state]
    plan = webster_plan(net, template, flows)
    assert plan.n_stages == 2 and validate(plan, net) == []
    # the lefts keep their permitted service: still green every cycle
    assert all(plan.phases[0].state[i] == "g" for i in (6, 13))
    flows[lefts] = 250.0  # 250 x 600 > 100,000: the protected stage stays
    assert drop_unwarranted_left_stages(net, template, flows).n_stages == 3
    assert (
        webster_plan(net, template, flows, WebsterConfig(drop_unwarranted_lefts=False)).n_stages
        == 3
    )


def test_change_intervals_follow_ite(net):
    template = PlanSet.from_network(net)["C"]
    ys, rs = change_intervals(net, template)
    w = link_width_m(net)
    assert (w[~net.link_is_ped] > 3).all() and (w < 200).all()
    for k, ph in enumerate(template.phases):
        y_state = ph.change_states(template.phases[(k + 1) % template.n_stages].state)[0]
        losing = [i for i, c in enumerate(y_state) if c == "y"]
        v = net.mov_speed_mps[net.link_movement[losing]]
        assert ys[k] == math.ceil(max(3.0, float(ite_yellow_s(v).max())) - 1e-9)
        r = min(float(ite_allred_s(w[losing], v).max()), 6.0)
        assert rs[k] == math.ceil(max(1.0, r) - 1e-9)


def test_zero_and_oversaturated_demand(net):
    template = PlanSet.from_network(net)
    zero = webster_planset(net, np.zeros(net.n_movements), template)["C"]
    assert all(p.green_s >= 5 for p in zero.phases)
    assert zero.cycle_s <= 35  # short cycle: min greens, Webster for Y = 0
    heavy = webster_planset(net, np.full(net.n_movements, 1500.0), template)["C"]
    assert heavy.cycle_s == WebsterConfig().cycle_max_s
    assert validate(heavy, net) == []
    with pytest.raises(ValueError):
        webster_planset(net, np.zeros(3))


def test_generated_plans_pass_the_gate_on_every_test_net(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("single", "arterial3", "grid2x2", "odd"):
        n = Network.from_sumo(TEST_NETS / f"{name}.net.xml")
        for scale in (0.0, 150.0, 400.0):
            flows = rng.uniform(0, 1, n.n_movements) * scale
            ps = webster_planset(n, flows)  # asserts safety itself
            assert validate(ps, n) == []
            assert set(ps.plans) == set(n.signal_ids)


def test_crossings_get_walk_and_clearance(tmp_path):
    out = tmp_path / "ped.net.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("netgenerate"),
            "--grid",
            "--grid.number",
            "2",
            "--grid.length",
            "150",
            "--grid.attach-length",
            "100",
            "--default.lanenumber",
            "2",
            "--default-junction-type",
            "traffic_light",
            "--tls.discard-simple",
            "--sidewalks.guess",
            "--crossings.guess",
            "--no-turnarounds",
            "-o",
            str(out),
        ]
    )
    n = Network.from_sumo(out)
    ps = webster_planset(n, np.full(n.n_movements, 100.0))
    assert validate(ps, n) == []
    assert any(ph.clear_s > 5 for p in ps for ph in p.phases)


def test_hcm_delay_and_los():
    # C = 90, g = 45, X = 0.5, c = 900 veh/h: d1 = 0.5*90*0.25/(1-0.25) = 15 s,
    # d2 = 900*0.25*((X-1) + sqrt((X-1)^2 + 8*0.5*X/(c*T))) = 1.982 s (HCM Eq. 19-19, 19-20)
    d = hcm_delay_s(90.0, np.array([45.0]), np.array([0.5]), np.array([900.0]))
    d2 = 225 * (-0.5 + math.sqrt(0.25 + 8 * 0.5 * 0.5 / (900 * 0.25)))
    assert d[0] == pytest.approx(15.0 + d2)
    assert [los(x) for x in (5, 15, 30, 50, 70, 100)] == list("ABCDEF")
    assert los(5, vc=1.2) == "F"


def test_review_rows(tmp_path, net):
    flows = np.full(net.n_movements, 120.0)
    plan = webster_planset(net, flows)["C"]
    rows = hcm_review(net, plan, flows)
    assert len(rows) == plan.n_stages
    for r in rows:
        assert r["movements"] and 0 < r["v_c"] < 1.0 and r["delay_s"] > 0 and r["los"] in "ABCDEF"
    assert all(r["v_c"] is None for r in hcm_review(net, plan, None))


def test_time_of_day_schedule_and_cli(tmp_path, net, capsys):
    light = _routes(tmp_path, net, np.full(net.n_movements, 60.0), "light.rou.xml")
    busy = _routes(tmp_path, net, np.full(net.n_movements, 200.0), "busy.rou.xml")
    sched, flows = fixed_time_schedule(
        net, {"am_peak": (25200, 32400, busy), "off_peak": (36000, 54000, light)}
    )
    am, off = sched.periods["am_peak"][2]["C"], sched.periods["off_peak"][2]["C"]
    assert am.cycle_s > off.cycle_s
    assert flows["am_peak"].sum() > flows["off_peak"].sum()
    out = tmp_path / "ft"
    rc = main(
        [
            "plan",
            "fixed-time",
            "--net",
            str(net.path),
            "--demand",
            f"am_peak={busy}",
            "--demand",
            f"night@22:00-23:30={light}",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "am_peak" in text and "night" in text
    doc = json.loads((out / "plans.json").read_text())
    assert doc["version"] == 1 and [p["name"] for p in doc["periods"]] == ["am_peak", "night"]
    assert doc["periods"][1]["begin_s"] == 22 * 3600 and doc["periods"][1]["end_s"] == 23.5 * 3600
    back = read_schedule(out / "plans.add.xml", net)
    assert set(back.periods) == {"am_peak", "night"}
    assert main(["plan", "validate", str(out / "plans.add.xml"), "--net", str(net.path)]) == 0
    assert (out / "timing.csv").read_text().count("\n") == 1 + 2 * am.n_stages
    assert (
        main(
            ["plan", "fixed-time", "--net", str(net.path), "--demand", "noon=x", "--out", str(out)]
        )
        == 2
    )
    assert "period" in capsys.readouterr().err
