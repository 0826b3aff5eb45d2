"""SUMO evaluation: option building (unit) and libsumo runs on the committed 2x2 grid (sumo).

The acceptance check of issue 2: on the same run, averages over finished trips agree with SUMO's
own trip statistics (--duration-log.statistics / --statistic-output) within 1 %, and the headline
delay also counts vehicles still running or not yet inserted at the end.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signals import sumo_tools
from signals.cli import main
from signals.errors import InputError
from signals.evaluate import metrics as M
from signals.evaluate.sumo_run import (
    Approaches,
    OutputFiles,
    RunSpec,
    SumoRunError,
    SumoSimulation,
    evaluate_sumo,
    read_meso_queue_output,
    static_green_share,
    sumo_options,
)
from signals.network import Network

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "networks" / "test" / "grid2x2.net.xml"
END_S = 200  # demand runs 0-200 s, heavy enough that many vehicles are still running at 200 s


@pytest.fixture(scope="module")
def grid() -> Network:
    return Network.from_sumo(GRID)


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> Path:
    """Random routed trips (randomTrips, seed 7) typed alternately 'cv' (connected) and 'hv'."""
    d = tmp_path_factory.mktemp("routes")
    raw = d / "raw.rou.xml"
    sumo_tools.run(
        [
            sumo_tools.tool("randomTrips.py"),
            "-n",
            GRID,
            "-o",
            d / "trips.xml",
            "-r",
            raw,
            "-b",
            "0",
            "-e",
            str(END_S),
            "-p",
            "0.5",
            "--fringe-factor",
            "20",
            "--seed",
            "7",
            "--validate",
        ],
        cwd=d,
    )
    tree = ET.parse(raw)
    root = tree.getroot()
    for i, t in enumerate(("cv", "hv")):
        root.insert(i, ET.Element("vType", {"id": t, "vClass": "passenger"}))
    for i, v in enumerate(root.iter("vehicle")):
        v.set("type", "cv" if i % 2 == 0 else "hv")
    out = d / "grid.rou.xml"
    tree.write(out)
    return out


@pytest.fixture(scope="module")
def micro(routes, grid, tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    res = evaluate_sumo(GRID, routes, end_s=END_S, seed=0, out_dir=out, network=grid, scenario="t")
    return res, out


# ------------------------------------------------------------------------ options (unit)
def test_sumo_options_switch_on_sumo_outputs_and_let_extra_options_override(tmp_path):
    rou = tmp_path / "r.rou.xml"
    rou.write_text("<routes/>")
    prog = tmp_path / "p.add.xml"
    prog.write_text("<additional/>")
    spec = RunSpec.make(
        GRID,
        str(rou),
        program=prog,
        end_s=100,
        seed=5,
        extra_options=["--time-to-teleport", "-1", "-a", "extra.add.xml"],
    )
    files = OutputFiles.in_dir(tmp_path / "w")
    argv = sumo_options(spec, files)
    joined = " ".join(argv)
    for opt in (
        "--tripinfo-output.write-unfinished",
        "--tripinfo-output.write-undeparted",
        "--statistic-output",
        "--device.emissions.probability 1",
        "--seed 5",
        "--end 100",
    ):
        assert opt in joined
    assert argv.count("--time-to-teleport") == 1 and "-1" in argv  # the caller's value wins
    assert "--additional-files" not in argv  # merged into the caller's -a
    merged = argv[argv.index("-a") + 1].split(",")
    assert merged == ["extra.add.xml", str(prog.resolve()), str(files.additional)]
    assert "--mesosim" not in argv
    assert 'withInternal="true"' in files.additional.read_text()
    assert "SaveTLSSwitchStates" not in files.additional.read_text()  # no signal ids given
    sumo_options(spec, files, ["J00", "J01"])
    assert files.additional.read_text().count('type="SaveTLSSwitchStates"') == 2
    meso = RunSpec.make(GRID, str(rou), meso=True, end_s=100, queue_sample_s=2)
    margv = sumo_options(meso, files)
    assert "--meso-junction-control" in margv and "--queue-output.period" in margv
    assert margv[margv.index("--queue-output.period") + 1] == "2"
    assert margv[margv.index("--queue-output") + 1].endswith(".csv")


def test_run_spec_rejects_bad_inputs(tmp_path):
    rou = tmp_path / "r.rou.xml"
    rou.write_text("<routes/>")
    with pytest.raises(InputError, match="no such file"):
        RunSpec.make(tmp_path / "missing.net.xml", rou)
    with pytest.raises(InputError, match=r"expected SUMO network file.*found <routes>"):
        RunSpec.make(rou, rou)
    with pytest.raises(InputError, match=r"routes: .*found <net>"):
        RunSpec.make(GRID, GRID)
    junk = tmp_path / "junk.xml"
    junk.write_text("this is not xml")
    with pytest.raises(InputError, match="not an XML file"):
        RunSpec.make(GRID, junk)
    with pytest.raises(InputError, match="program"):
        RunSpec.make(GRID, rou, program=rou)
    with pytest.raises(InputError, match="end_s"):
        RunSpec.make(GRID, rou, begin_s=100, end_s=50)


def test_static_green_share_follows_the_net_program(grid):
    share = static_green_share(grid)
    s = grid.signal_ids.index("J00")
    states = grid.phase_state[grid.phases_of(s)]
    # rrrGGg... is green 39 of the 90 s cycle for the links green in phase 0 ('G' and 'g')
    green0 = [i for i, c in enumerate(states[0]) if c in "Gg"]
    assert np.allclose(share[grid.links_of(s)][green0], 39 / 90)
    app = Approaches.of(grid)
    assert app.n == len(set(grid.mov_from_edge))
    assert (app.mov_approach >= 0).all()


def test_read_meso_queue_output_sums_segments_and_fills_skipped_samples(grid, tmp_path):
    app = Approaches.of(grid)
    e0, e1 = app.edge_ids[0], app.edge_ids[1]
    csv = tmp_path / "q.csv"
    csv.write_text(
        "data_timestep;lane_id;lane_segment;lane_queueing_time;lane_queueing_length;"
        "lane_queueing_count\n"
        f"10.00;{e0}_0;1;3.00;15.0;2\n"
        f"10.00;{e0}_0;2;3.00;7.5;1\n"  # a second segment of the same edge
        f"10.00;{e1}_1;0;1.00;7.5;4\n"
        f"30.00;{e1}_0;0;1.00;7.5;5\n"
        "30.00;:J00_0_0;0;1.00;7.5;9\n"  # internal lane: not an approach
    )
    q = read_meso_queue_output(csv, app, begin_s=10, end_s=40, period_s=10)
    assert q.shape == (3, app.n)
    assert q[0, 0] == 3 and q[0, 1] == 4
    assert not q[1].any()  # t=20 had no queue, skipped in the file
    assert q[2, 1] == 5 and q.sum() == 12


# ------------------------------------------------------------------------- SUMO runs
def _duration_log_statistics(text: str) -> dict[str, float]:
    block = text[text.index("Statistics (avg of") :]
    return {k: float(v) for k, v in re.findall(r"^ (\w+): ([-\d.]+)$", block, flags=re.M)}


@pytest.mark.sumo
def test_finished_trip_averages_match_sumo_statistics(micro, routes):
    res, _ = micro
    df = res.metrics
    fin = res.sumo_statistics["finished"]
    assert M.value(df, "throughput_veh") == fin["count"] > 10
    for ours, sumo in (
        ("avg_travel_time_s", "duration"),
        ("avg_waiting_time_s", "waitingTime"),
        ("avg_time_loss_s", "timeLoss"),
    ):
        assert M.value(df, ours) == pytest.approx(fin[sumo], rel=0.01), ours

    # the same figures from the plain sumo binary with --duration-log.statistics (no
    # write-unfinished, so it averages finished trips only): same inputs, same seed
    out = sumo_tools.run(
        [
            sumo_tools.binary("sumo"),
            "-n",
            GRID,
            "-r",
            routes,
            "-e",
            str(END_S),
            "--seed",
            "0",
            "--no-step-log",
            "--duration-log.statistics",
        ]
    )
    log = _duration_log_statistics(out)
    assert M.value(df, "avg_travel_time_s") == pytest.approx(log["Duration"], rel=0.01)
    assert M.value(df, "avg_waiting_time_s") == pytest.approx(log["WaitingTime"], rel=0.01)
    assert M.value(df, "avg_time_loss_s") == pytest.approx(log["TimeLoss"], rel=0.01)


@pytest.mark.sumo
def test_headline_delay_counts_running_and_undeparted_vehicles(micro):
    res, _ = micro
    df = res.metrics
    st = res.sumo_statistics["statistic_output"]
    n_run, n_undep = M.value(df, "n_running"), M.value(df, "n_undeparted")
    assert n_run > 0 and n_undep > 0  # the case of vehicles still out there at the end
    assert M.value(df, "n_vehicles") == M.value(df, "throughput_veh") + n_run + n_undep
    # SUMO's statistic output with write-unfinished averages over all inserted vehicles and
    # reports the mean wait of those never inserted (departDelayWaiting): rebuild the RESCO
    # delay from SUMO's own figures and compare.
    count = st["vehicleTripStatistics.count"]
    assert count == M.value(df, "throughput_veh") + n_run
    expect = (
        count * (st["vehicleTripStatistics.timeLoss"] + st["vehicleTripStatistics.departDelay"])
        + n_undep * st["vehicleTripStatistics.departDelayWaiting"]
    ) / (count + n_undep)
    assert M.value(df, "avg_delay_s") == pytest.approx(expect, rel=0.01)
    assert M.value(df, "avg_delay_s") != pytest.approx(
        M.value(df, "avg_delay_finished_s"), rel=0.01
    )


@pytest.mark.sumo
def test_results_table_scopes_split_and_files(micro, grid):
    res, out = micro
    df = res.metrics
    assert tuple(df.columns) == M.COLUMNS
    scopes = set(df["scope"])
    assert {M.NETWORK, M.CONNECTED, M.OTHER} <= scopes
    assert {f"signal:{s}" for s in grid.signal_ids} <= scopes
    assert {f"approach:{e}" for e in grid.mov_from_edge} <= scopes
    n = M.value(df, "n_vehicles")
    n_cv, n_hv = M.value(df, "n_vehicles", M.CONNECTED), M.value(df, "n_vehicles", M.OTHER)
    assert n_cv > 0 and n_hv > 0 and n_cv + n_hv == n
    assert abs(n_cv - n_hv) <= 1  # types alternate in the routes
    assert M.value(df, "co2_g") > 0 and M.value(df, "fuel_g") > 0
    assert M.value(df, "n_teleports") == 0
    sig = df[df["scope"].str.startswith("signal:")]
    los = sig[sig["metric"] == "los"]["value"]
    assert los.between(1, 6).all()
    delay = sig[sig["metric"] == "control_delay_s"]["value"]
    assert (delay > 0).all() and np.isfinite(delay).all()
    # queues were sampled every second and are consistent across scopes
    assert res.n_samples == END_S
    assert (
        0
        < M.value(df, "queue_mean_veh")
        <= M.value(df, "queue_p95_veh")
        <= M.value(df, "queue_max_veh")
    )
    # the queue over time: one row per minute (the last window partial), totals as sampled
    ts = df[df["scope"].str.startswith("time:")]
    assert list(ts["scope"]) == ["time:60", "time:120", "time:180", "time:200"]
    weights = np.array([60, 60, 60, 20]) / END_S
    assert float(ts["value"] @ weights) == pytest.approx(M.value(df, "queue_total_mean_veh"))
    # files: results, summary and run.json, SUMO's raw outputs, nothing half-written
    back = pd.read_parquet(out / "results.parquet")
    assert len(back) == len(df) and set(back["run_id"]) == {res.run_id}
    assert (out / "summary.csv").is_file() and (out / "run.json").is_file()
    assert (out / "sumo" / "tripinfo.xml").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.sumo
def test_queues_agree_with_sumos_queue_output(tmp_path):
    """Our back of queue (halting vehicles sampled each second per approach) against SUMO's own
    --queue-output (queueing_length per lane, in metres, over the length a queued car takes:
    SUMO's default 5 m plus 2.5 m minGap), on a hand-written junction at 1,200 veh/h."""
    from sumo_queues import run_with_queue_output

    net = REPO / "networks" / "test" / "single.net.xml"
    res, lanes = run_with_queue_output(net, tmp_path, veh_per_hour=1200, seed=3)
    app = res.metrics[res.metrics["scope"].str.startswith("approach:")]
    ours = {
        m: app[app["metric"] == m].set_index("scope")["value"]
        for m in ("queue_mean_veh", "queue_p95_veh")
    }
    sumo: dict[str, np.ndarray] = {}
    for ln, q in lanes.items():
        e = ln.rsplit("_", 1)[0]
        sumo[e] = sumo.get(e, 0.0) + q
    busy = [sc for sc in ours["queue_mean_veh"].index if ours["queue_mean_veh"][sc] > 0.5]
    assert len(busy) >= 3
    for sc in busy:
        theirs = sumo[sc.split(":", 1)[1]][1:]
        assert ours["queue_mean_veh"][sc] == pytest.approx(theirs.mean(), rel=0.25), sc
        assert ours["queue_p95_veh"][sc] == pytest.approx(np.percentile(theirs, 95), rel=0.3), sc
    # the network figure is the typical queued approach's, not diluted by idle ones
    assert M.value(res.metrics, "queue_p95_veh") == pytest.approx(
        np.mean([ours["queue_p95_veh"][sc] for sc in ours["queue_p95_veh"].index
                 if app[(app["scope"] == sc) & (app["metric"] == "queue_max_veh")]["value"].iloc[0] > 0])
    )  # fmt: skip


@pytest.mark.sumo
def test_same_seed_same_numbers(micro, routes, grid):
    res, _ = micro
    again = evaluate_sumo(GRID, routes, end_s=END_S, seed=0, network=grid, queue_sample_s=0)
    a = res.metrics.set_index(["scope", "metric"])["value"]
    b = again.metrics.set_index(["scope", "metric"])["value"]
    common = a.index.intersection(b.index)
    assert len(common) > 100
    # sampling queues through subscriptions does not change the simulation
    pd.testing.assert_series_equal(a[common], b[common])
    assert again.n_samples == 0 and "queue_mean_veh" not in set(again.metrics["metric"])


@pytest.mark.sumo
def test_program_file_is_applied_and_measured(grid, routes, tmp_path):
    # An alternative program for every signal: the 90 s cycle split 24/54 instead of 39/39.
    root = ET.parse(GRID).getroot()
    add = ET.Element("additional")
    durations = [24, 4, 2, 54, 4, 2]
    for tl in root.iter("tlLogic"):
        new = ET.SubElement(
            add,
            "tlLogic",
            {"id": tl.get("id"), "type": "static", "programID": "alt", "offset": "0"},
        )
        for ph, d in zip(tl.iter("phase"), durations, strict=True):
            ET.SubElement(new, "phase", {"duration": str(d), "state": ph.get("state")})
    prog = tmp_path / "alt.add.xml"
    ET.ElementTree(add).write(prog)

    spec = RunSpec.make(GRID, routes, program=prog, end_s=180)  # two full cycles
    with SumoSimulation(spec, grid, OutputFiles.in_dir(tmp_path / "w")) as sim:
        while sim.time_s < spec.end_s:  # the closed-loop pattern, one step at a time
            sim.advance(sim.time_s + 1.0)
        assert sim.ls.trafficlight.getProgram("J00") == "alt"
        sim.finish()
    df, stats = sim.results(run_id="alt")
    share = sim.link_green_share
    s = grid.signal_ids.index("J00")
    states = grid.phase_state[grid.phases_of(s)]
    g0 = [i for i, c in enumerate(states[0]) if c in "Gg"]
    g3 = [i for i, c in enumerate(states[3]) if c in "Gg"]
    assert np.allclose(share[grid.links_of(s)][g0], 24 / 90)
    assert np.allclose(share[grid.links_of(s)][g3], 54 / 90)
    assert sim.n_samples == 180
    assert M.value(df, "throughput_veh") == stats["finished"]["count"]


@pytest.mark.sumo
def test_meso_run(routes, grid):
    res = evaluate_sumo(GRID, routes, end_s=END_S, meso=True, network=grid, queue_sample_s=2)
    df = res.metrics
    fin = res.sumo_statistics["finished"]
    assert M.value(df, "throughput_veh") == fin["count"] > 10
    assert M.value(df, "avg_travel_time_s") == pytest.approx(fin["duration"], rel=0.01)
    assert M.value(df, "avg_time_loss_s") == pytest.approx(fin["timeLoss"], rel=0.01)
    assert res.run_id.split("-")[2] == "meso"
    # queues from SUMO's meso queue output, one sample every 2 s
    assert res.n_samples == END_S // 2
    assert M.value(df, "queue_max_veh") > 0
    assert M.value(df, "control_delay_s") > 0


@pytest.mark.sumo
def test_sumo_refusing_inputs_is_one_clear_error_and_no_output(grid, tmp_path):
    bad = tmp_path / "bad.rou.xml"
    bad.write_text('<routes><vehicle id="a" depart="0"><route edges="nowhere"/></vehicle></routes>')
    out = tmp_path / "out"
    with pytest.raises(InputError, match="nowhere"):
        evaluate_sumo(GRID, bad, end_s=50, out_dir=out, network=grid)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.sumo
def test_one_simulation_per_process(grid, routes, tmp_path):
    spec = RunSpec.make(GRID, routes, end_s=10)
    with SumoSimulation(spec, grid, OutputFiles.in_dir(tmp_path / "a")):
        with pytest.raises(SumoRunError, match="already running"):
            evaluate_sumo(GRID, routes, end_s=10, network=grid)


@pytest.mark.sumo
def test_cli_evaluate_prints_summary_and_writes_results(routes, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        ["evaluate", "--net", str(GRID), "--routes", str(routes), "--end", "120", "--out", str(out)]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "avg_delay_s" in text and "connected" in text
    assert "worst 4 of 4 intersections by control delay" in text
    assert re.search(r"^J\d\d\s+[\d.]+\s+[A-F]\s", text, flags=re.M)
    assert (out / "results.parquet").is_file() and (out / "summary.csv").is_file()
    rc = main(["evaluate", "--net", str(tmp_path / "none.net.xml"), "--routes", str(routes)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "none.net.xml" in err


@pytest.mark.sumo
def test_teleports_are_reported_by_cause(grid, routes):
    # vehicles standing 3 s at a red light are teleported (SUMO counts any standing at the head
    # of a lane, "Why Vehicles are teleporting"); SUMO's causes add up to its total
    res = evaluate_sumo(GRID, routes, end_s=END_S, time_to_teleport_s=3, network=grid)
    s = res.summary
    causes = ("n_teleports_jam", "n_teleports_yield", "n_teleports_wrong_lane")
    assert s["n_teleports"] > 0
    assert sum(s[c] for c in causes) == s["n_teleports"]
