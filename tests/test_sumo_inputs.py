"""SUMO inputs as SUMO takes them (issue 9): several additional files (``<additional>`` and
``<add>`` roots) with vehicle types, bus stops and tlLogics, several route files, a tlLogic with
unused state characters, every tlLogic through the safety gate, and ``evaluate --controller``
running the controller it names."""

from __future__ import annotations

import json
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from signals import sumo_tools
from signals.cli import main
from signals.errors import InputError
from signals.evaluate import sumo_run as SR
from signals.network import Network, SumoLoadWarning
from signals.safety import UnsafePlanError

pytestmark = pytest.mark.sumo

END = "240"

NODES = """<nodes>
  <node id="C" x="0" y="0" type="traffic_light"/>
  <node id="N" x="0" y="250"/><node id="S" x="0" y="-250"/>
  <node id="E" x="250" y="0"/><node id="W" x="-250" y="0"/>
</nodes>
"""
EDGES = (
    "<edges>\n"
    + "".join(
        f'  <edge id="{a}{b}" from="{a}" to="{b}" numLanes="1" speed="13.89"/>\n'
        for x in "NSEW"
        for a, b in ((x, "C"), ("C", x))
    )
    + "</edges>\n"
)

VTYPES = (
    '<additional>\n  <vType id="car" vClass="passenger"/>\n'
    '  <vType id="bus" vClass="bus" length="12"/>\n</additional>\n'
)
BUS_STOP = '<add>\n  <busStop id="stop_n" lane="NC_0" startPos="100" endPos="130"/>\n</add>\n'
# unbalanced demand (north-south heavy), so a controller that reacts to queues differs from
# the net's fixed 42/42 s program; a bus line stops 30 s at the stop on NC
ROUTES = """<routes>
  <flow id="ns" type="car" from="NC" to="CS" begin="0" end="240" vehsPerHour="700"/>
  <flow id="sn" type="car" from="SC" to="CN" begin="0" end="240" vehsPerHour="600"/>
  <flow id="ew" type="car" from="EC" to="CW" begin="0" end="240" vehsPerHour="120"/>
  <flow id="we" type="car" from="WC" to="CE" begin="0" end="240" vehsPerHour="90"/>
  <flow id="line1" type="bus" from="NC" to="CS" begin="5" end="240" period="120">
    <stop busStop="stop_n" duration="30"/>
  </flow>
</routes>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    """A 4-arm signalized junction from hand-written plain XML (netconvert), its inputs as
    separate files: vehicle types (<additional>), a bus stop (<add>), the route file."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "x.nod.xml").write_text(NODES)
    (d / "x.edg.xml").write_text(EDGES)
    net = d / "x.net.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("netconvert"),
            "-n",
            str(d / "x.nod.xml"),
            "-e",
            str(d / "x.edg.xml"),
            "--no-turnarounds",
            "true",
            "-o",
            str(net),
        ]
    )
    files = {"net": net, "dir": d}
    for name, text in (
        ("types.add.xml", VTYPES),
        ("stops.add.xml", BUS_STOP),
        ("demand.rou.xml", ROUTES),
        ("types.rou.xml", VTYPES.replace("additional>", "routes>")),
    ):
        (d / name).write_text(text)
        files[name] = d / name
    return files


def _evaluate(site, *extra: str) -> list[str]:
    return ["evaluate", "--net", str(site["net"]), "--end", END, *extra]


def _summary(out: Path) -> dict[str, float]:
    import pandas as pd

    df = pd.read_parquet(out / "results.parquet")
    net = df[df["scope"] == "network"]
    return dict(zip(net["metric"], net["value"], strict=True))


def _bus_durations(tripinfo: Path) -> list[float]:
    import xml.etree.ElementTree as ET

    return [
        float(t.get("duration"))
        for t in ET.parse(tripinfo).getroot().iter("tripinfo")
        if t.get("vType") == "bus" and float(t.get("arrival", -1)) >= 0
    ]


# --------------------------------------------------------------------------- additional files
def test_vtypes_and_bus_stop_in_additional_files_add_root(site, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        _evaluate(site, "--routes", str(site["demand.rou.xml"]))
        + ["--additional", f"{site['types.add.xml']},{site['stops.add.xml']}", "--out", str(out)]
    )
    assert rc == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["additional"] == [str(site["types.add.xml"]), str(site["stops.add.xml"])]
    cmd = run["sumo_command"]
    adds = cmd[cmd.index("--additional-files") + 1].split(",")
    # the given files first, in the order given, then the run's own generated additional
    assert adds[:2] == run["spec"]["additional"] and adds[-1].endswith("signals.add.xml")
    # the bus served its stop: free flow over 500 m is 36 s, the stop alone holds it 30 s
    buses = _bus_durations(out / "sumo" / "tripinfo.xml")
    assert buses and min(buses) > 60


