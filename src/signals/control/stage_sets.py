"""Stages from the intersection itself: safe stage sets built from SUMO's conflict matrix.

Every controller (Webster fixed time, max-pressure, the optimizer, RL) draws its stages from
:func:`stage_templates`, the one source. Per signal:

1. **Signal groups.** The vehicle links of one movement (from edge -> to edge) form a group, and
   movements that share an approach lane are one group (a shared lane is served as one: a red
   left on a shared left/through lane blocks the through behind it). Each pedestrian crossing
   link is a group of its own. State characters that control no connection stay red.
2. **Compatibility.** Two links conflict *hard* when SUMO's foe matrix (``<request foes>``) makes
   them foes and neither yields to the other (``response``) -- the gate's own definition of a
   conflicting green (:func:`signals.safety.rules.conflicting_green`; lanes of one approach that
   merge after the stop line are not a signal conflict, :class:`signals.safety.geometry.
   NetGeometry`). Foes where one yields may run together with the yielding one permitted
   ('g', e.g. a permitted left against the opposing through, a right turn across a crossing).
3. **Stage set.** A stage is a maximal set of mutually compatible groups (a maximal clique of
   the compatibility graph, Bron & Kerbosch 1973 with Tomita's pivot); the stage set is a minimum
   clique cover of the groups (fewest stages, hence least lost time; ties broken by the most
   links served), solved exactly as a set cover with OR-Tools CP-SAT. Within a stage a link
   shows 'g' where it yields to a green foe, else 'G'.
4. **Protected lefts.** Each group that is only ever permitted against other vehicles gets a
   candidate protected stage: the largest compatible set in which it yields to nobody,
   preferring the one that protects the most such groups at once (NEMA dual leading lefts before
   a split phase). Webster drops the ones the volumes do not warrant (FHWA Traffic Signal Timing
   Manual 2008, sec. 4.3.2 cross-product rule; :func:`signals.control.fixed_time.
   drop_unwarranted_left_stages`); max-pressure chooses among all.
5. **Order.** The cycle order maximises the links that keep their right of way from one stage to
   the next (exhaustive for up to 7 stages, nearest neighbour beyond), starting with the stage
   that gives the most links 'G'.
6. **Change intervals.** Yellow and red clearance per stage from the gate's formulas over the
   links that lose right of way (:func:`change_intervals`); crossings that lose their walk stop
   early enough to clear before any conflicting green (MUTCD 2009 sec. 4E.06, the
   ``clear_state`` sub-interval).

The net's own program is one candidate stage order: ``source="auto"`` keeps it for a signal when
it folds into stages without losing a phase, passes the gate, serves every vehicle link and still
passes when retimed with the required change intervals; otherwise the conflict-matrix stages are
used. ``source="conflict"`` always builds them; ``source="own"`` always folds the net's program;
``source="own+protected"`` folds it and appends a protected stage for each group it only ever
permits (step 4), which a controller may call only when needed (the actuated controller's
``permitted_call_delay_s``).

Core module: numpy and OR-Tools only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from signals.plans import Phase, PlanSet, SignalPlan
from signals.safety import (
    SafetyConfig,
    geometry,
    refused,
    required_allred_s,
    required_yellow_s,
    validate,
    validate_program,
)
from signals.states import GREEN_CHARS, codes, keeps_through_change, loses_row

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

DEFAULT_SAFETY = SafetyConfig()
SOURCES = ("auto", "conflict", "own", "own+protected")
# Green of a template stage before any controller times it (Webster retimes every stage; the
# closed loop holds greens between its own bounds).
TEMPLATE_GREEN_S = 20.0
MAX_CLIQUES = 4096  # enumeration bound per signal; beyond it the cover is built greedily
EXHAUSTIVE_ORDER_MAX = 7
TURN_DIRS = frozenset("lLrRt")  # SUMO connection dirs of turns (s: straight)
OPPOSING_MIN_DEG = 135.0  # approaches this far apart in heading face each other


@dataclass(frozen=True)
class StageTemplates:
    """The stage templates of every signal and where each came from.

    Attributes:
        plans: one :class:`SignalPlan` per signal (stages, change intervals, template greens).
        source: signal id -> "own" (the net's program folded into stages) or "conflict".
        reason: signal id -> why the net's own program was not used ('' where it was).
    """

    plans: PlanSet
    source: dict[str, str]
    reason: dict[str, str]

    def counts(self) -> dict[str, int]:
        out = {"own": 0, "conflict": 0}
        for v in self.source.values():
            out[v] += 1
        return out


# ============================================================================ change intervals
def change_intervals(
    network: Network, plan: SignalPlan, safety: SafetyConfig = DEFAULT_SAFETY
) -> tuple[np.ndarray, np.ndarray]:
    """ITE yellow and red clearance after each stage of ``plan``, whole seconds.

    Yellow y = t + v / (2a + 2Ag) and red clearance r = (W + L) / v (ITE Traffic Engineering
    Handbook, 7th ed., ch. 12) through the gate's own formulas (:mod:`signals.safety.config`),
    over the vehicle links whose right of way drops at the stage's end (G -> g included); the
    site's floors where no vehicle link loses it.

    Returns:
        yellow_s (K,), allred_s (K,).
    """
    s = network.signal_index(plan.signal_id)
    ls = network.links_of(s)
    veh = ~network.link_is_ped[ls]
    geo = geometry(network)
    y_link = required_yellow_s(geo.link_speed_mps[ls], safety)
    r_link = required_allred_s(geo.link_width_m[ls], geo.link_speed_mps[ls], safety)
    K = plan.n_stages
    ys, rs = np.zeros(K), np.zeros(K)
    for k, ph in enumerate(plan.phases):
        nxt = plan.phases[(k + 1) % K].state
        y_state, _ = ph.change_states(nxt, K == 1)
        losing = loses_row(codes(ph.end_state), codes(y_state)) & veh
        y = float(y_link[losing].max()) if losing.any() else safety.yellow_min_s
        r = float(r_link[losing].max()) if losing.any() else safety.allred_min_s
        ys[k] = math.ceil(y - 1e-9)
        rs[k] = math.ceil(r - 1e-9)
    return ys, rs


# ============================================================================ the intersection
@dataclass(frozen=True)
class _Signal:
    """One signal's links as the stage builder sees them (local link indices)."""

    n: int
    used: np.ndarray  # (n,) the character controls a connection
    ped: np.ndarray  # (n,) pedestrian crossing links
    veh: np.ndarray  # (n,) vehicle links
    yields: np.ndarray  # (n, n) [i, j]: i is a foe of j and yields to it (SUMO response)
    hard: np.ndarray  # (n, n) foes with neither yielding: never green together
    groups: tuple[np.ndarray, ...]  # local link indices of each signal group


def _signal(network: Network, s: int) -> _Signal:
    n = int(network.signal_n_links[s])
    base = int(network.signal_link_start[s])
    geo = geometry(network)
    used = geo.link_used[base : base + n].copy()
    ped = network.link_is_ped[base : base + n] & used
    veh = ~network.link_is_ped[base : base + n] & used
    foes = network.link_foes[s, :n, :n] & used[:, None] & used[None, :]
    merge = np.zeros((n, n), dtype=bool)
    sel = np.flatnonzero(geo.pair_signal == s) if len(geo.pair_signal) else np.zeros(0, int)
    if len(sel):
        mi, mj = geo.pair_i[sel] - base, geo.pair_j[sel] - base
        merge[mi, mj] = merge[mj, mi] = geo.pair_merge[sel]
    resp = network.link_prohibits[s, :n, :n]
    yields = foes & resp  # merges included: the lane that yields at a merge is shown 'g'
    permitted = _permitted(network, s, n, ped, veh) & yields
    hard = foes & ~merge & ~permitted & ~permitted.T
    return _Signal(n, used, ped, veh, yields, hard, _groups(network, s, n, veh, ped, hard))


def _permitted(network: Network, s: int, n: int, ped: np.ndarray, veh: np.ndarray) -> np.ndarray:
    """(n, n) [i, j]: link i may run permitted ('g', yielding) while its foe j has green.

    SUMO's response alone would let any yielding foe run together (a through crossing another
    through with one 'g' passes the gate, as a priority junction would). A signal shows a
    permissive green only to turns: a left or right turn against the *opposing* approach
    (headings at the stop line, :func:`signals.naming.edge_bearing_deg`, more than 135 degrees
    apart) or against its own approach, and a turn across the
    crossing at its exit arm (turning vehicles yield to pedestrians walking parallel to them;
    FHWA Traffic Signal Timing Manual 2008, ch. 4, permissive left/right turns). Crossings never
    run permitted against vehicles, and a through never runs permitted at all.
    """
    from signals.naming import crossed_edges, edge_bearing_deg

    base = int(network.signal_link_start[s])
    turn = np.array([d in TURN_DIRS for d in network.link_dir[base : base + n]]) & veh
    edge = [ln.rsplit("_", 1)[0] for ln in network.link_from_lane[base : base + n]]
    head = np.array([edge_bearing_deg(network, e) if e else np.nan for e in edge])
    out = np.zeros((n, n), dtype=bool)
    for i in np.flatnonzero(turn):
        for j in np.flatnonzero(veh):
            if edge[i] == edge[j]:
                out[i, j] = True
            else:
                diff = abs((head[i] - head[j] + 180.0) % 360.0 - 180.0)
                out[i, j] = bool(diff > OPPOSING_MIN_DEG)  # NaN compares False: not permitted
        for j in np.flatnonzero(ped):
            crossed = crossed_edges(network, base + j)
            out[i, j] = bool(crossed) and edge[i] not in crossed
    return out


def _groups(network: Network, s: int, n: int, veh, ped, hard) -> tuple[np.ndarray, ...]:
    base = int(network.signal_link_start[s])
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    mov = network.link_movement[base : base + n]
    lane = network.link_from_lane[base : base + n]
    vi = np.flatnonzero(veh)
    for a, b in itertools.combinations(vi, 2):
        if mov[a] == mov[b]:
            union(a, b)
    members: dict[int, list[int]] = {}
    for i in vi:
        members.setdefault(find(i), []).append(int(i))
    # movements sharing an approach lane become one group, unless that group would hold a
    # hard conflict (then the movements stay apart and the shared lane is served per movement)
    for a, b in itertools.combinations(vi, 2):
        ra, rb = find(a), find(b)
        if ra == rb or lane[a] != lane[b]:
            continue
        ga, gb = members[ra], members[rb]
        if hard[np.ix_(ga, gb)].any():
            continue
        union(ra, rb)
        members[find(ra)] = ga + gb
    out = {}
    for i in vi:
        out.setdefault(find(i), []).append(int(i))
    groups = [np.asarray(sorted(v)) for v in out.values()]
    groups += [np.asarray([int(i)]) for i in np.flatnonzero(ped)]
    return tuple(sorted(groups, key=lambda g: int(g[0])))


def _state(sig: _Signal, green: np.ndarray) -> str:
    """State string of a stage whose green links are ``green``: 'g' where a link yields to a
    green foe, 'G' elsewhere, 'r' for the rest."""
    minor = (sig.yields & green[None, :]).any(axis=1)
    out = np.where(green, np.where(minor, "g", "G"), "r")
    return "".join(out.tolist())


def _links(sig: _Signal, members: Sequence[int]) -> np.ndarray:
    green = np.zeros(sig.n, dtype=bool)
    for g in members:
        green[sig.groups[g]] = True
    return green


# ============================================================================ stage sets
def _maximal_cliques(adj: list[int], limit: int | None = None) -> list[int] | None:
    """Maximal cliques (bit masks) of the graph with neighbour masks ``adj``; None past ``limit``.

    Bron & Kerbosch (1973), Algorithm 457, with Tomita, Tanaka & Takahashi's (2006) pivot.
    """
    limit = MAX_CLIQUES if limit is None else limit
    out: list[int] = []

    def bits(x: int):
        while x:
            b = x & -x
            yield b.bit_length() - 1
            x ^= b

    def expand(r: int, p: int, x: int) -> bool:
        if not p and not x:
            out.append(r)
            return len(out) <= limit
        pivot = max(bits(p | x), key=lambda u: bin(adj[u] & p).count("1"))
        for v in list(bits(p & ~adj[pivot])):
            if not expand(r | (1 << v), p & adj[v], x & adj[v]):
                return False
            p &= ~(1 << v)
            x |= 1 << v
        return True

    n = len(adj)
    ok = expand(0, (1 << n) - 1, 0) if n else True
    return out if ok else None


def _min_cover(cliques: list[int], n_groups: int, weight: list[int]) -> list[int]:
    """Fewest cliques covering every group (ties: the most weight), exact with CP-SAT."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    x = [m.NewBoolVar(f"c{k}") for k in range(len(cliques))]
    for g in range(n_groups):
        m.AddBoolOr([x[k] for k, c in enumerate(cliques) if c >> g & 1])
    big = sum(weight) + 1
    m.Minimize(sum(big * xk - w * xk for xk, w in zip(x, weight, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # deterministic: one worker, a deterministic time limit
    solver.parameters.max_deterministic_time = 10.0
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - cover exists
        raise RuntimeError("no stage cover found")
    return [k for k in range(len(cliques)) if solver.Value(x[k])]


def _greedy_cover(sig: _Signal, compat: np.ndarray) -> list[int]:
    """A clique cover grown greedily (for signals with too many cliques to enumerate)."""
    G = len(sig.groups)
    left = set(range(G))
    size = [len(g) for g in sig.groups]
    out = []
    while left:
        seed = max(left, key=lambda g: (size[g], -g))
        members = [seed]
        for g in sorted(range(G), key=lambda g: (g not in left, -size[g], g)):
            if g != seed and all(compat[g, h] for h in members):
                members.append(g)
        out.append(sum(1 << g for g in members))
        left -= set(members)
    return out


def conflict_stages(network: Network, s: int) -> list[str]:
    """The stage set of signal ``s`` from its conflict matrix, in cycle order (state strings)."""
    sig = _signal(network, s)
    G = len(sig.groups)
    if G == 0:
        raise ValueError(f"signal {network.signal_ids[s]} controls no connection")
    compat = _compat(sig)
    adj = [int(sum(1 << b for b in np.flatnonzero(compat[a]))) for a in range(G)]
    members_of = lambda c: [g for g in range(G) if c >> g & 1]  # noqa: E731
    cliques = _maximal_cliques(adj)
    if cliques is None:
        cover = _greedy_cover(sig, compat)
    else:
        cliques.sort()
        weight = [int(_links(sig, members_of(c)).sum()) for c in cliques]
        cover = [cliques[k] for k in _min_cover(cliques, G, weight)]
    stages = [_links(sig, members_of(c)) for c in cover]
    stages += _protected_stages(sig, compat, stages)
    states = list(dict.fromkeys(_state(sig, g) for g in stages))
    return _order(states)


def _compat(sig: _Signal) -> np.ndarray:
    """(G, G) groups that may be green together (no hard conflict between their links)."""
    G = len(sig.groups)
    hard_g = np.zeros((G, G), dtype=bool)
    for a, b in itertools.combinations(range(G), 2):
        hard_g[a, b] = hard_g[b, a] = sig.hard[np.ix_(sig.groups[a], sig.groups[b])].any()
    compat = ~hard_g
    np.fill_diagonal(compat, False)
    return compat


def protected_additions(network: Network, s: int, states: Sequence[str]) -> list[str]:
    """Stages to add to signal ``s``'s ``states`` (e.g. the net's own program) so that every
    group they only ever permit against vehicles has a stage that protects it (step 4 of the
    module docstring): for a left turn at the head of a single or shared lane that the program
    never protects, a split phase of its approach. [] if every such group is protected."""
    sig = _signal(network, s)
    if not sig.groups:
        return []
    greens = [np.array([c in GREEN_CHARS for c in st]) & sig.used for st in states]
    out = [_state(sig, g) for g in _protected_stages(sig, _compat(sig), greens)]
    return [st for st in dict.fromkeys(out) if st not in states]


def _template_min_green_s(network: Network, s: int, safety: SafetyConfig) -> float:
    """Minimum green of a template stage: the gate's, and the walk where crossings exist."""
    ped = network.link_is_ped[network.links_of(s)].any()
    return max(safety.min_green_s, safety.walk_min_s if ped else 0.0)


