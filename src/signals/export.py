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
* **csv**: timing sheet, a row per signal and phase (stage): period, cycle, offset and its
  reference, phase number, movements served, green, yellow, all-red, min/max green, pedestrian
  clearance, and (given flows) estimated v/c, HCM control delay and LOS.
* **json**: the plan file format of ``plans.read_schedule`` (with ``version``) plus the same review
  fields per phase.
* **utdf**: UTDF-style CSV for Synchro/Vistro users: ``[Timeplans]`` (cycle, offset, reference
  phase per intersection) and ``[Phases]`` (one column D1..DK per stage: BRP, MinGreen,
  MaxGreen, Yellow, AllRed, Split, Start, End, ...). Stages are sequential, so stage k is written
  as phase k in ring 1, barrier k (BRP "k11"); a PLANID column carries the period.
"""

from __future__ import annotations

import csv
import io
import json
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
from signals.safety import SafetyConfig, assert_safe

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
def timing_rows(
    schedule: Schedule, network: Network, flows: dict[str, np.ndarray] | None = None
) -> list[dict]:
    """One dict per period, signal and phase: the content of the CSV timing sheet.

    Args:
        flows: period -> (M,) movement flows veh/h (a key "*" applies to every period); without
            flows the v/c, delay and LOS fields are None.
    """
    from signals.control.hcm import hcm_review

    rows = []
    for name, begin, end, ps in schedule.ordered():
        f = None
        if flows:
            f = flows.get(name, flows.get("*"))
        for sid in sorted(ps.plans):
            p = ps.plans[sid]
            review = hcm_review(network, p, f)
            start = 0.0
            for k, (ph, rv) in enumerate(zip(p.phases, review, strict=True), start=1):
                rows.append(
                    {
                        "period": name,
                        "period_begin_s": begin,
                        "period_end_s": end,
                        "signal_id": sid,
                        "cycle_s": p.cycle_s,
                        "offset_s": p.offset_s,
                        "offset_reference": "phase 1 green start",
                        "phase": k,
                        "start_s": start,
                        "state": ph.state,
                        "movements": rv["movements"],
                        "green_s": ph.green_s,
                        "yellow_s": ph.yellow_s,
                        "allred_s": ph.allred_s,
                        "min_green_s": ph.min_green_s,
                        "max_green_s": ph.max_green_s,
                        "ped_clear_s": ph.clear_s,
                        "flow_vph": rv["flow_vph"],
                        "v_c": rv["v_c"],
                        "delay_s": rv["delay_s"],
                        "los": rv["los"],
                    }
                )
                start += ph.total_s
    return rows


CSV_COLUMNS = (
    "period",
    "period_begin_s",
    "period_end_s",
    "signal_id",
    "cycle_s",
    "offset_s",
    "offset_reference",
    "phase",
    "start_s",
    "state",
    "movements",
    "green_s",
    "yellow_s",
    "allred_s",
    "min_green_s",
    "max_green_s",
    "ped_clear_s",
    "flow_vph",
    "v_c",
    "delay_s",
    "los",
)


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    wr.writerow(CSV_COLUMNS)
    for r in rows:
        vals = []
        for c in CSV_COLUMNS:
            v = r[c]
            if c == "movements":
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
    by_key = {(r["period"], r["signal_id"], r["phase"]): r for r in rows}
    for per in doc["periods"]:
        for sd in per["signals"]:
            for k, pd in enumerate(sd["phases"], start=1):
                r = by_key[(per["name"], sd["signal_id"], k)]
                pd["number"] = k
                for key in ("movements", "flow_vph", "v_c", "delay_s", "los"):
                    pd[key] = r[key]
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
    assert_safe(schedule, network, clearance=clearance or SafetyConfig(), existing=existing)
    if fmt == "sumo":
        text = sumo_additional_text(schedule, tod_zero_s)
        _check_as_written(text, network, clearance or SafetyConfig(), existing)
    elif fmt == "csv":
        text = csv_text(timing_rows(schedule, network, flows))
    elif fmt == "json":
        text = (
            json.dumps(json_doc(schedule, network, timing_rows(schedule, network, flows)), indent=1)
            + "\n"
        )
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
