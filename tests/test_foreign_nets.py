"""Acceptance tests of issue 9: every command on networks the project did not build.

Four nets are built once per module from hand-written inputs (``tests/foreign_nets.py``): a
4-arm crossing with a city-style program (overlaps, lead-lag lefts, a left going yellow while
its through turns green, a second yellow), a split-phased T with pedestrian crossings, a
tlLogic with unused state characters, and an OSM import. Demand is a hand-written trip file with
clock-time departures (07:00-07:15) and its duarouter-routed version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import foreign_nets as F
from signals import sumo_tools
from signals.cli import main
from signals.control.adaptive import MaxPressure
from signals.control.fixed_time import movement_flows_vph, webster_planset
from signals.evaluate.sumo_loop import LoopConfig, evaluate_online
from signals.network import Network
from signals.plans import read_schedule
from signals.safety import validate
from signals.safety.monitor import monitor

NAMES = ("A", "B", "C", "D")
BUILDERS = {"A": F.build_net_a, "B": F.build_net_b, "C": F.build_net_c, "D": F.build_net_d}
PERIOD = "am_peak@07:00-07:15"  # = F.BEGIN_S .. F.END_S


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> dict[str, F.ForeignNet]:
    root = tmp_path_factory.mktemp("foreign")
    return {k: b(root / k) for k, b in BUILDERS.items()}


@pytest.fixture(scope="module")
def networks(foreign) -> dict[str, Network]:
    return {k: Network.from_sumo(fn.net) for k, fn in foreign.items()}


@pytest.fixture(scope="module")
def fixed_time_runs(foreign, tmp_path_factory):
    """name -> (exit status, out dir) of ``signals plan fixed-time``, each run once."""
    root = tmp_path_factory.mktemp("fixed_time")
    done: dict[str, tuple[int, Path]] = {}

    def run(name: str) -> tuple[int, Path]:
        if name not in done:
            fn = foreign[name]
            out = root / name
            rc = main(
                [
                    "plan", "fixed-time",
                    "--net", str(fn.net),
                    "--demand", f"{PERIOD}={fn.routes}",
                    "--out", str(out),
                ]
            )  # fmt: skip
            done[name] = (rc, out)
        return done[name]

    return run


def _states(network: Network, s: int) -> list[tuple[str, float]]:
    sl = network.phases_of(s)
    return [
        (network.phase_state[p], float(network.phase_duration_s[p]))
        for p in range(sl.start, sl.stop)
    ]


# ============================================================== the nets are what was written
def test_net_a_keeps_the_hand_written_program(foreign, networks):
    """netconvert wrote the city program as given: 14 phases, the overlap shapes intact."""
    prog = foreign["A"].programs["C"]
    assert prog == [(st, float(d)) for st, d in F.A_PROGRAM]
    states = [st for st, _ in prog]
    wl, wt = F.A_LINKS["WL"][0], F.A_LINKS["WT"][0]
    nl, nt = F.A_LINKS["NL"][0], F.A_LINKS["NT"][0]
    # leading protected left overlapping its through
    assert states[0][wl] == "G" and states[0][wt] == "G"
    # a left goes yellow while the through of the same approach turns green
    assert (states[7][nl], states[7][nt], states[8][nl], states[8][nt]) == ("G", "r", "y", "G")
    # two consecutive yellow phases with different states
    assert "y" in states[5] and "y" in states[6] and states[5] != states[6]
    assert "G" not in states[5] + states[6]
    # safe as SUMO plays it: the independent per-second conflict monitor finds nothing
    assert monitor(networks["A"], "C", prog) == []


def test_net_b_is_split_phased_with_crossings(foreign, networks):
    net = networks["B"]
    assert net.link_is_ped.any(), "no pedestrian crossings"
    states = [st for st, _ in foreign["B"].programs["J"]]
    veh = ~net.link_is_ped[net.links_of(0)]
    # each green stage serves the links of exactly one approach
    in_edge = [c for c in _link_from_edges(foreign["B"].net, "J")]
    greens = [st for st in states if any(ch in "Gg" for ch, v in zip(st, veh, strict=True) if v)]
    served = set()
    for st in greens:
        edges = {in_edge[i] for i, ch in enumerate(st) if veh[i] and ch in "Gg"}
        assert len(edges) == 1, (st, edges)
        served |= edges
    assert len(served) == 3  # the three arms of the T, one stage each
    yellows = [d for st, d in foreign["B"].programs["J"] if "y" in st]
    assert yellows and all(d == 3.0 for d in yellows)


def _link_from_edges(net: Path, tl: str) -> list[str]:
    import xml.etree.ElementTree as ET

    out: dict[int, str] = {}
    for c in ET.parse(net).getroot().iter("connection"):
        if c.get("tl") == tl:
            out[int(c.get("linkIndex"))] = c.get("from")
    return [out[i] for i in sorted(out)]


def test_net_c_has_unused_state_characters_and_sumo_loads_it(foreign):
    fn = foreign["C"]
    n_links = fn.extra["n_links"]
    assert all(len(st) == n_links + len(F.C_UNUSED) for st, _ in fn.programs["C"])
    log = sumo_tools.run(
        [sumo_tools.binary("sumo"), "-n", str(fn.net), "--end", "1", "--no-step-log"]
    )
    assert "Unused states" in log  # SUMO loads it, with a warning


def test_net_d_imports_at_least_two_signals(foreign, networks):
    fn = foreign["D"]
    assert len(fn.programs) >= 2 and networks["D"].n_signals >= 2
    text = fn.net.read_text()
    assert 'id="102' in text and 'id="-102' not in text  # the oneway stayed one way
    assert 'id="-100' in text  # the primary road is two-way


# ============================================================== 1: loading and validating
@pytest.mark.parametrize("name", NAMES)
def test_from_sumo_reads_every_phase_of_the_file(name, foreign, networks):
    """Network.from_sumo loads the net and keeps each program phase by phase (no fold)."""
    net, progs = networks[name], foreign[name].programs
    assert sorted(net.signal_ids) == sorted(progs)
    for s, sid in enumerate(net.signal_ids):
        assert _states(net, s) == progs[sid], sid


_QUOTED_PAIR = re.compile(r"'([rRyYgGsuoO]+)' -> '([rRyYgGsuoO]+)'")
_QUOTED = re.compile(r"'([rRyYgGsuoO]{2,})'")


@pytest.mark.parametrize("name", NAMES)
def test_validate_existing_program_reports_only_the_file(name, foreign, capsys):
    """``plan validate NET --net NET --existing`` of the net's own program: exit 0, no unsafe
    finding, and every finding about a phase or a transition that the file holds."""
    fn = foreign[name]
    capsys.readouterr()
    rc = main(["plan", "validate", str(fn.net), "--net", str(fn.net), "--existing", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    doc = json.loads(out.out)
    assert doc["safe"] is True and doc["n_plans"] == len(fn.programs)
    for v in doc["violations"]:
        assert v["severity"] == "guideline", v
        prog = [st for st, _ in fn.programs[v["signal"]]]
        if v["phase"] is not None:
            assert 1 <= v["phase"] <= len(prog), v
        if v["rule"] == "yellow_too_short":
            assert all(prog[v["phase"] - 1][i] == "y" for i in v["links"]), v
        pairs = {(prog[i], prog[(i + 1) % len(prog)]) for i in range(len(prog))}
        for a, b in _QUOTED_PAIR.findall(v["message"]):
            assert (a, b) in pairs, f"transition not in the file: {a!r} -> {b!r}"
        for st in _QUOTED.findall(v["message"]):
            assert st in prog, f"state not in the file: {st!r}"


def test_validate_net_a_reads_the_second_yellow(foreign, capsys):
    """The 3 s main-road yellows are below ITE at 50 km/h; the E left's yellow runs on for a
    second yellow phase (4 s in all) and is not flagged."""
    fn = foreign["A"]
    capsys.readouterr()
    assert (
        main(["plan", "validate", str(fn.net), "--net", str(fn.net), "--existing", "--json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    short = {
        (v["phase"], tuple(v["links"]))
        for v in doc["violations"]
        if v["rule"] == "yellow_too_short"
    }
    L = F.A_LINKS
    assert short == {(2, L["WL"]), (4, L["WR"] + L["WT"]), (6, L["ER"] + L["ET"])}
    assert not any(v["rule"] == "bad_transition" for v in doc["violations"])


# ============================================================== 2: plan fixed-time
@pytest.mark.parametrize("name", NAMES)
def test_fixed_time_plans_pass_the_gate_on_both_severities(name, foreign, fixed_time_runs, capsys):
    fn = foreign[name]
    rc, out = fixed_time_runs(name)
    assert rc == 0
    for f in ("plans.add.xml", "plans.json", "timing.csv"):
        assert (out / f).is_file(), f
    capsys.readouterr()
    rc = main(["plan", "validate", str(out / "plans.add.xml"), "--net", str(fn.net), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["safe"] is True
    assert doc["violations"] == []
    assert doc["n_plans"] == len(fn.programs)


@pytest.mark.parametrize("name", NAMES)
def test_fixed_time_counts_the_clock_time_demand(name, fixed_time_runs):
    """The period 07:00-07:15 holds the routes' departures: every signal gets flow."""
    rc, out = fixed_time_runs(name)
    assert rc == 0
    doc = json.loads((out / "plans.json").read_text())
    (period,) = doc["periods"]
    assert (period["begin_s"], period["end_s"]) == (F.BEGIN_S, F.END_S)
    for sig in period["signals"]:
        assert sum(ph["flow_vph"] for ph in sig["phases"]) > 0, sig["signal_id"]


