"""Networks the project did not generate, built in the tests from hand-written inputs (issue 9).

Each builder writes plain XML (or OSM XML) into a directory, runs netconvert, and returns a
:class:`ForeignNet`: the net, the signal programs as written into it, a hand-written trip file
with clock-time departures (07:00-07:15, 25,200-26,100 s) and its duarouter-routed version.

* :func:`build_net_a` -- 4-arm crossing, exclusive left lanes on the main road, a hand-written
  program shaped like a city's: a leading protected left overlapping its through, a lagging left,
  a left that keeps a second yellow after its through's yellow, and a left going yellow while
  the through of the same approach turns green.
* :func:`build_net_b` -- T junction, split phasing (one stage per approach), sidewalks and
  pedestrian crossings, 3 s yellows and 0 s all-red.
* :func:`build_net_c` -- 4-arm crossing whose tlLogic states are longer than its links (two
  unused characters, patched into the net XML: SUMO loads it with a warning).
* :func:`build_net_d` -- an OSM import (primary/secondary/residential ways, a oneway,
  ``highway=traffic_signals`` on a junction node and around another), imported the way
  osmWebWizard does.

Nothing here is committed as a generated file: the builders run at test time.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from signals import sumo_tools

BEGIN_S = 25200  # 07:00
END_S = 26100  # 07:15


@dataclass(frozen=True)
class ForeignNet:
    """One built network.

    Attributes:
        name: "A" .. "D".
        net: the .net.xml.
        programs: signal id -> [(state, duration)] of its tlLogic, read back from the net.
        trips: hand-written trip file (trips and flows, clock-time departures).
        routes: the trip file routed by duarouter.
        build_log: netconvert's output (warnings).
    """

    name: str
    net: Path
    programs: dict[str, list[tuple[str, float]]]
    trips: Path
    routes: Path
    build_log: str = ""
    extra: dict = field(default_factory=dict)


def netconvert(*args: str | Path) -> str:
    """netconvert with these arguments; its output (warnings)."""
    return sumo_tools.run([sumo_tools.binary("netconvert"), *map(str, args)])


def read_programs(net: Path) -> dict[str, list[tuple[str, float]]]:
    """Signal id -> its (first) tlLogic's phases, as the net file holds them."""
    out: dict[str, list[tuple[str, float]]] = {}
    for tl in ET.parse(net).getroot().iter("tlLogic"):
        out.setdefault(
            tl.get("id"),
            [(ph.get("state"), float(ph.get("duration"))) for ph in tl.iter("phase")],
        )
    return out


def write_demand(
    d: Path,
    net: Path,
    ods: list[tuple[str, str]],
    n_trips: int = 60,
    flow_vph: float = 240.0,
    drop_unroutable: bool = False,
) -> tuple[Path, Path]:
    """A trip file (single trips spread over 07:00-07:15 round-robin over ``ods``, plus one
    flow per OD pair) and its duarouter-routed version."""
    lines = ['<routes xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">']
    lines.append(
        '    <vType id="car" accel="2.6" decel="4.5" sigma="0.5" length="5" maxSpeed="50"/>'
    )
    # sorted by begin/depart, as SUMO and duarouter read them: the flows begin first
    for j, (fr, to) in enumerate(ods):
        lines.append(
            f'    <flow id="f{j}" type="car" from="{fr}" to="{to}" begin="{BEGIN_S}" '
            f'end="{END_S}" vehsPerHour="{flow_vph:g}"/>'
        )
    step = (END_S - BEGIN_S) / n_trips
    for i in range(n_trips):
        fr, to = ods[i % len(ods)]
        lines.append(
            f'    <trip id="t{i}" type="car" depart="{BEGIN_S + i * step:.2f}" '
            f'from="{fr}" to="{to}"/>'
        )
    lines.append("</routes>")
    trips = d / "demand.trips.xml"
    trips.write_text("\n".join(lines) + "\n")
    routes = d / "demand.rou.xml"
    sumo_tools.run(
        [
            sumo_tools.binary("duarouter"),
            "-n",
            str(net),
            "--route-files",
            str(trips),
            "-o",
            str(routes),
            "--no-step-log",
            "--no-warnings",
            *(["--ignore-errors"] if drop_unroutable else []),
        ]
    )
    return trips, routes


