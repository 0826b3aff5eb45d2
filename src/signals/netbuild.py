"""Network recipes: deterministic SUMO nets built from plain XML with netconvert.

Every net here is generated as SUMO *plain XML* (``.nod.xml`` / ``.edg.xml``, see
https://sumo.dlr.de/docs/Networks/PlainXML.html) from code -- positions drawn with a seeded
``numpy.random.Generator`` -- and converted with ``netconvert``.  Same recipe and seed give a
byte-identical ``.net.xml``: netconvert itself is deterministic, and the one varying part of its
output, the ``<!-- generated on DATE ... -->`` header comment (date and file paths), is replaced
by a fixed comment.

Recipes live in ``networks/<name>.toml`` (read with :mod:`tomllib`; unknown keys are rejected):

* ``kind = "centre"`` -- a city centre: a jittered grid of signalized intersections with a road
  hierarchy (arterials 3 lanes + left-turn bays at 60 km/h, collectors 2 lanes at 50 km/h, local
  streets 1 lane at 40 km/h), irregular blocks, T-junctions, unsignalized fringe stubs and
  V2X test corridors (``pilot-zone``: exactly 448 signalized intersections);
* ``kind = "corridor"`` -- one signalized arterial with cross streets (``v2x-corridor``).

A build writes ``<name>.net.xml``, the plain sources, ``<name>.v2x.json`` (corridors: id, edge
ids, centreline km, RSU signal ids) and ``<name>.meta.json`` (recipe, seed, base AM-peak demand,
SUMO version, network statistics) into a temporary directory that is then renamed into place.

The small committed test nets (``networks/test/``) are hand-written plain XML rebuilt by
:func:`build_test_networks`; :func:`import_osm` wraps netconvert for OpenStreetMap extracts.
No traci/libsumo import here: only SUMO's command-line programs are run.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from signals import sumo_tools
from signals.errors import atomic_write
from signals.network import V2X_PARAM

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPES_DIR = REPO_ROOT / "networks"
TEST_NETS_DIR = RECIPES_DIR / "test"


# ----------------------------------------------------------------------------- road classes
@dataclass(frozen=True)
class RoadClass:
    """Cross-section of a road class (both directions use it).

    Attributes:
        lanes: through lanes per direction.
        speed_kmh: speed limit.
        priority: netconvert edge priority (higher = major road at unsignalized nodes).
        left_bay: whether approaches to a signal get an extra left-turn lane (a bay).
    """

    lanes: int
    speed_kmh: float
    priority: int
    left_bay: bool

    @property
    def speed_mps(self) -> float:
        return self.speed_kmh / 3.6


# Urban hierarchy of the pilot zone (issue 2): arterial 3 lanes + left bays at 60 km/h,
# collector 2 lanes at 50 km/h, local street 1 lane at 40 km/h.
ROAD_CLASSES: dict[str, RoadClass] = {
    "arterial": RoadClass(lanes=3, speed_kmh=60.0, priority=3, left_bay=True),
    "collector": RoadClass(lanes=2, speed_kmh=50.0, priority=2, left_bay=False),
    "local": RoadClass(lanes=1, speed_kmh=40.0, priority=1, left_bay=False),
}


# ----------------------------------------------------------------------------- plain XML model
@dataclass
class PlainNode:
    """A ``<node>`` of the plain node file (positions in metres)."""

    id: str
    x: float
    y: float
    type: str = "priority"


@dataclass
class PlainEdge:
    """An ``<edge>`` of the plain edge file.

    Attributes:
        shape: optional (K, 2) inner geometry points (netconvert adds the end nodes).
        params: edge ``<param>`` entries (e.g. ``v2x.corridor``); netconvert keeps them.
    """

    id: str
    frm: str
    to: str
    lanes: int
    speed_mps: float
    priority: int
    road_class: str = ""
    name: str = ""
    shape: list[tuple[float, float]] | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class PlainNet:
    """Plain-XML network: nodes and edges in write order (the order is part of determinism)."""

    nodes: list[PlainNode] = field(default_factory=list)
    edges: list[PlainEdge] = field(default_factory=list)
    _node_ids: set = field(default_factory=set, repr=False)

    def node(self, id: str, x: float, y: float, type: str = "priority") -> str:
        if id in self._node_ids:
            raise ValueError(f"duplicate node id {id}")
        self._node_ids.add(id)
        self.nodes.append(PlainNode(id, float(x), float(y), type))
        return id

    def xy(self, node_id: str) -> tuple[float, float]:
        for n in self.nodes:
            if n.id == node_id:
                return n.x, n.y
        raise KeyError(node_id)

    def road(
        self,
        a: str,
        b: str,
        road_class: str | RoadClass,
        *,
        bay_at_a_m: float = 0.0,
        bay_at_b_m: float = 0.0,
        corridor: str = "",
        name: str = "",
        shape: list[tuple[float, float]] | None = None,
    ) -> list[str]:
        """Add a two-way road a <-> b; returns the ids of the edges added.

        A left-turn bay is modelled as in SUMO's ``<split>`` (PlainXML "Road segment refining"):
        the last ``bay_*_m`` metres before a signal carry one more lane (the leftmost, index
        ``lanes``), which netconvert turns into an exclusive left lane and gives a protected
        left phase.  Unlike ``<split>``, both directions share the same intermediate nodes, so a
        two-way road stays one chain of node pairs (``Network.v2x_km`` counts each pair once).

        Args:
            shape: optional inner geometry points of the a->b direction (only for roads
                without bays); the b->a edge gets them reversed.
        """
        rc = ROAD_CLASSES[road_class] if isinstance(road_class, str) else road_class
        class_name = road_class if isinstance(road_class, str) else ""
        params = {V2X_PARAM: corridor} if corridor else {}
        ax, ay = self.xy(a)
        bx, by = self.xy(b)
        length = math.hypot(bx - ax, by - ay)
        # chain of nodes a = n0, (p), (q), b along the straight line
        cuts: list[tuple[float, str]] = []
        if bay_at_a_m > 0:
            cuts.append((bay_at_a_m / length, "a"))
        if bay_at_b_m > 0:
            cuts.append((1.0 - bay_at_b_m / length, "b"))
        if cuts and shape:
            raise ValueError("bays and custom shapes are not combined")
        chain = [a]
        for t, tag in cuts:
            nid = f"{a}.{b}.{tag}"
            self.node(nid, ax + t * (bx - ax), ay + t * (by - ay))
            chain.append(nid)
        chain.append(b)
        ids: list[str] = []
        nseg = len(chain) - 1
        for k in range(nseg):
            u, v = chain[k], chain[k + 1]
            # forward a->b: the bay is the last segment when a bay at b exists
            fwd_lanes = rc.lanes + (1 if (bay_at_b_m > 0 and k == nseg - 1) else 0)
            # backward b->a: the bay is the first segment (ending at a) when a bay at a exists
            bwd_lanes = rc.lanes + (1 if (bay_at_a_m > 0 and k == 0) else 0)
            fid, bid = f"{u}-{v}", f"{v}-{u}"
            fshape = shape if (shape and nseg == 1) else None
            bshape = list(reversed(shape)) if fshape else None
            self.edges.append(
                PlainEdge(
                    fid,
                    u,
                    v,
                    fwd_lanes,
                    rc.speed_mps,
                    rc.priority,
                    class_name,
                    name,
                    fshape,
                    dict(params),
                )
            )
            self.edges.append(
                PlainEdge(
                    bid,
                    v,
                    u,
                    bwd_lanes,
                    rc.speed_mps,
                    rc.priority,
                    class_name,
                    name,
                    bshape,
                    dict(params),
                )
            )
            ids += [fid, bid]
        return ids


def _f(v: float) -> str:
    return f"{v:.2f}"


def write_plain(net: PlainNet, prefix: Path) -> list[Path]:
    """Write ``<prefix>.nod.xml`` and ``<prefix>.edg.xml`` (deterministic text) atomically."""
    nod = Path(f"{prefix}.nod.xml")
    edg = Path(f"{prefix}.edg.xml")
    with atomic_write(nod) as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<nodes>\n')
        for n in net.nodes:
            fh.write(f'    <node id="{n.id}" x="{_f(n.x)}" y="{_f(n.y)}" type="{n.type}"/>\n')
        fh.write("</nodes>\n")
    with atomic_write(edg) as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<edges>\n')
        for e in net.edges:
            attrs = (
                f'id="{e.id}" from="{e.frm}" to="{e.to}" priority="{e.priority}" '
                f'numLanes="{e.lanes}" speed="{_f(e.speed_mps)}"'
            )
            if e.road_class:
                attrs += f' type="{e.road_class}"'
            if e.name:
                attrs += f' name="{e.name}"'
            if e.shape:
                attrs += ' shape="' + " ".join(f"{_f(x)},{_f(y)}" for x, y in e.shape) + '"'
            if e.params:
                fh.write(f"    <edge {attrs}>\n")
                for k, v in sorted(e.params.items()):
                    fh.write(f'        <param key="{k}" value="{v}"/>\n')
                fh.write("    </edge>\n")
            else:
                fh.write(f"    <edge {attrs}/>\n")
        fh.write("</edges>\n")
    return [nod, edg]


def _write_types(path: Path) -> Path:
    """Plain type file naming the road classes (``type=`` on edges; values are set per edge)."""
    with atomic_write(path) as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<types>\n')
        for name, rc in ROAD_CLASSES.items():
            fh.write(
                f'    <type id="{name}" priority="{rc.priority}" numLanes="{rc.lanes}" '
                f'speed="{_f(rc.speed_mps)}"/>\n'
            )
        fh.write("</types>\n")
    return path


# ----------------------------------------------------------------------------- netconvert
@dataclass(frozen=True)
class SignalTiming:
    """netconvert's signal-program options (its own programs are the fixed-time baseline).

    Yellow 4 s covers the ITE change interval y = t + v / (2a) for 60 km/h (1 s + 16.7 /
    (2 * 3.05) = 3.7 s; ITE "Traffic Control Devices Handbook", ch. 13); all-red 2 s covers
    r = (W + L) / v for a ~20 m crossing (ITE); cycle 90 s and left green from netconvert's
    ``--tls.cycle.time`` / ``--tls.left-green.time``.
    """

    cycle_s: int = 90
    yellow_s: int = 4
    allred_s: int = 2
    left_green_s: int = 8


def _netconvert_args(timing: SignalTiming) -> list[str]:
    # https://sumo.dlr.de/docs/netconvert.html -- signals only where the plain node file says
    # traffic_light (no guessing), static programs, no U-turns, internal links kept (SUMO
    # default), square corners for speed, junctions kept clear (anti-gridlock).
    return [
        "--tls.guess",
        "false",
        "--tls.default-type",
        "static",
        "--tls.cycle.time",
        str(timing.cycle_s),
        "--tls.yellow.time",
        str(timing.yellow_s),
        "--tls.allred.time",
        str(timing.allred_s),
        "--tls.left-green.time",
        str(timing.left_green_s),
        "--no-turnarounds",
        "true",
        "--junctions.corner-detail",
        "0",
        "--default.junctions.keep-clear",
        "true",
        "--no-internal-links",
        "false",
        "--offset.disable-normalization",
        "true",
        "--output.street-names",
        "true",
        "--xml-validation",
        "never",
        "--no-warnings",
        "true",
    ]


_HEADER_RE = re.compile(r"<!-- generated on .*?-->\n", re.DOTALL)


def _fixed_header(net_path: Path, label: str) -> None:
    """Replace netconvert's header comment (date, paths) by a fixed one, atomically."""
    text = net_path.read_text(encoding="utf-8")
    text, n = _HEADER_RE.subn(
        f"<!-- {label}; built with SUMO netconvert {sumo_version()} -->\n", text, count=1
    )
    with atomic_write(net_path) as fh:
        fh.write(text)


