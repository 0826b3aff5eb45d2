"""Plan writers: every format parsed back; SUMO loads the export and runs the exact timings."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from signals import sumo_tools
from signals.cli import main
from signals.control.fixed_time import webster_planset
from signals.export import SWITCH_SEARCH_S, export, read_utdf
from signals.network import Network
from signals.plans import (
    PlanSet,
    Schedule,
    read_schedule,
    write_schedule_json,
)
from signals.safety import (
    UnsafePlanError,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"


@pytest.fixture(scope="module")
def net() -> Network:
    return Network.from_sumo(TEST_NETS / "grid2x2.net.xml")


@pytest.fixture(scope="module")
def schedule(net) -> Schedule:
    am = webster_planset(net, np.full(net.n_movements, 220.0))
    off = webster_planset(net, np.full(net.n_movements, 60.0))
    # coordinated-looking offsets so the offset handling is exercised
    am = PlanSet(
        {
            sid: replace(p, offset_s=float((7 * i) % p.cycle_s))
            for i, (sid, p) in enumerate(am.plans.items())
        }
    )
    return Schedule({"am_peak": (25200.0, 32400.0, am), "off_peak": (36000.0, 54000.0, off)})


def _canon(s: Schedule) -> dict:
    return {
        k: (b, e, {sid: p.canonical() for sid, p in ps.plans.items()})
        for k, b, e, ps in s.ordered()
    }


def _state_at(plan, t: float) -> str:
    phases = plan.sumo_phases()
    x = (t - plan.offset_s) % plan.cycle_s
    for st, d in phases:
        if x < d:
            return st
        x -= d
    return phases[-1][0]


def test_sumo_additional_reads_back_identically(tmp_path, net, schedule):
    path = export(schedule, net, tmp_path / "plans.add.xml", "sumo")
    root = ET.parse(path).getroot()
    assert len(root.findall("tlLogic")) == 2 * net.n_signals
    # one WAUT per signal, each switching at a seamless point within SWITCH_SEARCH_S of the
    # period's begin (no daily repeat: the next day's switch would meet another cycle point)
    wauts = root.findall("WAUT")
    assert len(wauts) == net.n_signals and all(w.get("period") is None for w in wauts)
    for waut in wauts:
        sw = [(float(s.get("time")), s.get("to")) for s in waut.findall("wautSwitch")]
        assert [to for _, to in sw] == ["am_peak", "off_peak"]
        for (t, _), nominal in zip(sw, (25200.0, 36000.0), strict=True):
            assert nominal <= t < nominal + SWITCH_SEARCH_S
    assert len(root.findall("wautJunction")) == net.n_signals
    assert _canon(read_schedule(path, net)) == _canon(schedule)
    # sumolib reads the same phase durations
    import sumolib

    for tl in sumolib.xml.parse(str(path), "tlLogic"):
        plan = schedule.periods[tl.programID][2][tl.id]
        assert [(ph.state, float(ph.duration)) for ph in tl.phase] == plan.sumo_phases()
        assert float(tl.offset) == plan.offset_s


@pytest.mark.sumo
def test_sumo_runs_the_exported_timings_exactly(tmp_path, net, schedule):
    """Export -> SUMO -> per-second signal states: the programs, offsets and the WAUT switch at
    the period boundary match the plans at every second."""
    tod0 = 36000.0 - 200.0  # simulation time 0 is 200 s before the off-peak begins
    path = export(schedule, net, tmp_path / "plans.add.xml", "sumo", tod_zero_s=tod0)
    save = tmp_path / "save.add.xml"
    out = tmp_path / "tls.xml"
    events = "".join(
        f'<timedEvent type="SaveTLSStates" source="{sid}" dest="{out}"/>' for sid in net.signal_ids
    )
    save.write_text(f"<additional>{events}</additional>")
    sumo_tools.run(
        [
            sumo_tools.binary("sumo"),
            "-n",
            str(net.path),
            "-a",
            f"{path},{save}",
            "--end",
            "420",
            "--no-step-log",
        ],
        timeout_s=120,
    )
    root = ET.parse(path).getroot()
    junction = {j.get("wautID"): j.get("junctionID") for j in root.iter("wautJunction")}
    switch = {
        junction[w.get("id")]: float(sw.get("time"))
        for w in root.iter("WAUT")
        for sw in w.iter("wautSwitch")
        if sw.get("to") == "off_peak"
    }
    assert set(switch) == set(net.signal_ids)
    assert all(200 <= t < 420 for t in switch.values()), switch
    seen = {"am_peak": 0, "off_peak": 0}
    n = 0
    for e in ET.parse(out).getroot().iter("tlsState"):
        t, pid, sid = float(e.get("time")), e.get("programID"), e.get("id")
        expect_pid = "am_peak" if t < switch[sid] else "off_peak"
        assert pid == expect_pid, (t, pid)
        assert e.get("state") == _state_at(schedule.periods[pid][2][sid], t), (t, sid, pid)
        if t == switch[sid]:  # seamless: the state shown does not change at the switch
            assert e.get("state") == _state_at(schedule.periods["am_peak"][2][sid], t)
        seen[pid] += 1
        n += 1
    assert n == 420 * net.n_signals and min(seen.values()) > 0


def test_csv_timing_sheet(tmp_path, net, schedule):
    flows = {"*": np.full(net.n_movements, 150.0)}
    path = export(schedule, net, tmp_path / "timing.csv", "csv", flows=flows)
    rows = list(csv.DictReader(path.open()))
    n_rows = sum(p.n_stages for *_, ps in schedule.ordered() for p in ps)
    assert len(rows) == n_rows
    r0 = rows[0]
    plan = schedule.periods[r0["period"]][2][r0["signal_id"]]
    assert float(r0["cycle_s"]) == plan.cycle_s and float(r0["offset_s"]) == plan.offset_s
    assert r0["offset_reference"] == "phase 1 green start" and r0["phase"] == "1"
    assert float(r0["green_s"]) == plan.phases[0].green_s
    assert (
        float(r0["yellow_s"]) == plan.phases[0].yellow_s
        and float(r0["allred_s"]) == plan.phases[0].allred_s
    )
    # movements by approach and turn, the SUMO edge ids in their own column
    assert "->" not in r0["movements"] and r0["movements"].split("; ")[0][:2] in ("NB", "EB")
    assert all("=" in x and "->" in x for x in r0["sumo_movements"].split("; "))
    assert r0["period_window"] in (
        "am_peak 07:00-09:00 (25200-32400 s)",
        "off_peak 10:00-15:00 (36000-54000 s)",
    )
    assert {r["record"] for r in rows} == {"stage"}  # nothing to flag: no summary row
    for r in rows:
        assert 0 < float(r["v_c"]) and float(r["delay_s"]) > 0 and r["los"] in list("ABCDEF")
        assert r["oversaturated"] == "" and float(r["critical_v_c"]) < 1
    # a movement is critical in one stage of its signal at most
    for group in _group(rows).values():
        crit = [r["critical_movement"] for r in group if r["critical_movement"]]
        assert len(crit) == len(set(crit))
    # green + yellow + all-red of a signal's rows add up to its cycle
    for group in _group(rows).values():
        total = sum(
            float(r["green_s"]) + float(r["yellow_s"]) + float(r["allred_s"]) for r in group
        )
        assert total == pytest.approx(float(group[0]["cycle_s"]))
    # without flows the review columns stay empty
    bare = list(csv.DictReader(export(schedule, net, tmp_path / "b.csv", "csv").open()))
    assert all(r["v_c"] == "" and r["los"] == "" for r in bare)


def _group(rows):
    out: dict = {}
    for r in rows:
        out.setdefault((r["period"], r["signal_id"]), []).append(r)
    return out


def test_json_export(tmp_path, net, schedule):
    path = export(
        schedule,
        net,
        tmp_path / "plans.json",
        "json",
        flows={"am_peak": np.full(net.n_movements, 200.0)},
    )
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["kind"] == "signals.schedule"
    ph = doc["periods"][0]["signals"][0]["phases"][0]
    assert ph["number"] == 1 and ph["movements"] and ph["los"] in list("ABCDEF")
    assert doc["periods"][1]["signals"][0]["phases"][0]["los"] is None  # no flows for off-peak
    assert read_schedule(path, net) == schedule


def test_utdf_export(tmp_path, net, schedule):
    path = export(schedule, net, tmp_path / "plans.utdf.csv", "utdf")
    sec = read_utdf(path)
    assert set(sec) == {"Timeplans", "Phases"}
    tp, ph = sec["Timeplans"], sec["Phases"]
    intid = {sid: str(i + 1) for i, sid in enumerate(net.signal_ids)}
    for name, _, _, ps in schedule.ordered():
        for sid, plan in ps.plans.items():
            cyc = [r for r in tp["Cycle Length"] if r[0] == intid[sid] and r[1] == name]
            off = [r for r in tp["Offset"] if r[0] == intid[sid] and r[1] == name]
            assert float(cyc[0][2]) == plan.cycle_s and float(off[0][2]) == plan.offset_s
            rec = {
                k: next(r for r in v if r[0] == intid[sid] and r[1] == name)[2:]
                for k, v in ph.items()
            }
            k = plan.n_stages
            assert [float(x) for x in rec["MaxGreen"][:k]] == [p.green_s for p in plan.phases]
            assert [float(x) for x in rec["Yellow"][:k]] == [p.yellow_s for p in plan.phases]
            assert [float(x) for x in rec["AllRed"][:k]] == [p.allred_s for p in plan.phases]
            assert sum(float(x) for x in rec["Split"][:k]) == pytest.approx(plan.cycle_s)
            assert rec["BRP"][:k] == [f"{i}11" for i in range(1, k + 1)]


def test_unsafe_plans_are_never_written(tmp_path, net, schedule):
    am = schedule.periods["am_peak"][2]
    sid = next(iter(am.plans))
    p = am[sid]
    bad = PlanSet(
        {
            **am.plans,
            sid: replace(
                p,
                phases=(replace(p.phases[0], yellow_s=0.0), *p.phases[1:]),
                cycle_s=p.cycle_s - p.phases[0].yellow_s,
            ),
        }
    )
    target = tmp_path / "out.add.xml"
    target.write_text("previous")
    for fmt in ("sumo", "csv", "json", "utdf"):
        with pytest.raises(UnsafePlanError) as exc:
            export(bad, net, target, fmt)
        assert exc.value.violations[0].rule == "skip_yellow"
        assert target.read_text() == "previous"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.add.xml"]  # no temp files left


def test_cli_export(tmp_path, net, schedule, capsys):
    src = write_schedule_json(schedule, tmp_path / "plans.json")
    routes = tmp_path / "r.rou.xml"
    m = 0
    routes.write_text(
        f'<routes><flow id="f" begin="0" end="3600" vehsPerHour="300"><route edges="{net.mov_from_edge[m]} {net.mov_to_edge[m]}"/></flow></routes>'
    )
    out = tmp_path / "t.csv"
    assert (
        main(
            [
                "plan",
                "export",
                str(src),
                "--net",
                str(net.path),
                "--format",
                "csv",
                "--out",
                str(out),
                "--demand",
                f"*={routes}",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert any(r["v_c"] not in ("", "0") for r in rows)
    for fmt, name in (("sumo", "p.add.xml"), ("utdf", "p.utdf"), ("json", "p.json")):
        assert (
            main(
                [
                    "plan",
                    "export",
                    str(src),
                    "--net",
                    str(net.path),
                    "--format",
                    fmt,
                    "--out",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
    assert read_schedule(tmp_path / "p.json", net) == schedule
    # an unsafe plan file: exit 2, details, nothing written
    doc = json.loads(src.read_text())
    doc["periods"][0]["signals"][0]["phases"][0]["yellow_s"] = 1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    capsys.readouterr()
    assert (
        main(
            [
                "plan",
                "export",
                str(bad),
                "--net",
                str(net.path),
                "--format",
                "sumo",
                "--out",
                str(tmp_path / "x.xml"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "yellow_unsafe" in err and "cycle_sum" in err  # 1 s yellow: a monitor would trip
    assert not (tmp_path / "x.xml").exists()