def _state(n: int, **chars: str) -> str:
    """A state string of n links: ``_state(14, G=(0, 1), y=(2,))``; the rest red."""
    s = ["r"] * n
    for c, links in chars.items():
        for i in links:
            s[i] = c
    return "".join(s)


# ------------------------------------------------------------------- net A
_A_NODES = """<nodes>
    <node id="C" x="0" y="0" type="traffic_light" tl="C"/>
    <node id="W" x="-250" y="0" type="priority"/>
    <node id="E" x="250" y="0" type="priority"/>
    <node id="N" x="0" y="250" type="priority"/>
    <node id="S" x="0" y="-250" type="priority"/>
</nodes>
"""

_A_EDGES = """<edges>
    <edge id="W2C" from="W" to="C" numLanes="3" speed="13.89" priority="3"/>
    <edge id="C2W" from="C" to="W" numLanes="2" speed="13.89" priority="3"/>
    <edge id="E2C" from="E" to="C" numLanes="3" speed="13.89" priority="3"/>
    <edge id="C2E" from="C" to="E" numLanes="2" speed="13.89" priority="3"/>
    <edge id="N2C" from="N" to="C" numLanes="2" speed="11.11" priority="2"/>
    <edge id="C2N" from="C" to="N" numLanes="1" speed="11.11" priority="2"/>
    <edge id="S2C" from="S" to="C" numLanes="2" speed="11.11" priority="2"/>
    <edge id="C2S" from="C" to="S" numLanes="1" speed="11.11" priority="2"/>
</edges>
"""

# the main road's left lanes (lane 2) are exclusive; linkIndex fixes SUMO's link order
_A_CONNECTIONS = [
    ("N2C", "C2W", 0, 0),  # 0  N right
    ("N2C", "C2S", 0, 0),  # 1  N through
    ("N2C", "C2E", 1, 0),  # 2  N left
    ("E2C", "C2N", 0, 0),  # 3  E right
    ("E2C", "C2W", 0, 0),  # 4  E through
    ("E2C", "C2W", 1, 1),  # 5  E through
    ("E2C", "C2S", 2, 0),  # 6  E left (exclusive lane)
    ("S2C", "C2E", 0, 0),  # 7  S right
    ("S2C", "C2N", 0, 0),  # 8  S through
    ("S2C", "C2W", 1, 0),  # 9  S left
    ("W2C", "C2S", 0, 0),  # 10 W right
    ("W2C", "C2E", 0, 0),  # 11 W through
    ("W2C", "C2E", 1, 1),  # 12 W through
    ("W2C", "C2N", 2, 0),  # 13 W left (exclusive lane)
]
A_LINKS = {
    "NR": (0,),
    "NT": (1,),
    "NL": (2,),
    "ER": (3,),
    "ET": (4, 5),
    "EL": (6,),
    "SR": (7,),
    "ST": (8,),
    "SL": (9,),
    "WR": (10,),
    "WT": (11, 12),
    "WL": (13,),
}


def _a(**chars: str) -> str:
    """Net A state from movement groups: ``_a(G="WL WT WR", y="EL")``."""
    return _state(
        len(_A_CONNECTIONS),
        **{c: tuple(i for m in ms.split() for i in A_LINKS[m]) for c, ms in chars.items()},
    )


