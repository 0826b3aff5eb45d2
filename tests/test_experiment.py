"""Experiment configs: typed loading that rejects unknown keys and bad values with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signals.errors import InputError
from signals.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]

GOOD = """
name = "t"
[network]
recipe = "pilot-zone"
[[scenarios]]
name = "am"
period = "am_peak"
[run]
controllers = ["default"]
seeds = [1, 2]
"""


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


def test_committed_configs_load():
    configs = sorted((REPO / "experiments").glob("*.toml"))
    assert configs, "experiments/ must hold at least the quickstart config"
    for cfg in configs:
        exp = load_experiment(cfg)
        assert exp.scenarios


def test_good_config_types(tmp_path):
    exp = load_experiment(write(tmp_path, GOOD))
    assert exp.run.seeds == [1, 2]
    assert exp.sim.end_s == 3600.0 and isinstance(exp.sim.end_s, float)
    assert exp.scenarios[0].cv_share == 0.3


@pytest.mark.parametrize(
    ("text", "field", "found"),
    [
        (
            GOOD.replace('period = "am_peak"', 'period = "am_peak"\nscael = 2'),
            "scenarios[0].scael",
            "unknown key",
        ),
        (
            GOOD.replace('period = "am_peak"', 'period = "am_peak"\nveh_per_hour = -5'),
            "scenarios.am.veh_per_hour",
            "-5",
        ),
        (GOOD.replace("seeds = [1, 2]", 'seeds = ["one"]'), "run.seeds[0]", "'one'"),
        (
            GOOD.replace('controllers = ["default"]', 'controllers = ["magic"]'),
            "run.controllers",
            "magic",
        ),
        (GOOD.replace('recipe = "pilot-zone"', ""), "network", "recipe=None"),
        (GOOD.replace('name = "t"', ""), "name", "missing"),
        (GOOD.replace("seeds = [1, 2]", "seeds = []"), "run.seeds", "an empty list"),
        (
            GOOD.replace('recipe = "pilot-zone"', 'path = "no_such.net.xml"'),
            "network.path",
            "no_such.net.xml",
        ),
        (GOOD + "\n[sim]\nbegin_s = 100\nend_s = 50\n", "sim.end_s", "50"),
        (
            GOOD.replace('period = "am_peak"', 'period = "am_peak"\ncv_share = 1.5'),
            "scenarios.am.cv_share",
            "1.5",
        ),
    ],
)
def test_bad_configs_name_file_field_expected_found(tmp_path, text, field, found):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_experiment(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == field
    assert found in str(err.found)
    assert str(err).startswith(f"{path}: {field}: expected ")


def test_toml_syntax_error(tmp_path):
    with pytest.raises(InputError, match="valid TOML"):
        load_experiment(write(tmp_path, "name = \n"))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signals.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path):
    path = write(tmp_path, GOOD.replace("[run]", "[run]\njbos = 3"))
    out = tmp_path / "out"
    proc = _cli("run", str(path), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "run.jbos" in lines[0] and "unknown key" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    # a missing network: one line, and no output directory either
    path = write(tmp_path, GOOD.replace('recipe = "pilot-zone"', 'path = "no_such.net.xml"'))
    proc = _cli("run", str(path), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "network.path" in proc.stderr and not out.exists()


def test_cli_missing_config(tmp_path):
    proc = _cli("run", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"signals: error: {tmp_path / 'nope.toml'}: config: expected an existing TOML config file, found no such file"
    ]


def test_cli_debug_shows_traceback(tmp_path):
    proc = _cli("--debug", "run", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_progress_counts_failures_and_eta_on_plain_lines(tmp_path):
    from signals.experiment import Progress

    lines: list[str] = []
    log = tmp_path / "run.log"
    pr = Progress(3, lines.append, tty=False, logfile=log)
    pr.update({"run_id": "a", "status": "ok", "wall_s": 1.0})
    pr.update({"run_id": "b", "status": "failed", "error": "boom", "wall_s": 2.0})
    assert "[1/3 done, 0 failed, 2 remaining" in lines[0] and "ETA" in lines[0]
    assert lines[1].startswith("[signals] b: failed (2.0 s): boom [2/3 done, 1 failed, 1 remaining")
    assert log.read_text().splitlines() == lines
    assert pr.bar is None


PARAMS = GOOD.replace('controllers = ["default"]', 'controllers = ["default", "actuated-det"]')


def test_controller_settings_are_checked_when_the_config_loads(tmp_path):
    good = PARAMS + "[run.params.actuated-det]\ntiming = { max1_s = 60.0, max2_s = 120.0 }\n"
    exp = load_experiment(write(tmp_path, good))
    assert exp.run.params == {"actuated-det": {"timing": {"max1_s": 60.0, "max2_s": 120.0}}}
    bad = [
        ("[run.params.actuated-det]\ntiming = { max1_s = 60.0, maxx = 1 }\n", "maxx"),
        ("[run.params.actuated-det]\ntiming = { max1_s = -1.0 }\n", "max1_s"),
        ("[run.params.actuated-det]\nspeed = 3\n", "speed"),
        ("[run.params.max-pressure]\ntie_eps = 0.1\n", "'max-pressure'"),
        ("[run.params.default]\nx = 1\n", "'default'"),
    ]
    for extra, found in bad:
        with pytest.raises(InputError) as info:
            load_experiment(write(tmp_path, PARAMS + extra))
        assert info.value.field.startswith("run.params."), extra
        assert found in str(info.value.found), (extra, info.value)


def test_controller_settings_reach_the_run_and_its_record_key():
    from signals.experiment import RunTask, Scenario, SimSpec

    def task(params):
        return RunTask("a__actuated-det__s1", Scenario("a"), "actuated-det", 1, "n", "r",
                       SimSpec(), "d", params=params)  # fmt: skip

    assert "params" not in task({}).key()  # records written before settings existed verify
    assert task({"timing": {"max1_s": 60.0}}).key()["params"] == {"timing": {"max1_s": 60.0}}


def test_cv_controllers_assume_the_scenarios_share_unless_set():
    from signals.experiment import RunTask, Scenario, SimSpec, controller_kwargs

    def task(ctrl, share, params):
        return RunTask("x", Scenario("a", cv_share=share), ctrl, 1, "n", "r", SimSpec(), "d",
                       params=params)  # fmt: skip

    assert controller_kwargs(task("actuated-cv", 0.2, {})) == {"penetration": 0.2}
    assert controller_kwargs(task("actuated-cv", 0.2, {"penetration": 0.5})) == {"penetration": 0.5}
    assert controller_kwargs(task("cv-max-pressure", 0.0, {})) == {}
    assert controller_kwargs(task("actuated-det", 0.3, {"skip": 1})) == {"skip": 1}
