"""HCM lane groups and their back of queue (issue 14, part 4), on a junction written by hand in
plain XML: a four-lane approach with a shared through-right lane, two exclusive through lanes
and an exclusive left lane; two shared lanes with the same movements; a one-lane approach.
The per-lane back of queue of each group is checked against SUMO's own --queue-output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foreign_nets import netconvert
from signals.evaluate import metrics as M
from signals.lanes import lane_groups
from signals.network import Network

NODES = """<nodes>
  <node id="C" x="0" y="0" type="traffic_light"/>
  <node id="W" x="-300" y="0"/> <node id="E" x="300" y="0"/>
  <node id="N" x="0" y="300"/> <node id="S" x="0" y="-300"/>
</nodes>"""
EDGES = """<edges>
  <edge id="W-C" from="W" to="C" numLanes="4" speed="13.9"/>
  <edge id="C-E" from="C" to="E" numLanes="2" speed="13.9"/>
  <edge id="E-C" from="E" to="C" numLanes="2" speed="13.9"/>
  <edge id="C-W" from="C" to="W" numLanes="2" speed="13.9"/>
  <edge id="N-C" from="N" to="C" numLanes="2" speed="13.9"/>
  <edge id="C-N" from="C" to="N" numLanes="2" speed="13.9"/>
  <edge id="S-C" from="S" to="C" numLanes="1" speed="13.9"/>
  <edge id="C-S" from="C" to="S" numLanes="2" speed="13.9"/>
