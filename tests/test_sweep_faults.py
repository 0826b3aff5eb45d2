"""Sweeps lose nothing and mislabel nothing (issue 8; docs/architecture.md, "Bad input and faults").

* kill -9 of the whole sweep mid-run, then a rerun, gives the results of an uninterrupted run;
* a worker killed by a signal (as a SUMO segfault would) is a failed run with its error.txt, the
  sweep goes on, ``signals run`` exits 1, and no temp dirs or ``.sumo-*`` folders are left;
* a tampered or incomplete record is redone on rerun, never filed under another label;
* duplicate or empty run lists and names that would write outside --out are rejected up front.

Most tests replace the SUMO evaluation by the fast fakes below (``run_experiment(dispatch=...)``);
the workers are spawned processes, which import these functions from this module by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from signals.cli import main as cli_main
from signals.errors import InputError
from signals.experiment import (
    CONTROLLERS,
    RECORD,
    load_experiment,
    run_experiment,
    run_id_for,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
NET = REPO / "networks" / "test" / "grid2x2.net.xml"

FAKE = """
name = "fake"
[network]
path = "{net}"
[sim]
end_s = 60
[[scenarios]]
name = "am"
routes = "given.rou.xml"
[run]
controllers = {controllers}
seeds = {seeds}
jobs = 2
"""


# ---- fake evaluations (top-level so that spawned workers can import them) ----------------------


def _table(task) -> pd.DataFrame:
    value = 10.0 * task.seed + len(task.controller)  # deterministic per run
    return pd.DataFrame(
        {
            "run_id": [task.run_id] * 2,
            "scenario": [task.scenario.name] * 2,
            "controller": [task.controller] * 2,
            "seed": [task.seed] * 2,
            "scope": ["network"] * 2,
            "metric": ["avg_delay_s", "throughput_veh"],
            "value": [value, 100.0 + value],
            "unit": ["s", "veh"],
        }
    )


def fake_dispatch(task) -> pd.DataFrame:
    """Like the SUMO evaluator: works in a ``.sumo-*`` dir under the run dir, removes it."""
    work = Path(task.run_dir) / ".sumo-fake"
    work.mkdir()
    (work / "tripinfo.xml").write_text("<tripinfos/>\n")
    time.sleep(0.05)
    (work / "tripinfo.xml").unlink()
    work.rmdir()
    return _table(task)


def kill_dispatch(task) -> pd.DataFrame:
    """A SUMO segfault: the worker dies by a signal after writing temp files and a results file
    under the class's label (what evaluate_online writes before the runner relabels it)."""
    work = Path(task.run_dir) / ".sumo-crash"
    work.mkdir()
    (work / "tripinfo.xml").write_text("<tripinfos>")
    _table(task).assign(controller=task.controller.replace("-", "_")).to_parquet(
        Path(task.run_dir) / "results.parquet"
    )
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def kill_max_pressure_dispatch(task) -> pd.DataFrame:
    if task.controller == "max-pressure":
        return kill_dispatch(task)
    return fake_dispatch(task)


# ---- helpers -----------------------------------------------------------------------------------


def _fake_config(tmp_path: Path, controllers=("default", "max-pressure"), seeds=(1, 2)) -> Path:
    (tmp_path / "given.rou.xml").write_text("<routes/>\n")
    cfg = tmp_path / "exp.toml"
    cfg.write_text(
        FAKE.format(net=NET, controllers=json.dumps(list(controllers)), seeds=list(seeds))
    )
    return cfg


def _leftovers(out: Path) -> list[Path]:
    """Temp files and dirs of any kind (the runner's, SUMO's, atomic writers')."""
    return [p for p in out.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["run_id", "scope", "metric"]).reset_index(drop=True)


def _records(out: Path) -> list[Path]:
    """Committed records (pathlib's glob would also match those in ``.<id>.tmp-*`` dirs)."""
    return sorted(
        p for p in (out / "runs").glob(f"*/{RECORD}") if not p.parent.name.startswith(".")
    )


