"""Network.from_sumo: arrays, foes, movements, and the errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signals.errors import InputError
from signals.network import Network, count_signalized_intersections

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"


@pytest.fixture(scope="module")
def grid(grid_net) -> Network:
    return Network.from_sumo(grid_net)


def test_counts_and_csr_offsets_are_consistent(grid):
    assert grid.n_signals >= 4
    assert grid.signal_link_start[-1] == grid.n_links
    assert grid.signal_mov_start[-1] == grid.n_movements
    assert grid.signal_phase_start[-1] == grid.n_phases
    # every phase state has one character per link of its signal
    for p in range(grid.n_phases):
        assert len(grid.phase_state[p]) == grid.signal_n_links[grid.phase_signal[p]]


def test_links_map_to_movements_of_their_own_signal(grid):
    veh = ~grid.link_is_ped
    assert (grid.link_movement[veh] >= 0).all()
    assert (grid.mov_signal[grid.link_movement[veh]] == grid.link_signal[veh]).all()
    for m in range(grid.n_movements):
        assert grid.edge_ids[grid.mov_in_edge[m]] == grid.mov_from_edge[m]
        assert grid.edge_ids[grid.mov_out_edge[m]] == grid.mov_to_edge[m]


def test_foes_are_symmetric_and_straight_crossings_conflict(grid):
    for s in range(grid.n_signals):
        f = grid.foes(s)
        assert (f == f.T).all()
        assert not f.diagonal().any()
    # at a 4-arm crossing, the two through movements of crossing roads are foes
    s = 0
    sl = grid.links_of(s)
    through = [i for i, d in enumerate(grid.link_dir[sl]) if d == "s"]
    pairs = [(a, b) for a in through for b in through if a < b and grid.foes(s)[a, b]]
    assert pairs, "crossing through movements must conflict"


def test_saturation_flow_follows_hcm_factors(grid):
    # HCM base 1900 pc/h/ln: a full through lane gives 1900/3600 veh/s
    s_through = grid.mov_sat_flow_vps[[d == "s" for d in grid.mov_dir]]
    lanes = grid.mov_lanes[[d == "s" for d in grid.mov_dir]]
    np.testing.assert_allclose(s_through, 1900 / 3600 * lanes)
    left = [d in ("l", "L") for d in grid.mov_dir]
    if any(left):
        assert (grid.mov_sat_flow_vps[left] < 1900 / 3600 * grid.mov_lanes[left] + 1e-9).all()
    np.testing.assert_allclose(grid.mov_free_flow_s, grid.mov_length_m / grid.mov_speed_mps)


def test_movement_green_share_matches_state(grid):
    s = 0
    state = grid.phase_state[grid.phases_of(s)][0]
    share = grid.movement_green_share(s, state)
    assert share.shape == (grid.movements_of(s).stop - grid.movements_of(s).start,)
    assert ((share >= 0) & (share <= 1)).all()
    assert share.max() == 1.0
    assert grid.movement_green_share(s, "r" * len(state)).sum() == 0


def test_arrays_are_immutable(grid):
    with pytest.raises(ValueError):
        grid.mov_sat_flow_vps[0] = 1.0


def test_signalized_intersection_count(grid):
    assert count_signalized_intersections(grid) == grid.n_signals


def test_unknown_signal_id_is_a_clear_error(grid):
    with pytest.raises(InputError, match="signal id"):
        grid.signal_index("nope")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Network.from_sumo(tmp_path / "missing.net.xml")


def test_not_a_sumo_net(tmp_path):
    p = tmp_path / "routes.xml"
    p.write_text('<?xml version="1.0"?>\n<routes><vehicle id="a" depart="0"/></routes>\n')
    with pytest.raises(InputError, match=r"expected a SUMO network \(<net>\), found <routes>"):
        Network.from_sumo(p)


def test_truncated_net(grid_net, tmp_path):
    p = tmp_path / "cut.net.xml"
    p.write_text(grid_net.read_text()[:5000])
    with pytest.raises(InputError, match="readable SUMO"):
        Network.from_sumo(p)


def test_net_without_traffic_lights(no_tls_net):
    with pytest.raises(InputError, match="at least one traffic light"):
        Network.from_sumo(no_tls_net)


@pytest.mark.parametrize("name", ["single", "arterial3", "grid2x2", "odd"])
def test_committed_test_networks_load(name):
    path = TEST_NETS / f"{name}.net.xml"
    if not path.exists():
        pytest.fail(f"committed test net {path} missing")
    net = Network.from_sumo(path)
    assert net.n_signals >= 1
    assert count_signalized_intersections(net) >= 1
