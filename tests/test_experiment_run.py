"""`signals run` end to end on a small net: controllers compared, a failed run isolated, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from signals.experiment import run_experiment

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
name = "small"
[network]
path = "{net}"
[sim]
end_s = 240
[[scenarios]]
name = "am"
veh_per_hour = 500
[[scenarios]]
name = "broken"
routes = "broken.rou.xml"
[run]
controllers = ["default", "webster", "max-pressure"]
seeds = [1]
jobs = 2
"""


@pytest.mark.sumo
def test_sweep_isolates_failures_and_resumes(tmp_path):
    (tmp_path / "broken.rou.xml").write_text(
        '<routes><vehicle id="v" depart="0"><route edges="no_such_edge"/></vehicle></routes>\n'
    )
    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG.format(net=REPO / "networks" / "test" / "grid2x2.net.xml"))
    out = tmp_path / "out"
    logs: list[str] = []
    results = run_experiment(cfg, out, log=logs.append)

    df = pd.read_parquet(results)
    assert set(df.columns) >= {
        "run_id",
        "scenario",
        "controller",
        "seed",
        "scope",
        "metric",
        "value",
        "unit",
    }
    ok = df[df["scenario"] == "am"]
    assert set(ok["controller"]) == {"default", "webster", "max-pressure"}
    delay = ok[(ok["scope"] == "network") & (ok["metric"] == "avg_delay_s")]
    assert len(delay) == 3 and (delay["value"] >= 0).all()
    # the broken scenario's runs failed with their error recorded; the sweep went on
    errors = sorted((out / "runs").glob("broken__*/error.txt"))
    assert len(errors) == 3
    assert "no_such_edge" in errors[0].read_text() or "edge" in errors[0].read_text()
    meta = json.loads((out / "run.json").read_text())
    assert meta["runs"]["am__webster__s1"] == "ok"
    assert meta["runs"]["broken__default__s1"] == "failed"
    assert meta["git_revision"] and "numpy" in meta["packages"]
    assert (out / "summary.csv").is_file()
    # each finished run is one committed record: results, resolved config with its label, checksum
    mp = out / "runs" / "am__max-pressure__s1"
    record = json.loads((mp / "record.json").read_text())
    assert record["task"]["controller"] == "max-pressure"
    assert record["task"]["scenario"]["name"] == "am" and record["task"]["seed"] == 1
    assert set(pd.read_parquet(mp / "results.parquet")["controller"]) == {"max-pressure"}
    assert json.loads((mp / "run.json").read_text())["controller"] == "max-pressure"
    assert not list((out / "runs").glob("broken__*/record.json"))
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp dirs, no .sumo-*

    # a rerun redoes only the failed runs
    mtime = (out / "runs" / "am__default__s1" / "results.parquet").stat().st_mtime_ns
    logs.clear()
    run_experiment(cfg, out, log=logs.append)
    assert any("3 already done, 3 to run" in line for line in logs), logs
    assert (out / "runs" / "am__default__s1" / "results.parquet").stat().st_mtime_ns == mtime


RAY_CONFIG = """
name = "small-ray"
[network]
path = "{net}"
[sim]
end_s = 240
[[scenarios]]
name = "am"
veh_per_hour = 500
cv_share = 0.3
[run]
controllers = ["default", "webster", "optimized", "max-pressure"]
seeds = [1, 2]
jobs = 2
"""


@pytest.mark.sumo
def test_ray_backend_gives_the_local_pools_results(tmp_path):
    """The same sweep on a local Ray cluster (started here, local resources) and on the local
    process pool: the same runs, the same table, value for value."""
    import ray

    cfg = tmp_path / "exp.toml"
    cfg.write_text(RAY_CONFIG.format(net=REPO / "networks" / "test" / "grid2x2.net.xml"))
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        tables = {}
        for backend in ("local", "ray"):
            logs: list[str] = []
            out = tmp_path / backend
            df = pd.read_parquet(run_experiment(cfg, out, backend=backend, log=logs.append))
            assert any(f"({backend}, jobs=2)" in line for line in logs), logs
            assert json.loads((out / "run.json").read_text())["runs"] == {
                f"am__{c}__s{s}": "ok"
                for c in ("default", "webster", "optimized", "max-pressure")
                for s in (1, 2)
            }
            keys = ["run_id", "scope", "metric"]
            tables[backend] = df.sort_values(keys).reset_index(drop=True)
    finally:
        ray.shutdown()
    assert len(tables["ray"]) > 100
    # the optimized plans were made, checked by the gate and run as a SUMO program
    assert (tmp_path / "local" / "runs" / "am__optimized__s1" / "optimized.add.xml").is_file()
    pd.testing.assert_frame_equal(tables["local"], tables["ray"], check_exact=True)


@pytest.mark.sumo
def test_queue_model_evaluator_runs_fixed_time_and_loop_controllers(tmp_path):
    """sim.evaluator = "queue-model": the same sweep, the same long table, from the queue model
    (Poisson arrivals per seed): fixed-time plans and loop controllers (through the queue
    loop); SUMO's own actuated control is refused when the config loads."""
    from signals.errors import InputError
    from signals.experiment import load_experiment

    text = RAY_CONFIG.format(net=REPO / "networks" / "test" / "grid2x2.net.xml").replace(
        "end_s = 240", 'end_s = 600\nevaluator = "queue-model"'
    )
    cfg = tmp_path / "qm.toml"
    ctrls = ("default", "webster", "optimized", "max-pressure", "actuated-det")
    cfg.write_text(
        text.replace('"optimized", "max-pressure"', '"optimized", "max-pressure", "actuated-det"')
    )
    df = pd.read_parquet(run_experiment(cfg, tmp_path / "out", log=lambda line: None))
    delay = df[(df["scope"] == "network") & (df["metric"] == "avg_delay_s")]
    assert sorted(delay["run_id"]) == sorted(f"am__{c}__s{s}" for c in ctrls for s in (1, 2))
    assert (delay["value"] > 0).all()
    assert set(df["controller"]) == set(ctrls)
    by = delay.set_index("run_id")["value"]
    assert by["am__webster__s1"] != by["am__webster__s2"]  # the seed draws the arrivals
    assert by["am__max-pressure__s1"] != by["am__webster__s1"]  # the loop ran the controller
    assert {"queue_p95_veh", "control_delay_s"} <= set(df["metric"])
    cfg.write_text(text.replace('"max-pressure"', '"actuated"'))  # SUMO's own needs SUMO
    with pytest.raises(InputError, match="actuated"):
        load_experiment(cfg)
