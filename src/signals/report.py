"""The HTML report of an experiment run (``signals report RUN_DIR``; ``signals run`` writes it at
the end): one self-contained HTML file (every image embedded) and the same figures as PNGs
beside it, in ``RUN_DIR/report/``.

What it shows, from the run's ``results.parquet`` and ``run.json`` (nothing is re-simulated):

* the summary table, scenario x controller: mean and 95 % confidence interval over the seeds of
  average delay, travel time, stops, the 95th-percentile back of queue per lane (HCM lane
  groups: the mean over the groups that queue, and the worst group), trips finished, vehicles left,
  teleports and CO2, each with its change against the baseline controller (the config's first
  controller unless ``--baseline`` names another). The interval is Student's t on the seed
  means, ``t(0.975, n-1) s / sqrt(n)`` (no interval from one seed);
* average delay by controller, bars with those intervals;
* connected against other vehicles (average delay of each group);
* the queue over time per controller (halting vehicles over every approach, per minute, the
  ``time:<t>`` rows of SUMO runs);
* a network map per controller coloured by intersection level of service (HCM 6th ed.,
  exhibit 19-8: control delay thresholds 10 / 20 / 35 / 55 / 80 s, F also where v/c > 1; the
  per-signal ``los`` the evaluator wrote), drawn from the net's own geometry;
* the time-space diagram of the config's corridor (``outputs.corridor``, by default the net's
  first V2X corridor) per controller: the signal states and vehicle trajectories the first
  seed's run recorded (any controller), or the fixed-time plans it ran, and the green bands of
  plans with one cycle (:func:`fig_timespace`);
* the per-intersection table (control delay and LOS per controller), sortable by any column.

Each page checks itself when opened: a script marks ``<body data-images-ok>`` once every image
has loaded and ``data-js-errors`` with the count of script errors, so a headless browser test
can tell a broken page from a good one. matplotlib draws the figures (Agg backend, no display).

Core module: pandas/matplotlib/sumolib only, no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signals.errors import InputError, atomic_write
from signals.evaluate.metrics import LOS_LETTERS, los_letter

REPORT_DIR = "report"
REPORT_HTML = "index.html"

# (metric, label, unit, scale): network-scope figures of the summary table, in order
SUMMARY_METRICS: tuple[tuple[str, str, str, float], ...] = (
    ("avg_delay_s", "average delay", "s", 1.0),
    ("avg_travel_time_s", "travel time", "s", 1.0),
    ("avg_stops", "stops per vehicle", "", 1.0),
    ("lane_queue_p95_veh", "95th-pct back of queue, mean lane group", "veh/ln", 1.0),
    ("lane_queue_p95_max_veh", "95th-pct back of queue, worst lane group", "veh/ln", 1.0),
    ("throughput_veh", "trips finished", "veh", 1.0),
    ("n_unfinished", "vehicles left", "veh", 1.0),
    ("n_teleports", "teleports", "veh", 1.0),
    ("co2_g", "CO2", "kg", 1e-3),
)
# HCM level-of-service colours, A (free) to F (failure)
LOS_COLOURS = dict(
    zip(
        LOS_LETTERS, ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"), strict=True
    )
)


@dataclass(frozen=True)
class Interval:
    """Mean and 95 % confidence half-width over ``n`` seeds (half-width NaN for one seed)."""

    mean: float
    half_width: float
    n: int


def ci95(values) -> Interval:
    """Mean and Student-t 95 % half-width ``t(0.975, n-1) s / sqrt(n)`` of ``values``."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    if n == 1:
        return Interval(float(v[0]), math.nan, 1)
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(float(v.mean()), half, n)