def own_protected_plan(
    network: Network, s: int, own: SignalPlan, safety: SafetyConfig = DEFAULT_SAFETY
) -> SignalPlan:
    """The net's own plan of signal ``s`` with :func:`protected_additions` appended (template
    greens; change intervals of the added stages from the gate's formulas)."""
    added = protected_additions(network, s, [ph.state for ph in own.phases])
    if not added:
        return own
    min_g = _template_min_green_s(network, s, safety)
    extra = tuple(Phase(st, TEMPLATE_GREEN_S, 0.0, 0.0, min_g, safety.max_green_s) for st in added)
    plan = replace(own, phases=own.phases + extra)
    ys, rs = change_intervals(network, plan, safety)
    n = len(own.phases)
    phases = own.phases + tuple(
        replace(ph, yellow_s=float(ys[n + i]), allred_s=float(rs[n + i]))
        for i, ph in enumerate(extra)
    )
    return replace(plan, cycle_s=float(sum(p.total_s for p in phases)), phases=phases)


def _veh_minor(sig: _Signal, green: np.ndarray) -> np.ndarray:
    """(n,) vehicle links that yield to a green vehicle link in this stage."""
    return sig.veh & (sig.yields & (green & sig.veh)[None, :]).any(axis=1) & green


def _protected_stages(sig: _Signal, compat: np.ndarray, stages: list[np.ndarray]) -> list:
    """Candidate protected stages for the groups only ever permitted against vehicles.

    For each such group g not yet protected: the permitted-only groups that can be protected
    with it (compatible, none yielding to another: e.g. the opposing left, NEMA dual lefts),
    then every other compatible group none of them yields to (largest first).
    """
    G = len(sig.groups)
    size = [len(x) for x in sig.groups]
    always_minor = []
    for g, links in enumerate(sig.groups):
        if not sig.veh[links].any():
            continue
        served = [st for st in stages if st[links].any()]
        if served and all(_veh_minor(sig, st)[links].any() for st in served):
            always_minor.append(g)

    def yields(a: int, b: int) -> bool:
        return bool(sig.yields[np.ix_(sig.groups[a], sig.groups[b])].any())

    out: list[np.ndarray] = []
    covered: set[int] = set()
    by_size = sorted(range(G), key=lambda h: (-size[h], h))
    for g in always_minor:
        if g in covered:
            continue
        prot = [g]
        for h in (h for h in by_size if h in always_minor and h != g):
            if all(compat[h, p] and not yields(h, p) and not yields(p, h) for p in prot):
                prot.append(h)
        members = list(prot)
        for h in by_size:
            if h not in members and all(compat[h, m] for m in members):
                if not any(yields(p, h) for p in prot):
                    members.append(h)
        out.append(_links(sig, members))
        covered.update(prot)
    return out


