"""Queue model: analytic checks (D/D/1 uniform delay, saturation flow), conservation under
hypothesis-generated plans and demands, determinism, batch == single runs, numpy == numba,
online replay == fixed-time evaluation. No SUMO runs (nets are read with sumolib only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.errors import InputError
from signals.evaluate.queue import (
    CALIBRATED,
    QueueModel,
    QueueParams,
    passthrough_from_routes,
    signal_sat_flow_vps,
    unsignalized_transitions,
)
from signals.network import Network
from signals.plans import PlanArrays, PlanSet, stack_arrays

NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
# analytic checks use the plain HCM model: no calibration terms, no permitted-turn reduction
PLAIN = QueueParams(permissive=False, stop_penalty_s=0.0, freeflow_loss_frac=0.0)


@pytest.fixture(scope="module")
def single() -> Network:
    return Network.from_sumo(NETS / "single.net.xml")


@pytest.fixture(scope="module")
def grid() -> Network:
    return Network.from_sumo(NETS / "grid2x2.net.xml")


def uniform_turning(net: Network) -> np.ndarray:
    t = np.zeros(net.n_movements)
    for e in np.unique(net.mov_in_edge):
        ms = np.flatnonzero(net.mov_in_edge == e)
        t[ms] = 0.9 / len(ms)  # 10 % of the vehicles end their trip on the edge
    return t


def fringe_sources(net: Network) -> np.ndarray:
    """Edges that start at a junction no other edge ends at... i.e. where traffic enters: edges
    whose from-junction is not a signal junction and that no movement feeds."""
    fed = set(net.mov_out_edge.tolist())
    pf, pt, _ = unsignalized_transitions(net)
    fed |= set(pt.tolist())
    return np.array([e for e in range(net.n_edges) if e not in fed], dtype=np.int64)


def two_stage_plan(
    net: Network,
    through_mov: int,
    cycle: float,
    green: float,
    y: float = 3,
    ar: float = 2,
    offset: float = 0,
):
    """Hand-built PlanArrays: stage 0 serves ``through_mov`` only, stage 1 everything else."""
    S, M = net.n_signals, net.n_movements
    mg = np.zeros((2, M))
    mg[0, through_mov] = 1.0
    mg[1, :] = 1.0
    mg[1, through_mov] = 0.0
    my = mg.copy()
    g1 = cycle - 2 * (y + ar) - green
    se = np.array([[green + y + ar, cycle]] * S, dtype=float)
    ge = np.array([[green, green + y + ar + g1]] * S, dtype=float)
    ye = ge + y
    return PlanArrays(
        cycle_s=np.full(S, float(cycle)),
        offset_s=np.full(S, float(offset)),
        n_stages=np.full(S, 2),
        stage_end_s=se,
        green_end_s=ge,
        yellow_end_s=ye,
        mov_green=mg,
        mov_yellow=my,
        mov_green_change=np.zeros((2, M)),
    )


def only_movement(net: Network, m: int, rate_vps: float):
    """Turning 1 onto movement m, demand only on the edge chain feeding m's approach."""
    turning = np.zeros(net.n_movements)
    turning[m] = 1.0
    flows = np.zeros(net.n_edges)
    e = int(net.mov_in_edge[m])
    pf, pt, _ = unsignalized_transitions(net)
    while e in set(pt.tolist()):  # walk up the split (turn-bay) edges to the first one
        e = int(pf[list(pt).index(e)])
    flows[e] = rate_vps
    return turning, flows


def through_movement(net: Network) -> int:
    return int(
        next(m for m in range(net.n_movements) if net.mov_dir[m] == "s" and net.mov_lanes[m] >= 1)
    )


