"""V2X messages for the roadside units: MAP (intersection geometry) and SPaT (signal phase and
timing), plus the GLOSA set-up for connected vehicles on the V2X test roads.

Signal groups
-------------
One SUMO link (one character of a signal's state string) is one signal group:
``signalGroup = link index + 1`` (J2735 SignalGroupID / CSAE PhaseID, 1..255; 0 is reserved). The
MAP lists, for every ingress lane, its connections and the signal group that controls each, so a
vehicle on a lane finds its light in the SPaT by that number.

SPaT field mapping
------------------
Times are simulation seconds in the ``raw`` block; the encoded fields use each standard's units.
J2735 TimeMark: tenths of a second within the current UTC hour (0..35999), 36000 = more than an
hour ahead, 36001 = unknown. CSAE TimeMark (``TimeCountingDown``): tenths of a second counted
down from the message time, same 36000/36001 conventions.

================================  =======================================  ==========================================  =================================
meaning                           SAE J2735 (2016) SPAT                    T/CSAE 53-2020 SPAT                         ``raw`` (seconds)
================================  =======================================  ==========================================  =================================
intersection                      IntersectionState.id (region, id)        IntersectionState.intersectionId           signal id (SUMO tlLogic id)
controller mode                   IntersectionState.status                 IntersectionState.status                   fixed-time / traffic-dependent
message time                      IntersectionState.moy + timeStamp (ms)   moy + timeStamp (ms)                       ``t_s``
signal group                      MovementState.signalGroup                Phase.id                                   link index + 1
light state                       MovementEvent.eventState                 PhaseState.light                           SUMO state char
state began                       TimeChangeDetails.startTime              TimeCountingDown.startTime (0 once begun)  ``start_s``
earliest end                      TimeChangeDetails.minEndTime             TimeCountingDown.minEndTime                ``min_end_s``
latest end                        TimeChangeDetails.maxEndTime             TimeCountingDown.maxEndTime                ``max_end_s``
likely end                        TimeChangeDetails.likelyTime             TimeCountingDown.likelyEndTime             ``likely_end_s``
next state                        next MovementEvent (state-time-speed)    next PhaseState in the PhaseStateList      ``next_state``
same state again                  TimeChangeDetails.nextTime               nextStartTime, nextDuration                ``next_start_s``, ``next_dur_s``
================================  =======================================  ==========================================  =================================

Light states: SUMO 'G' -> J2735 protected-Movement-Allowed (6) / CSAE protected-green (6);
'g' -> permissive-Movement-Allowed (5) / permissive-green (5); 'y' -> permissive-clearance (7) /
yellow (7); 'Y' -> protected-clearance (8) / yellow (7); 'r' -> stop-And-Remain (3) / red (3);
'u' (red-yellow) -> pre-Movement (4) / red (3); 's' -> stop-Then-Proceed (2) / flashing-red (2);
'o' -> caution-Conflicting-Traffic (9) / flashing-yellow (8); 'O' -> dark (1) / dark (1).

Fixed-time programs: every end time is exact (min = max = likely; CSAE 6.4.5.3 "for fixed-cycle
signals minEndTime equals maxEndTime"). Online control (the closed loop): inside a change
interval the ends are exact; during a green the earliest end is the first decision instant after
minimum green and the latest end the forced change at maximum green (for links green in no other
stage), likely end omitted (unknown) -- the loop does not know what the controller will ask.

GLOSA
-----
SUMO's glosa device (SUMO docs, "Simulation/GLOSA") on connected vehicles only: the ``cv`` vType
gets ``has.glosa.device``; roadside units are where the device may talk to a signal: the
``device.glosa.range`` parameter of every tlLogic is set to the RSU range at RSU signals and 0
elsewhere. GLOSA reads the phase durations of the running program, so it fits fixed-time plans.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from signals.errors import InputError, atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import PlanSet

PathLike = str | os.PathLike
UNKNOWN_TM = 36001  # J2735 / CSAE TimeMark "unknown"
BEYOND_TM = 36000  # "more than an hour" (CSAE: a permanent state's likelyEndTime)

J2735_STATE = {
    "G": "protected-Movement-Allowed",
    "g": "permissive-Movement-Allowed",
    "y": "permissive-clearance",
    "Y": "protected-clearance",
    "r": "stop-And-Remain",
    "u": "pre-Movement",
    "s": "stop-Then-Proceed",
    "o": "caution-Conflicting-Traffic",
    "O": "dark",
}
CSAE_LIGHT = {
    "G": "protected-green",
    "g": "permissive-green",
    "y": "yellow",
    "Y": "yellow",
    "r": "red",
    "u": "red",
    "s": "flashing-red",
    "o": "flashing-yellow",
    "O": "dark",
}
MANEUVER = {"s": "straight", "l": "left", "L": "left", "r": "right", "R": "right", "t": "uTurn"}


# ============================================================================ timing
@dataclass(frozen=True, eq=False)
class LinkTiming:
    """SPaT timing of every link at one instant (L links, network link order).

    Attributes:
        time_s: simulation time.
        state: (L,) uint8 SUMO state characters.
        start_s: (L,) when the current character began.
        min_end_s, max_end_s, likely_end_s: (L,) bounds / estimate of its end (NaN unknown,
            +inf never).
        next_state: (L,) uint8 character that follows.
        fixed: True for fixed-time timing (exact ends).
        next_start_s, next_dur_s: (L,) next start of the same character after this one ends and
            how long it lasts (fixed-time only; None otherwise).
    """

    time_s: float
    state: np.ndarray
    start_s: np.ndarray
    min_end_s: np.ndarray
    max_end_s: np.ndarray
    likely_end_s: np.ndarray
    next_state: np.ndarray
    fixed: bool = True
    next_start_s: np.ndarray | None = None
    next_dur_s: np.ndarray | None = None


class CyclicTiming:
    """Exact per-link timing of cyclic (fixed-time) programs.

    Per signal and phase p, per link i (tables (P_total, Lmax), built once by unrolling three
    cycles): ``since`` (from the start of the link's current run to the start of p), ``until``
    (from the start of p to the end of the run; +inf if the link never changes), the next
    character, and the next start / duration of the same character.

    Args:
        programs: per signal (network order) a list of (state, duration_s).
        offsets_s: (S,) program offsets (SUMO meaning: phase 0 starts at offset + k * cycle);
            needed only for :meth:`at`.
    """

    def __init__(
        self, network: Network, programs: Sequence[Sequence[tuple[str, float]]], offsets_s=None
    ):
        self.network = network
        S = network.n_signals
        if len(programs) != S:
            raise ValueError(f"{len(programs)} programs for {S} signals")
        lmax = int(network.signal_n_links.max())
        start = np.zeros(S + 1, dtype=np.int64)
        for s, prog in enumerate(programs):
            start[s + 1] = start[s] + len(prog)
        P = int(start[-1])
        self.phase_start = start
        self.dur = np.zeros(P)
        self.cycle_s = np.zeros(S)
        self.pos_s = np.zeros(P)  # start of each phase within its cycle
        self.codes = np.full((P, lmax), ord("r"), dtype=np.uint8)
        self.since = np.zeros((P, lmax))
        self.until = np.full((P, lmax), np.inf)
        self.next_char = np.full((P, lmax), ord("r"), dtype=np.uint8)
        self.next_start = np.full((P, lmax), np.nan)
        self.next_dur = np.full((P, lmax), np.nan)
        for s, prog in enumerate(programs):
            n = int(network.signal_n_links[s])
            p0 = int(start[s])
            k = len(prog)
            if k == 0:
                raise ValueError(f"signal {network.signal_ids[s]}: empty program")
            d = np.array([float(x[1]) for x in prog])
            c = np.array([np.frombuffer(x[0].encode(), dtype=np.uint8) for x in prog])
            if c.shape[1] != n:
                raise ValueError(
                    f"signal {network.signal_ids[s]}: state length {c.shape[1]} != {n}"
                )
            self.dur[p0 : p0 + k] = d
            self.cycle_s[s] = d.sum()
            self.pos_s[p0 : p0 + k] = np.concatenate([[0.0], np.cumsum(d)[:-1]])
            self.codes[p0 : p0 + k, :n] = c
            dd = np.tile(d, 5)
            cc = np.tile(c, (5, 1))
            t0 = np.concatenate([[0.0], np.cumsum(dd)[:-1]])
            for p in range(k):
                q = 2 * k + p  # the middle copy
                here = cc[q]
                # backward: start of the run
                same = np.ones(n, dtype=bool)
                since = np.zeros(n)
                for b in range(1, k + 1):
                    eq = same & (cc[q - b] == here)
                    since[eq] += dd[q - b]
                    same = eq
                constant = same  # never changes over a whole cycle
                # forward: end of the run, next char, next start/duration of the same char
                until = np.full(n, np.inf)
                nxt = here.copy()
                ns = np.full(n, np.nan)
                ndur = np.full(n, np.nan)
                ended = np.zeros(n, dtype=bool)
                restarted = np.zeros(n, dtype=bool)
                finished = np.zeros(n, dtype=bool)
                for f in range(1, 2 * k + 1):
                    cf = cc[q + f]
                    tf = t0[q + f] - t0[q]
                    newly_end = ~ended & (cf != here)
                    until[newly_end] = tf
                    nxt[newly_end] = cf[newly_end]
                    ended |= newly_end
                    newly_restart = ended & ~restarted & ~newly_end & (cf == here)
                    ns[newly_restart] = tf
                    restarted |= newly_restart
                    newly_fin = restarted & ~finished & ~newly_restart & (cf != here)
                    ndur[newly_fin] = tf - ns[newly_fin]
                    finished |= newly_fin
                until[constant] = np.inf
                ns[constant] = np.nan
                ndur[constant] = np.nan
                self.since[p0 + p, :n] = np.where(constant, np.nan, since)
                self.until[p0 + p, :n] = until
                self.next_char[p0 + p, :n] = nxt
                self.next_start[p0 + p, :n] = ns
                self.next_dur[p0 + p, :n] = ndur
        self.offsets_s = None if offsets_s is None else np.asarray(offsets_s, dtype=float)

    @classmethod
    def from_plans(cls, network: Network, plans: PlanSet | None = None) -> CyclicTiming:
        """Timing of a PlanSet's programs (signals without a plan: the net's own program)."""
        from signals.plans import PlanSet

        own = PlanSet.from_network(network)
        progs, offs = [], []
        for sid in network.signal_ids:
            p = (plans.plans.get(sid) if plans is not None else None) or own.plans[sid]
            progs.append(p.sumo_phases())
            offs.append(p.offset_s)
        return cls(network, progs, offs)

    def at_phase(self, t: float, phase: np.ndarray, next_switch_s: np.ndarray) -> LinkTiming:
        """Timing at ``t`` given each signal's current phase index and its end time."""
        net = self.network
        sig = net.link_signal
        li = net.link_index
        row = self.phase_start[:-1] + np.asarray(phase, dtype=np.int64)
        p_start = np.asarray(next_switch_s, dtype=float) - self.dur[row]
        r = row[sig]
        ps = p_start[sig]
        since = self.since[r, li]
        start = np.where(np.isnan(since), -np.inf, ps - since)
        end = ps + self.until[r, li]
        return LinkTiming(
            time_s=float(t),
            state=self.codes[r, li].copy(),
            start_s=start,
            min_end_s=end,
            max_end_s=end,
            likely_end_s=end,
            next_state=self.next_char[r, li].copy(),
            fixed=True,
            next_start_s=ps + self.next_start[r, li],
            next_dur_s=self.next_dur[r, li].copy(),
        )

    def at(self, t: float) -> LinkTiming:
        """Timing at simulation time ``t`` from the offsets (no simulation needed)."""
        if self.offsets_s is None:
            raise ValueError("CyclicTiming.at needs offsets_s")
        S = self.network.n_signals
        pos = np.mod(t - self.offsets_s, self.cycle_s)
        phase = np.zeros(S, dtype=np.int64)
        nsw = np.zeros(S)
        for s in range(S):
            a, b = int(self.phase_start[s]), int(self.phase_start[s + 1])
            ends = self.pos_s[a:b] + self.dur[a:b]
            k = int(np.searchsorted(ends, pos[s] + 1e-9, side="right"))
            k = min(k, b - a - 1)
            phase[s] = k
            nsw[s] = t - pos[s] + ends[k]
        return self.at_phase(t, phase, nsw)


