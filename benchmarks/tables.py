"""README tables generated from the benchmark JSON in ``benchmarks/results/``.

Each table in README.md that comes from a benchmark sits between two markers::

    <!-- table: NAME (benchmarks/results/FILE.json) -->
    | ... generated ... |
    <!-- /table -->

``python benchmarks/tables.py`` rewrites those blocks in place (nothing else in the README);
``python benchmarks/tables.py --check`` writes nothing and exits 1 listing the blocks that differ
from what their JSON says (``make bench`` runs the first after the benchmarks,
``tests/test_readme_tables.py`` the second).

A table is one function ``table_NAME(data) -> str`` in :data:`REGISTRY` (NAME -> (JSON files,
function)); ``data`` is the parsed JSON, or, for a table over several files, ``{file stem: parsed
JSON}``. Every number goes through :func:`fmt` (the one rounding rule, :data:`DIGITS`); a field the
JSON lacks prints ``n/a``, never a number from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path("benchmarks") / "results"
README = ROOT / "README.md"
NA = "n/a"

# ----------------------------------------------------------------------------- rounding
# The one rounding rule: decimals per kind of figure (("sig", n): n significant figures), half up
# on the number as the JSON writes it, thousands separated by commas; a nonzero figure that would
# round to 0 keeps one significant figure instead.
DIGITS: dict[str, int | tuple[str, int]] = {
    "s": 1,  # seconds: delays, travel and wall times
    "km": 1,
    "pct": 1,  # percent
    "count": 0,  # vehicles, trips, teleports, signals (means over seeds too)
    "mb": 0,
    "x": 0,  # speed-up ratios
    "ratio": 3,  # rank correlations, relative errors, fitted constants
    "stops": 2,  # stops per vehicle
    "rate": ("sig", 2),  # plan-hours per second
}


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def fmt(value: Any, kind: str, unit: str = "") -> str:
    """``value`` rounded as :data:`DIGITS` says for ``kind``, with ``unit``; ``n/a`` if it is not a number."""
    if not _is_number(value):
        return NA
    d = Decimal(repr(float(value)))
    rule = DIGITS[kind]
    if isinstance(rule, tuple):
        r = _sig(d, rule[1])
    else:
        r = d.quantize(Decimal(1).scaleb(-rule), rounding=ROUND_HALF_UP)
        if r == 0 and d != 0:
            r = _sig(d, 1)
    if r == 0:
        r = abs(r)
    return format(r, ",f") + unit


def _sig(d: Decimal, n: int) -> Decimal:
    if d == 0:
        return d
    q = Decimal(1).scaleb(d.adjusted() - n + 1)
    r = d.quantize(q, rounding=ROUND_HALF_UP)
    return r.quantize(Decimal(1)) if r.as_tuple().exponent > 0 else r


def fmt_bool(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else NA


def fmt_hours(seconds: Any) -> str:
    """A horizon: ``1 h`` for whole hours, else seconds (``900 s``)."""
    if not _is_number(seconds):
        return NA
    if seconds > 0 and float(seconds) % 3600 == 0:
        return f"{fmt(seconds / 3600, 'count')} h"
    return fmt(seconds, "count", " s")


def fmt_change(before: Any, after: Any) -> str:
    """Relative change from ``before`` to ``after`` in percent (``-80.6 %``)."""
    if not (_is_number(before) and _is_number(after)) or before == 0:
        return NA
    pct = (after - before) / before * 100
    return ("+" if pct > 0 else "") + fmt(pct, "pct", " %")


def bold(cell: str) -> str:
    return cell if cell == NA else f"**{cell}**"


def get(data: Any, *path: str | int) -> Any:
    """``data[path[0]][path[1]]...``, or None where a step is missing."""
    for key in path:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


def _seed_values(data: Any, key: str, kind: str) -> str:
    """``(seeds a, b)`` from ``data["per_seed"][i][key]``; empty if the JSON has no per-seed rows."""
    rows = get(data, "per_seed")
    if not isinstance(rows, list) or not rows:
        return ""
    return " (seeds " + ", ".join(fmt(get(r, key), kind) for r in rows) + ")"


# ----------------------------------------------------------------------------- tables
def table_pilot_zone(data: dict) -> str:
    """``signals bench pilot-zone``: the zone as built and 1 h of its AM peak in SUMO micro."""
    share = get(data, "teleport_share")
    finished = get(data, "finished_share_departed_by_75pct")
    machine = get(data, "machine")
    rows = [
        [
            "signalized intersections (>= 2 conflicting approaches)",
            fmt(get(data, "n_signalized_intersections"), "count"),
            "exactly 448",
        ],
        ["V2X test roads (centreline)", fmt(get(data, "v2x_km"), "km", " km"), ">= 100 km"],
        ["V2X corridors", fmt(get(data, "n_v2x_corridors"), "count"), ""],
        ["signals with a roadside unit", fmt(get(data, "n_rsu_signals"), "count"), ""],
        ["two builds byte-identical", fmt_bool(get(data, "build_identical")), "true"],
        ["vehicles (AM-peak hour, profile)", fmt(get(data, "n_vehicles"), "count"), ""],
        [
            "teleported",
            fmt(share * 100 if _is_number(share) else None, "pct", " %"),
            "< 1 %",
        ],
        [
            "trips departing by minute 45 that finish within the hour",
            fmt(finished * 100 if _is_number(finished) else None, "pct", " %"),
            "> 95 %",
        ],
        [
            f"SUMO micro wall time, {fmt_hours(get(data, 'horizon_s'))}",
            fmt(get(data, "sumo_micro_wall_s"), "s", " s"),
            "(DESIGN anchor 78 s on a plain grid)",
        ],
        ["machine", _machine(machine), ""],
    ]
    return markdown(["figure", "value", "target"], rows)


def _machine(machine: Any) -> str:
    """CPU model, cores and 1-min load of the run (``n/a`` where the JSON does not record them)."""
    if not isinstance(machine, Mapping):
        return NA
    load = get(machine, "load_avg", 0)
    return (
        f"{get(machine, 'cpu_model') or NA}, {fmt(get(machine, 'cpu_count'), 'count')} cores, "
        f"load {fmt(load, 'ratio') if _is_number(load) else NA}"
    )


def table_hotpath(data: dict) -> str:
    """``signals bench hotpath``: queue-model batch vs SUMO meso and micro, wall and CPU."""
    horizon = fmt_hours(get(data, "horizon_s"))
    micro_h = get(data, "sumo_micro_horizon_s")
    micro_label = f"SUMO micro, {fmt_hours(micro_h)}"
    if _is_number(micro_h) and micro_h != get(data, "horizon_s"):
        micro_label += f" (scaled to {horizon})"
    rows = [
        [
            f"queue model ({fmt(get(data, 'n_signals'), 'count')} signals, "
            f"{fmt(get(data, 'n_movements'), 'count')} movements, "
            f"{fmt(get(data, 'n_edges'), 'count')} edges), "
            f"batch {fmt(get(data, 'batch'), 'count')} x {horizon}",
            f"{fmt(get(data, 'queue_model_wall_s'), 's', ' s')} wall, "
            f"**{fmt(get(data, 'queue_model_plan_hours_per_s'), 'rate')} plan-hours/s**, "
            f"setup {fmt(get(data, 'queue_model_setup_s'), 's', ' s')}, "
            f"peak RSS {fmt(get(data, 'peak_rss_mb'), 'mb', ' MB')}",
        ],
        [
            f"SUMO meso, {fmt_hours(get(data, 'sumo_meso_horizon_s'))}",
            f"{fmt(get(data, 'sumo_meso_wall_s'), 's', ' s')}, "
            f"{fmt(get(data, 'sumo_meso_plan_hours_per_s'), 'rate')} plan-hours/s",
        ],
        [
            micro_label,
            f"{fmt(get(data, 'sumo_micro_wall_s'), 's', ' s')}, "
            f"{fmt(get(data, 'sumo_micro_plan_hours_per_s'), 'rate')} plan-hours/s",
        ],
        [
            "speed-up vs meso / micro",
            f"**{fmt(get(data, 'speedup_vs_meso'), 'x', 'x')}** / "
            f"{fmt(get(data, 'speedup_vs_micro'), 'x', 'x')} (CPU-time ratio "
            f"{fmt(get(data, 'speedup_vs_meso_cpu'), 'x', 'x')} / "
            f"{fmt(get(data, 'speedup_vs_micro_cpu'), 'x', 'x')})",
        ],
        ["machine", _machine(get(data, "machine"))],
    ]
    return markdown(["measure", "value"], rows)


def _mean_range(d: Any, kind: str = "ratio") -> str:
    """``mean (min-max)`` of a ``{mean, min, max}`` figure over seeds; ``n/a`` without one."""
    if not _is_number(get(d, "mean")):
        return NA
    return f"{fmt(get(d, 'mean'), kind)} ({fmt(get(d, 'min'), kind)}-{fmt(get(d, 'max'), kind)})"


def _listed(values: Any, f: Callable[[Any], str] = str) -> str:
    """``a, b, c`` (each through ``f``), or ``n/a`` for none."""
    return ", ".join(f(v) for v in values or []) or NA


def _met(value: Any) -> str:
    return {True: " (met)", False: " (**not met**)"}.get(value, "")


def _sumo_self(d: Any) -> str:
    """SUMO run with another seed scored like the model (``bench accuracy --noise-nets``)."""
    pairs = [
        ("sumo_self_spearman_avg_delay", "sumo_self_mean_abs_rel_error_avg_delay"),
        ("sumo_self_spearman_near_optimal", "sumo_self_regret_near_optimal"),
    ]
    cells = [
        f"{_mean_range(get(d, a))} / {_mean_range(get(d, b))}"
        for a, b in pairs
        if get(d, a) is not None
    ]
    return "; ".join(cells) if cells else NA


def table_accuracy(data: dict) -> str:
    """``signals bench accuracy``: the shipped queue model vs SUMO micro on the evaluation seeds,
    per network and horizon: mean (min-max) over the seeds."""
    rows = []
    for name, net in (get(data, "networks") or {}).items():
        met = get(net, "targets_met") or {}
        hours = get(net, "horizons") or {}
        last = max(hours, key=float) if hours else None
        for h, d in hours.items():
            on = h == last  # the targets are checked on the longest horizon
            prev = get(net, "previous_model", h)

            def cell(key: str, d=d, on=on, prev=prev, met=met) -> str:
                was = get(prev, key, "mean")
                before = f" [was {fmt(was, 'ratio')}]" if _is_number(was) else ""
                return _mean_range(get(d, key)) + _met(met.get(key) if on else None) + before

            rows.append(
                [
                    f"{name} ({fmt(get(net, 'n_signals'), 'count')} signals)",
                    fmt_hours(float(h)),
                    f"{len(get(net, 'validation_plans') or [])} / "
                    f"{len(get(net, 'near_optimal_plans') or [])}",
                    cell("spearman_avg_delay"),
                    cell("mean_abs_rel_error_avg_delay"),
                    fmt(get(d, "spearman_intersection_delay"), "ratio")
                    + (
                        f" [was {fmt(get(prev, 'spearman_intersection_delay'), 'ratio')}]"
                        if _is_number(get(prev, "spearman_intersection_delay"))
                        else ""
                    ),
                    cell("spearman_near_optimal"),
                    cell("regret_near_optimal"),
                    _mean_range(get(d, "near_optimal_sumo_spread")),
                    _sumo_self(d),
                ]
            )
    seeds = _listed(get(data, "evaluation_seeds"))
    near = _listed(get(data, "near_optimal_seeds"))
    near_nets = _listed(get(data, "near_optimal_nets"))
    return (
        markdown(
            [
                "network",
                "horizon",
                "validation / near-optimal plans",
                "spearman_avg_delay",
                "mean_abs_rel_error_avg_delay",
                "spearman_intersection_delay (pooled)",
                "spearman_near_optimal",
                "regret_near_optimal",
                "SUMO spread of the near-optimal set (max / min)",
                "SUMO with another seed vs SUMO: validation Spearman / error; "
                "near-optimal Spearman / regret",
            ],
            rows,
        )
        + "\n\n[was x]: the model shipped before (git "
        + str(get(data, "previous_model", "git_revision") or NA)
        + ": "
        + str(get(data, "previous_model", "what") or "equal split of shared lanes, its constants")
        + ") on the same SUMO runs. "
        f"Evaluation seeds {seeds} (near-optimal set: seeds {near} on {near_nets}); "
        "tuning seeds not used: "
        + _listed(get(data, "tuning_seeds_not_used"))
        + f"; {fmt(get(data, 'n_sumo_runs'), 'count')} SUMO micro runs "
        f"({len(get(data, 'cached_runs') or [])} reused from the run cache)."
    )


def table_calibration(data: dict) -> str:
    """``signals bench calibration``: the constants chosen on the tuning seeds, and the shipped."""
    chosen, shipped = get(data, "chosen"), get(data, "shipped")
    cf, sf = get(data, "chosen_figures"), get(data, "shipped_figures")
    ablations = [
        (f"best fit {label}", get(data, key, "chosen"), get(data, key, "chosen_figures"))
        for key, label in (
            ("without_lane_groups", "without lane groups (each shared lane split equally)"),
            ("without_sneakers", "without sneakers (none at a yielding green's end)"),
        )
        if key in data
    ]
    fifo = {
        "off": "no FIFO lanes (each movement queues on its own)",
        "signal": "FIFO approach lanes at signals",
        "all": "FIFO lanes at signals and one-lane edges elsewhere",
    }
    options = [
        ("best fit with this FIFO option", c, c) for c in (get(data, "fifo_lanes") or {}).values()
    ]
    rows = [
        [
            label,
            fmt(get(c, "sat_flow_factor"), "ratio"),
            fmt(get(c, "freeflow_loss_frac"), "ratio"),
            fmt(get(c, "stop_penalty_s"), "s"),
            fifo.get(get(c, "fifo_lanes"), "n/a"),
            fmt(get(f, "mean_abs_rel_error"), "ratio"),
            fmt(get(f, "spearman_intersection"), "ratio"),
        ]
        for label, c, f in (
            ("fitted in this run", chosen, cf),
            ("shipped", shipped, sf),
            *options,
            *ablations,
        )
    ]
    nets = _listed(get(data, "networks"))
    seeds = _listed(get(data, "seeds"))
    hz = _listed(get(data, "horizons_s"), fmt_hours)
    return (
        markdown(
            [
                "constants",
                "sat-flow factor",
                "free-flow loss share",
                "stop penalty (s)",
                "FIFO lanes",
                "mean abs. rel. error of network delay (pooled)",
                "spearman_intersection (pooled)",
            ],
            rows,
        )
        + f"\n\nFitted on {nets}, tuning seeds {seeds}, horizons {hz}: "
        f"{fmt(get(data, 'n_sumo_runs'), 'count')} SUMO micro runs; shipped equals fitted: "
        f"{fmt_bool(get(data, 'shipped_equals_chosen'))}."
    )


GLOSA_ROWS = [  # label, kind, JSON key, per-seed key ("{}" or a suffix: without / with)
    ("stops per connected vehicle", "stops", "stops_per_cv", "stops_cv"),
    ("stops per other vehicle", "stops", "stops_per_other", "stops_other"),
    ("travel time of connected vehicles (s)", "s", "travel_time_cv_{}_s", "travel_time_cv_{}_s"),
    (
        "travel time of other vehicles (s)",
        "s",
        "travel_time_other_{}_s",
        "travel_time_other_{}_s",
    ),
    (
        "delay of connected vehicles (s; timeLoss, biased low under GLOSA: compare travel times)",
        "s",
        "delay_cv_{}_s",
        "delay_cv_{}_s",
    ),
]


def _glosa_key(pattern: str, side: str) -> str:
    return pattern.format(side) if "{}" in pattern else f"{pattern}_{side}"


def table_glosa(data: dict) -> str:
    """``signals bench glosa``: mean over seeds without and with GLOSA, each seed in brackets."""
    rows = []
    for label, kind, key, seed_key in GLOSA_ROWS:
        cells = [label]
        for side in ("without", "with"):
            value = get(data, _glosa_key(key, side))
            cells.append(fmt(value, kind) + _seed_values(data, _glosa_key(seed_key, side), kind))
        cells.append(
            fmt_change(get(data, _glosa_key(key, "without")), get(data, _glosa_key(key, "with")))
        )
        rows.append(cells)
    every = get(data, "glosa_reduces_cv_stops_every_seed")
    rows[0][-1] += f" (lower on every seed: {fmt_bool(every)})"
    return markdown(["figure", "without GLOSA", "with GLOSA", "change"], rows)


REALNETS_CONTROLLERS = {  # JSON key -> column
    "own": "net's own programs",
    "webster": "Webster",
    "optimized": "CP-SAT cycle and splits",
    "sumo_tools": "SUMO tlsCycleAdaptation + tlsCoordinator",
    "max-pressure": "max-pressure",
    "actuated": "SUMO actuated (own phases)",
}


def table_realnets(data: dict) -> str:
    """``signals bench realnets``: mean over seeds per network and controller; best delay in bold."""
    rows = []
    nets = get(data, "networks")
    for name, net in nets.items() if isinstance(nets, Mapping) else []:
        means = {c: get(net, "mean", c) for c in REALNETS_CONTROLLERS}
        delays = [get(m, "avg_delay_s") for m in means.values()]
        known = [d for d in delays if _is_number(d)]
        best = min(known) if known else None
        cells = [
            f"{name} ({fmt(get(net, 'n_signals'), 'count')} signals, "
            f"{fmt(get(net, 'vehicles_in_window'), 'count')} trips)"
        ]
        for c, m, d in zip(means, means.values(), delays, strict=True):
            failed = get(net, "sumo_tools_failed") if c == "sumo_tools" else None
            if failed and not m:
                cells.append(f"the tool failed: {failed}")
                continue
            delay = fmt(d, "s", " s")
            cells.append(
                f"{bold(delay) if d == best and best is not None else delay}, "
                f"{fmt(get(m, 'trips_finished'), 'count')} / "
                f"{fmt(get(m, 'vehicles_left'), 'count')} / {fmt(get(m, 'teleports'), 'count')}"
                f" / {fmt(get(m, 'stops'), 'stops')}"
            )
        rows.append(cells)
    return markdown(["network", *REALNETS_CONTROLLERS.values()], rows)


def _spread(o: Any, kind: str, unit: str = "") -> str:
    """``mean (min-max)`` of one figure over seeds (``_common.over_seeds``)."""
    mean, lo, hi = get(o, "mean"), get(o, "min"), get(o, "max")
    if not _is_number(mean):
        return NA
    if lo == hi:
        return fmt(mean, kind, unit)
    return f"{fmt(mean, kind, unit)} ({fmt(lo, kind)}-{fmt(hi, kind)})"


CONTROLLER_COLUMNS = (  # over_seeds key -> (column, kind, unit)
    ("avg_delay_s", "average delay (s)", "s", ""),
    ("trips_finished", "trips finished", "count", ""),
    ("vehicles_left", "vehicles left", "count", ""),
    ("teleports", "teleports", "count", ""),
    ("stops", "stops per vehicle", "stops", ""),
)


def controllers_table(over: Any, labels: Mapping[str, str]) -> str:
    """One row per controller, each figure as mean (min-max) over the seeds; best delay bold."""
    delays = {c: get(over, c, "avg_delay_s", "mean") for c in labels}
    known = [d for d in delays.values() if _is_number(d)]
    best = min(known) if known else None
    rows = []
    for c, label in labels.items():
        cells = [label]
        for key, _, kind, unit in CONTROLLER_COLUMNS:
            cell = _spread(get(over, c, key), kind, unit)
            if key == "avg_delay_s" and best is not None and delays[c] == best:
                cell = bold(cell)
            cells.append(cell)
        rows.append(cells)
    return markdown(["controller", *(col for _, col, _, _ in CONTROLLER_COLUMNS)], rows)


FIXED_TIME_CONTENDERS = {
    "webster": "Webster/HCM (`signals plan fixed-time`)",
    "sumo_tools": "SUMO `tools/tlsCycleAdaptation.py`",
    "default": "netconvert default programs (90 s)",
}


def table_fixed_time(data: dict) -> str:
    """``signals bench fixed-time``: every contender over the evaluation seeds."""
    over = {c: get(data, "contenders", c, "over_seeds") for c in FIXED_TIME_CONTENDERS}
    return controllers_table(over, FIXED_TIME_CONTENDERS)


LOOP_CONTROLLERS = {
    "webster": "Webster, static",
    "max_pressure": "max-pressure (closed loop)",
    "cv_max_pressure_100": "CV max-pressure, 100 % connected",
    "cv_max_pressure_50": "CV max-pressure, 50 % connected",
    "cv_max_pressure_20": "CV max-pressure, 20 % connected",
}


def table_loop(data: dict) -> str:
    """``signals bench loop``: every controller over the evaluation seeds, then the overhead."""
    over = {c: get(data, "controllers", c, "over_seeds") for c in LOOP_CONTROLLERS}
    table = controllers_table(over, LOOP_CONTROLLERS)
    ratios = [get(t, "overhead_ratio") for t in get(data, "timing") or []]
    return (
        table
        + "\n\n"
        + markdown(
            ["figure", "value", "target"],
            [
                [
                    "`overhead_ratio` (loop / static Webster, wall; median, max over seeds)",
                    f"{fmt(get(data, 'overhead_ratio_median'), 'ratio')}, "
                    f"{fmt(get(data, 'overhead_ratio_max'), 'ratio')} "
                    f"(seeds {', '.join(fmt(r, 'ratio') for r in ratios) or NA})",
                    "<= 1.3",
                ],
                [
                    "roadside units used by CV max-pressure",
                    f"{get(data, 'rsu_at') or NA} ({fmt(get(data, 'n_rsu_signals'), 'count')} "
                    f"of {fmt(get(data, 'n_signals'), 'count')} signals)",
                    "",
                ],
            ],
        )
    )


OPTIMIZE_CONTENDERS = {
    "optimized": "CP-SAT cycle and splits (`signals plan optimize`)",
    "optimized_corridors": "CP-SAT, one cycle per V2X corridor, offsets 0",
    "webster": "Webster/HCM (`signals plan fixed-time`)",
    "sumo_tools": "SUMO `tlsCycleAdaptation.py` + `tlsCoordinator.py`",
    "actuated": "SUMO actuated (own phases)",
}


def table_optimize(data: dict) -> str:
    """``signals bench optimize``: per period, every contender over the evaluation seeds; then
    the ratios of the optimized plans' delay (pooled over periods and seeds)."""
    parts = []
    by_period = get(data, "by_period")
    for period in get(data, "periods") or []:
        over = {c: get(by_period, period, c, "over_seeds") for c in OPTIMIZE_CONTENDERS}
        labels = {c: f"{period}: {v}" for c, v in OPTIMIZE_CONTENDERS.items() if over[c]}
        parts.append(controllers_table(over, labels))
    rows = [
        ["`ratio_vs_webster`", fmt(get(data, "ratio_vs_webster"), "ratio"), "<= 0.90"],
        ["`ratio_vs_sumo_tools`", fmt(get(data, "ratio_vs_sumo_tools"), "ratio"), "< 1"],
        ["`ratio_vs_actuated`", fmt(get(data, "ratio_vs_actuated"), "ratio"), "report"],
        [
            "`optimize_wall_s` (whole zone, one period, slowest)",
            fmt(get(data, "optimize_wall_s"), "s", " s"),
            "<= 600 s",
        ],
    ]
    return "\n\n".join([*parts, markdown(["figure", "value", "target"], rows)])