# (state, duration): a city-style program of 14 phases
A_PROGRAM: list[tuple[str, float]] = [
    (_a(G="WL WT WR"), 15),  # leading protected W left, overlapping the W through
    (_a(G="WT WR", y="WL"), 3),  # the W left clears, its through runs on
    (_a(G="WT WR ET ER"), 20),  # main-road through both ways
    (_a(G="ET ER", y="WT WR"), 3),  # W clears: E through runs on (lead-lag)
    (_a(G="ET ER EL"), 8),  # lagging protected E left, overlapping the E through
    (_a(y="ET ER EL"), 3),  # yellow ...
    (_a(y="EL"), 1),  # ... and a second yellow: the left's yellow is 1 s longer
    (_a(G="NL NR"), 6),  # N protected left (and its right)
    (_a(G="NT NR", y="NL"), 3),  # N left yellow while the N through turns green
    (_a(G="NT NR ST SR"), 10),  # side-road through both ways
    (_a(G="ST SR", y="NT NR"), 3),  # N clears, S through runs on
    (_a(G="ST SR SL"), 6),  # lagging protected S left
    (_a(y="ST SR SL"), 3),
    (_a(), 2),  # all red
]


def build_net_a(d: Path) -> ForeignNet:
    d.mkdir(parents=True, exist_ok=True)
    (d / "a.nod.xml").write_text(_A_NODES)
    (d / "a.edg.xml").write_text(_A_EDGES)
    con = ["<connections>"]
    for i, (fr, to, fl, tl) in enumerate(_A_CONNECTIONS):
        con.append(
            f'    <connection from="{fr}" to="{to}" fromLane="{fl}" toLane="{tl}" '
            f'tl="C" linkIndex="{i}"/>'
        )
    con.append("</connections>")
    (d / "a.con.xml").write_text("\n".join(con) + "\n")
    tll = ["<tlLogics>", '    <tlLogic id="C" type="static" programID="city" offset="0">']
    tll += [f'        <phase duration="{dur:g}" state="{st}"/>' for st, dur in A_PROGRAM]
    tll += ["    </tlLogic>", "</tlLogics>"]
    (d / "a.tll.xml").write_text("\n".join(tll) + "\n")
    net = d / "a.net.xml"
    log = netconvert(
        "--node-files", d / "a.nod.xml",
        "--edge-files", d / "a.edg.xml",
        "--connection-files", d / "a.con.xml",
        "--tllogic-files", d / "a.tll.xml",
        "--no-turnarounds", "true",
        "-o", net,
    )  # fmt: skip
    ods = [
        ("W2C", "C2E"), ("W2C", "C2N"), ("W2C", "C2S"),
        ("E2C", "C2W"), ("E2C", "C2S"), ("E2C", "C2N"),
        ("N2C", "C2S"), ("N2C", "C2E"), ("N2C", "C2W"),
        ("S2C", "C2N"), ("S2C", "C2W"), ("S2C", "C2E"),
    ]  # fmt: skip
    trips, routes = write_demand(d, net, ods, flow_vph=60)
    return ForeignNet("A", net, read_programs(net), trips, routes, log)


# ------------------------------------------------------------------- net B
_B_NODES = """<nodes>
    <node id="J" x="0" y="0" type="traffic_light"/>
    <node id="W" x="-200" y="0" type="priority"/>
    <node id="E" x="200" y="0" type="priority"/>
    <node id="S" x="0" y="-200" type="priority"/>
</nodes>
"""

_B_EDGES = """<edges>
    <edge id="W2J" from="W" to="J" numLanes="2" speed="13.89" priority="3"/>
    <edge id="J2W" from="J" to="W" numLanes="2" speed="13.89" priority="3"/>
    <edge id="E2J" from="E" to="J" numLanes="2" speed="13.89" priority="3"/>
    <edge id="J2E" from="J" to="E" numLanes="2" speed="13.89" priority="3"/>
    <edge id="S2J" from="S" to="J" numLanes="1" speed="11.11" priority="2"/>
    <edge id="J2S" from="J" to="S" numLanes="1" speed="11.11" priority="2"/>
</edges>
"""


