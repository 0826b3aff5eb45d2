"""Metric definitions: HCM LOS, per-vehicle, approach and queue builders, the long table, saving."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signals.evaluate import metrics as M


# ------------------------------------------------------------------------------------ LOS
@pytest.mark.parametrize(
    ("delay", "letter"),
    [
        (0.0, "A"),
        (10.0, "A"),
        (10.01, "B"),
        (20.0, "B"),
        (20.5, "C"),
        (35.0, "C"),
        (35.1, "D"),
        (55.0, "D"),
        (55.1, "E"),
        (80.0, "E"),
        (80.01, "F"),
        (500.0, "F"),
    ],
)
def test_hcm_los_thresholds(delay, letter):
    assert M.hcm_los(delay) == letter


def test_hcm_los_vc_over_one_is_f_and_arrays_broadcast():
    assert M.hcm_los(5.0, vc=1.0) == "A"
    assert M.hcm_los(5.0, vc=1.01) == "F"
    assert M.hcm_los(math.nan) == ""
    assert M.hcm_los(math.nan, vc=1.5) == "F"
    assert M.hcm_los(30.0, vc=math.nan) == "C"
    out = M.hcm_los(np.array([[5.0, 15.0], [40.0, 90.0]]), vc=np.array([[0.5, 1.2], [0.9, 0.2]]))
    assert out.shape == (2, 2)
    assert out.tolist() == [["A", "F"], ["D", "F"]]


def test_los_code_roundtrip():
    for i, letter in enumerate("ABCDEF"):
        assert M.los_code(letter) == i + 1
        assert M.los_letter(M.los_code(letter)) == letter
    assert math.isnan(M.los_code(""))
    assert M.los_letter(math.nan) == ""


# ----------------------------------------------------------------------------- vehicles
def _records(**over) -> M.VehicleRecords:
    # 5 vehicles: 0,1 finished; 2,3 running; 4 never inserted. 1 and 3 connected.
    base = dict(
        depart_delay_s=np.array([1.0, 3.0, 0.0, 2.0, 40.0]),
        time_loss_s=np.array([10.0, 20.0, 30.0, 50.0, 0.0]),
        duration_s=np.array([60.0, 80.0, 100.0, 90.0, 0.0]),
        waiting_time_s=np.array([4.0, 8.0, 20.0, 30.0, 0.0]),
        stops=np.array([1.0, 2.0, 3.0, 4.0, 0.0]),
        departed=np.array([True, True, True, True, False]),
        finished=np.array([True, True, False, False, False]),
        connected=np.array([False, True, False, True, False]),
        co2_g=np.array([100.0, 200.0, 50.0, 25.0, 0.0]),
        fuel_g=np.array([30.0, 60.0, 15.0, 8.0, 0.0]),
    )
    base.update(over)
    return M.VehicleRecords(**base)


def test_vehicle_metrics_count_unfinished_in_headline_delay():
    m = M.vehicle_metrics(_records())
    # RESCO: (timeLoss + departDelay) over all five, the undeparted one with its 40 s wait
    assert m["avg_delay_s"] == pytest.approx((11 + 23 + 30 + 52 + 40) / 5)
    assert m["avg_delay_finished_s"] == pytest.approx((11 + 23) / 2)
    assert m["avg_travel_time_s"] == pytest.approx(70.0)
    assert m["avg_waiting_time_s"] == pytest.approx(6.0)
    assert m["avg_time_loss_s"] == pytest.approx(15.0)
    assert m["avg_depart_delay_s"] == pytest.approx(2.0)
    assert m["avg_stops"] == pytest.approx(1.5)
    assert (m["throughput_veh"], m["n_vehicles"], m["n_unfinished"]) == (2, 5, 3)
    assert (m["n_running"], m["n_undeparted"]) == (2, 1)
    assert m["co2_g"] == pytest.approx(375.0)
    assert m["fuel_g"] == pytest.approx(113.0)


def test_vehicle_rows_split_connected_and_other():
    rows = M.vehicle_rows(_records())
    got = {(r.scope, r.metric): r.value for r in rows}
    assert got[(M.CONNECTED, "n_vehicles")] == 2
    assert got[(M.OTHER, "n_vehicles")] == 3
    assert got[(M.CONNECTED, "avg_delay_s")] == pytest.approx((23 + 52) / 2)
    assert got[(M.OTHER, "avg_delay_s")] == pytest.approx((11 + 30 + 40) / 3)
    assert got[(M.CONNECTED, "throughput_veh")] == 1
    assert {r.metric for r in rows} == set(M.VEHICLE_METRICS)


def test_vehicle_metrics_empty_class_gives_nan_averages_and_zero_counts():
    r = _records(connected=np.zeros(5, dtype=bool))
    got = {(x.scope, x.metric): x.value for x in M.vehicle_rows(r)}
    assert math.isnan(got[(M.CONNECTED, "avg_delay_s")])
    assert got[(M.CONNECTED, "n_vehicles")] == 0


def test_vehicle_records_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="stops"):
        _records(stops=np.zeros(4))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 500),
            st.floats(0, 300),
            st.sampled_from(["fin", "run", "undep"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_vehicle_metrics_conservation_and_weighting(vehs):
    tl = np.array([v[0] for v in vehs])
    dd = np.array([v[1] for v in vehs])
    state = np.array([v[2] for v in vehs])
    tl = np.where(state == "undep", 0.0, tl)
    rec = _records(
        depart_delay_s=dd,
        time_loss_s=tl,
        duration_s=tl + 10.0,
        waiting_time_s=tl / 2,
        stops=np.ones(len(vehs)),
        departed=state != "undep",
        finished=state == "fin",
        connected=np.array([v[3] for v in vehs]),
        co2_g=np.ones(len(vehs)),
        fuel_g=np.ones(len(vehs)),
    )
    m = M.vehicle_metrics(rec)
    # conservation: every vehicle is finished, running or not yet inserted
    assert m["n_vehicles"] == m["throughput_veh"] + m["n_running"] + m["n_undeparted"]
    assert m["n_unfinished"] == m["n_running"] + m["n_undeparted"]
    # the headline delay is the count-weighted mean of finished and unfinished delays
    fin = state == "fin"
    unf = ~fin
    expect = ((tl + dd)[fin].sum() + (tl + dd)[unf].sum()) / len(vehs)
    assert m["avg_delay_s"] == pytest.approx(expect, rel=1e-9, abs=1e-9)
    if fin.any():
        assert m["avg_delay_finished_s"] == pytest.approx((tl + dd)[fin].mean(), rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------------------- approaches
def _approach_rows(capacity=True):
    # signal 0 has approaches a, b; signal 1 has c. 600 s observation.
    return M.approach_rows(
        ["a", "b", "c"],
        np.array([0, 0, 1]),
        ["S0", "S1"],
        time_loss_s=np.array([1000.0, 500.0, 0.0]),
        entering_veh=np.array([100.0, 50.0, 0.0]),
        duration_s=600.0,
        capacity_vps=np.array([0.1, 0.5, 0.2]) if capacity else None,
        junction_time_loss_s=np.array([150.0, 0.0]),
    )


def test_approach_rows_control_delay_vc_and_los():
    got = {(r.scope, r.metric): r.value for r in _approach_rows()}
    assert got[("approach:a", "control_delay_s")] == pytest.approx(10.0)
    assert got[("approach:b", "control_delay_s")] == pytest.approx(10.0)
    assert math.isnan(got[("approach:c", "control_delay_s")])  # nobody entered
    assert got[("approach:a", "flow_vph")] == pytest.approx(600.0)
    # a: 100 veh / 600 s = 0.1667 veh/s against 0.1 veh/s capacity -> v/c 1.67 -> LOS F
    assert got[("approach:a", "vc_ratio")] == pytest.approx(100 / 600 / 0.1)
    assert M.los_letter(got[("approach:a", "los")]) == "F"
    assert M.los_letter(got[("approach:b", "los")]) == "A"
    # signal: (1000 + 500 + 150 junction) / 150 entering = 11 s, but worst approach v/c > 1
    assert got[("signal:S0", "control_delay_s")] == pytest.approx(11.0)
    assert got[("signal:S0", "vc_ratio")] == pytest.approx(100 / 600 / 0.1)
    assert M.los_letter(got[("signal:S0", "los")]) == "F"
    assert got[("signal:S0", "capacity_vph")] == pytest.approx(0.6 * 3600)
    assert got[("signal:S1", "vc_ratio")] == 0.0
    assert got[("network", "control_delay_s")] == pytest.approx(1650 / 150)


def test_approach_rows_without_capacity_use_delay_only():
    got = {(r.scope, r.metric): r.value for r in _approach_rows(capacity=False)}
    assert math.isnan(got[("approach:a", "vc_ratio")])
    assert M.los_letter(got[("approach:a", "los")]) == "A"
    assert M.los_letter(got[("signal:S0", "los")]) == "B"  # 11 s


# -------------------------------------------------------------------------------- queues
def test_queue_rows_per_approach_signal_and_network():
    # (T=4, A=4): approach d never queues (an idle approach does not dilute the figures)
    q = np.array([[0, 2, 5, 0], [4, 2, 5, 0], [2, 8, 5, 0], [2, 0, 5, 0]], dtype=float)
    got = {
        (r.scope, r.metric): r.value
        for r in M.queue_rows(["a", "b", "c", "d"], np.array([0, 0, 1, 1]), ["S0", "S1"], q)
    }
    p95 = np.percentile(q, 95, axis=0)
    assert got[("approach:a", "queue_mean_veh")] == pytest.approx(2.0)
    assert got[("approach:b", "queue_max_veh")] == 8
    assert got[("approach:a", "queue_p95_veh")] == pytest.approx(np.percentile([0, 4, 2, 2], 95))
    assert got[("approach:d", "queue_p95_veh")] == 0
    assert got[("signal:S0", "queue_mean_veh")] == pytest.approx(q[:, :2].mean())
    assert got[("signal:S0", "queue_p95_veh")] == pytest.approx(p95[:2].mean())
    assert got[("signal:S0", "queue_max_veh")] == 8
    assert got[("signal:S0", "queue_total_max_veh")] == 10  # 2 + 8 in the third sample
    assert got[("signal:S1", "queue_mean_veh")] == pytest.approx(5.0)  # c only, not d
    assert got[("signal:S1", "queue_p95_veh")] == pytest.approx(5.0)
    assert got[("signal:S1", "queue_total_mean_veh")] == pytest.approx(5.0)
    assert got[("network", "queue_mean_veh")] == pytest.approx(q[:, :3].mean())
    assert got[("network", "queue_p95_veh")] == pytest.approx(p95[:3].mean())
    assert got[("network", "queue_max_veh")] == 8
    assert got[("network", "queue_total_max_veh")] == 15
    idle = {
        (r.scope, r.metric): r.value
        for r in M.queue_rows(["a"], np.array([0]), ["S0"], np.zeros((3, 1)))
    }
    assert idle[("network", "queue_mean_veh")] == 0 and idle[("signal:S0", "queue_p95_veh")] == 0
    with pytest.raises(ValueError, match="shape"):
        M.queue_rows(["a"], np.array([0]), ["S0"], np.zeros((3, 2)))


def test_queue_series_is_the_total_queue_per_window():
    # samples at 1, 2, ..., 5 s of two approaches; windows of 2 s end at 2, 4 and 6 s
    q = np.array([[1, 0], [3, 0], [2, 2], [0, 0], [5, 1]], dtype=float)
    got = {(r.scope, r.metric): r.value for r in M.queue_series_rows(q, 0.0, 1.0, window_s=2.0)}
    assert got == {
        ("time:2", "queue_window_mean_veh"): 2.0,
        ("time:4", "queue_window_mean_veh"): 2.0,
        ("time:5", "queue_window_mean_veh"): 6.0,  # the last window is partial
    }
    assert M.queue_series_rows(np.zeros((0, 2)), 0.0, 1.0) == []
    late = M.queue_series_rows(np.ones((120, 1)), 3600.0, 1.0)  # a window starting at begin
    assert [r.scope for r in late] == ["time:3660", "time:3720"]


# --------------------------------------------------------------------------- the table
def _frame(run_id="r1", seed=3) -> pd.DataFrame:
    rows = M.vehicle_rows(_records()) + _approach_rows()
    rows += M.scalar_rows({"n_teleports": 2})
    return M.results_frame(rows, run_id=run_id, scenario="am", controller="fixed", seed=seed)


def test_results_frame_schema_and_units():
    df = _frame()
    assert tuple(df.columns) == M.COLUMNS
    assert df["seed"].dtype == np.int64
    assert df["value"].dtype == np.float64
    assert (df["run_id"] == "r1").all()
    for metric, unit in zip(df["metric"], df["unit"], strict=True):
        assert unit == M.METRICS[metric][0]
    assert M.value(df, "n_teleports") == 2
    assert M.value(df, "n_vehicles", M.CONNECTED) == 2
    assert math.isnan(M.value(df, "no_such_metric"))


def test_results_frame_rejects_undefined_metric():
    with pytest.raises(ValueError, match="avg_dealy_s"):
        M.results_frame([("network", "avg_dealy_s", 1.0)], run_id="x")


def test_summary_table_is_wide_network_rows():
    df = pd.concat([_frame("r1", 1), _frame("r2", 2)], ignore_index=True)
    s = M.summary_table(df)
    assert len(s) == 6  # 2 runs x (network, connected, other)
    assert set(s["scope"]) == {M.NETWORK, M.CONNECTED, M.OTHER}
    assert "avg_delay_s" in s.columns and "control_delay_s" in s.columns
    r1 = s[(s["run_id"] == "r1") & (s["scope"] == M.NETWORK)].iloc[0]
    assert r1["avg_delay_s"] == pytest.approx(M.value(_frame(), "avg_delay_s"))


def test_save_results_writes_parquet_csv_and_run_json(tmp_path):
    df = _frame()
    paths = M.save_results(df, tmp_path / "out", run_info={"net": "x.net.xml", "end_s": 600})
    back = pd.read_parquet(paths["results"])
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    csv = pd.read_csv(paths["summary"])
    assert set(csv["scope"]) == {M.NETWORK, M.CONNECTED, M.OTHER}
    doc = json.loads(paths["run"].read_text())
    assert doc["end_s"] == 600 and doc["net"] == "x.net.xml"
    assert "git_revision" in doc and doc["packages"]["numpy"] == np.__version__
    # atomic: no temporary files left beside the outputs
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "results.parquet",
        "run.json",
        "summary.csv",
    ]


def test_save_results_refuses_a_table_without_the_schema(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        M.save_results(pd.DataFrame({"metric": ["x"]}), tmp_path)
    assert not (tmp_path / "results.parquet").exists()