CORRIDOR_CONTENDERS = {
    "webster": "Webster/HCM, uncoordinated (own cycles, offsets 0)",
    "maxband": "CP-SAT splits, one cycle, MAXBAND offsets (`--offsets maxband`)",
    "delay_offsets": "CP-SAT splits, one cycle, CP-SAT delay offsets (`--offsets delay`)",
}


def table_corridor(data: dict) -> str:
    """``signals bench optimize``'s green-wave part on the V2X corridor: every contender over
    the seeds, then the bandwidth and the stops along the corridor."""
    over = {c: get(data, "corridor_contenders", c, "over_seeds") for c in CORRIDOR_CONTENDERS}
    parts = [controllers_table(over, CORRIDOR_CONTENDERS)]
    band = {d: get(data, f"corridor_bandwidth_{d}_min_max") for d in ("out", "in")}
    rows = [
        [
            "`corridor_bandwidth_out` (fraction of the cycle)",
            _spread(band["out"], "ratio"),
            "report",
        ],
        ["`corridor_bandwidth_in`", _spread(band["in"], "ratio"), "report"],
    ]
    for c in CORRIDOR_CONTENDERS:
        rows.append(
            [
                f"stops per trip along the corridor, {c}",
                _spread(get(data, f"corridor_stops_{c}_min_max"), "stops"),
                f"{fmt(get(data, f'corridor_along_trips_{c}'), 'count')} trips",
            ]
        )
    rows += [
        [
            "`corridor_stops_ratio_vs_webster` (MAXBAND)",
            fmt(get(data, "corridor_stops_ratio_vs_webster"), "ratio"),
            "<= 0.70",
        ],
        [
            "the same, delay offsets",
            fmt(get(data, "corridor_stops_ratio_delay_offsets_vs_webster"), "ratio"),
            "report",
        ],
    ]
    return "\n\n".join([*parts, markdown(["figure", "value", "target / note"], rows)])


