"""Timing sheets a traffic engineer accepts (issue 9): movements by approach and turn, periods
with their real window, no delay/LOS without flow, oversaturated signals flagged, critical
movements once per signal, and sheets for the programs running today with their findings."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from signals import sumo_tools
from signals.cli import main
from signals.control.fixed_time import webster_planset
from signals.control.hcm import hcm_plan_review
from signals.export import csv_text, export, period_label, timing_rows
from signals.naming import approach_label, crossing_names, movement_names
from signals.network import Network
from signals.plans import Phase, PlanSet, Schedule

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"

NODES = """<nodes>
    <node id="C" x="0" y="0" type="traffic_light"/>
    <node id="N" x="0" y="200" type="priority"/>
    <node id="S" x="0" y="-200" type="priority"/>
    <node id="E" x="200" y="0" type="priority"/>
    <node id="W" x="-200" y="0" type="priority"/>
</nodes>
"""
EDGES = (
    "<edges>\n"
    + "".join(
        f'    <edge id="{a}2{b}" from="{a}" to="{b}" numLanes="2" speed="13.89"/>\n'
        for x in "NSEW"
        for a, b in ((x, "C"), ("C", x))
    )
    + "</edges>\n"
)


@pytest.fixture(scope="module")
def net4(tmp_path_factory) -> Network:
    """A 4-arm at C with arms due north/south/east/west, 50 km/h, sidewalks and crossings;
    netconvert's own program has 3 s yellows and no all-red (as the city programs of issue 9)."""
    d = tmp_path_factory.mktemp("net4")
    (d / "x.nod.xml").write_text(NODES)
    (d / "x.edg.xml").write_text(EDGES)
    out = d / "x.net.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("netconvert"),
            "-n",
            str(d / "x.nod.xml"),
            "-e",
            str(d / "x.edg.xml"),
            "--sidewalks.guess",
            "--crossings.guess",
            "--tls.yellow.time",
            "3",
            "-o",
            str(out),
        ]
    )
    return Network.from_sumo(out)


def _flows(net: Network, by_approach: dict[str, float]) -> np.ndarray:
    names = movement_names(net)
    return np.array([by_approach.get(n.approach, 0.0) for n in names], dtype=float)


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


# ------------------------------------------------------------------------------ names
def test_movement_names_by_approach_and_turn(net4):
    names = {m.edges: m.name for m in movement_names(net4)}
    assert names["S2C->C2N"] == "NB T" and names["S2C->C2W"] == "NB L"
    assert names["S2C->C2E"] == "NB R" and names["S2C->C2S"] == "NB U"
    assert names["N2C->C2S"] == "SB T" and names["N2C->C2E"] == "SB L"
    assert names["W2C->C2E"] == "EB T" and names["W2C->C2S"] == "EB R"
    assert names["E2C->C2W"] == "WB T" and names["E2C->C2N"] == "WB R"
    assert sorted(set(crossing_names(net4, 0).values())) == ["XW E", "XW N", "XW S", "XW W"]


def test_compass_and_unambiguous_names():
    assert [approach_label(b) for b in (0, 90, 180, 270, 20, 340)] == [
        "NB",
        "EB",
        "SB",
        "WB",
        "NB",
        "NB",
    ]
    assert [approach_label(b) for b in (45, 135, 225, 315)] == ["NE", "SE", "SW", "NW"]
    # a joined cluster with two eastbound approaches and two right turns of one approach
    odd = Network.from_sumo(TEST_NETS / "odd.net.xml")
    names = movement_names(odd)
    for s in range(odd.n_signals):
        ms = names[odd.movements_of(s)]
        assert len({m.name for m in ms}) == len(ms)
        by_edge = {}
        for m in ms:
            by_edge.setdefault(m.approach, set()).add(m.from_edge)
        assert all(len(e) == 1 for e in by_edge.values())  # one edge per approach name
    assert {"EB", "EB2"} <= {m.approach for m in names}