# --------------------------------------------------------------------------- analytic checks
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_dd1_uniform_delay_equals_webster_hcm(single, backend):
    """Deterministic arrivals, undersaturated: delay per vehicle = HCM 6th Eq. 19-20 d1."""
    m = through_movement(single)
    C, G, lam = 60.0, 25.0, 0.2
    plan = two_stage_plan(single, m, C, G)
    turning, flows = only_movement(single, m, lam)
    qm = QueueModel(single, turning, flows, params=PLAIN, backend=backend)
    # steady state is periodic: the difference of two horizons n cycles apart is one full period
    h1, n = 12 * C, 6
    r1 = qm.evaluate(plan, h1)
    r2 = qm.evaluate(plan, h1 + n * C)
    d = (r2.mov_delay_vs[0, m] - r1.mov_delay_vs[0, m]) / (
        r2.mov_arrivals[0, m] - r1.mov_arrivals[0, m]
    )
    # all the approach's demand takes m: m has its lane group's whole saturation flow
    s = signal_sat_flow_vps(single, turning, PLAIN)[m]
    g = (
        G + PLAIN.yellow_used_s - PLAIN.startup_lost_s
    )  # HCM effective green g = G + Y + AR - l1 - l2
    X = lam * C / (s * g)
    assert X < 0.9
    d1 = 0.5 * C * (1 - g / C) ** 2 / (1 - min(1.0, X) * g / C)
    assert d == pytest.approx(d1, rel=0.01)
    assert r2.mov_arrivals[0, m] - r1.mov_arrivals[0, m] == pytest.approx(lam * n * C, rel=1e-6)
    # and everything that arrived in the period left in it (undersaturated)
    dis = r2.mov_discharged[0, m] - r1.mov_discharged[0, m]
    assert dis == pytest.approx(lam * n * C, rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_saturated_approach_discharges_at_saturation_flow(single, backend):
    m = through_movement(single)
    C, G = 60.0, 25.0
    plan = two_stage_plan(single, m, C, G)
    turning, flows = only_movement(single, m, 2.0)  # far above capacity
    qm = QueueModel(single, turning, flows, params=PLAIN, backend=backend)
    r1 = qm.evaluate(plan, 8 * C)
    r2 = qm.evaluate(plan, 14 * C)
    g = G + PLAIN.yellow_used_s - PLAIN.startup_lost_s
    rate = (r2.mov_discharged[0, m] - r1.mov_discharged[0, m]) / (6 * g)
    assert rate == pytest.approx(signal_sat_flow_vps(single, turning, PLAIN)[m], rel=1e-6)
    assert r2.row["n_backlog"][0] > 0  # the entry edge is full: vehicles wait to be inserted
    assert r2.approach_queue_max_veh.max() > 10


def test_sat_flow_factor_scales_capacity(single):
    m = through_movement(single)
    plan = two_stage_plan(single, m, 60, 25)
    turning, flows = only_movement(single, m, 2.0)
    a = QueueModel(single, turning, flows, params=PLAIN, backend="numpy").evaluate(plan, 900)
    b = QueueModel(
        single, turning, flows, params=PLAIN.replace(sat_flow_factor=0.5), backend="numpy"
    ).evaluate(plan, 900)
    assert b.mov_discharged[0, m] == pytest.approx(0.5 * a.mov_discharged[0, m], rel=0.05)


def test_spillback_blocks_discharge(grid):
    """An internal edge whose exit stays red fills to its storage; then the movement feeding it
    cannot discharge although it is green (a full downstream link blocks discharge)."""
    # movement m from a fringe edge into an internal edge o; every movement leaving o stays red
    m = next(
        m
        for m in range(grid.n_movements)
        if grid.mov_dir[m] == "s" and (grid.mov_in_edge == grid.mov_out_edge[m]).any()
    )
    o = int(grid.mov_out_edge[m])
    turning = np.zeros(grid.n_movements)
    turning[m] = 1.0
    turning[grid.mov_in_edge == o] = 1.0 / (grid.mov_in_edge == o).sum()
    flows = np.zeros(grid.n_edges)
    flows[grid.mov_in_edge[m]] = 0.5
    qm = QueueModel(grid, turning, flows, params=PLAIN, backend="numpy")
    qm.reset(1)
    green = np.zeros((1, grid.n_movements))
    green[0, m] = 1.0
    for _ in range(600):
        obs = qm.step(green, 1)
        assert (obs["occupancy_veh"][0] <= qm.topo.storage_veh + 1e-9).all()
    st = qm.state
    assert st.occ[0, o] == pytest.approx(qm.topo.storage_veh[o], rel=1e-6)
    assert st.q[0, m] > 10  # green, queued, but blocked
    assert st.prev_dis[0, m] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_fifo_lane_is_held_up_by_a_blocked_movement(grid, backend):
    """A shared lane is first-in first-out (Daganzo 1995): once the through movement's
    downstream edge is full, the right turn queued on the same lane stops too; with
    ``fifo_lanes="off"`` it keeps discharging on its own."""
    lane_of = {}
    for lane, m in zip(grid.link_from_lane, grid.link_movement, strict=True):
        if m >= 0:
            lane_of.setdefault(int(m), set()).add(lane)
    internal = set(grid.mov_in_edge.tolist())
    thr = next(
        m
        for m in range(grid.n_movements)
        if grid.mov_dir[m] == "s" and int(grid.mov_out_edge[m]) in internal
    )
    right = next(
        m
        for m in range(grid.n_movements)
        if m != thr
        and lane_of[m] == lane_of[thr]
        and grid.mov_out_edge[m] != grid.mov_out_edge[thr]
    )
    o = int(grid.mov_out_edge[thr])
    turning = np.zeros(grid.n_movements)
    turning[[thr, right]] = 0.5
    turning[grid.mov_in_edge == o] = 1.0 / (grid.mov_in_edge == o).sum()
    flows = np.zeros(grid.n_edges)
    flows[grid.mov_in_edge[thr]] = 0.3
    green = np.ones((1, grid.n_movements))
    green[0, grid.mov_in_edge == o] = 0.0  # the through's downstream edge never empties
    out = {}
    for fifo in ("signal", "off"):
        qm = QueueModel(
            grid, turning, flows, params=PLAIN.replace(fifo_lanes=fifo), backend=backend
        )
        qm.reset(1)
        for _ in range(900):
            qm.step(green, 1)
        st = qm.state
        assert st.occ[0, o] == pytest.approx(qm.topo.storage_veh[o], rel=1e-6)
        assert st.prev_dis[0, thr] == pytest.approx(0.0, abs=1e-9)
        out[fifo] = (st.q[0, right], st.prev_dis[0, right])
    # held up behind the blocked through: queued on a green with capacity to spare
    assert out["signal"][0] > 1.0
    assert out["signal"][1] == pytest.approx(0.0, abs=1e-9)
    assert out["off"][0] == pytest.approx(0.0, abs=1e-6)  # on its own it never queues


def test_permitted_movement_loses_capacity_to_opposing_flow(single):
    # a permissive left (yields to someone) with and without opposing traffic
    ys = QueueModel(single, uniform_turning(single), np.zeros(single.n_edges)).topo.yield_start
    yielding = [m for m in range(single.n_movements) if ys[m + 1] > ys[m]]
    assert yielding, "single.net has permissive movements"
    from signals.evaluate.queue import permitted_factor

    f = permitted_factor(np.array([0.0, 0.1, 0.5, 1.0]), QueueParams())
    assert f[0] == 1.0 and (np.diff(f) < 0).all() and f[-1] < 0.1


# ----------------------------------------------------------------------- random plans/demands
def random_plans(net: Network, rng: np.random.Generator, B: int) -> PlanArrays:
    base = PlanSet.from_network(net).to_arrays(net)
    out = []
    for _ in range(B):
        S, K = base.stage_end_s.shape
        cyc = np.zeros(S)
        se, ge, ye = (base.stage_end_s.copy(), base.green_end_s.copy(), base.yellow_end_s.copy())
        for s in range(S):
            t = 0.0
            for k in range(int(base.n_stages[s])):
                g = float(rng.integers(5, 50))
                ge[s, k] = t + g
                ye[s, k] = t + g + 3
                t += g + 5
                se[s, k] = t
            cyc[s] = t
            se[s, int(base.n_stages[s]) :] = t
            ge[s, int(base.n_stages[s]) :] = t
            ye[s, int(base.n_stages[s]) :] = t
        off = rng.uniform(0, 1, S) * cyc
        out.append(
            PlanArrays(
                cyc,
                off,
                base.n_stages,
                se,
                ge,
                ye,
                base.mov_green,
                base.mov_yellow,
                base.mov_green_change,
            )
        )
    return stack_arrays(out)


def random_demand(net: Network, rng: np.random.Generator, scale: float):
    t = np.zeros(net.n_movements)
    for e in np.unique(net.mov_in_edge):
        ms = np.flatnonzero(net.mov_in_edge == e)
        w = rng.uniform(0, 1, len(ms) + 1)
        t[ms] = (w / w.sum())[:-1]
    flows = np.zeros((net.n_edges, 3))
    src = fringe_sources(net)
    flows[src] = rng.uniform(0, scale, (len(src), 3))
    return t, flows


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.0, 1.5),
    poisson=st.booleans(),
    horizon=st.integers(1, 300),
)
def test_conservation_and_nonnegative(grid, seed, scale, poisson, horizon):
    rng = np.random.default_rng(seed)
    plans = random_plans(grid, rng, 2)
    turning, flows = random_demand(grid, rng, scale)
    qm = QueueModel(grid, turning, flows, bin_s=120, params=QueueParams(), backend="numpy")
    res = qm.evaluate(plans, horizon, seeds=[seed % 1000] if poisson else None)
    r = res.row
    tol = 1e-9 * max(1.0, r["demanded"].max())
    # vehicles in = vehicles out + vehicles inside; demand = inserted + still waiting to enter
    np.testing.assert_allclose(r["inserted"], r["exited"] + r["n_inside"], atol=tol)
    np.testing.assert_allclose(r["demanded"], r["inserted"] + r["n_backlog"], atol=tol)
    for k in ("demanded", "inserted", "exited", "queue_delay_vs", "stops", "n_inside", "n_backlog"):
        assert (r[k] >= -tol).all(), k
    assert (res.mov_delay_vs >= -tol).all() and (res.approach_queue_max_veh >= -tol).all()
    # a vehicle stops at most once per stop line it arrives at
    assert (res.mov_stops <= res.mov_arrivals + tol).all()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.05, 1.5), horizon=st.integers(50, 300))