def table_polish(data: dict) -> str:
    """``signals bench polish``: per net, the optimizer's plans against the polished ones."""
    parts = []
    rows = []
    for name, net in (get(data, "nets") or {}).items():
        over = {c: get(net, "contenders", c, "over_seeds") for c in ("optimized", "polished")}
        labels = {
            "optimized": f"{name}: the optimizer's plans",
            "polished": f"{name}: polished (queue model shortlist, SUMO confirms)",
        }
        parts.append(controllers_table(over, labels))
        kept = get(net, "n_kept_optimizer_plans")
        n = len(get(net, "per_seed") or [])
        rows.append(
            [
                f"{name}",
                fmt(get(net, "polish_gain_sumo"), "ratio"),
                fmt(get(net, "polish_gain_model"), "ratio"),
                f"{fmt(kept, 'count')} of {n}",
            ]
        )
    rows = rows or [[NA, NA, NA, NA]]
    head = [
        "net",
        "`polish_gain_sumo`",
        "`polish_gain_model`",
        "seeds keeping the optimizer's plans",
    ]
    return "\n\n".join([*parts, markdown(head, rows)])


def table_rl(data: dict) -> str:
    """``signals bench rl``: environment steps per second, queue-model vs SUMO backend."""
    rows = []
    for b, label in (("queue", "queue model"), ("sumo", "SUMO micro (libsumo)")):
        rows.append(
            [
                label,
                fmt(get(data, f"{b}_env_steps_per_s"), "rate"),
                fmt(get(data, f"{b}_agent_steps_per_s"), "count"),
                fmt(get(data, f"{b}_env_wall_s"), "s"),
                fmt(get(data, f"{b}_env_cpu_s"), "s"),
                fmt(get(data, f"{b}_env_reset_s"), "ratio"),
            ]
        )
    table = markdown(
        ["backend", "env steps/s", "agent steps/s", "wall (s)", "CPU (s)", "reset (s)"], rows
    )
    return (
        table
        + "\n\n"
        + markdown(
            ["figure", "value", "target"],
            [
                [
                    "`ratio` (queue / SUMO env steps per s, wall)",
                    fmt(get(data, "ratio"), "x") + "x",
                    ">= 50x",
                ],
                ["the same in CPU time", fmt(get(data, "ratio_cpu"), "x") + "x", ""],
                [
                    "episode",
                    f"{fmt_hours(get(data, 'horizon_s'))}, {fmt(get(data, 'n_agents'), 'count')} signals, "
                    f"{fmt(get(data, 'delta_t_s'), 's')} s decisions; {_machine(get(data, 'machine'))}",
                    "",
                ],
            ],
        )
    )


