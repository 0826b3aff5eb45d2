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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.control.optimize.bands import Corridor, sweep_band, uniform_band
from signals.errors import atomic_path
from signals.plans import _expand

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import SignalPlan

COLOURS = {"G": "#2ca02c", "Y": "#ffbf00", "R": "#d62728"}


def movement_bars(
    network: Network, plan: SignalPlan, movement: int, t0_s: float, t1_s: float
) -> list[tuple[float, float, str]]:
    """(start, end, 'G' | 'Y' | 'R') intervals of ``movement`` over simulation time [t0, t1]:
    green where at least half its links are green, yellow where any is yellow, else red (the
    plan's offset applied, SUMO's meaning)."""
    s = network.signal_index(plan.signal_id)
    links = np.arange(*network.links_of(s).indices(network.n_links))
    mine = links[network.link_movement[links] == movement] - links[0]
    cycle: list[tuple[float, float, str]] = []
    t = 0.0
    for _, state, dur in _expand(plan):
        chars = [state[i] for i in mine]
        green = sum(c in "Gg" for c in chars) >= 0.5 * max(len(chars), 1)
        code = "G" if green else ("Y" if any(c in "yY" for c in chars) else "R")
        cycle.append((t, t + dur, code))
        t += dur
    C = plan.cycle_s
    out = []
    k = math.floor((t0_s - plan.offset_s) / C)
    while plan.offset_s + k * C < t1_s:
        base = plan.offset_s + k * C
        for a, b, code in cycle:
            lo, hi = max(base + a, t0_s), min(base + b, t1_s)
            if hi > lo:
                if out and out[-1][2] == code and abs(out[-1][1] - lo) < 1e-9:
                    out[-1] = (out[-1][0], hi, code)
                else:
                    out.append((lo, hi, code))
        k += 1
    return out


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


def read_fcd(path: str | Path, corridor: Corridor, network: Network) -> list[Trajectory]:
    """Trajectories of the vehicles on the corridor's roads from a SUMO fcd file (``lane`` and
    ``pos`` of each vehicle at each step; steps on other edges and inside junctions left out,
    so a trajectory breaks where it crosses a junction)."""
    where = edge_positions(corridor, network)
    rows: dict[str, tuple[bool, list[float], list[float]]] = {}
    t = 0.0
    for event, el in ET.iterparse(str(path), events=("start", "end")):
        if event == "start":
            if el.tag == "timestep":
                t = float(el.get("time", 0.0))
            continue
        if el.tag == "vehicle":
            edge = el.get("lane", "").rpartition("_")[0]
            hit = where.get(edge)
            if hit is not None:
                inbound, y0, scale = hit
                r = rows.setdefault(el.get("id", ""), (inbound, [], []))
                if r[0] == inbound:
                    r[1].append(t)
                    r[2].append(y0 + scale * float(el.get("pos", 0.0)))
            el.clear()
        elif el.tag == "timestep":
            el.clear()
    return [Trajectory(v, ib, np.asarray(ts), np.asarray(ys)) for v, (ib, ts, ys) in rows.items()]


def plot_timespace(
    network: Network,
    corridor: Corridor,
    plans: dict[str, SignalPlan],
    t0_s: float,
    t1_s: float,
    out_stem: str | Path,
    trajectories: list[Trajectory] = (),
    title: str = "",
    travel_s: dict[str, tuple[float, ...]] | None = None,
) -> dict:
    """Draw the diagram to ``out_stem``.png and .svg; returns what it drew (bands, files).

    ``travel_s``: {"outbound": (n-1,), "inbound": (n-1,)} travel times per segment (e.g. the
    green-wave MILP's): the bands are swept at them; else at the best uniform speed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    pos = corridor.positions_m()
    total = float(pos[-1]) if len(pos) else 1.0
    bar = 0.012 * total
    fig, ax = plt.subplots(figsize=(12, 7))
    for tr in trajectories:
        t = tr.time_s
        gaps = np.flatnonzero(np.diff(t) > 1.5) + 1
        for seg_t, seg_y in zip(np.split(t, gaps), np.split(tr.position_m, gaps), strict=True):
            ax.plot(
                seg_t, seg_y, lw=0.4, alpha=0.5, color="#1f77b4" if not tr.inbound else "#9467bd"
            )
    bands = {}
    for inbound in (False, True):
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
            for a, b, code in movement_bars(network, plans[sid], moves[p], t0_s, t1_s):
                ax.plot([a, b], [pos[p] + dy] * 2, color=COLOURS[code], lw=3, solid_capstyle="butt")
        ax.text(t1_s, pos[p], f" {sid}", va="center", fontsize=7)
    ax.set_xlim(t0_s, t1_s)
    ax.set_ylim(-3 * bar, total + 3 * bar)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"distance along {corridor.name} (m)")
    ob, ib = bands["outbound"], bands["inbound"]
    at = (
        ("at the given travel times", "")
        if travel_s is not None
        else (f"at {ob['speed_factor']:.2f} x limit", f" at {ib['speed_factor']:.2f} x limit")
    )
    ax.set_title(
        title
        or f"{corridor.name}: cycle {plans[corridor.signals[0]].cycle_s:g} s, band outbound "
        f"{ob['width']:.0%}, inbound {ib['width']:.0%} of the cycle ({at[0]}{at[1]})"
    )
    fig.tight_layout()
    stem = Path(out_stem)
    files = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for f in files:
        with atomic_path(f) as tmp:
            fig.savefig(tmp, format=f.suffix[1:], dpi=150)
    plt.close(fig)
    return {"bands": bands, "files": [str(f) for f in files], "n_trajectories": len(trajectories)}


__all__ = ["Trajectory", "edge_positions", "movement_bars", "plot_timespace", "read_fcd"]
