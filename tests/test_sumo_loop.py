"""The closed loop in SUMO (libsumo): safety under a cheating controller, modes, observations."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from signals.control.adaptive import ActuatedSumo, Controller, CVMaxPressure, MaxPressure, Stages
from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
from signals.network import Network
from signals.plans import (
    GREEN_CHARS,
)
from signals.safety import (
    SafetyConfig,
    conflicting_green,
    illegal_transitions,
    min_yellow_s,
)

pytestmark = pytest.mark.sumo

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
HORIZON_S = 300.0


@pytest.fixture(scope="module")
def arterial(tmp_path_factory) -> tuple[Path, Path, Network]:
    from signals.demand import generate_routes

    net = TEST_NETS / "arterial3.net.xml"
    routes = tmp_path_factory.mktemp("loop") / "arterial3.rou.xml"
    generate_routes(net, routes, veh_per_hour=1500, end_s=HORIZON_S, seed=7, cv_share=0.5)
    return net, routes, Network.from_sumo(net)


class Cheater(Controller):
    """Asks for a different (often conflicting, often nonexistent) stage every second."""

    name = "cheater"

    def act(self, obs):
        S = len(obs.stage)
        jump = (obs.stage + 1 + self.rng.integers(0, 3, S)) % 3
        junk = self.rng.integers(-3, 9, S)
        return np.where(self.rng.random(S) < 0.7, jump, junk)


def _runs(x: np.ndarray) -> list[tuple[int, int, int]]:
    """(value, start, length) of runs in a 1-D array."""
    cut = np.flatnonzero(np.diff(x)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(x)]])
    return [(int(x[a]), int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)]


def _check_log(net: Network, log: np.ndarray, min_green_s: float) -> None:
    """Every second SUMO showed: no conflict, legal transitions, min green, ITE yellow, all-red."""
    assert log.shape[1] == net.n_links and log.shape[0] >= 100
    assert not conflicting_green(net, log).any()
    assert not illegal_transitions(net, log[:-1], log[1:]).any()
    green = np.isin(log, np.frombuffer("".join(sorted(GREEN_CHARS)).encode(), np.uint8))
    y_min = min_yellow_s(net)
    allred = SafetyConfig().allred_min_s
    T = log.shape[0]
    stages = Stages.from_plans(net)
    for s in range(net.n_signals):
        stage_states = set(
            stages.stage_state[stages.signal_stage_start[s] : stages.signal_stage_start[s + 1]]
        )
        sl = net.links_of(s)
        # green runs of each state string last at least min green (the last run may be cut)
        states = np.array([row[sl].tobytes() for row in log])
        _, inv = np.unique(states, return_inverse=True)
        for _v, a, n in _runs(inv):
            st = states[a].decode()
            if st not in stage_states or a + n == T:
                continue
            assert n >= min_green_s, (net.signal_ids[s], st, a, n)
        foes = net.foes(s)
        for i, li in enumerate(range(sl.start, sl.stop)):
            if net.link_is_ped[li]:
                continue
            col = log[:, li]
            for v, a, n in _runs((col == ord("y")).astype(np.int64)):
                if v == 1 and a + n < T and a > 0:
                    assert n + 1e-9 >= y_min[li], (net.signal_ids[s], i, n)
                    end = a + n
                    # no foe turns green within the all-red after this yellow
                    later = green[end : end + int(math.ceil(allred)), sl][:, foes[i]]
                    starts = later & ~green[end - 1 : end - 1 + len(later), sl][:, foes[i]]
                    assert not starts.any(), (net.signal_ids[s], i, a)


@pytest.mark.parametrize("mode", ["program", "state"])
def test_cheating_controller_never_reaches_sumo(arterial, mode: str) -> None:
    net, routes, network = arterial
    cfg = LoopConfig(delta_t_s=1, min_green_s=6, max_green_s=25, mode=mode, audit=True)
    res = evaluate_online(
        net,
        routes,
        Cheater(),
        config=cfg,
        end_s=HORIZON_S,
        network=network,
        log_states=True,
        rng=np.random.default_rng(1),
    )
    st = res.loop
    assert st.violations == []
    assert st.audit_steps == int(HORIZON_S) and st.audit_mismatch == 0
    assert st.invalid > 50 and st.held > 50 and st.switches > 10
    _check_log(network, st.state_log, min_green_s=6)


def test_program_and_state_modes_agree(arterial) -> None:
    net, routes, network = arterial
    out = {}
    for mode in ("program", "state"):
        r = evaluate_online(
            net,
            routes,
            MaxPressure(),
            config=LoopConfig(mode=mode),
            end_s=HORIZON_S,
            network=network,
        )
        out[mode] = (r.loop.decisions, r.loop.switches, r.summary["avg_delay_s"])
    assert out["program"] == out["state"]
    assert out["program"][0] == HORIZON_S / 5 and out["program"][1] > 0


class Recorder(Controller):
    """Max-pressure that also keeps every observation."""

    name = "recorder"
    needs = frozenset({"queues", "counts", "cv", "cv_counts"})

    def reset(self, network, stages, rng=None):
        super().reset(network, stages, rng)
        self.obs = []
        self.mp = MaxPressure()
        self.mp.reset(network, stages, rng)

    def act(self, obs):
        self.obs.append(obs)
        return self.mp.act(obs)


def test_observations_and_connected_split(arterial, tmp_path) -> None:
    net, routes, network = arterial
    rec = Recorder()
    res = evaluate_online(
        net, routes, rec, end_s=HORIZON_S, network=network, out_dir=tmp_path, scenario="t"
    )
    q = np.array([o.queue_veh for o in rec.obs])
    n = np.array([o.approach_veh for o in rec.obs])
    cq = np.array([o.cv_queue_veh for o in rec.obs])
    cn = np.array([o.cv_approach_veh for o in rec.obs])
    assert q.sum() > 0 and n.sum() > q.sum()
    # connected vehicles in RSU range are a subset of all vehicles on the same lanes
    # (an E2 detector also counts a vehicle whose back is still on it, the lane count does not:
    # allow one such vehicle per lane of the movement, rarely)
    lanes = np.ceil(network.mov_lanes)[None, :] + 1e-9
    assert (cn <= n + lanes).all() and (cq <= q + lanes).all()
    assert (cn > n + 1e-9).mean() < 0.03
    assert 0 < cn.sum() < n.sum()
    assert (np.array([o.down_queue_veh for o in rec.obs]) >= 0).all()
    # metrics: connected / other split and the loop's figures on disk
    scopes = set(res.metrics["scope"])
    assert {"network", "network:connected", "network:other"} <= scopes
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["loop"]["decisions"] == len(rec.obs)
    assert (tmp_path / "results.parquet").is_file()


def test_cv_max_pressure_and_actuated_run(arterial, tmp_path) -> None:
    net, routes, network = arterial
    cv = evaluate_online(net, routes, CVMaxPressure(0.5), end_s=HORIZON_S, network=network)
    assert cv.loop.switches > 0 and math.isfinite(cv.summary["avg_delay_s"])
    act = evaluate_online(
        net, routes, ActuatedSumo(), end_s=HORIZON_S, network=network, out_dir=tmp_path
    )
    assert act.loop.decisions == 0 and math.isfinite(act.summary["avg_delay_s"])
    add = (tmp_path / "sumo" / "actuated.add.xml").read_text()
    assert add.count('type="actuated"') == network.n_signals


def test_sumo_actuated_at_the_loops_guideline_clearances(arterial, tmp_path) -> None:
    """SUMO's actuated logic on the change intervals our controllers get: the net's own program
    (no red clearance) is below the guideline; the guideline variant's file meets it at both
    severities and its change intervals are the loop's chains, stage to next stage."""
    from signals.evaluate.sumo_loop import loop_stages
    from signals.safety import validate_file

    net, routes, network = arterial
    res = {}
    for clearances in ("own", "guideline"):
        out = tmp_path / clearances
        ctl = ActuatedSumo(clearances=clearances)
        res[clearances] = evaluate_online(
            net, routes, ctl, end_s=HORIZON_S, network=network, out_dir=out
        )
        assert res[clearances].loop.decisions == 0
        res[clearances + "_file"] = out / "sumo" / "actuated.add.xml"
    rules = {v.rule for v in validate_file(res["own_file"], network)}
    assert "allred_too_short" in rules
    assert validate_file(res["guideline_file"], network) == []
    assert math.isfinite(res["guideline"].summary["avg_delay_s"])
    assert ActuatedSumo(clearances="guideline").name == "actuated_guideline"
    # the phases between two greens are the loop's chain between those stages
    stages, prog = loop_stages(network, None, LoopConfig())
    root = ET.parse(res["guideline_file"]).getroot()
    for tl in root.findall("tlLogic"):
        s = network.signal_index(tl.get("id"))
        phases = tl.findall("phase")
        starts = [i for i, ph in enumerate(phases) if ph.get("minDur") is not None]
        n = len(starts)
        assert n == int(stages.n_stages[s])
        for a in range(n):
            end = starts[a + 1] if a + 1 < n else len(phases)
            got = [
                (ph.get("state"), float(ph.get("duration"))) for ph in phases[starts[a] + 1 : end]
            ]
            want = prog.change_rows(s, a, (a + 1) % n)
            assert got == want and want
    with pytest.raises(ValueError, match="clearances"):
        ActuatedSumo(clearances="none")