</edges>"""
# (from, to, fromLane, toLane)
CONNECTIONS = [
    ("W-C", "C-S", 0, 0), ("W-C", "C-E", 0, 0), ("W-C", "C-E", 1, 0), ("W-C", "C-E", 2, 1),
    ("W-C", "C-N", 3, 1),
    ("E-C", "C-N", 0, 0), ("E-C", "C-W", 0, 0), ("E-C", "C-W", 1, 1), ("E-C", "C-S", 1, 1),
    ("N-C", "C-W", 0, 0), ("N-C", "C-S", 0, 0), ("N-C", "C-E", 0, 0),
    ("N-C", "C-W", 1, 1), ("N-C", "C-S", 1, 1), ("N-C", "C-E", 1, 1),
    ("S-C", "C-E", 0, 0), ("S-C", "C-N", 0, 0), ("S-C", "C-W", 0, 1),
]  # fmt: skip


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lanegroups")
    (d / "j.nod.xml").write_text(NODES)
    (d / "j.edg.xml").write_text(EDGES)
    cons = "".join(
        f'<connection from="{a}" to="{b}" fromLane="{i}" toLane="{j}"/>'
        for a, b, i, j in CONNECTIONS
    )
    (d / "j.con.xml").write_text(f"<connections>{cons}</connections>")
    out = d / "j.net.xml"
    netconvert("-n", d / "j.nod.xml", "-e", d / "j.edg.xml", "-x", d / "j.con.xml", "-o", out,
               "--no-turnarounds")  # fmt: skip
    return out


def test_lane_groups_follow_the_hcm_rule(net) -> None:
    """Exclusive lanes of one movement form one group, each shared lane its own."""
    network = Network.from_sumo(net)
    g = lane_groups(network)
    got = dict(zip(g.ids, g.lanes, strict=True))
    assert got == {
        "W-C:TR": ("W-C_0",),
        "W-C:T": ("W-C_1", "W-C_2"),  # two exclusive through lanes: one group
        "W-C:L": ("W-C_3",),
        "E-C:TR": ("E-C_0",),
        "E-C:LT": ("E-C_1",),
        "N-C:LTR#0": ("N-C_0",),  # two shared lanes, the same movements: a group each
        "N-C:LTR#1": ("N-C_1",),
        "S-C:LTR": ("S-C_0",),
    }
    assert g.n_lanes.tolist() == [len(x) for x in g.lanes]
    # every movement's queue is shared out over its groups in full
    assert np.allclose(np.bincount(g.mov, weights=g.weight, minlength=network.n_movements), 1.0)
    # the through movement of E-C uses both its (shared) lanes, by flow
    m = next(
        k for k in range(network.n_movements)
        if network.mov_from_edge[k] == "E-C" and network.mov_to_edge[k] == "C-W"
    )  # fmt: skip
    on = {g.ids[j]: w for k, j, w in zip(g.mov, g.group, g.weight, strict=True) if k == m}
    assert set(on) == {"E-C:TR", "E-C:LT"} and sum(on.values()) == pytest.approx(1.0)
    q = g.from_movements(np.eye(network.n_movements)[m])
    assert q.sum() == pytest.approx(1.0)


def test_lane_group_rows() -> None:
    """Per lane, over the samples; intersection and network over the groups that queue."""
    q = np.array([[0, 4, 0], [2, 8, 0], [4, 0, 0], [2, 4, 0]], dtype=float)  # (T, G)
    rows = M.lane_group_queue_rows(["a:T", "a:L", "b:T"], np.array([0, 0, 0]), np.array([2, 1, 1]),
                                   ["S0"], q)  # fmt: skip
    got = {(r.scope, r.metric): r.value for r in rows}
    assert got[("lanegroup:a:T", "lane_queue_mean_veh")] == pytest.approx(1.0)  # 8 / 4 / 2 lanes
    assert got[("lanegroup:a:L", "lane_queue_p95_veh")] == pytest.approx(
        np.percentile([4, 8, 0, 4], 95)
    )
    assert got[("lanegroup:b:T", "lane_queue_p95_veh")] == 0
    p95 = [np.percentile([0, 1, 2, 1], 95), np.percentile([4, 8, 0, 4], 95)]
    assert got[("signal:S0", "lane_queue_p95_veh")] == pytest.approx(np.mean(p95))  # not b:T
    assert got[("signal:S0", "lane_queue_p95_max_veh")] == pytest.approx(max(p95))
    assert got[("network", "lane_queue_mean_veh")] == pytest.approx((1.0 + 4.0) / 2)


@pytest.mark.sumo
def test_lane_group_queues_agree_with_sumos_queue_output(net, tmp_path) -> None:
    """Back of queue per lane of every lane group (halting vehicles on its lanes each second)
    against SUMO's --queue-output (queueing_length per lane over the 7.5 m a queued car takes:
    5 m length plus 2.5 m minGap), at 2,400 veh/h on the hand-written junction."""
    from sumo_queues import run_with_queue_output

    res, lane_q = run_with_queue_output(net, tmp_path, veh_per_hour=2400, seed=4)
    network = Network.from_sumo(net)
    df = res.metrics
    lg = df[df["scope"].str.startswith("lanegroup:")]
    ours = {m: lg[lg["metric"] == m].set_index("scope")["value"]
            for m in ("lane_queue_mean_veh", "lane_queue_p95_veh")}  # fmt: skip
    g = lane_groups(network)
    assert set(ours["lane_queue_mean_veh"].index) == {f"lanegroup:{i}" for i in g.ids}
    busy = 0
    for gid, lanes in zip(g.ids, g.lanes, strict=True):
        theirs = sum(lane_q.get(ln, np.zeros(901)) for ln in lanes)[1:] / len(lanes)
        mine = ours["lane_queue_mean_veh"][f"lanegroup:{gid}"]
        if mine < 0.3:
            continue
        busy += 1
        assert mine == pytest.approx(theirs.mean(), rel=0.25), gid
        p95 = ours["lane_queue_p95_veh"][f"lanegroup:{gid}"]
        assert p95 == pytest.approx(np.percentile(theirs, 95), rel=0.3), gid
    assert busy >= 7
    # the intersection's worst group is its largest group figure
    assert M.value(df, "lane_queue_p95_max_veh", "signal:C") == pytest.approx(
        ours["lane_queue_p95_veh"].max()
    )
