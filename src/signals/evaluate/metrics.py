"""The one definition of every metric, shared by SUMO runs and the vectorized queue model.

Results are a long table with the columns of :data:`COLUMNS`::

    run_id, scenario, controller, seed, scope, metric, value, unit

``scope`` is ``"network"``, ``"network:connected"``, ``"network:other"``, ``"signal:<tls id>"``,
``"approach:<edge id>"``, ``"lanegroup:<edge id>:<movements>"`` or ``"time:<t>"``. Every metric name is listed in :data:`METRICS` with its unit and its
definition; :func:`results_frame` refuses names that are not there, so a metric means the same
thing whichever evaluator produced it.

Builders turn arrays into rows:

* :func:`vehicle_rows` -- per-vehicle trip records (SUMO tripinfo) -> delay, travel time, stops,
  throughput, emissions, network-wide and split connected vs other;
* :func:`approach_rows` -- per-approach time loss, entering vehicles and capacity -> control delay,
  v/c and HCM LOS per approach, per intersection and network-wide;
* :func:`queue_rows` -- sampled queue lengths per approach -> mean / max / 95th percentile;
* :func:`lane_group_queue_rows` -- the same per HCM lane group, per lane (the HCM's figures).

No SUMO import here (docs/architecture.md, "Layers": core modules never import traci/libsumo).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from signals.errors import atomic_path, atomic_write

COLUMNS = ("run_id", "scenario", "controller", "seed", "scope", "metric", "value", "unit")

NETWORK = "network"
CONNECTED = "network:connected"
OTHER = "network:other"

# HCM 6th ed., Chapter 19 (Signalized Intersections), Exhibit 19-8: LOS by control delay per
# vehicle (s/veh) -- A <= 10, B <= 20, C <= 35, D <= 55, E <= 80, F > 80 -- and LOS F whenever the
# volume-to-capacity ratio exceeds 1.0, whatever the delay.
LOS_LETTERS = "ABCDEF"
LOS_DELAY_LIMITS_S = (10.0, 20.0, 35.0, 55.0, 80.0)

# name -> (unit, definition). The single place where a metric is defined.
METRICS: dict[str, tuple[str, str]] = {
    # -- per vehicle (tripinfo), scopes network / network:connected / network:other
    "avg_delay_s": (
        "s",
        "mean of timeLoss + departDelay over every vehicle of the horizon: finished, still running "
        "and not yet inserted at the end (RESCO definition, Ault & Sharon, NeurIPS 2021)",
    ),
    "avg_delay_finished_s": ("s", "mean of timeLoss + departDelay over finished trips"),
    "avg_travel_time_s": ("s", "mean trip duration of finished trips (SUMO 'Duration')"),
    "avg_waiting_time_s": (
        "s",
        "mean time at speed < 0.1 m/s, finished trips (SUMO 'WaitingTime')",
    ),
    "avg_time_loss_s": ("s", "mean timeLoss of finished trips (SUMO 'TimeLoss')"),
    "avg_depart_delay_s": ("s", "mean departDelay of finished trips (SUMO 'DepartDelay')"),
    "avg_stops": ("1/veh", "mean number of stops (tripinfo waitingCount), finished trips"),
    "throughput_veh": ("veh", "trips finished within the horizon"),
    "n_vehicles": ("veh", "vehicles counted by avg_delay_s: finished + running + not yet inserted"),
    "n_unfinished": ("veh", "vehicles still running or not yet inserted at the end"),
    "n_running": ("veh", "vehicles in the network at the end"),
    "n_undeparted": ("veh", "vehicles due before the end but not yet inserted"),
    "co2_g": ("g", "total CO2 emitted (SUMO emissions device, HBEFA), all vehicles"),
    "fuel_g": ("g", "total fuel used (SUMO emissions device), all vehicles"),
    # -- simulation-wide counts
    "n_teleports": ("veh", "SUMO teleports (jam, yield, wrong lane), a sign of gridlock"),
    # SUMO's causes (statistic output, teleports jam / yield / wrongLane): a vehicle stood
    # --time-to-teleport seconds blocked by the vehicles ahead, waiting at a junction for a gap
    # in the traffic it yields to, or unable to reach the lane its route needs
    "n_teleports_jam": ("veh", "SUMO teleports of vehicles blocked by a jam"),
    "n_teleports_yield": ("veh", "SUMO teleports of vehicles waiting to yield at a junction"),
    "n_teleports_wrong_lane": ("veh", "SUMO teleports of vehicles unable to change lanes"),
    "n_collisions": ("veh", "SUMO collisions"),
    # -- per approach / intersection / network
    "control_delay_s": (
        "s",
        "time loss accumulated on the approach edges (plus the junction's internal edges for an "
        "intersection) per vehicle entering them; the simulated analogue of HCM 6th ed. Ch. 19 "
        "control delay (deceleration, stopped, move-up and acceleration delay)",
    ),
    "los": ("A=1..F=6", "HCM 6th ed. Exhibit 19-8 level of service from control_delay_s and v/c"),
    "vc_ratio": (
        "1",
        "demand flow / capacity; capacity = saturation flow x green share of each movement "
        "(HCM 6th ed. Eq. 19-16, c = s g/C); an intersection takes its worst approach",
    ),
    "flow_vph": ("veh/h", "vehicles entering the approach (demand), per hour"),
    "capacity_vph": (
        "veh/h",
        "saturation flow x green share, summed over the approach's movements",
    ),
    "queue_mean_veh": (
        "veh",
        "mean halting vehicles of an approach over the samples (intersection, network: the "
        "mean over the approaches that queue)",
    ),
    "queue_max_veh": ("veh", "largest halting-vehicle count of any approach in any sample"),
    "queue_p95_veh": (
        "veh",
        "95th-percentile back of queue of an approach over the samples (intersection, network: "
        "the mean over the approaches that queue)",
    ),
    "queue_total_mean_veh": (
        "veh",
        "mean over samples of the halting vehicles summed over approaches",
    ),
    "queue_total_max_veh": (
        "veh",
        "max over samples of the halting vehicles summed over approaches",
    ),
    # scope lanegroup:<edge>:<movements> (HCM lane groups, signals.lanes.LaneGroups), and
    # per intersection and network over the lane groups that queue
    "lane_queue_mean_veh": (
        "veh/ln",
        "mean back of queue per lane of an HCM lane group (halting vehicles on its lanes / its "
        "lanes) over the samples (intersection, network: the mean over the groups that queue)",
    ),
    "lane_queue_p95_veh": (
        "veh/ln",
        "95th-percentile back of queue per lane of an HCM lane group over the analysis period "
        "(HCM 6th ed. Ch. 31; intersection, network: the mean over the groups that queue)",
    ),
    "lane_queue_p95_max_veh": (
        "veh/ln",
        "the largest 95th-percentile back of queue per lane of any lane group (the one to "
        "check against its storage)",
    ),
    # scope time:<t> (t: end of the window, simulation seconds): the queue over time
    "queue_window_mean_veh": (
        "veh",
        "halting vehicles summed over approaches, mean over the samples of the window ending at t",
    ),
}

# Per-vehicle metrics split by vehicle class (docs/architecture.md, "Metrics": every figure split
# connected vs other).
VEHICLE_METRICS = (
    "avg_delay_s",
    "avg_delay_finished_s",
    "avg_travel_time_s",
    "avg_waiting_time_s",
    "avg_time_loss_s",
    "avg_depart_delay_s",
    "avg_stops",
    "throughput_veh",
    "n_vehicles",
    "n_unfinished",
    "n_running",
    "n_undeparted",
    "co2_g",
    "fuel_g",
)


class Row(NamedTuple):
    """One (scope, metric, value) triple; the unit comes from :data:`METRICS`."""

    scope: str
    metric: str
    value: float


def signal_scope(signal_id: str) -> str:
    return f"signal:{signal_id}"


def approach_scope(edge_id: str) -> str:
    return f"approach:{edge_id}"


def lane_group_scope(group_id: str) -> str:
    return f"lanegroup:{group_id}"


def time_scope(t_s: float) -> str:
    return f"time:{t_s:g}"


def queue_series_rows(
    queue_veh: np.ndarray, begin_s: float, sample_s: float, window_s: float = 60.0
) -> list[Row]:
    """The queue over time: per window of ``window_s``, the mean over its samples of the
    halting vehicles summed over every approach (scope ``time:<window end>``; a last, partial
    window ends at the last sample).

    Args:
        queue_veh: (T, A) halting vehicles per sample and approach, sample k taken at
            ``begin_s + (k + 1) * sample_s``.
    """
    q = np.asarray(queue_veh, dtype=float)
    if q.ndim != 2 or q.shape[0] == 0 or sample_s <= 0:
        return []
    total = q.sum(axis=1)
    t = begin_s + sample_s * np.arange(1, len(total) + 1)
    end = begin_s + window_s * np.ceil((t - begin_s) / window_s - 1e-9)
    end = np.minimum(end, t[-1])  # a last, partial window ends at the last sample
    rows = []
    for w in np.unique(end):
        rows.append(
            Row(time_scope(float(w)), "queue_window_mean_veh", float(total[end == w].mean()))
        )
    return rows


# ---------------------------------------------------------------------------------------- LOS
def hcm_los(delay_s, vc=None):
    """HCM level of service from control delay and (optionally) the v/c ratio.

    HCM 6th ed., Exhibit 19-8: A <= 10 s, B <= 20, C <= 35, D <= 55, E <= 80, F above 80 s or
    whenever v/c > 1.0. A NaN delay gives '' unless v/c > 1 (then 'F').

    Args:
        delay_s: control delay per vehicle, scalar or array of any shape.
        vc: volume-to-capacity ratio, scalar or array broadcastable to ``delay_s``; NaN ignored.

    Returns:
        A letter for scalar input, else an array of letters (dtype '<U1') of the broadcast shape.
    """
    d = np.asarray(delay_s, dtype=float)
    idx = np.searchsorted(np.asarray(LOS_DELAY_LIMITS_S), d, side="left")
    idx = np.where(np.isnan(d), -1, idx)
    if vc is not None:
        v = np.asarray(vc, dtype=float)
        idx = np.where(np.nan_to_num(v, nan=0.0) > 1.0, len(LOS_LETTERS) - 1, idx)
    letters = np.array(list(LOS_LETTERS) + [""])
    out = letters[idx]
    if out.ndim == 0:
        return str(out)
    return out


def los_code(letter) -> float:
    """Numeric code stored in the ``value`` column for a LOS letter: A=1 ... F=6, '' -> NaN."""
    return float(LOS_LETTERS.index(letter) + 1) if letter else math.nan


def los_letter(code: float) -> str:
    """Inverse of :func:`los_code`."""
    if code is None or not np.isfinite(code):
        return ""
    return LOS_LETTERS[int(round(code)) - 1]


# ------------------------------------------------------------------------------- per vehicle
@dataclass(frozen=True)
class VehicleRecords:
    """Per-vehicle trip records, e.g. from SUMO tripinfo with write-unfinished/-undeparted.

    Shapes: all arrays (N,) for N vehicles of the horizon. A vehicle is *finished* (arrived),
    *running* (departed, not arrived) or *undeparted* (due, never inserted).

    Attributes:
        depart_delay_s: insertion delay; for undeparted vehicles the wait until the end.
        time_loss_s: time lost against driving at the desired speed (0 for undeparted).
        duration_s: trip duration (up to the end for running vehicles, 0 for undeparted).
        waiting_time_s: time at speed < 0.1 m/s.
        stops: number of stops (tripinfo waitingCount).
        departed: True once inserted.
        finished: True when arrived.
        connected: True for connected (V2X) vehicles.
        co2_g, fuel_g: emissions over the part of the trip driven (0 where unknown).
    """

    depart_delay_s: np.ndarray
    time_loss_s: np.ndarray
    duration_s: np.ndarray
    waiting_time_s: np.ndarray
    stops: np.ndarray
    departed: np.ndarray
    finished: np.ndarray
    connected: np.ndarray
    co2_g: np.ndarray
    fuel_g: np.ndarray

    def __post_init__(self):
        n = len(self.depart_delay_s)
        for name in self.__dataclass_fields__:
            a = getattr(self, name)
            if np.shape(a) != (n,):
                raise ValueError(
                    f"VehicleRecords.{name}: expected shape ({n},), found {np.shape(a)}"
                )

    @property
    def n(self) -> int:
        return len(self.depart_delay_s)

    def subset(self, mask: np.ndarray) -> VehicleRecords:
        return VehicleRecords(
            **{k: np.asarray(getattr(self, k))[mask] for k in self.__dataclass_fields__}
        )


def _mean(a: np.ndarray) -> float:
    return float(np.mean(a)) if len(a) else math.nan


def vehicle_metrics(v: VehicleRecords) -> dict[str, float]:
    """The per-vehicle metrics of :data:`VEHICLE_METRICS` for one set of vehicles."""
    fin = np.asarray(v.finished, dtype=bool)
    dep = np.asarray(v.departed, dtype=bool)
    # RESCO delay (Ault & Sharon 2021, "Reinforcement Learning Benchmarks for Traffic Signal
    # Control"): timeLoss + departDelay per vehicle; undeparted vehicles contribute their wait.
    delay = np.asarray(v.time_loss_s, float) + np.maximum(np.asarray(v.depart_delay_s, float), 0.0)
    return {
        "avg_delay_s": _mean(delay),
        "avg_delay_finished_s": _mean(delay[fin]),
        "avg_travel_time_s": _mean(np.asarray(v.duration_s, float)[fin]),
        "avg_waiting_time_s": _mean(np.asarray(v.waiting_time_s, float)[fin]),
        "avg_time_loss_s": _mean(np.asarray(v.time_loss_s, float)[fin]),
        "avg_depart_delay_s": _mean(np.asarray(v.depart_delay_s, float)[fin]),
        "avg_stops": _mean(np.asarray(v.stops, float)[fin]),
        "throughput_veh": float(fin.sum()),
        "n_vehicles": float(v.n),
        "n_unfinished": float((~fin).sum()),
        "n_running": float((dep & ~fin).sum()),
        "n_undeparted": float((~dep).sum()),
        "co2_g": float(np.sum(v.co2_g)),
        "fuel_g": float(np.sum(v.fuel_g)),
    }


def vehicle_rows(v: VehicleRecords) -> list[Row]:
    """Rows for scopes network, network:connected and network:other."""
    con = np.asarray(v.connected, dtype=bool)
    rows: list[Row] = []
    for scope, part in ((NETWORK, v), (CONNECTED, v.subset(con)), (OTHER, v.subset(~con))):
        rows += [Row(scope, k, val) for k, val in vehicle_metrics(part).items()]
    return rows


# ------------------------------------------------------------------- approaches and signals
def approach_rows(
    approach_ids: Sequence[str],
    approach_signal: np.ndarray,
    signal_ids: Sequence[str],
    time_loss_s: np.ndarray,
    entering_veh: np.ndarray,
    duration_s: float,
    capacity_vps: np.ndarray | None = None,
    junction_time_loss_s: np.ndarray | None = None,
) -> list[Row]:
    """Control delay, flow, capacity, v/c and LOS per approach, per intersection and network-wide.

    Control delay = time loss on the approach / vehicles entering it: SUMO's timeLoss is the time
    lost against driving at the desired speed, so on an approach it sums deceleration, stopped,
    queue move-up and (on the junction's internal edges) acceleration delay -- the components
    of HCM 6th ed. Ch. 19 control delay.

    Args:
        approach_ids: (A,) incoming edge ids.
        approach_signal: (A,) signal index of each approach.
        signal_ids: (S,) signal ids.
        time_loss_s: (A,) total time loss of all vehicles on each approach, s.
        entering_veh: (A,) vehicles that entered or were inserted on each approach.
        duration_s: length of the observation, s (for flows).
        capacity_vps: (A,) capacity in veh/s (saturation flow x green share), or None.
        junction_time_loss_s: (S,) time loss on each signal's internal (junction) edges, or None.

    Returns:
        Rows for scopes approach:<edge>, signal:<id> and network.
    """
    A, S = len(approach_ids), len(signal_ids)
    sig = np.asarray(approach_signal, dtype=np.int64).reshape(A)
    tl = np.asarray(time_loss_s, float).reshape(A)
    n_in = np.asarray(entering_veh, float).reshape(A)
    cap = np.full(A, np.nan) if capacity_vps is None else np.asarray(capacity_vps, float).reshape(A)
    jtl = np.zeros(S) if junction_time_loss_s is None else np.asarray(junction_time_loss_s, float)
    dur = max(float(duration_s), 1e-9)

    with np.errstate(divide="ignore", invalid="ignore"):
        a_delay = np.where(n_in > 0, tl / n_in, np.nan)
        a_flow = n_in / dur
        a_vc = np.where(cap > 0, a_flow / cap, np.where(a_flow > 0, np.inf, 0.0))
        a_vc = np.where(np.isnan(cap), np.nan, a_vc)
        s_tl = np.bincount(sig, weights=tl, minlength=S) + jtl
        s_in = np.bincount(sig, weights=n_in, minlength=S)
        s_delay = np.where(s_in > 0, s_tl / s_in, np.nan)
        s_flow = s_in / dur
        s_cap = np.bincount(sig, weights=np.nan_to_num(cap), minlength=S)
    # A rough stand-in for HCM's critical v/c (Eq. 19-29): the worst approach of the intersection.
    s_vc = np.full(S, np.nan)
    if A:
        finite = ~np.isnan(a_vc)
        np.fmax.at(s_vc, sig[finite], a_vc[finite])
    a_los = hcm_los(a_delay, a_vc)
    s_los = hcm_los(s_delay, s_vc)

    rows: list[Row] = []
    for i, e in enumerate(approach_ids):
        sc = approach_scope(e)
        rows += [
            Row(sc, "control_delay_s", float(a_delay[i])),
            Row(sc, "los", los_code(a_los[i])),
            Row(sc, "flow_vph", float(a_flow[i] * 3600.0)),
            Row(sc, "capacity_vph", float(cap[i] * 3600.0)),
            Row(sc, "vc_ratio", float(a_vc[i])),
        ]
    for s, sid in enumerate(signal_ids):
        sc = signal_scope(sid)
        rows += [
            Row(sc, "control_delay_s", float(s_delay[s])),
            Row(sc, "los", los_code(s_los[s])),
            Row(sc, "flow_vph", float(s_flow[s] * 3600.0)),
            Row(
                sc,
                "capacity_vph",
                float(s_cap[s] * 3600.0) if capacity_vps is not None else math.nan,
            ),
            Row(sc, "vc_ratio", float(s_vc[s])),
        ]
    total_in = float(s_in.sum())
    rows.append(
        Row(NETWORK, "control_delay_s", float(s_tl.sum()) / total_in if total_in else math.nan)
    )
    return rows


def _samples(queue_veh: np.ndarray, n: int) -> np.ndarray:
    """(T, n) float queue samples, or ValueError naming the expected shape."""
    q = np.asarray(queue_veh, dtype=float)
    if q.ndim != 2 or q.shape[1] != n:
        raise ValueError(f"queue_veh: expected shape (T, {n}), found {q.shape}")
    return q


def _columns_by_signal(sig: np.ndarray, n_signals: int) -> list[np.ndarray]:
    """Per signal, the columns (approaches or lane groups) whose signal index is it."""
    order = np.argsort(sig, kind="stable")
    bounds = np.searchsorted(sig[order], np.arange(n_signals + 1))
    return [order[bounds[s] : bounds[s + 1]] for s in range(n_signals)]


def queue_rows(
    approach_ids: Sequence[str],
    approach_signal: np.ndarray,
    signal_ids: Sequence[str],
    queue_veh: np.ndarray,
) -> list[Row]:
    """Queue statistics from sampled halting-vehicle counts (the back of queue, in vehicles).

    Per approach: mean, max and 95th percentile of its samples over the analysis period (the
    HCM's percentile back of queue, HCM 6th ed. ch. 31, here per approach rather than per lane
    group). Per intersection and network, over the approaches that carry a queue (a sample
    above zero; an idle approach would dilute the figure to nothing): the mean of their mean
    queues, the mean of their 95th percentiles, and the largest queue; plus the mean and max of
    the queue summed over every approach.

    Args:
        approach_ids: (A,) incoming edge ids.
        approach_signal: (A,) signal index of each approach.
        signal_ids: (S,) signal ids.
        queue_veh: (T, A) halting vehicles per sample and approach.
    """
    A = len(approach_ids)
    q = _samples(queue_veh, A)
    sig = np.asarray(approach_signal, dtype=np.int64).reshape(A)
    rows: list[Row] = []
    if q.shape[0] == 0:
        return rows

    p95 = np.percentile(q, 95, axis=0) if A else np.zeros(0)
    mean, mx = q.mean(axis=0), q.max(axis=0)
    queued = mx > 0

    def stats(cols: np.ndarray) -> tuple[float, float, float]:
        if cols.size == 0:
            return math.nan, math.nan, math.nan
        busy = cols[queued[cols]]
        if busy.size == 0:
            return 0.0, 0.0, 0.0
        return float(mean[busy].mean()), float(mx[busy].max()), float(p95[busy].mean())

    for i, e in enumerate(approach_ids):
        sc = approach_scope(e)
        rows += [
            Row(sc, "queue_mean_veh", float(mean[i])),
            Row(sc, "queue_max_veh", float(mx[i])),
            Row(sc, "queue_p95_veh", float(p95[i])),
        ]
    for sid, cols in zip(signal_ids, _columns_by_signal(sig, len(signal_ids)), strict=True):
        m, x, p = stats(cols)
        tot = q[:, cols].sum(axis=1)
        sc = signal_scope(sid)
        rows += [
            Row(sc, "queue_mean_veh", m),
            Row(sc, "queue_max_veh", x),
            Row(sc, "queue_p95_veh", p),
            Row(sc, "queue_total_mean_veh", float(tot.mean())),
            Row(sc, "queue_total_max_veh", float(tot.max())),
        ]
    m, x, p = stats(np.arange(A))
    tot = q.sum(axis=1)
    rows += [
        Row(NETWORK, "queue_mean_veh", m),
        Row(NETWORK, "queue_max_veh", x),
        Row(NETWORK, "queue_p95_veh", p),
        Row(NETWORK, "queue_total_mean_veh", float(tot.mean())),
        Row(NETWORK, "queue_total_max_veh", float(tot.max())),
    ]
    return rows


def lane_group_queue_rows(
    group_ids: Sequence[str],
    group_signal: np.ndarray,
    group_lanes: np.ndarray,
    signal_ids: Sequence[str],
    queue_veh: np.ndarray,
) -> list[Row]:
    """Back of queue per lane of every HCM lane group (HCM 6th ed. Ch. 19 lane groups, Ch. 31
    percentile back of queue in veh/ln) from sampled halting vehicles on the group's lanes.

    Per group: the mean and 95th percentile over the samples of its halting vehicles divided
    by its lanes. Per intersection and network, over the groups that carry a queue (a sample
    above zero; only groups with traffic, as the HCM reports them): the mean of those means
    and of those 95th percentiles, and the largest 95th percentile.

    Args:
        group_ids: (G,) lane group ids (``<edge>:<movements>``).
        group_signal: (G,) signal index of each group; group_lanes: (G,) its lanes.
        signal_ids: (S,) signal ids.
        queue_veh: (T, G) halting vehicles per sample and group.
    """
    G = len(group_ids)
    q = _samples(queue_veh, G)
    if q.shape[0] == 0:
        return []
    per_lane = q / np.maximum(np.asarray(group_lanes, dtype=float), 1.0)
    mean, p95 = per_lane.mean(axis=0), np.percentile(per_lane, 95, axis=0)
    queued = per_lane.max(axis=0) > 0
    rows = []
    for g, gid in enumerate(group_ids):
        sc = lane_group_scope(gid)
        rows += [
            Row(sc, "lane_queue_mean_veh", float(mean[g])),
            Row(sc, "lane_queue_p95_veh", float(p95[g])),
        ]

    def agg(sc: str, cols: np.ndarray) -> list[Row]:
        busy = cols[queued[cols]]
        if cols.size == 0:
            return []
        if busy.size == 0:
            m = p = x = 0.0
        else:
            m, p, x = float(mean[busy].mean()), float(p95[busy].mean()), float(p95[busy].max())
        return [
            Row(sc, "lane_queue_mean_veh", m),
            Row(sc, "lane_queue_p95_veh", p),
            Row(sc, "lane_queue_p95_max_veh", x),
        ]

    sig = np.asarray(group_signal, dtype=np.int64).reshape(G)
    for sid, cols in zip(signal_ids, _columns_by_signal(sig, len(signal_ids)), strict=True):
        rows += agg(signal_scope(sid), cols)
    return rows + agg(NETWORK, np.arange(G))


def scalar_rows(values: Mapping[str, float], scope: str = NETWORK) -> list[Row]:
    """Rows for single figures such as n_teleports."""
    return [Row(scope, k, float(v)) for k, v in values.items()]


# ------------------------------------------------------------------------------ the table
def results_frame(
    rows: Iterable[Row | tuple],
    *,
    run_id: str,
    scenario: str = "",
    controller: str = "",
    seed: int = 0,
) -> pd.DataFrame:
    """The long results table for one run.

    Raises:
        ValueError: a metric name not defined in :data:`METRICS`.
    """
    rows = [Row(*r) for r in rows]
    unknown = sorted({r.metric for r in rows} - METRICS.keys())
    if unknown:
        raise ValueError(f"metrics not defined in signals.evaluate.metrics.METRICS: {unknown}")
    n = len(rows)
    df = pd.DataFrame(
        {
            "run_id": pd.Series([run_id] * n, dtype="string"),
            "scenario": pd.Series([scenario] * n, dtype="string"),
            "controller": pd.Series([controller] * n, dtype="string"),
            "seed": pd.Series([int(seed)] * n, dtype="int64"),
            "scope": pd.Series([r.scope for r in rows], dtype="string"),
            "metric": pd.Series([r.metric for r in rows], dtype="string"),
            "value": pd.Series([float(r.value) for r in rows], dtype="float64"),
            "unit": pd.Series([METRICS[r.metric][0] for r in rows], dtype="string"),
        },
        columns=list(COLUMNS),
    )
    return df


def value(df: pd.DataFrame, metric: str, scope: str = NETWORK) -> float:
    """The single value of ``metric`` at ``scope`` in a one-run table (NaN if absent)."""
    sel = df[(df["metric"] == metric) & (df["scope"] == scope)]["value"]
    return float(sel.iloc[0]) if len(sel) else math.nan


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wide network-level summary: one row per run and network scope, one column per metric."""
    net = df[df["scope"].astype(str).str.startswith(NETWORK)]
    if net.empty:
        return pd.DataFrame(columns=["run_id", "scenario", "controller", "seed", "scope"])
    keys = ["run_id", "scenario", "controller", "seed", "scope"]
    wide = (
        net.groupby([*keys, "metric"], sort=False, observed=True, dropna=False)["value"]
        .first()
        .unstack("metric")
        .reset_index()
    )
    wide.columns.name = None
    order = [m for m in METRICS if m in wide.columns]
    return wide[["run_id", "scenario", "controller", "seed", "scope", *order]]


def provenance() -> dict:
    """Git revision of the source tree and versions of the packages that shape the results."""
    info: dict = {"python": platform.python_version()}
    for pkg in ("signals", "numpy", "pandas", "pyarrow", "eclipse-sumo", "libsumo", "sumolib"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=10,
        )
        info["git_revision"] = rev.stdout.strip() or None if rev.returncode == 0 else None
        info["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        info["git_revision"], info["git_dirty"] = None, None
    return {"packages": {k: v for k, v in info.items() if not k.startswith("git")}} | {
        "git_revision": info["git_revision"],
        "git_dirty": info["git_dirty"],
    }


def save_results(
    df: pd.DataFrame, out_dir: str | os.PathLike, run_info: Mapping | None = None
) -> dict[str, Path]:
    """Write results.parquet and summary.csv (and run.json when ``run_info`` is given) atomically.

    ``run.json`` holds ``run_info`` (the resolved configuration of the run) plus the git revision
    and package versions (docs/architecture.md, "Metrics": a run records its config, revision and
    versions).

    Returns:
        {"results": path, "summary": path[, "run": path]}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"results table lacks columns {missing}")
    paths = {"results": out / "results.parquet", "summary": out / "summary.csv"}
    with atomic_path(paths["results"]) as tmp:
        df[list(COLUMNS)].to_parquet(tmp, index=False)
    with atomic_write(paths["summary"]) as fh:
        summary_table(df).to_csv(fh, index=False, float_format="%.6g")
    if run_info is not None:
        paths["run"] = out / "run.json"
        doc = dict(run_info) | provenance()
        with atomic_write(paths["run"]) as fh:
            json.dump(doc, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
    return paths