# ------------------------------------------------------------------- periods and figures
def test_period_window_label(tmp_path, net4):
    assert period_label("am_peak", 25200, 28800) == "am_peak 07:00-08:00 (25200-28800 s)"
    assert period_label("late", 84600, 86400) == "late 23:30-24:00 (84600-86400 s)"
    f = _flows(net4, dict.fromkeys(("NB", "SB", "EB", "WB"), 300.0))
    ps = webster_planset(net4, f)
    sched = Schedule({"am_peak": (25200.0, 28800.0, ps)})
    rows = _rows(export(sched, net4, tmp_path / "t.csv", "csv", flows={"am_peak": f}))
    assert {r["period_window"] for r in rows} == {"am_peak 07:00-08:00 (25200-28800 s)"}
    assert {(r["period_begin_s"], r["period_end_s"]) for r in rows} == {("25200", "28800")}


def test_zero_flow_stages_have_no_delay_or_los(tmp_path, net4):
    f = _flows(net4, {"NB": 400.0, "SB": 300.0})  # nothing east-west
    ps = webster_planset(net4, f)
    rows = _rows(export(ps, net4, tmp_path / "t.csv", "csv", flows={"*": f}))
    stages = [r for r in rows if r["record"] == "stage"]
    ew = [r for r in stages if not any(x[:2] in ("NB", "SB") for x in r["movements"].split("; "))]
    ns = [r for r in stages if r not in ew]
    assert ew and ns
    for r in ew:
        assert r["movements"] and r["delay_s"] == "" and r["los"] == "" and r["v_c"] == ""
        assert float(r["flow_vph"]) == 0 and r["critical_movement"] == ""
    for r in ns:
        assert float(r["delay_s"]) > 0 and r["los"] in list("ABCDEF")
    assert all(float(r["signal_delay_s"]) > 0 for r in stages)


def test_oversaturated_signals_are_flagged(tmp_path, net4):
    heavy = _flows(net4, dict.fromkeys(("NB", "SB", "EB", "WB"), 1500.0))
    ps = webster_planset(net4, heavy)
    rows = _rows(export(ps, net4, tmp_path / "h.csv", "csv", flows={"*": heavy}))
    stages = [r for r in rows if r["record"] == "stage"]
    assert stages and all(r["oversaturated"] == "yes" for r in stages)
    assert all(float(r["critical_v_c_max_cycle"]) > 1 for r in stages)
    assert all(float(r["cycle_s"]) <= float(r["cycle_max_s"]) for r in stages)
    summary = [r for r in rows if r["record"] == "summary"]
    assert len(summary) == 1 and "oversaturated" in summary[0]["findings"]
    assert "C (" in summary[0]["findings"] and "1 of 1 signals" in summary[0]["findings"]
    # the same plans under light demand: not flagged, no summary row
    light = heavy / 30
    rows = _rows(export(ps, net4, tmp_path / "l.csv", "csv", flows={"*": light}))
    assert all(r["oversaturated"] == "" for r in rows) and {r["record"] for r in rows} == {"stage"}


def test_critical_movement_once_per_signal(net4):
    """Protected-left stages with the lefts also permitted in the through stages, on shared
    lanes: a lane group is critical in one stage at most (HCM Ch. 19 critical path)."""
    names = movement_names(net4)
    f = _flows(net4, dict.fromkeys(("NB", "SB", "EB", "WB"), 300.0))
    f[[i for i, m in enumerate(names) if m.turn == "L"]] *= 2
    plan = webster_planset(net4, f)["C"]
    rows, sig = hcm_plan_review(net4, plan, f, cycle_max_s=120.0)
    served_twice = [
        i for i in range(len(names)) if sum(names[i].name in " ".join(r["sumo"]) for r in rows) > 1
    ]
    assert served_twice  # the case of issue 9: movements served in several stages
    crit = [r["critical"] for r in rows if r["critical"]]
    # one lane group per approach here (the through movement uses both lanes): four to pick
    assert len(crit) == min(plan.n_stages, 4) and len(crit) == len(set(crit))
    assert all(r["critical"] is None or r["flow_ratio"] > 0 for r in rows)
    assert sig["oversaturated"] and sig["critical_v_c_max_cycle"] > 1
    # the critical sum is the design's: X_c at the plan's cycle from the stages' flow ratios
    from signals.control.fixed_time import stage_flow_ratios

    y = stage_flow_ratios(net4, plan, f)
    assert sig["critical_v_c"] == pytest.approx(
        y.sum() * plan.cycle_s / (plan.cycle_s - sig["lost_time_s"]), rel=0.25
    )