# ----------------------------------------------------------------------------- loading
def load_run(run_dir: str | Path):
    """(results DataFrame, run.json dict) of a ``signals run`` output directory."""
    import pandas as pd

    run_dir = Path(run_dir)
    results, meta = run_dir / "results.parquet", run_dir / "run.json"
    for p, what in ((results, "the run's combined results"), (meta, "the run record")):
        if not p.is_file():
            raise InputError(p, "file", f"{what} (a `signals run` output directory)", "missing")
    try:
        record = json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(meta, "json", "a JSON run record", f"invalid JSON ({exc.msg})") from None
    df = pd.read_parquet(results)
    if df.empty:
        raise InputError(results, "rows", "at least one finished run", "none")
    return df, record


def controllers_in_order(df, record: dict) -> list[str]:
    """The config's controller order (labels of the runs that finished), then any others."""
    cfg = (record.get("config") or {}).get("run", {}).get("controllers", [])
    have = list(dict.fromkeys(df["controller"].astype(str)))
    return [c for c in cfg if c in have] + [c for c in have if c not in cfg]


# ----------------------------------------------------------------------------- tables
def summary(df, baseline: str | None = None, controllers: list[str] | None = None) -> list[dict]:
    """One row per (scenario, controller): an :class:`Interval` per summary metric and the
    change of its mean against ``baseline``'s in the same scenario (fraction; NaN where the
    baseline did not run or its mean is 0)."""
    net = df[df["scope"] == "network"]
    controllers = controllers or list(dict.fromkeys(df["controller"].astype(str)))
    baseline = baseline or controllers[0]
    rows = []
    for scenario in dict.fromkeys(df["scenario"].astype(str)):
        cells: dict[str, dict[str, Interval]] = {}
        for c in controllers:
            part = net[(net["scenario"] == scenario) & (net["controller"] == c)]
            if part.empty:
                continue
            cells[c] = {
                m: ci95(part.loc[part["metric"] == m, "value"].astype(float) * scale)
                for m, _, _, scale in SUMMARY_METRICS
            }
        for c, figs in cells.items():
            base = cells.get(baseline)
            change = {}
            for m in figs:
                b = base[m].mean if base else math.nan
                change[m] = (figs[m].mean - b) / b if b and math.isfinite(b) else math.nan
            rows.append(
                {
                    "scenario": scenario,
                    "controller": c,
                    "baseline": c == baseline,
                    "figures": figs,
                    "change": change,
                    "n_seeds": max(i.n for i in figs.values()),
                }
            )
    return rows


def per_signal(df, controllers: list[str]):
    """Signal x controller mean control delay (s), LOS letter and the worst lane group's
    95th-percentile back of queue (veh/ln) over every scenario and seed."""
    import pandas as pd

    sig = df[df["scope"].astype(str).str.startswith("signal:")]
    out = pd.DataFrame(index=sorted(set(sig["scope"].str.slice(len("signal:")))))
    for c in controllers:
        part = sig[sig["controller"] == c]
        d = part[part["metric"] == "control_delay_s"].groupby("scope")["value"].mean()
        los = part[part["metric"] == "los"].groupby("scope")["value"].mean()
        q = part[part["metric"] == "lane_queue_p95_max_veh"].groupby("scope")["value"].mean()
        out[f"{c} delay"] = d.rename(lambda s: s[len("signal:") :])
        out[f"{c} LOS"] = los.rename(lambda s: s[len("signal:") :]).map(los_letter)
        if not q.empty:
            out[f"{c} Q95"] = q.rename(lambda s: s[len("signal:") :])
    return out


# ----------------------------------------------------------------------------- figures
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_delay(rows: list[dict]) -> bytes:
    """Average delay by controller (one group per scenario), bars with 95 % intervals."""
    plt = _pyplot()
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    controllers = list(dict.fromkeys(r["controller"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(controllers) * len(scenarios)), 3.6))
    w = 0.8 / max(len(controllers), 1)
    for j, c in enumerate(controllers):
        xs, ys, es = [], [], []
        for i, s in enumerate(scenarios):
            r = next((r for r in rows if r["scenario"] == s and r["controller"] == c), None)
            if r is None:
                continue
            iv = r["figures"]["avg_delay_s"]
            xs.append(i + (j - (len(controllers) - 1) / 2) * w)
            ys.append(iv.mean)
            es.append(iv.half_width)  # NaN (one seed): no error bar
        ax.bar(xs, ys, w * 0.9, label=c)
        if any(math.isfinite(e) for e in es):
            ax.errorbar(xs, ys, yerr=es, fmt="none", ecolor="k", capsize=3)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("average delay (s)")
    ax.set_title("Average delay per vehicle, mean and 95 % interval over seeds")
    ax.legend(fontsize=8, ncol=min(len(controllers), 4))
    return _png(fig)


