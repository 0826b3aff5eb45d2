"""Real demand files: trip files routed with duarouter, departures on clock time (RESCO, city
models), each period's window taken from the file (signals.demand.route_trips, demand_window,
``signals demand route``, ``signals plan fixed-time --demand``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from signals import sumo_tools
from signals.cli import main
from signals.demand import demand_window, is_trip_file, read_routes, route_trips
from signals.errors import InputError

# 07:00-07:15 on clock time: two single trips and two flows given by their ends only
TRIPS = """<routes>
    <vType id="car" vClass="passenger"/>
    <trip id="t1" type="car" depart="25200" from="WC" to="CE"/>
    <flow id="ns" type="car" begin="25200" end="26100" vehsPerHour="400" from="NC" to="CS"/>
    <trip id="t2" type="car" depart="25260" from="EC" to="CW"/>
    <flow id="we" type="car" begin="25200" end="26100" vehsPerHour="600" from="WC" to="CE"/>
</routes>
"""
N_TRIPS = 2 + 100 + 150  # two trips, 400 veh/h and 600 veh/h for 15 min


@pytest.fixture(scope="module")
def cross(tmp_path_factory) -> Path:
    """Hand-written plain XML: one signalized four-arm junction, two lanes east-west."""
    d = tmp_path_factory.mktemp("cross")
    (d / "x.nod.xml").write_text(
        '<nodes><node id="W" x="-300" y="0"/><node id="C" x="0" y="0" type="traffic_light"/>'
        '<node id="E" x="300" y="0"/><node id="N" x="0" y="300"/><node id="S" x="0" y="-300"/>'
        "</nodes>\n"
    )
    arms = [("W", 2), ("E", 2), ("N", 1), ("S", 1)]
    edges = "".join(
        f'<edge id="{a}C" from="{a}" to="C" numLanes="{n}" speed="13.89"/>'
        f'<edge id="C{a}" from="C" to="{a}" numLanes="{n}" speed="13.89"/>'
        for a, n in arms
    )
    (d / "x.edg.xml").write_text(f"<edges>{edges}</edges>\n")
    out = d / "x.net.xml"
    sumo_tools.run(
        [sumo_tools.binary("netconvert"), "-n", str(d / "x.nod.xml"), "-e", str(d / "x.edg.xml")]
        + ["--no-turnarounds", "-o", str(out)]
    )
    return out


@pytest.fixture
def trips(tmp_path) -> Path:
    p = tmp_path / "city.trips.xml"
    p.write_text(TRIPS)
    return p


def _routed(tmp: Path, name: str, begin: float, end: float) -> Path:
    """A routed file (no routing needed): two flows over [begin, end)."""
    p = tmp / name
    p.write_text(
        "<routes>\n"
        f'<flow id="a" begin="{begin:g}" end="{end:g}" vehsPerHour="500"><route edges="WC CE"/></flow>\n'
        f'<flow id="b" begin="{begin:g}" end="{end:g}" vehsPerHour="300"><route edges="NC CS"/></flow>\n'
        "</routes>\n"
    )
    return p


def _one_line_error(capsys) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("signals: error: "), cap.err
    assert "Traceback" not in cap.err
    return lines[0]


def _periods(out: Path) -> list[tuple[str, float, float]]:
    doc = json.loads((out / "plans.json").read_text())
    return [(p["name"], p["begin_s"], p["end_s"]) for p in doc["periods"]]


def test_is_trip_file(tmp_path, trips):
    assert is_trip_file(trips)
    assert not is_trip_file(_routed(tmp_path, "r.rou.xml", 0, 3600))
    flow_only = tmp_path / "f.xml"
    flow_only.write_text(
        '<routes><flow id="f" begin="0" end="9" number="3" from="a" to="b"/></routes>'
    )
    assert is_trip_file(flow_only)
    bad = tmp_path / "bad.xml"
    bad.write_text("<net/>")
    with pytest.raises(InputError, match="root element"):
        is_trip_file(bad)


def test_demand_route_keeps_clock_times_and_routes_every_trip(tmp_path, cross, trips, capsys):
    out = tmp_path / "city.rou.xml"
    rc = main(["demand", "route", str(trips), "--net", str(cross), "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out.strip().splitlines()
    assert len(text) == 1 and f"{N_TRIPS} vehicles routed" in text[0] and "25200" in text[0]
    r = read_routes(out)  # refuses any vehicle without a route
    assert r.n_vehicles == N_TRIPS
    ids = set(r.veh_id)
    assert {"t1", "t2"} <= ids
    assert sum(i.startswith("ns.") for i in ids) == 100  # the <flow> from/to is routed too
    assert sum(i.startswith("we.") for i in ids) == 150
    assert r.depart_s.min() == 25200 and r.depart_s.max() < 26100  # departures as in the file
    assert "car" in out.read_text()  # the vehicle type travels with the routes
    assert not list(tmp_path.glob(".city.rou.xml*"))  # no temporary left beside it


def test_route_trips_window_and_additional(tmp_path, cross):
    vtypes = tmp_path / "types.add.xml"
    vtypes.write_text('<additional><vType id="bus" vClass="bus" length="12"/></additional>')
    trips = tmp_path / "bus.trips.xml"
    trips.write_text(
        '<routes><trip id="b1" type="bus" depart="25200" from="WC" to="CE"/>'
        '<trip id="b2" type="bus" depart="30000" from="EC" to="CW"/></routes>'
    )
    out = route_trips(trips, cross, tmp_path / "bus.rou.xml", additional=[vtypes], end_s=28800)
    r = read_routes(out)
    assert r.veh_id == ("b1",) and r.veh_type == ("bus",)
    assert 'vType id="bus"' in out.read_text()  # self-contained by default
    # for a run that loads the type file too, the type stays out of the routes: SUMO then
    # loads both (a type defined twice is an error in SUMO)
    lean = route_trips(
        trips, cross, tmp_path / "lean.rou.xml", additional=[vtypes], omit_additional_types=True
    )
    assert "<vType" not in lean.read_text() and read_routes(lean).veh_id == ("b1", "b2")
    from signals.evaluate.sumo_run import evaluate_sumo

    run = dict(additional=[vtypes], begin_s=25200, end_s=25500, queue_sample_s=0)
    assert evaluate_sumo(cross, lean, **run).summary["n_vehicles"] >= 1
    with pytest.raises(Exception, match="bus"):  # the self-contained file clashes
        evaluate_sumo(cross, out, **run)


def test_unknown_edge_is_one_line_and_writes_nothing(tmp_path, cross, capsys):
    bad = tmp_path / "bad.trips.xml"
    bad.write_text('<routes><trip id="lost" depart="25200" from="WC" to="nowhere"/></routes>')
    out = tmp_path / "bad.rou.xml"
    assert main(["demand", "route", str(bad), "--net", str(cross), "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert str(bad) in line and "trip lost to" in line and "'nowhere'" in line
    assert not out.exists()
    ft = tmp_path / "ft"
    args = ["plan", "fixed-time", "--net", str(cross), "--demand", f"am_peak={bad}"]
    assert main([*args, "--out", str(ft)]) == 2
    assert "'nowhere'" in _one_line_error(capsys)
    assert not ft.exists()


def test_unroutable_trip_is_named(tmp_path, cross, capsys):
    """A trip between existing edges with no path (no U-turns) names the trip; --ignore-errors
    drops it and says so."""
    trips = tmp_path / "u.trips.xml"
    trips.write_text(
        '<routes><trip id="ok" depart="0" from="WC" to="CE"/>'
        '<trip id="back" depart="5" from="CE" to="CW"/></routes>'
    )
    out = tmp_path / "u.rou.xml"
    base = ["demand", "route", str(trips), "--net", str(cross), "--out", str(out)]
    assert main(base) == 2
    line = _one_line_error(capsys)
    assert str(trips) in line and "trip back" in line
    assert not out.exists()
    assert main([*base, "--ignore-errors"]) == 0
    assert "1 unroutable trip(s) dropped: back" in capsys.readouterr().out
    assert read_routes(out).veh_id == ("ok",)


def test_plan_fixed_time_routes_clock_time_trips(tmp_path, cross, trips, capsys):
    out = tmp_path / "ft"
    rc = main(["plan", "fixed-time", "--net", str(cross), "--demand", f"am_peak={trips}"])
    assert rc == 2  # --out is required: one line from argparse
    capsys.readouterr()
    rc = main(
        [
            "plan",
            "fixed-time",
            "--net",
            str(cross),
            "--demand",
            f"am_peak={trips}",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    routed = [ln for ln in text.splitlines() if "routed trips" in ln]
    assert len(routed) == 1 and str(trips) in routed[0]
    assert read_routes(out / "routes" / "am_peak.rou.xml").n_vehicles == N_TRIPS
    # the window is the file's: 07:00-07:15, not am_peak's 07:00-09:00
    assert _periods(out) == [("am_peak", 25200.0, 26100.0)]
    rows = list(csv.DictReader((out / "timing.csv").open()))
    assert {(r["period_begin_s"], r["period_end_s"]) for r in rows} == {("25200", "26100")}
    flows = [float(r["flow_vph"]) for r in rows]
    assert all(f > 0 for f in flows)
    # east-west carries the 600 veh/h flow (+ 2 trips); north-south 400 veh/h
    assert max(flows) == pytest.approx(600, rel=0.05) and min(flows) == pytest.approx(400, rel=0.05)


def test_period_label_carries_the_file_window(tmp_path, cross, capsys):
    rel = _routed(tmp_path, "hour0.rou.xml", 0, 3600)  # period time: 0 = period start
    pm = _routed(tmp_path, "resco.rou.xml", 57600, 61200)  # clock time, outside am_peak's hours
    out = tmp_path / "ft"
    rc = main(
        ["plan", "fixed-time", "--net", str(cross), "--demand", f"am_peak={rel}"]
        + ["--demand", f"pm_peak={pm}", "--out", str(out)]
    )
    assert rc == 0, capsys.readouterr().err
    assert _periods(out) == [("am_peak", 25200.0, 28800.0), ("pm_peak", 57600.0, 61200.0)]
    # a named period whose hours hold none of a clock-time file's departures: the file's window
    out2 = tmp_path / "ft2"
    args = ["plan", "fixed-time", "--net", str(cross), "--demand", f"am_peak={pm}"]
    assert main([*args, "--out", str(out2)]) == 0
    assert _periods(out2) == [("am_peak", 57600.0, 61200.0)]
    rows = list(csv.DictReader((out2 / "timing.csv").open()))
    assert sorted({round(float(r["flow_vph"])) for r in rows}) == [300, 500]


def test_stated_window_in_seconds_selects_that_part_of_the_file(tmp_path, cross, capsys):
    day = tmp_path / "day.rou.xml"
    day.write_text(
        "<routes>\n"
        '<flow id="am" begin="25200" end="28800" vehsPerHour="800"><route edges="WC CE"/></flow>\n'
        '<flow id="pm" begin="57600" end="61200" vehsPerHour="200"><route edges="WC CE"/></flow>\n'
        "</routes>\n"
    )
    out = tmp_path / "ft"
    rc = main(
        ["plan", "fixed-time", "--net", str(cross), "--demand", f"am@25200-28800={day}"]
        + ["--demand", f"pm@16:00-17:00={day}", "--out", str(out)]
    )
    assert rc == 0, capsys.readouterr().err
    assert _periods(out) == [("am", 25200.0, 28800.0), ("pm", 57600.0, 61200.0)]
    by = {}
    for r in csv.DictReader((out / "timing.csv").open()):
        by.setdefault(r["period"], set()).add(float(r["flow_vph"]))
    assert max(by["am"]) == pytest.approx(800) and max(by["pm"]) == pytest.approx(200)


def test_window_without_vehicles_exits_2_and_writes_nothing(tmp_path, cross, trips, capsys):
    out = tmp_path / "ft"
    rc = main(
        ["plan", "fixed-time", "--net", str(cross), "--demand", f"noon@12:00-13:00={trips}"]
        + ["--out", str(out)]
    )
    assert rc == 2
    line = _one_line_error(capsys)
    assert str(trips) in line and "noon" in line and "12:00-13:00" in line and "none" in line
    assert not out.exists()


def test_demand_window_rules(tmp_path):
    """The rule without SUMO: period time, clock time, stated windows, empty windows."""
    rel = _routed(tmp_path, "rel.rou.xml", 0, 1800)
    w = demand_window(rel, "am_peak", 25200, 32400)
    assert (w.begin_s, w.end_s, w.file_begin_s, w.file_end_s, w.clock_time) == (
        25200,
        27000,
        0,
        1800,
        False,
    )
    w = demand_window(rel, "night", 79200, 84600, stated=True)  # stated: kept as stated
    assert (w.begin_s, w.end_s, w.file_begin_s, w.file_end_s) == (79200, 84600, 0, 5400)
    clock = _routed(tmp_path, "clock.rou.xml", 25200, 28800)
    w = demand_window(clock, "am_peak", 25200, 32400)
    assert (w.begin_s, w.end_s, w.file_begin_s, w.clock_time) == (25200, 28800, 25200, True)
    assert w.n_vehicles == pytest.approx(800)
    w = demand_window(clock, "*")
    assert (w.begin_s, w.end_s) == (25200, 28800)
    with pytest.raises(InputError, match="none: the file's departures 25200-28800 s"):
        demand_window(clock, "pm", 57600, 61200, stated=True)
    empty = tmp_path / "empty.rou.xml"
    empty.write_text("<routes/>")
    with pytest.raises(InputError, match="vehicles"):
        demand_window(empty, "am_peak", 25200, 32400)


def test_bad_window_spec(tmp_path, cross, capsys):
    r = _routed(tmp_path, "r.rou.xml", 0, 3600)
    for spec in ("am@08:00-07:00", "am@7-7", "am@07:75-08:00", "am@soon"):
        args = ["plan", "fixed-time", "--net", str(cross), "--demand", f"{spec}={r}"]
        assert main([*args, "--out", str(tmp_path / "o")]) == 2, spec
        assert "--demand period" in _one_line_error(capsys)
