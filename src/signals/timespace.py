"""Time-space diagram of a corridor: the picture engineers check a green wave with.

Distance along the corridor (outbound direction, from its first signal) against time; at every
signal the state of the corridor movement of each direction as a bar (green, yellow, red; the
outbound bar just below the signal's line, the inbound just above); the widest band each way
at one progression speed (:func:`signals.control.optimize.bands.uniform_band`, the sweep of
the plans drawn) or at given travel times per segment (the green-wave MILP's); and, from SUMO's fcd output, the trajectories of the vehicles on the
corridor's roads between its first and last signal.

Core module: no traci/libsumo import (matplotlib is imported only to draw).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.control.optimize.bands import Corridor, sweep_band, uniform_band
from signals.errors import InputError, atomic_path
from signals.plans import _expand

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import SignalPlan

COLOURS = {"G": "#2ca02c", "Y": "#ffbf00", "R": "#d62728"}
# what recording_options makes SUMO write (gzip: SUMO compresses by the file name)
FCD_FILE = "corridor-fcd.xml.gz"
STATES_FILE = "corridor-states.xml"


def _movement_links(network: Network, signal_id: str, movement: int) -> np.ndarray:
    """Indices within the signal's state string of the links of ``movement``."""
    s = network.signal_index(signal_id)
    links = np.arange(*network.links_of(s).indices(network.n_links))
    return links[network.link_movement[links] == movement] - links[0]


def _bar_code(state: str, mine: np.ndarray) -> str:
    """'G' where at least half the movement's links are green, 'Y' where any is yellow, else
    'R' (the one reading of a state for a movement's bar)."""
    chars = [state[i] for i in mine if i < len(state)]
    if sum(c in "Gg" for c in chars) >= 0.5 * max(len(chars), 1):
        return "G"
    return "Y" if any(c in "yY" for c in chars) else "R"


def _append_bar(out: list[tuple[float, float, str]], lo: float, hi: float, code: str) -> None:
    if hi > lo:
        if out and out[-1][2] == code and abs(out[-1][1] - lo) < 1e-9:
            out[-1] = (out[-1][0], hi, code)
        else:
            out.append((lo, hi, code))


def movement_bars(
    network: Network, plan: SignalPlan, movement: int, t0_s: float, t1_s: float
) -> list[tuple[float, float, str]]:
    """(start, end, 'G' | 'Y' | 'R') intervals of ``movement`` over simulation time [t0, t1]
    under a fixed-time plan (its offset applied, SUMO's meaning); see :func:`_bar_code`."""
    mine = _movement_links(network, plan.signal_id, movement)
    cycle: list[tuple[float, float, str]] = []
    t = 0.0
    for _, state, dur in _expand(plan):
        cycle.append((t, t + dur, _bar_code(state, mine)))
        t += dur
    C = plan.cycle_s
    out: list[tuple[float, float, str]] = []
    k = math.floor((t0_s - plan.offset_s) / C)
    while plan.offset_s + k * C < t1_s:
        base = plan.offset_s + k * C
        for a, b, code in cycle:
            _append_bar(out, max(base + a, t0_s), min(base + b, t1_s), code)
        k += 1
    return out


def state_bars(
    network: Network,
    signal_id: str,
    changes: list[tuple[float, str]],
    movement: int,
    t0_s: float,
    t1_s: float,
) -> list[tuple[float, float, str]]:
    """The same intervals from the states a signal actually showed: ``changes`` (time, state)
    in time order, each state holding until the next (SUMO's SaveTLSSwitchStates records, so
    any controller -- actuated, max-pressure, a policy -- draws as it ran)."""
    mine = _movement_links(network, signal_id, movement)
    out: list[tuple[float, float, str]] = []
    for i, (t, state) in enumerate(changes):
        t_next = changes[i + 1][0] if i + 1 < len(changes) else t1_s
        _append_bar(out, max(t, t0_s), min(t_next, t1_s), _bar_code(state, mine))
    return out