POLICY_CONTROLLERS = {
    "policy": "RL policy (PPO, shared by all signals, trained on the queue model)",
    "webster": "Webster, static",
    "max_pressure": "max-pressure (closed loop)",
    "actuated": "SUMO actuated (the net's own phases)",
}


def table_policy(data: dict, policy_label: str = POLICY_CONTROLLERS["policy"]) -> str:
    """``signals bench policy``: the committed policy against Webster, max-pressure, actuated."""
    labels = POLICY_CONTROLLERS | {"policy": policy_label}
    over = {c: get(data, "controllers", c, "over_seeds") for c in labels}
    table = controllers_table(over, labels)
    return (
        table
        + "\n\n"
        + markdown(
            ["figure", "value", "target"],
            [
                [
                    "`ratio_vs_webster` (mean policy delay / mean Webster delay)",
                    f"{fmt(get(data, 'ratio_vs_webster'), 'ratio')} (per seed "
                    f"{_mean_range(get(data, 'ratio_vs_webster_per_seed'))})",
                    "<= 0.8",
                ],
                [
                    "policy below max-pressure and actuated",
                    fmt_bool(get(data, "policy_below_max_pressure_and_actuated")),
                    "yes",
                ],
                [
                    "training",
                    f"{fmt(get(data, 'policy_agent_steps'), 'count')} agent steps, "
                    f"{fmt(get(data, 'policy_train_wall_s'), 's')} s; training seeds "
                    f"{_listed(get(data, 'policy_training_seeds'))}; evaluated on "
                    f"{_listed(get(data, 'seeds'))}",
                    "",
                ],
            ],
        )
    )