def test_queues_never_negative_during_run(grid, seed, scale, horizon):
    rng = np.random.default_rng(seed)
    turning, flows = random_demand(grid, rng, scale)
    qm = QueueModel(grid, turning, flows, bin_s=200, backend="numpy")
    qm.reset(2, seeds=[1, 2])
    for _ in range(horizon // 10):
        green = (rng.uniform(0, 1, (2, grid.n_movements)) > 0.5).astype(float)
        obs = qm.step(green, 10)
        assert (obs["queue_veh"] >= -1e-9).all()
        assert (obs["occupancy_veh"] >= -1e-9).all()
        assert (obs["occupancy_veh"] <= qm.topo.storage_veh + 1e-9).all()


# ------------------------------------------------------------------- determinism and batching
def test_same_seed_same_numbers_and_seeds_differ(grid):
    rng = np.random.default_rng(3)
    plans = random_plans(grid, rng, 2)
    turning, flows = random_demand(grid, rng, 0.3)
    qm = QueueModel(grid, turning, flows, bin_s=300, backend="numba")
    a = qm.evaluate(plans, 900, seeds=[7, 8])
    b = qm.evaluate(plans, 900, seeds=[7, 8])
    np.testing.assert_array_equal(a.avg_delay_s, b.avg_delay_s)
    np.testing.assert_array_equal(a.mov_delay_vs, b.mov_delay_vs)
    assert a.avg_delay_s[0] != a.avg_delay_s[1]  # seed 7 vs 8 of plan 0
    assert list(a.plan_index) == [0, 0, 1, 1] and list(a.seed) == [7, 8, 7, 8]
    # common random numbers: both plans see the same arrivals for a seed
    assert a.n_vehicles[0] == a.n_vehicles[2] and a.n_vehicles[1] == a.n_vehicles[3]
    # Poisson draws are whole vehicles
    assert float(a.n_vehicles[0]).is_integer()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_batch_equals_single_runs(grid, backend):
    rng = np.random.default_rng(11)
    B = 4
    plans = random_plans(grid, rng, B)
    turning, flows = random_demand(grid, rng, 0.4)
    qm = QueueModel(grid, turning, flows, bin_s=300, backend=backend)
    batch = qm.evaluate(plans, 300)
    for b in range(B):
        one = PlanArrays(*(getattr(plans, f)[b] for f in PlanArrays.__dataclass_fields__))
        single = qm.evaluate(one, 300)
        np.testing.assert_allclose(single.avg_delay_s[0], batch.avg_delay_s[b], rtol=1e-12)
        np.testing.assert_allclose(
            single.mov_delay_vs[0], batch.mov_delay_vs[b], rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(
            single.approach_queue_p95_veh[0], batch.approach_queue_p95_veh[b], rtol=1e-6
        )


@pytest.mark.parametrize(("poisson", "fifo"), [(False, "signal"), (True, "signal"), (False, "off")])
def test_numba_kernel_agrees_with_numpy_reference(grid, poisson, fifo):
    rng = np.random.default_rng(5)
    plans = random_plans(grid, rng, 3)
    turning, flows = random_demand(grid, rng, 0.8)  # heavy: queues, spillback, backlog
    seeds = [4] if poisson else None
    params = CALIBRATED.replace(fifo_lanes=fifo)
    a = QueueModel(grid, turning, flows, bin_s=300, params=params, backend="numpy").evaluate(
        plans, 900, seeds=seeds
    )
    b = QueueModel(grid, turning, flows, bin_s=300, params=params, backend="numba").evaluate(
        plans, 900, seeds=seeds
    )
    for k in a.row:
        np.testing.assert_allclose(a.row[k], b.row[k], rtol=1e-9, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(a.mov_delay_vs, b.mov_delay_vs, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(a.mov_stops, b.mov_stops, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(
        a.approach_queue_max_veh, b.approach_queue_max_veh, rtol=1e-9, atol=1e-7
    )
    np.testing.assert_allclose(
        a.approach_queue_p95_veh, b.approach_queue_p95_veh, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(a.queue_samples, b.queue_samples, rtol=1e-5, atol=1e-5)
    assert a.row["backlog_delay_vs"].max() > 0  # the case really exercises spillback/backlog


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lane_group_queues_split_the_approach_queues(backend):
    """The model samples its queues per HCM lane group (a movement's queue shared over its
    groups by its flow on their lanes): on a junction with shared, exclusive-through and
    exclusive-left lanes the groups add up to their approach, and the long table holds the
    same lane-group figures as a SUMO run."""
    from signals.evaluate.queue import approach_samples
    from signals.lanes import lane_groups

    net = Network.from_sumo(NETS / "single.net.xml")
    rng = np.random.default_rng(3)
    turning, flows = random_demand(net, rng, 0.9)
    qm = QueueModel(net, turning, flows, bin_s=300, backend=backend)
    res = qm.evaluate(random_plans(net, rng, 2), 900, queue_sample_s=5.0)
    g = lane_groups(net)
    assert res.lane_groups.ids == g.ids and res.queue_samples.shape == (2, 180, g.n)
    app = approach_samples(res.queue_samples, res.group_approach, len(res.approach_edges))
    by_edge = {net.edge_ids[e]: a for a, e in enumerate(res.approach_edges)}
    for a in {by_edge[e] for e in g.edges if g.edges.count(e) > 1}:  # split approaches
        mine = [k for k, e in enumerate(g.edges) if by_edge[e] == a]
        np.testing.assert_allclose(app[..., a], res.queue_samples[..., mine].sum(-1), rtol=1e-5)
    assert res.queue_samples.max() > 1  # queues to split
    np.testing.assert_allclose(
        np.percentile(app, 95, axis=1), res.approach_queue_p95_veh, rtol=1e-6
    )
    df = res.to_frame(run_id="r", scenario="s", controller="c")
    lg = df[df.scope.str.startswith("lanegroup:") & (df.metric == "lane_queue_p95_veh")]
    assert set(lg.scope) == {f"lanegroup:{i}" for i in g.ids}
    assert {"lane_queue_p95_veh", "lane_queue_p95_max_veh"} <= set(df[df.scope == "network"].metric)


# -------------------------------------------------------------------------------- online use
def _stage_schedule(pa: PlanArrays, net: Network, t: int):
    """(M,) green and yellow shares of a fixed plan at second t (for replaying it online)."""
    g = np.zeros(net.n_movements)
    y = np.zeros(net.n_movements)
    for s in range(net.n_signals):
        tau = (t - pa.offset_s[s]) % pa.cycle_s[s]
        k = int(min(np.sum(pa.stage_end_s[s] <= tau), pa.n_stages[s] - 1))
        ms = net.movements_of(s)
        if tau < pa.green_end_s[s, k]:
            g[ms] = pa.mov_green[k, ms]
        else:
            g[ms] = pa.mov_green_change[k, ms]
            if tau < pa.yellow_end_s[s, k]:
                y[ms] = pa.mov_yellow[k, ms]
    return g, y


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_online_replay_of_fixed_plan_matches_evaluate(grid, backend):
    pa = PlanSet.from_network(grid).to_arrays(grid)
    rng = np.random.default_rng(2)
    turning, flows = random_demand(grid, rng, 0.3)
    qm = QueueModel(grid, turning, flows, bin_s=300, backend=backend)
    T = 240
    fixed = qm.evaluate(pa, T)
    qm.reset(2)
    for t in range(T):
        g, y = _stage_schedule(pa, grid, t)
        obs = qm.step(np.stack([g, g]), 1, yellow=np.stack([y, y]))
    online = qm.result()
    assert obs["t_s"] == T
    np.testing.assert_allclose(online.avg_delay_s, fixed.avg_delay_s[0], rtol=1e-6)
    np.testing.assert_allclose(online.mov_delay_vs[0], fixed.mov_delay_vs[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_online_schedule_in_one_call_matches_second_by_second(grid, backend):
    """run_schedule (a decision interval whose shares change within it, one kernel call) gives
    the same state as stepping each second with that second's shares."""
    pa = PlanSet.from_network(grid).to_arrays(grid)
    turning, flows = random_demand(grid, np.random.default_rng(4), 0.3)
    T = 180
    sched = [_stage_schedule(pa, grid, t) for t in range(T)]
    a = QueueModel(grid, turning, flows, bin_s=300, backend=backend)
    a.reset(1, seeds=[5])
    for g, y in sched:
        a.step(g[None], 1, yellow=y[None])
    b = QueueModel(grid, turning, flows, bin_s=300, backend=backend)
    b.reset(1, seeds=[5])
    for t0 in range(0, T, 20):  # 20 s intervals, distinct shares collected per interval
        part = sched[t0 : t0 + 20]
        keys = {}
        seg = [keys.setdefault((g.tobytes(), y.tobytes()), len(keys)) for g, y in part]
        uniq = {k: part[seg.index(i)] for k, i in keys.items()}
        G = np.stack([uniq[k][0][None] for k in keys])
        Y = np.stack([uniq[k][1][None] for k in keys])
        b.run_schedule(G, Y, np.array(seg))
    assert a.state.t == b.state.t == T
    np.testing.assert_allclose(b.state.q, a.state.q, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.result().avg_delay_s, a.result().avg_delay_s, rtol=1e-9)
    with pytest.raises(InputError):
        b.run_schedule(G, Y, np.array([0, len(G)]))


def test_online_stage_indices_and_observation(grid):
    pa = PlanSet.from_network(grid).to_arrays(grid)
    turning, flows = random_demand(grid, np.random.default_rng(1), 0.3)
    qm = QueueModel(grid, turning, flows, bin_s=300, backend="numba")
    obs = qm.reset(3, seeds=[1, 2, 3], stages=pa)
    assert obs["queue_veh"].shape == (3, grid.n_movements)
    stages = np.zeros((3, grid.n_signals), dtype=np.int64)
    for _ in range(30):
        obs = qm.step(stages, 5)
    assert obs["t_s"] == 150
    # stage 0 only: movements not green in stage 0 queue up, and they have positive pressure
    red = pa.mov_green[0] == 0
    assert obs["queue_veh"][:, red].sum() > obs["queue_veh"][:, ~red].sum()
    assert obs["pressure_veh"].shape == (3, grid.n_movements)
    assert obs["approach_queue_veh"].shape == (3, len(qm.topo.approach_edges))
    with pytest.raises(InputError):
        qm.step(np.full((3, grid.n_signals), 99, dtype=np.int64), 1)


# ----------------------------------------------------------------- topology, inputs, output
def test_split_edges_pass_vehicles_on(single):
    m = through_movement(single)
    plan = two_stage_plan(single, m, 60, 25)
    turning, flows = only_movement(single, m, 0.1)
    assert flows[single.mov_in_edge[m]] == 0  # demand enters upstream of the turn bay
    res = QueueModel(single, turning, flows, params=PLAIN).evaluate(plan, 600)
    assert res.mov_arrivals[0, m] > 40


def test_passthrough_from_handwritten_routes(single, tmp_path):
    m = through_movement(single)
    turning, flows = only_movement(single, m, 0.1)
    first = int(np.flatnonzero(flows)[0])
    route = [single.edge_ids[first], single.mov_from_edge[m], single.mov_to_edge[m]]
    p = tmp_path / "r.rou.xml"
    vehs = "\n".join(
        f'  <vehicle id="v{i}" depart="{i * 10}"><route edges="{" ".join(route)}"/></vehicle>'
        for i in range(30)
    )
    p.write_text(f"<routes>\n{vehs}\n</routes>\n")
    pf, pt, pr = passthrough_from_routes(single, p)
    k = np.flatnonzero(pf == first)
    assert len(k) == 1 and pt[k[0]] == single.mov_in_edge[m] and pr[k[0]] == pytest.approx(1.0)
    qm = QueueModel.from_routes(single, p, end_s=300, bin_s=300)
    assert qm.topo.ratio[m] == pytest.approx(1.0)
    res = qm.evaluate(PlanSet.from_network(single).to_arrays(single), 600)
    assert res.n_vehicles[0] == pytest.approx(30)
    assert res.throughput_veh[0] == pytest.approx(30, abs=1e-6)


def test_bad_inputs_raise_input_error(single):
    M, E = single.n_movements, single.n_edges
    with pytest.raises(InputError, match="turning"):
        QueueModel(single, np.zeros(M + 1), np.zeros(E))
    with pytest.raises(InputError, match="entry_flow_vps"):
        QueueModel(single, np.zeros(M), -np.ones(E))
    with pytest.raises(InputError, match="sum <= 1"):
        QueueModel(single, np.ones(M), np.zeros(E))
    with pytest.raises(InputError, match="bin_s"):
        QueueModel(single, np.zeros(M), np.zeros((E, 4)))
    with pytest.raises(InputError, match="fifo_lanes"):
        QueueModel(single, np.zeros(M), np.zeros(E), params=PLAIN.replace(fifo_lanes="some"))


def test_to_frame_long_schema(grid):
    turning, flows = random_demand(grid, np.random.default_rng(0), 0.3)
    qm = QueueModel(grid, turning, flows, bin_s=300)
    pa = PlanSet.from_network(grid).to_arrays(grid)
    res = qm.evaluate(stack_arrays([pa, pa]), 600, seeds=[1, 2])
    df = res.to_frame(run_id=["a", "b", "c", "d"], scenario="test")
    assert list(df.columns) == [
        "run_id",
        "scenario",
        "controller",
        "seed",
        "scope",
        "metric",
        "value",
        "unit",
    ]
    net_rows = df[(df.scope == "network") & (df.metric == "avg_delay_s")]
    np.testing.assert_allclose(net_rows.value.to_numpy(), res.avg_delay_s)
    assert set(net_rows.seed) == {1, 2}
    sig = df[df.scope.str.startswith("signal:") & (df.metric == "control_delay_s")]
    assert len(sig) == 4 * grid.n_signals
    assert df.scope.str.startswith("approach:").any()
    assert set(df[df.metric == "los"].value.dropna()) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    assert {"queue_p95_veh", "control_delay_s", "vc_ratio", "n_unfinished"} <= set(df.metric)


# ------------------------------------------------------------------- benchmarks (small, SUMO)
@pytest.fixture(scope="module")
def single_routes(tmp_path_factory) -> Path:
    from signals import demand

    out = tmp_path_factory.mktemp("qm_routes") / "single.rou.xml"
    return demand.generate_routes(NETS / "single.net.xml", out, veh_per_hour=900, end_s=600, seed=3)


@pytest.mark.sumo
def test_bench_hotpath_runs_and_reports(single_routes, tmp_path):
    import argparse

    from signals.bench import hotpath

    args = argparse.Namespace(
        net=str(NETS / "single.net.xml"),
        routes=str(single_routes),
        work=str(tmp_path),
        batch=4,
        horizon_s=300.0,
        meso_horizon_s=300.0,
        micro_horizon_s=300.0,
        no_sumo=False,
    )
    out = hotpath.run(args)
    for k in (
        "queue_model_plan_hours_per_s",
        "sumo_meso_plan_hours_per_s",
        "sumo_micro_plan_hours_per_s",
    ):
        assert out[k] > 0, k
    assert out["speedup_vs_meso"] == pytest.approx(
        out["queue_model_plan_hours_per_s"] / out["sumo_meso_plan_hours_per_s"], rel=0.05
    )
    assert out["batch"] == 4 and out["n_signals"] == 1 and out["peak_rss_mb"] > 0


def test_online_change_interval_keeps_discharging_into_yellow(grid):
    pa = PlanSet.from_network(grid).to_arrays(grid)
    turning, flows = random_demand(grid, np.random.default_rng(4), 0.5)
    qm = QueueModel(grid, turning, flows, bin_s=300, params=PLAIN, backend="numpy")
    qm.reset(1, stages=pa)
    s0 = np.zeros((1, grid.n_signals), dtype=np.int64)
    s1 = np.ones((1, grid.n_signals), dtype=np.int64)
    for _ in range(6):
        qm.step(s1, 10)  # build queues on stage 0's movements
    qm.step(s0, 20)
    ending = (pa.mov_green[0] > 0) & (pa.mov_green[1] == 0)
    before = qm.state.acc_m[0, 2, : grid.n_movements][ending].sum()
    qm.change(s0, s1, yellow_s=3, allred_s=2)
    during = qm.state.acc_m[0, 2, : grid.n_movements][ending].sum() - before
    # yellow_used_s = 2 s of the 3 s yellow still discharges, at most saturation flow
    sat = grid.mov_sat_flow_vps[ending].sum()
    assert 0 < during <= 2 * sat + 1e-9
    r = qm.result().row
    assert r["inserted"][0] == pytest.approx(r["exited"][0] + r["n_inside"][0])


def test_the_delay_has_one_definition_network_and_per_intersection(grid):
    """The free-flow loss share counts on the approaches as it does in the network delay."""
    pa = PlanSet.from_network(grid).to_arrays(grid)
    turning, flows = random_demand(grid, np.random.default_rng(2), 0.4)
    runs = [
        QueueModel(
            grid,
            turning,
            flows,
            bin_s=300,
            params=PLAIN.replace(freeflow_loss_frac=f),
            backend="numpy",
        ).evaluate(pa, 900.0)
        for f in (0.0, 0.5)
    ]
    ra, rb = runs
    extra = rb.approach_time_loss_s - ra.approach_time_loss_s
    assert extra.sum() > 0
    np.testing.assert_allclose(extra, 0.5 * ra.approach_moving_vs)
    # the network figure gains the same share of all time moving, the approaches' included
    gained = rb.total_delay_vs - ra.total_delay_vs
    assert np.all(gained >= extra.sum(axis=1) - 1e-6)
    assert np.all(rb.signal_delay_s[np.isfinite(ra.signal_delay_s)] > 0)


def test_shared_lanes_share_saturation_flow_by_demand(single):
    """The model's lane rule is Webster's (signals.lanes): movements on one shared lane run at
    the lane's v/s, the lane's saturation flow is 1900 x the flow-weighted harmonic mean of the
    turn factors (HCM Ch. 31), only the demand within an approach matters; off, the network's
    equal split."""
    from signals.network import BASE_SAT_FLOW_VPHPL, TURN_FACTOR

    lanes: dict[int, set] = {}
    for lane, m in zip(single.link_from_lane, single.link_movement, strict=True):
        if m >= 0:
            lanes.setdefault(int(m), set()).add(lane)
    one_lane = {m: next(iter(v)) for m, v in lanes.items() if len(v) == 1}
    by_lane: dict[str, list[int]] = {}
    for m, lane in one_lane.items():
        by_lane.setdefault(lane, []).append(m)
    # a lane all of whose movements use it alone, shared by two or more
    lane, ms = next(
        (ln, sorted(v))
        for ln, v in by_lane.items()
        if len(v) > 1
        and all(len(lanes[m]) == 1 for m in v)
        and {m for m, s in lanes.items() if ln in s} == set(v)
    )
    turning = np.zeros(single.n_movements)
    turning[ms] = np.linspace(1.0, 2.0, len(ms)) / np.linspace(1.0, 2.0, len(ms)).sum() * 0.9
    sat = signal_sat_flow_vps(single, turning, PLAIN)
    ratio = turning[ms] / sat[ms]
    np.testing.assert_allclose(ratio, ratio[0])  # one v/s on the lane
    share = turning[ms] / turning[ms].sum()
    f = np.array([TURN_FACTOR.get(single.mov_dir[m], 1.0) for m in ms])
    lane_sat = BASE_SAT_FLOW_VPHPL / 3600.0 / float(np.sum(share / f))
    assert sat[ms].sum() == pytest.approx(lane_sat)
    # scaling one approach's demand changes nothing; other approaches are unaffected by it
    e = single.mov_in_edge[ms[0]]
    scaled = turning.copy()
    scaled[single.mov_in_edge == e] *= 0.5
    np.testing.assert_allclose(signal_sat_flow_vps(single, scaled, PLAIN), sat)
    off = signal_sat_flow_vps(single, turning, PLAIN.replace(lane_groups=False))
    np.testing.assert_allclose(off, single.mov_sat_flow_vps)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sneakers_clear_when_a_yielding_green_ends(single, backend):
    # a permitted left held by a saturated opposing flow for the whole green: only the
    # sneakers of each green end get through (HCM 2000 Ch. 16 App. C: two per cycle)
    topo = QueueModel(single, uniform_turning(single), np.zeros(single.n_edges)).topo
    ys, yi = topo.yield_start, topo.yield_idx
    pairs = [
        (m, int(j))
        for m in range(single.n_movements)
        for j in yi[ys[m] : ys[m + 1]]
        if single.mov_in_edge[j] != single.mov_in_edge[m]
    ]
    assert pairs, "single.net has a movement yielding to another approach"
    m, j = pairs[0]
    tm, fm = only_movement(single, m, 0.3)
    tj, fj = only_movement(single, j, 1.0)  # far above its saturation flow: never a gap
    other = next(k for k in range(single.n_movements) if k not in (m, j))
    plan = two_stage_plan(single, other, cycle=60, green=10)  # m and j green together
    cycles = 30
    out = {}
    for n in (0.0, 2.0):
        p = PLAIN.replace(permissive=True, sneakers_per_green=n)
        qm = QueueModel(single, tm + tj, fm + fj, params=p, backend=backend)
        out[n] = qm.evaluate(plan, 60.0 * cycles)
    gain = out[2.0].mov_discharged[0, m] - out[0.0].mov_discharged[0, m]
    assert out[2.0].mov_discharged[0, m] > out[0.0].mov_discharged[0, m] + cycles
    assert gain == pytest.approx(2.0 * cycles, abs=4.0)  # two per green end, left queued
    # the opposing flow is not slowed by them
    assert out[2.0].mov_discharged[0, j] == pytest.approx(out[0.0].mov_discharged[0, j], rel=1e-9)