def fig_connected(df, controllers: list[str]) -> bytes | None:
    """Average delay of connected and other vehicles per controller (None if no split)."""
    part = df[df["metric"] == "avg_delay_s"]
    con = part[part["scope"] == "network:connected"].groupby("controller")["value"].mean()
    oth = part[part["scope"] == "network:other"].groupby("controller")["value"].mean()
    if con.empty or oth.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(controllers)), 3.2))
    x = np.arange(len(controllers))
    ax.bar(x - 0.2, [con.get(c, np.nan) for c in controllers], 0.4, label="connected")
    ax.bar(x + 0.2, [oth.get(c, np.nan) for c in controllers], 0.4, label="other")
    ax.set_xticks(x, controllers, rotation=30 if len(controllers) > 4 else 0, ha="right")
    ax.set_ylabel("average delay (s)")
    ax.set_title("Connected vs other vehicles (mean over scenarios and seeds)")
    ax.legend(fontsize=8)
    return _png(fig)


def fig_queue_time(df, controllers: list[str]) -> bytes | None:
    """The queue over time (halting vehicles over every approach, per minute), one line per
    controller (mean over seeds), one panel per scenario; None where the runs sampled none."""
    part = df[
        (df["metric"] == "queue_window_mean_veh") & df["scope"].astype(str).str.startswith("time:")
    ]
    if part.empty:
        return None
    plt = _pyplot()
    scenarios = list(dict.fromkeys(part["scenario"].astype(str)))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.5 * len(scenarios), 3.4), squeeze=False)
    for ax, sc in zip(axes[0], scenarios, strict=True):
        for c in controllers:
            one = part[(part["scenario"] == sc) & (part["controller"] == c)]
            if one.empty:
                continue
            t = one["scope"].str.slice(len("time:")).astype(float)
            series = one.assign(t=t).groupby("t")["value"].mean()
            ax.plot(series.index / 60.0, series.values, label=c)
        ax.set_xlabel("simulation time (min)")
        ax.set_ylabel("halting vehicles")
        ax.set_title(f"{sc}: queue over time (all approaches, mean over seeds)", fontsize=9)
        ax.legend(fontsize=7)
    return _png(fig)


