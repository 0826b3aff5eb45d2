"""SPaT / MAP messages and GLOSA set-up (signals.v2x)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from signals.cli import main
from signals.network import Network
from signals.plans import (
    PlanSet,
    SignalPlan,
)
from signals.safety import (
    validate,
)
from signals.v2x import (
    CyclicTiming,
    SpatWriter,
    glosa_routes,
    glosa_tls_params,
    map_messages,
    read_spat,
    spat_from_plans,
    with_tls_params,
    write_map,
)

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
TIME0_S = 7 * 3600.0


@pytest.fixture(scope="module")
def arterial() -> Network:
    return Network.from_sumo(TEST_NETS / "arterial3.net.xml")


def _offset_plans(net: Network, offsets: list[float]) -> PlanSet:
    base = PlanSet.from_network(net)
    plans = {}
    for sid, off in zip(net.signal_ids, offsets, strict=True):
        p: SignalPlan = base.plans[sid]
        plans[sid] = p.retimed([ph.green_s for ph in p.phases], offset_s=off)
    ps = PlanSet(plans)
    assert [v for v in validate(ps, net) if v.severity == "unsafe"] == []
    return ps


def _expected(net: Network, plans: PlanSet, s: int, t: int) -> list[dict]:
    """Brute force from the plan: the state in effect over [u, u+1) for every second u."""
    plan = plans.plans[net.signal_ids[s]]
    phases = plan.sumo_phases()
    C = int(round(plan.cycle_s))
    timeline = []
    for st, d in phases:
        timeline += [st] * int(round(d))
    assert len(timeline) == C

    def state(u: int) -> str:
        return timeline[int((u - plan.offset_s) % C)]

    out = []
    for i in range(int(net.signal_n_links[s])):
        c = state(t)[i]
        a = t
        while state(a - 1)[i] == c and a > t - 3 * C:
            a -= 1
        b = t + 1
        while state(b)[i] == c and b < t + 3 * C:
            b += 1
        const = b >= t + 3 * C
        ns = b
        while not const and state(ns)[i] != c:
            ns += 1
        ne = ns
        while not const and state(ne)[i] == c:
            ne += 1
        out.append(
            {
                "state": c,
                "start_s": None if const else float(a),
                "end_s": None if const else float(b),
                "next_state": c if const else state(b)[i],
                "next_start_s": None if const else float(ns),
                "next_dur_s": None if const else float(ne - ns),
            }
        )
    return out


def _check_fixed_stream(net: Network, plans: PlanSet, msgs: list[dict], horizon: int) -> None:
    seen = set()
    for m in msgs:
        t = m["t_s"]
        assert float(t).is_integer()
        inter = m["intersections"][0]
        s = net.signal_index(inter["name"])
        seen.add((int(t), s))
        exp = _expected(net, plans, s, int(t))
        assert inter["status"] == "fixedTimeOperation"
        for st, e in zip(inter["states"], exp, strict=True):
            raw = st["raw"]
            assert raw["state"] == e["state"]
            assert raw["start_s"] == e["start_s"]
            # fixed-time: min = max = likely = the exact end
            assert raw["min_end_s"] == raw["max_end_s"] == raw["likely_end_s"] == e["end_s"]
            assert raw["next_state"] == e["next_state"]
            assert raw["next_start_s"] == e["next_start_s"]
            assert raw["next_dur_s"] == e["next_dur_s"]
            if e["end_s"] is not None:
                tm = st["state-time-speed"][0]["timing"]
                assert tm["likelyTime"] == int(round(((TIME0_S + e["end_s"]) % 3600) * 10)) % 36000
    assert seen == {(t, s) for t in range(horizon + 1) for s in range(net.n_signals)}


def test_spat_from_plans_matches_plan(arterial: Network, tmp_path: Path) -> None:
    plans = _offset_plans(arterial, [0.0, 17.0, 43.0])
    n = spat_from_plans(arterial, plans, tmp_path / "spat.jsonl", end_s=200, every="1hz")
    msgs = read_spat(tmp_path / "spat.jsonl")
    assert n == len(msgs) == 201 * arterial.n_signals
    _check_fixed_stream(arterial, plans, msgs, 200)


@pytest.mark.sumo
def test_spat_from_fixed_time_run_matches_plan(arterial: Network, tmp_path: Path) -> None:
    """SUMO runs the plans; the stream recorded from what SUMO shows equals the plan exactly."""
    from signals.demand import generate_routes
    from signals.evaluate.sumo_loop import evaluate_online

    plans = _offset_plans(arterial, [5.0, 29.0, 61.0])
    routes = tmp_path / "r.rou.xml"
    generate_routes(arterial.path, routes, veh_per_hour=600, end_s=200, seed=3, cv_share=0.5)
    w = SpatWriter(arterial, tmp_path / "run.jsonl", every="1hz")
    res = evaluate_online(
        arterial.path, routes, None, plans=plans, end_s=200, network=arterial, spat=w
    )
    msgs = read_spat(tmp_path / "run.jsonl")
    _check_fixed_stream(arterial, plans, msgs, 200)
    assert res.summary["n_vehicles"] > 0
    # same stream as the plan-only computation, message for message
    spat_from_plans(arterial, plans, tmp_path / "plan.jsonl", end_s=200, every="1hz")
    assert msgs == read_spat(tmp_path / "plan.jsonl")


@pytest.mark.sumo
def test_online_spat_bounds_hold(arterial: Network, tmp_path: Path) -> None:
    """Max-pressure in the loop: every announced bound holds against what happened."""
    from signals.control.adaptive import MaxPressure
    from signals.demand import generate_routes
    from signals.evaluate.sumo_loop import LoopConfig, evaluate_online

    routes = tmp_path / "r.rou.xml"
    generate_routes(arterial.path, routes, veh_per_hour=1500, end_s=240, seed=5, cv_share=0.5)
    w = SpatWriter(arterial, tmp_path / "mp.jsonl", every="1hz", fmt="csae53")
    res = evaluate_online(
        arterial.path,
        routes,
        MaxPressure(),
        end_s=240,
        network=arterial,
        spat=w,
        config=LoopConfig(audit=True),
        log_states=True,
    )
    msgs = read_spat(tmp_path / "mp.jsonl")
    S, L = arterial.n_signals, arterial.n_links
    T = 241
    state = np.zeros((T, L), dtype="U1")
    raws: dict[tuple[int, int], list[dict]] = {}
    for m in msgs:
        inter = m["intersections"][0]
        s = arterial.signal_index(inter["name"])
        t = int(m["t_s"])
        sl = arterial.links_of(s)
        raws[(t, s)] = [ph["raw"] for ph in inter["phases"]]
        state[t, sl] = [r["state"] for r in raws[(t, s)]]
        assert inter["status"] == "trafficDependentOperation"
    assert len(raws) == T * S
    # the stream shows what SUMO showed (SUMO's state at t+1 is the one in effect from t)
    log = res.loop.state_log
    assert (state[:-1] == log.view("S1").astype("U1")).all()
    checked = 0
    for (t, s), rows in raws.items():
        sl = arterial.links_of(s)
        for i, r in zip(range(sl.start, sl.stop), rows, strict=True):
            col = state[:, i]
            later = np.flatnonzero(col[t:] != col[t])
            if not len(later):
                continue  # no change before the horizon
            end = t + int(later[0])
            assert r["min_end_s"] is not None and r["min_end_s"] <= end + 1e-9
            if r["max_end_s"] is not None:
                assert end <= r["max_end_s"] + 1e-9
            if r["likely_end_s"] is not None:
                assert end == pytest.approx(r["likely_end_s"])
            assert col[end] == r["next_state"] or r["likely_end_s"] is None
            checked += 1
    assert checked > 1000
    # CSAE countdown encoding: tenths of a second from the message time
    m = msgs[-1]
    ph = m["intersections"][0]["phases"][0]
    cnt = ph["phaseStates"][0]["timing"]["counting"]
    assert cnt["startTime"] == 0
    assert cnt["minEndTime"] == int(round((ph["raw"]["min_end_s"] - m["t_s"]) * 10))


def test_cyclic_timing_constant_link(arterial: Network) -> None:
    """A link that never changes has no end (J2735/CSAE 36000 'more than an hour')."""
    s = 0
    n = int(arterial.signal_n_links[s])
    progs = []
    for k in range(arterial.n_signals):
        nk = int(arterial.signal_n_links[k])
        progs.append([("G" + "r" * (nk - 1), 30.0), ("G" + "y" * (nk - 1), 4.0)])
    ct = CyclicTiming(arterial, progs, offsets_s=np.zeros(arterial.n_signals))
    lt = ct.at(10.0)
    i0 = arterial.links_of(s).start
    assert math.isinf(lt.likely_end_s[i0]) and chr(lt.state[i0]) == "G"
    assert lt.likely_end_s[i0 + 1] == 30.0 and chr(lt.next_state[i0 + 1]) == "y"
    assert lt.next_start_s[i0 + n - 1] == 34.0  # red again at the next cycle


def test_map_messages(arterial: Network, tmp_path: Path) -> None:
    msgs = map_messages(arterial)
    assert [m["intersection"]["name"] for m in msgs] == list(arterial.signal_ids)
    for s, m in enumerate(msgs):
        inter = m["intersection"]
        groups = sorted(c["signalGroup"] for ln in inter["laneSet"] for c in ln["connectsTo"])
        assert groups == sorted(int(i) + 1 for i in arterial.link_index[arterial.links_of(s)])
        for ln in inter["laneSet"]:
            nodes = np.array(ln["nodeList_m"])
            if ln["laneAttributes"]["directionalUse"] == "ingressPath":
                # node lists start at the stop line: the first node is the nearest to the junction
                assert np.hypot(*nodes[0]) <= np.hypot(*nodes[-1])
                assert ln["connectsTo"]
            for c in ln["connectsTo"]:
                egress = [x for x in inter["laneSet"] if x["laneID"] == c["connectingLane"]["lane"]]
                assert egress and egress[0]["laneAttributes"]["directionalUse"] == "egressPath"
    out = write_map(arterial, tmp_path / "maps")
    assert len(out) == arterial.n_signals and all(p.is_file() for p in out)
    one = write_map(arterial, tmp_path / "all.json", signals=[arterial.signal_ids[1]])
    doc = json.loads(one[0].read_text())
    assert [m["intersection"]["name"] for m in doc["messages"]] == [arterial.signal_ids[1]]


def test_glosa_setup(arterial: Network, tmp_path: Path) -> None:
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        "<routes>\n"
        '  <vTypeDistribution id="mix">\n'
        '    <vType id="cv" probability="0.5"/>\n'
        '    <vType id="hv" probability="0.5"/>\n'
        "  </vTypeDistribution>\n"
        '  <vehicle id="a" type="cv" depart="0"><route edges="x"/></vehicle>\n'
        "</routes>\n"
    )
    out = glosa_routes(routes, tmp_path / "g.rou.xml")
    root = ET.parse(out).getroot()
    params = {
        vt.get("id"): [p.get("key") for p in vt.findall("param")] for vt in root.iter("vType")
    }
    assert params == {"cv": ["has.glosa.device"], "hv": []}
    assert len(root.findall("vehicle")) == 1
    rng = glosa_tls_params(arterial, 250.0)
    assert all(v == ("250" if arterial.signal_rsu[i] else "0") for i, v in enumerate(rng.values()))
    add = '<additional>\n    <tlLogic id="A0" programID="x" offset="0">\n    </tlLogic>\n</additional>'
    got = ET.fromstring(with_tls_params(add, {"A0": "250"}))
    assert got.find("tlLogic/param").get("value") == "250"


def test_cli_v2x(arterial: Network, tmp_path: Path, capsys) -> None:
    net = str(arterial.path)
    assert main(["v2x", "map", net, "--out", str(tmp_path / "m.json")]) == 0
    assert (tmp_path / "m.json").is_file()
    out = tmp_path / "s.jsonl"
    assert main(["v2x", "spat", net, "--out", str(out), "--end", "60", "--format", "csae53"]) == 0
    msgs = read_spat(out)
    assert msgs and msgs[0]["standard"] == "T/CSAE 53-2020"
    # change mode: a signal's next message only when something changed
    ts = [m["t_s"] for m in msgs if m["intersections"][0]["name"] == arterial.signal_ids[0]]
    assert ts[0] == 0 and len(ts) < 61
    capsys.readouterr()
    assert main(["v2x", "spat", net, "--out", str(out), "--signals", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


@pytest.mark.sumo
def test_bench_glosa_small(arterial: Network, tmp_path: Path) -> None:
    """`signals bench glosa` end to end on the small arterial's V2X corridor."""
    import argparse

    from signals.bench import glosa as bench

    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    args = p.parse_args(
        ["--net", str(arterial.path), "--work", str(tmp_path), "--end-s", "300", "--seeds", "1"]
        + ["--veh-per-hour", "900"]
    )
    out = bench.run(args)
    json.dumps(out, allow_nan=False)
    assert out["n_rsu_signals"] == int(arterial.signal_rsu.sum()) > 0
    row = out["per_seed"][0]
    assert row["finished_cv_with"] > 0 and row["finished_cv_without"] > 0
    assert out["stops_per_cv_without"] >= 0 and out["stops_per_cv_with"] >= 0
    # the GLOSA run really equipped the connected vehicles and only those
    assert (tmp_path / "seed1-300s" / "am_peak.glosa.rou.xml").read_text().count(
        "has.glosa.device"
    ) == 1