RESCO_RL_CONTROLLERS = {
    "rl": "RL policy (PPO, trained on the queue model)",
    "dagger": "policy imitating our actuated control (DAgger, SUMO)",
    "own": "net's own programs (fixed time)",
    "max-pressure": "max-pressure",
}


def resco_table(entries, labels: Mapping[str, str]) -> str:
    """Per RESCO network (``entries``: (name, controller -> over_seeds, published row)), each
    controller's delay, trips and teleports, then RESCO's published fixed-time / best-RL row."""
    rows = []
    for net, over_of, pub in entries:
        for c, label in labels.items():
            o = over_of(c)
            rows.append(
                [
                    net,
                    label,
                    _spread(get(o, "avg_delay_s"), "s"),
                    _spread(get(o, "trips_finished"), "count"),
                    _spread(get(o, "teleports"), "count"),
                ]
            )
        rows.append(
            [
                net,
                "RESCO published: fixed time / best RL (not run here)",
                f"{fmt(get(pub, 'fixed_time_s'), 's')} / {fmt(get(pub, 'best_rl_s'), 's')}",
                "",
                "",
            ]
        )
    return markdown(
        ["network", "controller", "average delay (s)", "trips finished", "teleports"], rows
    )


def table_resco_rl(data: dict) -> str:
    """``signals bench resco-rl``: per RESCO network, our controllers beside RESCO's table."""
    nets = sorted((get(data, "networks") or {}).items())
    return resco_table(
        [
            (n, lambda c, e=e: get(e, "over_seeds", c), get(data, "resco_published", n))
            for n, e in nets
        ],
        RESCO_RL_CONTROLLERS,
    )


