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

import json
import math
import os
import re
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from signals import sumo_tools
from signals.digests import sha256_file
from signals.errors import InputError, atomic_write, require_file
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
    _xy: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    def node(self, id: str, x: float, y: float, type: str = "priority") -> str:
        """Add a node; returns its id."""
        if id in self._xy:
            raise ValueError(f"duplicate node id {id}")
        self._xy[id] = (float(x), float(y))
        self.nodes.append(PlainNode(id, float(x), float(y), type))
        return id

    def xy(self, node_id: str) -> tuple[float, float]:
        """Position of a node added before."""
        return self._xy[node_id]

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


# ----------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Recipe:
    """Keys shared by every recipe file ``networks/<name>.toml``.

    Attributes:
        kind: "centre" or "corridor".
        seed: seed of the numpy Generator that draws the geometry.
        base_veh_per_hour: AM-peak base demand the net carries in SUMO micro (meta.json).
        description: free text.
        cycle_s, yellow_s, allred_s, left_green_s: netconvert signal-program options.
    """

    kind: str
    seed: int
    base_veh_per_hour: float
    description: str = ""
    cycle_s: int = 90
    yellow_s: int = 4
    allred_s: int = 2
    left_green_s: int = 8

    @property
    def timing(self) -> SignalTiming:
        return SignalTiming(self.cycle_s, self.yellow_s, self.allred_s, self.left_green_s)


@dataclass(frozen=True)
class CentreRecipe(Recipe):
    """A city centre: a jittered rows x cols grid of signalized intersections.

    Attributes:
        rows, cols: intersections per column / row (rows * cols signals).
        block_min_m, block_max_m: range of block lengths (node spacing after jitter).
        block_mean_m: mean node spacing; spacings are right-skewed (many short blocks, a few
            long ones): lo + (hi - lo) * Beta(1.5, b) with b set to give this mean, where
            [lo, hi] is the range shrunk by twice the jitter.
        jitter_m: uniform jitter of each intersection in x and y.
        arterial_rows, collector_rows, arterial_cols, collector_cols: line indices of the
            road hierarchy; every other line is a local street.
        t_junctions: local-street segments removed (their end nodes become T-junctions).
        left_bay_m: length of the left-turn bays on arterial approaches.
        stub_min_m, stub_max_m: length of the unsignalized fringe stubs.
        arterial_extension_m: length of the arterial stubs (V2X test roads out of the centre).
        v2x_classes: road classes whose lines are marked as V2X corridors.
    """

    rows: int = 16
    cols: int = 28
    block_min_m: float = 150.0
    block_max_m: float = 450.0
    block_mean_m: float = 300.0
    jitter_m: float = 25.0
    arterial_rows: tuple[int, ...] = ()
    collector_rows: tuple[int, ...] = ()
    arterial_cols: tuple[int, ...] = ()
    collector_cols: tuple[int, ...] = ()
    t_junctions: int = 0
    left_bay_m: float = 60.0
    stub_min_m: float = 150.0
    stub_max_m: float = 300.0
    arterial_extension_m: float = 0.0
    v2x_classes: tuple[str, ...] = ("arterial",)


@dataclass(frozen=True)
class CorridorRecipe(Recipe):
    """One signalized arterial with cross streets.

    Attributes:
        n_signals: signals along the arterial.
        spacing_min_m, spacing_max_m: range of the signal spacing.
        lateral_jitter_m: uniform sideways jitter of the arterial nodes.
        end_stub_m: arterial length beyond the first and last signal.
        cross_min_m, cross_max_m: range of cross-street arm lengths.
        collector_every: every k-th cross street is a collector, the others local streets.
        t_junctions: signals whose cross street has one arm only (T-junctions).
        left_bay_m: left-turn bay length on the arterial approaches.
        corridor_id: V2X corridor id of the arterial.
    """

    n_signals: int = 18
    spacing_min_m: float = 350.0
    spacing_max_m: float = 550.0
    lateral_jitter_m: float = 15.0
    end_stub_m: float = 300.0
    cross_min_m: float = 200.0
    cross_max_m: float = 400.0
    collector_every: int = 4
    t_junctions: int = 3
    left_bay_m: float = 60.0
    corridor_id: str = "A1"