def sumo_version() -> str:
    """Version of the eclipse-sumo distribution in use (e.g. '1.28.0')."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eclipse-sumo")
    except PackageNotFoundError:  # pragma: no cover - SUMO_HOME install
        out = sumo_tools.run([sumo_tools.binary("netconvert"), "--version"])
        return out.splitlines()[0].strip()


def netconvert_plain(
    prefix: Path,
    out_net: Path,
    *,
    timing: SignalTiming,
    extra: list[str] | None = None,
    label: str = "",
) -> Path:
    """Convert ``<prefix>.nod.xml``/``.edg.xml`` (and ``.con.xml`` if present) to ``out_net``."""
    prefix = Path(prefix)
    cwd = prefix.parent
    args = [
        sumo_tools.binary("netconvert"),
        "--node-files",
        f"{prefix.name}.nod.xml",
        "--edge-files",
        f"{prefix.name}.edg.xml",
    ]
    if (cwd / f"{prefix.name}.typ.xml").exists():
        args += ["--type-files", f"{prefix.name}.typ.xml"]
    if (cwd / f"{prefix.name}.con.xml").exists():
        args += ["--connection-files", f"{prefix.name}.con.xml"]
    args += [
        "--output-file",
        os.path.relpath(out_net, cwd),
        *_netconvert_args(timing),
        *(extra or []),
    ]
    sumo_tools.run(args, cwd=cwd)
    _fixed_header(out_net, label or f"signals.netbuild {prefix.name}")
    return out_net


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- test networks
TEST_TIMING = SignalTiming()


def _test_single() -> PlainNet:
    """One 4-arm signal: major road W-E (2 lanes + 50 m left bays), minor N-S (1 lane)."""
    n = PlainNet()
    n.node("C", 0, 0, "traffic_light")
    n.node("W", -260, 0)
    n.node("E", 240, 0)
    n.node("N", 0, 220)
    n.node("S", 0, -280)
    # major: a 2-lane collector-like road at 50 km/h with left bays (as the brief: 2 lanes + bay)
    for fringe, bay in (("W", True), ("E", True)):
        _two_way(n, fringe, "C", lanes=2, speed_kmh=50, priority=2, bay_at_b_m=50.0 if bay else 0.0)
    for fringe in ("N", "S"):
        _two_way(n, fringe, "C", lanes=1, speed_kmh=40, priority=1)
    return n


def _two_way(
    n: PlainNet,
    a: str,
    b: str,
    *,
    lanes: int,
    speed_kmh: float,
    priority: int,
    bay_at_a_m: float = 0.0,
    bay_at_b_m: float = 0.0,
    corridor: str = "",
    shape: list[tuple[float, float]] | None = None,
) -> list[str]:
    """A two-way road with an ad-hoc cross-section (test nets); bays as in PlainNet.road."""
    rc = RoadClass(lanes, speed_kmh, priority, left_bay=False)
    return n.road(
        a, b, rc, bay_at_a_m=bay_at_a_m, bay_at_b_m=bay_at_b_m, corridor=corridor, shape=shape
    )


def _test_arterial3() -> PlainNet:
    """A 3-signal arterial (350 m and 380 m spacing) with 1-lane cross streets."""
    n = PlainNet()
    xs = [0.0, 350.0, 730.0]
    n.node("W", -280, 0)
    n.node("E", 1000, 0)
    for i, x in enumerate(xs):
        n.node(f"A{i}", x, 0, "traffic_light")
        n.node(f"N{i}", x + 10 * i, 240)
        n.node(f"S{i}", x - 5 * i, -220)
    chain = ["W", "A0", "A1", "A2", "E"]
    for k in range(len(chain) - 1):
        a, b = chain[k], chain[k + 1]
        _two_way(
            n,
            a,
            b,
            lanes=2,
            speed_kmh=50,
            priority=2,
            bay_at_a_m=50.0 if a.startswith("A") else 0.0,
            bay_at_b_m=50.0 if b.startswith("A") else 0.0,
            corridor="ART",
        )
    for i in range(len(xs)):
        _two_way(n, f"N{i}", f"A{i}", lanes=1, speed_kmh=40, priority=1)
        _two_way(n, f"S{i}", f"A{i}", lanes=1, speed_kmh=40, priority=1)
    return n


def _test_grid2x2() -> PlainNet:
    """A 2x2 grid of signals (300 m blocks, 1 lane, 50 km/h) with 200 m fringe stubs."""
    n = PlainNet()
    for r in range(2):
        for c in range(2):
            n.node(f"J{r}{c}", 300 * c, 300 * r, "traffic_light")
    for r in range(2):
        _two_way(n, f"J{r}0", f"J{r}1", lanes=1, speed_kmh=50, priority=2)
        n.node(f"W{r}", -200, 300 * r)
        n.node(f"E{r}", 500, 300 * r)
        _two_way(n, f"W{r}", f"J{r}0", lanes=1, speed_kmh=50, priority=2)
        _two_way(n, f"J{r}1", f"E{r}", lanes=1, speed_kmh=50, priority=2)
    for c in range(2):
        _two_way(n, f"J0{c}", f"J1{c}", lanes=1, speed_kmh=50, priority=1)
        n.node(f"S{c}", 300 * c, -200)
        n.node(f"N{c}", 300 * c, 500)
        _two_way(n, f"S{c}", f"J0{c}", lanes=1, speed_kmh=50, priority=1)
        _two_way(n, f"J1{c}", f"N{c}", lanes=1, speed_kmh=50, priority=1)
    return n


def _test_odd() -> PlainNet:
    """Irregular hand-built geometry, not from a generator.

    * ``K`` (skewed 4 arms) and ``T1`` (offset T 32 m away) are both signals; netconvert
      ``--tls.join`` clusters them into one signal controlling 5 approaches;
    * curved edges (``shape``) on the link K -> ``T2`` and on two fringe arms;
    * ``T2``: a plain T-junction signal on its own.
    """
    n = PlainNet()
    n.node("K", 0, 0, "traffic_light")
    n.node("T1", 30, -12, "traffic_light")  # offset T just south-east of K
    n.node("T2", 520, 70, "traffic_light")
    n.node("fW", -250, 40)
    n.node("fNW", -150, 210)  # skewed arm (~125 deg)
    n.node("fN", 35, 260)
    n.node("fS", 60, -240)  # the stem of the offset T
    n.node("fE", 800, 40)
    n.node("fS2", 540, -200)
    _two_way(n, "fW", "K", lanes=1, speed_kmh=50, priority=2, shape=[(-170, 55), (-80, 25)])
    _two_way(n, "fNW", "K", lanes=1, speed_kmh=40, priority=1)
    _two_way(n, "fN", "K", lanes=1, speed_kmh=40, priority=1, shape=[(50, 170), (20, 80)])
    _two_way(n, "K", "T1", lanes=1, speed_kmh=50, priority=2)
    _two_way(n, "fS", "T1", lanes=1, speed_kmh=40, priority=1)
    _two_way(
        n, "T1", "T2", lanes=2, speed_kmh=50, priority=2, shape=[(150, -40), (300, -10), (430, 50)]
    )
    _two_way(n, "T2", "fE", lanes=2, speed_kmh=50, priority=2)
    _two_way(n, "fS2", "T2", lanes=1, speed_kmh=40, priority=1, shape=[(520, -100)])
    return n


TEST_NETWORKS: dict[str, tuple[Any, list[str]]] = {
    "single": (_test_single, []),
    "arterial3": (_test_arterial3, []),
    "grid2x2": (_test_grid2x2, []),
    # --tls.join clusters signals closer than --tls.join-dist into one tlLogic.
    "odd": (_test_odd, ["--tls.join", "true", "--tls.join-dist", "40"]),
}


def build_test_networks(out_dir: str | os.PathLike = TEST_NETS_DIR) -> dict[str, Path]:
    """(Re)build the small committed test nets from their hand-written plain XML.

    Writes ``<name>.nod.xml``, ``<name>.edg.xml`` and ``<name>.net.xml`` for single, arterial3,
    grid2x2 and odd into ``out_dir``; returns {name: net path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nets = {}
    for name, (make, extra) in TEST_NETWORKS.items():
        prefix = out_dir / name
        write_plain(make(), prefix)
        nets[name] = netconvert_plain(
            prefix,
            out_dir / f"{name}.net.xml",
            timing=TEST_TIMING,
            extra=extra,
            label=f"signals test network {name} (signals.netbuild.build_test_networks)",
        )
    return nets
