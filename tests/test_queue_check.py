"""The queue-model check: plan sets, the calibration record beside the shipped constants, the
comparison figures, and (slow) the calibration and accuracy benchmarks end to end."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from signals.bench import _queue_check as Q
from signals.bench._common import EVALUATION_SEEDS, TUNING_SEEDS
from signals.netbuild import TEST_NETS_DIR
from signals.network import Network


@pytest.fixture(scope="module")
def arterial():
    return Network.from_sumo(TEST_NETS_DIR / "arterial3.net.xml")


def _flows(network, vph=300.0):
    return np.full(network.n_movements, vph)


def test_plan_sets_are_safe_sized_and_a_shorter_set_is_a_prefix(arterial):
    from signals.safety import refused, validate

    sizes = {"calibration": 4, "validation": 12, "near_optimal": 6}
    sets = Q.plan_sets(arterial, _flows(arterial), plan_seed=3, sizes=sizes)
    assert [len(sets[s]) for s in sizes] == [4, 12, 7]  # near-optimal: Webster + 6
    for plans in sets.values():
        for _, ps in plans:
            assert not refused(validate(ps, arterial), existing=True)
    short = Q.plan_sets(arterial, _flows(arterial), plan_seed=3, sizes={"validation": 5})
    for (n1, a), (n2, b) in zip(short["validation"], sets["validation"], strict=False):
        assert n1 == n2 and a.plans == b.plans
    # the sets draw from their own generators: asking for one never changes another
    alone = Q.plan_sets(arterial, _flows(arterial), plan_seed=3, sizes={"near_optimal": 6})
    assert [n for n, _ in alone["near_optimal"]] == [n for n, _ in sets["near_optimal"]]
    assert all(
        a.plans == b.plans
        for (_, a), (_, b) in zip(alone["near_optimal"], sets["near_optimal"], strict=True)
    )


def test_near_optimal_plans_stay_near_webster(arterial):
    sets = Q.plan_sets(arterial, _flows(arterial), plan_seed=5, sizes={"near_optimal": 9})
    (_, web), *rest = sets["near_optimal"]
    changed = 0
    for _, ps in rest:
        for sid, p in ps.plans.items():
            w = web.plans[sid]
            assert 0.85 * w.cycle_s <= p.cycle_s <= 1.2 * w.cycle_s + 1
            changed += p != w
    assert changed > 0


def test_agreement_figures():
    a = Q.agreement([10.0, 20.0, 30.0], [100.0, 90.0, 120.0])
    assert a["spearman"] == pytest.approx(0.5)
    # the model picks plan 0 (100 s in SUMO), SUMO's best is 90 s
    assert a["regret"] == pytest.approx(100 / 90, abs=1e-4)
    assert a["sumo_spread"] == pytest.approx(120 / 90, abs=1e-4)
    assert a["mean_abs_rel_error"] == pytest.approx(np.mean([0.9, 70 / 90, 0.75]), abs=1e-4)


def test_calibration_record_is_beside_the_shipped_constants():
    from signals.bench.calibration import FITTED, RECORD_PATH
    from signals.evaluate.queue import CALIBRATED

    rec = json.loads(RECORD_PATH.read_text())
    for k in FITTED:
        assert getattr(CALIBRATED, k) == rec["chosen"][k], k
    # chosen on tuning seeds only, on at least two networks, over 900 s and the hour
    assert rec["seeds"] and set(rec["seeds"]) <= set(TUNING_SEEDS)
    assert not set(rec["seeds"]) & set(EVALUATION_SEEDS)
    assert len(rec["networks"]) >= 2 and {900.0, 3600.0} <= set(rec["horizons_s"])
    for key in ("git_revision", "argv", "inputs_sha256", "grid", "plans", "delay_definition"):
        assert rec[key], key
    assert all(len(h) == 64 for h in rec["inputs_sha256"].values())
    grid = [row["sat_flow_factor"] for row in rec["grid"]]
    assert min(grid) < rec["chosen"]["sat_flow_factor"] < max(grid), "chosen at the grid's edge"


def test_calibration_refuses_a_bad_plan_count(tmp_path):
    from signals.bench import calibration
    from signals.errors import InputError

    p = argparse.ArgumentParser()
    calibration.add_arguments(p)
    args = p.parse_args(["--n-calibration-for", "cologne8=many", "--work", str(tmp_path)])
    with pytest.raises(InputError, match="NET=N"):
        calibration.run(args)
    assert not any(tmp_path.iterdir())  # refused before anything was built


def test_calibration_refuses_evaluation_seeds(tmp_path):
    from signals.bench import calibration
    from signals.errors import InputError

    p = argparse.ArgumentParser()
    calibration.add_arguments(p)
    args = p.parse_args(["--seeds", "1", str(EVALUATION_SEEDS[0]), "--work", str(tmp_path)])
    with pytest.raises(InputError, match="tuning seeds only"):
        calibration.run(args)


@pytest.mark.sumo
@pytest.mark.slow  # ~20 short SUMO runs: `make test-all`
def test_calibration_and_accuracy_end_to_end(tmp_path):
    from signals.bench import accuracy, calibration

    net = str(TEST_NETS_DIR / "arterial3.net.xml")
    common = ["--nets", net, "--veh-per-hour", "900", "--work", str(tmp_path)]
    common += ["--horizons-s", "300", "600", "--jobs", "2"]
    p = argparse.ArgumentParser()
    calibration.add_arguments(p)
    cal = calibration.run(
        p.parse_args([*common, "--seeds", "1", "--n-calibration", "3", "--grid", "0.8", "1.0"])
    )
    assert cal["chosen"]["sat_flow_factor"] in (0.8, 1.0) and len(cal["grid"]) == 2
    assert cal["seeds"] == [1] and cal["n_sumo_runs"] == 6 and not cal["cached_runs"]
    p = argparse.ArgumentParser()
    accuracy.add_arguments(p)
    argv = [*common, "--seeds", "11", "--n-validation", "4", "--n-near-optimal", "2"]
    argv += ["--noise-nets", "arterial3"]
    out = accuracy.run(p.parse_args(argv))
    net_out = out["networks"]["arterial3"]
    hour = net_out["horizons"]["600"]
    assert -1 <= hour["spearman_avg_delay"]["mean"] <= 1
    assert hour["regret_near_optimal"]["min"] >= 1.0
    assert set(net_out["targets_met"]) == set(accuracy.TARGETS)
    # near-optimal at 600 s only; both sets again with another SUMO seed (SUMO against itself)
    assert out["n_sumo_runs"] == 2 * 4 + 3 + (4 + 3) and not out["cached_runs"]
    assert out["noise_nets"] == ["arterial3"]
    own = hour["per_seed"]["near_optimal"]["11"]["sumo_self"]
    assert own["regret"] >= 1.0 and -1 <= hour["sumo_self_spearman_near_optimal"]["mean"] <= 1
    other = own["other_seed_avg_delay_s"]
    assert other != hour["per_seed"]["near_optimal"]["11"]["sumo_avg_delay_s"]
    assert "spearman_near_optimal" not in net_out["horizons"]["300"]
    again = accuracy.run(p.parse_args(argv))  # a rerun reuses every SUMO run, and says so
    assert -1 <= hour["sumo_self_spearman_avg_delay"]["mean"] <= 1
    assert len(again["cached_runs"]) == 18
    assert (
        again["networks"]["arterial3"]["horizons"]["600"]["spearman_avg_delay"]
        == (hour["spearman_avg_delay"])
    )