def read_switch_states(path: str | Path, signal_ids=None) -> dict[str, list[tuple[float, str]]]:
    """signal id -> [(time, state)] from SUMO's SaveTLSSwitchStates output (one ``tlsState``
    per change), for ``signal_ids`` (all when None)."""
    want = None if signal_ids is None else set(signal_ids)
    out: dict[str, list[tuple[float, str]]] = {}
    with _xml_source(path) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag == "tlsState":
                sid = el.get("id", "")
                if want is None or sid in want:
                    rec = (float(el.get("time", 0.0)), el.get("state", ""))
                    out.setdefault(sid, []).append(rec)
            el.clear()
    for rows in out.values():
        rows.sort(key=lambda r: r[0])
    return out


def find_corridor(network: Network, corridor: str | Sequence[str] = "") -> Corridor | None:
    """The corridor ``corridor`` names: "" the net's first V2X corridor (None where it has
    none), one of its V2X corridors by name, or signal ids in driving order (any net; named
    ``"custom"``). Raises InputError (field ``corridor``) saying what the net has when it names
    none of them."""
    from signals.control.optimize.bands import corridors

    flows = np.zeros(network.n_movements)
    if isinstance(corridor, str):
        cors, _ = corridors(network, flows)
        if not corridor:
            return cors[0] if cors else None
        for c in cors:
            if c.name == corridor:
                return c
        have = ", ".join(c.name for c in cors) or "none"
        expected = f"one of the net's V2X corridors ({have}) or signal ids"
        raise InputError(None, "corridor", expected, repr(corridor))
    unknown = [s for s in corridor if s not in set(network.signal_ids)]
    if unknown:
        raise InputError(None, "corridor", "signal ids of the net", repr(unknown[0]))
    try:
        cors, notes = corridors(network, flows, {"custom": list(corridor)})
    except InputError as exc:  # no road between two neighbours
        raise InputError(None, "corridor", exc.expected, exc.found) from None
    if not cors:
        raise InputError(None, "corridor", "signals joined by roads in order", "; ".join(notes))
    return cors[0]


def corridor_edges(corridor: Corridor) -> list[str]:
    """Every edge of the corridor's roads, both directions, sorted."""
    return sorted({e for es in (*corridor.out_edges, *corridor.in_edges) for e in es})


def recording_options(corridor: Corridor, out_dir: str | Path, begin_s: float):
    """(SUMO options, additional-file text) that record what a time-space diagram of
    ``corridor`` draws: the fcd of vehicles on its roads from ``begin_s`` (lane and position
    only, SUMO's fcd-output filtered by an edge selection file written to ``out_dir``) into
    ``out_dir/FCD_FILE``, and every state change of its signals (SaveTLSSwitchStates) into
    ``out_dir/STATES_FILE``."""
    from xml.sax.saxutils import quoteattr

    d = Path(out_dir).resolve()
    sel = d / "corridor.sel.txt"
    sel.write_text("".join(f"edge:{e}\n" for e in corridor_edges(corridor)))
    options = (
        "--fcd-output", str(d / FCD_FILE),
        "--fcd-output.filter-edges.input-file", str(sel),
        "--fcd-output.attributes", "lane,pos",
        "--device.fcd.begin", f"{begin_s:g}",
    )  # fmt: skip
    dest = quoteattr(str(d / STATES_FILE))
    events = "".join(
        f'    <timedEvent type="SaveTLSSwitchStates" source={quoteattr(s)} dest={dest}/>\n'
        for s in corridor.signals
    )
    return options, f"<additional>\n{events}</additional>\n"


