"""The safety gate (signals.safety): each hole of issue 8 as a regression test, every path out
guarded, and the gate checked against the independent per-second conflict monitor."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals import sumo_tools
from signals.cli import main
from signals.control.adaptive import Stages
from signals.control.fixed_time import change_intervals, webster_planset
from signals.evaluate.sumo_loop import StageProgram
from signals.network import Network
from signals.plans import PlanSet, Schedule, SignalPlan, write_schedule_json
from signals.safety import (
    RULES,
    SafetyConfig,
    UnsafePlanError,
    assert_safe,
    illegal_transitions,
    state_codes,
    validate,
    validate_file,
    validate_program,
)
from signals.safety.geometry import geometry
from signals.safety.monitor import monitor

REPO = Path(__file__).resolve().parents[1]
TEST_NETS = REPO / "networks" / "test"


def _unsafe(violations) -> set[str]:
    return {v.rule for v in violations if v.severity == "unsafe"}


def _rules(violations) -> set[str]:
    return {v.rule for v in violations}


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_sumo(TEST_NETS / "single.net.xml")


@pytest.fixture(scope="module")
def ped_net(tmp_path_factory) -> Network:
    """The single junction rebuilt from its plain XML with sidewalks and crossings."""
    out = tmp_path_factory.mktemp("ped") / "ped.net.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("netconvert"),
            "--node-files",
            str(TEST_NETS / "single.nod.xml"),
            "--edge-files",
            str(TEST_NETS / "single.edg.xml"),
            "--sidewalks.guess",
            "--crossings.guess",
            "-o",
            str(out),
        ]
    )
    return Network.from_sumo(out)


def _own(net: Network, s: int = 0) -> list[tuple[str, float]]:
    sl = net.phases_of(s)
    return [(net.phase_state[p], float(net.phase_duration_s[p])) for p in range(sl.start, sl.stop)]


def _foe_pair(net: Network, s: int = 0) -> tuple[int, int]:
    """Two vehicle links of signal s that are foes (with 'G' neither may yield)."""
    n = int(net.signal_n_links[s])
    ped = net.link_is_ped[net.links_of(s)]
    f = net.link_foes[s, :n, :n]
    for i in range(n):
        for j in range(n):
            if f[i, j] and not ped[i] and not ped[j]:
                return i, j
    raise AssertionError("no such pair")


def _two_link(n_links: int, i: int, j: int, ci: str, cj: str) -> str:
    s = ["r"] * n_links
    s[i], s[j] = ci, cj
    return "".join(s)


# ============================================================== the holes of issue 8
def test_hole3_green_while_a_foe_is_still_in_its_yellow(net):
    """A foe gaining right of way during a link's yellow is unsafe, even when a later foe start
    would have satisfied a look-ahead that started after the yellow."""
    n = int(net.signal_n_links[0])
    i, j = _foe_pair(net)
    prog = [
        (_two_link(n, i, j, "G", "r"), 20),
        (_two_link(n, i, j, "y", "G"), 4),  # j turns green during i's yellow
        (_two_link(n, i, j, "r", "G"), 20),
        (_two_link(n, i, j, "r", "y"), 4),
        (_two_link(n, i, j, "r", "r"), 3),
    ]
    v = validate_program("C", prog, net)
    assert "green_during_clearance" in _unsafe(v)
    assert monitor(net, "C", prog)  # the independent monitor sees it too


def test_hole4_protected_to_permitted_needs_yellow(net):
    """G -> g at the instant a foe turns G, with no yellow, is unsafe (skip_yellow)."""
    n = int(net.signal_n_links[0])
    # find a link that may run permitted against a foe: i yields to j
    f, y = net.link_foes[0, :n, :n], net.link_prohibits[0, :n, :n]
    i, j = next((a, b) for a in range(n) for b in range(n) if f[a, b] and y[a, b])
    prog = [
        (_two_link(n, i, j, "G", "r"), 20),
        (_two_link(n, i, j, "g", "G"), 20),  # i protected -> permitted while j gets G
        (_two_link(n, i, j, "y", "y"), 4),
        (_two_link(n, i, j, "r", "r"), 3),
    ]
    v = validate_program("C", prog, net)
    assert "skip_yellow" in _unsafe(v)
    assert any(x.rule == "skip_yellow" and i in x.links for x in v)
    assert monitor(net, "C", prog)


def test_hole4_loop_builds_a_change_interval_for_g_to_g(net):
    """The closed loop's program shows yellow (then red) on a link that drops from G to g,
    although no link loses green entirely."""
    own = PlanSet.from_network(net)
    stages = Stages.from_plans(net, own)
    prog = StageProgram.build(net, stages)
    states = [ph.state for ph in own["C"].phases]
    # a stage pair where some link goes G -> g
    pairs = [
        (a, b)
        for a in range(len(states))
        for b in range(len(states))
        if a != b and any(c == "G" and d == "g" for c, d in zip(states[a], states[b], strict=True))
    ]
    assert pairs, states
    for a, b in pairs:
        assert prog.trans_s[0, a, b] > 0
        r = int(prog.trans_row[0, a, b])
        link = next(
            k for k, (c, d) in enumerate(zip(states[a], states[b], strict=True)) if c + d == "Gg"
        )
        assert prog.row_state[r][link] == "y"


def test_hole5_green_ending_through_s_without_yellow(net):
    n = int(net.signal_n_links[0])
    i, j = _foe_pair(net)
    prog = [
        (_two_link(n, i, j, "G", "r"), 20),
        (_two_link(n, i, j, "s", "r"), 2),  # G -> s: right of way taken away, no yellow
        (_two_link(n, i, j, "r", "r"), 3),
        (_two_link(n, i, j, "r", "G"), 20),
        (_two_link(n, i, j, "r", "y"), 4),
        (_two_link(n, i, j, "r", "r"), 3),
    ]
    assert "skip_yellow" in _unsafe(validate_program("C", prog, net))
    assert monitor(net, "C", prog)


def test_hole6_pedestrian_clearance_fails_closed(ped_net, monkeypatch):
    """Crossing lengths that cannot be read are a violation, not a 0 s requirement."""
    sid = ped_net.signal_ids[0]
    prog = _own(ped_net)
    assert any(v.rule == "ped_clearance" for v in validate_program(sid, prog, ped_net))
    geo = geometry(ped_net)
    unknown = np.where(ped_net.link_is_ped, np.nan, geo.crossing_m)
    monkeypatch.setattr(geo, "crossing_m", unknown)
    v = [x for x in validate_program(sid, prog, ped_net) if x.rule == "ped_clearance"]
    assert v and any("cannot check" in x.message for x in v)


def test_hole7_max_green_and_allred_come_from_the_site(net):
    own = PlanSet.from_network(net)["C"]
    ys, rs = change_intervals(net, own)
    safe = own.retimed([p.green_s for p in own.phases], yellow_s=ys, allred_s=rs)
    assert validate(safe, net) == []
    # a plan that raises its own max green cannot escape the site's
    long = safe.retimed([130.0, *[p.green_s for p in safe.phases[1:]]])
    long = replace(long, phases=(replace(long.phases[0], max_green_s=500.0), *long.phases[1:]))
    assert "max_green" in _rules(validate(long, net, clearance=SafetyConfig(cycle_max_s=300)))
    # the all-red floor is ITE (W + L)/v, not a fixed 1 s: 1 s passes the floor but not ITE
    short = safe.retimed([p.green_s for p in safe.phases], allred_s=[1.0] * safe.n_stages)
    msgs = [v.message for v in validate(short, net) if v.rule == "allred_too_short"]
    assert msgs and any("W " in m for m in msgs)
    # generated plans: greens capped at the site's max green, and both severities met
    flows = np.full(net.n_movements, 2000.0)
    ps = webster_planset(net, flows, safety=SafetyConfig(max_green_s=40.0))
    assert max(ph.green_s for ph in ps["C"].phases) <= 40.0
    assert validate(ps, net, clearance=SafetyConfig(max_green_s=40.0)) == []


def _xml(path: Path, sid: str, offset: float, phases) -> Path:
    rows = "".join(f'<phase duration="{d:g}" state="{s}"/>' for s, d in phases)
    path.write_text(
        f'<additional><tlLogic id="{sid}" programID="p" offset="{offset:g}">{rows}'
        "</tlLogic></additional>\n"
    )
    return path


def test_hole8_offset_and_validate_export_agree(net, tmp_path, capsys):
    own = _own(net)
    cycle = sum(d for _, d in own)
    f = _xml(tmp_path / "off.xml", "C", cycle + 10, own)
    assert "offset_range" in _rules(validate_file(f, net))
    # the same file: validate and export report the same findings
    bad = [(s, 1.0 if "y" in s else d) for s, d in own]  # 1 s yellows: unsafe
    g = _xml(tmp_path / "bad.xml", "C", 0, bad)
    capsys.readouterr()
    assert main(["plan", "validate", str(g), "--net", str(net.path), "--existing"]) == 2
    v_lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("  ")]
    out = tmp_path / "x.csv"
    args = ["plan", "export", str(g), "--net", str(net.path), "--format", "csv", "--out", str(out)]
    assert main([*args, "--existing"]) == 2
    e_lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("  ")]
    unsafe_v = [x for x in v_lines if "(unsafe)" in x]
    assert unsafe_v and unsafe_v == e_lines
    assert not out.exists()


def test_existing_programs_report_guideline_but_generated_must_meet_it(net, tmp_path, capsys):
    f = _xml(tmp_path / "own.xml", "C", 0, _own(net))
    # the net's own program: below guideline only (0 s red clearance before a protected left)
    v = validate_file(f, net)
    assert v and not _unsafe(v)
    assert main(["plan", "validate", str(f), "--net", str(net.path)]) == 2
    assert main(["plan", "validate", str(f), "--net", str(net.path), "--existing"]) == 0
    assert "below guideline" in capsys.readouterr().out
    out = tmp_path / "sheet.csv"
    args = ["plan", "export", str(f), "--net", str(net.path), "--format", "csv", "--out", str(out)]
    assert main(args) == 2 and not out.exists()
    assert main([*args, "--existing"]) == 0 and out.exists()


def test_rule_table_has_severity_and_source():
    assert {r.severity for r in RULES.values()} == {"unsafe", "guideline"}
    assert all(r.source for r in RULES.values())
    for name in ("conflicting_green", "skip_yellow", "green_during_clearance", "yellow_unsafe"):
        assert RULES[name].severity == "unsafe"
    for name in ("yellow_too_short", "allred_too_short", "ped_clearance", "min_green"):
        assert RULES[name].severity == "guideline"


# ======================================================================= every path out
def _all_green(net: Network, tmp: Path) -> Path:
    rows = []
    for s, sid in enumerate(net.signal_ids):
        n = int(net.signal_n_links[s])
        rows.append(
            f'<tlLogic id="{sid}" programID="bad" offset="0">'
            f'<phase duration="40" state="{"G" * n}"/><phase duration="4" state="{"y" * n}"/>'
            f'<phase duration="2" state="{"r" * n}"/></tlLogic>'
        )
    p = tmp / "allgreen.add.xml"
    p.write_text("<additional>" + "".join(rows) + "</additional>\n")
    return p


def _no_yellow(net: Network, tmp: Path) -> Path:
    rows = []
    for s, sid in enumerate(net.signal_ids):
        st = _own(net, s)
        st = [(x, d) for x, d in st if "y" not in x]  # green -> red with no yellow
        rows.append(
            f'<tlLogic id="{sid}" programID="bad" offset="0">'
            + "".join(f'<phase duration="{d:g}" state="{x}"/>' for x, d in st)
            + "</tlLogic>"
        )
    p = tmp / "noyellow.add.xml"
    p.write_text("<additional>" + "".join(rows) + "</additional>\n")
    return p


@pytest.mark.parametrize("make", [_all_green, _no_yellow])
def test_hole1_evaluate_program_is_gated(make, net, tmp_path, capsys):
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes><vehicle id="v0" depart="0"><route edges="N-C C-S"/></vehicle></routes>\n'
    )
    prog = make(net, tmp_path)
    out = tmp_path / "out"
    rc = main(
        ["evaluate", "--net", str(net.path), "--routes", str(routes), "--program", str(prog)]
        + ["--end", "60", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "unsafe plan refused" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_hole2_spat_from_an_unsafe_plan_is_refused(net, tmp_path, capsys):
    n = int(net.signal_n_links[0])
    bad = SignalPlan(
        "C",
        46.0,
        0.0,
        (
            replace(
                PlanSet.from_network(net)["C"].phases[0],
                state="G" * n,
                green_s=40.0,
                yellow_s=4.0,
                allred_s=2.0,
                yellow_state="",
                allred_state="",
            ),
        ),
    )
    f = write_schedule_json(Schedule.single(PlanSet({"C": bad})), tmp_path / "bad.json")
    out = tmp_path / "spat.jsonl"
    rc = main(["v2x", "spat", str(net.path), "--plans", str(f), "--out", str(out), "--end", "60"])
    err = capsys.readouterr().err
    assert rc == 2 and "conflicting_green" in err
    assert not out.exists()


def test_online_checks_share_the_gate_definitions(net):
    n = int(net.signal_n_links[0])
    i, j = _foe_pair(net)
    f, y = net.link_foes[0, :n, :n], net.link_prohibits[0, :n, :n]
    a, b = next((p, q) for p in range(n) for q in range(n) if f[p, q] and y[p, q])
    cases = {
        ("G", "g"): True,  # right of way taken away without yellow
        ("G", "s"): True,
        ("g", "r"): True,
        ("s", "r"): False,  # 's' has stopped first
        ("G", "y"): False,
        ("y", "G"): True,
    }
    for (c, d), bad in cases.items():
        prev = state_codes(net, [_two_link(n, a, b, c, "r")])
        nxt = state_codes(net, [_two_link(n, a, b, d, "r")])
        assert bool(illegal_transitions(net, prev, nxt)[0]) == bad, (c, d)
    # green while a foe shows yellow, in one step
    prev = state_codes(net, [_two_link(n, i, j, "G", "r")])
    nxt = state_codes(net, [_two_link(n, i, j, "y", "G")])
    assert illegal_transitions(net, prev, nxt)[0]


# ======================================================== gate vs independent monitor
NETS = ("single.net.xml", "odd.net.xml", "arterial3.net.xml", "grid2x2.net.xml")
_LOADED: dict[str, Network] = {}


def _load(name: str) -> Network:
    if name not in _LOADED:
        _LOADED[name] = Network.from_sumo(TEST_NETS / name)
    return _LOADED[name]


@st.composite
def programs(draw, nets):
    """A net's own program (whole seconds), then random edits: durations, characters, phases
    dropped or repeated -- near misses of a real program, safe and unsafe."""
    net = draw(st.sampled_from(nets))
    s = draw(st.integers(0, net.n_signals - 1))
    phases = [list(p) for p in _own(net, s)]
    for _ in range(draw(st.integers(0, 5))):
        k = draw(st.integers(0, len(phases) - 1))
        op = draw(st.sampled_from(["dur", "char", "char", "drop", "dup"]))
        if op == "dur":
            phases[k][1] = float(draw(st.integers(1, 12)))
        elif op == "char":
            st_ = list(phases[k][0])
            st_[draw(st.integers(0, len(st_) - 1))] = draw(st.sampled_from("rryygGs"))
            phases[k][0] = "".join(st_)
        elif op == "drop" and len(phases) > 2:
            phases.pop(k)
        elif op == "dup":
            phases.insert(k, list(phases[k]))
    return net, net.signal_ids[s], [tuple(p) for p in phases]


def _gate_vs_monitor(case) -> None:
    net, sid, prog = case
    unsafe = _unsafe(validate_program(sid, prog, net))
    if not unsafe:
        faults = monitor(net, sid, prog)
        assert faults == [], (sid, prog, faults[:3])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs([_load(n) for n in NETS]))
def test_whatever_the_gate_passes_the_monitor_passes(case):
    _gate_vs_monitor(case)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=programs([_load(n) for n in NETS]))
def test_whatever_the_gate_passes_the_monitor_passes_long(case):
    _gate_vs_monitor(case)


def test_gate_vs_monitor_on_crossings(ped_net):
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=programs([ped_net]))
    def run(case):
        _gate_vs_monitor(case)

    run()


def test_monitor_is_not_vacuous(net):
    """Every unsafe edit class is seen by the monitor on its own (so the property test above
    compares two checks that both can fail)."""
    n = int(net.signal_n_links[0])
    i, j = _foe_pair(net)
    both = [(_two_link(n, i, j, "G", "G"), 10), (_two_link(n, i, j, "y", "y"), 4), ("r" * n, 2)]
    assert {f.kind for f in monitor(net, "C", both)} >= {"conflict"}
    short = [(_two_link(n, i, j, "G", "r"), 10), (_two_link(n, i, j, "y", "r"), 1), ("r" * n, 2)]
    assert {f.kind for f in monitor(net, "C", short)} >= {"short yellow"}
    assert "yellow_unsafe" in _unsafe(validate_program("C", short, net))


def test_sumo_loads_what_the_gate_passes(net, tmp_path):
    """A generated program (Webster, both severities met) is one SUMO runs without a warning
    about yellow phases."""
    ps = webster_planset(net, np.full(net.n_movements, 300.0))
    assert_safe(ps, net)
    from signals.export import export

    add = export(ps, net, tmp_path / "w.add.xml", "sumo")
    r = subprocess.run(
        [sumo_tools.binary("sumo"), "-n", str(net.path), "-a", str(add), "--end", "10"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "yellow" not in r.stderr.lower(), r.stderr
    # and a plan the gate refuses raises before anything is written
    n = int(net.signal_n_links[0])
    bad = replace(ps["C"], phases=(replace(ps["C"].phases[0], state="G" * n), *ps["C"].phases[1:]))
    with pytest.raises(UnsafePlanError):
        export(PlanSet({"C": bad}), net, tmp_path / "bad.add.xml", "sumo")
    assert not (tmp_path / "bad.add.xml").exists()
    assert json.dumps([v.rule for v in validate(bad, net)])


@pytest.fixture(scope="module")
def merge_net(tmp_path_factory) -> Network:
    """Hand-written plain XML: a two-lane approach whose lanes merge into one lane beyond the
    stop line (as in RESCO's ingolstadt21), crossed by a one-lane road."""
    d = tmp_path_factory.mktemp("merge")
    (d / "m.nod.xml").write_text(
        '<nodes><node id="W" x="-200" y="0"/><node id="C" x="0" y="0" type="traffic_light"/>'
        '<node id="E" x="200" y="0"/><node id="N" x="0" y="200"/><node id="S" x="0" y="-200"/>'
        "</nodes>\n"
    )
    (d / "m.edg.xml").write_text(
        '<edges><edge id="WC" from="W" to="C" numLanes="2" speed="13.89"/>'
        '<edge id="CE" from="C" to="E" numLanes="1" speed="13.89"/>'
        '<edge id="NC" from="N" to="C" numLanes="1" speed="13.89"/>'
        '<edge id="CS" from="C" to="S" numLanes="1" speed="13.89"/></edges>\n'
    )
    (d / "m.con.xml").write_text(
        '<connections><connection from="WC" to="CE" fromLane="0" toLane="0"/>'
        '<connection from="WC" to="CE" fromLane="1" toLane="0"/>'
        '<connection from="NC" to="CS" fromLane="0" toLane="0"/></connections>\n'
    )
    out = d / "m.net.xml"
    sumo_tools.run(
        [sumo_tools.binary("netconvert"), "-n", str(d / "m.nod.xml"), "-e", str(d / "m.edg.xml")]
        + ["-x", str(d / "m.con.xml"), "--no-turnarounds", "-o", str(out)]
    )
    return Network.from_sumo(out)


def test_lanes_of_one_approach_merging_are_not_a_conflict(merge_net):
    n = merge_net
    assert n.link_from_lane == ("NC_0", "WC_0", "WC_1") and n.link_foes[0, 1, 2]
    prog = [("rGG", 40), ("ryy", 4), ("rrr", 2), ("Grr", 40), ("yrr", 4), ("rrr", 2)]
    assert not _unsafe(validate_program("C", prog, n))  # both merging lanes 'G': one group
    assert monitor(n, "C", prog) == []
    crossing = [("GGG", 40), ("yyy", 4), ("rrr", 2)]  # the crossing road too: a real conflict
    assert "conflicting_green" in _unsafe(validate_program("C", crossing, n))
    assert monitor(n, "C", crossing)


def test_yellow_back_to_green_is_a_display_sequence_finding(net):
    """A link shown yellow then green again (as in RESCO's cologne8 programs) breaks MUTCD's
    sequence but gives no foe right of way: reported below guideline, not refused."""
    own = _own(net)
    prog = [own[0], (own[1][0], 4.0), own[0], *own[1:]]  # green, yellow, green again, ...
    v = validate_program("C", prog, net)
    assert "bad_transition" in _rules(v) and "bad_transition" not in _unsafe(v)


def _waut_file(path: Path, offset_b: float) -> Path:
    a = "".join(
        f'<phase duration="{d}" state="{s}"/>'
        for s, d in [
            ("rrrGGGgrrrGGGg", 30), ("rrryyyyrrryyyy", 4), ("rrrrrrrrrrrrrr", 3),
            ("GGgrrrrGGgrrrr", 30), ("yyyrrrryyyrrrr", 4), ("rrrrrrrrrrrrrr", 3),
        ]
    )  # fmt: skip
    b = "".join(
        f'<phase duration="{d}" state="{s}"/>'
        for s, d in [
            ("GGgrrrrGGgrrrr", 20), ("yyyrrrryyyrrrr", 4), ("rrrrrrrrrrrrrr", 3),
            ("rrrGGGgrrrGGGg", 20), ("rrryyyyrrryyyy", 4), ("rrrrrrrrrrrrrr", 3),
        ]
    )  # fmt: skip
    path.write_text(
        f'<additional><tlLogic id="C" programID="A" offset="0">{a}</tlLogic>'
        f'<tlLogic id="C" programID="B" offset="{offset_b:g}">{b}</tlLogic>'
        '<WAUT id="w" refTime="0" startProg="A"><wautSwitch time="100" to="B"/></WAUT>'
        '<wautJunction wautID="w" junctionID="C"/></additional>\n'
    )
    return path


def test_waut_switches_are_checked_as_sumo_makes_them(net, tmp_path, capsys):
    """SUMO's default WAUT switch jumps to the new program at its own cycle position: at t=100
    program A shows 'rrrGGGg...' (28 s into its cycle); B with offset 30 is 70 - 54 = 16 s into
    its first stage 'GGg...' -- a green cut without yellow. With offset 10, B is 38 s into its
    cycle, in 'rrrGGGg...' too: seamless."""
    bad = _waut_file(tmp_path / "bad.add.xml", 30)
    v = [x for x in validate_file(bad, net) if "WAUT switch" in x.message]
    assert "skip_yellow" in _unsafe(v) and all(x.period == "A->B" for x in v)
    good = _waut_file(tmp_path / "good.add.xml", 10)
    assert not _unsafe([x for x in validate_file(good, net) if "WAUT switch" in x.message])
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes><vehicle id="v" depart="0"><route edges="N-C C-S"/></vehicle></routes>\n'
    )
    args = ["evaluate", "--net", str(net.path), "--routes", str(routes), "--end", "60"]
    assert main([*args, "--program", str(bad)]) == 2
    assert "WAUT switch A -> B" in capsys.readouterr().err


def test_exported_time_of_day_switches_are_seamless(net, tmp_path):
    """Webster plans of two periods exported for SUMO: every switch passes the gate."""
    from signals.export import export

    busy = webster_planset(net, np.full(net.n_movements, 500.0))
    light = webster_planset(net, np.full(net.n_movements, 100.0))
    assert busy["C"].cycle_s != light["C"].cycle_s
    sched = Schedule({"am": (25200.0, 32400.0, busy), "off": (32400.0, 54000.0, light)})
    path = export(sched, net, tmp_path / "tod.add.xml", "sumo")
    v = validate_file(path, net)
    assert not [x for x in v if "WAUT switch" in x.message], v
