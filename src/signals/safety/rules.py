"""The safety rules, one small function each, over the expansion of one signal's program.

Each rule takes a :class:`Context` (the expansion, the signal's links and foes, the site's
:class:`SafetyConfig`) and returns :class:`Violation` objects. :data:`RULES` names every rule
with its severity and source:

* ``unsafe`` -- always refused: conflicting right of way, right of way taken away without
  yellow, impossible sequences, a yellow a conflict monitor would flag, a green while a foe is
  still in its yellow, and anything the gate cannot check (malformed plans);
* ``guideline`` -- refused for plans the project generates, reported for existing programs:
  yellow and red clearance below ITE, pedestrian walk and clearance (MUTCD), min and max green,
  cycle bounds, movements never served.

Times are read from an unrolled timeline (three copies of a cycle, the middle one checked) so
that every look-back and look-ahead across the end of the cycle is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from signals.safety.config import SafetyConfig, required_allred_s, required_yellow_s
from signals.safety.expand import Expansion
from signals.safety.geometry import NetGeometry
from signals.states import (
    BAD_SEQUENCE,
    GREEN_CHARS,
    MINOR_CHARS,
    ROW_LEVEL,
    SKIP_YELLOW,
    TRANSITION,
    VALID_STATE_CHARS,
    YELLOW_CHARS,
    in_set,
)

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

UNSAFE, GUIDELINE = "unsafe", "guideline"
_TOL_S = 1e-3


@dataclass(frozen=True)
class Rule:
    severity: str
    source: str
    text: str


RULES: dict[str, Rule] = {
    "unknown_signal": Rule(UNSAFE, "gate", "the plan names a signal the network lacks"),
    "no_phases": Rule(UNSAFE, "gate", "a program with no phases cannot be checked"),
    "state_length": Rule(UNSAFE, "SUMO", "one state character per link of the signal"),
    "state_chars": Rule(UNSAFE, "SUMO", "state characters are SUMO's ryYgGsuoO"),
    "nonpositive_duration": Rule(UNSAFE, "SUMO", "durations are finite, greens > 0"),
    "cycle_sum": Rule(UNSAFE, "gate", "the stages sum to the stated cycle"),
    "conflicting_green": Rule(
        UNSAFE,
        "SUMO foe/response matrices; NEMA TS 2 sec. 6.2 conflict monitoring",
        "no two conflicting links with right of way at once (a permitted 'g'/'s' only where it"
        " yields to its foe)",
    ),
    "skip_yellow": Rule(
        UNSAFE,
        "MUTCD 2009 sec. 4D.26",
        "a change that takes right of way away (G->g, G/g->r, G/g->s) shows yellow first",
    ),
    "bad_transition": Rule(
        GUIDELINE,
        "MUTCD 2009 sec. 4D.26 (a yellow is followed by red); SUMO signal states",
        "no yellow -> green, red -> yellow or green -> red-yellow (a display sequence: the"
        " foes' clearance is the clearance rule's business)",
    ),
    "yellow_unsafe": Rule(
        UNSAFE,
        "NEMA TS 2 sec. 6.2.4 (minimum yellow change monitoring, 2.7 s)",
        "a yellow shorter than a conflict monitor accepts",
    ),
    "green_during_clearance": Rule(
        UNSAFE,
        "MUTCD 2009 sec. 4D.26; ITE Traffic Engineering Handbook ch. 12",
        "no link gets right of way while a conflicting link is still in its yellow",
    ),
    "yellow_too_short": Rule(
        GUIDELINE,
        "ITE Traffic Engineering Handbook ch. 12 (t + v/(2a + 2Ag)); MUTCD 4D.26 (>= 3 s)",
        "yellow at least the ITE kinematic value for the approach speed",
    ),
    "allred_too_short": Rule(
        GUIDELINE,
        "ITE Traffic Engineering Handbook ch. 12 ((W + L)/v), the site's floor",
        "red clearance after a yellow before any conflicting green",
    ),
    "ped_clearance": Rule(
        GUIDELINE,
        "MUTCD 2009 sec. 4E.06 (walk >= 4 s, clearance = crossing length / 1.07 m/s)",
        "pedestrian walk and clearance before a conflicting green",
    ),
    "min_green": Rule(GUIDELINE, "site SafetyConfig (NTCIP 1202 phaseMinimumGreen)", "min green"),
    "max_green": Rule(GUIDELINE, "site SafetyConfig (NTCIP 1202 phaseMaximum1)", "max green"),
    "cycle_bounds": Rule(GUIDELINE, "site SafetyConfig", "cycle within the site's range"),
    "offset_range": Rule(GUIDELINE, "gate", "offset in [0, cycle) (SUMO wraps others)"),
    "movement_not_served": Rule(GUIDELINE, "gate", "every vehicle movement green each cycle"),
}


@dataclass(frozen=True)
class Violation:
    """One broken safety rule.

    Attributes:
        signal_id: the signal.
        rule: rule name (a key of :data:`RULES`).
        message: detail (states, durations, required values).
        phase: 1-based stage number of a stage plan, or SUMO phase number (index + 1) of a raw
            program; None for plan-wide rules.
        links: SUMO link indices involved.
        period: time-of-day period (or programID) name; '' for a single PlanSet.
    """

    signal_id: str
    rule: str
    message: str
    phase: int | None = None
    links: tuple[int, ...] = ()
    period: str = ""

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    def __str__(self) -> str:
        where = f"signal {self.signal_id}"
        if self.period:
            where = f"period {self.period}: {where}"
        if self.phase is not None:
            where += f" phase {self.phase}"
        if self.links:
            where += f" links {','.join(map(str, self.links))}"
        return f"{where}: {self.rule} ({self.severity}): {self.message}"


# ============================================================================ structure
def check_structure(
    signal_id: str, states: list[str], durations: list[float], n_links: int, kind: str
) -> list[Violation]:
    """What SUMO itself checks on each phase, before anything else can be checked."""
    out: list[Violation] = []
    if not states:
        return [Violation(signal_id, "no_phases", "the program has no phases")]
    valid = "".join(sorted(VALID_STATE_CHARS))
    for k, (st, d) in enumerate(zip(states, durations, strict=True), start=1):
        if len(st) != n_links:
            msg = (
                f"{kind} {k} state {st!r} has {len(st)} characters, the signal has {n_links} links"
            )
            out.append(Violation(signal_id, "state_length", msg, k))
        bad = sorted({c for c in st if c not in VALID_STATE_CHARS})
        if bad:
            li = tuple(i for i, c in enumerate(st) if c in bad)
            msg = f"{kind} {k} state {st!r} has {''.join(bad)!r}; valid characters are {valid}"
            out.append(Violation(signal_id, "state_chars", msg, k, li))
        if not (isinstance(d, int | float) and math.isfinite(d)) or d < 0:
            out.append(Violation(signal_id, "nonpositive_duration", f"duration {d} s", k))
    return out


# ============================================================================== context
@dataclass
class Context:
    """One signal's expansion with everything the rules read, unrolled.

    Unrolled arrays have U = 3P rows for a cycle (copies -1, 0, +1; rows P..2P-1 are checked)
    and U = P rows for a chain (all rows checked, no wrap).
    """

    signal_id: str
    exp: Expansion
    net: Network
    s: int
    geo: NetGeometry
    cfg: SafetyConfig
    period: str = ""
    out: list[Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        e = self.exp
        reps = 3 if e.cyclic else 1
        self.P = e.n
        self.c = np.tile(e.codes, (reps, 1))  # (U, n)
        self.d = np.tile(e.dur_s, reps)
        self.t0 = np.concatenate([[0.0], np.cumsum(self.d)])  # (U+1,) start of each row
        self.rows = range(self.P, 2 * self.P) if e.cyclic else range(self.P)
        self.level = ROW_LEVEL[self.c]
        self.green = in_set(self.c, GREEN_CHARS)
        self.minor = in_set(self.c, MINOR_CHARS)
        self.yellow = in_set(self.c, YELLOW_CHARS)
        ls = self.net.links_of(self.s)
        self.base = ls.start
        used = self.geo.link_used[ls]
        self.is_ped = self.net.link_is_ped[ls] & used
        self.veh = ~self.net.link_is_ped[ls] & used
        n = int(self.net.signal_n_links[self.s])
        # SUMO's foes, less merges of lanes of one approach (NetGeometry.pair_merge)
        sel = self.geo.pair_signal == self.s
        merge = np.zeros((n, n), dtype=bool)
        mi, mj = self.geo.pair_i[sel] - self.base, self.geo.pair_j[sel] - self.base
        merge[mi, mj] = merge[mj, mi] = self.geo.pair_merge[sel]
        self.foes = self.net.link_foes[self.s, :n, :n] & ~merge
        self.yields = self.net.link_prohibits[self.s, :n, :n]  # [i, j]: i yields to j
        self.speed = self.geo.link_speed_mps[ls]
        self.width = self.geo.link_width_m[ls]
        self.crossing = self.geo.crossing_m[ls]

    def add(self, rule: str, msg: str, p: int | None, links=()) -> None:
        phase = int(self.exp.label[p % self.P]) if p is not None else None
        li = tuple(sorted({int(x) for x in links}))
        self.out.append(Violation(self.signal_id, rule, msg, phase, li, self.period))

    def run_from(self, mask: np.ndarray) -> np.ndarray:
        """(U, n) seconds a per-row mask stays true from the start of each row on."""
        U = len(self.d)
        out = np.zeros(mask.shape)
        acc = np.zeros(mask.shape[1])
        for p in range(U - 1, -1, -1):
            acc = np.where(mask[p], acc + self.d[p], 0.0)
            out[p] = acc
        return out


RuleFn = Callable[[Context], None]


# ================================================================================ rules
def conflicting_green(ctx: Context) -> None:
    """No two foes with right of way at once unless the minor one yields (SUMO's response)."""
    i, j = np.nonzero(np.triu(ctx.foes, 1))
    ok_i, ok_j = ctx.yields[i, j], ctx.yields[j, i]
    seen = set()
    for p in ctx.rows:
        g, mn = ctx.green[p], ctx.minor[p]
        bad = g[i] & g[j] & ~((mn[i] & ok_i) | (mn[j] & ok_j))
        st = ctx.exp.states[p % ctx.P]
        for a, b in zip(i[bad], j[bad], strict=True):
            key = (int(ctx.exp.label[p % ctx.P]), int(a), int(b))
            if key not in seen:
                seen.add(key)
                msg = (
                    f"links {a} ({st[a]}) and {b} ({st[b]}) are foes with right of way together"
                    f" in {st!r} and neither yields"
                )
                ctx.add("conflicting_green", msg, p, (a, b))


def transitions(ctx: Context) -> None:
    """Every change between consecutive intervals follows :data:`signals.states.TRANSITION`."""
    for p in ctx.rows:
        q = p + 1
        if q >= len(ctx.d):  # the end of a chain: nothing follows
            break
        t = TRANSITION[ctx.c[p], ctx.c[q]]
        a, b = ctx.exp.states[p % ctx.P], ctx.exp.states[q % ctx.P]
        skip = (t == SKIP_YELLOW) & ctx.veh
        if skip.any():
            msg = f"right of way taken away without yellow: {a!r} -> {b!r}"
            ctx.add("skip_yellow", msg, p, np.flatnonzero(skip))
        bad = t == BAD_SEQUENCE
        if bad.any():
            msg = f"{a!r} -> {b!r} ({', '.join(sorted({a[k] + '->' + b[k] for k in np.flatnonzero(bad)}))})"
            ctx.add("bad_transition", msg, p, np.flatnonzero(bad))


def yellow_duration(ctx: Context) -> None:
    """Each yellow that ends a vehicle link's right of way lasts >= the monitor's minimum
    (unsafe) and >= the ITE value for its approach speed (guideline)."""
    y_run = ctx.run_from(ctx.yellow)
    need = required_yellow_s(ctx.speed, ctx.cfg)
    worst: dict[tuple[str, int], list] = {}
    for q in ctx.rows:
        p = q - 1
        if p < 0:
            continue
        starts = ctx.veh & ctx.yellow[q] & (ctx.level[p] > 0)
        for li in np.flatnonzero(starts):
            y = float(y_run[q, li])
            if not ctx.exp.cyclic and ctx.yellow[-1, li] and y_run[q, li] >= ctx.t0[-1] - ctx.t0[q]:
                continue  # a chain that ends in this yellow: its length is not known here
            if y + _TOL_S < ctx.cfg.yellow_unsafe_s:
                rule, n = "yellow_unsafe", ctx.cfg.yellow_unsafe_s
            elif y + _TOL_S < need[li]:
                rule, n = "yellow_too_short", float(need[li])
            else:
                continue
            e = worst.setdefault((rule, q), [[], y, n, li])
            e[0].append(li)
            if n - y > e[2] - e[1]:
                e[1:] = [y, n, li]
    for (rule, q), (links, y, n, li) in worst.items():
        msg = f"yellow {y:g} s < {n:.2f} s ({ctx.speed[li]:.1f} m/s approach)"
        ctx.add(rule, msg, q, links)


def clearance(ctx: Context) -> None:
    """A link gaining right of way waits until every conflicting link's yellow has ended
    (unsafe) and its red clearance -- ITE (W + L)/v, or the crossing's pedestrian clearance --
    has passed (guideline). Foes the new state yields to need no clearance."""
    U = len(ctx.d)
    # a link is 'in use' while it has right of way or (vehicles) shows yellow; a crossing's
    # clearance runs from the end of its walk (MUTCD 4E.06), whatever it shows afterwards
    active = (ctx.level > 0) | (ctx.yellow & ctx.veh)
    last_end = np.full(ctx.c.shape, -np.inf)  # last time each link's use ended, as of row p
    acc = np.full(ctx.c.shape[1], -np.inf)
    for p in range(U):
        if p > 0:
            ended = active[p - 1] & ~active[p]
            acc = np.where(ended, ctx.t0[p], acc)
        last_end[p] = acc
    need_veh = required_allred_s(ctx.width, ctx.speed, ctx.cfg)
    need_ped = ctx.crossing / ctx.cfg.ped_speed_mps
    agg: dict[tuple[str, int], list] = {}

    def note(rule, q, li, have, need, extra):
        e = agg.setdefault((rule, q), [set(), have, need, extra])
        e[0].add(int(li))
        if need - have > e[2] - e[1]:
            e[1:] = [have, need, extra]

    for q in ctx.rows:
        p = q - 1
        if p < 0:
            continue
        gain = ctx.level[q] > ctx.level[p]
        for i in np.flatnonzero(gain):
            rel = ctx.foes[i] & ~(ctx.minor[q, i] & ctx.yields[i])
            rel &= ~ctx.green[q]  # a foe that keeps green is the conflict rule's business
            if not rel.any():
                continue
            ylw = rel & ctx.yellow[q]
            if ylw.any():
                st = ctx.exp.states[q % ctx.P]
                msg = f"link {i} gets {st[i]!r} while foe(s) {', '.join(map(str, np.flatnonzero(ylw)))} show yellow in {st!r}"
                ctx.add("green_during_clearance", msg, q, [i, *np.flatnonzero(ylw)])
                continue
            gap = ctx.t0[q] - last_end[q]
            for j in np.flatnonzero(rel):
                if not math.isfinite(gap[j]):
                    continue
                if ctx.is_ped[j]:
                    if math.isnan(need_ped[j]):
                        note(
                            "ped_clearance",
                            q,
                            j,
                            gap[j],
                            math.inf,
                            "crossing length unknown: cannot check",
                        )
                    elif gap[j] + _TOL_S < need_ped[j]:
                        note(
                            "ped_clearance",
                            q,
                            j,
                            gap[j],
                            need_ped[j],
                            f"{ctx.crossing[j]:.1f} m crossing at {ctx.cfg.ped_speed_mps} m/s",
                        )
                elif gap[j] + _TOL_S < need_veh[j]:
                    w = "W unknown: cap" if math.isnan(ctx.width[j]) else f"W {ctx.width[j]:.1f} m"
                    note(
                        "allred_too_short",
                        q,
                        j,
                        gap[j],
                        float(need_veh[j]),
                        f"{w}, {ctx.speed[j]:.1f} m/s",
                    )
    what = {
        "allred_too_short": "red clearance {h:g} s before a conflicting green < {n:.2f} s",
        "ped_clearance": "{h:g} s from the end of walk to a conflicting green < {n:.1f} s",
    }
    for (rule, q), (links, have, need, extra) in sorted(agg.items(), key=lambda x: x[0][1]):
        if math.isinf(need):  # fail closed: what cannot be checked is a violation
            msg = f"{extra} (crossing before a conflicting green {have:g} s later)"
        else:
            msg = what[rule].format(h=have, n=need) + f" ({extra})"
        ctx.add(rule, msg, q, links)


def green_bounds(ctx: Context) -> None:
    """Min green per link run (walk for crossings), max green per green block, from the site."""
    if not ctx.exp.cyclic:
        return
    cfg = ctx.cfg
    run = ctx.run_from(ctx.level > 0)
    always = (ctx.level[ctx.P : 2 * ctx.P] > 0).all(axis=0)
    for q in ctx.rows:
        starts = (ctx.level[q] > 0) & (ctx.level[q - 1] == 0) & ~always
        short_v = starts & ctx.veh & (run[q] + _TOL_S < cfg.min_green_s)
        if short_v.any():
            g = float(run[q][short_v].min())
            ctx.add(
                "min_green",
                f"green {g:g} s < minimum {cfg.min_green_s:g} s",
                q,
                np.flatnonzero(short_v),
            )
        short_p = starts & ctx.is_ped & (run[q] + _TOL_S < cfg.walk_min_s)
        if short_p.any():
            g = float(run[q][short_p].min())
            ctx.add(
                "ped_clearance", f"walk {g:g} s < {cfg.walk_min_s:g} s", q, np.flatnonzero(short_p)
            )
    blk = np.tile(ctx.exp.block, 3)
    dur: dict[int, float] = {}
    first: dict[int, int] = {}
    for p in ctx.rows:
        b = int(blk[p])
        if b >= 0:
            dur[b] = dur.get(b, 0.0) + float(ctx.d[p])
            first.setdefault(b, p)
    for b, g in dur.items():  # each stage's (green interval's) own minimum
        if g + _TOL_S < cfg.min_green_s:
            ctx.add("min_green", f"stage green {g:g} s < minimum {cfg.min_green_s:g} s", first[b])
    if cfg.check_max_green:
        for b, g in dur.items():
            if g > cfg.max_green_s + _TOL_S and len(dur) > 1:
                ctx.add("max_green", f"green {g:g} s > maximum {cfg.max_green_s:g} s", first[b])


def cycle_and_service(ctx: Context) -> None:
    """Cycle within the site's bounds; every vehicle movement green at some point."""
    if not ctx.exp.cyclic:
        return
    cfg = ctx.cfg
    cyc = float(ctx.exp.dur_s.sum())
    if not (cfg.cycle_min_s - _TOL_S <= cyc <= cfg.cycle_max_s + _TOL_S):
        ctx.add(
            "cycle_bounds",
            f"cycle {cyc:g} s outside [{cfg.cycle_min_s:g}, {cfg.cycle_max_s:g}] s",
            None,
        )
    served = ctx.green[: ctx.P].any(axis=0)
    lm = ctx.net.link_movement[ctx.net.links_of(ctx.s)]
    for m in sorted({int(x) for x in lm[ctx.veh & ~served]}):
        li = np.flatnonzero(lm == m)
        if not served[li].any():
            msg = f"movement {ctx.net.mov_from_edge[m]} -> {ctx.net.mov_to_edge[m]} never green"
            ctx.add("movement_not_served", msg, None, li)


# the rule functions over an expansion, in report order
RULE_FUNCTIONS: tuple[RuleFn, ...] = (
    conflicting_green,
    transitions,
    yellow_duration,
    clearance,
    green_bounds,
    cycle_and_service,
)


def check_expansion(
    signal_id: str,
    exp: Expansion,
    net: Network,
    s: int,
    geo: NetGeometry,
    cfg: SafetyConfig,
    period: str = "",
) -> list[Violation]:
    """Run every rule function on one signal's expansion."""
    ctx = Context(signal_id, exp, net, s, geo, cfg, period)
    if exp.n == 0:
        return [Violation(signal_id, "no_phases", "the program has no phases", period=period)]
    for fn in RULE_FUNCTIONS:
        fn(ctx)
    return ctx.out