def test_bench_loop_small(arterial, tmp_path) -> None:
    """`signals bench loop` end to end on the small arterial (the pilot zone is the real one)."""
    import argparse

    from signals.bench import loop as bench

    net, _, _ = arterial
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    args = p.parse_args(
        ["--net", str(net), "--work", str(tmp_path), "--end-s", "240", "--seeds", "1", "2"]
        + ["--veh-per-hour", "1500", "--penetrations", "1.0", "0.2"]
    )
    out = bench.run(args)
    json.dumps(out, allow_nan=False)  # the last line must be valid JSON
    assert out["tuning_seeds_used"] == [1, 2] and out["rsu_at"] == "rsu"
    assert len(out["timing"]) == 2
    for t in out["timing"]:
        assert t["loop_wall_s"] > 0 and t["static_wall_s"] > 0
        # the wall times are reported rounded to 0.01 s; the ratio from the unrounded ones must
        # lie within what that rounding allows
        lo = (t["loop_wall_s"] - 0.005) / (t["static_wall_s"] + 0.005)
        hi = (t["loop_wall_s"] + 0.005) / max(t["static_wall_s"] - 0.005, 1e-9)
        assert lo - 1e-3 <= t["overhead_ratio"] <= hi + 1e-3
    ratios = sorted(t["overhead_ratio"] for t in out["timing"])
    assert out["overhead_ratio_max"] == ratios[-1]
    ctl = out["controllers"]
    assert set(ctl) == {"webster", "max_pressure", "cv_max_pressure_100", "cv_max_pressure_20"}
    for c in ctl.values():  # every controller's costs, every seed
        assert len(c["per_seed"]) == 2
        for key in ("avg_delay_s", "trips_finished", "vehicles_left", "teleports", "stops"):
            o = c["over_seeds"][key]
            assert o["min"] <= o["mean"] <= o["max"]
    assert out["delay_max_pressure_s"] == ctl["max_pressure"]["over_seeds"]["avg_delay_s"]["mean"]
    assert out["state_mode"]["same_delay"] is True
    # no other vehicles at 100 % connected
    assert all(r["avg_delay_other_s"] is None for r in ctl["cv_max_pressure_100"]["per_seed"])
