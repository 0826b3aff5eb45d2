"""The safety gate: every rule, the per-step checks, the CLI, and agreement with SUMO."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals import sumo_tools
from signals.cli import main
from signals.network import Network
from signals.plans import (
    Phase,
    PlanSet,
    Schedule,
    SignalPlan,
    write_schedule_json,
)
from signals.safety import (
    RULES,
    SafetyConfig,
    UnsafePlanError,
    assert_safe,
    conflicting_green,
    illegal_transitions,
    ite_yellow_s,
    min_yellow_s,
    state_codes,
    validate,
    validate_program,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_sumo(TEST_NETS / "single.net.xml")


@pytest.fixture(scope="module")
def safe(net) -> SignalPlan:
    from signals.control.fixed_time import change_intervals

    own = PlanSet.from_network(net)["C"]
    ys, rs = change_intervals(net, own)  # the net's program with ITE change intervals
    plan = own.retimed([p.green_s for p in own.phases], yellow_s=ys, allred_s=rs)
    assert validate(plan, net) == []
    return plan


def _with(plan: SignalPlan, k: int, **kw) -> SignalPlan:
    phases = list(plan.phases)
    phases[k] = replace(phases[k], **kw)
    cyc = sum(p.total_s for p in phases)
    return replace(plan, phases=tuple(phases), cycle_s=cyc)


def _set(state: str, **chars) -> str:
    s = list(state)
    for k, c in chars.items():
        s[int(k[1:])] = c
    return "".join(s)


def _rules(violations) -> set[str]:
    return {v.rule for v in violations}


def test_conflicting_major_greens(net, safe):
    # links 1 and 4 are foes (SUMO foe matrix); both 'G' is never allowed
    assert net.foes(0)[1, 4]
    bad = _with(safe, 0, state=_set(safe.phases[0].state, i1="G", i4="G"))
    v = [x for x in validate(bad, net) if x.rule == "conflicting_green"]
    assert v and v[0].links == (1, 4) and v[0].phase == 1
    text = str(v[0])
    assert (
        "signal C" in text
        and "phase 1" in text
        and "links 1,4" in text
        and "conflicting_green" in text
    )


def test_permitted_green_yields_as_sumo_does(net, safe):
    # link 1 must yield to link 4 (response matrix): 'g' on 1 with 'G' on 4 is what SUMO allows
    assert net.link_prohibits[0, 1, 4] and not net.link_prohibits[0, 4, 1]
    ok = _with(safe, 0, state=_set("r" * 14, i1="g", i4="G"))
    assert "conflicting_green" not in _rules(validate(ok, net))
    # ... but 'g' on 4 does not make it safe: 4 does not yield to 1, and 1 is 'G'
    bad = _with(safe, 0, state=_set("r" * 14, i1="G", i4="g"))
    assert "conflicting_green" in _rules(validate(bad, net))


def test_skipped_yellow_and_bad_transitions(net, safe):
    no_y = _with(safe, 0, yellow_s=0.0)
    v = [x for x in validate(no_y, net) if x.rule == "skip_yellow"]
    assert v and v[0].phase == 1 and set(v[0].links) >= {3, 4, 5}
    # an explicit yellow state that turns green again
    yg = _with(
        safe, 1, yellow_state=_set(safe.phases[1].change_states(safe.phases[2].state)[0], i6="y")
    )
    yg = _with(yg, 1, state=safe.phases[1].state)
    # stage 2 -> 3: link 6 yellow then red is fine; make stage 3 give 6 green right after yellow
    yg2 = _with(yg, 1, allred_s=0.0)
    yg2 = _with(yg2, 2, state=_set(yg2.phases[2].state, i6="G"))
    assert "bad_transition" in _rules(validate(yg2, net))


def test_durations_length_chars_offset_cycle(net, safe):
    assert "nonpositive_duration" in _rules(validate(_with(safe, 0, green_s=0.0), net))
    assert "nonpositive_duration" in _rules(validate(_with(safe, 1, yellow_s=-2.0), net))
    v = validate(_with(safe, 0, state=safe.phases[0].state + "r"), net)
    assert "state_length" in _rules(v) and "15 characters" in str(v[0])
    v = validate(_with(safe, 0, state=_set(safe.phases[0].state, i0="x")), net)
    assert [x.links for x in v if x.rule == "state_chars"] == [(0,)]
    assert "state_chars" in _rules(
        validate(_with(safe, 0, state=_set(safe.phases[0].state, i0="R")), net)
    )
    assert "offset_range" in _rules(validate(replace(safe, offset_s=safe.cycle_s), net))
    assert "offset_range" in _rules(validate(replace(safe, offset_s=-1.0), net))
    assert "cycle_sum" in _rules(validate(replace(safe, cycle_s=safe.cycle_s + 5), net))
    long = _with(safe, 0, green_s=170.0, max_green_s=200.0)
    assert _rules(validate(long, net)) == {"cycle_bounds", "max_green"}  # the site's 120 s
    assert "max_green" in _rules(validate(_with(safe, 0, green_s=130.0), net))
    assert "min_green" in _rules(validate(_with(safe, 1, green_s=3.0), net))
    assert "no_phases" in _rules(validate(SignalPlan("C", 0.0, 0.0, ()), net))
    assert "unknown_signal" in _rules(validate(replace(safe, signal_id="nope"), net))


def test_yellow_and_allred_clearance(net, safe):
    v = [x for x in validate(_with(safe, 0, yellow_s=3.0), net) if x.rule == "yellow_too_short"]
    need = float(ite_yellow_s(net.mov_speed_mps.max()))
    assert v and f"{need:.2f}" in v[0].message
    assert "allred_too_short" in _rules(validate(_with(safe, 2, allred_s=0.0), net))
    # a stricter configured clearance rejects the net's 2 s all-red
    strict = SafetyConfig(allred_min_s=3.0)
    assert "allred_too_short" in _rules(validate(safe, net, clearance=strict))
    # ITE: y = 1 + v / (2 * 3.05) for a level approach
    assert ite_yellow_s(13.89) == pytest.approx(1 + 13.89 / 6.1)
    my = min_yellow_s(net)
    assert my.shape == (net.n_links,) and (my[~net.link_is_ped] >= 1.0).all()


def test_movement_not_served(net, safe):
    # stage 3 shows stage 1's state: the movements of stage 3 never get green
    bad = _with(safe, 2, state=safe.phases[0].state)
    v = [x for x in validate(bad, net) if x.rule == "movement_not_served"]
    assert v and all(x.links for x in v)


def test_assert_safe_and_schedule_periods(net, safe):
    assert_safe(safe, net)
    bad = _with(safe, 0, yellow_s=0.0)
    with pytest.raises(UnsafePlanError) as exc:
        assert_safe(Schedule({"am": (0.0, 3600.0, PlanSet({"C": bad}))}), net)
    assert exc.value.violations[0].period == "am"
    assert "period am: signal C" in str(exc.value)
    assert set(RULES) >= {v.rule for v in exc.value.violations}


def test_every_net_program_is_conflict_free():
    """netconvert's own programs never put foes green together without a yield relation."""
    for name in ("single", "arterial3", "grid2x2", "odd"):
        n = Network.from_sumo(TEST_NETS / f"{name}.net.xml")
        rules = _rules(validate(PlanSet.from_network(n), n))
        assert "conflicting_green" not in rules and "skip_yellow" not in rules