def fig_timespace(run_dir: Path, net_path: Path, record: dict, controllers: list[str]):
    """The time-space diagram of the config's corridor (``outputs.corridor``; the net's first
    V2X corridor by default) per controller, over ``outputs.timespace_s`` from the start
    (:func:`signals.timespace.plot_timespace`), from the first seed's run of each (of the first
    scenario by name):

    * the signal states each signal showed and the vehicles' trajectories where the run
      recorded them (``outputs.trajectories``: every SUMO controller, adaptive ones included);
    * else the fixed-time plans it ran (the net's own programs for ``default``, the plans a
      Webster or CP-SAT run kept), signal bars only;
    * bands where the plans share one cycle.

    Returns [(name, alt, png, note)]; [] where the net has no corridor or the window is 0."""
    import tempfile

    from signals.network import Network
    from signals.plans import PlanSet, read_schedule
    from signals.timespace import (
        FCD_FILE,
        STATES_FILE,
        find_corridor,
        plot_timespace,
        read_fcd,
        read_switch_states,
    )

    cfg = record.get("config") or {}
    outputs = cfg.get("outputs") or {}
    window_s = float(outputs.get("timespace_s", 600.0))
    if window_s <= 0:
        return []
    net = Network.from_sumo(net_path)
    try:
        cor = find_corridor(net, outputs.get("corridor", ""))
    except InputError:  # the net changed under the run: no diagram rather than no report
        return []
    if cor is None:
        return []
    t0 = float((cfg.get("sim") or {}).get("begin_s", 0.0))
    t1 = t0 + window_s
    seeds = (cfg.get("run") or {}).get("seeds") or []
    out = []
    for c in controllers:
        runs = sorted((run_dir / "runs").glob(f"*__{c}__s*"))
        first = [d for d in runs if seeds and d.name.endswith(f"__s{seeds[0]}")] or runs
        if not first:
            continue
        d = first[0]
        plans = None
        if c == "default":
            plans = PlanSet.from_network(net).plans
        elif (d / f"{c}.add.xml").is_file():
            plans = next(iter(read_schedule(d / f"{c}.add.xml", net).ordered()))[3].plans
        states, trajectories = None, []
        if (d / STATES_FILE).is_file() and (d / FCD_FILE).is_file():
            states = read_switch_states(d / STATES_FILE, cor.signals)
            trajectories = read_fcd(d / FCD_FILE, cor, net, t0, t1)
        have = {s for s in cor.signals if s in (plans or {}) or s in (states or {})}
        if have != set(cor.signals):
            continue
        with tempfile.TemporaryDirectory(prefix="signals-report-") as tmp:
            stem = Path(tmp) / "ts"
            drawn = plot_timespace(
                net,
                cor,
                plans,
                t0,
                t1,
                stem,
                trajectories,
                title=f"{c}: corridor {cor.name}, {d.name}",
                states=states,
                formats=("png",),
            )
            png = stem.with_suffix(".png").read_bytes()
        bands = drawn["bands"]
        note = (
            f"band outbound {bands['outbound']['width']:.0%}, inbound "
            f"{bands['inbound']['width']:.0%} of the cycle"
            if bands
            else "no band (no common fixed-time cycle)"
        )
        note += f"; {len(trajectories)} vehicles" if states else "; no recording (plans only)"
        out.append((f"timespace-{c}", f"time-space diagram, {c}", png, note))
    return out


def net_geometry(net_path: str | Path):
    """(edge polylines, {signal id: (x, y)}) of a SUMO net, non-internal edges only."""
    import sumolib

    net = sumolib.net.readNet(str(net_path), withInternal=False)
    lines = [np.asarray(e.getShape(), dtype=float) for e in net.getEdges()]
    pos = {}
    for tls in net.getTrafficLights():
        pts = [n.getCoord() for n in {c[0].getEdge().getToNode() for c in tls.getConnections()}]
        if pts:
            pos[tls.getID()] = tuple(np.mean(np.asarray(pts, dtype=float), axis=0))
    return lines, pos


