"""Online controllers, stages and the loop's stage programs and decision rules (no SUMO)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from signals.control.adaptive import (
    ActuatedSumo,
    CVMaxPressure,
    HoldController,
    MaxPressure,
    Observation,
    PlanFollower,
    Stages,
    make_controller,
)
from signals.errors import InputError
from signals.evaluate.sumo_loop import ClosedLoop, LoopConfig, MovementObserver, StageProgram
from signals.network import Network
from signals.plans import (
    GREEN_CHARS,
    PlanSet,
)
from signals.safety import (
    UnsafePlanError,
    conflicting_green,
    illegal_transitions,
    min_yellow_s,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"


@pytest.fixture(scope="module")
def single() -> Network:
    return Network.from_sumo(TEST_NETS / "single.net.xml")


@pytest.fixture(scope="module")
def arterial() -> Network:
    return Network.from_sumo(TEST_NETS / "arterial3.net.xml")


def _obs(net: Network, stages: Stages, **kw) -> Observation:
    M, S = net.n_movements, net.n_signals
    z = np.zeros(M)
    base = dict(
        time_s=100.0,
        queue_veh=z,
        approach_veh=z,
        down_queue_veh=z,
        cv_queue_veh=z,
        cv_approach_veh=z,
        cv_down_queue_veh=z,
        cv_observed=np.ones(M, bool),
        stage=np.zeros(S, dtype=np.int64),
        time_in_stage_s=np.full(S, 30.0),
        in_change=np.zeros(S, bool),
    )
    base.update(kw)
    return Observation(**base)


def test_stages_from_network_programs(single: Network) -> None:
    st = Stages.from_plans(single)
    plan = PlanSet.from_network(single).plans[single.signal_ids[0]]
    assert st.n_stages.tolist() == [plan.n_stages]
    assert list(st.stage_state) == [p.state for p in plan.phases]
    assert st.mov_green.shape == (len(st.stage_state), single.n_movements)
    # every movement is green in at least one stage, shares within [0, 1]
    g = st.mov_green.toarray()
    assert (g.max(axis=0) > 0).all() and g.max() <= 1.0
    assert st.pad.shape == (1, plan.n_stages) and (st.pad >= 0).all()


def test_max_pressure_picks_the_loaded_stage(arterial: Network) -> None:
    st = Stages.from_plans(arterial)
    ctl = MaxPressure()
    ctl.reset(arterial, st)
    g = st.mov_green.toarray()
    # load only the movements that some other stage b serves and stage 0 does not
    q = np.zeros(arterial.n_movements)
    want = []
    for s in range(arterial.n_signals):
        only = [(g[st.pad[s, b]] > 0) & (g[st.pad[s, 0]] == 0) for b in range(st.n_stages[s])]
        b = int(np.argmax([o.sum() for o in only]))
        assert b != 0
        q[only[b]] = 10.0
        want.append(b)
    got = ctl.act(_obs(arterial, st, queue_veh=q))
    assert got.tolist() == want
    # a full downstream cancels the pressure: the current stage (0) is kept on ties
    got = ctl.act(_obs(arterial, st, queue_veh=q, down_queue_veh=q))
    assert got.tolist() == [0] * arterial.n_signals


def test_max_pressure_uses_saturation_flow_weights(single: Network) -> None:
    """Varaiya: stage pressure = sum over served movements of w * c."""
    st = Stages.from_plans(single)
    ctl = MaxPressure()
    ctl.reset(single, st)
    rng = np.random.default_rng(3)
    q = rng.integers(0, 20, single.n_movements).astype(float)
    d = rng.integers(0, 20, single.n_movements).astype(float)
    p = ctl.pressures(_obs(single, st, queue_veh=q, down_queue_veh=d))
    w = (q - d) * single.mov_sat_flow_vps
    expect = st.mov_green.toarray() @ w
    assert np.allclose(p[0, : st.n_stages[0]], expect)


def test_cv_max_pressure_scaling_does_not_change_decisions(arterial: Network) -> None:
    st = Stages.from_plans(arterial)
    rng = np.random.default_rng(0)
    q = rng.integers(0, 5, arterial.n_movements).astype(float)
    d = rng.integers(0, 5, arterial.n_movements).astype(float)
    obs = _obs(arterial, st, cv_queue_veh=q, cv_down_queue_veh=d)
    outs = []
    for scale in (True, False):
        c = CVMaxPressure(penetration=0.2, scale=scale)
        c.reset(arterial, st)
        outs.append(c.act(obs))
    assert np.array_equal(outs[0], outs[1])
    # the CV controller ignores the all-vehicle arrays; with no connected vehicle in view it
    # follows the plan (next stage once the plan's green is over) or, with "hold", stays
    g0 = np.array([st.stage_phase[k].green_s for k in st.pad[:, 0]])
    blind = _obs(arterial, st, queue_veh=q * 100, time_in_stage_s=g0 + 1.0)
    c = CVMaxPressure(0.5)
    c.reset(arterial, st)
    assert c.act(blind).tolist() == [1] * arterial.n_signals
    assert c.act(_obs(arterial, st, time_in_stage_s=g0 - 1.0)).tolist() == [0] * arterial.n_signals
    h = CVMaxPressure(0.5, fallback="hold")
    h.reset(arterial, st)
    assert h.act(blind).tolist() == [0] * arterial.n_signals
    # ... but a signal that sees connected vehicles uses their pressure
    seen = _obs(arterial, st, cv_queue_veh=q, cv_approach_veh=q, time_in_stage_s=g0 + 1.0)
    mp = MaxPressure()
    mp.reset(arterial, st)
    has = np.bincount(arterial.mov_signal, weights=q, minlength=arterial.n_signals) > 0
    want = np.where(has, mp.act(_obs(arterial, st, queue_veh=q, time_in_stage_s=g0 + 1.0)), 1)
    assert c.act(seen).tolist() == want.tolist()
    with pytest.raises(ValueError):
        CVMaxPressure(penetration=0.0)


def test_plan_follower_and_hold(single: Network) -> None:
    st = Stages.from_plans(single)
    pf = PlanFollower()
    pf.reset(single, st)
    g0 = st.stage_phase[0].green_s
    early = _obs(single, st, time_in_stage_s=np.array([g0 - 1.0]))
    done = _obs(single, st, time_in_stage_s=np.array([g0]))
    assert pf.act(early).tolist() == [0] and pf.act(done).tolist() == [1]
    h = HoldController()
    h.reset(single, st)
    assert h.act(_obs(single, st, stage=np.array([2]))).tolist() == [2]
    assert isinstance(make_controller("max-pressure"), MaxPressure)
    with pytest.raises(InputError):
        make_controller("nope")


def test_actuated_program_is_actuated(arterial: Network) -> None:
    st = Stages.from_plans(arterial)
    root = ET.fromstring(ActuatedSumo().additional_xml(arterial, st))
    tls = root.findall("tlLogic")
    assert sorted(t.get("id") for t in tls) == sorted(arterial.signal_ids)
    for t in tls:
        assert t.get("type") == "actuated"
        greens = [p for p in t.findall("phase") if p.get("minDur") is not None]
        assert len(greens) == st.n_stages[arterial.signal_index(t.get("id"))]
        for p in greens:
            assert float(p.get("minDur")) <= float(p.get("duration")) <= float(p.get("maxDur"))


# ------------------------------------------------------------------ stage programs
@pytest.mark.parametrize("name", ["single", "arterial3", "grid2x2", "odd"])
def test_stage_programs_pass_the_gate(name: str) -> None:
    net = Network.from_sumo(TEST_NETS / f"{name}.net.xml")
    st = Stages.from_plans(net)
    prog = StageProgram.build(net, st)
    assert prog.check(net) == []
    y_min = min_yellow_s(net)
    green = np.frombuffer("".join(sorted(GREEN_CHARS)).encode(), np.uint8)
    for s in range(net.n_signals):
        n = int(st.n_stages[s])
        sl = net.links_of(s)
        veh = ~net.link_is_ped[sl]
        nl = int(net.signal_n_links[s])
        for a in range(n):
            for b in range(n):
                if a == b:
                    continue
                # walk the chain green_a -> ... -> green_b
                rows = [int(prog.green_row[st.local(s, a)])]
                r = int(prog.trans_row[s, a, b])
                dur = 0.0
                while not prog.row_green[r]:
                    rows.append(r)
                    dur += prog.row_dur_s[r]
                    r = int(prog.row_next[r])
                assert r == prog.green_row[st.local(s, b)]
                rows.append(r)
                assert dur == pytest.approx(prog.trans_s[s, a, b])
                codes = prog.row_codes[rows][:, :nl]
                # every link that loses green shows yellow for at least the ITE minimum
                lose = np.isin(codes[0], green) & ~np.isin(codes[-1], green) & veh
                for li in np.flatnonzero(lose):
                    y = sum(
                        prog.row_dur_s[rr]
                        for rr, c in zip(rows[1:-1], codes[1:-1, li], strict=True)
                        if c == ord("y")
                    )
                    assert y + 1e-9 >= y_min[sl][li]
                # the per-step gate agrees, state by state
                for c0, c1 in zip(codes[:-1], codes[1:], strict=True):
                    full0 = np.full(net.n_links, ord("r"), np.uint8)
                    full1 = full0.copy()
                    full0[sl], full1[sl] = c0, c1
                    assert not conflicting_green(net, full1).any()
                    assert not illegal_transitions(net, full0, full1).any()


def test_stage_program_refuses_conflicting_stage(single: Network) -> None:
    plan = PlanSet.from_network(single).plans[single.signal_ids[0]]
    all_green = "G" * len(plan.phases[0].state)
    bad = [list(plan.phases)]
    from dataclasses import replace

    bad[0][0] = replace(plan.phases[0], state=all_green)
    st = Stages.from_phases(single, bad)
    with pytest.raises(UnsafePlanError):
        StageProgram.build(single, st)


def test_loop_decision_rules(single: Network) -> None:
    """Min green holds, max green forces, unknown stages are ignored."""
    st = Stages.from_plans(single)
    K = len(st.stage_state)
    from dataclasses import replace

    st = replace(st, min_green_s=np.full(K, 10.0), max_green_s=np.full(K, 40.0))
    prog = StageProgram.build(single, st)
    loop = ClosedLoop(single, prog, HoldController(), LoopConfig(), None, begin_s=0.0)
    n = int(st.n_stages[0])
    # before min green: a request for stage 1 is held
    idx, tgt = loop.decide(5.0, np.array([1]))
    assert len(idx) == 0 and loop.stats.held == 1
    # after min green: granted
    idx, tgt = loop.decide(10.0, np.array([1]))
    assert idx.tolist() == [0] and tgt[0] == 1
    loop.apply(10.0, idx, tgt, ls=None if loop.config.mode == "state" else _NoSumo())
    assert loop.stage[0] == 1 and loop.green_start_s[0] == 10.0 + prog.trans_s[0, 0, 1]
    # during the change interval nothing is granted
    idx, _ = loop.decide(11.0, np.array([2 % n]))
    assert len(idx) == 0
    # unknown stages are ignored, then max green forces the next stage in plan order
    t = loop.green_start_s[0] + 40.0
    idx, tgt = loop.decide(t, np.array([99]))
    assert idx.tolist() == [0] and tgt[0] == 2 % n
    assert loop.stats.invalid == 1 and loop.stats.forced == 1


class _NoSumo:
    """Stands in for libsumo: records setPhase calls."""

    def __init__(self):
        self.calls = []
        outer = self

        class TL:
            @staticmethod
            def setPhase(sid, idx):
                outer.calls.append((sid, idx))

        self.trafficlight = TL()


def test_observer_matrices(arterial: Network) -> None:
    obs = MovementObserver(arterial, LoopConfig(rsu_at="rsu"), needs=frozenset({"queues", "cv"}))
    M, U = arterial.n_movements, len(obs.lane_ids)
    assert obs.up.shape == (M, U)
    # each incoming lane's vehicles are split over the movements using it: rows of up^T sum to 1
    col = np.asarray(obs.up.sum(axis=0)).ravel()
    incoming = col > 0
    assert np.allclose(col[incoming], 1.0)
    # turning ratios out of an edge sum to 1 (lane shares)
    down = obs.down.toarray()
    for m in range(M):
        if down[m].any():
            assert down[m].sum() == pytest.approx(1.0)
    # arterial3 has a V2X corridor: its RSU signals get CV zones, within the RSU range
    assert len(obs.cv_zones) > 0
    for _, _, a, b in obs.cv_zones:
        assert 0 <= a < b and b - a <= 300.0 + 1e-6
    assert obs.cv_observed.any()
    xml = ET.fromstring(obs.detector_xml())
    assert len(xml.findall("laneAreaDetector")) == len(obs.cv_zones)


def test_loop_config_checks() -> None:
    with pytest.raises(InputError):
        LoopConfig(delta_t_s=2.5).check()
    with pytest.raises(InputError):
        LoopConfig(mode="fast").check()
    with pytest.raises(InputError):
        LoopConfig(read="telepathy").check()
    LoopConfig().check()