# ------------------------------------------------------------------ per-step (online) checks
def test_per_step_checks_match_validator(net, safe):
    exp = safe.sumo_phases()
    codes = np.stack([state_codes(net, [s]) for s, _ in exp])  # (P, L)
    assert codes.shape == (len(exp), net.n_links)
    assert not conflicting_green(net, codes).any()
    nxt = np.roll(codes, -1, axis=0)
    assert not illegal_transitions(net, codes, nxt).any()
    bad = state_codes(net, [_set(exp[0][0], i1="G", i4="G")])
    assert conflicting_green(net, bad).tolist() == [True]
    assert conflicting_green(net, np.stack([codes[0], bad])).tolist() == [[False], [True]]
    # green -> red without yellow; yellow -> green
    g2r = illegal_transitions(net, codes[0], state_codes(net, ["r" * 14]))
    assert g2r.tolist() == [True]
    y2g = illegal_transitions(net, codes[1], codes[0])
    assert y2g.tolist() == [True]


def test_per_step_checks_are_per_signal():
    n = Network.from_sumo(TEST_NETS / "grid2x2.net.xml")
    ps = PlanSet.from_network(n)
    states = {sid: ps[sid].sumo_phases()[0][0] for sid in n.signal_ids}
    codes = state_codes(n, states)
    assert not conflicting_green(n, codes).any()
    j = n.signal_ids.index("J10")
    s = list(states["J10"])
    f = n.foes(j)
    a, b = map(int, np.argwhere(f)[0])
    s[a] = s[b] = "G"
    bad = state_codes(n, {**states, "J10": "".join(s)})
    assert conflicting_green(n, bad).tolist() == [i == j for i in range(n.n_signals)]


