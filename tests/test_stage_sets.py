"""Stages from the conflict matrix (signals.control.stage_sets) and the faithful program fold.

On networks the project did not build (tests/foreign_nets.py: a city program with overlaps and a
second yellow, split phasing with crossings, unused state characters, an OSM import) and on the
committed test nets.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import foreign_nets as F
from signals.control.fixed_time import movement_flows_vph, webster_planset
from signals.control.stage_sets import (
    conflict_stages,
    protected_additions,
    stage_templates,
)
from signals.evaluate.sumo_loop import LoopConfig, loop_stages
from signals.naming import edge_bearing_deg
from signals.network import Network
from signals.plans import PlanSet, Schedule, SignalPlan, read_schedule, write_schedule_json
from signals.safety import geometry, validate, validate_program
from signals.states import GREEN_CHARS

ROOT = Path(__file__).resolve().parents[1]
OWN_NETS = ["single", "odd", "grid2x2", "arterial3"]
BUILDERS = {"A": F.build_net_a, "B": F.build_net_b, "C": F.build_net_c, "D": F.build_net_d}


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> dict[str, F.ForeignNet]:
    root = tmp_path_factory.mktemp("stage_sets")
    return {k: b(root / k) for k, b in BUILDERS.items()}


@pytest.fixture(scope="module")
def nets(foreign) -> dict[str, Network]:
    out = {k: Network.from_sumo(fn.net) for k, fn in foreign.items()}
    for name in OWN_NETS:
        out[name] = Network.from_sumo(ROOT / "networks" / "test" / f"{name}.net.xml")
    return out


def _green(state: str) -> np.ndarray:
    return np.array([c in GREEN_CHARS for c in state])


ALL = ["A", "B", "C", "D", *OWN_NETS]


def _check_stages(net: Network, s: int, states: list[str]) -> None:
    """Every controlled link green in some stage; no two green links of a stage conflict,
    checked independently of the builder: SUMO foes with neither yielding never share a stage,
    and foes from approaches that neither face each other nor are the same never do either
    (a signal gives a permissive green to turns against the opposing approach only)."""
    geo = geometry(net)
    ls = net.links_of(s)
    n = ls.stop - ls.start
    used = geo.link_used[ls]
    assert 1 <= len(states) <= 8
    served = np.zeros(n, dtype=bool)
    for st in states:
        g = _green(st)
        served |= g
        assert not (g & ~used).any(), "a character that controls nothing went green"
    assert (served | ~used).all(), f"{net.signal_ids[s]}: links never green"
    foes = net.link_foes[s, :n, :n]
    resp = net.link_prohibits[s, :n, :n]
    edge = [x.rsplit("_", 1)[0] for x in net.link_from_lane[ls]]
    head = np.array([edge_bearing_deg(net, e) if e else np.nan for e in edge])
    to = net.link_to_lane[ls]
    veh = ~net.link_is_ped[ls] & used
    for st in states:
        g = _green(st)
        for i, j in itertools.combinations(np.flatnonzero(g), 2):
            if not foes[i, j]:
                continue
            merge = edge[i] == edge[j] and to[i] == to[j]
            assert merge or resp[i, j] or resp[j, i], f"hard foes {i},{j} green in {st}"
            if veh[i] and veh[j] and edge[i] != edge[j]:
                diff = abs((head[i] - head[j] + 180) % 360 - 180)
                assert diff > 135, f"crossing approaches {i},{j} green together in {st}"
                # the one that yields shows 'g', and it is a turn
                minor = i if resp[i, j] else j
                assert st[minor] == "g"
                assert net.link_dir[ls.start + minor] in "lLrRt"


@pytest.mark.parametrize("name", ALL)
def test_conflict_stages_serve_every_link_and_never_cross_green(nets, name):
    net = nets[name]
    for s in range(net.n_signals):
        _check_stages(net, s, conflict_stages(net, s))


@pytest.mark.parametrize("name", ALL)
def test_webster_on_conflict_stages_passes_both_severities(nets, foreign, name):
    net = nets[name]
    routes = foreign[name].routes if name in foreign else None
    if routes is not None:
        flows = movement_flows_vph(net, routes, F.BEGIN_S, F.END_S)
    else:
        flows = np.full(net.n_movements, 120.0)
    templates = stage_templates(net, "conflict")
    assert set(templates.source.values()) == {"conflict"}
    plans = webster_planset(net, flows, templates)
    assert validate(plans, net) == []
    # the plan as SUMO plays it (raw phases) has the same verdict as the stage form
    for p in plans:
        assert validate_program(p.signal_id, p.sumo_phases(), net, offset_s=p.offset_s) == []


def test_standard_four_arm_runs_opposing_approaches_together(nets):
    """single.net (netgenerate 4-arm): two base stages (N-S and E-W, lefts permitted), then
    protected-left candidates; opposing throughs share a stage, crossing throughs never."""
    net = nets["single"]
    s = 0
    ls = net.links_of(s)
    states = conflict_stages(net, s)
    head = np.array([edge_bearing_deg(net, x.rsplit("_", 1)[0]) for x in net.link_from_lane[ls]])
    thr = [i for i in range(ls.stop - ls.start) if net.link_dir[ls.start + i] == "s"]
    by_heading: dict[int, list[int]] = {}
    for i in thr:
        by_heading.setdefault(int(round(head[i])) % 360, []).append(i)
    assert len(by_heading) == 4
    axes = [by_heading[a] + by_heading[(a + 180) % 360] for a in sorted(by_heading) if a < 180]
    for axis in axes:  # each axis' throughs are all green together in some stage
        assert any(all(st[i] == "G" for i in axis) for st in states)
    for st in states:  # never both axes
        assert not (
            any(st[i] in GREEN_CHARS for i in axes[0])
            and any(st[i] in GREEN_CHARS for i in axes[1])
        )
    lefts = [i for i in range(ls.stop - ls.start) if net.link_dir[ls.start + i] == "l"]
    for i in lefts:  # every left has a protected ('G') stage among the candidates
        assert any(st[i] == "G" for st in states)


def test_auto_templates_keep_safe_own_programs_and_say_why_not(nets):
    a = stage_templates(nets["A"])
    assert a.source["C"] == "conflict" and a.reason["C"]
    own = stage_templates(nets["single"], "own")
    assert own.plans.plans == PlanSet.from_network(nets["single"]).plans
    auto = stage_templates(nets["grid2x2"])
    assert set(auto.source.values()) == {"own"} and set(auto.reason.values()) == {""}
    with pytest.raises(ValueError, match="source"):
        stage_templates(nets["single"], "bogus")


def test_fold_keeps_a_second_yellow_exactly(foreign, tmp_path):
    """Net A's program has a second yellow (3 s, then 1 s on one link): the fold keeps every
    phase as written (Phase.tail), through JSON too; a new green keeps it, a new yellow not."""
    phases = foreign["A"].programs["C"]
    plan = SignalPlan.from_sumo_phases("C", phases)
    shown = plan.sumo_phases()
    n = len(phases)
    assert len(shown) == n
    assert any(
        all(shown[(i + r) % n] == (st, d) for i, (st, d) in enumerate(phases)) for r in range(n)
    )
    assert any(ph.tail for ph in plan.phases)
    path = write_schedule_json(Schedule.single(PlanSet({"C": plan})), tmp_path / "p.json")
    back = read_schedule(path).periods
    assert next(iter(back.values()))[2].plans["C"] == plan
    k = next(k for k, ph in enumerate(plan.phases) if ph.tail)
    greens = [ph.green_s + (5 if i == k else 0) for i, ph in enumerate(plan.phases)]
    assert plan.retimed(greens).phases[k].tail == plan.phases[k].tail
    ys = [ph.yellow_s + (1 if i == k else 0) for i, ph in enumerate(plan.phases)]
    assert plan.retimed(greens, yellow_s=ys).phases[k].tail == ()


@pytest.mark.parametrize("name", ["A", "B", "D"])
def test_loop_programs_on_conflict_stages_pass_the_gate(nets, name):
    """Every change chain of the loop's programs (any stage to any stage) passes the gate on
    both severities, crossings cleared per change (Net B has crossings)."""
    net = nets[name]
    stages, program = loop_stages(net, None, LoopConfig(stages="conflict"))
    assert program is not None and program.check(net) == []
    if name == "B":
        assert net.link_is_ped.any()
        # some chain starts with the crossings' clearance (vehicles keep green, walk ends)
        assert any(
            s1 != s2 and all(a == b or b == "r" for a, b in zip(s1, s2, strict=True))
            for s1, s2 in zip(program.row_state, program.row_state[1:], strict=False)
        )


def test_loop_falls_back_per_signal_when_an_own_order_fails(nets, monkeypatch):
    """A template from the net's own program whose change chains fail the gate is replaced by
    the conflict-matrix stages for that signal only; a given plan that fails is refused."""
    import signals.evaluate.sumo_loop as SL
    from signals.safety import UnsafePlanError

    net = nets["odd"]
    tpl = stage_templates(net, "own")
    sid, other = net.signal_ids[0], net.signal_ids[1]
    p = tpl.plans.plans[sid]
    bad = replace(p.phases[0], state="G" * len(p.phases[0].state))  # every foe green at once
    broken = replace(
        tpl, plans=PlanSet({**tpl.plans.plans, sid: replace(p, phases=(bad, *p.phases[1:]))})
    )
    with pytest.raises(UnsafePlanError):
        loop_stages(net, broken.plans, LoopConfig())
    monkeypatch.setattr(SL, "stage_templates", lambda *a, **k: broken)
    stages, program = loop_stages(net, None, LoopConfig())
    assert program.check(net) == []
    s0 = net.signal_index(sid)
    got = stages.stage_state[stages.signal_stage_start[s0] : stages.signal_stage_start[s0 + 1]]
    assert list(got) == conflict_stages(net, s0)
    s1 = net.signal_index(other)
    kept = stages.stage_state[stages.signal_stage_start[s1] : stages.signal_stage_start[s1 + 1]]
    assert list(kept) == [ph.state for ph in tpl.plans.plans[other].phases]


@pytest.mark.parametrize("name", ["A", "single", "odd"])
def test_greedy_cover_when_cliques_are_too_many(nets, name, monkeypatch):
    """Past the clique-enumeration bound the cover is grown greedily: still every link served,
    no hard conflict in a stage, and Webster on it passes the gate."""
    import signals.control.stage_sets as SS

    net = nets[name]
    calls = []
    monkeypatch.setattr(SS, "MAX_CLIQUES", 0)
    greedy = SS._greedy_cover
    monkeypatch.setattr(SS, "_greedy_cover", lambda *a: calls.append(1) or greedy(*a))
    for s in range(net.n_signals):
        _check_stages(net, s, conflict_stages(net, s))
    assert len(calls) == net.n_signals
    plans = webster_planset(net, np.full(net.n_movements, 150.0), stage_templates(net, "conflict"))
    assert validate(plans, net) == []


@pytest.mark.parametrize("name", ALL)
def test_own_plus_protected_adds_a_stage_for_every_left_the_program_only_permits(nets, name):
    net = nets[name]
    own = stage_templates(net, "own")
    both = stage_templates(net, "own+protected")
    n_added = 0
    for s, sid in enumerate(net.signal_ids):
        states = [ph.state for ph in own.plans.plans[sid].phases]
        added = [ph.state for ph in both.plans.plans[sid].phases][len(states) :]
        assert [ph.state for ph in both.plans.plans[sid].phases][: len(states)] == states
        assert added == protected_additions(net, s, states)
        n_added += len(added)
        if added:
            _check_stages(net, s, states + added)  # no conflicting green in the added ones
            assert not protected_additions(net, s, states + added)  # nothing left unprotected
    # the loop builds gate-checked change chains between every pair of them (a signal whose
    # own order fails the gate takes its conflict-matrix stages, as with "own")
    got, _ = loop_stages(net, None, LoopConfig(stages="own+protected"))
    plain, _ = loop_stages(net, None, LoopConfig(stages="own"))
    for s, sid in enumerate(net.signal_ids):
        mine = got.stage_state[got.signal_stage_start[s] : got.signal_stage_start[s + 1]]
        kept = plain.stage_state[plain.signal_stage_start[s] : plain.signal_stage_start[s + 1]]
        planned = tuple(ph.state for ph in both.plans.plans[sid].phases)
        assert mine == planned or (mine == kept and kept != planned[: len(kept)])
    if name in ("single", "arterial3"):  # permitted lefts with no protected stage of their own
        assert n_added > 0