def edge_positions(corridor: Corridor, network: Network) -> dict[str, tuple[bool, float, float]]:
    """edge id -> (inbound, position of its start along the corridor, metres of corridor per
    metre of edge: -1 inbound): each edge between the first and the last signal. Inbound
    roads are scaled onto the outbound segment length."""
    length = dict(zip(network.edge_ids, network.edge_length_m, strict=True))
    pos = corridor.positions_m()
    out: dict[str, tuple[bool, float, float]] = {}
    for p, edges in enumerate(corridor.out_edges):
        y = pos[p]
        for e in edges:
            out[e] = (False, y, 1.0)
            y += length[e]
    for p, edges in enumerate(corridor.in_edges):
        scale = corridor.distance_m[p] / max(corridor.distance_in_m[p], 1e-9)
        y = pos[p + 1]
        for e in edges:
            out[e] = (True, y, -scale)
            y -= length[e] * scale
    return out


@dataclass(frozen=True)
class Trajectory:
    vehicle: str
    inbound: bool
    time_s: np.ndarray
    position_m: np.ndarray


def _xml_source(path: str | Path):
    """An open binary file of an XML output, gunzipped when it is gzip (SUMO writes ``.gz``)."""
    import gzip

    with open(path, "rb") as fh:
        zipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if zipped else open(path, "rb")


def read_fcd(
    path: str | Path,
    corridor: Corridor,
    network: Network,
    t0_s: float = -math.inf,
    t1_s: float = math.inf,
) -> list[Trajectory]:
    """Trajectories of the vehicles on the corridor's roads from a SUMO fcd file (plain or
    gzip; ``lane`` and ``pos`` of each vehicle at each step, steps in [t0, t1]; steps on other
    edges and inside junctions left out, so a trajectory breaks where it crosses a junction)."""
    where = edge_positions(corridor, network)
    rows: dict[str, tuple[bool, list[float], list[float]]] = {}
    t = 0.0
    with _xml_source(path) as fh:
        for event, el in ET.iterparse(fh, events=("start", "end")):
            if event == "start":
                if el.tag == "timestep":
                    t = float(el.get("time", 0.0))
                    if t > t1_s:
                        break
                continue
            if el.tag == "vehicle" and t >= t0_s:
                edge = el.get("lane", "").rpartition("_")[0]
                hit = where.get(edge)
                if hit is not None:
                    inbound, y0, scale = hit
                    r = rows.setdefault(el.get("id", ""), (inbound, [], []))
                    if r[0] == inbound:
                        r[1].append(t)
                        r[2].append(y0 + scale * float(el.get("pos", 0.0)))
                el.clear()
            elif el.tag in ("timestep", "vehicle"):
                el.clear()
    return [Trajectory(v, ib, np.asarray(ts), np.asarray(ys)) for v, (ib, ts, ys) in rows.items()]