def test_stage_serving_nothing_is_not_listed(net4):
    f = _flows(net4, dict.fromkeys(("NB", "SB", "EB", "WB"), 200.0))
    plan = webster_planset(net4, f)["C"]
    dark = Phase("r" * len(plan.phases[0].state), 4.0, 0.0, 0.0, 4.0, 4.0)
    bad = replace(plan, phases=(*plan.phases, dark), cycle_s=plan.cycle_s + 4.0)
    rows = timing_rows(Schedule.single(PlanSet({"C": bad})), net4, {"*": f})
    stages = [r for r in rows if r["record"] == "stage"]
    assert [r["phase"] for r in stages] == list(range(1, plan.n_stages + 1))
    assert any("serves no movement" in x for x in stages[0]["findings"])
    summary = [r for r in rows if r["record"] == "summary"]
    assert summary and f"C stage {bad.n_stages}" in summary[0]["findings"][-1]
    assert csv_text(rows).count("\n") == 1 + len(rows)  # one header row, one line a record


# ------------------------------------------------------------- programs running today
def test_existing_program_sheet_lists_guideline_findings(tmp_path, net4, capsys):
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        "<routes>"
        '<flow id="nb" begin="0" end="3600" vehsPerHour="400"><route edges="S2C C2N"/></flow>'
        '<flow id="eb" begin="0" end="3600" vehsPerHour="200"><route edges="W2C C2E"/></flow>'
        "</routes>"
    )
    out = tmp_path / "existing.csv"
    argv = ["plan", "export", str(net4.path), "--net", str(net4.path), "--format", "csv"]
    argv += ["--out", str(out), "--demand", f"*={routes}"]
    # a program below guideline is no plan this project would generate: refused without
    # --existing (exit 2, nothing written) ...
    assert main(argv) == 2 and not out.exists()
    assert "yellow_too_short" in capsys.readouterr().err
    # ... and listed with its findings as a program running today
    assert main([*argv, "--existing"]) == 0
    rows = _rows(out)
    stages = [r for r in rows if r["record"] == "stage"]
    assert len(stages) == 2
    text = " ".join(r["findings"] for r in stages)
    assert "yellow 3.0 s < ITE 3.3 s for 50 km/h" in text
    assert "all-red 0.0 s < ITE" in text
    assert "[NB L+T+R+U, SB L+T+R+U]" in text  # the movements a finding concerns
    # the intervals as the program shows them: 3 s yellow, no all-red
    assert all(r["intervals"].split("; ")[-1].endswith(" 3") for r in stages)
    assert all(r["yellow_s"] == "3" and r["allred_s"] == "0" for r in stages)
    assert any(r["los"] in list("ABCDEF") for r in stages)
    assert rows[-1]["record"] == "summary" and "guideline finding" in rows[-1]["findings"]


def test_demand_for_no_period_of_the_file_is_refused(tmp_path, net4, capsys):
    """A named --demand period the plan file does not have would leave the sheet without
    flows: one line, exit 2, nothing written."""
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes><flow id="nb" begin="0" end="3600" vehsPerHour="400">'
        '<route edges="S2C C2N"/></flow></routes>'
    )
    out = tmp_path / "sheet.csv"
    argv = ["plan", "export", str(net4.path), "--net", str(net4.path), "--format", "csv"]
    argv += ["--out", str(out), "--existing", "--demand", f"am_peak@07:00-08:00={routes}"]
    assert main(argv) == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--demand" in err[0] and "am_peak" in err[0]


