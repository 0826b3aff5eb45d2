"""Plan model: folding SUMO programs into stages, expansion, batch arrays, plan files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signals.errors import InputError
from signals.network import Network
from signals.plans import (
    OFFSET_REFERENCE,
    Phase,
    PlanSet,
    Schedule,
    SignalPlan,
    read_schedule,
    stack_arrays,
    write_schedule_json,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"

NETS = ("single", "arterial3", "grid2x2", "odd")


@pytest.fixture(scope="module", params=NETS)
def net(request) -> Network:
    return Network.from_sumo(TEST_NETS / f"{request.param}.net.xml")


@pytest.fixture(scope="module")
def single() -> Network:
    return Network.from_sumo(TEST_NETS / "single.net.xml")


def _state_at(phases: list[tuple[str, float]], offset_s: float, t: float) -> str:
    """State of a SUMO program at time t (a positive offset delays all phases, SUMO semantics)."""
    cycle = sum(d for _, d in phases)
    x = (t - offset_s) % cycle
    for state, d in phases:
        if x < d:
            return state
        x -= d
    return phases[-1][0]


def test_from_network_expands_back_to_the_net_programs(net):
    ps = PlanSet.from_network(net)
    assert set(ps.plans) == set(net.signal_ids)
    for s, sid in enumerate(net.signal_ids):
        sl = net.phases_of(s)
        orig = [
            (net.phase_state[p], float(net.phase_duration_s[p])) for p in range(sl.start, sl.stop)
        ]
        plan = ps[sid]
        assert plan.sumo_phases() == orig
        assert plan.cycle_s == pytest.approx(sum(d for _, d in orig))
        # every stage has a green and the stages sum to the cycle
        assert all(ph.green_s > 0 for ph in plan.phases)
        assert sum(ph.total_s for ph in plan.phases) == pytest.approx(plan.cycle_s)


def test_folding_netconvert_left_turn_program():
    phases = [
        ("GGGggrrrrr", 33),
        ("yyyggrrrrr", 3),
        ("rrrGGrrrrr", 6),
        ("rrryyrrrrr", 3),
        ("rrrrrGGGgg", 33),
        ("rrrrryyygg", 3),
        ("rrrrrrrrGG", 6),
        ("rrrrrrrryy", 3),
    ]
    plan = SignalPlan.from_sumo_phases("x", phases)
    assert plan.n_stages == 4
    assert [p.green_s for p in plan.phases] == [33, 6, 33, 6]
    assert [p.yellow_s for p in plan.phases] == [3, 3, 3, 3]
    assert [p.allred_s for p in plan.phases] == [0, 0, 0, 0]
    # the derived yellow keeps the continuing 'g' links green, as netconvert does
    assert all(p.yellow_state == "" for p in plan.phases)
    assert plan.sumo_phases() == [(s, float(d)) for s, d in phases]


def test_folding_rotates_to_stage_start_and_shifts_offset():
    phases = [("yyrr", 3), ("rrrr", 2), ("rrGG", 30), ("rryy", 3), ("rrrr", 2), ("GGrr", 20)]
    plan = SignalPlan.from_sumo_phases("x", phases, offset_s=7)
    assert plan.phases[0].state == "rrGG"
    assert plan.offset_s == pytest.approx((7 + 5) % 60)
    expanded = plan.sumo_phases()
    for t in range(0, 180):
        assert _state_at(expanded, plan.offset_s, t) == _state_at(phases, 7, t)


def test_folding_pedestrian_clearance_and_single_stage():
    phases = [("GGrG", 37), ("GGrr", 5), ("yyrr", 3), ("rrGr", 30), ("rryr", 3)]
    plan = SignalPlan.from_sumo_phases("x", phases)
    assert plan.phases[0].clear_state == "GGrr" and plan.phases[0].clear_s == 5
    assert plan.phases[0].green_s == 42
    assert plan.sumo_phases() == [(s, float(d)) for s, d in phases]
    one = SignalPlan.from_sumo_phases("d", [("G", 82), ("y", 3), ("r", 5)])
    assert one.n_stages == 1 and one.phases[0].allred_s == 5
    assert one.sumo_phases() == [("G", 82.0), ("y", 3.0), ("r", 5.0)]


def test_static_programs_get_default_min_max_and_actuated_keep_theirs():
    static = SignalPlan.from_sumo_phases(
        "x", [("Gr", 30, 30, 30), ("yr", 4), ("rG", 30), ("ry", 4)]
    )
    assert static.phases[0].min_green_s == 5.0
    assert static.phases[0].max_green_s == 120.0
    act = SignalPlan.from_sumo_phases(
        "x", [("Gr", 30, 10, 50), ("yr", 4), ("rG", 30, 8, 45), ("ry", 4)]
    )
    assert [(p.min_green_s, p.max_green_s) for p in act.phases] == [(10, 50), (8, 45)]


@settings(max_examples=60, deadline=None)
@given(
    greens=st.lists(st.integers(5, 60), min_size=2, max_size=5),
    yellows=st.lists(st.integers(3, 6), min_size=5, max_size=5),
    allreds=st.lists(st.integers(0, 3), min_size=5, max_size=5),
    rot=st.integers(0, 20),
    offset=st.integers(0, 200),
)
def test_fold_expand_keeps_sumo_timing(greens, yellows, allreds, rot, offset):
    """Property: any stage program, rotated to any phase and offset, folds into stages whose
    expansion shows the same state at every second."""
    K = len(greens)
    phases = []
    for k in range(K):
        g = "".join("G" if i == k else "r" for i in range(K))
        y = "".join("y" if i == k else "r" for i in range(K))
        phases.append((g, greens[k]))
        phases.append((y, yellows[k]))
        if allreds[k]:
            phases.append(("r" * K, allreds[k]))
    r = rot % len(phases)
    rotated = phases[r:] + phases[:r]
    plan = SignalPlan.from_sumo_phases("x", rotated, offset_s=offset)
    assert plan.n_stages == K
    assert 0 <= plan.offset_s < plan.cycle_s
    exp = plan.sumo_phases()
    for t in range(0, int(plan.cycle_s) * 2, 1):
        assert _state_at(exp, plan.offset_s, t) == _state_at(rotated, offset, t)


def test_to_arrays_shapes_and_values(single):
    ps = PlanSet.from_network(single)
    a = ps.to_arrays(single)
    S, M = single.n_signals, single.n_movements
    K = max(p.n_stages for p in ps)
    assert a.cycle_s.shape == (S,) and a.offset_s.shape == (S,) and a.n_stages.shape == (S,)
    assert a.stage_end_s.shape == (S, K) and a.green_end_s.shape == (S, K)
    assert a.mov_green.shape == (K, M) and a.mov_yellow.shape == (K, M)
    plan = ps["C"]
    ends = np.cumsum([p.total_s for p in plan.phases])
    np.testing.assert_allclose(a.stage_end_s[0, : plan.n_stages], ends)
    starts = np.concatenate([[0], ends[:-1]])
    np.testing.assert_allclose(
        a.green_end_s[0, : plan.n_stages], starts + [p.green_s for p in plan.phases]
    )
    assert a.stage_end_s[0, -1] == pytest.approx(plan.cycle_s)
    # every vehicle movement is green in some stage; yellow shares follow the derived yellow
    assert (a.mov_green.max(axis=0) > 0).all()
    assert ((a.mov_green >= 0) & (a.mov_green <= 1)).all()
    y0 = plan.phases[0].change_states(plan.phases[1].state)[0]
    lm = single.link_movement[single.links_of(0)]
    for m in range(M):
        links = np.flatnonzero(lm == m)
        share = np.mean([y0[i] == "y" for i in links])
        assert a.mov_yellow[0, m] == pytest.approx(share)


def test_to_arrays_fills_missing_signals_from_the_net_and_stacks():
    net = Network.from_sumo(TEST_NETS / "arterial3.net.xml")
    full = PlanSet.from_network(net)
    sub = PlanSet({"A1": full["A1"].retimed([20, 6, 25])})
    a_full = full.to_arrays(net)
    a_sub = sub.to_arrays(net)
    i = net.signal_ids.index("A1")
    assert a_sub.cycle_s[i] == pytest.approx(
        20 + 6 + 25 + sum(p.yellow_s + p.allred_s for p in full["A1"].phases)
    )
    other = [j for j in range(net.n_signals) if j != i]
    np.testing.assert_allclose(a_sub.cycle_s[other], a_full.cycle_s[other])
    b = stack_arrays([a_full, a_sub, a_full])
    assert b.cycle_s.shape == (3, net.n_signals)
    assert b.stage_end_s.shape == (3, net.n_signals, a_full.stage_end_s.shape[1])
    assert b.mov_green.shape == (3,) + a_full.mov_green.shape
    np.testing.assert_allclose(b.stage_end_s[1], a_sub.stage_end_s)


def test_stack_arrays_pads_stage_axis():
    net = Network.from_sumo(TEST_NETS / "grid2x2.net.xml")
    base = PlanSet.from_network(net)
    p = base["J00"]
    three = SignalPlan("J00", 0, 0, (*p.phases, p.phases[0]))
    three = three.retimed([ph.green_s for ph in three.phases])
    a2 = base.to_arrays(net)
    a3 = PlanSet({"J00": three}).to_arrays(net)
    b = stack_arrays([a2, a3])
    assert b.stage_end_s.shape[-1] == 3
    # padded stage ends carry the cycle, padded shares are zero
    np.testing.assert_allclose(b.stage_end_s[0, :, 2], a2.cycle_s)
    assert (b.mov_green[0, 2] == 0).all()


def test_json_round_trip_and_errors(tmp_path, single):
    ps = PlanSet.from_network(single)
    sched = Schedule({"am": (25200.0, 32400.0, ps), "pm": (57600.0, 64800.0, ps)})
    path = write_schedule_json(sched, tmp_path / "plans.json")
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["offset_reference"] == OFFSET_REFERENCE
    back = read_schedule(path, single)
    assert back == sched
    # a bare plan set reads as one all-day period
    (tmp_path / "ps.json").write_text(json.dumps({"version": 1, **ps.to_dict()}))
    assert read_schedule(tmp_path / "ps.json").periods["all"][2] == ps

    def bad(doc, field_part):
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(doc))
        with pytest.raises(InputError) as exc:
            read_schedule(p, single)
        assert field_part in exc.value.field

    good = json.loads(path.read_text())
    bad({**good, "version": 99}, "version")
    d = json.loads(path.read_text())
    d["periods"][0]["signals"][0]["phases"][0]["green_s"] = "long"
    bad(d, "green_s")
    d = json.loads(path.read_text())
    d["periods"][0]["signals"][0]["phases"][0]["grean_s"] = 3
    bad(d, "phases[0]")
    d = json.loads(path.read_text())
    d["periods"][0]["signals"][0]["signal_id"] = "nope"
    bad(d, "signal id")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InputError):
        read_schedule(tmp_path / "x.json")
    with pytest.raises(InputError):
        read_schedule(tmp_path / "missing.json")


def test_from_sumo_additional(tmp_path, single):
    add = tmp_path / "p.add.xml"
    add.write_text(
        """<additional>
    <tlLogic id="C" type="static" programID="x" offset="10">
        <phase duration="30" state="rrrGGGgrrrGGGg"/>
        <phase duration="4" state="rrryyygrrryyyg"/>
        <phase duration="8" state="rrrrrrGrrrrrrG"/>
        <phase duration="4" state="rrrrrryrrrrrry"/>
        <phase duration="2" state="rrrrrrrrrrrrrr"/>
        <phase duration="30" state="GGgrrrrGGgrrrr"/>
        <phase duration="4" state="yyyrrrryyyrrrr"/>
        <phase duration="2" state="rrrrrrrrrrrrrr"/>
    </tlLogic>
</additional>"""
    )
    ps = PlanSet.from_sumo_additional(add, single)
    plan = ps["C"]
    assert plan.offset_s == 10 and plan.cycle_s == 84
    assert [p.green_s for p in plan.phases] == [30, 8, 30]
    assert read_schedule(add, single).periods["all"][2] == ps
    add.write_text(add.read_text().replace('id="C"', 'id="Z"'))
    with pytest.raises(InputError) as exc:
        PlanSet.from_sumo_additional(add, single)
    assert "Z" in str(exc.value)
    (tmp_path / "e.xml").write_text("<additional/>")
    with pytest.raises(InputError):
        PlanSet.from_sumo_additional(tmp_path / "e.xml")


def test_retimed_keeps_structure_and_cycle():
    p = SignalPlan("x", 0, 0, (Phase("Gr", 30, 4, 2, 5, 90), Phase("rG", 20, 4, 2, 5, 90)))
    r = p.retimed([25, 35], offset_s=100)
    assert r.cycle_s == 25 + 35 + 12
    assert r.offset_s == 100 % 72
    assert [ph.state for ph in r.phases] == ["Gr", "rG"]
