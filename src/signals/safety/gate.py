"""The gate: :func:`validate` a plan, a plan set, a schedule, a raw SUMO program or a plan file.

Every path out of the project -- exports, ``evaluate --program``, ``v2x spat``, the closed
loop's programs, the net's own programs run as a baseline -- goes through :func:`assert_safe`
(or :func:`check_file`). Generated plans must meet both severities; existing programs (what a
city runs today) are refused when unsafe and reported when below guideline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.errors import InputError, require_file
from signals.safety.config import SafetyConfig
from signals.safety.expand import expand_phases, expand_plan
from signals.safety.geometry import geometry
from signals.safety.rules import GUIDELINE, UNSAFE, Violation, check_expansion, check_structure

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import PlanSet, Schedule, SignalPlan

_TOL_S = 1e-3
DEFAULT_SAFETY = SafetyConfig()


class UnsafePlanError(Exception):
    """A plan failed the safety gate; ``violations`` lists every broken rule."""

    def __init__(self, violations: Sequence[Violation]):
        self.violations = list(violations)
        head = str(self.violations[0]) if self.violations else "unsafe plan"
        more = f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        super().__init__(head + more)


def refused(violations: Sequence[Violation], existing: bool = False) -> list[Violation]:
    """The violations that refuse a plan: all of them for a generated plan, the unsafe ones for
    an existing program."""
    return [v for v in violations if not existing or v.severity == UNSAFE]


def validate(
    plans: SignalPlan | PlanSet | Schedule,
    network: Network,
    *,
    clearance: SafetyConfig = DEFAULT_SAFETY,
) -> list[Violation]:
    """Every rule (:data:`signals.safety.RULES`) on stage plans; [] when safe on both severities.

    Returns:
        all violations, each with its ``severity``.
    """
    from signals.plans import PlanSet, Schedule, SignalPlan

    if isinstance(plans, Schedule):
        out = []
        for name, _, _, ps in plans.ordered():
            out += [replace(v, period=name) for v in validate(ps, network, clearance=clearance)]
        return out
    if isinstance(plans, SignalPlan):
        plans = PlanSet({plans.signal_id: plans})
    out: list[Violation] = []
    for sid, plan in plans.plans.items():
        if sid != plan.signal_id:
            out.append(
                Violation(
                    sid, "unknown_signal", f"plan stored under {sid!r} is for {plan.signal_id!r}"
                )
            )
            continue
        s = _signal(network, sid)
        if s is None:
            out.append(
                Violation(sid, "unknown_signal", f"no signal {sid!r} in {network.path.name}")
            )
            continue
        out += _validate_plan(plan, s, network, clearance)
    return out


def _signal(network: Network, sid: str) -> int | None:
    try:
        return network.signal_index(sid)
    except InputError:
        return None


def _validate_plan(plan: SignalPlan, s: int, net: Network, cfg: SafetyConfig) -> list[Violation]:
    sid = plan.signal_id
    n_links = int(net.signal_n_links[s])
    states, durs = [], []
    out: list[Violation] = []
    for k, ph in enumerate(plan.phases, start=1):
        states.append(ph.state)
        durs.append(ph.green_s)
        if ph.clear_s > 0:
            states.append(ph.clear_state or ph.state)
            durs.append(ph.clear_s)
        for name in ("green_s", "yellow_s", "allred_s", "clear_s"):
            v = getattr(ph, name)
            if not math.isfinite(v) or v < 0 or (name == "green_s" and v <= 0):
                out.append(
                    Violation(
                        sid,
                        "nonpositive_duration",
                        f"{name} = {v} (must be {'> 0' if name == 'green_s' else '>= 0'})",
                        k,
                    )
                )
        if ph.clear_s > ph.green_s + _TOL_S:
            out.append(
                Violation(
                    sid,
                    "nonpositive_duration",
                    f"clear_s {ph.clear_s} exceeds green_s {ph.green_s}",
                    k,
                )
            )
    # states only (durations are checked above); findings renumbered from states to stages
    struct = check_structure(sid, states, [0.0] * len(states), n_links, "stage state")
    out += [replace(v, phase=_stage_of(plan, v.phase)) for v in struct]
    if out:
        return out
    total = sum(p.total_s for p in plan.phases)
    if not math.isfinite(plan.cycle_s) or abs(total - plan.cycle_s) > _TOL_S:
        out.append(
            Violation(
                sid, "cycle_sum", f"phases sum to {total:g} s but cycle_s = {plan.cycle_s:g} s"
            )
        )
    out += _offset(sid, plan.offset_s, plan.cycle_s)
    return out + check_expansion(sid, expand_plan(plan), net, s, geometry(net), cfg)


def _stage_of(plan: SignalPlan, k: int | None) -> int | None:
    if k is None:
        return None
    i = 0
    for stage, ph in enumerate(plan.phases, start=1):
        i += 2 if ph.clear_s > 0 else 1
        if k <= i:
            return stage
    return None


def _offset(sid: str, offset_s: float, cycle_s: float) -> list[Violation]:
    if math.isfinite(offset_s) and 0 <= offset_s < max(cycle_s, 0.0):
        return []
    return [
        Violation(sid, "offset_range", f"offset {offset_s:g} s not in [0, cycle {cycle_s:g} s)")
    ]


def validate_program(
    signal_id: str,
    phases: Sequence[tuple],
    network: Network,
    *,
    offset_s: float = 0.0,
    clearance: SafetyConfig = DEFAULT_SAFETY,
    cyclic: bool = True,
) -> list[Violation]:
    """Every rule on a raw SUMO phase list, phase by phase as it is (no fold into stages).

    Args:
        phases: sequence of (state, duration_s[, min_s, max_s]).
        cyclic: False for a chain (a change of the closed loop's program): no cycle rules.
    """
    s = _signal(network, signal_id)
    if s is None:
        return [
            Violation(
                signal_id, "unknown_signal", f"no signal {signal_id!r} in {network.path.name}"
            )
        ]
    states = [str(p[0]) for p in phases]
    durs = [float(p[1]) for p in phases]
    out = check_structure(signal_id, states, durs, int(network.signal_n_links[s]), "SUMO phase")
    out += [
        Violation(
            signal_id, "nonpositive_duration", f"SUMO phase {k} duration {d:g} s (must be > 0)", k
        )
        for k, d in enumerate(durs, start=1)
        if math.isfinite(d) and d == 0 and cyclic
    ]
    if out:
        return out
    if cyclic:
        out += _offset(signal_id, offset_s, sum(durs))
    return out + check_expansion(
        signal_id, expand_phases(phases, cyclic), network, s, geometry(network), clearance
    )


def validate_file(
    path: str | Path, network: Network, *, clearance: SafetyConfig = DEFAULT_SAFETY
) -> list[Violation]:
    """Validate a plan file: SUMO additional programs phase by phase (:func:`validate_program`,
    period = programID), JSON plan files stage by stage (:func:`validate`)."""
    from signals.plans import _read_tllogics, read_schedule

    path = require_file(path, "plan file", "an existing plan file (.json or SUMO .xml)")
    head = path.read_bytes()[:2048].lstrip()
    if head.startswith(b"<"):
        read_schedule(path, network)  # the same reading errors as every other path
        out = []
        progs = _read_tllogics(path)
        for sid, pid, offset, phases, _ in progs:
            vs = validate_program(sid, phases, network, offset_s=offset, clearance=clearance)
            out += [replace(v, period=pid) for v in vs]
        return out + validate_waut_switches(path, progs, network, clearance=clearance)
    return validate(read_schedule(path, network), network, clearance=clearance)


def assert_safe(
    plans: SignalPlan | PlanSet | Schedule,
    network: Network,
    *,
    clearance: SafetyConfig = DEFAULT_SAFETY,
    existing: bool = False,
) -> list[Violation]:
    """Raise :class:`UnsafePlanError` unless the plans pass the gate.

    Args:
        existing: the plans are programs running today (read from a file or the net): only
            unsafe findings refuse them; below-guideline findings are returned for reporting.
    Returns:
        the findings that did not refuse the plans (guideline findings of existing programs).
    """
    return _enforce(validate(plans, network, clearance=clearance), existing)


def _enforce(violations: list[Violation], existing: bool) -> list[Violation]:
    """Raise on the refusing findings; return the guideline findings left to report."""
    bad = refused(violations, existing)
    if bad:
        raise UnsafePlanError(bad)
    return [x for x in violations if x.severity == GUIDELINE]


def check_file(
    path: str | Path,
    network: Network,
    *,
    clearance: SafetyConfig = DEFAULT_SAFETY,
    existing: bool = True,
) -> list[Violation]:
    """:func:`assert_safe` for a plan file (SUMO programs checked as written)."""
    return _enforce(validate_file(path, network, clearance=clearance), existing)


def validate_network_programs(
    network: Network, *, clearance: SafetyConfig = DEFAULT_SAFETY
) -> list[Violation]:
    """Every rule on the net's own programs, phase by phase as the net holds them."""
    out: list[Violation] = []
    for s, sid in enumerate(network.signal_ids):
        sl = network.phases_of(s)
        phases = [
            (network.phase_state[p], float(network.phase_duration_s[p]))
            for p in range(sl.start, sl.stop)
        ]
        out += validate_program(
            sid,
            phases,
            network,
            offset_s=float(network.signal_offset_s[s]),
            clearance=clearance,
        )
    return out


def check_network_programs(
    network: Network, *, clearance: SafetyConfig = DEFAULT_SAFETY
) -> list[Violation]:
    """:func:`assert_safe` for the net's own programs (existing: unsafe findings refuse)."""
    return _enforce(validate_network_programs(network, clearance=clearance), existing=True)


# ------------------------------------------------------------------------- program switches
SWITCH_WINDOW_S = 15.0  # findings this close to a switch are the switch's (yellow + red <= 12 s)


def _rotated(offset_s: float, phases: Sequence[tuple], t_s: float) -> list[tuple[str, float]]:
    """One cycle of a program's phases starting at simulation time ``t_s`` (SUMO: phase 1
    starts at offset + k*cycle), the phase in effect at ``t_s`` split at it."""
    dur = [float(p[1]) for p in phases]
    ends = np.cumsum(dur)
    pos = (t_s - offset_s) % float(ends[-1])
    k = int(np.searchsorted(ends, pos, side="right"))
    rest = [(str(p[0]), float(p[1])) for p in (*phases[k + 1 :], *phases[:k])]
    out = [(str(phases[k][0]), float(ends[k] - pos)), *rest]
    head = pos - (float(ends[k - 1]) if k else 0.0)
    return out + [(str(phases[k][0]), head)] if head > 0 else out


def validate_waut_switches(
    path: Path,
    progs: list,
    network: Network,
    *,
    clearance: SafetyConfig = DEFAULT_SAFETY,
) -> list[Violation]:
    """The changes a ``<WAUT>`` makes: at each switch SUMO's default procedure (JustSwitch) jumps
    from the old program to the new one at the new program's own cycle position (measured:
    a switch at t = 100 s to a program with offset 10 s and cycle 52 s starts it 38 s into its
    cycle). The old program's cycle up to the switch and the new one's from it are checked as
    one chain by the same rules; findings within ``SWITCH_WINDOW_S`` of the switch are the
    switch's."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    by: dict[tuple[str, str], tuple[float, list]] = {(p[0], p[1]): (p[2], p[3]) for p in progs}
    junctions = {j.get("wautID"): set() for j in root.iter("wautJunction")}
    for j in root.iter("wautJunction"):
        junctions[j.get("wautID")].add(j.get("junctionID"))
    out: list[Violation] = []
    for waut in root.iter("WAUT"):
        ref = float(waut.get("refTime", "0") or 0)
        switches = sorted(
            (float(sw.get("time", "0")), sw.get("to", "")) for sw in waut.iter("wautSwitch")
        )
        seq = [(None, waut.get("startProg", ""))] + switches
        if waut.get("period") and len(switches) > 1:  # the day wraps: last -> first again
            seq.append((switches[0][0] + float(waut.get("period")), switches[0][1]))
        for sid in sorted(junctions.get(waut.get("id"), ())):
            for (_, a), (t, b) in zip(seq, seq[1:], strict=False):
                if (sid, a) not in by or (sid, b) not in by or a == b:
                    continue
                t_sim = ref + t
                (off_a, ph_a), (off_b, ph_b) = by[(sid, a)], by[(sid, b)]
                if sum(float(p[1]) for p in ph_a) <= 0 or sum(float(p[1]) for p in ph_b) <= 0:
                    continue  # an empty program: the program's own check reports it
                before = _rotated(off_a, ph_a, t_sim)
                after = _rotated(off_b, ph_b, t_sim)
                chain = before + after
                t0 = [0.0]
                for _, d in chain:
                    t0.append(t0[-1] + d)
                t_sw = t0[len(before)]
                for v in validate_program(sid, chain, network, clearance=clearance, cyclic=False):
                    k = (v.phase or 1) - 1
                    if t0[k + 1] >= t_sw - SWITCH_WINDOW_S and t0[k] <= t_sw + SWITCH_WINDOW_S:
                        msg = f"WAUT switch {a} -> {b} at t = {t_sim:g} s: {v.message}"
                        out.append(replace(v, message=msg, phase=None, period=f"{a}->{b}"))
    return out
