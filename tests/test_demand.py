"""Demand: periods, validation, route parsing and turning ratios (unit); SUMO tool pipelines (sumo)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from signals import demand as dm
from signals.cli import main
from signals.errors import InputError
from signals.network import Network

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "networks" / "test" / "grid2x2.net.xml"


@pytest.fixture(scope="module")
def grid() -> Network:
    return Network.from_sumo(GRID)


def _mov(net: Network, f: str, t: str) -> int:
    for m in range(net.n_movements):
        if net.mov_from_edge[m] == f and net.mov_to_edge[m] == t:
            return m
    raise AssertionError(f"no movement {f}->{t}")


# ------------------------------------------------------------------ periods and profiles
@pytest.mark.parametrize("name", sorted(dm.PERIODS))
def test_profile_integrates_to_period_volume(name):
    p = dm.PERIODS[name]
    base = 1234.0
    assert p.weights.mean() == pytest.approx(1.0)
    assert (p.bin_rates_vph(base) * p.bin_s).sum() / 3600 == pytest.approx(p.volume_veh(base))
    assert dm.expected_volume(p, base, 0, p.duration_s) == pytest.approx(
        base * p.scale * p.duration_s / 3600
    )
    # the peaks are shaped: PHF below 1 and close to the HCM urban default 0.92
    if name != "off_peak":
        assert 0.88 < p.peak_hour_factor() < 0.96


def test_period_scales_and_times():
    am, off, pm = dm.PERIODS["am_peak"], dm.PERIODS["off_peak"], dm.PERIODS["pm_peak"]
    assert (am.begin_s, am.end_s, am.scale) == (7 * 3600, 9 * 3600, 1.0)
    assert 0.4 < off.scale < 0.7 and 0.85 < pm.scale < 1.0
    assert off.begin_s >= am.end_s and pm.begin_s >= off.end_s


def test_profile_rates_partial_window_holds_last_bin():
    p = dm.PERIODS["am_peak"]
    edges, rates = dm.profile_rates(p, 1000, 300, 8000)
    assert edges[0] == 300 and edges[-1] == 8000 and np.all(np.diff(edges) > 0)
    assert rates[0] == pytest.approx(1000 * p.weights[0])
    assert rates[-1] == pytest.approx(1000 * p.weights[-1])  # past 09:00 the last bin holds
    vol = dm.expected_volume(p, 1000, 300, 8000)
    manual = (
        1000 * p.weights[0] * 600 + 1000 * p.weights[1:].sum() * 900 + 1000 * p.weights[-1] * 800
    ) / 3600
    assert vol == pytest.approx(manual)


def test_departure_times_follow_profile():
    p = dm.PERIODS["am_peak"]
    rng = np.random.default_rng(7)
    t = dm.departure_times(p, 6000, 0, 7200, rng)
    assert len(t) == round(dm.expected_volume(p, 6000, 0, 7200)) == 12000
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < 7200
    counts, _ = np.histogram(t, bins=np.arange(0, 7201, 900))
    expected = p.bin_rates_vph(6000) * 900 / 3600
    # multinomial counts: within 4 standard deviations of the profile
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    assert np.array_equal(t, dm.departure_times(p, 6000, 0, 7200, np.random.default_rng(7)))


def test_unknown_period_is_input_error():
    with pytest.raises(InputError, match="period: expected one of am_peak"):
        dm.get_period("night")


# ------------------------------------------------------------------ validation (no SUMO run)
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"veh_per_hour": -1.0}, "veh_per_hour"),
        ({"veh_per_hour": 100, "cv_share": 1.2}, "cv_share"),
        ({"veh_per_hour": 100, "cv_share": -0.1}, "cv_share"),
        ({"veh_per_hour": 100, "period": "midnight"}, "period"),
        ({"veh_per_hour": 100, "begin_s": 600, "end_s": 300}, "end_s"),
    ],
)
def test_generate_rejects_bad_arguments(tmp_path, kwargs, field):
    out = tmp_path / "r.rou.xml"
    with pytest.raises(InputError) as exc:
        dm.generate_routes(GRID, out, **kwargs)
    assert exc.value.field == field
    assert not out.exists()


def test_generate_missing_or_wrong_net(tmp_path):
    with pytest.raises(InputError) as exc:
        dm.generate_routes(tmp_path / "nope.net.xml", tmp_path / "r.xml", veh_per_hour=10)
    assert exc.value.field == "net" and "no such file" in str(exc.value)
    bogus = tmp_path / "x.net.xml"
    bogus.write_text("<routes/>\n")
    with pytest.raises(InputError, match="root element"):
        dm.generate_routes(bogus, tmp_path / "r.xml", veh_per_hour=10)


def test_base_volume_from_meta_json(tmp_path):
    net = tmp_path / "town.net.xml"
    shutil.copy(GRID, net)
    with pytest.raises(InputError, match="town.meta.json"):
        dm.base_veh_per_hour(net)
    (tmp_path / "town.meta.json").write_text(json.dumps({"base_veh_per_hour": 1500}))
    assert dm.meta_path(net) == tmp_path / "town.meta.json"
    assert dm.base_veh_per_hour(net) == 1500.0
    (tmp_path / "town.meta.json").write_text(json.dumps({"base_veh_per_hour": -3}))
    with pytest.raises(InputError, match="base_veh_per_hour: expected a number >= 0"):
        dm.base_veh_per_hour(net)


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("from_edge,to_edge,veh_per_hour\nW0-J00,J00-J01,-5\n", "line 2 veh_per_hour"),
        ("from_edge,to_edge,veh_per_hour\nW0-J00,J00-J01,lots\n", "line 2 veh_per_hour"),
        ("from_edge,to_edge,veh_per_hour\nW0-J00,J00-J01,10\nZZ,J00-J01,10\n", "line 3 from_edge"),
        ("from_edge,to_edge,veh_per_hour\nW0-J00,nowhere,10\n", "line 2 to_edge"),
        ("from_edge,to_edge,veh_per_hour\nW0-J00,J11-E1,10\n", "line 2 to_edge"),  # not adjacent
        ("from,to,flow\nW0-J00,J00-J01,10\n", "header"),
        (
            "from_edge,to_edge,veh_per_hour,begin_s,end_s\nW0-J00,J00-J01,10,900,600\n",
            "line 2 end_s",
        ),
    ],
)
def test_counts_csv_errors(tmp_path, text, field):
    p = _csv(tmp_path / "counts.csv", text)
    with pytest.raises(InputError) as exc:
        dm.read_counts(p, GRID)
    assert exc.value.field == field
    assert exc.value.file == str(p)
    with pytest.raises(InputError):
        dm.routes_from_counts(GRID, p, tmp_path / "out.rou.xml")
    assert not (tmp_path / "out.rou.xml").exists()


def test_counts_csv_windows_and_relation_file(tmp_path):
    p = _csv(
        tmp_path / "c.csv",
        "from_edge,to_edge,veh_per_hour,begin_s,end_s\nW0-J00,J00-J01,200,0,900\nW0-J00,J00-J10,100,,\n",
    )
    rows = dm.read_counts(p, GRID, begin_s=0, end_s=1800)
    assert [(r.begin_s, r.end_s) for r in rows] == [(0, 900), (0, 1800)]
    assert [r.count_veh for r in rows] == [50.0, 50.0]
    rel = dm.write_edge_relations(rows, tmp_path / "turns.xml")
    intervals = ET.parse(rel).getroot().findall("interval")
    assert len(intervals) == 2
    got = {
        (i.get("begin"), i.get("end"), r.get("from"), r.get("to"), float(r.get("count")))
        for i in intervals
        for r in i
    }
    assert got == {
        ("0", "900", "W0-J00", "J00-J01", 50.0),
        ("0", "1800", "W0-J00", "J00-J10", 50.0),
    }


def test_od_inputs(tmp_path):
    rows = dm.read_od(
        _csv(tmp_path / "od.csv", "origin_edge,destination_edge,veh_per_hour\nW0-J00,J11-E1,300\n")
    )
    assert rows == [dm.ODRow("W0-J00", "J11-E1", 300.0)]
    o = _csv(
        tmp_path / "od.txt",
        "* comment\n$O;D2\n* time\n7.00 7.30\n* factor\n2.0\nW0-J00 J11-E1 50\nN1-J11 J00-S0 10\n",
    )
    assert dm.read_od(o) == [
        dm.ODRow("W0-J00", "J11-E1", 200.0),
        dm.ODRow("N1-J11", "J00-S0", 40.0),
    ]
    bad = _csv(
        tmp_path / "bad.csv", "origin_edge,destination_edge,veh_per_hour\nW0-J00,Atlantis,10\n"
    )
    with pytest.raises(InputError) as exc:
        dm.routes_from_od(GRID, bad, tmp_path / "o.rou.xml")
    assert exc.value.field == "destination" and "Atlantis" in str(exc.value.found)
    neg = _csv(
        tmp_path / "neg.csv", "origin_edge,destination_edge,veh_per_hour\nW0-J00,J11-E1,-1\n"
    )
    with pytest.raises(InputError, match="veh_per_hour"):
        dm.read_od(neg)
    with pytest.raises(InputError, match="no such file"):
        dm.read_od(tmp_path / "missing.csv")


def test_connected_type_contract():
    assert dm.is_connected_type("cv") and dm.is_connected_type("cv_glosa")
    assert not dm.is_connected_type("hv") and not dm.is_connected_type("DEFAULT_VEHTYPE")
    xml = dm.vtype_distribution_xml(0.25)
    dist = ET.fromstring(xml)
    assert dist.get("id") == "mix"
    types = {v.get("id"): v for v in dist}
    assert (
        float(types["cv"].get("probability")) == 0.25
        and float(types["hv"].get("probability")) == 0.75
    )
    assert types["cv"].find("param").attrib == {"key": "connected", "value": "1"}
    assert types["hv"].find("param") is None


# ------------------------------------------------------------------ route parsing, hand counts
HAND_ROUTES = """<routes>
    <vTypeDistribution id="mix">
        <vType id="cv" vClass="passenger" probability="0.5"/>
        <vType id="hv" vClass="passenger" probability="0.5"/>
    </vTypeDistribution>
    <route id="r1" edges="S0-J00 J00-J01 J01-E0"/>
    <vehicle id="v1" type="cv" depart="10"><route edges="W0-J00 J00-J01 J01-E0"/></vehicle>
    <vehicle id="v2" type="hv" depart="20"><route edges="W0-J00 J00-J01 J01-J11 J11-N1"/></vehicle>
    <vehicle id="v4" type="hv" depart="30"><route edges="W0-J00"/></vehicle>
    <vehicle id="v5" type="hv" depart="100">
        <routeDistribution>
            <route edges="W0-J00 J00-S0" probability="1"/>
            <route edges="W0-J00 J00-J01 J01-S1" probability="3"/>
        </routeDistribution>
    </vehicle>
    <flow id="f1" type="cv" begin="0" end="1800" number="4" route="r1"/>
    <vehicle id="v3" type="hv" depart="950"><route edges="W0-J00 J00-J10 J10-N0"/></vehicle>
