"""The benchmark harness (signals.bench._common): seeds by role, inputs by digest, the record."""

from __future__ import annotations

import math
import shutil

import pytest

from signals.bench import _common as H
from signals.digests import sha256_file


def test_seed_roles_are_declared_once_and_kept_apart():
    assert len(H.EVALUATION_SEEDS) >= 3
    assert not set(H.EVALUATION_SEEDS) & set(H.TUNING_SEEDS)
    roles = H.seed_roles([1, 11, 12])
    assert roles["tuning_seeds_used"] == [1]
    assert roles["evaluation_seeds"] == [11, 12]
    assert roles["tuning_seeds_not_used"] == [2, 3, 4, 5]


def test_routes_are_reused_by_content_not_by_name(tmp_path, grid_net):
    work = tmp_path / "work"
    a = H.routes_asset(grid_net, work, period="am_peak", seed=11, end_s=600, veh_per_hour=300)
    stamp = a.stat().st_mtime_ns
    again = H.routes_asset(grid_net, work, period="am_peak", seed=11, end_s=600, veh_per_hour=300)
    assert again == a and again.stat().st_mtime_ns == stamp  # reused, not regenerated
    other = H.routes_asset(grid_net, work, period="am_peak", seed=12, end_s=600, veh_per_hour=300)
    assert other != a and sha256_file(other) != sha256_file(a)
    # the same file name for another net's content is another asset
    net2 = tmp_path / "grid.net.xml"
    shutil.copyfile(grid_net, net2)
    with open(net2, "a") as fh:
        fh.write("<!-- another net -->\n")
    b = H.routes_asset(net2, work, period="am_peak", seed=11, end_s=600, veh_per_hour=300)
    assert b != a


def test_record_says_how_a_result_was_made(tmp_path, grid_net):
    start = H.started(["bench", "x", "--quick"])
    rec = H.record(
        "x", start, inputs={"net": grid_net}, seeds=[11, 12, 13], horizon_s=900, cached_runs=["r1"]
    )
    assert rec["command"] == ["signals", "bench", "x", "--quick"]
    assert rec["argv"] == ["bench", "x", "--quick"]
    assert rec["bench"] == "x" and rec["horizon_s"] == 900.0
    assert rec["inputs_sha256"] == {"net": sha256_file(grid_net)}
    assert rec["evaluation_seeds"] == [11, 12, 13] and rec["tuning_seeds_used"] == []
    assert rec["cached_runs"] == ["r1"]
    for key in ("git_revision", "git_dirty", "packages", "machine", "load_avg_end"):
        assert key in rec
    assert rec["machine"]["cpu_count"] >= 1 and isinstance(rec["machine"]["cpu_model"], str)
    assert rec["packages"]["eclipse-sumo"]


def test_every_controller_reports_its_costs_over_seeds():
    rows = [
        {
            "seed": 11,
            **H.controller_figures(
                {
                    "avg_delay_s": 100.0,
                    "throughput_veh": 900,
                    "n_unfinished": 50,
                    "n_teleports": 2,
                    "n_teleports_jam": 1,
                    "n_teleports_yield": 1,
                    "n_teleports_wrong_lane": 0,
                    "avg_stops": 3.0,
                }
            ),
        },
        {
            "seed": 12,
            **H.controller_figures(
                {
                    "avg_delay_s": 120.0,
                    "throughput_veh": 880,
                    "n_unfinished": 70,
                    "n_teleports": 0,
                    "n_teleports_jam": 0,
                    "n_teleports_yield": 0,
                    "n_teleports_wrong_lane": 0,
                    "avg_stops": 3.5,
                }
            ),
        },
    ]
    assert set(rows[0]) == {
        "seed",
        "avg_delay_s",
        "trips_finished",
        "vehicles_left",
        "teleports",
        "teleports_jam",
        "teleports_yield",
        "teleports_wrong_lane",
        "stops",
    }
    o = H.over_seeds(rows)
    assert o["avg_delay_s"] == {"mean": 110.0, "min": 100.0, "max": 120.0}
    assert o["trips_finished"] == {"mean": 890.0, "min": 880.0, "max": 900.0}
    assert o["teleports"]["max"] == 2.0
    assert o["teleports_yield"] == {"mean": 0.5, "min": 0.0, "max": 1.0}
    rows[1]["stops"] = math.nan
    assert H.over_seeds(rows)["stops"] is None  # never a number made from a missing one
    assert H.controller_figures({})["avg_delay_s"] is None


@pytest.mark.parametrize(
    "name",
    [
        "fixed-time",
        "loop",
        "glosa",
        "realnets",
        "accuracy",
        "optimize",
        "polish",
        "policy",
        "adaptive",
        "resco-rl",
    ],
)
def test_comparison_benches_default_to_the_evaluation_seeds(name):
    import argparse
    import importlib

    mod = importlib.import_module(f"signals.bench.{name.replace('-', '_')}")
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    assert p.parse_args([]).seeds == list(H.EVALUATION_SEEDS)


def test_calibration_defaults_to_the_tuning_seeds_only():
    import argparse

    from signals.bench import calibration

    p = argparse.ArgumentParser()
    calibration.add_arguments(p)
    seeds = p.parse_args([]).seeds
    assert seeds == [1, 2]  # the seeds its committed record was fit on
    assert set(seeds) <= set(H.TUNING_SEEDS)
    assert not set(H.TUNING_SEEDS) & set(H.EVALUATION_SEEDS)