def _order(states: list[str]) -> list[str]:
    """Cycle order keeping the most links' right of way from stage to stage."""
    K = len(states)
    if K <= 2:
        return sorted(states, key=lambda st: (-st.count("G"), st))
    keep = np.array(
        [
            [
                sum(keeps_through_change(c, d) for c, d in zip(a, b, strict=True)) if i != j else 0
                for j, b in enumerate(states)
            ]
            for i, a in enumerate(states)
        ]
    )
    first = min(range(K), key=lambda k: (-states[k].count("G"), states[k]))
    rest = [k for k in range(K) if k != first]
    if K <= EXHAUSTIVE_ORDER_MAX:
        best = max(
            itertools.permutations(rest),
            key=lambda p: sum(keep[a, b] for a, b in zip((first, *p), (*p, first), strict=True)),
        )
        order = [first, *best]
    else:
        order = [first]
        while rest:
            nxt = max(rest, key=lambda k: (keep[order[-1], k], -k))
            order.append(nxt)
            rest.remove(nxt)
    return [states[k] for k in order]


# ============================================================================ templates
def conflict_plan(network: Network, s: int, safety: SafetyConfig = DEFAULT_SAFETY) -> SignalPlan:
    """Signal ``s``'s conflict-matrix stages as a plan: change intervals from the gate's
    formulas, crossings cleared before their foes' green, template greens."""
    sid = network.signal_ids[s]
    states = conflict_stages(network, s)
    K = len(states)
    ls = network.links_of(s)
    ped = network.link_is_ped[ls]
    cross = np.nan_to_num(geometry(network).crossing_m[ls], nan=0.0)
    min_g = _template_min_green_s(network, s, safety)
    phases = []
    for k, st in enumerate(states):
        nxt = states[(k + 1) % K]
        green = np.array([c in GREEN_CHARS for c in st])
        stays = np.array([c in GREEN_CHARS for c in nxt])
        losing_ped = green & ped & (~stays | (K == 1))
        clear_state = ""
        if losing_ped.any() and K > 1:
            clear_state = "".join("r" if losing_ped[i] else c for i, c in enumerate(st))
        phases.append(
            Phase(
                st,
                TEMPLATE_GREEN_S,
                0.0,
                0.0,
                min_g,
                safety.max_green_s,
                clear_state=clear_state,
                clear_s=1.0 if clear_state else 0.0,
            )
        )
    plan = SignalPlan(sid, K * TEMPLATE_GREEN_S, 0.0, tuple(phases))
    ys, rs = change_intervals(network, plan, safety)
    out = []
    for k, ph in enumerate(plan.phases):
        clear = ph.clear_s
        if ph.clear_state:
            losing = np.array([a != b for a, b in zip(ph.state, ph.clear_state, strict=True)])
            need = float(cross[losing].max()) / safety.ped_speed_mps - ys[k] - rs[k]
            clear = float(min(max(1.0, math.ceil(need - 1e-9)), TEMPLATE_GREEN_S - min_g))
            clear = max(clear, 1.0)
        out.append(replace(ph, yellow_s=float(ys[k]), allred_s=float(rs[k]), clear_s=clear))
    return SignalPlan(sid, float(sum(p.total_s for p in out)), 0.0, tuple(out))