def plot_timespace(
    network: Network,
    corridor: Corridor,
    plans: dict[str, SignalPlan] | None,
    t0_s: float,
    t1_s: float,
    out_stem: str | Path,
    trajectories: list[Trajectory] = (),
    title: str = "",
    travel_s: dict[str, tuple[float, ...]] | None = None,
    states: dict[str, list[tuple[float, str]]] | None = None,
    formats: tuple[str, ...] = ("png", "svg"),
) -> dict:
    """Draw the diagram to ``out_stem``.<format>; returns what it drew (bands, files).

    The signal bars come from ``states`` (what each signal showed, :func:`read_switch_states`)
    where given, else from its fixed-time plan. Bands are drawn only for fixed-time plans of
    one cycle at every signal of the corridor: ``travel_s`` {"outbound": (n-1,), "inbound":
    (n-1,)} travel times per segment (e.g. the green-wave MILP's) sweeps them at those, else
    at the best uniform speed. An adaptive controller has no band; its bars and the vehicles
    show the progression it gave."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    plans = plans or {}
    states = states or {}
    missing = [s for s in corridor.signals if s not in plans and s not in states]
    if missing:
        raise ValueError(f"no plan or recorded states for corridor signals {missing}")
    pos = corridor.positions_m()
    total = float(pos[-1]) if len(pos) else 1.0
    bar = 0.012 * total
    lw = min(3.0, max(1.0, 40.0 / max(corridor.n, 1)))  # thinner bars on long corridors
    fig, ax = plt.subplots(figsize=(12, 7))
    for tr in trajectories:
        t = tr.time_s
        gaps = np.flatnonzero(np.diff(t) > 1.5) + 1
        for seg_t, seg_y in zip(np.split(t, gaps), np.split(tr.position_m, gaps), strict=True):
            ax.plot(
                seg_t, seg_y, lw=0.4, alpha=0.5, color="#1f77b4" if not tr.inbound else "#9467bd"
            )
    cycles = {plans[s].cycle_s for s in corridor.signals if s in plans}
    banded = all(s in plans for s in corridor.signals) and len(cycles) == 1
    bands = {}
    for inbound in (False, True) if banded else ():
        key = "inbound" if inbound else "outbound"
        C = plans[corridor.signals[0]].cycle_s
        if travel_s is not None:
            tt = tuple(travel_s[key])
            start, width = sweep_band(network, corridor, plans, tt, inbound)
            bands[key] = {"travel_s": list(tt), "width_s": round(width, 2)}
        else:
            f, start, width, tt = uniform_band(network, corridor, plans, inbound)
            bands[key] = {"speed_factor": f, "width_s": round(width, 2)}
        bands[key]["width"] = round(width / C, 4)
        if width <= 0:
            continue
        arrive = np.concatenate([[0.0], np.cumsum(tt)])
        ys = pos if not inbound else pos[::-1]
        k = math.floor((t0_s - start - arrive[-1]) / C)
        while start + k * C < t1_s:
            a = start + k * C
            xs = [*(a + arrive), *(a + width + arrive[::-1])]
            yy = [*ys, *ys[::-1]]
            ax.add_patch(
                Polygon(
                    np.c_[xs, yy],
                    closed=True,
                    alpha=0.15,
                    color="#17becf" if not inbound else "#e377c2",
                    lw=0,
                )
            )
            k += 1
    for p, sid in enumerate(corridor.signals):
        for moves, dy in (
            (corridor.out_movements, -bar),
            (corridor.in_movements, bar),
        ):
            if sid in states:
                drawn = state_bars(network, sid, states[sid], moves[p], t0_s, t1_s)
            else:
                drawn = movement_bars(network, plans[sid], moves[p], t0_s, t1_s)
            for a, b, code in drawn:
                ax.plot(
                    [a, b], [pos[p] + dy] * 2, color=COLOURS[code], lw=lw, solid_capstyle="butt"
                )
        ax.text(t1_s, pos[p], f" {sid}", va="center", fontsize=7)
    ax.set_xlim(t0_s, t1_s)
    ax.set_ylim(-3 * bar, total + 3 * bar)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"distance along {corridor.name} (m)")
    if not title and bands:
        ob, ib = bands["outbound"], bands["inbound"]
        at = (
            ("at the given travel times", "")
            if travel_s is not None
            else (f"at {ob['speed_factor']:.2f} x limit", f" at {ib['speed_factor']:.2f} x limit")
        )
        title = (
            f"{corridor.name}: cycle {next(iter(cycles)):g} s, band outbound "
            f"{ob['width']:.0%}, inbound {ib['width']:.0%} of the cycle ({at[0]}{at[1]})"
        )
    ax.set_title(title or f"{corridor.name}: signal states as run")
    fig.tight_layout()
    stem = Path(out_stem)
    files = [stem.with_suffix(f".{fmt}") for fmt in formats]
    for f in files:
        with atomic_path(f) as tmp:
            fig.savefig(tmp, format=f.suffix[1:], dpi=150)
    plt.close(fig)
    return {"bands": bands, "files": [str(f) for f in files], "n_trajectories": len(trajectories)}


__all__ = [
    "FCD_FILE",
    "STATES_FILE",
    "Trajectory",
    "corridor_edges",
    "edge_positions",
    "movement_bars",
    "plot_timespace",
    "read_fcd",
    "read_switch_states",
    "recording_options",
    "state_bars",
]