# ------------------------------------------------------------------------ pedestrians
@pytest.fixture(scope="module")
def crossing_net(tmp_path_factory) -> Network:
    out = tmp_path_factory.mktemp("ped") / "ped.net.xml"
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
    return Network.from_sumo(out)


def test_pedestrian_clearance(crossing_net):
    n = crossing_net
    assert n.link_is_ped.any()
    ps = PlanSet.from_network(n)
    # netconvert's 5 s crossing clearance + 3 s yellow is short of MUTCD's 3.5 ft/s walk
    v = [x for x in validate(ps, n) if x.rule == "ped_clearance"]
    assert v and all(
        n.link_is_ped[n.links_of(n.signal_index(x.signal_id))][list(x.links)].all() for x in v
    )
    assert "m crossing at 1.07 m/s" in v[0].message
    # lenient walking speed: no pedestrian violations
    fast = SafetyConfig(ped_speed_mps=10.0)
    assert "ped_clearance" not in _rules(validate(ps, n, clearance=fast))
    # pedestrians need no yellow: a crossing going straight from green to red is fine
    plan = next(iter(ps))
    s = n.signal_index(plan.signal_id)
    codes = state_codes(n, [ps[sid].sumo_phases()[0][0] for sid in n.signal_ids])
    ped = np.flatnonzero(
        n.link_is_ped & (n.link_signal == s) & np.isin(codes, [ord("G"), ord("g")])
    )
    assert len(ped)
    nxt = codes.copy()
    nxt[ped] = ord("r")
    assert not illegal_transitions(n, codes, nxt).any()


# -------------------------------------------------------------------------------- CLI
def test_cli_validate(tmp_path, net, safe, capsys):
    good = write_schedule_json(Schedule.single(PlanSet({"C": safe})), tmp_path / "good.json")
    assert main(["plan", "validate", str(good), "--net", str(net.path)]) == 0
    assert "safe" in capsys.readouterr().out
    cases = {
        "conflict": _with(safe, 0, state=_set(safe.phases[0].state, i1="G", i4="G")),
        "no_yellow": _with(safe, 0, yellow_s=0.0),
        "zero": _with(safe, 1, green_s=0.0),
        "length": _with(safe, 0, state=safe.phases[0].state[:-1]),
        "offset": replace(safe, offset_s=safe.cycle_s + 1),
    }
    expect = {
        "conflict": "conflicting_green",
        "no_yellow": "skip_yellow",
        "zero": "nonpositive_duration",
        "length": "state_length",
        "offset": "offset_range",
    }
    for name, plan in cases.items():
        p = write_schedule_json(Schedule.single(PlanSet({"C": plan})), tmp_path / f"{name}.json")
        assert main(["plan", "validate", str(p), "--net", str(net.path)]) == 2
        err = capsys.readouterr().err
        assert "unsafe plan" in err and expect[name] in err and "signal C" in err
    # a SUMO additional with a zero-duration phase is refused as SUMO refuses it
    add = tmp_path / "zero.add.xml"
    phases = "".join(f'<phase duration="{_d}" state="{_s}"/>' for _s, _d in safe.sumo_phases()[:-1])
    add.write_text(
        f'<additional><tlLogic id="C" programID="z" offset="0">{phases}<phase duration="0" state="{"r" * 14}"/></tlLogic></additional>'
    )
    assert main(["plan", "validate", str(add), "--net", str(net.path)]) == 2
    assert "nonpositive_duration" in capsys.readouterr().err
    assert main(["plan", "validate", str(tmp_path / "none.json"), "--net", str(net.path)]) == 2
    assert "no such file" in capsys.readouterr().err


