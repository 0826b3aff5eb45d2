"""Plan writers: SUMO additional (tlLogic per period + WAUT), CSV timing sheet, JSON, UTDF-style CSV.

Every writer runs the safety gate first (``assert_safe``): an unsafe plan is never written, and
files appear atomically (errors.atomic_write) or not at all.

Formats:

* **sumo**: one ``<tlLogic type="static" programID=PERIOD>`` per signal and period; with several
  periods a ``<WAUT>`` (SUMO docs, "Traffic Lights", "Switching between programs: WAUT") switches
  the programs at each period's begin, repeating daily (``period="86400"``). Switch times are
  simulation seconds: ``tod_zero_s`` is the time of day at simulation time 0 (0: simulation time
  is time of day). Timing details the SUMO format has no place for (min/max green, period bounds)
  ride along as ``<param>`` so a read-back (``plans.read_schedule``) is exact.
* **csv**: timing sheet, one header row, then one row per period, signal and stage
  (``record`` = ``stage``), then, for a period with something to flag, one ``record`` =
  ``summary`` row (its ``findings`` name the oversaturated signals with their v/c, count the
  guideline findings and name the stages not listed). Review figures
  (:mod:`signals.control.hcm`) need flows; without them, and where a stage carries no flow,
  their cells are empty (never a delay or LOS for zero flow). Columns:

  - ``record``: ``stage`` or ``summary``;
  - ``period``, ``period_window`` (``am_peak 07:00-08:00 (25200-28800 s)``: the schedule's own
    bounds, times of day), ``period_begin_s``, ``period_end_s``;
  - ``signal_id``, ``cycle_s``, ``offset_s``, ``offset_reference``;
  - signal figures, repeated on each of its rows: ``critical_v_c`` (HCM X_c at the cycle),
    ``critical_v_c_max_cycle`` (X_c at ``cycle_max_s``: the design's maximum cycle, or the
    signal's own if longer), ``oversaturated`` (``yes`` when that exceeds 1), ``signal_delay_s``
    and ``signal_los`` (flow-weighted HCM control delay over its loaded movements);
  - ``phase`` (stage number in the plan), ``start_s`` (green start within the cycle), ``state``
    (SUMO state of the green);
  - ``movements``: what the stage serves, by approach and turn (:mod:`signals.naming`): the
    movements of one approach joined (``NB T+R``), permitted-only lefts tagged ``(perm)``,
    crossings ``XW N``; ``sumo_movements``: ``NB T=S2C->C2N; ...`` (SUMO edge ids);
  - ``green_s``, ``yellow_s``, ``allred_s``, ``min_green_s``, ``max_green_s``, ``ped_clear_s``;
    ``intervals``: the SUMO phases the stage shows, ``state duration`` joined by ``; `` (an
    existing program's phases exactly as written);
  - ``flow_vph`` (the flow the stage mainly serves), ``critical_movement`` (its critical lane
    group, once per signal, HCM Ch. 19), ``flow_ratio`` (its flow ratio y), ``v_c``,
    ``delay_s``, ``los`` (of the movements the stage mainly serves);
  - ``findings``: guideline findings of an existing program on this stage (``yellow 3.0 s < ITE
    3.3 s for 50 km/h [NB T+R]``), plan-wide ones on the signal's first row; joined by ``; ``.

  A stage that serves no vehicle movement and no crossing is not listed (its time still counts
  in ``start_s`` and the cycle; the summary names it). An unsafe program is never written
  (``export`` runs the gate first); an existing one's guideline findings are listed, not refused.
* **json**: the plan file format of ``plans.read_schedule`` (with ``version``) plus the review
  fields per phase (movements by name, flow, v/c, delay, LOS).
* **utdf**: UTDF-style CSV for Synchro/Vistro users: ``[Timeplans]`` (cycle, offset, reference
  phase per intersection) and ``[Phases]`` (one column D1..DK per stage: BRP, MinGreen,
  MaxGreen, Yellow, AllRed, Split, Start, End, ...). Stages are sequential, so stage k is written
  as phase k in ring 1, barrier k (BRP "k11"); a PLANID column carries the period.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

import numpy as np

from signals.errors import InputError, atomic_write
from signals.plans import (
    OFFSET_REFERENCE,
    PLAN_FORMAT_VERSION,
    PlanSet,
    Schedule,
    SignalPlan,
)
from signals.safety import SafetyConfig, Violation, assert_safe

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

FORMATS = ("sumo", "csv", "json", "utdf")
WAUT_ID = "signals_tod"
DAY_S = 86400.0
# how long after a period's begin its program may take over (a controller's transition to a new
# plan takes one to a few cycles; programs with other cycles meet at a common green within it)
SWITCH_SEARCH_S = 900.0


def _fmt(x: float) -> str:
    """Shortest exact text of a float ('33' for 33.0)."""
    x = float(x)
    return str(int(x)) if x.is_integer() else repr(x)


def _as_schedule(plans: Schedule | PlanSet | SignalPlan) -> Schedule:
    if isinstance(plans, Schedule):
        return plans
    if isinstance(plans, SignalPlan):
        plans = PlanSet({plans.signal_id: plans})
    return Schedule.single(plans)


# ------------------------------------------------------------------------------ SUMO
def sumo_additional_text(schedule: Schedule, tod_zero_s: float = 0.0) -> str:
    """The SUMO additional file content for a schedule (no safety check: use :func:`export`)."""
    periods = schedule.ordered()
    out = io.StringIO()
    w = out.write
    w('<?xml version="1.0" encoding="UTF-8"?>\n')
    w("<!-- signals plan export: fixed-time programs per time-of-day period -->\n")
    w("<additional>\n")
    for name, begin, end, ps in periods:
        for sid in sorted(ps.plans):
            p = ps.plans[sid]
            w(
                f'    <tlLogic id={quoteattr(sid)} type="static" programID={quoteattr(name)} '
                f'offset="{_fmt(p.offset_s)}">\n'
            )
            w(f'        <param key="signals.period_begin_s" value="{_fmt(begin)}"/>\n')
            w(f'        <param key="signals.period_end_s" value="{_fmt(end)}"/>\n')
            mins = " ".join(_fmt(ph.min_green_s) for ph in p.phases)
            maxs = " ".join(_fmt(ph.max_green_s) for ph in p.phases)
            w(f'        <param key="signals.min_green_s" value="{mins}"/>\n')
            w(f'        <param key="signals.max_green_s" value="{maxs}"/>\n')
            for state, dur in p.sumo_phases():
                w(f'        <phase duration="{_fmt(dur)}" state="{state}"/>\n')
            w("    </tlLogic>\n")
    if len(periods) > 1:
        # active at simulation time 0: the period that began last before (or at) that time of
        # day; a period's program runs until the next period begins
        def sim_t(begin: float) -> float:
            return (begin - tod_zero_s) % DAY_S

        start = max(periods, key=lambda x: (sim_t(x[1]) == 0.0, sim_t(x[1])))[0]
        order = sorted(periods, key=lambda x: sim_t(x[1]))
        sids = sorted({sid for *_, ps in periods for sid in ps.plans})
        # one WAUT per signal: each switches at its own seamless point (see _switch_time_s);
        # no daily repeat: a cycle that does not divide 86,400 s meets the next day's switch at
        # another point of its cycle, where the switch would not be seamless
        for sid in sids:
            wid = f"{WAUT_ID}_{sid}"
            w(f'    <WAUT id={quoteattr(wid)} refTime="0" startProg={quoteattr(start)}>\n')
            for k, (name, begin, _, ps) in enumerate(order):
                prev = order[k - 1][3].plans.get(sid)
                t = _switch_time_s(prev, ps.plans.get(sid), sim_t(begin))
                w(f'        <wautSwitch time="{_fmt(t)}" to={quoteattr(name)}/>\n')
            w("    </WAUT>\n")
            w(f"    <wautJunction wautID={quoteattr(wid)} junctionID={quoteattr(sid)}/>\n")
    w("</additional>\n")
    return out.getvalue()


def _switch_time_s(old: SignalPlan | None, new: SignalPlan | None, t_s: float) -> float:
    """The first whole second in [t_s, t_s + SWITCH_SEARCH_S) at which the old and the new
    program show the same green state (a green interval of both, not a change interval).

    SUMO's default WAUT switch (JustSwitch) jumps to the new program at its own cycle position
    (measured; ``safety.gate.validate_waut_switches``), so a switch at the period's nominal
    begin can cut a green without yellow; at a seamless point the displayed state does not
    change and the new program's own change intervals follow. Without one, the nominal time
    is kept and the gate refuses the file.
    """
    if old is None or new is None or old.cycle_s <= 0 or new.cycle_s <= 0:
        return t_s

    def green_state(plan: SignalPlan, t: float) -> str | None:
        pos = (t - plan.offset_s) % plan.cycle_s
        start = 0.0
        for ph in plan.phases:
            if pos < start + ph.green_s - (ph.clear_s if ph.clear_state else 0.0):
                return ph.state
            start += ph.total_s
            if pos < start:
                return None  # pedestrian clearance, yellow or all-red
        return None

    for dt in range(int(SWITCH_SEARCH_S)):
        t = t_s + dt
        a = green_state(old, t)
        if a is not None and a == green_state(new, t):
            return float(t)
    return t_s


# ------------------------------------------------------------------------ review rows
def _clock(t_s: float) -> str:
    """Time of day of ``t_s`` seconds: 'HH:MM' ('HH:MM:SS' off the minute; 24:00 at the end)."""
    t = float(t_s)
    h, rem = divmod(int(round(t)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" + (f":{sec:02d}" if sec else "")


def period_label(name: str, begin_s: float, end_s: float) -> str:
    """The period as an engineer reads it: 'am_peak 07:00-08:00 (25200-28800 s)'."""
    return f"{name} {_clock(begin_s)}-{_clock(end_s)} ({_fmt(begin_s)}-{_fmt(end_s)} s)"


_YELLOW_MSG = re.compile(r"^yellow ([\d.]+) s < ([\d.]+) s \(([\d.]+) m/s approach\)$")
_ALLRED_MSG = re.compile(
    r"^red clearance ([\d.]+) s before a conflicting green < ([\d.]+) s \((.*)\)$"
)


def finding_text(v: Violation, network: Network | None = None) -> str:
    """A guideline finding as a sheet shows it: 'yellow 3.0 s < ITE 3.3 s for 50 km/h (NB T+R)'
    (the movements and crossings of its links in brackets, given the network)."""
    m = _YELLOW_MSG.match(v.message)
    if v.rule == "yellow_too_short" and m:
        y, need, mps = (float(x) for x in m.groups())
        text = f"yellow {y:.1f} s < ITE {need:.1f} s for {mps * 3.6:.0f} km/h"
    elif v.rule == "allred_too_short" and (m := _ALLRED_MSG.match(v.message)):
        r, need, extra = float(m[1]), float(m[2]), m[3]
        text = f"all-red {r:.1f} s < ITE (W+L)/v {need:.1f} s ({extra})"
    else:
        text = f"{v.rule.replace('_', ' ')}: {v.message}"
    if network is not None and v.links:
        who = _links_label(network, v.signal_id, v.links)
        if who:
            text += f" [{who}]"
    return text


def _links_label(network: Network, signal_id: str, links: Sequence[int]) -> str:
    """'NB L+T, XW N' for SUMO link indices of a signal ('' where it names none)."""
    from signals.naming import crossing_names, group_names, movement_names

    try:
        s = network.signal_index(signal_id)
    except InputError:
        return ""
    ls = network.links_of(s)
    names = movement_names(network)
    xw = crossing_names(network, s)
    movs, cross = [], []
    for li in links:
        g = ls.start + int(li)
        if not 0 <= int(li) < ls.stop - ls.start:
            continue
        m = int(network.link_movement[g])
        if m >= 0 and names[m] not in movs:
            movs.append(names[m])
        elif m < 0 and g in xw and xw[g] not in cross:
            cross.append(xw[g])
    return ", ".join(group_names(movs) + sorted(cross))


def timing_rows(
    schedule: Schedule,
    network: Network,
    flows: dict[str, np.ndarray] | None = None,
    *,
    findings: Sequence[Violation] = (),
    cycle_max_s: float | None = None,
) -> list[dict]:
    """The content of the CSV timing sheet: one dict per period, signal and listed stage
    (``record`` "stage"), then a ``record`` "summary" dict per period that has something to flag
    (oversaturated signals, guideline findings, stages not listed). See the module docstring.

    Args:
        flows: period -> (M,) movement flows veh/h (a key "*" applies to every period); without
            flows the v/c, delay and LOS fields are None.
        findings: guideline findings to list (an existing program's), stage-numbered per
            period and signal (``signals.safety.assert_safe`` gives them).
        cycle_max_s: the maximum cycle of the oversaturation test (default
            :func:`design_cycle_max_s`).
    """
    from signals.control.hcm import hcm_plan_review
    from signals.plans import _expand

    cmax = design_cycle_max_s() if cycle_max_s is None else float(cycle_max_s)
    by_sig: dict[tuple[str, str], list[Violation]] = {}
    for v in findings:
        by_sig.setdefault((v.period, v.signal_id), []).append(v)
    single = len(schedule.periods) == 1
    rows = []
    for name, begin, end, ps in schedule.ordered():
        f = None
        if flows:
            f = flows.get(name, flows.get("*"))
        label = period_label(name, begin, end)
        over: list[str] = []
        n_found, skipped = 0, []
        for sid in sorted(ps.plans):
            p = ps.plans[sid]
            review, sig = hcm_plan_review(network, p, f, cycle_max_s=cmax)
            if sig["oversaturated"]:
                over.append(f"{sid} ({_fmt(sig['critical_v_c_max_cycle'] or math.inf)})")
            found = by_sig.get((name, sid), []) + (by_sig.get(("", sid), []) if single else [])
            n_found += len(found)
            stage_notes: dict[int | None, list[str]] = {}
            for v in found:
                stage_notes.setdefault(v.phase, []).append(finding_text(v, network))
            parts: dict[int, list[str]] = {}
            for k, st, d in _expand(p):
                parts.setdefault(k, []).append(f"{st} {_fmt(d)}")
            listed = [k for k, rv in enumerate(review, start=1) if rv["served"]]
            for k, rv in enumerate(review, start=1):
                if not rv["served"]:
                    skipped.append(f"{sid} stage {k}")
                    note = f"stage {k} ({_fmt(p.phases[k - 1].total_s)} s) serves no movement"
                    stage_notes.setdefault(None, []).append(note + ": not listed")
            start = 0.0
            for k, (ph, rv) in enumerate(zip(p.phases, review, strict=True), start=1):
                if rv["served"]:
                    notes = stage_notes.get(k, [])
                    if listed and k == listed[0]:
                        notes = stage_notes.get(None, []) + notes
                    rows.append(
                        {
                            "record": "stage",
                            "period": name,
                            "period_window": label,
                            "period_begin_s": begin,
                            "period_end_s": end,
                            "signal_id": sid,
                            "cycle_s": p.cycle_s,
                            "offset_s": p.offset_s,
                            "offset_reference": "phase 1 green start",
                            "critical_v_c": sig["critical_v_c"],
                            "critical_v_c_max_cycle": sig["critical_v_c_max_cycle"],
                            "cycle_max_s": sig["cycle_max_s"] if f is not None else None,
                            "oversaturated": "yes" if sig["oversaturated"] else "",
                            "signal_delay_s": sig["delay_s"],
                            "signal_los": sig["los"],
                            "phase": k,
                            "start_s": start,
                            "state": ph.state,
                            "movements": rv["movements"] + rv["crossings"],
                            "sumo_movements": rv["sumo"],
                            "green_s": ph.green_s,
                            "yellow_s": ph.yellow_s,
                            "allred_s": ph.allred_s,
                            "min_green_s": ph.min_green_s,
                            "max_green_s": ph.max_green_s,
                            "ped_clear_s": ph.clear_s,
                            "intervals": parts.get(k, []),
                            "flow_vph": rv["flow_vph"],
                            "critical_movement": rv["critical"],
                            "flow_ratio": rv["flow_ratio"],
                            "v_c": rv["v_c"],
                            "delay_s": rv["delay_s"],
                            "los": rv["los"],
                            "findings": notes,
                        }
                    )
                start += ph.total_s
        notes = []
        if over:
            notes.append(
                f"oversaturated (critical v/c > 1 at the {_fmt(cmax)} s maximum cycle or the "
                f"signal's own if longer): {len(over)} of {len(ps)} signals: " + ", ".join(over)
            )
        if n_found:
            notes.append(f"{n_found} guideline finding(s), listed on their stages")
        if skipped:
            notes.append("stages serving no movement, not listed: " + ", ".join(skipped))
        if notes:
            rows.append(
                {c: None for c in CSV_COLUMNS}
                | {
                    "record": "summary",
                    "period": name,
                    "period_window": label,
                    "period_begin_s": begin,
                    "period_end_s": end,
                    "findings": notes,
                }
            )
    return rows


def design_cycle_max_s(clearance: SafetyConfig | None = None) -> float:
    """The maximum cycle a plan may be given here: the Webster design's, within the site's."""
    from signals.control.fixed_time import WebsterConfig

    return min(WebsterConfig().cycle_max_s, (clearance or SafetyConfig()).cycle_max_s)


CSV_COLUMNS = (
    "record",
    "period",
    "period_window",
    "period_begin_s",
    "period_end_s",
    "signal_id",
    "cycle_s",
    "offset_s",
    "offset_reference",
    "critical_v_c",
    "critical_v_c_max_cycle",
    "cycle_max_s",
    "oversaturated",
    "signal_delay_s",
    "signal_los",
    "phase",
    "start_s",
    "state",
    "movements",
    "sumo_movements",
    "green_s",
    "yellow_s",
    "allred_s",
    "min_green_s",
    "max_green_s",
    "ped_clear_s",
    "intervals",
    "flow_vph",
    "critical_movement",
    "flow_ratio",
    "v_c",
    "delay_s",
    "los",
    "findings",
)
_LIST_COLUMNS = {"movements", "sumo_movements", "intervals", "findings"}


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    wr.writerow(CSV_COLUMNS)
    for r in rows:
        vals = []
        for c in CSV_COLUMNS:
            v = r.get(c)
            if c in _LIST_COLUMNS and v is not None:
                v = "; ".join(v)
            elif v is None:
                v = ""
            elif isinstance(v, float):
                v = _fmt(v)
            vals.append(v)
        wr.writerow(vals)
    return out.getvalue()


def json_doc(schedule: Schedule, network: Network, rows: list[dict]) -> dict:
    """Plan-file JSON (read back by ``plans.read_schedule``) with review fields per phase."""
    doc = schedule.to_dict()
    doc["version"] = PLAN_FORMAT_VERSION
    doc["net"] = str(network.path)
    doc["offset_reference"] = OFFSET_REFERENCE
    by_key = {(r["period"], r["signal_id"], r["phase"]): r for r in rows if r["record"] == "stage"}
    for per in doc["periods"]:
        for sd in per["signals"]:
            for k, pd in enumerate(sd["phases"], start=1):
                r = by_key.get((per["name"], sd["signal_id"], k), {})
                pd["number"] = k
                for key in ("movements", "flow_vph", "v_c", "delay_s", "los"):
                    pd[key] = r.get(key, [] if key == "movements" else None)
    return doc


def utdf_text(schedule: Schedule, network: Network) -> str:
    """UTDF-style CSV with [Timeplans] and [Phases] sections (see module docstring)."""
    periods = schedule.ordered()
    intid = {sid: i + 1 for i, sid in enumerate(network.signal_ids)}
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    wr.writerow(["[Timeplans]"])
    wr.writerow(["Timing Plan Settings"])
    wr.writerow(["RECORDNAME", "INTID", "PLANID", "DATA"])
    for name, _, _, ps in periods:
        for sid in sorted(ps.plans, key=lambda x: intid[x]):
            p, i = ps.plans[sid], intid[sid]
            for rec, val in (
                ("Control Type", "0"),  # 0 = pretimed
                ("Cycle Length", _fmt(p.cycle_s)),
                ("Lock Timings", "0"),
                ("Referenced To", "0"),  # 0 = begin of green (start of phase 1 green)
                ("Reference Phase", "1"),
                ("Offset", _fmt(p.offset_s)),
                ("Master", "0"),
                ("Node 0", str(i)),
                ("Name", sid),
            ):
                wr.writerow([rec, i, name, val])
    wr.writerow([])
    wr.writerow(["[Phases]"])
    wr.writerow(["Phase Data"])
    K = max((p.n_stages for *_, ps in periods for p in ps), default=1)
    wr.writerow(["RECORDNAME", "INTID", "PLANID", *[f"D{k}" for k in range(1, K + 1)]])
    for name, _, _, ps in periods:
        for sid in sorted(ps.plans, key=lambda x: intid[x]):
            p, i = ps.plans[sid], intid[sid]
            starts = p.stage_starts_s()
            recs = {
                "BRP": [f"{k}11" for k in range(1, p.n_stages + 1)],
                "MinGreen": [_fmt(ph.min_green_s) for ph in p.phases],
                "MaxGreen": [_fmt(ph.green_s) for ph in p.phases],  # pretimed: fixed green
                "Yellow": [_fmt(ph.yellow_s) for ph in p.phases],
                "AllRed": [_fmt(ph.allred_s) for ph in p.phases],
                "Recall": ["3"] * p.n_stages,  # max recall: pretimed
                "Walk": [
                    _fmt(ph.green_s - ph.clear_s) if ph.clear_s > 0 else "" for ph in p.phases
                ],
                "DontWalk": [_fmt(ph.clear_s) if ph.clear_s > 0 else "" for ph in p.phases],
                "Split": [_fmt(ph.total_s) for ph in p.phases],
                "Start": [_fmt(t) for t in starts],
                "End": [_fmt(t + ph.total_s) for t, ph in zip(starts, p.phases, strict=True)],
            }
            for rec, vals in recs.items():
                wr.writerow([rec, i, name, *vals, *[""] * (K - len(vals))])
    return out.getvalue()


# ----------------------------------------------------------------------------- entry point
def _check_as_written(text: str, network: Network, clearance: SafetyConfig, existing: bool) -> None:
    """The SUMO file exactly as SUMO will load it, WAUT switches included, through the gate."""
    import tempfile

    from signals.safety import check_file

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "plans.add.xml"
        p.write_text(text)
        check_file(p, network, clearance=clearance, existing=existing)


def export(
    plans: Schedule | PlanSet | SignalPlan,
    network: Network,
    path: str | Path,
    fmt: str,
    *,
    flows: dict[str, np.ndarray] | None = None,
    tod_zero_s: float = 0.0,
    clearance: SafetyConfig | None = None,
    existing: bool = False,
) -> Path:
    """Check ``plans`` safe, then write them atomically in ``fmt`` (sumo, csv, json, utdf).

    Args:
        existing: the plans are programs running today (not generated here): findings below
            guideline do not refuse them (unsafe ones always do).

    Raises:
        UnsafePlanError: the plans fail the safety gate (nothing is written).
        InputError: unknown format.
    """
    if fmt not in FORMATS:
        raise InputError(None, "--format", " | ".join(FORMATS), repr(fmt))
    schedule = _as_schedule(plans)
    found = assert_safe(schedule, network, clearance=clearance or SafetyConfig(), existing=existing)
    if fmt == "sumo":
        text = sumo_additional_text(schedule, tod_zero_s)
        _check_as_written(text, network, clearance or SafetyConfig(), existing)
    elif fmt in ("csv", "json"):
        rows = timing_rows(
            schedule,
            network,
            flows,
            findings=found,
            cycle_max_s=design_cycle_max_s(clearance),
        )
        if fmt == "csv":
            text = csv_text(rows)
        else:
            text = json.dumps(json_doc(schedule, network, rows), indent=1) + "\n"
    else:
        text = utdf_text(schedule, network)
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def read_utdf(path: str | Path) -> dict[str, dict[str, list[list[str]]]]:
    """Parse a UTDF-style CSV into {section: {RECORDNAME: [rows...]}} (for tests and tools)."""
    sections: dict[str, dict[str, list[list[str]]]] = {}
    cur = None
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if not row or not any(row):
                continue
            if row[0].startswith("[") and row[0].endswith("]"):
                cur = sections.setdefault(row[0][1:-1], {})
                continue
            if cur is None or len(row) < 2 or row[0] == "RECORDNAME":
                continue
            cur.setdefault(row[0], []).append(row[1:])
    return sections


__all__ = [
    "FORMATS",
    "export",
    "sumo_additional_text",
    "timing_rows",
    "csv_text",
    "json_doc",
    "utdf_text",
    "read_utdf",
]