def test_repeated_additional_option_and_two_route_files(site, tmp_path, capsys):
    """Vehicle types in a route file of their own (-r types,demand) and --additional repeated."""
    out = tmp_path / "run"
    rc = main(
        _evaluate(site)
        + ["--routes", str(site["types.rou.xml"]), "--routes", str(site["demand.rou.xml"])]
        + ["--additional", str(site["stops.add.xml"]), "--out", str(out), "--json"]
    )
    text = capsys.readouterr()
    assert rc == 0, text.err
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["routes"] == [str(site["types.rou.xml"]), str(site["demand.rou.xml"])]
    assert run["spec"]["additional"] == [str(site["stops.add.xml"])]
    assert json.loads(text.out.strip().splitlines()[-1])["throughput_veh"] > 20


def test_without_the_bus_stop_file_sumo_refuses_in_one_line(site, tmp_path, capsys):
    rc = main(_evaluate(site, "--routes", str(site["demand.rou.xml"]), "--additional"))
    assert rc == 2  # argparse: --additional needs a file
    capsys.readouterr()
    rc = main(
        _evaluate(site, "--routes", str(site["demand.rou.xml"]))
        + ["--additional", str(site["types.add.xml"])]
    )
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "stop_n" in err


def test_runspec_checks_additional_roots(site, tmp_path):
    spec = SR.RunSpec.make(
        site["net"],
        site["demand.rou.xml"],
        additional=f"{site['types.add.xml']},{site['stops.add.xml']}",
    )
    assert spec.additional == (site["types.add.xml"], site["stops.add.xml"])
    assert spec.as_dict()["additional"] == [str(p) for p in spec.additional]
    other = SR.RunSpec.make(site["net"], site["demand.rou.xml"], additional=[site["types.add.xml"]])
    assert other.digest() != spec.digest()
    with pytest.raises(InputError, match=r"additional: expected .*<additional> or <add>.*<net>"):
        SR.RunSpec.make(site["net"], site["demand.rou.xml"], additional=[site["net"]])
    with pytest.raises(InputError, match="additional"):
        SR.RunSpec.make(site["net"], site["demand.rou.xml"], additional=[tmp_path / "no.add.xml"])
    # an <add>-rooted program file and route file are SUMO's too
    prog = tmp_path / "prog.add.xml"
    prog.write_text(_tllogic_xml(Network.from_sumo(site["net"]), root="add"))
    routes = tmp_path / "r.xml"
    routes.write_text(ROUTES.replace("routes>", "add>"))
    spec = SR.RunSpec.make(site["net"], routes, program=prog)
    assert spec.program == prog and spec.routes == (routes,)


def _tllogic_xml(network: Network, *, root: str = "additional", unsafe: bool = False) -> str:
    """The net's own program of signal C as a tlLogic (programID 'mine'); ``unsafe`` makes its
    first phase all green (foes green together)."""
    sl = network.phases_of(0)
    rows = []
    for p in range(sl.start, sl.stop):
        state = network.phase_state[p]
        if unsafe and p == sl.start:
            state = "G" * len(state)
        rows.append(f'    <phase duration="{network.phase_duration_s[p]:g}" state="{state}"/>')
    body = "\n".join(rows)
    return (
        f'<{root}>\n  <tlLogic id="C" programID="mine" type="static" offset="0">\n{body}\n'
        f"  </tlLogic>\n</{root}>\n"
    )


