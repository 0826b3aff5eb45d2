"""Network recipes (signals.netbuild): committed test nets, recipe builds, OSM import, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sumolib

from signals import netbuild
from signals.cli import main
from signals.errors import InputError
from signals.network import Network, count_signalized_intersections

REPO = Path(__file__).resolve().parents[1]
TEST_NETS = REPO / "networks" / "test"


def _load(name: str) -> Network:
    return Network.from_sumo(TEST_NETS / f"{name}.net.xml")


# --------------------------------------------------------------------------- committed test nets
@pytest.mark.parametrize(
    ("name", "n_signals"), [("single", 1), ("arterial3", 3), ("grid2x2", 4), ("odd", 2)]
)
def test_committed_test_nets_load_and_every_signal_is_a_real_intersection(name, n_signals):
    net = _load(name)
    assert net.n_signals == n_signals
    assert count_signalized_intersections(net) == n_signals
    # every movement has a positive saturation flow and every phase state fits its signal
    assert (net.mov_sat_flow_vps > 0).all()
    for p in range(net.n_phases):
        assert len(net.phase_state[p]) == net.signal_n_links[net.phase_signal[p]]


def test_single_has_left_bays_and_a_protected_left_phase():
    net = _load("single")
    s = 0
    sl = net.links_of(s)
    left = np.array([d == "l" for d in net.link_dir[sl]])
    lanes = np.array(net.link_from_lane[sl])
    # the major-road lefts leave from their own (leftmost, index 2) bay lane
    major_left = [i for i in np.flatnonzero(left) if lanes[i].endswith("_2")]
    assert len(major_left) == 2
    # some phase gives the bay lefts a protected 'G' while every through link is red
    through = np.array([d == "s" for d in net.link_dir[sl]])
    states = net.phase_state[net.phases_of(s)]
    assert any(
        all(st[i] == "G" for i in major_left) and all(st[i] == "r" for i in np.flatnonzero(through))
        for st in states
    )


def test_odd_net_has_a_joined_cluster_a_t_junction_and_curved_edges():
    net = _load("odd")
    sizes = sorted(len(j) for j in net.signal_junctions)
    assert sizes == [1, 2]  # K+T1 joined by --tls.join, T2 alone
    t2 = net.signal_index("T2")
    assert len(net.approach_edges(t2)) == 3  # a plain T-junction
    joined = 1 - t2
    inside = set(net.signal_junctions[joined])
    outer = [
        e for e in net.approach_edges(joined) if net.edge_from[net.edge_index(e)] not in inside
    ]
    assert len(outer) == 5  # 3 skewed arms at K, the T stem and the curved link from T2 at T1
    raw = sumolib.net.readNet(str(TEST_NETS / "odd.net.xml"))
    curved = [e for e in raw.getEdges() if len(e.getShape()) > 2]
    assert len(curved) >= 4


def test_arterial3_marks_the_arterial_as_v2x_and_counts_each_road_once():
    net = _load("arterial3")
    # W -> A0 -> A1 -> A2 -> E: 280 + 350 + 380 + 270 = 1280 m between node centres, less the
    # junction areas; counted twice (both directions) it would be ~2.4 km
    assert 1.1 <= net.v2x_km <= 1.28
    assert net.signal_rsu.all()


@pytest.mark.sumo
def test_test_nets_rebuild_byte_identical(tmp_path):
    nets = netbuild.build_test_networks(tmp_path)
    assert set(nets) == {"single", "arterial3", "grid2x2", "odd"}
    for name, path in nets.items():
        for suffix in (".nod.xml", ".edg.xml", ".net.xml"):
            fresh = (tmp_path / f"{name}{suffix}").read_bytes()
            committed = (TEST_NETS / f"{name}{suffix}").read_bytes()
            assert fresh == committed, f"{name}{suffix} differs from a fresh rebuild"
        assert b"generated on" not in path.read_bytes()[:400]  # dated header replaced


# --------------------------------------------------------------------------- recipes
@pytest.mark.sumo
def test_v2x_corridor_is_deterministic_and_seed_dependent(tmp_path):
    a = netbuild.build("v2x-corridor", tmp_path / "a")
    b = netbuild.build("v2x-corridor", tmp_path / "b")
    c = netbuild.build("v2x-corridor", tmp_path / "c", seed=7)
    assert netbuild.sha256_file(a) == netbuild.sha256_file(b)
    assert netbuild.sha256_file(a) != netbuild.sha256_file(c)
    for suffix in (".nod.xml", ".edg.xml", ".v2x.json", ".meta.json"):
        assert (tmp_path / "a" / f"v2x-corridor{suffix}").read_bytes() == (
            tmp_path / "b" / f"v2x-corridor{suffix}"
        ).read_bytes()

    net = Network.from_sumo(a)
    assert 15 <= count_signalized_intersections(net) == net.n_signals <= 25
    assert 6.0 <= net.v2x_km <= 10.0
    assert net.signal_rsu.all()  # the whole arterial is a V2X corridor
    v2x = json.loads((tmp_path / "a" / "v2x-corridor.v2x.json").read_text())
    (corr,) = v2x["corridors"]
    assert corr["id"] == "A1" and len(corr["rsu_signals"]) == net.n_signals
    assert corr["centreline_km"] == pytest.approx(net.v2x_km, abs=1e-3)
    meta = json.loads((tmp_path / "a" / "v2x-corridor.meta.json").read_text())
    assert meta["seed"] == 20240502 and meta["base_veh_per_hour"] > 0
    assert meta["net_sha256"] == netbuild.sha256_file(a)
    assert meta["sumo_version"].startswith("1.")


@pytest.mark.sumo
def test_pilot_zone_has_448_signals_hierarchy_and_100km_v2x(tmp_path):
    path = netbuild.build("pilot-zone", tmp_path / "pz")
    net = Network.from_sumo(path)
    assert count_signalized_intersections(net) == 448
    assert net.n_signals == 448
    assert net.v2x_km >= 100.0
    raw = sumolib.net.readNet(str(path), withPrograms=True)

    # no signal at the fringe: every traffic light sits at a centre intersection
    tls_nodes = [n for n in raw.getNodes() if n.getType() == "traffic_light"]
    assert len(tls_nodes) == 448
    assert all(n.getID().startswith("r") and len(n.getIncoming()) >= 3 for n in tls_nodes)
    fringe = [n for n in raw.getNodes() if n.getID().startswith("f")]
    assert fringe and all(n.getType() != "traffic_light" for n in fringe)

    # T-junctions exist; hierarchy: lanes and speeds per class
    arms = np.array([len({e.getFromNode().getID() for e in n.getIncoming()}) for n in tls_nodes])
    assert (arms == 3).sum() >= 20 and (arms == 4).sum() > 300
    by_type: dict[str, set] = {}
    for e in raw.getEdges():
        by_type.setdefault(e.getType(), set()).add((e.getLaneNumber(), round(e.getSpeed() * 3.6)))
    assert by_type["arterial"] == {(3, 60), (4, 60)}  # 3 lanes, 4 on the left-turn bays
    assert by_type["collector"] == {(2, 50)}
    assert by_type["local"] == {(1, 40)}

    # irregular blocks: distances between adjacent intersections spread within ~150-450 m
    xy = {n.getID(): n.getCoord() for n in tls_nodes}
    blocks = [
        math.dist(xy[f"r{i:02d}c{j:02d}"], xy[f"r{i:02d}c{j + 1:02d}"])
        for i in range(16)
        for j in range(27)
    ] + [
        math.dist(xy[f"r{i:02d}c{j:02d}"], xy[f"r{i + 1:02d}c{j:02d}"])
        for i in range(15)
        for j in range(28)
    ]
    assert 140 <= min(blocks) < 200 and 330 < max(blocks) <= 460
    assert np.std(blocks) > 25 and 200 < np.mean(blocks) < 300

    # protected lefts where arterials cross (a phase with only left 'G'), 2-phase minor crossings
    n_phases = np.diff(net.signal_phase_start)
    s = net.signal_index("r03c04")  # arterial row 3 x arterial column 4
    sl = net.links_of(s)
    lefts = {i for i, d in enumerate(net.link_dir[sl]) if d == "l"}
    protected = [
        st
        for st in net.phase_state[net.phases_of(s)]
        if "G" in st and all(st[i] != "G" or i in lefts for i in range(len(st)))
    ]
    assert len(protected) == 2  # one protected-left phase per arterial
    minor = net.signal_index("r02c02")  # local x local
    greens = [st for st in net.phase_state[net.phases_of(minor)] if "G" in st or "g" in st]
    assert len(greens) == 2 and (n_phases == 6).sum() > 250

    v2x = json.loads((tmp_path / "pz" / "pilot-zone.v2x.json").read_text())
    assert v2x["total_centreline_km"] == pytest.approx(net.v2x_km, abs=1e-3)
    assert sum(c["centreline_km"] for c in v2x["corridors"]) == pytest.approx(net.v2x_km, abs=0.01)
    assert all(c["rsu_signals"] for c in v2x["corridors"])


# --------------------------------------------------------------------------- OSM import
@pytest.mark.sumo
def test_osm_import_loads_with_signals(tmp_path):
    path = netbuild.import_osm(TEST_NETS / "mini.osm", tmp_path / "osm")
    assert path == tmp_path / "osm" / "mini.net.xml"
    net = Network.from_sumo(path)
    assert net.n_signals >= 1
    assert count_signalized_intersections(net) >= 1
    assert net.n_movements > 0 and net.lane_km > 0


def test_osm_import_rejects_missing_and_non_osm_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        netbuild.import_osm(tmp_path / "nope.osm", tmp_path / "out")
    with pytest.raises(InputError, match="OpenStreetMap"):
        netbuild.import_osm(TEST_NETS / "single.nod.xml", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- bad input
def test_unknown_recipe_lists_known_recipes(tmp_path):
    with pytest.raises(InputError) as err:
        netbuild.build("no-such-zone", tmp_path / "out")
    assert "pilot-zone" in str(err.value) and "v2x-corridor" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_unknown_recipe_exits_2_with_one_line(tmp_path, capsys):
    rc = main(["network", "build", "no-such-zone", "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "recipe name" in err


def _recipe(tmp_path: Path, extra: str) -> Path:
    base = (REPO / "networks" / "v2x-corridor.toml").read_text()
    p = tmp_path / "r.toml"
    p.write_text(base + extra)
    return p


def test_unknown_recipe_key_is_rejected(tmp_path):
    with pytest.raises(InputError, match="n_signalz.*unknown key"):
        netbuild.load_recipe(_recipe(tmp_path, "n_signalz = 4\n"))


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('block_min_m = "x"\n', "block_min_m"),  # a centre key in a corridor recipe
        ("base_veh_per_hour = -5\n", "base_veh_per_hour"),
        ('kind = "ring"\n', "kind"),
        ('spacing_min_m = "far"\n', "spacing_min_m"),
    ],
)
def test_bad_recipe_values_are_rejected(tmp_path, extra, field):
    text = (REPO / "networks" / "v2x-corridor.toml").read_text()
    key = extra.split("=")[0].strip()
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(key + " "))
    p = tmp_path / "r.toml"
    p.write_text(text + "\n" + extra)
    with pytest.raises(InputError) as err:
        netbuild.load_recipe(p)
    assert err.value.field == field


def test_failed_build_leaves_no_output(tmp_path):
    text = (
        (REPO / "networks" / "pilot-zone.toml")
        .read_text()
        .replace("t_junctions = 30", "t_junctions = 5000")
    )
    p = tmp_path / "big.toml"
    p.write_text(text)
    with pytest.raises(InputError, match="T-junction"):
        netbuild.build(str(p), tmp_path / "out")
    assert list(tmp_path.iterdir()) == [p]  # neither out/ nor a temp dir left behind


@pytest.mark.sumo
def test_osm_import_without_roads_is_a_clear_error(tmp_path):
    osm = tmp_path / "paths.osm"
    osm.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
        '  <node id="1" lat="48.1" lon="11.5"/>\n  <node id="2" lat="48.101" lon="11.5"/>\n'
        '  <way id="9"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>\n</osm>\n'
    )
    with pytest.raises(InputError, match="No edges loaded"):
        netbuild.import_osm(osm, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paths.osm"]