ADAPTIVE_CONTROLLERS = {
    "sumo_actuated": "SUMO actuated (the net's own phases and change intervals; the bar)",
    "sumo_actuated_guideline": "SUMO actuated at our clearances (ITE yellow + red clearance)",
    "webster": "Webster, static",
    "max_pressure": "max-pressure (Varaiya, closed loop, delta_t 5 s)",
    "mp_variant": "max-pressure variant chosen on the tuning seed",
    "actuated_det": "our actuated, loop detectors",
    "actuated_det_cv@30": "our actuated, detectors + CV at 30 %",
    "actuated_cv@30": "our actuated, CV only at 30 %",
}


def _meeting_the_bar(data: dict) -> list[str]:
    """Our controllers run on every seed that meet the whole bar on each of them
    (``signals.bench.adaptive.meets_bar``)."""
    from signals.bench.adaptive import is_ours, meets_bar

    bar = {r["seed"]: r for r in get(data, "controllers", "sumo_actuated", "per_seed") or []}
    return [
        f"`{c}`"
        for c, v in (get(data, "controllers") or {}).items()
        if bar
        and is_ours(c, v.get("per_seed", []), len(bar))
        and all(meets_bar(r, bar[r["seed"]]) for r in v["per_seed"])
    ]


def table_adaptive(data: dict) -> str:
    """``signals bench adaptive``: pilot zone, our adaptive controllers against SUMO actuated."""
    over = {c: get(data, "controllers", c, "over_seeds") for c in ADAPTIVE_CONTROLLERS}
    labels = dict(ADAPTIVE_CONTROLLERS)
    variant = get(data, "mp_variant") or ["?", {}]
    args = ", ".join(f"{k}={v}" for k, v in (variant[1] or {}).items())
    labels["mp_variant"] = f"max-pressure variant kept on the tuning seed: `{variant[0]}({args})`"
    table = controllers_table(over, labels)
    return (
        table
        + "\n\n"
        + markdown(
            ["figure", "value", "target"],
            [
                [
                    "best of ours / SUMO actuated (mean delay)",
                    f"`{get(data, 'best_controller')}`: "
                    f"{fmt(get(data, 'ratio_best_vs_actuated'), 'ratio')} (per seed "
                    f"{_mean_range(get(data, 'ratio_best_vs_actuated_per_seed'))})",
                    "<= 0.95",
                ],
                [
                    "best of ours / SUMO actuated at our clearances",
                    fmt(get(data, "ratio_best_vs_actuated_guideline"), "ratio"),
                    "(like for like)",
                ],
                [
                    "... with >= trips and <= teleports, on every seed",
                    fmt_bool(get(data, "best_beats_actuated_every_seed")),
                    "yes",
                ],
                [
                    "ours that meet all three on every seed (read off the evaluation seeds, "
                    "not a pick)",
                    ", ".join(_meeting_the_bar(data)) or "none",
                    "",
                ],
                [
                    "detectors + CV at 30 %: below Webster, no worse than detectors",
                    fmt_bool(get(data, "cv30_below_webster_and_no_worse_than_detectors")),
                    "yes",
                ],
                [
                    "CV only at 30 %: no more delay than Webster, on every seed",
                    fmt_bool(get(data, "cv_only30_no_worse_than_webster_every_seed")),
                    "yes",
                ],
                ["seeds", _listed(get(data, "seeds")), "evaluation seeds"],
            ],
        )
    )


