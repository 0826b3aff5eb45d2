"""Bad input on every command: exit 2, one line on stderr naming the file or the field, no traceback,
and nothing new in the output location (docs/architecture.md, "Bad input and faults"; issue 8).

Each case builds its small inputs in ``tmp_path`` (plus the committed test net), snapshots the
directory, runs the CLI (in-process with capsys; in a subprocess where SUMO itself loads the inputs,
so SUMO's own prints on file descriptor 2 are seen too) and compares the listing afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from signals.cli import main

REPO = Path(__file__).resolve().parents[1]
NET = REPO / "networks" / "test" / "arterial3.net.xml"  # 3 signals A0-A2, no .meta.json

ROUTES_OK = """<routes>
    <vType id="hv" vClass="passenger"/>
    <vehicle id="v0" type="hv" depart="0"><route edges="N1-A1 A1-A0.A1.b A0.A1.b-A0.A1.a"/></vehicle>
    <vehicle id="v1" type="hv" depart="5"><route edges="S0-A0 A0-W.A0.b W.A0.b-W"/></vehicle>
</routes>
"""


def _w(t: Path, name: str, text: str | bytes) -> str:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return str(p)


def _file(t: Path) -> str:
    """A regular file where a folder is needed."""
    return _w(t, "afile", "x")


def _dir(t: Path) -> str:
    (t / "adir").mkdir(exist_ok=True)
    return str(t / "adir")


def _plan_json(t: Path, doc: dict | str | bytes, name: str = "plan.json") -> str:
    text = doc if isinstance(doc, str | bytes) else json.dumps(doc)
    return _w(t, name, text)


def _period(name: str, b: float, e: float, **extra) -> dict:
    return {"name": name, "begin_s": b, "end_s": e, "signals": [], **extra}


def _export(plan: str, t: Path, fmt: str = "csv", out: str | None = None) -> list[str]:
    out = out or str(t / "out.csv")
    return ["plan", "export", plan, "--net", str(NET), "--format", fmt, "--out", out]


def _gen(t: Path, *extra: str) -> list[str]:
    args = ["demand", "generate", "--net", str(NET), "--out", str(t / "r.rou.xml")]
    return [*args, "--end", "300", "--veh-per-hour", "300", *extra]


def _config(
    t: Path, sim: str = "", scenario: str = "", network: str | None = None, vph: str = "300"
) -> str:
    network = network or f'path = "{NET}"'
    text = (
        f'name = "x"\n[network]\n{network}\n[sim]\nend_s = 300\n{sim}\n'
        f'[[scenarios]]\nname = "a"\nveh_per_hour = {vph}\n{scenario}\n'
        '[run]\ncontrollers = ["default"]\nseeds = [1]\njobs = 1\n'
    )
    return _w(t, "exp.toml", text)


def _run(t: Path, config: str) -> list[str]:
    return ["run", config, "--out", str(t / "runout"), "--networks-dir", str(t / "nets")]


def _od(t: Path, text: str | bytes) -> list[str]:
    od = _w(t, "od.csv", text)
    return ["demand", "od", "--net", str(NET), "--od", od, "--out", str(t / "od.rou.xml")]


def _counts(t: Path, text: str | bytes, *extra: str) -> list[str]:
    c = _w(t, "counts.csv", text)
    args = ["demand", "counts", "--net", str(NET), "--counts", c]
    return [*args, "--out", str(t / "c.rou.xml"), *extra]


def _evaluate(t: Path, routes: str, *extra: str) -> list[str]:
    return ["evaluate", "--net", str(NET), "--routes", routes, "--end", "60", *extra]


def _spat(t: Path, *extra: str) -> list[str]:
    return ["v2x", "spat", str(NET), "--out", str(t / "spat.jsonl"), *extra]


# (id, build(tmp) -> argv, substrings the one line must contain)
Case = tuple[str, Callable[[Path], list[str]], tuple[str, ...]]
CASES: list[Case] = [
    # ------------------------------------------------------------------ network build/info/import-osm
    ("build-unknown-recipe", lambda t: ["network", "build", "nosuch", "--out", str(t / "n")],
     ("recipe", "nosuch")),
    ("build-out-is-file", lambda t: ["network", "build", "pilot-zone", "--out", _file(t)],
     ("afile", "regular file")),
    ("build-out-under-file", lambda t: ["network", "build", "pilot-zone", "--out", _file(t) + "/n"],
     ("afile", "regular file")),
    ("build-seed-negative", lambda t: ["network", "build", "pilot-zone", "--out", str(t / "n"),
                                       "--seed", "-1"], ("--seed", "-1")),
    ("info-missing-net", lambda t: ["network", "info", str(t / "none.net.xml")], ("none.net.xml",)),
    ("info-not-a-net", lambda t: ["network", "info", _w(t, "r.rou.xml", ROUTES_OK)], ("r.rou.xml",)),
    ("info-not-xml", lambda t: ["network", "info", _w(t, "x.net.xml", "hello")], ("x.net.xml",)),
    ("import-osm-missing", lambda t: ["network", "import-osm", str(t / "none.osm"), "--out",
                                      str(t / "n")], ("none.osm",)),
    ("import-osm-not-osm", lambda t: ["network", "import-osm", _w(t, "x.osm", "<notosm/>"),
                                      "--out", str(t / "n")], ("x.osm", "<osm>")),
    ("import-osm-out-under-file", lambda t: ["network", "import-osm", _w(t, "x.osm", "<osm/>"),
                                             "--out", _file(t) + "/n"], ("afile",)),
    # ------------------------------------------------------------------------------ demand generate
    ("generate-seed-negative", lambda t: _gen(t, "--seed", "-1"), ("--seed", "-1")),
    ("generate-vph-1e12", lambda t: [*_gen(t), "--veh-per-hour", "1e12"], ("--veh-per-hour",)),
    ("generate-vph-nan", lambda t: [*_gen(t), "--veh-per-hour", "nan"], ("--veh-per-hour",)),
    ("generate-out-under-file", lambda t: [*_gen(t), "--out", _file(t) + "/r.rou.xml"],
     ("afile", "regular file")),
    ("generate-out-is-dir", lambda t: [*_gen(t), "--out", _dir(t)], ("adir", "directory")),
    ("generate-cv-share", lambda t: _gen(t, "--cv-share", "1.5"), ("--cv-share",)),
    ("generate-period", lambda t: _gen(t, "--period", "lunch"), ("--period", "lunch")),
    ("generate-window", lambda t: _gen(t, "--begin", "300", "--end", "100"), ("--end",)),
    ("generate-no-meta", lambda t: ["demand", "generate", "--net", str(NET), "--out",
                                    str(t / "r.rou.xml")], ("arterial3.meta.json",)),
    ("generate-missing-net", lambda t: ["demand", "generate", "--net", str(t / "no.net.xml"),
                                        "--out", str(t / "r.rou.xml"), "--veh-per-hour", "1"],
     ("no.net.xml",)),
    # ----------------------------------------------------------------------------------- demand od
    ("od-not-utf8", lambda t: _od(t, b"origin_edge,destination_edge,veh_per_hour\nN1-A1,A1-S1,\xff9\n"),
     ("od.csv", "UTF-8")),
    ("od-header", lambda t: _od(t, "from,to,n\nN1-A1,A1-S1,10\n"), ("od.csv", "header")),
    ("od-unknown-edge", lambda t: _od(t, "origin_edge,destination_edge,veh_per_hour\nZZ,A1-S1,10\n"),
     ("od.csv", "origin", "ZZ")),
    ("od-row-vph-1e12", lambda t: _od(t, "origin_edge,destination_edge,veh_per_hour\n"
                                         "N1-A1,A1-S1,1e12\n"), ("od.csv", "veh_per_hour")),
    ("od-out-is-dir", lambda t: [*_od(t, "origin_edge,destination_edge,veh_per_hour\n"
                                         "N1-A1,A1-S1,10\n"), "--out", _dir(t)], ("adir",)),
    # ------------------------------------------------------------------------------- demand counts
    ("counts-not-utf8", lambda t: _counts(t, b"from_edge,to_edge,veh_per_hour\nN1-A1,A1-S1,\xfe\n"),
     ("counts.csv", "UTF-8")),
    ("counts-unknown-edge", lambda t: _counts(t, "from_edge,to_edge,veh_per_hour\nZZ,A1-S1,10\n"),
     ("counts.csv", "from_edge")),
    ("counts-candidates-0", lambda t: _counts(t, "from_edge,to_edge,veh_per_hour\n"
                                                "N1-A1,A1-S1,10\n", "--candidates", "0"),
     ("--candidates",)),
    # ------------------------------------------------------------------------------ demand turning
    ("turning-missing-routes", lambda t: ["demand", "turning", "--net", str(NET), "--routes",
                                          str(t / "none.rou.xml")], ("none.rou.xml",)),
    ("turning-csv-under-file", lambda t: ["demand", "turning", "--net", str(NET), "--routes",
                                          _w(t, "r.rou.xml", ROUTES_OK), "--csv",
                                          _file(t) + "/t.csv"], ("afile", "--csv")),
    # ------------------------------------------------------------------------------------ evaluate
    ("evaluate-unknown-edge", lambda t: _evaluate(t, _w(t, "bad.rou.xml", ROUTES_OK.replace(
        'edges="S0-A0', 'edges="nosuch S0-A0')), "--out", str(t / "ev")),
     ("bad.rou.xml", "nosuch", "expected edges of arterial3.net.xml")),
    ("evaluate-out-under-file", lambda t: _evaluate(t, _w(t, "r.rou.xml", ROUTES_OK), "--out",
                                                    _file(t) + "/ev"), ("afile", "regular file")),
    ("evaluate-out-is-file", lambda t: _evaluate(t, _w(t, "r.rou.xml", ROUTES_OK), "--out",
                                                 _file(t)), ("afile", "--out")),
    ("evaluate-seed-negative", lambda t: _evaluate(t, _w(t, "r.rou.xml", ROUTES_OK), "--seed",
                                                   "-1"), ("--seed",)),
    ("evaluate-window", lambda t: _evaluate(t, _w(t, "r.rou.xml", ROUTES_OK), "--begin", "300",
                                            "--end", "100"), ("--end",)),
    ("evaluate-routes-not-xml", lambda t: _evaluate(t, _w(t, "r.rou.xml", "hello"), "--out",
                                                    str(t / "ev")), ("r.rou.xml",)),
    ("evaluate-program-missing", lambda t: _evaluate(t, _w(t, "r.rou.xml", ROUTES_OK),
                                                     "--program", str(t / "none.add.xml")),
     ("none.add.xml",)),
    # ----------------------------------------------------------------------------------------- run
    ("run-begin-negative", lambda t: _run(t, _config(t, sim="begin_s = -100")),
     ("exp.toml", "sim.begin_s")),
    ("run-period-lunch", lambda t: _run(t, _config(t, scenario='period = "lunch"')),
     ("exp.toml", "period", "lunch")),
    ("run-unknown-recipe", lambda t: _run(t, _config(t, network='recipe = "nosuch"')),
     ("exp.toml", "network.recipe")),
    ("run-vph-1e12", lambda t: _run(t, _config(t, vph="1e12")), ("exp.toml", "veh_per_hour")),
    ("run-unknown-key", lambda t: _run(t, _config(t, sim="speed = 3")), ("exp.toml", "sim.speed")),
    ("run-out-under-file", lambda t: [*_run(t, _config(t)), "--out", _file(t) + "/o"],
     ("afile", "--out")),
    ("run-out-is-file", lambda t: [*_run(t, _config(t)), "--out", _file(t)], ("afile", "--out")),
    ("run-missing-config", lambda t: _run(t, str(t / "none.toml")), ("none.toml",)),
    # ---------------------------------------------------------------------- plan export / validate
    ("plan-json-not-utf8", lambda t: _export(_plan_json(t, b'{"version": 1, "signals": [], '
                                                          b'"net": "\xff"}'), t),
     ("plan.json", "UTF-8")),
    ("plan-json-deep", lambda t: _export(_plan_json(t, '{"a":' * 200_000 + "1" + "}" * 200_000), t),
     ("plan.json", "json")),
    ("plan-waut-time-abc", lambda t: _export(_w(t, "p.add.xml", (
        '<additional><tlLogic id="A0" programID="am" offset="0" type="static">'
        '<phase duration="30" state="GGrr"/></tlLogic>'
        '<WAUT id="w" refTime="0" startProg="am"><wautSwitch time="abc" to="am"/></WAUT>'
        '<wautJunction wautID="w" junctionID="A0"/></additional>')), t),
     ("p.add.xml", "wautSwitch", "abc")),
    ("plan-duplicate-period", lambda t: _export(_plan_json(t, {"version": 1, "periods": [
        _period("am", 0, 3600), _period("am", 3600, 7200)]}), t), ("plan.json", "periods[1].name")),
    ("plan-end-before-begin", lambda t: _export(_plan_json(t, {"version": 1, "periods": [
        _period("am", 7200, 3600)]}), t), ("plan.json", "periods[0].end_s")),
    ("plan-unknown-top-key", lambda t: _export(_plan_json(t, {"version": 1, "signals": [],
                                                              "cycle": 90}), t),
     ("plan.json", "cycle", "unknown key")),
    ("plan-unknown-period-key", lambda t: _export(_plan_json(t, {"version": 1, "periods": [
        _period("am", 0, 3600, offset=5)]}), t), ("plan.json", "periods[0].offset")),
    ("plan-export-out-under-file", lambda t: _export(_plan_json(t, {"version": 1, "signals": []}),
                                                     t, out=_file(t) + "/o.csv"), ("afile",)),
    ("plan-export-out-is-dir", lambda t: _export(_plan_json(t, {"version": 1, "signals": []}), t,
                                                 out=_dir(t)), ("adir", "directory")),
    ("plan-export-tod-negative", lambda t: [*_export(_plan_json(t, {"version": 1, "signals": []}),
                                                     t), "--tod-zero-s", "-5"], ("--tod-zero-s",)),
    ("plan-validate-not-utf8", lambda t: ["plan", "validate", _plan_json(t, b'{"version": 1, '
                                          b'"signals": [], "net": "\xff"}'), "--net", str(NET)],
     ("plan.json", "UTF-8")),
    ("spat-plans-duplicate-period", lambda t: _spat(t, "--plans", _plan_json(t, {
        "version": 1, "periods": [_period("am", 0, 3600), _period("am", 0, 3600)]})),
     ("plan.json", "periods[1].name")),
    ("plan-validate-missing", lambda t: ["plan", "validate", str(t / "none.json"), "--net",
                                         str(NET)], ("none.json",)),
    ("plan-fixed-time-demand-spec", lambda t: ["plan", "fixed-time", "--net", str(NET), "--demand",
                                               "am_peak", "--out", str(t / "ft")], ("--demand",)),
    ("plan-fixed-time-out-is-file", lambda t: ["plan", "fixed-time", "--net", str(NET), "--routes",
                                               _w(t, "r.rou.xml", ROUTES_OK), "--out", _file(t)],
     ("afile", "--out")),
    # ------------------------------------------------------------------------------------ v2x
    ("spat-window", lambda t: _spat(t, "--begin", "300", "--end", "100"), ("--end", "300")),
    ("spat-out-is-dir", lambda t: [*_spat(t), "--out", _dir(t)], ("adir", "directory")),
    ("spat-unknown-signal", lambda t: _spat(t, "--signals", "nosuch"), ("nosuch",)),
    ("map-out-under-file", lambda t: ["v2x", "map", str(NET), "--out", _file(t) + "/m.json"],
     ("afile",)),
    ("map-missing-net", lambda t: ["v2x", "map", str(t / "no.net.xml"), "--out", str(t / "m.json")],
     ("no.net.xml",)),
    # ----------------------------------------------------------------------------------- bench
    ("bench-hotpath-missing-net", lambda t: ["bench", "hotpath", "--net", str(t / "no.net.xml")],
     ("no.net.xml",)),
    ("bench-fixed-time-missing-net", lambda t: ["bench", "fixed-time", "--net",
                                                str(t / "no.net.xml")], ("no.net.xml",)),
    ("bench-accuracy-missing-net", lambda t: ["bench", "accuracy", "--nets", str(t / "no.net.xml")],
     ("no.net.xml",)),
    ("bench-accuracy-unknown-net", lambda t: ["bench", "accuracy", "--nets", "atlantis"],
     ("--nets", "atlantis", "pilot-zone")),
    ("bench-calibration-evaluation-seed", lambda t: ["bench", "calibration", "--seeds", "1", "12"],
     ("--seeds", "tuning seeds only", "12")),
    ("bench-work-is-file", lambda t: ["bench", "glosa", "--work", _file(t)], ("afile", "--work")),
    ("bench-adaptive-tune-evaluation-seed", lambda t: ["bench", "adaptive", "--tune", "--work",
     str(t / "w"), "--tune-seeds", "1", "12"], ("--tune-seeds", "tuning seeds", "12")),
    ("bench-adaptive-tune-bad-timing", lambda t: ["bench", "adaptive", "--tune", "--work",
     str(t / "w"), "--timing", '{"bogus": 1}'], ("--timing", "ActuatedTiming", "bogus")),
    ("bench-adaptive-tune-bad-penetration", lambda t: ["bench", "adaptive", "--tune", "--work",
     str(t / "w"), "--controllers", "actuated_cv@x"], ("--controllers", "actuated_cv@x")),
    ("bench-adaptive-tune-unknown-controller", lambda t: ["bench", "adaptive", "--tune", "--work",
     str(t / "w"), "--controllers", "foo"], ("--controllers", "foo")),
]  # fmt: skip


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _check(rc: int, err: str, names: tuple[str, ...]) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in names:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("case_id,build,names", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line(case_id, build, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs (bench work folders) land here too
    argv = build(tmp_path)
    before = _listing(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    cap = capsys.readouterr()
    _check(rc, cap.err, names)
    assert _listing(tmp_path) == before


def test_cases_are_many_and_distinct():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)
    commands = {c[1](Path(tempfile.mkdtemp()))[0] for c in CASES}
    assert commands >= {"network", "demand", "evaluate", "run", "plan", "v2x", "bench"}


# --------------------------------------------------------------- SUMO loads the inputs (subprocess)
def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [sys.executable, "-m", "signals", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "routes,names",
    [
        # SUMO's first error names the attribute (later ones say "Invalid parsing embedded VType")
        (ROUTES_OK.replace('vClass="passenger"', 'vClass="passenger" accel="abc"'), ("accel",)),
        # today: SUMO's raw lines, then "found Process Error"
        (
            ROUTES_OK.replace('type="hv" depart="5"', 'type="nosuchtype" depart="5"'),
            ("nosuchtype",),
        ),
    ],
    ids=["vtype-attribute", "unknown-vtype"],
)
def test_sumo_load_error_is_one_line(tmp_path, routes, names):
    r = _w(tmp_path, "r.rou.xml", routes)
    before = _listing(tmp_path)
    proc = _cli(_evaluate(tmp_path, r, "--out", str(tmp_path / "ev")), tmp_path)
    _check(proc.returncode, proc.stderr, ("r.rou.xml", *names))
    assert "Process Error" not in proc.stderr and "Error:" not in proc.stderr
    assert _listing(tmp_path) == before


# ------------------------------------------------------------------------ a full disk (ENOSPC)
def _full_disk(monkeypatch) -> None:
    """Every temporary output file of signals.errors is backed by /dev/full: writes fail ENOSPC."""
    import signals.errors as E

    real = tempfile.mkstemp

    def mkstemp(*a, **k):
        fd, name = real(*a, **k)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(E, "tempfile", types.SimpleNamespace(mkstemp=mkstemp))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "build,out",
    [
        (lambda t: ["v2x", "map", str(NET), "--out", str(t / "m.json")], "m.json"),
        (lambda t: _gen(t, "--end", "60"), "r.rou.xml"),
        (lambda t: _spat(t, "--end", "60"), "spat.jsonl"),
    ],  # fmt: skip
    ids=["v2x-map", "demand-generate", "v2x-spat"],
)
def test_full_disk_names_the_output(build, out, tmp_path, capsys, monkeypatch):
    argv = build(tmp_path)
    before = _listing(tmp_path)
    _full_disk(monkeypatch)
    rc = main(argv)
    _check(rc, capsys.readouterr().err, (out, "No space left on device"))
    assert _listing(tmp_path) == before
