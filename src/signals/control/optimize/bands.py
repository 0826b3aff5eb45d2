"""Arterial green waves: MAXBAND and MULTIBAND-style bandwidth as a MILP (OR-Tools, SCIP).

**Corridors** (:func:`corridors`): an ordered chain of signals and, between each pair, the road
from one stop line to the next in both directions. From the net's V2X marking (the edges of
one ``v2x.corridor`` id form a line; its signals in order along it) or from a list of signal
ids the user gives (``--corridor NAME=s1,s2,...``, any net: the shortest road between
neighbours). At every signal the band rides one movement per direction: the one that carries
the corridor on (its through movement; at the ends the through movement onto / off the
corridor).

**MAXBAND** (Little, Kelson & Gartner 1981, "MAXBAND: a program for setting signals on arteries
and triangular networks", TRR 795), for a given common cycle C and the splits the cycle-and-
split optimizer chose at C. Times in seconds; for corridor k, signal p of n (outbound order):

* outbound band centre u_p passes signal p; u_{p+1} = u_p + t_p with the travel time
  t_p in [d_p / (f_max v_p), d_p / (f_min v_p)] (speed bounds around the speed limit v_p) and
  the change of pace between segments bounded beyond the limit's own change,
  |(t_{p+1}/d_{p+1} - 1/v_{p+1}) - (t_p/d_p - 1/v_p)| <= dv / (v_p v_{p+1}) (MAXBAND's
  speed-change constraints; a road whose limit changes keeps driving at the limit feasible);
* the band of width b fits the green window [A_p, A_p + G_p] of the corridor movement at p:
  theta_p + A_p + C n_p + b/2 <= u_p <= theta_p + A_p + G_p + C n_p - b/2, with the signal's
  offset theta_p and an integer n_p (which cycle the band meets). Inbound the same with w_p,
  w_p = w_{p+1} + t'_p, its own window and integer n'_p. The integers are MAXBAND's loop
  integers: summing the two directions' constraints around a pair of signals gives Little's
  loop equation with m_p = n_p + n'_p - n_{p+1} - n'_{p+1};
* left-turn lead/lag, generalised: every signal may run its stages in any cyclic order that
  keeps the cycle and passes the safety gate (``patterns``; a binary per order selects A_p, G_p
  of both directions, MAXBAND's delta variables);
* objective: max sum_k W_k (b_k + K_k b'_k) with K_k = V'_k / V_k (inbound over outbound
  volume) and Little's target-ratio constraint (1 - K_k) b'_k >= (1 - K_k) K_k b_k where the
  corridor carries bands both ways; W_k the
  corridor's through volume, so a network of corridors (a grid: signals where corridors cross
  share one offset, and node offsets satisfy every loop constraint) weighs them by volume.

**MULTIBAND-style** (``method="multiband"``; Gartner, Assmann, Lasaga & Hou 1991, "A multi-
band approach to arterial traffic signal optimization", Transp. Res. B 25): each segment has its
own band widths b_p, b'_p about the same continuous centre lines, objective sum_p (V_p b_p +
V'_p b'_p), the segment's through volumes.

A binary per corridor and direction says whether it carries a band; without one its window
constraints are lifted (big-M, M = C), so a grid whose corridors cannot all carry bands both
ways (its loops fix the sum of offsets around each block) gets the bands worth the most. The
MILP's offsets are
rounded to whole seconds; the band the resulting plans give is then measured by a sweep
(:func:`sweep_band_s`: every start time at the first signal, at the MILP's travel times), which
is the figure reported. Fixed seed and time limit; SCIP runs single-threaded (reproducible).

Core module: no traci/libsumo import.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from signals.control.fixed_time import DEFAULT_SAFETY
from signals.control.optimize.offsets import green_profile
from signals.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import SignalPlan
    from signals.safety import SafetyConfig

METHODS = ("maxband", "multiband")
SWEEP_STEP_S = 0.05  # resolution of the bandwidth sweep


@dataclass(frozen=True)
class BandConfig:
    """Settings of the green-wave MILP.

    Attributes:
        method: ``"maxband"`` (one band per direction and corridor) or ``"multiband"``
            (a band per segment, volume-weighted).
        speed_min_factor, speed_max_factor: progression speed bounds as fractions of the
            speed limit (vehicles in SUMO cruise about the limit, times their speed factor).
        speed_change_mps: largest change of progression speed between consecutive segments.
        patterns: let signals with three or more stages run them in another cyclic order
            (left-turn lead/lag) where the gate accepts it.
        max_patterns: most stage orders tried per signal.
        time_limit_s, seed: SCIP's time limit and random seed.
    """

    method: str = "maxband"
    speed_min_factor: float = 0.8
    speed_max_factor: float = 1.0
    speed_change_mps: float = 3.0
    patterns: bool = True
    max_patterns: int = 6
    time_limit_s: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not 0 < self.speed_min_factor <= self.speed_max_factor:
            raise ValueError("need 0 < speed_min_factor <= speed_max_factor")
        if self.speed_change_mps < 0 or self.time_limit_s <= 0 or self.max_patterns < 1:
            raise ValueError("speed_change_mps >= 0, time_limit_s > 0, max_patterns >= 1")


@dataclass(frozen=True)
class Corridor:
    """An ordered chain of signals with the road between neighbours, both directions.

    Attributes:
        name: corridor id.
        signals: (n,) signal ids in outbound order.
        out_movements, in_movements: (n,) movement index at each signal that carries the
            outbound / inbound band.
        out_edges, in_edges: (n-1,) edge ids from signal p to p+1 (outbound) and from p+1 to p
            (inbound), each a tuple in driving order.
        distance_m, distance_in_m: (n-1,) stop line to stop line.
        speed_mps, speed_in_mps: (n-1,) speed limit over the segment (distance / free-flow
            time).
    """

    name: str
    signals: tuple[str, ...]
    out_movements: tuple[int, ...]
    in_movements: tuple[int, ...]
    out_edges: tuple[tuple[str, ...], ...]
    in_edges: tuple[tuple[str, ...], ...]
    distance_m: tuple[float, ...]
    distance_in_m: tuple[float, ...]
    speed_mps: tuple[float, ...]
    speed_in_mps: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.signals)

    def positions_m(self) -> np.ndarray:
        """(n,) distance of every signal from the first along the outbound road."""
        return np.concatenate([[0.0], np.cumsum(self.distance_m)])


@dataclass(frozen=True)
class CorridorBand:
    """The bands of one corridor: the MILP's and the sweep's of the rounded plans (seconds)."""

    corridor: str
    cycle_s: int
    band_out_s: float
    band_in_s: float
    milp_band_out_s: float
    milp_band_in_s: float
    travel_out_s: tuple[float, ...]
    travel_in_s: tuple[float, ...]
    volume_out_vph: float
    volume_in_vph: float

    @property
    def band_out(self) -> float:
        """Outbound bandwidth as a fraction of the cycle."""
        return self.band_out_s / self.cycle_s

    @property
    def band_in(self) -> float:
        return self.band_in_s / self.cycle_s

    def to_dict(self) -> dict:
        return {
            "corridor": self.corridor,
            "cycle_s": self.cycle_s,
            "band_out": round(self.band_out, 4),
            "band_in": round(self.band_in, 4),
            "band_out_s": round(self.band_out_s, 2),
            "band_in_s": round(self.band_in_s, 2),
            "milp_band_out_s": round(self.milp_band_out_s, 2),
            "milp_band_in_s": round(self.milp_band_in_s, 2),
            "volume_out_vph": round(self.volume_out_vph, 1),
            "volume_in_vph": round(self.volume_in_vph, 1),
            "travel_out_s": [round(t, 3) for t in self.travel_out_s],
            "travel_in_s": [round(t, 3) for t in self.travel_in_s],
        }


@dataclass(frozen=True)
class BandResult:
    """Offsets (whole seconds) and stage orders of the corridor signals, and the bands."""

    cycle_s: int
    offsets_s: dict[str, int]
    plans: dict[str, SignalPlan]
    bands: tuple[CorridorBand, ...]
    status: str


# ------------------------------------------------------------------------- corridors
def _junction_signal(network: Network) -> dict[str, int]:
    return {j: s for s, js in enumerate(network.signal_junctions) for j in js}


def _road(
    network: Network, a: int, b: int, allowed: np.ndarray | None, j2s: dict[str, int]
) -> list[int] | None:
    """Shortest road (edge indices) from signal a to signal b through junctions of no other
    signal; only ``allowed`` edges where given (Dijkstra over edge lengths)."""
    ja, jb = set(network.signal_junctions[a]), set(network.signal_junctions[b])
    by_from: dict[str, list[int]] = {}
    for e, j in enumerate(network.edge_from):
        if allowed is None or allowed[e]:
            by_from.setdefault(j, []).append(e)
    heap: list[tuple[float, int, tuple[int, ...]]] = []
    for j in ja:
        for e in by_from.get(j, []):
            if network.edge_to[e] not in ja:
                heapq.heappush(heap, (float(network.edge_length_m[e]), e, (e,)))
    seen: set[int] = set()
    while heap:
        dist, e, path = heapq.heappop(heap)
        if e in seen:
            continue
        seen.add(e)
        to = network.edge_to[e]
        if to in jb:
            return list(path)
        if to in j2s:  # another signal's junction: the chain would skip a signal
            continue
        for x in by_from.get(to, []):
            if x not in seen and network.edge_to[x] != network.edge_from[e]:
                heapq.heappush(heap, (dist + float(network.edge_length_m[x]), x, (*path, x)))
    return None


def _v2x_order(network: Network, cid: str, j2s: dict[str, int]) -> list[int] | None:
    """Signals of V2X corridor ``cid`` in order along its line; None if it is not one line."""
    adj: dict[str, set[str]] = {}
    for e, c in enumerate(network.edge_v2x):
        if c == cid:
            a, b = network.edge_from[e], network.edge_to[e]
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
    ends = sorted(j for j, nb in adj.items() if len(nb) == 1)
    if len(ends) != 2 or any(len(nb) > 2 for nb in adj.values()):
        return None
    walk, prev, cur = [], None, ends[0]
    while cur is not None:
        walk.append(cur)
        nxt = [j for j in adj[cur] if j != prev]
        prev, cur = cur, (nxt[0] if nxt else None)
    order: list[int] = []
    for j in walk:
        s = j2s.get(j)
        if s is not None and (not order or order[-1] != s):
            order.append(s)
    if len(order) >= 2 and tuple(network.signal_xy_m[order[0]]) > tuple(
        network.signal_xy_m[order[-1]]
    ):
        order.reverse()  # outbound runs west to east (south to north on a vertical line)
    return order


def _band_movement(
    network: Network, s: int, in_edge: int | None, out_edge: int | None, flow_vph: np.ndarray
) -> int | None:
    """The movement of signal s from ``in_edge`` to ``out_edge`` (either may be None: the
    through movement with the most flow on the known side)."""
    ms = range(*network.movements_of(s).indices(network.n_movements))
    both = [
        m
        for m in ms
        if (in_edge is None or network.mov_in_edge[m] == in_edge)
        and (out_edge is None or network.mov_out_edge[m] == out_edge)
    ]
    if not both and in_edge is not None and out_edge is not None:  # joined signals
        both = [m for m in ms if network.mov_in_edge[m] == in_edge]
    if not both:
        return None
    return max(both, key=lambda m: (network.mov_dir[m] == "s", float(flow_vph[m]), -m))


def corridors(
    network: Network,
    flow_vph: np.ndarray,
    spec: dict[str, list[str]] | None = None,
) -> tuple[list[Corridor], list[str]]:
    """The corridors of ``spec`` (name -> signal ids in order) or, without it, the net's V2X
    corridors; and one note per corridor left out (not one line, fewer than two signals, no
    road between neighbours)."""
    j2s = _junction_signal(network)
    notes: list[str] = []
    chains: dict[str, tuple[list[int], np.ndarray | None]] = {}
    if spec:
        for name, sids in spec.items():
            chains[name] = ([network.signal_index(s) for s in sids], None)
    else:
        for cid in sorted({c for c in network.edge_v2x if c}):
            order = _v2x_order(network, cid, j2s)
            if order is None:
                notes.append(f"corridor {cid}: its V2X edges are not one line; left out")
                continue
            chains[cid] = (order, np.array([c == cid for c in network.edge_v2x]))
    out = []
    for name, (order, allowed) in chains.items():
        if len(order) < 2:
            notes.append(f"corridor {name}: fewer than two signals; left out")
            continue
        fwd, back = [], []
        for a, b in itertools.pairwise(order):
            f, r = _road(network, a, b, allowed, j2s), _road(network, b, a, allowed, j2s)
            if f is None or r is None:
                break
            fwd.append(f)
            back.append(r)
        if len(fwd) != len(order) - 1:
            a, b = network.signal_ids[order[len(fwd)]], network.signal_ids[order[len(fwd) + 1]]
            if spec:
                raise InputError(
                    None,
                    f"--corridor {name}",
                    "neighbouring signals joined by a road both ways through no other signal",
                    f"none between {a} and {b}",
                )
            notes.append(f"corridor {name}: no road between {a} and {b}; left out")
            continue
        n = len(order)
        mo, mi = [], []
        for p, s in enumerate(order):
            o_in = fwd[p - 1][-1] if p > 0 else None
            o_out = fwd[p][0] if p < n - 1 else None
            i_in = back[p][-1] if p < n - 1 else None
            i_out = back[p - 1][0] if p > 0 else None
            mo.append(_band_movement(network, s, o_in, o_out, flow_vph))
            mi.append(_band_movement(network, s, i_in, i_out, flow_vph))
        if None in mo or None in mi:  # pragma: no cover - a road in both ways has movements
            notes.append(f"corridor {name}: a signal has no movement along it; left out")
            continue
        L = network.edge_length_m
        T = L / np.maximum(network.edge_speed_mps, 0.1)  # free-flow seconds per edge
        dist = [float(L[p].sum()) for p in fwd], [float(L[p].sum()) for p in back]
        speed = (
            [d / float(T[p].sum()) for d, p in zip(dist[0], fwd, strict=True)],
            [d / float(T[p].sum()) for d, p in zip(dist[1], back, strict=True)],
        )
        ids = network.edge_ids
        out.append(
            Corridor(
                name,
                tuple(network.signal_ids[s] for s in order),
                tuple(int(m) for m in mo),
                tuple(int(m) for m in mi),
                tuple(tuple(ids[e] for e in p) for p in fwd),
                tuple(tuple(ids[e] for e in p) for p in back),
                tuple(dist[0]),
                tuple(dist[1]),
                tuple(speed[0]),
                tuple(speed[1]),
            )
        )
    return out, notes


# ---------------------------------------------------------------------------- windows
def green_seconds(network: Network, plan: SignalPlan, movement: int) -> np.ndarray:
    """(C,) True in every second of the plan's cycle (program time) where ``movement`` has
    green on at least half its links."""
    s = network.signal_index(plan.signal_id)
    return green_profile(network, plan)[movement - int(network.signal_mov_start[s])] >= 0.5


def window(green: np.ndarray) -> tuple[int, int]:
    """(start, length) in seconds of the longest run of green of a cyclic (C,) mask."""
    C = len(green)
    if green.all():
        return 0, C
    if not green.any():
        return 0, 0
    k0 = int(np.argmin(green))  # a red second: runs do not wrap past it
    g = np.roll(green, -k0)
    best, start, run_start = 0, 0, None
    for x in range(C + 1):
        on = x < C and g[x]
        if on and run_start is None:
            run_start = x
        elif not on and run_start is not None:
            if x - run_start > best:
                best, start = x - run_start, run_start
            run_start = None
    return (start + k0) % C, best


def stage_orders(plan: SignalPlan, max_patterns: int) -> list[SignalPlan]:
    """The plan and the cyclic reorderings of its stages (first stage kept first), at most
    ``max_patterns``. A reordered stage's change interval is derived from it and its new
    successor (explicit change states held the old successor's); the durations are kept and
    the caller checks each order with the gate. None for programs with tails (their change
    is a sequence of SUMO phases)."""
    K = plan.n_stages
    if K < 3 or any(p.tail for p in plan.phases):
        return [plan]
    derived = [replace(p, yellow_state="", allred_state="") for p in plan.phases]
    out = [plan]
    for perm in itertools.permutations(range(1, K)):
        if len(out) >= max_patterns:
            break
        if list(perm) == list(range(1, K)):
            continue
        out.append(replace(plan, phases=(derived[0], *(derived[k] for k in perm))))
    return out


# ------------------------------------------------------------------------------ sweep
def sweep_band_s(
    network: Network,
    corridor: Corridor,
    plans: dict[str, SignalPlan],
    travel_s: tuple[float, ...],
    inbound: bool = False,
) -> float:
    """Width (s) of the widest band of start times at the corridor's first signal (last,
    ``inbound``) whose vehicles, at these travel times, pass every signal on green."""
    return sweep_band(network, corridor, plans, travel_s, inbound)[1]


def sweep_band(
    network: Network,
    corridor: Corridor,
    plans: dict[str, SignalPlan],
    travel_s: tuple[float, ...],
    inbound: bool = False,
) -> tuple[float, float]:
    """(first start time in [0, C), width) of that band, in seconds; (0, 0) where none, and
    where the corridor's signals do not share one cycle (no band repeats through them, as
    under Webster plans timed signal by signal)."""
    sids = list(corridor.signals)
    moves = list(corridor.in_movements if inbound else corridor.out_movements)
    tt = list(travel_s)
    if inbound:
        sids, moves, tt = sids[::-1], moves[::-1], tt[::-1]
    C = int(round(plans[sids[0]].cycle_s))
    if any(int(round(plans[s].cycle_s)) != C for s in sids):
        return 0.0, 0.0
    x = np.arange(0.0, C, SWEEP_STEP_S)
    ok = np.ones(len(x), bool)
    arrive = 0.0
    for p, (sid, m) in enumerate(zip(sids, moves, strict=True)):
        if p > 0:
            arrive += tt[p - 1]
        g = green_seconds(network, plans[sid], m)
        prog = np.mod(x + arrive - plans[sid].offset_s, C)
        ok &= g[np.minimum(np.floor(prog + 1e-9).astype(int), C - 1)]
    if ok.all():
        return 0.0, float(C)
    if not ok.any():
        return 0.0, 0.0
    k0 = int(np.argmin(ok))
    run, best, start = 0, 0, 0
    for i, v in enumerate(np.roll(ok, -k0)):
        run = run + 1 if v else 0
        if run > best:
            best, start = run, i - run + 1
    return float(((start + k0) * SWEEP_STEP_S) % C), best * SWEEP_STEP_S


def uniform_band(
    network: Network,
    corridor: Corridor,
    plans: dict[str, SignalPlan],
    inbound: bool = False,
    factors: np.ndarray | None = None,
) -> tuple[float, float, float, tuple[float, ...]]:
    """The widest band at one progression speed along the whole corridor, over speed factors
    (times each segment's limit; default 0.8-1.0 in steps of 0.01): (factor, start, width,
    travel times). What an engineer reads off the time-space diagram."""
    d = np.array(corridor.distance_in_m if inbound else corridor.distance_m)
    v = np.array(corridor.speed_in_mps if inbound else corridor.speed_mps)
    best = (1.0, 0.0, -1.0, ())
    for f in np.round(np.arange(0.8, 1.0001, 0.01) if factors is None else factors, 4):
        tt = tuple(d / (f * v))
        start, w = sweep_band(network, corridor, plans, tt, inbound)
        if w > best[2]:
            best = (float(f), start, w, tt)
    return best


# ------------------------------------------------------------------------------- MILP
def optimize_bands(
    network: Network,
    plans: dict[str, SignalPlan],
    flow_vph: np.ndarray,
    cors: list[Corridor],
    cfg: BandConfig = BandConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
) -> BandResult:
    """Offsets and stage orders of the corridors' signals (all on one cycle) by MAXBAND or its
    MULTIBAND-style variant (see the module docstring)."""
    from ortools.linear_solver import pywraplp

    from signals.safety import validate

    flow_vph = np.asarray(flow_vph, float)
    sids = sorted({s for c in cors for s in c.signals})
    C = int(round(plans[sids[0]].cycle_s))
    if any(int(round(plans[s].cycle_s)) != C for s in sids):
        raise ValueError("bands need one common cycle for the corridor signals")
    # stage orders of every signal, with the window of each corridor movement in each
    on_moves: dict[str, set[int]] = {}
    for c in cors:
        for s, a, b in zip(c.signals, c.out_movements, c.in_movements, strict=True):
            on_moves.setdefault(s, set()).update((a, b))
    orders: dict[str, list[SignalPlan]] = {}
    win: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for s in sids:
        cand = stage_orders(plans[s], cfg.max_patterns) if cfg.patterns else [plans[s]]
        cand = [cand[0]] + [
            p
            for p in cand[1:]
            if int(round(p.cycle_s)) == C and not validate(p, network, clearance=safety)
        ]
        orders[s] = cand
        for m in on_moves[s]:
            win[(s, m)] = [window(green_seconds(network, p, m)) for p in cand]

    solver = pywraplp.Solver.CreateSolver("SCIP") or pywraplp.Solver.CreateSolver("CBC")
    if solver is None:  # pragma: no cover - the ortools wheel ships both
        raise RuntimeError("no MILP solver in this OR-Tools build")
    inf = solver.infinity()
    theta = {s: solver.NumVar(0.0, C - 1e-6, f"theta_{s}") for s in sids}
    pick = {
        s: [solver.BoolVar(f"y_{s}_{k}") for k in range(len(orders[s]))]
        for s in sids
        if len(orders[s]) > 1
    }
    for ys in pick.values():
        solver.Add(sum(ys) == 1)
    # one signal keeps offset 0 (the rest are relative)
    solver.Add(theta[cors[0].signals[0]] == 0)

    def win_expr(s: str, m: int):
        w = win[(s, m)]
        if s not in pick:
            return w[0][0], w[0][1]
        return (
            sum(y * a for y, (a, _) in zip(pick[s], w, strict=True)),
            sum(y * g for y, (_, g) in zip(pick[s], w, strict=True)),
        )

    objective = []
    active = {}
    travel: dict[tuple[str, bool], list] = {}
    band_vars: dict[tuple[str, bool], list] = {}
    for c in cors:
        v_out = np.array([flow_vph[m] for m in c.out_movements[1:]])
        v_in = np.array([flow_vph[m] for m in c.in_movements[:-1]])
        for inbound in (False, True):
            d = np.array(c.distance_in_m if inbound else c.distance_m)
            v = np.array(c.speed_in_mps if inbound else c.speed_mps)
            n = c.n
            span = float(np.sum(d / (cfg.speed_min_factor * v)))
            nmax = int(math.ceil(span / C)) + 3
            t = [
                solver.NumVar(
                    d[p] / (cfg.speed_max_factor * v[p]),
                    d[p] / (cfg.speed_min_factor * v[p]),
                    f"t_{c.name}_{int(inbound)}_{p}",
                )
                for p in range(n - 1)
            ]
            for p in range(n - 2):  # speed change between consecutive segments
                # beyond the change of the limit itself: the pace over the limit's pace
                # (t/d - 1/v) changes by at most what dv gives, so driving at the limit
                # everywhere is always feasible
                lim = cfg.speed_change_mps / (v[p] * v[p + 1])
                step = 1.0 / v[p + 1] - 1.0 / v[p]
                step = 0.0 if abs(step) < 1e-9 else step  # one limit: rounding noise
                solver.Add(t[p + 1] / d[p + 1] - t[p] / d[p] - step <= lim)
                solver.Add(t[p] / d[p] - t[p + 1] / d[p + 1] + step <= lim)
            u = [solver.NumVar(-inf, inf, f"u_{c.name}_{int(inbound)}_{p}") for p in range(n)]
            # the band runs p -> p+1 outbound, p+1 -> p inbound
            for p in range(n - 1):
                if inbound:
                    solver.Add(u[p] == u[p + 1] + t[p])
                else:
                    solver.Add(u[p + 1] == u[p] + t[p])
            first = n - 1 if inbound else 0
            solver.Add(u[first] >= 0)
            solver.Add(u[first] <= C)
            if cfg.method == "maxband":
                b1 = solver.NumVar(0.0, C, f"b_{c.name}_{int(inbound)}")
                b = [b1] * (n - 1)
            else:
                b = [solver.NumVar(0.0, C, f"b_{c.name}_{int(inbound)}_{p}") for p in range(n - 1)]
            # the band exists (z = 1) or its window constraints are lifted: in a grid not
            # every corridor can carry a band both ways (MAXBAND's network form picks which)
            z = solver.BoolVar(f"z_{c.name}_{int(inbound)}")
            for x in b:
                solver.Add(x <= C * z)
            moves = c.in_movements if inbound else c.out_movements
            for p, s in enumerate(c.signals):
                a_p, g_p = win_expr(s, moves[p])
                k = solver.IntVar(-nmax, nmax, f"n_{c.name}_{int(inbound)}_{p}")
                for seg in (p - 1, p):
                    if not 0 <= seg < n - 1:
                        continue
                    solver.Add(theta[s] + a_p + C * k + 0.5 * b[seg] <= u[p] + C * (1 - z))
                    solver.Add(u[p] <= theta[s] + a_p + g_p + C * k - 0.5 * b[seg] + C * (1 - z))
            active[(c.name, inbound)] = z
            travel[(c.name, inbound)] = t
            band_vars[(c.name, inbound)] = b
        if cfg.method == "maxband":
            V, Vb = max(float(v_out.mean()), 1e-6), max(float(v_in.mean()), 1e-6)
            K = Vb / V
            W = (V + Vb) / 2.0
            bo, bi = band_vars[(c.name, False)][0], band_vars[(c.name, True)][0]
            objective.append(W * (bo + K * bi) / (1.0 + K))
            # Little's target ratio, where the corridor carries bands both ways (a corridor
            # that can carry one band only keeps the one worth more)
            zo, zi = active[(c.name, False)], active[(c.name, True)]
            big = abs(1.0 - K) * max(K, 1.0) * C + 1.0
            solver.Add((1.0 - K) * bi >= (1.0 - K) * K * bo - big * (2 - zo - zi))
        else:
            for seg in range(c.n - 1):
                objective.append(float(v_out[seg]) * band_vars[(c.name, False)][seg])
                objective.append(float(v_in[seg]) * band_vars[(c.name, True)][seg])
    solver.Maximize(sum(objective))
    solver.SetTimeLimit(int(cfg.time_limit_s * 1000))
    solver.SetNumThreads(1)
    solver.SetSolverSpecificParametersAsString(f"randomization/randomseedshift = {cfg.seed}\n")
    st = solver.Solve()
    if st not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):  # pragma: no cover
        return BandResult(C, dict.fromkeys(sids, 0), {s: plans[s] for s in sids}, (), "none")
    offsets = {s: int(round(theta[s].solution_value())) % C for s in sids}
    chosen = {}
    for s in sids:
        k = 0
        if s in pick:
            k = int(np.argmax([y.solution_value() for y in pick[s]]))
        chosen[s] = replace(orders[s][k], offset_s=float(offsets[s]))
    bands = []
    for c in cors:
        tt = {ib: tuple(x.solution_value() for x in travel[(c.name, ib)]) for ib in (False, True)}
        milp = {
            ib: min(x.solution_value() for x in band_vars[(c.name, ib)]) for ib in (False, True)
        }
        bands.append(
            CorridorBand(
                c.name,
                C,
                sweep_band_s(network, c, chosen, tt[False]),
                sweep_band_s(network, c, chosen, tt[True], inbound=True),
                milp[False],
                milp[True],
                tt[False],
                tt[True],
                float(np.mean([flow_vph[m] for m in c.out_movements[1:]])),
                float(np.mean([flow_vph[m] for m in c.in_movements[:-1]])),
            )
        )
    status = "optimal" if st == pywraplp.Solver.OPTIMAL else "feasible"
    return BandResult(C, offsets, chosen, tuple(bands), status)


__all__ = [
    "METHODS",
    "BandConfig",
    "BandResult",
    "Corridor",
    "CorridorBand",
    "corridors",
    "green_seconds",
    "optimize_bands",
    "stage_orders",
    "sweep_band",
    "sweep_band_s",
    "uniform_band",
    "window",
]