def table_adaptive_sweep(data: dict) -> str:
    """The connected-vehicle penetration sweep of ``signals bench adaptive``: each point on the
    sweep seed(s), and the mean over every seed where the point ran on all of them."""
    sweep = get(data, "penetration_sweep_delay_s") or {}
    first = (get(data, "seeds") or [None])[0]
    rows = []
    for p in sorted(sweep, key=float):
        c = "actuated_det" if p == "0" else f"actuated_det_cv@{p}"
        per = {r["seed"]: r for r in get(data, "controllers", c, "per_seed") or []}
        one = per.get(first, {})
        o = get(data, "controllers", c, "over_seeds")
        every = len(per) == len(get(data, "seeds") or [])
        cv = {r["seed"]: r for r in get(data, "controllers", f"actuated_cv@{p}", "per_seed") or []}
        cv1 = cv.get(first, {})
        rows.append(
            [
                f"{p} %",
                fmt(one.get("avg_delay_s"), "s"),
                fmt(one.get("trips_finished"), "count"),
                fmt(one.get("teleports"), "count"),
                _spread(get(o, "avg_delay_s"), "s") if every else "(seed " + str(first) + " only)",
                fmt(cv1.get("avg_delay_s"), "s") if cv1 else "",
                fmt(cv1.get("trips_finished"), "count") if cv1 else "",
                fmt(cv1.get("teleports"), "count") if cv1 else "",
            ]
        )
    return markdown(
        [
            "CV penetration",
            f"delay, seed {first} (s)",
            f"trips, seed {first}",
            f"teleports, seed {first}",
            "delay, every seed: mean (min-max)",
            f"CV only: delay, seed {first} (s)",
            f"CV only: trips, seed {first}",
            f"CV only: teleports, seed {first}",
        ],
        rows,
    )