</routes>
"""


@pytest.fixture()
def hand_routes(tmp_path) -> Path:
    return _csv(tmp_path / "hand.rou.xml", HAND_ROUTES)


def test_turning_ratios_match_hand_count(grid, hand_routes):
    r = dm.read_routes(hand_routes)
    assert r.n_vehicles == pytest.approx(9.0)  # v1..v5 (v5 split over 2 routes) + 4 flow vehicles
    tr = dm.turning_ratios(grid, hand_routes)
    assert tr.shape == (grid.n_movements,)
    # W0-J00 is used by v1, v2, v3, v4, v5 = 5 vehicles; v4 ends there.
    assert tr[_mov(grid, "W0-J00", "J00-J01")] == pytest.approx(2.75 / 5)  # v1, v2, 3/4 of v5
    assert tr[_mov(grid, "W0-J00", "J00-S0")] == pytest.approx(0.25 / 5)
    assert tr[_mov(grid, "W0-J00", "J00-J10")] == pytest.approx(1 / 5)
    # J00-J01 carries v1, v2, 3/4 v5 and the 4 flow vehicles = 6.75
    assert tr[_mov(grid, "J00-J01", "J01-E0")] == pytest.approx(5 / 6.75)
    assert tr[_mov(grid, "J00-J01", "J01-J11")] == pytest.approx(1 / 6.75)
    assert tr[_mov(grid, "J00-J01", "J01-S1")] == pytest.approx(0.75 / 6.75)
    # unused approach -> 0; every from-edge sums to <= 1
    assert tr[_mov(grid, "N0-J10", "J10-J00")] == 0.0
    sums = np.bincount(np.asarray(grid.mov_in_edge), weights=tr, minlength=grid.n_edges)
    assert np.all(sums <= 1 + 1e-12)
    assert sums[grid.edge_index("W0-J00")] == pytest.approx(0.8)
    assert sums[grid.edge_index("J00-J01")] == pytest.approx(1.0)
    # several files as SUMO loads them: a types-only file changes nothing, the same file twice
    # gives the same ratios (counts add up over files)
    types = hand_routes.parent / "types_only.rou.xml"
    types.write_text('<routes><vType id="car"/></routes>')
    np.testing.assert_allclose(dm.turning_ratios(grid, [types, hand_routes]), tr)
    np.testing.assert_allclose(dm.turning_ratios(grid, [hand_routes, hand_routes]), tr)


def test_counts_and_entry_flows_by_hand(grid, hand_routes):
    r = dm.read_routes(hand_routes)
    ec = dm.edge_counts(grid, r)
    assert ec[grid.edge_index("W0-J00")] == pytest.approx(5)
    assert ec[grid.edge_index("J01-E0")] == pytest.approx(5)
    mc = dm.movement_counts(grid, r, begin_s=0, end_s=900)
    # departing before 900 s: v1, v2, 3/4 v5 and the flow record (begin 0) go J00-J01 -> ...
    assert mc[_mov(grid, "W0-J00", "J00-J10")] == 0.0  # v3 departs at 950
    ef = dm.entry_flows(grid, r, bin_s=900, begin_s=0, end_s=1800)
    assert ef.shape == (grid.n_edges, 2)
    w0, s0 = grid.edge_index("W0-J00"), grid.edge_index("S0-J00")
    assert ef[w0] * 900 == pytest.approx([4, 1])  # v1 v2 v4 v5 | v3
    assert ef[s0] * 900 == pytest.approx([2, 2])  # the flow's 4 vehicles, spread evenly
    assert ef.sum() * 900 == pytest.approx(r.n_vehicles)
    assert r.cv_share() == pytest.approx(5 / 9)  # v1 + the 4 flow vehicles
    d = dm.Demand.from_routes(grid, hand_routes, begin_s=0, end_s=1800, bin_s=900)
    assert d.entry_flow_vps.shape == (grid.n_edges, 2)
    assert d.mov_flow_vph[_mov(grid, "W0-J00", "J00-J10")] == pytest.approx(2.0)  # 1 veh in 0.5 h


def test_routes_refuse_trips_and_foreign_edges(grid, tmp_path):
    trips = _csv(
        tmp_path / "t.xml", '<routes><trip id="a" depart="0" from="W0-J00" to="J11-E1"/></routes>'
    )
    with pytest.raises(InputError, match="run duarouter"):
        dm.turning_ratios(grid, trips)
    other = _csv(
        tmp_path / "o.xml",
        '<routes><vehicle id="a" depart="0"><route edges="W0-J00 mars"/></vehicle></routes>',
    )
    with pytest.raises(InputError, match="'mars'"):
        dm.turning_ratios(grid, other)
    dangling = _csv(
        tmp_path / "d.xml", '<routes><vehicle id="a" depart="0" route="nope"/></routes>'
    )
    with pytest.raises(InputError, match="nope"):
        dm.read_routes(dangling)
    with pytest.raises(InputError, match="<net>"):
        dm.read_routes(GRID)


def test_cli_bad_input_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "r.rou.xml"
    rc = main(["demand", "generate", "--net", str(GRID), "--out", str(out), "--veh-per-hour", "-5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "veh-per-hour" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
    rc = main(["demand", "turning", "--net", str(GRID), "--routes", str(tmp_path / "none.rou.xml")])
    assert rc == 2 and "no such file" in capsys.readouterr().err


# ------------------------------------------------------------------ SUMO tool pipelines
@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("demand")
    kw = {"veh_per_hour": 1200.0, "cv_share": 0.3, "end_s": 3600}
    a = dm.generate_routes(GRID, d / "a.rou.xml", seed=11, **kw)
    b = dm.generate_routes(GRID, d / "b.rou.xml", seed=11, **kw)
    c = dm.generate_routes(GRID, d / "c.rou.xml", seed=12, **kw)
    return a, b, c


@pytest.mark.sumo
def test_generate_is_deterministic(generated):
    a, b, c = generated
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert b"generated on" not in a.read_bytes()  # no time stamps


@pytest.mark.sumo
def test_generate_volume_cv_share_and_types(generated, grid):
    a, _, _ = generated
    r = dm.read_routes(a)
    expected = dm.expected_volume("am_peak", 1200.0, 0, 3600)
    assert r.n_vehicles == round(expected)  # 1188: every trip routed
    assert set(r.veh_type) == {"cv", "hv"}
    # Bernoulli(0.3) on ~1200 vehicles: sd 0.013, allow 4 sd
    assert abs(r.cv_share() - 0.3) < 0.053
    assert np.all(np.diff(r.depart_s) >= 0)
    # the 15-min departures follow the am_peak ramp: the last quarter carries more than the first
    ef = dm.entry_flows(grid, r, bin_s=900, begin_s=0, end_s=3600).sum(0) * 900
    assert ef.sum() == pytest.approx(r.n_vehicles)
    assert ef[3] > ef[0]
    root = ET.parse(a).getroot()
    dist = root.find("vTypeDistribution")
    assert dist is not None and dist.get("id") == "mix"
    assert {v.get("id") for v in dist} == {"cv", "hv"}
    # fringe weighting: most trips start on an edge that enters the grid from outside
    fringe = {e for e in grid.edge_ids if not e.startswith("J")}
    starts = [r.edge_ids[r.route_edge[s]] for s in r.route_start[:-1]]
    assert np.mean([s in fringe for s in starts]) > 0.6


@pytest.mark.sumo
def test_generate_from_meta_json_and_empty(tmp_path):
    net = tmp_path / "g.net.xml"
    shutil.copy(GRID, net)
    (tmp_path / "g.meta.json").write_text(json.dumps({"base_veh_per_hour": 400}))
    out = dm.generate_routes(net, tmp_path / "pm.rou.xml", period="pm_peak", end_s=900, seed=1)
    n = dm.read_routes(out).n_vehicles
    assert n == round(dm.expected_volume("pm_peak", 400, 0, 900))
    empty = dm.generate_routes(net, tmp_path / "e.rou.xml", veh_per_hour=0, seed=1)
    assert dm.read_routes(empty).n_records == 0
    assert ET.parse(empty).getroot().find("vTypeDistribution") is not None


@pytest.mark.sumo
def test_route_sampler_reproduces_counts(generated, grid, tmp_path):
    a, _, _ = generated
    mc = dm.movement_counts(grid, a)
    top = np.argsort(-mc)[:10]
    counts = tmp_path / "counts.csv"
    lines = ["from_edge,to_edge,veh_per_hour"] + [
        f"{grid.mov_from_edge[m]},{grid.mov_to_edge[m]},{mc[m]:.0f}" for m in top
    ]
    counts.write_text("\n".join(lines) + "\n")
    out = dm.routes_from_counts(GRID, counts, tmp_path / "c.rou.xml", seed=5, n_candidates=1500)
    fit = dm.counts_fit(GRID, counts, out)
    assert len(fit) == 10
    assert (fit["geh"] < 1.0).all()
    rel = (fit["routed_vph"] - fit["target_vph"]).abs() / fit["target_vph"]
    assert rel.max() < 0.05
    # and the movement counts computed independently agree
    mc2 = dm.movement_counts(grid, out)
    assert np.allclose(mc2[top], mc[top], rtol=0.05, atol=1)
    assert set(dm.read_routes(out).veh_type) <= {"cv", "hv"}
    again = dm.routes_from_counts(GRID, counts, tmp_path / "c2.rou.xml", seed=5, n_candidates=1500)
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.sumo
def test_routes_from_od_csv(tmp_path):
    od = _csv(
        tmp_path / "od.csv",
        "origin_edge,destination_edge,veh_per_hour\nW0-J00,J11-E1,300\nN1-J11,J00-S0,120\n",
    )
    out = dm.routes_from_od(GRID, od, tmp_path / "od.rou.xml", seed=3, begin_s=0, end_s=1800)
    r = dm.read_routes(out)
    ends = {}
    for i in range(r.n_records):
        e = r.route_edge[r.route_start[i] : r.route_start[i + 1]]
        key = (r.edge_ids[e[0]], r.edge_ids[e[-1]])
        ends[key] = ends.get(key, 0) + 1
    assert set(ends) == {("W0-J00", "J11-E1"), ("N1-J11", "J00-S0")}
    assert abs(ends[("W0-J00", "J11-E1")] - 150) <= 1 and abs(ends[("N1-J11", "J00-S0")] - 60) <= 1
    assert r.depart_s.max() < 1800
    again = dm.routes_from_od(GRID, od, tmp_path / "od2.rou.xml", seed=3, begin_s=0, end_s=1800)
    assert out.read_bytes() == again.read_bytes()


@pytest.mark.sumo
def test_routes_from_od_with_taz_districts(tmp_path):
    taz = tmp_path / "districts.taz.xml"
    taz.write_text(
        '<additional><taz id="west" edges="W0-J00 W1-J10"/><taz id="east" edges="J11-E1 J01-E0"/></additional>\n'
    )
    od = _csv(tmp_path / "od.csv", "origin_edge,destination_edge,veh_per_hour\nwest,east,400\n")
    with pytest.raises(InputError, match="TAZ id"):
        dm.routes_from_od(
            GRID,
            _csv(tmp_path / "b.csv", "origin_edge,destination_edge,veh_per_hour\nwest,north,1\n"),
            tmp_path / "x.xml",
            taz_path=taz,
        )
    out = dm.routes_from_od(GRID, od, tmp_path / "taz.rou.xml", seed=1, end_s=900, taz_path=taz)
    r = dm.read_routes(out)
    assert abs(r.n_vehicles - 100) <= 1
    firsts = {r.edge_ids[r.route_edge[s]] for s in r.route_start[:-1]}
    lasts = {r.edge_ids[r.route_edge[e - 1]] for e in r.route_start[1:]}
    assert firsts <= {"W0-J00", "W1-J10"} and lasts <= {"J11-E1", "J01-E0"}
    assert len(firsts) == 2 and len(lasts) == 2  # both district edges are used


@pytest.mark.sumo
def test_sumo_runs_generated_routes(generated, tmp_path):
    from signals import sumo_tools

    a, _, _ = generated
    tripinfo = tmp_path / "tripinfo.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("sumo"),
            "-n",
            str(GRID),
            "-r",
            str(a),
            "--end",
            "400",
            "--no-step-log",
            "--tripinfo-output",
            str(tripinfo),
        ],
        timeout_s=60,
    )
    types = [t.get("vType") for t in ET.parse(tripinfo).getroot().iter("tripinfo")]
    assert len(types) > 20 and set(types) <= {"cv", "hv"} and "cv" in types


@pytest.mark.sumo
def test_cli_generate_and_turning_csv(tmp_path, capsys):
    out = tmp_path / "r.rou.xml"
    rc = main(
        [
            "demand",
            "generate",
            "--net",
            str(GRID),
            "--out",
            str(out),
            "--veh-per-hour",
            "400",
            "--end",
            "900",
            "--seed",
            "2",
        ]
    )
    assert rc == 0 and out.is_file()
    assert "vehicles" in capsys.readouterr().out
    csv_out = tmp_path / "turn.csv"
    rc = main(
        ["demand", "turning", "--net", str(GRID), "--routes", str(out), "--csv", str(csv_out)]
    )
    assert rc == 0
    import pandas as pd

    df = pd.read_csv(csv_out)
    assert list(df.columns) == ["signal", "from_edge", "to_edge", "dir", "vehicles", "ratio"]
    assert len(df) == Network.from_sumo(GRID).n_movements
    assert (df.groupby("from_edge")["ratio"].sum() <= 1 + 1e-5).all()  # CSV keeps 6 digits


@pytest.mark.sumo
def test_generate_tops_up_unroutable_pairs(tmp_path):
    """On a net with two disconnected parts many random pairs cannot be routed; the volume still
    follows the profile because lost pairs are replaced."""
    from signals import sumo_tools

    xy = {
        "a": (0, 0),
        "b": (300, 0),
        "c": (600, 0),
        "d": (0, 900),
        "e": (300, 900),
        "f": (600, 900),
    }
    (tmp_path / "i.nod.xml").write_text(
        "<nodes>"
        + "".join(f'<node id="{n}" x="{x}" y="{y}"/>' for n, (x, y) in xy.items())
        + "</nodes>\n"
    )
    edges = ["ab", "ba", "bc", "cb", "de", "ed", "ef", "fe"]
    (tmp_path / "i.edg.xml").write_text(
        "<edges>"
        + "".join(
            f'<edge id="{e}" from="{e[0]}" to="{e[1]}" numLanes="1" speed="13.9"/>' for e in edges
        )
        + "</edges>\n"
    )
    net = tmp_path / "island.net.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("netconvert"),
            "-n",
            str(tmp_path / "i.nod.xml"),
            "-e",
            str(tmp_path / "i.edg.xml"),
            "-o",
            str(net),
        ]
    )
    out = dm.generate_routes(
        net, tmp_path / "i.rou.xml", veh_per_hour=400, end_s=900, seed=4, fringe_factor=1.0
    )
    r = dm.read_routes(out)
    assert r.n_vehicles == round(dm.expected_volume("am_peak", 400, 0, 900)) == 78
    part = {e: int(e[0] in "def") for e in edges}
    for i in range(r.n_records):
        e = [r.edge_ids[k] for k in r.route_edge[r.route_start[i] : r.route_start[i + 1]]]
        assert len({part[x] for x in e}) == 1
    assert len(set(r.veh_id)) == 78 and np.all(np.diff(r.depart_s) >= 0)