def _own_reason(network: Network, s: int, own: SignalPlan, safety: SafetyConfig) -> str:
    """Why the net's own program of signal ``s`` cannot be the stage template ('' if it can)."""
    sl = network.phases_of(s)
    phases = [
        (network.phase_state[p], float(network.phase_duration_s[p]))
        for p in range(sl.start, sl.stop)
    ]
    if not _same_cycle(own.sumo_phases(), phases):
        return "its phases do not fold into stages without loss"
    bad = refused(validate_program(own.signal_id, phases, network, clearance=safety), existing=True)
    if bad:
        return f"it fails the gate ({bad[0].rule})"
    ls = network.links_of(s)
    veh = ~network.link_is_ped[ls] & geometry(network).link_used[ls]
    served = np.zeros(len(veh), dtype=bool)
    for ph in own.phases:
        served |= np.array([c in GREEN_CHARS for c in ph.state])
    if (veh & ~served).any():
        return f"it never gives green to {int((veh & ~served).sum())} vehicle link(s)"
    ys, rs = change_intervals(network, own, safety)
    trial = own.retimed(
        [max(p.green_s, p.min_green_s, safety.min_green_s) for p in own.phases],
        yellow_s=ys,
        allred_s=rs,
    )
    found = validate(trial, network, clearance=safety)
    if found:
        return f"retimed to the required change intervals it fails the gate ({found[0].rule})"
    return ""