# ------------------------------------------------------------- validator vs SUMO (hypothesis)
def _sumo_rejects(net_path: Path, tmp: Path, phases: list[tuple[str, float]]) -> tuple[bool, str]:
    add = tmp / "h.add.xml"
    body = "".join(f'<phase duration="{d!r}" state="{s}"/>' for s, d in phases)
    add.write_text(
        f'<additional><tlLogic id="C" type="static" programID="h" offset="0">{body}</tlLogic></additional>'
    )
    proc = subprocess.run(
        [
            sumo_tools.binary("sumo"),
            "-n",
            str(net_path),
            "-a",
            str(add),
            "--end",
            "2",
            "--no-step-log",
        ],
        capture_output=True,
        text=True,
        env=sumo_tools.sumo_env(),
        timeout=60,
    )
    return proc.returncode != 0, proc.stderr


_CHARS = st.sampled_from(list("rrrryGgsuoOR-x"))
_STATE = st.one_of(
    st.lists(_CHARS, min_size=14, max_size=14).map("".join),
    st.lists(_CHARS, min_size=13, max_size=15).map("".join),
)


@pytest.mark.sumo
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    phases=st.lists(
        st.tuples(_STATE, st.sampled_from([0.0, 0.5, 3.0, 30.0, -2.0])), min_size=1, max_size=4
    )
)
def test_validator_rejects_whatever_sumo_rejects(net, tmp_path, phases):
    rejected, err = _sumo_rejects(net.path, tmp_path, phases)
    v = validate_program("C", phases, net)
    if rejected:
        assert v, f"SUMO rejected ({err.strip()[:120]}) but the validator passed {phases}"
        assert _rules(v) & {"nonpositive_duration", "state_length", "state_chars"}
    # structural violations other than a negative duration are SUMO's errors too; SUMO is
    # laxer: it ignores surplus characters and checks characters only while checking
    # transitions (programs of two or more phases) -- the validator refuses both
    n_links = int(net.signal_n_links[0])
    if any(len(s) < n_links for s, _ in phases) or any(d == 0 for _, d in phases):
        assert rejected
    if "state_chars" in _rules(v) and len(phases) > 1:
        assert rejected
    # SUMO warns about a missing yellow exactly where the validator reports one (SUMO does not
    # check transitions out of the 'off' states o/O; the validator does)
    off = any(c in "oO" for s, _ in phases for c in s)
    if not rejected and not off and not _rules(v) & {"nonpositive_duration"}:
        assert ("Missing yellow phase" in err) == ("skip_yellow" in _rules(v)), (phases, err)


@settings(max_examples=40, deadline=None)
@given(
    # 3 greens of at most 45 s with 12 s of change each stay inside the 180 s cycle bound
    greens=st.lists(st.floats(5, 45), min_size=3, max_size=3),
    yellow=st.floats(4, 6),
    allred=st.floats(3.1, 6),
    offset=st.floats(0, 1),
)
def test_generated_timings_of_a_safe_structure_pass(greens, yellow, allred, offset):
    """Any timing of the net's safe stage structure with ITE clearances passes."""
    n = Network.from_sumo(TEST_NETS / "single.net.xml")
    base = PlanSet.from_network(n)["C"]
    plan = base.retimed(greens, yellow_s=[yellow] * 3, allred_s=[allred] * 3)
    plan = replace(plan, offset_s=offset * plan.cycle_s * 0.999)
    assert validate(plan, n) == []


def test_phase_dataclass_contract():
    ph = Phase("Gr", 30, 4, 2, 5, 60)
    assert ph.total_s == 36 and ph.end_state == "Gr"
    assert ph.change_states("rG") == ("yr", "rr")
    assert ph.change_states("GG") == ("Gr", "Gr")