def fig_los_map(geometry, los_by_signal: dict[str, str], title: str) -> bytes:
    """The net's edges in grey, each signal a dot coloured by its level of service."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    plt = _pyplot()
    lines, pos = geometry
    fig, ax = plt.subplots(figsize=(6.0, 5.0))
    ax.add_collection(LineCollection(lines, colors="#b0b0b0", linewidths=0.6))
    for letter in LOS_LETTERS:
        pts = [pos[s] for s, los in los_by_signal.items() if los == letter and s in pos]
        if pts:
            xy = np.asarray(pts)
            ax.scatter(
                xy[:, 0],
                xy[:, 1],
                s=22,
                c=LOS_COLOURS[letter],
                edgecolors="k",
                linewidths=0.3,
                zorder=3,
            )
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    handles = [
        Line2D([], [], marker="o", ls="", color=LOS_COLOURS[x], label=f"LOS {x}")
        for x in LOS_LETTERS
    ]
    ax.legend(handles=handles, fontsize=7, loc="lower right", ncol=2)
    return _png(fig)


# ----------------------------------------------------------------------------- page
_CSS = """body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;
margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#eee;
cursor:pointer}td:first-child,th:first-child{text-align:left}.base{font-weight:bold}
.better{color:#1a7f37}.worse{color:#b42318}img{max-width:100%}figure{display:inline-block;
margin:.5em}"""
# marks the page's own health for headless checks; sorts a table by the clicked header
_JS = """window.signalsErrors=0;window.addEventListener('error',function(){window.signalsErrors++;
document.body.setAttribute('data-js-errors',String(window.signalsErrors));});
window.addEventListener('load',function(){var ok=Array.prototype.every.call(document.images,
function(i){return i.complete&&i.naturalWidth>0;});document.body.setAttribute('data-images-ok',
String(ok));document.body.setAttribute('data-js-errors',String(window.signalsErrors));});
function sortTable(th){var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.
children,th),rows=Array.prototype.slice.call(t.tBodies[0].rows),asc=th.dataset.asc!=='1';
rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v
||b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);var c=(isNaN(nx)||isNaN(ny))?x.
localeCompare(y):nx-ny;return asc?c:-c;});rows.forEach(function(r){t.tBodies[0].appendChild(r);});
th.dataset.asc=asc?'1':'0';}"""


def _num(v: float, digits: int = 1) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:,.{digits}f}"


def _cell(iv: Interval, digits: int) -> str:
    if not math.isfinite(iv.half_width):
        return _num(iv.mean, digits)
    return f"{_num(iv.mean, digits)} &plusmn; {_num(iv.half_width, digits)}"


def _summary_html(rows: list[dict]) -> str:
    head = "".join(
        f"<th>{html.escape(lbl)}{' (' + u + ')' if u else ''}</th>"
        for _, lbl, u, _ in SUMMARY_METRICS
    )
    out = [
        f"<table id='summary'><thead><tr><th>scenario</th><th>controller</th><th>seeds</th>{head}</tr></thead><tbody>"
    ]
    for r in rows:
        cls = " class='base'" if r["baseline"] else ""
        cells = []
        for m, _, _, _ in SUMMARY_METRICS:
            iv, ch = r["figures"][m], r["change"][m]
            digits = (
                2
                if m == "avg_stops"
                else (0 if m in ("throughput_veh", "n_unfinished", "n_teleports") else 1)
            )
            txt = _cell(iv, digits)
            if not r["baseline"] and math.isfinite(ch):
                good = ch < 0 if m != "throughput_veh" else ch > 0
                txt += f"<br><span class='{'better' if good else 'worse'}'>{ch:+.1%}</span>"
            cells.append(f"<td data-v='{iv.mean}'>{txt}</td>")
        out.append(
            f"<tr{cls}><td>{html.escape(r['scenario'])}</td><td>{html.escape(r['controller'])}</td>"
            f"<td>{r['n_seeds']}</td>{''.join(cells)}</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _signals_html(table) -> str:
    cols = list(table.columns)
    out = ["<table id='signals'><thead><tr><th onclick='sortTable(this)'>signal</th>"]
    out += [f"<th onclick='sortTable(this)'>{html.escape(c)}</th>" for c in cols]
    out.append("</tr></thead><tbody>")
    for sid, row in table.iterrows():
        out.append(f"<tr><td>{html.escape(str(sid))}</td>")
        for c in cols:
            v = row[c]
            if c.endswith((" delay", " Q95")):
                out.append(f"<td data-v='{v}'>{_num(float(v))}</td>")
            else:
                letter = v if isinstance(v, str) else ""
                code = LOS_LETTERS.index(letter) + 1 if letter else 99
                out.append(f"<td data-v='{code}'>{letter or 'n/a'}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(png: bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (
        f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>{cap}</figure>"
    )


def network_path(record: dict, run_dir: Path) -> Path | None:
    """The net the run used (``run.json`` ``net``), or None when it is not recorded or gone."""
    p = record.get("net")
    if not p:
        return None
    p = Path(p)
    if not p.is_absolute():
        p = (run_dir / p).resolve()
    return p if p.is_file() else None


def write_report(run_dir: str | Path, baseline: str | None = None) -> Path:
    """Write ``RUN_DIR/report/index.html`` (and its PNGs) and return the HTML path."""
    run_dir = Path(run_dir)
    df, record = load_run(run_dir)
    controllers = controllers_in_order(df, record)
    if baseline is not None and baseline not in controllers:
        raise InputError("command line", "--baseline", " | ".join(controllers), baseline)
    rows = summary(df, baseline, controllers)
    figures: list[tuple[str, str, bytes]] = [
        ("delay", "average delay by controller", fig_delay(rows))
    ]
    con = fig_connected(df, controllers)
    if con is not None:
        figures.append(("connected", "connected vs other vehicles", con))
    queue = fig_queue_time(df, controllers)
    if queue is not None:
        figures.append(("queue-time", "queue over time", queue))
    net = network_path(record, run_dir)
    sig_table = per_signal(df, controllers)
    maps: list[tuple[str, str, bytes]] = []
    if net is not None and not sig_table.empty:
        geo = net_geometry(net)
        for c in controllers:
            col = sig_table.get(f"{c} LOS")
            if col is None:
                continue
            los = {s: v for s, v in col.items() if isinstance(v, str) and v}
            maps.append(
                (f"los-{c}", f"LOS map, {c}", fig_los_map(geo, los, f"{c}: intersection LOS"))
            )
    spaces = fig_timespace(run_dir, net, record, controllers) if net is not None else []
    out_dir = run_dir / REPORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, _, png in figures + maps + [x[:3] for x in spaces]:
        with atomic_write(out_dir / f"{name}.png", "wb") as fh:
            fh.write(png)
    name = html.escape(str(record.get("experiment", run_dir.name)))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>signals report: {name}</title><style>{_CSS}</style><script>{_JS}</script></head>",
        "<body data-images-ok='false' data-js-errors='0'>",
        f"<h1>Experiment {name}</h1>",
        f"<p>Run directory <code>{html.escape(str(run_dir))}</code>; git revision "
        f"<code>{html.escape(str(record.get('git_revision', '?')))}</code>; baseline "
        f"<b>{html.escape(baseline or controllers[0])}</b>. Figures are means with 95 % intervals "
        "(Student t) over the seeds; changes are against the baseline's mean.</p>",
        "<h2>Summary</h2>",
        _summary_html(rows),
        "<h2>Delay</h2>",
        "".join(_img(png, alt) for _, alt, png in figures),
    ]
    if not maps:
        why = "the run record names no net file" if net is None else "no per-signal figures"
        parts.append(f"<p>No level-of-service map: {why}.</p>")
    else:
        parts += [
            "<h2>Level of service by intersection</h2>",
            "<p>HCM control-delay thresholds 10 / 20 / 35 / 55 / 80 s (F also at v/c &gt; 1).</p>",
            "".join(_img(png, alt) for _, alt, png in maps),
        ]
    if spaces:
        parts += [
            "<h2>The corridor</h2><p>Time-space diagrams: distance along the corridor against "
            "time; the state of each direction's movement at every signal (bars), the vehicles "
            "of the first seed's run (lines: outbound blue, inbound purple) and, for fixed-time "
            "plans of one cycle, the green bands; one per controller.</p>",
            "".join(_img(png, alt, note) for _, alt, png, note in spaces),
        ]
    if not sig_table.empty:
        parts += [
            "<h2>Intersections</h2><p>Control delay (s), LOS and Q95, the 95th-percentile "
            "back of queue of the intersection's worst HCM lane group (veh/ln), mean over "
            "scenarios and seeds; click a column to sort.</p>",
            _signals_html(sig_table),
        ]
    failed = sorted(r for r, s in (record.get("runs") or {}).items() if s != "ok")
    if failed:
        parts.append(
            f"<p class='worse'>Failed runs (not in the figures): {html.escape(', '.join(failed))}</p>"
        )
    parts.append("</body></html>")
    page = out_dir / REPORT_HTML
    with atomic_write(page) as fh:
        fh.write("\n".join(parts))
    return page