def test_unsafe_existing_program_is_refused(tmp_path, net4, capsys):
    n = int(net4.signal_n_links[0])
    veh = ["r" if net4.link_is_ped[i] else "G" for i in range(n)]
    green = "".join(veh)
    yellow = green.replace("G", "y")
    red = "r" * n
    prog = tmp_path / "bad.add.xml"
    prog.write_text(
        '<additional><tlLogic id="C" type="static" programID="today" offset="0">'
        f'<phase duration="30" state="{green}"/><phase duration="4" state="{yellow}"/>'
        f'<phase duration="2" state="{red}"/></tlLogic></additional>'
    )
    out = tmp_path / "bad.csv"
    argv = ["plan", "export", str(prog), "--net", str(net4.path), "--format", "csv"]
    assert main([*argv, "--out", str(out), "--existing"]) == 2
    assert "conflicting_green" in capsys.readouterr().err
    assert not out.exists() and sorted(x.name for x in tmp_path.iterdir()) == ["bad.add.xml"]


def test_fixed_time_sheet_end_to_end(tmp_path, net4, capsys):
    routes = tmp_path / "am.rou.xml"
    routes.write_text(
        "<routes>"
        '<flow id="nb" begin="0" end="3600" vehsPerHour="500"><route edges="S2C C2N"/></flow>'
        '<flow id="sb" begin="0" end="3600" vehsPerHour="400"><route edges="N2C C2S"/></flow>'
        "</routes>"
    )
    out = tmp_path / "ft"
    argv = ["plan", "fixed-time", "--net", str(net4.path), "--out", str(out)]
    assert main([*argv, "--demand", f"am_peak@07:00-08:00={routes}"]) == 0
    rows = _rows(out / "timing.csv")
    stages = [r for r in rows if r["record"] == "stage"]
    assert {r["period_window"] for r in rows} == {"am_peak 07:00-08:00 (25200-28800 s)"}
    assert all("->" not in r["movements"] for r in stages)
    for r in stages:  # no stage without flow gets a delay or a LOS
        if float(r["flow_vph"] or 0) == 0:
            assert r["delay_s"] == "" and r["los"] == ""
    assert any(r["los"] for r in stages)


def test_existing_program_intervals_as_written(tmp_path, net4):
    """Links of one stage clearing one after another (NB yellow while SB keeps green, then SB
    yellow): the sheet lists the stage's SUMO phases exactly as the program holds them."""
    ns = "gGGggrrrrrgGGggrrrrrrGrG"
    ew = "rrrrrgGGggrrrrrgGGggGrGr"
    phases = [
        (ns, 30),
        (ns[:20] + "rrrr", 8),
        ("yyyyyrrrrr" + ns[10:20] + "rrrr", 4),
        ("r" * 10 + "yyyyy" + "r" * 9, 4),
        ("r" * 24, 2),
        (ew, 30),
        (ew[:20] + "rrrr", 8),
        ("rrrrryyyyyrrrrryyyyyrrrr", 4),
        ("r" * 24, 2),
    ]
    prog = tmp_path / "today.add.xml"
    prog.write_text(
        '<additional><tlLogic id="C" type="static" programID="today" offset="0">'
        + "".join(f'<phase duration="{d}" state="{st}"/>' for st, d in phases)
        + "</tlLogic></additional>"
    )
    out = tmp_path / "today.csv"
    argv = ["plan", "export", str(prog), "--net", str(net4.path), "--format", "csv"]
    assert main([*argv, "--out", str(out), "--existing"]) == 0
    stages = [r for r in _rows(out) if r["record"] == "stage"]
    assert [r["intervals"] for r in stages] == [
        "; ".join(f"{st} {d}" for st, d in phases[:5]),
        "; ".join(f"{st} {d}" for st, d in phases[5:]),
    ]
    assert (
        sum(float(r["green_s"]) + float(r["yellow_s"]) + float(r["allred_s"]) for r in stages) == 92
    )