def build_net_b(d: Path) -> ForeignNet:
    """Split phasing by netconvert's ``incoming`` layout (one stage per approach), with
    sidewalks and a crossing on each arm; 3 s yellows, 0 s all-red."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "b.nod.xml").write_text(_B_NODES)
    (d / "b.edg.xml").write_text(_B_EDGES)
    net = d / "b.net.xml"
    log = netconvert(
        "--node-files", d / "b.nod.xml",
        "--edge-files", d / "b.edg.xml",
        "--sidewalks.guess",
        "--crossings.guess",
        "--no-turnarounds", "true",
        "--tls.layout", "incoming",
        "--tls.yellow.time", "3",
        "--tls.allred.time", "0",
        "-o", net,
    )  # fmt: skip
    ods = [
        ("W2J", "J2E"), ("W2J", "J2S"), ("E2J", "J2W"),
        ("E2J", "J2S"), ("S2J", "J2W"), ("S2J", "J2E"),
    ]  # fmt: skip
    trips, routes = write_demand(d, net, ods, flow_vph=90)
    return ForeignNet("B", net, read_programs(net), trips, routes, log)


# ------------------------------------------------------------------- net C
_C_NODES = """<nodes>
    <node id="C" x="0" y="0" type="traffic_light"/>
    <node id="W" x="-200" y="0" type="priority"/>
    <node id="E" x="200" y="0" type="priority"/>
    <node id="N" x="0" y="200" type="priority"/>
    <node id="S" x="0" y="-200" type="priority"/>
</nodes>
"""

_C_EDGES = """<edges>
    <edge id="W2C" from="W" to="C" numLanes="1" speed="13.89"/>
    <edge id="C2W" from="C" to="W" numLanes="1" speed="13.89"/>
    <edge id="E2C" from="E" to="C" numLanes="1" speed="13.89"/>
    <edge id="C2E" from="C" to="E" numLanes="1" speed="13.89"/>
    <edge id="N2C" from="N" to="C" numLanes="1" speed="13.89"/>
    <edge id="C2N" from="C" to="N" numLanes="1" speed="13.89"/>
    <edge id="S2C" from="S" to="C" numLanes="1" speed="13.89"/>
    <edge id="C2S" from="C" to="S" numLanes="1" speed="13.89"/>
</edges>
"""

C_UNUSED = "rr"  # the characters past the last link


def build_net_c(d: Path) -> ForeignNet:
    """netconvert's own program, then two unused characters appended to every state in the
    net XML (what some city models carry after a junction lost a lane)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "c.nod.xml").write_text(_C_NODES)
    (d / "c.edg.xml").write_text(_C_EDGES)
    net = d / "c.net.xml"
    log = netconvert(
        "--node-files", d / "c.nod.xml",
        "--edge-files", d / "c.edg.xml",
        "--no-turnarounds", "true",
        "--tls.yellow.time", "4",
        "-o", net,
    )  # fmt: skip
    text = net.read_text()
    n_links = len(read_programs(net)["C"][0][0])

    def pad(m: re.Match) -> str:
        return f'{m[1]}{m[2]}{C_UNUSED}"'

    text, n = re.subn(r'(<phase [^>]*state=")([rRyYgGsuoO]+)"', pad, text)
    assert n > 0
    net.write_text(text)
    ods = [
        ("W2C", "C2E"), ("W2C", "C2N"), ("E2C", "C2W"), ("E2C", "C2S"),
        ("N2C", "C2S"), ("N2C", "C2E"), ("S2C", "C2N"), ("S2C", "C2W"),
    ]  # fmt: skip
    trips, routes = write_demand(d, net, ods, flow_vph=90)
    return ForeignNet("C", net, read_programs(net), trips, routes, log, {"n_links": n_links})