def _driver(dispatch: str, *cli_args: str) -> list[str]:
    """``signals run`` in a fresh interpreter, with the evaluator replaced by a fake from here."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_sweep_faults as T; "
        "import signals.experiment as E; from signals.cli import main; "
        f"E._dispatch = T.{dispatch}; sys.exit(main(sys.argv[2:]))"
    )
    return [sys.executable, "-c", code, str(TESTS), *cli_args]


# ---- (a) kill -9 of the whole sweep, then a rerun --------------------------------------------

SUMO_CONFIG = """
name = "killed"
[network]
path = "{net}"
[sim]
end_s = 240
[[scenarios]]
name = "am"
veh_per_hour = 500
[run]
controllers = ["default", "max-pressure"]
seeds = [1, 2]
jobs = 2
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "signals.cli", *args]


@pytest.mark.sumo
def test_kill_9_of_the_process_group_then_rerun_equals_uninterrupted_run(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(SUMO_CONFIG.format(net=NET))
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli("run", str(cfg), "--out", str(out)),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not _records(out):
            assert proc.poll() is None, "the sweep ended before any run finished"
            assert time.monotonic() < deadline, "no run finished within 120 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and every worker, mid-sweep
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done_at_kill = len(_records(out))
    assert 1 <= done_at_kill < 4, "the kill must land mid-sweep"
    assert not (out / "results.parquet").exists()

    rerun = subprocess.run(
        _cli("run", str(cfg), "--out", str(out)), capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"4 runs, {done_at_kill} already done, {4 - done_at_kill} to run" in rerun.stdout
    assert _leftovers(out) == []

    fresh = tmp_path / "fresh"
    clean = subprocess.run(
        _cli("run", str(cfg), "--out", str(fresh)), capture_output=True, text=True, timeout=300
    )
    assert clean.returncode == 0, clean.stderr
    got = _sorted(pd.read_parquet(out / "results.parquet"))
    want = _sorted(pd.read_parquet(fresh / "results.parquet"))
    assert len(want) > 0 and got["run_id"].nunique() == 4
    assert_frame_equal(got, want)


# ---- (b) a worker killed by a signal -----------------------------------------------------------


def test_worker_killed_every_time_exits_1_with_error_txt_and_no_leftovers(tmp_path):
    cfg = _fake_config(tmp_path, seeds=(1,))
    out = tmp_path / "out"
    proc = subprocess.run(
        _driver("kill_dispatch", "run", str(cfg), "--out", str(out)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for rid in ("am__default__s1", "am__max-pressure__s1"):
        err = out / "runs" / rid / "error.txt"
        assert err.is_file()
        assert "killed by signal SIGKILL" in err.read_text()
        # nothing the dead worker wrote survives, in particular not its mislabelled results
        assert sorted(p.name for p in (out / "runs" / rid).iterdir()) == ["error.txt"]
    assert _leftovers(out) == []
    assert not (out / "results.parquet").exists()
    meta = json.loads((out / "run.json").read_text())
    assert meta["runs"] == {"am__default__s1": "failed", "am__max-pressure__s1": "failed"}
    assert "2 run(s) failed" in proc.stderr or "no run finished" in proc.stderr


def test_killed_worker_fails_only_its_run_and_a_rerun_redoes_it(tmp_path):
    cfg = _fake_config(tmp_path, seeds=(1, 2))
    out = tmp_path / "out"
    logs: list[str] = []
    results = run_experiment(cfg, out, dispatch=kill_max_pressure_dispatch, log=logs.append)
    df = pd.read_parquet(results)
    assert set(df["run_id"]) == {"am__default__s1", "am__default__s2"}  # the sweep went on
    for seed in (1, 2):
        err = out / "runs" / f"am__max-pressure__s{seed}" / "error.txt"
        assert "SIGKILL" in err.read_text()
    assert sum("FAILED" in line and "SIGKILL" in line for line in logs) == 2, logs
    assert _leftovers(out) == []

    logs.clear()
    results = run_experiment(cfg, out, dispatch=fake_dispatch, log=logs.append)
    assert any("4 runs, 2 already done, 2 to run" in line for line in logs), logs
    assert not list((out / "runs").glob("*/error.txt"))
    assert set(pd.read_parquet(results)["controller"]) == {"default", "max-pressure"}
    assert _leftovers(out) == []


# ---- (c) tampered or incomplete records are redone -------------------------------------------


def test_tampered_or_incomplete_records_are_redone_never_mislabelled(tmp_path):
    cfg = _fake_config(tmp_path, seeds=(1, 2, 3))
    out = tmp_path / "out"
    logs: list[str] = []
    want = _sorted(pd.read_parquet(run_experiment(cfg, out, dispatch=fake_dispatch, log=print)))
    runs = out / "runs"

    # checksum mismatch: a value changed after the record was written
    a = runs / "am__default__s1"
    pd.read_parquet(a / "results.parquet").assign(value=-1.0).to_parquet(a / "results.parquet")
    # right checksum, wrong label inside the table (max-pressure filed as max_pressure)
    b = runs / "am__max-pressure__s1"
    pd.read_parquet(b / "results.parquet").assign(controller="max_pressure").to_parquet(
        b / "results.parquet"
    )
    rec = json.loads((b / RECORD).read_text())
    rec["results_sha256"] = sha256_file(b / "results.parquet")
    (b / RECORD).write_text(json.dumps(rec))
    # a record that says it is another run's
    c = runs / "am__default__s2"
    rec = json.loads((c / RECORD).read_text())
    rec["task"]["controller"] = "max-pressure"
    (c / RECORD).write_text(json.dumps(rec))
    # a crash after the results were written but before the record: results under the class label
    d = runs / "am__max-pressure__s2"
    (d / RECORD).unlink()
    pd.read_parquet(d / "results.parquet").assign(controller="max_pressure").to_parquet(
        d / "results.parquet"
    )
    # temp dirs of a killed sweep
    (runs / ".am__default__s3.tmp-abcd1234" / ".sumo-x").mkdir(parents=True)
    (runs / ".am__default__s3.old-abcd1234").mkdir()
    untouched = {p: (p / RECORD).stat().st_mtime_ns for p in runs.glob("am__*__s3")}

    results = run_experiment(cfg, out, dispatch=fake_dispatch, log=logs.append)
    assert any("6 runs, 2 already done, 4 to run" in line for line in logs), logs
    text = "\n".join(logs)
    assert "am__default__s1: redo (results checksum mismatch)" in text
    assert "am__max-pressure__s1: redo (results do not verify" in text
    assert "am__default__s2: redo (record is for another run config" in text
    assert "am__max-pressure__s2: redo (no record" in text
    assert "removed 2 temporary" in text
    assert {p: (p / RECORD).stat().st_mtime_ns for p in untouched} == untouched
    got = _sorted(pd.read_parquet(results))
    assert "max_pressure" not in set(got["controller"])
    assert_frame_equal(got, want)
    assert _leftovers(out) == []


def test_changed_scenario_redoes_its_runs(tmp_path):
    cfg = _fake_config(tmp_path, controllers=("default",), seeds=(1,))
    out = tmp_path / "out"
    run_experiment(cfg, out, dispatch=fake_dispatch, log=lambda s: None)
    cfg.write_text(cfg.read_text().replace("end_s = 60", "end_s = 120"))
    logs: list[str] = []
    run_experiment(cfg, out, dispatch=fake_dispatch, log=logs.append)
    assert any("1 runs, 0 already done, 1 to run" in line for line in logs), logs
    assert any("differs in sim" in line for line in logs), logs


# ---- (d) rejected before any run starts ------------------------------------------------------

GOOD = """
name = "t"
[network]
path = "{net}"
[[scenarios]]
name = "am"
[run]
controllers = ["default", "webster"]
seeds = [1, 2]
"""

BAD = [
    ("seeds = [1, 2]", "seeds = [1, 1]", "run.seeds", "1 repeated"),
    ("seeds = [1, 2]", "seeds = []", "run.seeds", "an empty list"),
    ("seeds = [1, 2]", "seeds = [1, -3]", "run.seeds", "-3"),
    ("seeds = [1, 2]", "seeds = [4294967296]", "run.seeds", "4294967296"),
    ('"default", "webster"', '"webster", "webster"', "run.controllers", "'webster' repeated"),
    ('controllers = ["default", "webster"]', "controllers = []", "run.controllers", "empty"),
    ('name = "am"', 'name = "../../evil"', "scenarios.name", "'../../evil'"),
    ('name = "am"', 'name = "a/b"', "scenarios.name", "'a/b'"),
    ('name = "am"', 'name = "/tmp/abs"', "scenarios.name", "'/tmp/abs'"),
    ('name = "am"', 'name = ".."', "scenarios.name", "'..'"),
    ('name = "am"', 'name = ".hidden"', "scenarios.name", "'.hidden'"),
    ('name = "am"', 'name = "a\\\\b"', "scenarios.name", "'a\\\\b'"),
    ('name = "am"', 'name = ""', "scenarios.name", "''"),
    ('name = "t"', 'name = "../escape"', "name", "'../escape'"),
    ('name = "t"', 'name = "/abs/exp"', "name", "'/abs/exp'"),
    ('name = "t"', 'name = "-rf"', "name", "'-rf'"),
]


@pytest.mark.parametrize(("old", "new", "field", "found"), BAD)
def test_bad_sweep_configs_exit_2_one_line_nothing_written(
    tmp_path, capsys, old, new, field, found
):
    text = GOOD.format(net=NET)
    assert old in text
    cfg = tmp_path / "exp.toml"
    cfg.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        load_experiment(cfg)
    assert info.value.field == field
    assert found in str(info.value.found)

    out = tmp_path / "out"
    capsys.readouterr()
    rc = cli_main(["run", str(cfg), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"signals: error: {cfg}: {field}: expected ")
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


def test_unsafe_experiment_name_without_out_writes_nothing_in_a_real_process(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(GOOD.format(net=NET).replace('name = "t"', 'name = "../../outside"'))
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        _cli("run", str(cfg)), cwd=work, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ": name: expected a name of" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml", "work"]
    assert list(work.iterdir()) == []


def test_run_ids_are_injective():
    scenarios = ["x", "x_", "x__default", "x__default__s1", "x_.-", "_x", "x__s1"]
    ids = [
        run_id_for(s, c, seed) for s in scenarios for c in CONTROLLERS for seed in (0, 1, 11, 111)
    ]
    assert len(set(ids)) == len(ids) == len(scenarios) * len(CONTROLLERS) * 4


@pytest.mark.parametrize("case", ["out_is_file", "out_under_file", "jobs_zero", "jobs_text"])
def test_bad_out_or_jobs_exit_2_one_line(tmp_path, capsys, case):
    cfg = _fake_config(tmp_path)
    (tmp_path / "afile").write_text("x\n")
    out = {"out_is_file": "afile", "out_under_file": "afile/out"}.get(case, "out")
    jobs = {"jobs_zero": ["--jobs", "0"], "jobs_text": ["--jobs", "two"]}.get(case, [])
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        rc = cli_main(["run", str(cfg), "--out", str(tmp_path / out), *jobs])
    except SystemExit as exc:  # argparse's own exit for a bad option value
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert ("--jobs" if case.startswith("jobs") else "--out") in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "afile").read_text() == "x\n"


def test_a_second_sweep_on_the_same_out_is_refused(tmp_path):
    import fcntl

    cfg = _fake_config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `signals run` holds it
        with pytest.raises(InputError, match="no other `signals run` is using"):
            run_experiment(cfg, out, dispatch=fake_dispatch, log=lambda s: None)
    finally:
        os.close(fd)
    assert list(out.iterdir()) == []