def _glosa_config(tmp_path: Path, extra: str = "", evaluator: str = "sumo") -> Path:
    cfg = tmp_path / "glosa.toml"
    cfg.write_text(
        f"""name = "glosa"
[network]
path = "{TEST_NETS / "arterial3.net.xml"}"
[sim]
end_s = 600
evaluator = "{evaluator}"
[[scenarios]]
name = "base"
veh_per_hour = 900
cv_share = 0.5
[[scenarios]]
name = "glosa"
veh_per_hour = 900
cv_share = 0.5
glosa_range_m = {extra or "300"}
[run]
controllers = ["webster", "green-wave", "max-pressure"]
seeds = [1]
[outputs]
trajectories = false
"""
    )
    return cfg


@pytest.mark.sumo
def test_experiment_scenarios_run_glosa_on_exported_plans(tmp_path) -> None:
    """A scenario with ``glosa_range_m``: the plans a run exports (Webster, the green wave) get
    SUMO's GLOSA at the RSU signals and the connected vehicles the device, so they stop less
    than in the same demand without it; max-pressure's signals announce no switch times and it
    runs as without GLOSA, to the same numbers."""
    import pandas as pd

    from signals.experiment import run_experiment

    df = pd.read_parquet(
        run_experiment(_glosa_config(tmp_path), tmp_path / "out", log=lambda *a: None)
    )
    stops = df[(df.scope == "network:connected") & (df.metric == "avg_stops")].pivot_table(
        index="controller", columns="scenario", values="value"
    )
    for c in ("webster", "green-wave"):
        assert stops.loc[c, "glosa"] < 0.6 * stops.loc[c, "base"], c
    assert stops.loc["max-pressure", "glosa"] == stops.loc["max-pressure", "base"]
    prog = (tmp_path / "out" / "runs" / "glosa__webster__s1" / "webster.add.xml").read_text()
    assert 'key="device.glosa.range" value="300"' in prog


def test_glosa_scenarios_are_checked_when_the_config_loads(tmp_path) -> None:
    from signals.errors import InputError
    from signals.experiment import load_experiment

    with pytest.raises(InputError, match="glosa_range_m"):
        load_experiment(_glosa_config(tmp_path, "-5"))
    with pytest.raises(InputError, match="glosa_range_m.*queue model"):
        load_experiment(_glosa_config(tmp_path, evaluator="queue-model"))