def _same_cycle(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """The same cyclic phase sequence (states and durations), whatever phase it starts at."""
    if len(a) != len(b):
        return False
    n = len(a)
    return any(
        all(
            a[(i + r) % n][0] == b[i][0] and abs(a[(i + r) % n][1] - b[i][1]) < 1e-6
            for i in range(n)
        )
        for r in range(n)
    )


def stage_templates(
    network: Network, source: str = "auto", safety: SafetyConfig = DEFAULT_SAFETY
) -> StageTemplates:
    """The stage template of every signal: the one source of stages for every controller.

    Args:
        source: "auto" (the net's own program where it can serve, see the module docstring),
            "conflict" (always the conflict-matrix stages), "own" (always the net's program) or
            "own+protected" (the net's program plus :func:`protected_additions`).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    own = PlanSet.from_network(network)
    plans, src, why = {}, {}, {}
    for s, sid in enumerate(network.signal_ids):
        reason = "" if source.startswith("own") else "conflict stages requested"
        if source == "auto":
            reason = _own_reason(network, s, own.plans[sid], safety)
        if not reason:
            plan = own.plans[sid]
            if source == "own+protected":
                plan = own_protected_plan(network, s, plan, safety)
            plans[sid], src[sid], why[sid] = plan, "own", ""
        else:
            plans[sid], src[sid], why[sid] = conflict_plan(network, s, safety), "conflict", reason
    return StageTemplates(PlanSet(plans), src, why)


__all__ = [
    "SOURCES",
    "StageTemplates",
    "change_intervals",
    "conflict_plan",
    "conflict_stages",
    "stage_templates",
]