# -------------------------------------------------------------------------- the safety gate
def test_unsafe_tllogic_hidden_in_a_second_additional_file_is_refused(
    site, tmp_path, capsys, monkeypatch
):
    network = Network.from_sumo(site["net"])
    bad = tmp_path / "signals.add.xml"
    bad.write_text(_tllogic_xml(network, root="add", unsafe=True))
    good = tmp_path / "good.add.xml"
    good.write_text(_tllogic_xml(network))
    started = []
    monkeypatch.setattr(SR.SumoSimulation, "start", lambda self: started.append(self))
    out = tmp_path / "out"
    for controller in ("fixed", "max-pressure", "actuated"):
        rc = main(
            _evaluate(site, "--routes", str(site["demand.rou.xml"]), "--controller", controller)
            + ["--additional", f"{site['types.add.xml']},{site['stops.add.xml']}"]
            + ["--additional", str(bad), "--out", str(out)]
        )
        err = capsys.readouterr().err
        assert rc == 2, (controller, err)
        assert "unsafe plan refused" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert not started and not out.exists()  # SUMO never started, nothing written
    with pytest.raises(UnsafePlanError):
        SR.evaluate_sumo(site["net"], site["demand.rou.xml"], additional=[good, bad], end_s=60)
    from signals.control.adaptive import make_controller
    from signals.evaluate.sumo_loop import evaluate_online

    with pytest.raises(UnsafePlanError):
        evaluate_online(
            site["net"],
            site["demand.rou.xml"],
            make_controller("max-pressure"),
            additional=[good, bad],
            end_s=60,
        )
    assert not started
    # the same program made safe runs (a tlLogic in an additional file is loaded as SUMO would)
    monkeypatch.undo()
    res = SR.evaluate_sumo(
        site["net"],
        site["demand.rou.xml"],
        additional=[site["types.add.xml"], site["stops.add.xml"], good],
        end_s=60,
    )
    assert res.summary["throughput_veh"] > 0


# --------------------------------------------------------------------- unused state characters
def _with_state_change(site, tmp_path: Path, name: str, change) -> Path:
    text = site["net"].read_text()
    text = re.sub(
        r'(<phase [^>]*state=")([^"]+)"', lambda m: f'{m.group(1)}{change(m.group(2))}"', text
    )
    p = tmp_path / name
    p.write_text(text)
    return p