# ============================================================================= SPaT
def _tm_hour(abs_s: float, now_s: float, time0_s: float) -> int:
    """J2735 TimeMark: tenths of a second within the UTC hour of ``abs_s``."""
    if not math.isfinite(abs_s):
        return BEYOND_TM if abs_s > 0 and not math.isnan(abs_s) else UNKNOWN_TM
    if abs_s - now_s >= 3600.0:
        return BEYOND_TM
    return int(round(((time0_s + abs_s) % 3600.0) * 10.0)) % 36000


def _tm_count(abs_s: float, now_s: float) -> int:
    """CSAE TimeCountingDown: tenths of a second from now (0 if already passed)."""
    if math.isnan(abs_s):
        return UNKNOWN_TM
    if not math.isfinite(abs_s) or abs_s - now_s >= 3600.0:
        return BEYOND_TM
    return max(0, int(round((abs_s - now_s) * 10.0)))


def _f(x: float) -> float | None:
    """JSON-friendly seconds: None for unknown, 'inf' kept as None with a flag elsewhere."""
    if math.isnan(x):
        return None
    if math.isinf(x):
        return None
    return round(float(x), 3)


class SpatWriter:
    """Writes a SPaT stream as JSON Lines: one message per signal and instant.

    Args:
        network: the network (signal ids, link -> movement names).
        path: output file (written to a temporary file, renamed on :meth:`close`).
        every: ``"change"`` (a signal's message when a light or an end bound changes, the first
            instant always) or ``"1hz"`` (every signal every second).
        fmt: ``"j2735"`` or ``"csae53"`` (see the module docstring).
        signals: signal ids to include (default all).
        time0_s: seconds since the start of the UTC year at simulation time 0 (default 07:00 on
            1 January, the demand convention that time 0 is the period start).
    """

    def __init__(
        self,
        network: Network,
        path: PathLike,
        *,
        every: str = "change",
        fmt: str = "j2735",
        signals: Sequence[str] | None = None,
        time0_s: float = 7 * 3600.0,
    ):
        if every not in ("change", "1hz"):
            raise InputError(None, "every", "'change' or '1hz'", repr(every))
        if fmt not in ("j2735", "csae53"):
            raise InputError(None, "format", "'j2735' or 'csae53'", repr(fmt))
        self.network = network
        self.path = Path(path)
        self.every = every
        self.fmt = fmt
        self.time0_s = float(time0_s)
        sel = (
            range(network.n_signals)
            if signals is None
            else [network.signal_index(s) for s in signals]
        )
        self.signals = np.array(sorted(sel), dtype=np.int64)
        self.n_messages = 0
        self._last: dict[int, tuple] = {}
        self._ctx = atomic_write(self.path)
        self._fh = self._ctx.__enter__()
        self._closed = False
        self._names = [
            f"{network.link_from_lane[i]}->{network.link_to_lane[i]}"
            for i in range(network.n_links)
        ]

    def add(self, lt: LinkTiming) -> None:
        """Write the messages due at ``lt.time_s``."""
        net = self.network
        for s in self.signals.tolist():
            sl = net.links_of(s)
            key = (
                lt.state[sl].tobytes(),
                tuple(np.round(lt.min_end_s[sl], 3).tolist()),
                tuple(np.round(lt.max_end_s[sl], 3).tolist()),
            )
            if self.every == "change" and self._last.get(s) == key:
                continue
            self._last[s] = key
            msg = self.message(s, lt)
            self._fh.write(json.dumps(msg, separators=(",", ":")) + "\n")
            self.n_messages += 1

    def raw(self, s: int, lt: LinkTiming) -> list[dict]:
        """Per signal group of signal ``s``: the timing in seconds (the ``raw`` block)."""
        net = self.network
        sl = net.links_of(s)
        out = []
        for i in range(sl.start, sl.stop):
            out.append(
                {
                    "signal_group": int(net.link_index[i]) + 1,
                    "state": chr(lt.state[i]),
                    "start_s": _f(lt.start_s[i]),
                    "min_end_s": _f(lt.min_end_s[i]),
                    "max_end_s": _f(lt.max_end_s[i]),
                    "likely_end_s": _f(lt.likely_end_s[i]),
                    "next_state": chr(lt.next_state[i]),
                    "next_start_s": _f(lt.next_start_s[i]) if lt.next_start_s is not None else None,
                    "next_dur_s": _f(lt.next_dur_s[i]) if lt.next_dur_s is not None else None,
                }
            )
        return out

    def message(self, s: int, lt: LinkTiming) -> dict:
        net = self.network
        t = lt.time_s
        abs_t = self.time0_s + t
        moy = int(abs_t // 60)
        ms = int(round((abs_t % 60) * 1000))
        status = "fixedTimeOperation" if lt.fixed else "trafficDependentOperation"
        sid = net.signal_ids[s]
        raw = self.raw(s, lt)
        sl = net.links_of(s)
        if self.fmt == "j2735":
            states = []
            for k, i in enumerate(range(sl.start, sl.stop)):
                c = chr(lt.state[i])
                nc = chr(lt.next_state[i])
                end_known = (
                    lt.likely_end_s[i] if not math.isnan(lt.likely_end_s[i]) else lt.min_end_s[i]
                )
                timing = {
                    "startTime": _tm_hour(lt.start_s[i], t, self.time0_s)
                    if math.isfinite(lt.start_s[i])
                    else UNKNOWN_TM,
                    "minEndTime": _tm_hour(lt.min_end_s[i], t, self.time0_s),
                    "maxEndTime": _tm_hour(lt.max_end_s[i], t, self.time0_s),
                }
                if not math.isnan(lt.likely_end_s[i]):
                    timing["likelyTime"] = _tm_hour(lt.likely_end_s[i], t, self.time0_s)
                if lt.next_start_s is not None and not math.isnan(lt.next_start_s[i]):
                    timing["nextTime"] = _tm_hour(lt.next_start_s[i], t, self.time0_s)
                events = [{"eventState": J2735_STATE.get(c, "unavailable"), "timing": timing}]
                if math.isfinite(end_known):
                    events.append(
                        {
                            "eventState": J2735_STATE.get(nc, "unavailable"),
                            "timing": {
                                "startTime": _tm_hour(end_known, t, self.time0_s),
                                "minEndTime": UNKNOWN_TM,
                            },
                        }
                    )
                states.append(
                    {
                        "signalGroup": int(net.link_index[i]) + 1,
                        "movementName": self._names[i],
                        "state-time-speed": events,
                        "raw": raw[k],
                    }
                )
            return {
                "t_s": t,
                "messageType": "SPAT",
                "standard": "SAE J2735",
                "timeStamp": moy,
                "intersections": [
                    {
                        "name": sid,
                        "id": {"region": 0, "id": s + 1},
                        "revision": 1,
                        "status": status,
                        "moy": moy,
                        "timeStamp": ms,
                        "states": states,
                    }
                ],
            }
        phases = []
        for k, i in enumerate(range(sl.start, sl.stop)):
            c = chr(lt.state[i])
            nc = chr(lt.next_state[i])
            counting = {
                "startTime": 0,
                "minEndTime": _tm_count(lt.min_end_s[i], t),
                "maxEndTime": _tm_count(lt.max_end_s[i], t),
                "likelyEndTime": _tm_count(lt.likely_end_s[i], t),
            }
            if lt.next_start_s is not None and not math.isnan(lt.next_start_s[i]):
                counting["nextStartTime"] = _tm_count(lt.next_start_s[i], t)
                counting["nextDuration"] = _tm_count(t + lt.next_dur_s[i], t)
            pstates = [
                {"light": CSAE_LIGHT.get(c, "unavailable"), "timing": {"counting": counting}}
            ]
            end_known = (
                lt.likely_end_s[i] if not math.isnan(lt.likely_end_s[i]) else lt.min_end_s[i]
            )
            if math.isfinite(end_known):
                pstates.append(
                    {
                        "light": CSAE_LIGHT.get(nc, "unavailable"),
                        "timing": {
                            "counting": {
                                "startTime": _tm_count(end_known, t),
                                "minEndTime": UNKNOWN_TM,
                                "maxEndTime": UNKNOWN_TM,
                                "likelyEndTime": UNKNOWN_TM,
                            }
                        },
                    }
                )
            phases.append({"id": int(net.link_index[i]) + 1, "phaseStates": pstates, "raw": raw[k]})
        return {
            "t_s": t,
            "messageType": "SPAT",
            "standard": "T/CSAE 53-2020",
            "msgCnt": self.n_messages % 128,
            "moy": moy,
            "timeStamp": ms,
            "intersections": [
                {
                    "intersectionId": {"region": 0, "id": s + 1},
                    "name": sid,
                    "status": status,
                    "moy": moy,
                    "timeStamp": ms,
                    "phases": phases,
                }
            ],
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._fh.flush()
            self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the partial stream (nothing half-written is left)."""
        if not self._closed:
            self._closed = True
            try:
                self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
            except RuntimeError:
                pass


def read_spat(path: PathLike) -> list[dict]:
    """All messages of a SPaT JSON Lines file."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def spat_from_plans(
    network: Network,
    plans: PlanSet | None,
    path: PathLike,
    *,
    begin_s: float = 0.0,
    end_s: float = 3600.0,
    every: str = "change",
    fmt: str = "j2735",
    signals: Sequence[str] | None = None,
) -> int:
    """SPaT of fixed-time plans computed from the plans alone (no simulation); returns messages.

    What is broadcast -- the plans, and the net's own programs for signals without one -- passes
    the safety gate first (as existing programs: unsafe ones are refused, nothing is written).

    Raises:
        UnsafePlanError: a broadcast program fails the gate.
    """
    from signals.plans import PlanSet
    from signals.safety import assert_safe

    own = PlanSet.from_network(network)
    given = plans.plans if plans is not None else {}
    assert_safe(
        PlanSet({sid: given.get(sid) or own.plans[sid] for sid in network.signal_ids}),
        network,
        existing=True,
    )
    timing = CyclicTiming.from_plans(network, plans)
    w = SpatWriter(network, path, every=every, fmt=fmt, signals=signals)
    try:
        t = float(begin_s)
        while t <= end_s + 1e-9:
            w.add(timing.at(t))
            t += 1.0
    except BaseException:
        w.abort()
        raise
    w.close()
    return w.n_messages


# ============================================================================== MAP
def map_messages(network: Network, signals: Sequence[str] | None = None) -> list[dict]:
    """MAP (J2735 MapData / CSAE MAP, JSON rendering) per signal: ingress and egress lanes with
    their centre lines, connections and the signal group (link index + 1) that controls each."""
    import sumolib

    net = sumolib.net.readNet(str(network.path), withPrograms=False, withConnections=True)
    geo = bool(net.hasGeoProj()) if hasattr(net, "hasGeoProj") else False
    sel = (
        range(network.n_signals) if signals is None else [network.signal_index(s) for s in signals]
    )
    out = []
    for s in sel:
        sid = network.signal_ids[s]
        x, y = (float(v) for v in network.signal_xy_m[s])
        ref: dict = {"x_m": round(x, 2), "y_m": round(y, 2)}
        if geo:
            lon, lat = net.convertXY2LonLat(x, y)
            ref |= {"lat": round(lat, 7), "lon": round(lon, 7)}
        sl = network.links_of(s)
        lanes: dict[str, dict] = {}
        lane_no: dict[str, int] = {}

        for i in range(sl.start, sl.stop):
            fl, tl = network.link_from_lane[i], network.link_to_lane[i]
            if not fl or not tl:
                continue
            src = _lane_entry(net, lanes, lane_no, fl, False, x, y)
            _lane_entry(net, lanes, lane_no, tl, True, x, y)
            src["connectsTo"].append(
                {
                    "connectingLane": {
                        "lane": lane_no[tl],
                        "name": tl,
                        "maneuver": MANEUVER.get(network.link_dir[i], "straight"),
                    },
                    "signalGroup": int(network.link_index[i]) + 1,
                    "pedestrian": bool(network.link_is_ped[i]),
                }
            )
        out.append(
            {
                "messageType": "MAP",
                "standard": "SAE J2735 MapData / T/CSAE 53-2020 MAP (JSON rendering)",
                "intersection": {
                    "name": sid,
                    "id": {"region": 0, "id": s + 1},
                    "revision": 1,
                    "refPoint": ref,
                    "rsu": bool(network.signal_rsu[s]),
                    "junctions": list(network.signal_junctions[s]),
                    "laneSet": list(lanes.values()),
                },
            }
        )
    return out


def _lane_entry(
    net, lanes: dict, lane_no: dict, lane_id: str, egress: bool, x: float, y: float
) -> dict:
    """The MAP lane record of ``lane_id`` (created on first use); node offsets from (x, y)."""
    if lane_id not in lanes:
        lane_no[lane_id] = len(lane_no) + 1
        ln = net.getLane(lane_id)
        shape = [[round(px - x, 2), round(py - y, 2)] for px, py, *_ in ln.getShape()]
        if not egress:
            shape = shape[::-1]  # J2735 node lists start at the stop line
        lanes[lane_id] = {
            "laneID": lane_no[lane_id],
            "name": lane_id,
            "edge": ln.getEdge().getID(),
            "laneAttributes": {
                "directionalUse": "egressPath" if egress else "ingressPath",
                "laneType": "crosswalk" if ln.getEdge().getFunction() == "crossing" else "vehicle",
            },
            "width_m": round(float(ln.getWidth()), 2),
            "speed_mps": round(float(ln.getSpeed()), 2),
            "nodeList_m": shape,
            "connectsTo": [],
        }
    return lanes[lane_id]


def write_map(network: Network, out: PathLike, signals: Sequence[str] | None = None) -> list[Path]:
    """Write MAP JSON: one file ``out`` (ending .json) with every signal, else a directory with
    ``<signal id>.map.json`` per signal. Atomic per file."""
    msgs = map_messages(network, signals)
    out = Path(out)
    if out.suffix == ".json":
        with atomic_write(out) as fh:
            json.dump({"messages": msgs}, fh, indent=1)
        return [out]
    paths = []
    for m in msgs:
        name = m["intersection"]["name"].replace("/", "_")
        p = out / f"{name}.map.json"
        with atomic_write(p) as fh:
            json.dump(m, fh, indent=1)
        paths.append(p)
    return paths


# ============================================================================= GLOSA
def glosa_routes(routes: PathLike, out: PathLike) -> Path:
    """Copy of a routes file whose connected vTypes carry ``has.glosa.device`` (SUMO docs,
    "Simulation/GLOSA": the standard device-equipment procedure, as a vType parameter)."""
    import xml.etree.ElementTree as ET

    from signals.demand import is_connected_type

    tree = ET.parse(str(routes))
    n = 0
    for vt in tree.getroot().iter("vType"):
        if is_connected_type(vt.get("id", "")):
            p = ET.SubElement(vt, "param")
            p.set("key", "has.glosa.device")
            p.set("value", "true")
            n += 1
    if n == 0:
        raise InputError(routes, "vType", "a connected vehicle type (id starting 'cv')", "none")
    out = Path(out)
    with atomic_write(out, "wb") as fh:
        tree.write(fh, encoding="utf-8", xml_declaration=True)
    return out


def glosa_tls_params(
    network: Network, range_m: float = 300.0, rsu_only: bool = True
) -> dict[str, str]:
    """``device.glosa.range`` per signal: the RSU range at RSU signals, 0 (GLOSA off) elsewhere."""
    return {
        sid: (f"{range_m:g}" if (network.signal_rsu[s] or not rsu_only) else "0")
        for s, sid in enumerate(network.signal_ids)
    }


def with_tls_params(
    additional_xml: str, params: dict[str, str], key: str = "device.glosa.range"
) -> str:
    """Add ``<param key=KEY value=...>`` to every ``<tlLogic id=...>`` of an additional file text
    (SUMO docs, "Simulation/GLOSA": the range may be set per traffic light)."""
    import re
    from xml.sax.saxutils import quoteattr

    def add(m: re.Match) -> str:
        sid = m.group(2)
        if sid not in params:
            return m.group(0)
        return (
            m.group(0) + f"\n        <param key={quoteattr(key)} value={quoteattr(params[sid])}/>"
        )

    return re.sub(r'(<tlLogic\b[^>]*\bid="([^"]*)"[^>]*(?<!/)>)', add, additional_xml)