@pytest.mark.parametrize("name", NAMES)
def test_plan_optimize_writes_plans_that_pass_the_gate(name, foreign, networks, tmp_path, capsys):
    """Issue 11: ``plan optimize`` on every hand-written net, its clock-time trip demand too."""
    fn = foreign[name]
    out = tmp_path / name
    rc = main(
        [
            "plan", "optimize",
            "--net", str(fn.net),
            "--demand", f"{PERIOD}={fn.routes}",
            "--out", str(out),
            "--common-cycle", "all",
        ]
    )  # fmt: skip
    assert rc == 0
    capsys.readouterr()
    rc = main(["plan", "validate", str(out / "plans.add.xml"), "--net", str(fn.net), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["safe"] is True and doc["violations"] == []
    report = json.loads((out / "optimize.json").read_text())
    (period,) = report["periods"].values()
    assert {r["signal_id"] for r in period["signals"]} == set(fn.programs)
    assert len({r["cycle_s"] for r in period["signals"]}) == 1  # one common cycle
    assert validate(read_schedule(out / "plans.json", networks[name]), networks[name]) == []


# ============================================================== 3: max-pressure in the loop
@pytest.mark.parametrize("name", NAMES)
def test_max_pressure_runs_in_the_closed_loop(name, foreign, networks):
    fn = foreign[name]
    r = evaluate_online(
        fn.net,
        fn.routes,
        MaxPressure(),
        begin_s=F.BEGIN_S,
        end_s=F.BEGIN_S + 600,
        network=networks[name],
        config=LoopConfig(audit=True),
    )
    assert r.summary["throughput_veh"] > 0
    assert r.summary["n_collisions"] == 0
    assert r.loop.violations == []
    assert r.loop.audit_steps > 0 and r.loop.audit_mismatch == 0
    assert r.loop.switches > 0  # the controller changed stages: it ran


@pytest.mark.parametrize("name", NAMES)
def test_own_programs_are_safe_and_serve_traffic(name, foreign, networks):
    """The net's own programs: nothing for the independent per-second conflict monitor, and
    SUMO serves the clock-time demand under them."""
    fn, net = foreign[name], networks[name]
    for s, sid in enumerate(net.signal_ids):
        assert monitor(net, sid, _states(net, s)) == [], sid
    r = evaluate_online(
        fn.net, fn.routes, None, begin_s=F.BEGIN_S, end_s=F.BEGIN_S + 300, network=net
    )
    assert r.summary["throughput_veh"] > 0
    assert r.summary["n_collisions"] == 0


# ============================================================== 4: the gate in Python
@pytest.mark.parametrize("name", NAMES)
def test_webster_plans_pass_the_gate_in_python(name, foreign, networks):
    net, fn = networks[name], foreign[name]
    flows = movement_flows_vph(net, fn.routes, F.BEGIN_S, F.END_S)
    assert flows.sum() > 0
    plans = webster_planset(net, flows)
    assert validate(plans, net) == []


@pytest.mark.parametrize("name", NAMES)
def test_written_fixed_time_schedule_passes_the_gate_in_python(name, networks, fixed_time_runs):
    rc, out = fixed_time_runs(name)
    assert rc == 0
    net = networks[name]
    assert validate(read_schedule(out / "plans.json", net), net) == []