RECIPE_KINDS: dict[str, type[Recipe]] = {"centre": CentreRecipe, "corridor": CorridorRecipe}


def known_recipes(recipes_dir: Path | None = None) -> list[str]:
    """Names of the recipe files ``networks/*.toml``."""
    d = recipes_dir or _recipes_dir()
    return sorted(p.stem for p in d.glob("*.toml"))


def _recipes_dir() -> Path:
    if RECIPES_DIR.is_dir():
        return RECIPES_DIR
    return Path.cwd() / "networks"  # a non-editable install run from a checkout


def recipe_path(name: str) -> Path:
    """The recipe file of ``name`` (a name in networks/ or a path to a .toml file)."""
    p = Path(name)
    if p.suffix == ".toml":
        return require_file(p, "recipe", "an existing recipe .toml file")
    d = _recipes_dir()
    path = d / f"{name}.toml"
    if not path.is_file():
        raise InputError(d, "recipe name", "one of " + ", ".join(known_recipes(d)), repr(name))
    return path


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read a recipe TOML into its typed dataclass; unknown keys and wrong types -> InputError."""
    path = require_file(path, "recipe", "an existing recipe .toml file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, "toml", "a valid TOML file", str(exc)) from None
    kind = raw.get("kind")
    if kind not in RECIPE_KINDS:
        raise InputError(path, "kind", "one of " + ", ".join(RECIPE_KINDS), repr(kind))
    cls = RECIPE_KINDS[kind]
    spec = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, val in raw.items():
        if key not in spec:
            raise InputError(path, key, f"a {kind} recipe key: " + ", ".join(spec), "unknown key")
        values[key] = _coerce(path, key, val, spec[key].type)
    missing = [k for k in ("seed", "base_veh_per_hour") if k not in values]
    if missing:
        raise InputError(path, missing[0], "a value", "missing")
    recipe = cls(**values)
    _check_recipe(path, recipe)
    return recipe


def _coerce(path: Path, key: str, val: Any, typ: Any) -> Any:
    t = str(typ)
    if t == "int":
        if isinstance(val, bool) or not isinstance(val, int):
            raise InputError(path, key, "an integer", repr(val))
        return val
    if t == "float":
        if isinstance(val, bool) or not isinstance(val, int | float):
            raise InputError(path, key, "a number", repr(val))
        return float(val)
    if t == "str":
        if not isinstance(val, str):
            raise InputError(path, key, "a string", repr(val))
        return val
    if t.startswith("tuple[int"):
        if not isinstance(val, list) or any(
            isinstance(v, bool) or not isinstance(v, int) for v in val
        ):
            raise InputError(path, key, "a list of integers", repr(val))
        return tuple(val)
    if t.startswith("tuple[str"):
        if not isinstance(val, list) or any(not isinstance(v, str) for v in val):
            raise InputError(path, key, "a list of strings", repr(val))
        return tuple(val)
    raise AssertionError(f"unhandled recipe field type {t}")  # pragma: no cover


def _check_recipe(path: Path, r: Recipe) -> None:
    def need(ok: bool, key: str, expected: str, found: Any) -> None:
        if not ok:
            raise InputError(path, key, expected, repr(found))

    need(
        r.base_veh_per_hour > 0, "base_veh_per_hour", "a positive flow (veh/h)", r.base_veh_per_hour
    )
    need(r.cycle_s >= 30, "cycle_s", "a cycle of at least 30 s", r.cycle_s)
    need(r.yellow_s >= 3, "yellow_s", "at least 3 s", r.yellow_s)
    need(r.allred_s >= 0, "allred_s", "a non-negative time", r.allred_s)
    if isinstance(r, CentreRecipe):
        need(r.rows >= 2 and r.cols >= 2, "rows/cols", "at least 2 x 2", (r.rows, r.cols))
        need(
            0 < r.block_min_m + 4 * r.jitter_m <= r.block_max_m,
            "block_min_m/block_max_m/jitter_m",
            "block_min_m + 4 * jitter_m <= block_max_m",
            (r.block_min_m, r.block_max_m, r.jitter_m),
        )
        need(
            r.block_min_m + 2 * r.jitter_m < r.block_mean_m < r.block_max_m - 2 * r.jitter_m,
            "block_mean_m",
            "block_min_m + 2 * jitter_m < mean < block_max_m - 2 * jitter_m",
            r.block_mean_m,
        )
        for key, lines, n in (
            ("arterial_rows", r.arterial_rows, r.rows),
            ("collector_rows", r.collector_rows, r.rows),
            ("arterial_cols", r.arterial_cols, r.cols),
            ("collector_cols", r.collector_cols, r.cols),
        ):
            need(all(0 <= i < n for i in lines), key, f"line indices in [0, {n})", list(lines))
        need(
            not set(r.arterial_rows) & set(r.collector_rows),
            "collector_rows",
            "rows that are not arterials",
            r.collector_rows,
        )
        need(
            not set(r.arterial_cols) & set(r.collector_cols),
            "collector_cols",
            "columns that are not arterials",
            r.collector_cols,
        )
        need(
            all(c in ROAD_CLASSES for c in r.v2x_classes),
            "v2x_classes",
            "road classes " + ", ".join(ROAD_CLASSES),
            r.v2x_classes,
        )
        need(r.t_junctions >= 0, "t_junctions", "a non-negative count", r.t_junctions)
        need(
            0 < r.left_bay_m < r.block_min_m,
            "left_bay_m",
            "0 < bay < block_min_m (bays are capped at 30% of a block)",
            r.left_bay_m,
        )
        need(
            0 < r.stub_min_m <= r.stub_max_m,
            "stub_min_m/stub_max_m",
            "0 < min <= max",
            (r.stub_min_m, r.stub_max_m),
        )
    elif isinstance(r, CorridorRecipe):
        need(r.n_signals >= 2, "n_signals", "at least 2", r.n_signals)
        need(
            0 < r.spacing_min_m <= r.spacing_max_m,
            "spacing_min_m/spacing_max_m",
            "0 < min <= max",
            (r.spacing_min_m, r.spacing_max_m),
        )
        need(
            0 < r.cross_min_m <= r.cross_max_m,
            "cross_min_m/cross_max_m",
            "0 < min <= max",
            (r.cross_min_m, r.cross_max_m),
        )
        need(
            0 < r.left_bay_m < r.spacing_min_m / 2,
            "left_bay_m",
            "0 < bay < spacing_min_m / 2",
            r.left_bay_m,
        )
        need(0 <= r.t_junctions <= r.n_signals, "t_junctions", f"0..{r.n_signals}", r.t_junctions)
        need(r.collector_every >= 1, "collector_every", "at least 1", r.collector_every)


# ----------------------------------------------------------------------------- centre
def make_centre(r: CentreRecipe, rng: np.random.Generator) -> tuple[PlainNet, dict[str, Any]]:
    """Plain net of a city centre (see :class:`CentreRecipe`); returns (net, layout facts)."""
    R, C = r.rows, r.cols
    lo, hi = r.block_min_m + 2 * r.jitter_m, r.block_max_m - 2 * r.jitter_m
    # Beta(a, b) has mean a / (a + b): pick b so that the spacing has mean block_mean_m
    frac = (r.block_mean_m - lo) / (hi - lo)
    a = 1.5
    b = a * (1.0 - frac) / frac
    xs = np.concatenate([[0.0], np.cumsum(lo + (hi - lo) * rng.beta(a, b, C - 1))])
    ys = np.concatenate([[0.0], np.cumsum(lo + (hi - lo) * rng.beta(a, b, R - 1))])
    jit = rng.uniform(-r.jitter_m, r.jitter_m, size=(R, C, 2))

    def cls_row(i: int) -> str:
        return (
            "arterial"
            if i in r.arterial_rows
            else "collector"
            if i in r.collector_rows
            else "local"
        )

    def cls_col(j: int) -> str:
        return (
            "arterial"
            if j in r.arterial_cols
            else "collector"
            if j in r.collector_cols
            else "local"
        )

    # corridor ids: one per V2X line, arterials first (rows then columns), then collectors
    corridor: dict[tuple[str, int], str] = {}
    k = 0
    for cls in ("arterial", "collector", "local"):
        if cls not in r.v2x_classes:
            continue
        for kind, n, f in (("row", R, cls_row), ("col", C, cls_col)):
            for i in range(n):
                if f(i) == cls:
                    k += 1
                    corridor[(kind, i)] = f"C{k}"

    net = PlainNet()

    def nid(i: int, j: int) -> str:
        return f"r{i:02d}c{j:02d}"

    for i in range(R):
        for j in range(C):
            net.node(nid(i, j), xs[j] + jit[i, j, 0], ys[i] + jit[i, j, 1], "traffic_light")

    # segments between adjacent intersections: ((i, j), (i2, j2), class, line key)
    segs: list[tuple[tuple[int, int], tuple[int, int], str, tuple[str, int]]] = []
    for i in range(R):
        for j in range(C - 1):
            segs.append(((i, j), (i, j + 1), cls_row(i), ("row", i)))
    for j in range(C):
        for i in range(R - 1):
            segs.append(((i, j), (i + 1, j), cls_col(j), ("col", j)))

    # T-junctions: drop local-street segments, at most one per node, so each end keeps 3 arms
    removed: set[int] = set()
    used: set[tuple[int, int]] = set()
    local_idx = [s for s, seg in enumerate(segs) if seg[2] == "local"]
    for s in rng.permutation(local_idx):
        if len(removed) >= r.t_junctions:
            break
        a, b = segs[s][0], segs[s][1]
        if a in used or b in used:
            continue
        removed.add(int(s))
        used |= {a, b}
    if len(removed) < r.t_junctions:
        raise ValueError(f"only {len(removed)} of {r.t_junctions} T-junction removals possible")

    for s, (a, b, cls, line) in enumerate(segs):
        if s in removed:
            continue
        bay = _bay(net, nid(*a), nid(*b), r.left_bay_m) if ROAD_CLASSES[cls].left_bay else 0.0
        net.road(
            nid(*a),
            nid(*b),
            cls,
            bay_at_a_m=bay,
            bay_at_b_m=bay,
            corridor=corridor.get(line, ""),
            name=_line_name(line, cls),
        )

    # fringe stubs continuing every border line out of the centre; unsignalized ends
    n_stubs = 0
    for i in range(R):
        for j in range(C):
            for di, dj, key, cls in (
                (-1, 0, ("col", j), cls_col(j)),
                (1, 0, ("col", j), cls_col(j)),
                (0, -1, ("row", i), cls_row(i)),
                (0, 1, ("row", i), cls_row(i)),
            ):
                if 0 <= i + di < R and 0 <= j + dj < C:
                    continue
                length = (
                    r.arterial_extension_m
                    if cls == "arterial" and r.arterial_extension_m > 0
                    else float(rng.uniform(r.stub_min_m, r.stub_max_m))
                )
                x, y = net.xy(nid(i, j))
                f = net.node(
                    f"f{i:02d}c{j:02d}{_SIDE[(di, dj)]}",
                    x + dj * length,
                    y + di * length,
                )
                bay = r.left_bay_m if ROAD_CLASSES[cls].left_bay else 0.0
                net.road(
                    f,
                    nid(i, j),
                    cls,
                    bay_at_b_m=bay,
                    corridor=corridor.get(key, ""),
                    name=_line_name(key, cls),
                )
                n_stubs += 1
    facts = {
        "rows": R,
        "cols": C,
        "width_m": round(float(xs[-1] - xs[0]), 1),
        "height_m": round(float(ys[-1] - ys[0]), 1),
        "t_junctions": len(removed),
        "fringe_stubs": n_stubs,
        "corridors": {v: f"{k[0]} {k[1]}" for k, v in corridor.items()},
    }
    return net, facts


_SIDE = {(-1, 0): "S", (1, 0): "N", (0, -1): "W", (0, 1): "E"}


def _bay(net: PlainNet, a: str, b: str, bay_m: float) -> float:
    (ax, ay), (bx, by) = net.xy(a), net.xy(b)
    return min(bay_m, 0.3 * math.hypot(bx - ax, by - ay))


def _line_name(line: tuple[str, int], cls: str) -> str:
    kind, i = line
    street = {"arterial": "Avenue", "collector": "Road", "local": "Street"}[cls]
    return f"{'East-West' if kind == 'row' else 'North-South'} {street} {i + 1}"


# ----------------------------------------------------------------------------- corridor
def make_corridor(r: CorridorRecipe, rng: np.random.Generator) -> tuple[PlainNet, dict[str, Any]]:
    """Plain net of one signalized arterial with cross streets (see :class:`CorridorRecipe`)."""
    n = r.n_signals
    gaps = rng.uniform(r.spacing_min_m, r.spacing_max_m, n - 1)
    xs = np.concatenate([[0.0], np.cumsum(gaps)])
    ys = rng.uniform(-r.lateral_jitter_m, r.lateral_jitter_m, n)
    net = PlainNet()
    sig = [net.node(f"S{k:02d}", xs[k], ys[k], "traffic_light") for k in range(n)]
    west = net.node("W", -r.end_stub_m, ys[0])
    east = net.node("E", xs[-1] + r.end_stub_m, ys[-1])
    chain = [west, *sig, east]
    for k in range(len(chain) - 1):
        a, b = chain[k], chain[k + 1]
        bay_a = _bay(net, a, b, r.left_bay_m) if a in sig else 0.0
        bay_b = _bay(net, a, b, r.left_bay_m) if b in sig else 0.0
        net.road(
            a,
            b,
            "arterial",
            bay_at_a_m=bay_a,
            bay_at_b_m=bay_b,
            corridor=r.corridor_id,
            name="Corridor Avenue",
        )
    t_sig = set(
        rng.choice(
            np.arange(1, n - 1), size=min(r.t_junctions, max(n - 2, 0)), replace=False
        ).tolist()
    )
    arms = rng.uniform(r.cross_min_m, r.cross_max_m, size=(n, 2))
    one_side = rng.integers(0, 2, size=n)
    skew = rng.uniform(-40.0, 40.0, size=(n, 2))
    for k in range(n):
        cls = "collector" if k % r.collector_every == 0 else "local"
        for side, sgn in ((0, 1.0), (1, -1.0)):
            if k in t_sig and side == one_side[k]:
                continue
            f = net.node(
                f"X{k:02d}{'NS'[side]}", xs[k] + skew[k, side], ys[k] + sgn * arms[k, side]
            )
            net.road(
                f, sig[k], cls, name=f"Cross {'Road' if cls == 'collector' else 'Street'} {k + 1}"
            )
    facts = {
        "length_m": round(float(xs[-1] - xs[0]), 1),
        "t_junctions": sorted(int(k) for k in t_sig),
    }
    return net, facts


BUILDERS = {"centre": make_centre, "corridor": make_corridor}


# ----------------------------------------------------------------------------- build
def build(name: str, out_dir: str | os.PathLike, seed: int | None = None) -> Path:
    """Build the recipe ``name`` (networks/<name>.toml, or a path to a .toml) into ``out_dir``.

    Writes <name>.net.xml, <name>.nod.xml, <name>.edg.xml, <name>.typ.xml, <name>.v2x.json and
    <name>.meta.json.  The files are produced in a temporary directory beside ``out_dir`` and
    renamed into place, so a failed build leaves no partial output.

    Args:
        name: recipe name (see :func:`known_recipes`) or a recipe file path.
        out_dir: output directory (created if needed).
        seed: overrides the recipe's seed.

    Returns:
        Path of the built .net.xml.

    Raises:
        InputError: unknown recipe name, unreadable recipe, unknown or bad recipe key.
    """
    path = recipe_path(name)
    recipe = load_recipe(path)
    stem = path.stem
    seed = recipe.seed if seed is None else int(seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        try:
            plain, facts = BUILDERS[recipe.kind](recipe, rng)
        except ValueError as exc:  # a layout the parameters cannot produce
            raise InputError(
                path, "recipe", "parameters that give a buildable layout", str(exc)
            ) from None
        prefix = tmp / stem
        write_plain(plain, prefix)
        _write_types(Path(f"{prefix}.typ.xml"))
        net_path = netconvert_plain(
            prefix,
            tmp / f"{stem}.net.xml",
            timing=recipe.timing,
            label=f"signals network recipe {stem} seed {seed} (signals.netbuild)",
        )
        convert_s = time.perf_counter() - t0
        v2x, stats = _describe(net_path)
        _write_json(tmp / f"{stem}.v2x.json", {"net": net_path.name, **v2x})
        meta = {
            "recipe": stem,
            "recipe_file": str(path.name),
            "kind": recipe.kind,
            "seed": seed,
            "base_veh_per_hour": recipe.base_veh_per_hour,
            "sumo_version": sumo_version(),
            "net_sha256": sha256_file(net_path),
            "parameters": {f.name: _jsonable(getattr(recipe, f.name)) for f in fields(recipe)},
            "layout": facts,
            "stats": stats,
        }
        _write_json(tmp / f"{stem}.meta.json", meta)
        for p in tmp.iterdir():
            p.chmod(0o644)
        tmp.chmod(0o755)
        _publish(tmp, out_dir)
        _log(f"built {stem} (seed {seed}) in {convert_s:.1f} s: {out_dir / net_path.name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / f"{stem}.net.xml"


def _log(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


def _jsonable(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=1, sort_keys=False)
        fh.write("\n")


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished files into ``out_dir``: a rename of the directory if it is new."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    for p in sorted(tmp.iterdir()):
        os.replace(p, out_dir / p.name)


def _describe(net_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """V2X corridors (edges, centreline km, RSU signals) and statistics of a built net."""
    from signals.network import Network, count_signalized_intersections

    net = Network.from_sumo(net_path)
    corridors: dict[str, list[int]] = {}
    for e, c in enumerate(net.edge_v2x):
        if c:
            corridors.setdefault(c, []).append(e)
    out = []
    for cid in sorted(corridors, key=_natural):
        idx = corridors[cid]
        seen: set[frozenset] = set()
        length = 0.0
        for e in idx:
            key = frozenset((net.edge_from[e], net.edge_to[e]))
            if key not in seen:
                seen.add(key)
                length += float(net.edge_length_m[e])
        in_edges = {net.edge_ids[e] for e in idx}
        rsu = sorted(
            {
                net.signal_ids[int(net.mov_signal[m])]
                for m in range(net.n_movements)
                if net.mov_from_edge[m] in in_edges
            }
        )
        out.append(
            {
                "id": cid,
                "edges": sorted(in_edges),
                "centreline_km": round(length / 1000.0, 3),
                "rsu_signals": rsu,
            }
        )
    v2x = {"total_centreline_km": round(net.v2x_km, 3), "corridors": out}
    stats = {**net.summary(), "n_signalized_intersections": count_signalized_intersections(net)}
    stats["net"] = net_path.name
    phases_per_signal = np.diff(net.signal_phase_start)
    stats["phases_per_signal"] = {
        str(int(k)): int(v)
        for k, v in zip(*np.unique(phases_per_signal, return_counts=True), strict=True)
    }
    return v2x, stats


def _natural(s: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))


# ----------------------------------------------------------------------------- OpenStreetMap
def osm_netconvert_args() -> list[str]:
    """netconvert options for an OSM city extract, after SUMO's tools/osmBuild.py defaults.

    Typemap ``data/typemap/osmNetconvert.typ.xml`` (lanes/speeds per highway type); geometry
    nodes become shape points; clusters of OSM signal nodes become one signal
    (``--tls.guess-signals``, ``--junctions.join``, ``--tls.join``); signals that only control a
    single pair of edges are dropped (``--tls.discard-simple``); only roads cars may use are
    kept; see https://sumo.dlr.de/docs/Networks/Import/OpenStreetMap.html.
    """
    typemap = sumo_tools.sumo_home() / "data" / "typemap" / "osmNetconvert.typ.xml"
    return [
        "--type-files",
        str(typemap),
        "--geometry.remove",
        "true",
        "--ramps.guess",
        "true",
        "--junctions.join",
        "true",
        "--tls.guess-signals",
        "true",
        "--tls.discard-simple",
        "true",
        "--tls.join",
        "true",
        "--tls.default-type",
        "static",
        "--keep-edges.by-vclass",
        "passenger",
        "--remove-edges.isolated",
        "true",
        "--no-turnarounds.except-deadend",
        "true",
        "--junctions.corner-detail",
        "5",
        "--output.street-names",
        "true",
        "--output.original-names",
        "true",
        "--xml-validation",
        "never",
        "--no-warnings",
        "true",
    ]


def _check_osm(path: Path) -> None:
    from signals.network import _head, _root_tag

    head = _head(path)
    if "<osm" not in head:
        raise InputError(path, "root element", "an OpenStreetMap XML file (<osm>)", _root_tag(head))


def import_osm(osm_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Convert an OpenStreetMap extract into ``<out_dir>/<stem>.net.xml`` with signal options.

    Args:
        osm_path: an ``.osm`` / ``.osm.xml`` file (optionally gzipped).
        out_dir: output directory (created if needed); written atomically.

    Returns:
        Path of the .net.xml.

    Raises:
        InputError: missing file, a file that is not OSM XML, or an extract without roads
            or signals netconvert can use.
    """
    osm_path = require_file(osm_path, "osm", "an existing OpenStreetMap .osm file")
    _check_osm(osm_path)
    stem = re.sub(r"(\.osm)?(\.xml)?(\.gz)?$", "", osm_path.name) or "osm"
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        net_path = tmp / f"{stem}.net.xml"
        args = [
            sumo_tools.binary("netconvert"),
            "--osm-files",
            str(osm_path.resolve()),
            "--output-file",
            net_path.name,
        ]
        try:
            sumo_tools.run([*args, *osm_netconvert_args()], cwd=tmp)
        except sumo_tools.SumoToolError as exc:
            errors = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("Error:")]
            last = errors[-1] if errors else "netconvert failed"
            raise InputError(
                osm_path, "osm", "an OSM extract netconvert can convert", last
            ) from None
        if not net_path.exists():
            raise InputError(
                osm_path, "osm", "an extract with roads for passenger cars", "no network written"
            )
        _fixed_header(
            net_path, f"signals OSM import of {osm_path.name} (signals.netbuild.import_osm)"
        )
        net_path.chmod(0o644)
        tmp.chmod(0o755)
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / f"{stem}.net.xml"