def test_unused_state_characters_load_with_sumos_warning(site, tmp_path, capsys):
    long_net = _with_state_change(site, tmp_path, "long.net.xml", lambda s: s + "rr")
    with pytest.warns(SumoLoadWarning) as rec:
        net = Network.from_sumo(long_net)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and "tlLogic 'C'" in msgs[0] and "2 state character" in msgs[0]
    assert rec[0].filename == str(long_net)
    assert int(net.signal_n_links[0]) == 14
    assert net.link_from_lane[-2:] == ("", "") and net.link_to_lane[-2:] == ("", "")
    assert net.link_is_ped[-2:].all() and (net.link_movement[-2:] == -1).all()
    # SUMO loads it and warns the same way
    r = subprocess.run(
        [sumo_tools.binary("sumo"), "-n", str(long_net), "-e", "1", "--no-step-log"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "Unused states in tlLogic 'C'" in r.stderr
    # and it runs here, through the gate, fixed and in the closed loop
    for controller in ("fixed", "max-pressure"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SumoLoadWarning)
            rc = main(
                ["evaluate", "--net", str(long_net), "--end", "60", "--controller", controller]
                + ["--routes", f"{site['types.rou.xml']},{site['demand.rou.xml']}"]
                + ["--additional", str(site["stops.add.xml"])]
            )
        assert rc == 0, capsys.readouterr().err


def test_short_state_is_an_error_here_and_in_sumo(site, tmp_path, capsys):
    short_net = _with_state_change(site, tmp_path, "short.net.xml", lambda s: s[:-1])
    with pytest.raises(InputError, match=r"tlLogic C state length: expected 12, found 11"):
        Network.from_sumo(short_net)
    r = subprocess.run(
        [sumo_tools.binary("sumo"), "-n", str(short_net), "-e", "1", "--no-step-log"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Invalid linkIndex" in r.stderr
    rc = main(["evaluate", "--net", str(short_net), "--routes", str(site["demand.rou.xml"])])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "state length" in err


# ------------------------------------------------------------------------ --controller NAME
def test_controller_runs_the_controller_it_names(site, tmp_path, capsys):
    common = ["--routes", str(site["demand.rou.xml"]), "--additional"]
    common += [f"{site['types.add.xml']},{site['stops.add.xml']}"]
    fixed, mp = tmp_path / "fixed", tmp_path / "mp"
    assert main(_evaluate(site, *common, "--out", str(fixed))) == 0
    rc = main(
        _evaluate(site, *common, "--controller", "max-pressure", "--delta-t-s", "5")
        + ["--out", str(mp)]
    )
    assert rc == 0, capsys.readouterr().err
    run = json.loads((mp / "run.json").read_text())
    assert run["controller"] == "max-pressure" and "-max-pressure-" in run["run_id"]
    assert run["loop"]["decisions"] > 0 and run["loop_config"]["delta_t_s"] == 5
    assert run["spec"]["additional"] == [str(site["types.add.xml"]), str(site["stops.add.xml"])]
    import pandas as pd

    labels = set(pd.read_parquet(mp / "results.parquet")["controller"])
    assert labels == {"max-pressure"}
    a, b = _summary(fixed), _summary(mp)
    assert a["avg_delay_s"] != pytest.approx(b["avg_delay_s"], rel=1e-3)
    assert json.loads((fixed / "run.json").read_text())["controller"] in ("", "fixed")


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--controller", "bogus"], "fixed, max-pressure, cv-max-pressure, actuated"),
        (["--controller", "max-pressure", "--meso"], "--meso"),
        (["--controller", "fixed", "--delta-t-s", "5"], "--delta-t-s"),
        (["--controller", "max-pressure", "--delta-t-s", "2.5"], "whole number"),
    ],
)
def test_controller_refusals_are_one_line(site, tmp_path, capsys, extra, needle, monkeypatch):
    started = []
    monkeypatch.setattr(SR.SumoSimulation, "start", lambda self: started.append(self))
    out = tmp_path / "out"
    rc = main(_evaluate(site, "--routes", str(site["demand.rou.xml"]), *extra, "--out", str(out)))
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not started and not out.exists()


# ------------------------------------------------------------------------ experiment configs
EXP = """
name = "inputs"
[network]
path = "{net}"
additional = ["{types}"]
[sim]
end_s = 120
[[scenarios]]
name = "bus"
routes = ["{routes}"]
additional = ["{stops}"]
[[scenarios]]
name = "trips"
routes = "trips.xml"
additional = ["{stops}"]
[run]
controllers = ["default", "max-pressure"]
seeds = [1]
jobs = 2
"""

TRIPS = """<routes>
  <trip id="t0" type="car" depart="0" from="NC" to="CS"/>
  <trip id="t1" type="car" depart="4" from="EC" to="CW"/>
  <flow id="f0" type="car" begin="0" end="100" from="SC" to="CN" vehsPerHour="400"/>
  <trip id="b0" type="bus" depart="5" from="NC" to="CS"><stop busStop="stop_n" duration="30"/></trip>
</routes>
"""


def _exp_config(site, tmp_path: Path, **over) -> Path:
    (tmp_path / "trips.xml").write_text(TRIPS)
    fields = dict(
        net=site["net"],
        types=site["types.add.xml"],
        routes=site["demand.rou.xml"],
        stops=site["stops.add.xml"],
    )
    cfg = tmp_path / "exp.toml"
    cfg.write_text(EXP.format(**(fields | over)))
    return cfg


def test_experiment_additional_files_several_routes_and_trips(site, tmp_path):
    import pandas as pd

    from signals.experiment import run_experiment

    cfg = _exp_config(site, tmp_path)
    out = tmp_path / "out"
    logs: list[str] = []
    df = pd.read_parquet(run_experiment(cfg, out, log=logs.append))
    meta = json.loads((out / "run.json").read_text())
    assert set(meta["runs"].values()) == {"ok"}, logs
    assert set(df["controller"]) == {"default", "max-pressure"}
    for rid in ("bus__default__s1", "trips__max-pressure__s1"):
        record = json.loads((out / "runs" / rid / "record.json").read_text())
        task = record["task"]
        assert task["additional"] == [str(site["types.add.xml"]), str(site["stops.add.xml"])]
        assert len(task["inputs"]["additional_sha256"]) == 2
        run = json.loads((out / "runs" / rid / "run.json").read_text())
        assert run["spec"]["additional"] == task["additional"]
    # the trip file was routed once (duarouter) into the sweep's demand cache
    routed = sorted((out / "demand").glob("trips.*.rou.xml"))
    assert len(routed) == 1 and "<route " in routed[0].read_text()
    run = json.loads((out / "runs" / "trips__default__s1" / "run.json").read_text())
    assert run["spec"]["routes"] == [str(routed[0])]
    # a rerun redoes nothing; a changed additional file redoes its runs
    logs.clear()
    run_experiment(cfg, out, log=logs.append)
    assert any("4 already done, 0 to run" in line for line in logs), logs


@pytest.mark.parametrize(
    "change, field",
    [
        ({"stops": "no_such.add.xml"}, "scenarios.bus.additional[0]"),
        ({"types": "{net}"}, "network.additional[0]"),
    ],
)
def test_experiment_additional_bad_input(site, tmp_path, capsys, change, field):
    change = {k: v.format(net=site["net"]) for k, v in change.items()}
    cfg = _exp_config(site, tmp_path, **change)
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and field in err and len(err.strip().splitlines()) == 1, err


def test_experiment_rejects_unknown_key(site, tmp_path, capsys):
    cfg = _exp_config(site, tmp_path)
    cfg.write_text(cfg.read_text().replace("additional = [", "additionals = [", 1))
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "network.additionals" in err and "unknown key" in err