# ------------------------------------------------------------------- net D (OSM)
# a primary road west-east through two signalised junctions: node 2 carries
# highway=traffic_signals itself; junction 3 is mapped the way OSM often maps it, with the
# signals on the approach nodes around it (netconvert's --tls.guess-signals); the residential
# street through junction 3 is oneway southbound; junction 4 is an unsignalised side street.
_LAT0, _LON0 = 48.1000, 11.5000
_OSM_NODES = {
    # id: (dlat, dlon, tags)
    1: (0.0, 0.0000, {}),
    2: (0.0, 0.0030, {"highway": "traffic_signals"}),
    21: (0.0, 0.0052, {"highway": "traffic_signals"}),  # west of junction 3
    3: (0.0, 0.0055, {}),
    31: (0.0, 0.0058, {"highway": "traffic_signals"}),  # east of junction 3
    4: (0.0, 0.0085, {}),
    5: (0.0, 0.0115, {}),
    10: (0.0020, 0.0030, {}),
    11: (-0.0020, 0.0030, {}),
    12: (0.0020, 0.0055, {}),
    32: (0.00025, 0.0055, {"highway": "traffic_signals"}),  # north of junction 3
    13: (-0.0020, 0.0055, {}),
    14: (0.0018, 0.0085, {}),
}
_OSM_WAYS = [
    (
        100,
        [1, 2, 21, 3, 31, 4, 5],
        {"highway": "primary", "name": "Hauptstrasse", "lanes": "2", "maxspeed": "50"},
    ),
    (101, [10, 2, 11], {"highway": "secondary", "name": "Nordweg", "maxspeed": "50"}),
    (102, [12, 32, 3, 13], {"highway": "residential", "name": "Einbahn", "oneway": "yes"}),
    (103, [14, 4], {"highway": "residential", "name": "Seitengasse"}),
]


def osm_xml() -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="hand">']
    for nid, (dlat, dlon, tags) in _OSM_NODES.items():
        attrs = f'id="{nid}" lat="{_LAT0 + dlat:.7f}" lon="{_LON0 + dlon:.7f}" version="1" visible="true"'
        if tags:
            lines.append(f"  <node {attrs}>")
            lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
            lines.append("  </node>")
        else:
            lines.append(f"  <node {attrs}/>")
    for wid, nds, tags in _OSM_WAYS:
        lines.append(f'  <way id="{wid}" version="1" visible="true">')
        lines += [f'    <nd ref="{n}"/>' for n in nds]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def _fringe_edges(net: Path) -> tuple[list[str], list[str]]:
    """(edges leaving a dead-end node, edges entering one) of a net, skipping internal ones."""
    root = ET.parse(net).getroot()
    edges = [e for e in root.iter("edge") if e.get("function") != "internal"]
    deg: dict[str, int] = {}
    for e in edges:
        for k in ("from", "to"):
            deg[e.get(k)] = deg.get(e.get(k), 0) + 1
    dead = {n for n, c in deg.items() if c <= 2}
    sources = sorted(e.get("id") for e in edges if e.get("from") in dead)
    sinks = sorted(e.get("id") for e in edges if e.get("to") in dead)
    return sources, sinks


def build_net_d(d: Path) -> ForeignNet:
    d.mkdir(parents=True, exist_ok=True)
    osm = d / "map.osm"
    osm.write_text(osm_xml())
    net = d / "osm.net.xml"
    log = netconvert(
        "--osm-files", osm,
        "--geometry.remove",
        "--ramps.guess",
        "--junctions.join",
        "--tls.guess-signals", "true",
        "--tls.discard-simple",
        "--tls.join",
        "--tls.default-type", "static",
        "--no-turnarounds", "true",
        "--output.street-names",
        "-o", net,
    )  # fmt: skip
    sources, sinks = _fringe_edges(net)
    # every source to every sink it is not the reverse of (duarouter drops unreachable ones)
    ods = [(a, b) for a in sources for b in sinks if a.lstrip("-") != b.lstrip("-")]
    trips, routes = write_demand(
        d, net, ods, n_trips=4 * len(ods), flow_vph=30, drop_unroutable=True
    )
    return ForeignNet("D", net, read_programs(net), trips, routes, log, {"ods": ods})