ADAPTIVE_CORRIDOR = {
    "webster": "Webster, static",
    "green_wave": "optimizer's corridor plans (one cycle, delay offsets), static",
    "sumo_actuated": "SUMO actuated",
    "actuated_det": "our actuated, free",
    "actuated_det_coord": "our actuated inside the green wave (coordinated)",
}


def table_adaptive_corridor(data: dict) -> str:
    over = {c: get(data, "corridor", c, "over_seeds") for c in ADAPTIVE_CORRIDOR}
    return controllers_table(over, ADAPTIVE_CORRIDOR)


ADAPTIVE_RESCO = {
    "own": "net's own programs (RESCO's fixed time)",
    "max_pressure": "max-pressure",
    "sumo_actuated": "SUMO actuated (the net's change intervals)",
    "sumo_actuated_guideline": "SUMO actuated at our clearances",
    "actuated_det": "our actuated, loop detectors",
}


def table_adaptive_resco(data: dict) -> str:
    """The RESCO part of ``signals bench adaptive``."""
    nets = sorted((get(data, "resco") or {}).items())
    return resco_table(
        [
            (n, lambda c, e=e: get(e, "controllers", c, "over_seeds"), get(e, "resco_published"))
            for n, e in nets
        ],
        ADAPTIVE_RESCO,
    )


Renderer = Callable[[dict], str]

# NAME -> (JSON file(s) under benchmarks/results, function).
REGISTRY: dict[str, tuple[tuple[str, ...], Renderer]] = {
    "pilot-zone": (("pilot-zone.json",), table_pilot_zone),
    "hotpath": (("hotpath.json",), table_hotpath),
    "calibration": (("calibration.json",), table_calibration),
    "accuracy": (("accuracy.json",), table_accuracy),
    "glosa": (("glosa.json",), table_glosa),
    "realnets": (("realnets.json",), table_realnets),
    "fixed-time": (("fixed-time.json",), table_fixed_time),
    "loop": (("loop.json",), table_loop),
    "optimize": (("optimize.json",), table_optimize),
    "optimize-corridor": (("optimize.json",), table_corridor),
    "polish": (("polish.json",), table_polish),
    "rl": (("rl.json",), table_rl),
    "policy": (("policy.json",), table_policy),
    "policy-dagger": (
        ("policy-dagger.json",),
        lambda d: table_policy(d, "policy imitating our actuated control (DAgger, SUMO)"),
    ),
    "resco-rl": (("resco-rl.json",), table_resco_rl),
    "adaptive": (("adaptive.json",), table_adaptive),
    "adaptive-sweep": (("adaptive.json",), table_adaptive_sweep),
    "adaptive-corridor": (("adaptive.json",), table_adaptive_corridor),
    "adaptive-resco": (("adaptive.json",), table_adaptive_resco),
}


# ----------------------------------------------------------------------------- README blocks
BLOCK = re.compile(
    r"^<!-- table: (?P<name>[A-Za-z0-9_.-]+) \((?P<files>[^)]*)\) -->\n"
    r"(?P<body>.*?)^<!-- /table -->$",
    re.MULTILINE | re.DOTALL,
)


def load(files: Sequence[str], root: Path = ROOT) -> dict:
    """The parsed JSON of ``files`` (the last line of each, as ``run_all.sh`` keeps it); a missing
    file reads as ``{}`` (every figure ``n/a``). Several files: ``{stem: parsed}``."""
    parsed = {}
    for f in files:
        path = root / RESULTS / f
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            print(f"tables: {path}: missing, its figures print {NA}", file=sys.stderr)
            parsed[Path(f).stem] = {}
            continue
        parsed[Path(f).stem] = json.loads(text.splitlines()[-1]) if text else {}
    return parsed[Path(files[0]).stem] if len(files) == 1 else parsed


def marker(name: str) -> str:
    files = ", ".join(str(RESULTS / f) for f in REGISTRY[name][0])
    return f"<!-- table: {name} ({files}) -->"


def render(name: str, root: Path = ROOT) -> str:
    """The block for ``name``: its marker, the table from its JSON, the end marker."""
    files, fn = REGISTRY[name]
    return f"{marker(name)}\n{fn(load(files, root))}\n<!-- /table -->"


def update(text: str, root: Path = ROOT) -> tuple[str, list[str], list[str]]:
    """``text`` with every marked block regenerated; the names of blocks that changed, and problems
    (a block with no table in :data:`REGISTRY`, a registry table with no block)."""
    changed: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()

    def sub(m: re.Match) -> str:
        name = m["name"]
        seen.add(name)
        if name not in REGISTRY:
            problems.append(f"{name}: block in README.md but no such table in benchmarks/tables.py")
            return m[0]
        new = render(name, root)
        if new != m[0]:
            changed.append(name)
        return new

    out = BLOCK.sub(sub, text)
    problems += [
        f"{name}: no '{marker(name)}' ... '<!-- /table -->' block in README.md"
        for name in REGISTRY
        if name not in seen
    ]
    return out, changed, problems


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block differs")
    ap.add_argument("--readme", type=Path, default=README)
    args = ap.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new, changed, problems = update(text)
    for p in problems:
        print(f"tables: {p}", file=sys.stderr)
    if args.check:
        for name in changed:
            print(f"tables: {name}: README.md differs from {', '.join(REGISTRY[name][0])}")
        return 1 if changed or problems else 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
    print(
        f"tables: {len(changed)} block(s) rewritten"
        + (f": {', '.join(changed)}" if changed else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
