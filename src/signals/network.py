"""The Network: an immutable, array-based view of a SUMO net with traffic lights.

``Network.from_sumo(path)`` reads any SUMO ``.net.xml`` with sumolib (no traci/libsumo) and turns it
into flat arrays that the plan validator, the queue model and the controllers share:

* **signals** (S): one per SUMO traffic-light (``tlLogic``) id, which may control several joined
  junctions (netconvert ``--tls.join``);
* **links** (L): one per controlled SUMO connection, i.e. one character of a signal state string,
  in signal order then SUMO link index;
* **movements** (M): vehicle links grouped by (signal, from edge, to edge), with direction, lanes,
  saturation flow, upstream link length and free-flow time;
* **phases** (P): the net's own program for each signal (state strings and durations);
* **edges** (E): every non-internal edge with length, lanes, speed, storage and V2X marking;
* **foes**: SUMO's own conflict matrix (``<request foes=...>``) and yield relation
  (``response``) between the links of each signal, padded to (S, Lmax, Lmax).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signals.errors import InputError, require_file

# HCM 6th ed., Ch. 19 (Signalized Intersections), Eq. 19-8: base saturation flow 1900 pc/h/ln,
# left-turn adjustment f_LT = 1/1.05 (protected) and right-turn adjustment f_RT = 1/1.18
# (Exhibit 19-20 / Eq. 31-?: E_R = 1.18).  Other factors (width, grade, heavy vehicles) are 1.
BASE_SAT_FLOW_VPHPL = 1900.0
TURN_FACTOR = {"s": 1.0, "l": 1 / 1.05, "L": 1 / 1.05, "r": 1 / 1.18, "R": 1 / 1.18, "t": 0.5}
# Average jam spacing per stored vehicle (vehicle length 5 m + minGap 2.5 m, SUMO passenger
# defaults) used for link storage and spillback.
JAM_SPACING_M = 7.5
# Edge parameter netconvert carries from the plain edge file into the net: the V2X corridor id.
V2X_PARAM = "v2x.corridor"


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Network:
    """Immutable arrays describing signals, links, movements, phases, edges and foes.

    Attributes (shapes use S signals, L links, M movements, P phases, E edges):
        path: the SUMO net file this was read from.
        signal_ids: (S,) SUMO tlLogic ids.
        signal_junctions: (S,) tuple of the junction ids each signal controls.
        signal_xy_m: (S, 2) mean position of the controlled junctions.
        signal_link_start: (S+1,) CSR offsets into the link arrays.
        signal_mov_start: (S+1,) CSR offsets into the movement arrays.
        signal_phase_start: (S+1,) CSR offsets into the phase arrays.
        signal_offset_s: (S,) offset of the net's own program.
        signal_program_id: (S,) programID of the net's own program.
        signal_rsu: (S,) True where a roadside unit sits (a V2X edge enters the signal).
        link_signal: (L,) signal index of each link.
        link_index: (L,) SUMO link index within its signal (position in the state string).
        link_from_lane, link_to_lane: (L,) SUMO lane ids.
        link_dir: (L,) SUMO direction code ('s', 'l', 'r', 't', 'L', 'R').
        link_is_ped: (L,) True for pedestrian crossing links.
        link_movement: (L,) movement index, -1 for pedestrian links.
        link_junction: (L,) junction id each link belongs to.
        link_foes: (S, Lmax, Lmax) True where SUMO's foe matrix says two links conflict.
        link_prohibits: (S, Lmax, Lmax) [s, i, j] True where link i must yield to link j.
        mov_signal: (M,) signal index.
        mov_from_edge, mov_to_edge: (M,) SUMO edge ids.
        mov_in_edge, mov_out_edge: (M,) indices into the edge arrays.
        mov_dir: (M,) direction code of the movement.
        mov_lanes: (M,) effective number of lanes (a lane shared by k movements counts 1/k).
        mov_sat_flow_vps: (M,) saturation flow, veh/s.
        mov_length_m: (M,) length of the upstream (from) edge.
        mov_speed_mps: (M,) speed limit of the upstream edge.
        mov_free_flow_s: (M,) free-flow travel time over the upstream edge.
        phase_signal: (P,) signal index.
        phase_state: (P,) SUMO state strings.
        phase_duration_s, phase_min_s, phase_max_s: (P,) from the net's own program.
        edge_ids: (E,) non-internal edge ids.
        edge_from, edge_to: (E,) junction ids.
        edge_length_m, edge_speed_mps: (E,)
        edge_lanes: (E,) vehicle lanes.
        edge_storage_veh: (E,) jam storage = length * lanes / JAM_SPACING_M.
        edge_v2x: (E,) V2X corridor id, '' where none.
    """

    path: Path
    signal_ids: tuple[str, ...]
    signal_junctions: tuple[tuple[str, ...], ...]
    signal_xy_m: np.ndarray
    signal_link_start: np.ndarray
    signal_mov_start: np.ndarray
    signal_phase_start: np.ndarray
    signal_offset_s: np.ndarray
    signal_program_id: tuple[str, ...]
    signal_rsu: np.ndarray
    link_signal: np.ndarray
    link_index: np.ndarray
    link_from_lane: tuple[str, ...]
    link_to_lane: tuple[str, ...]
    link_dir: tuple[str, ...]
    link_is_ped: np.ndarray
    link_movement: np.ndarray
    link_junction: tuple[str, ...]
    link_foes: np.ndarray
    link_prohibits: np.ndarray
    mov_signal: np.ndarray
    mov_from_edge: tuple[str, ...]
    mov_to_edge: tuple[str, ...]
    mov_in_edge: np.ndarray
    mov_out_edge: np.ndarray
    mov_dir: tuple[str, ...]
    mov_lanes: np.ndarray
    mov_sat_flow_vps: np.ndarray
    mov_length_m: np.ndarray
    mov_speed_mps: np.ndarray
    mov_free_flow_s: np.ndarray
    phase_signal: np.ndarray
    phase_state: tuple[str, ...]
    phase_duration_s: np.ndarray
    phase_min_s: np.ndarray
    phase_max_s: np.ndarray
    edge_ids: tuple[str, ...]
    edge_from: tuple[str, ...]
    edge_to: tuple[str, ...]
    edge_length_m: np.ndarray
    edge_speed_mps: np.ndarray
    edge_lanes: np.ndarray
    edge_storage_veh: np.ndarray
    edge_v2x: tuple[str, ...]
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_signals(self) -> int:
        return len(self.signal_ids)

    @property
    def n_links(self) -> int:
        return len(self.link_signal)

    @property
    def n_movements(self) -> int:
        return len(self.mov_signal)

    @property
    def n_phases(self) -> int:
        return len(self.phase_signal)

    @property
    def n_edges(self) -> int:
        return len(self.edge_ids)

    @property
    def signal_n_links(self) -> np.ndarray:
        """(S,) number of links (state-string length) per signal."""
        return np.diff(self.signal_link_start)

    @property
    def lane_km(self) -> float:
        return float((self.edge_length_m * self.edge_lanes).sum() / 1000.0)

    @property
    def v2x_km(self) -> float:
        """Centreline length of V2X test roads: both directions of a road count once."""
        seen: set[frozenset] = set()
        total = 0.0
        for i, corridor in enumerate(self.edge_v2x):
            if not corridor:
                continue
            key = frozenset((self.edge_from[i], self.edge_to[i]))
            if key in seen:
                continue
            seen.add(key)
            total += float(self.edge_length_m[i])
        return total / 1000.0

    # ------------------------------------------------------------ look-ups
    def signal_index(self, signal_id: str, source: str | Path | None = None) -> int:
        """Index of a signal id; InputError naming ``source`` if unknown."""
        idx = self._lookup("signal", self.signal_ids)
        try:
            return idx[signal_id]
        except KeyError:
            raise InputError(
                source or self.path,
                "signal id",
                f"one of the {self.n_signals} signals of {self.path.name}",
                repr(signal_id),
            ) from None

    def edge_index(self, edge_id: str) -> int:
        return self._lookup("edge", self.edge_ids)[edge_id]

    def _lookup(self, name: str, ids: tuple[str, ...]) -> dict[str, int]:
        # built once per Network (the dict is excluded from equality and is not an array)
        if name not in self._index:
            self._index[name] = {x: i for i, x in enumerate(ids)}
        return self._index[name]

    def links_of(self, s: int) -> slice:
        return slice(int(self.signal_link_start[s]), int(self.signal_link_start[s + 1]))

    def movements_of(self, s: int) -> slice:
        return slice(int(self.signal_mov_start[s]), int(self.signal_mov_start[s + 1]))

    def phases_of(self, s: int) -> slice:
        return slice(int(self.signal_phase_start[s]), int(self.signal_phase_start[s + 1]))

    def foes(self, s: int) -> np.ndarray:
        """(n, n) foe matrix of signal ``s`` in its own link indices."""
        n = int(self.signal_n_links[s])
        return self.link_foes[s, :n, :n]

    def movement_green_share(self, s: int, state: str) -> np.ndarray:
        """Share of each movement's links that are green ('G' or 'g') in ``state``.

        Returns:
            (n_movements_of_s,) float in [0, 1], in the order of ``movements_of(s)``.
        """
        return self.movement_state_share(s, state, "Gg")

    def movement_state_share(self, s: int, state: str, chars: str) -> np.ndarray:
        """Share of each movement's links whose character in ``state`` is one of ``chars``
        (e.g. ``"Gg"`` green, ``"yY"`` yellow), in the order of ``movements_of(s)``."""
        links = self.links_of(s)
        codes = np.frombuffer(state.encode(), dtype=np.uint8)
        green = np.isin(codes, np.frombuffer(chars.encode(), dtype=np.uint8))
        lm = self.link_movement[links]
        veh = lm >= 0
        m0 = int(self.signal_mov_start[s])
        n_m = int(self.signal_mov_start[s + 1]) - m0
        counts = np.bincount(lm[veh] - m0, minlength=n_m)
        greens = np.bincount(lm[veh] - m0, weights=green[veh], minlength=n_m)
        return greens / np.maximum(counts, 1)

    def approach_edges(self, s: int) -> list[str]:
        """Incoming edge ids (approaches) of signal ``s``."""
        return sorted(set(self.mov_from_edge[self.movements_of(s)]))

    def summary(self) -> dict:
        """Counts and sizes for ``signals network info``."""
        return {
            "net": str(self.path),
            "n_signals": self.n_signals,
            "n_junctions_controlled": int(sum(len(j) for j in self.signal_junctions)),
            "n_links": self.n_links,
            "n_movements": self.n_movements,
            "n_phases": self.n_phases,
            "n_edges": self.n_edges,
            "lane_km": round(self.lane_km, 3),
            "v2x_km": round(self.v2x_km, 3),
            "n_v2x_corridors": len({c for c in self.edge_v2x if c}),
            "n_rsu_signals": int(self.signal_rsu.sum()),
        }

    # ------------------------------------------------------------- reading
    @classmethod
    def from_sumo(cls, path: str | Path) -> Network:
        """Read a SUMO net with traffic lights.

        Raises:
            InputError: missing file, not a SUMO net, or a net without traffic lights.
        """
        path = require_file(path, "net", "an existing SUMO .net.xml file")
        net = _read_sumolib(path)
        return _build(path, net)


def _read_sumolib(path: Path):
    import sumolib  # sumolib is pure Python; it does not need SUMO_HOME

    head = _head(path)
    if "<net" not in head:
        raise InputError(path, "root element", "a SUMO network (<net>)", _root_tag(head))
    try:
        return sumolib.net.readNet(
            str(path),
            withPrograms=True,
            withConnections=True,
            withFoes=True,
            # crossings are tls links too: without this their state characters have no link
            withPedestrianConnections=True,
        )
    except Exception as exc:  # lxml / sax errors, truncated files
        raise InputError(
            path, "xml", "a readable SUMO .net.xml", f"{type(exc).__name__}: {exc}"
        ) from None


def _head(path: Path) -> str:
    import gzip

    try:
        with gzip.open(path, "rt", errors="replace") as fh:
            return fh.read(4096)
    except OSError:
        with open(path, errors="replace") as fh:
            return fh.read(4096)


def _root_tag(head: str) -> str:
    import re

    m = re.search(r"<([A-Za-z_][\w.-]*)", head.split("?>", 1)[-1])
    return f"<{m.group(1)}>" if m else "no XML element"


def _build(path: Path, net) -> Network:
    tls_list = sorted(net.getTrafficLights(), key=lambda t: t.getID())
    if not tls_list:
        raise InputError(path, "tlLogic", "a net with at least one traffic light", "none")

    edges = [
        e
        for e in net.getEdges(withInternal=False)
        if e.getFunction() not in ("internal", "crossing", "walkingarea")
    ]
    edge_idx = {e.getID(): i for i, e in enumerate(edges)}

    def veh_lanes(edge) -> int:
        return sum(1 for lane in edge.getLanes() if lane.allows("passenger")) or len(
            edge.getLanes()
        )

    edge_len = np.array([e.getLength() for e in edges], dtype=float)
    edge_lanes = np.array([veh_lanes(e) for e in edges], dtype=np.int32)
    edge_v2x = tuple(str(e.getParam(V2X_PARAM, "") or "") for e in edges)

    sig_ids, sig_junc, sig_xy, sig_off, sig_prog = [], [], [], [], []
    link_start, mov_start, phase_start = [0], [0], [0]
    L_sig, L_idx, L_from, L_to, L_dir, L_ped, L_mov, L_junc = [], [], [], [], [], [], [], []
    M_sig, M_from, M_to, M_dir, M_lanes, M_sat = [], [], [], [], [], []
    P_sig, P_state, P_dur, P_min, P_max = [], [], [], [], []
    foes_per_sig, proh_per_sig = [], []

    for s, tls in enumerate(tls_list):
        conns = sorted(tls.getConnections(), key=lambda c: c[2])  # (inLane, outLane, linkIndex)
        if not conns:
            raise InputError(
                path, f"tlLogic {tls.getID()}", "a traffic light controlling connections", "none"
            )
        n_links = max(c[2] for c in conns) + 1
        programs = tls.getPrograms()
        if not programs:
            raise InputError(path, f"tlLogic {tls.getID()}", "a program with phases", "none")
        prog_id = sorted(programs)[0]
        prog = programs[prog_id]
        phases = prog.getPhases()
        n_links = _state_length(path, tls.getID(), str(prog_id), phases, n_links)

        # One entry per link index; a link index may appear for several lane pairs only in
        # odd nets -- keep the first (SUMO itself uses one state character per index).
        by_index: dict[int, tuple] = {}
        for in_lane, out_lane, li in conns:
            by_index.setdefault(li, (in_lane, out_lane))
        junctions: list[str] = []
        link_conn = {}
        for li, (in_lane, out_lane) in by_index.items():
            conn = _find_connection(in_lane, out_lane)
            link_conn[li] = conn
            if conn is not None:
                j = conn.getJunction().getID()
                if j not in junctions:
                    junctions.append(j)

        # movements: group vehicle links by (from edge, to edge)
        groups: dict[tuple[str, str], list[int]] = {}
        ped = {}
        for li in range(n_links):
            if li not in by_index:
                ped[li] = True  # an index no connection uses (unused state characters)
                continue
            in_lane, out_lane = by_index[li]
            fe, te = in_lane.getEdge(), out_lane.getEdge()
            is_ped = (
                fe.getFunction() in ("crossing", "walkingarea")
                or te.getFunction() in ("crossing", "walkingarea")
                or not in_lane.allows("passenger")
            )
            ped[li] = is_ped
            if not is_ped:
                groups.setdefault((fe.getID(), te.getID()), []).append(li)

        # lane sharing: a from-lane serving k movements counts 1/k lane to each
        lane_movs: dict[str, set] = {}
        for key, lis in groups.items():
            for li in lis:
                lane_movs.setdefault(by_index[li][0].getID(), set()).add(key)
        m0 = len(M_sig)
        mov_of_key = {}
        for key in sorted(groups, key=lambda k: min(groups[k])):
            lis = groups[key]
            lanes = {by_index[li][0].getID() for li in lis}
            eff = sum(1.0 / len(lane_movs[ln]) for ln in lanes)
            conn = link_conn[lis[0]]
            d = conn.getDirection() if conn is not None else "s"
            mov_of_key[key] = len(M_sig)
            M_sig.append(s)
            M_from.append(key[0])
            M_to.append(key[1])
            M_dir.append(d)
            M_lanes.append(eff)
            M_sat.append(BASE_SAT_FLOW_VPHPL / 3600.0 * eff * TURN_FACTOR.get(d, 1.0))

        # link arrays
        for li in range(n_links):
            in_lane, out_lane = by_index.get(li, (None, None))
            conn = link_conn.get(li)
            L_sig.append(s)
            L_idx.append(li)
            L_from.append(in_lane.getID() if in_lane is not None else "")
            L_to.append(out_lane.getID() if out_lane is not None else "")
            L_dir.append(conn.getDirection() if conn is not None else "")
            L_ped.append(bool(ped.get(li, True)))
            L_junc.append(conn.getJunction().getID() if conn is not None else "")
            if in_lane is not None and not ped[li]:
                L_mov.append(mov_of_key[(in_lane.getEdge().getID(), out_lane.getEdge().getID())])
            else:
                L_mov.append(-1)

        # foes / prohibits from the junction <request> rows (junction-local link indices)
        foes = np.zeros((n_links, n_links), dtype=bool)
        proh = np.zeros((n_links, n_links), dtype=bool)
        jidx = {
            li: (c.getJunction(), c.getJunctionIndex())
            for li, c in link_conn.items()
            if c is not None
        }
        for a, (ja, ia) in jidx.items():
            fa = ja._foes.get(ia)
            pa = ja._prohibits.get(ia)
            if fa is None:
                continue
            for b, (jb, ib) in jidx.items():
                if jb is not ja or a == b:
                    continue
                k = len(fa) - ib - 1
                if 0 <= k < len(fa):
                    foes[a, b] = fa[k] == "1"
                    # response row of a: bit ib set -> link a must yield to link ib
                    proh[a, b] = pa is not None and pa[len(pa) - ib - 1] == "1"
        foes |= foes.T  # SUMO's foes relation is symmetric; guard against odd nets
        foes_per_sig.append(foes)
        proh_per_sig.append(proh)

        for ph in phases:
            P_sig.append(s)
            P_state.append(ph.state)
            P_dur.append(float(ph.duration))
            P_min.append(
                float(ph.minDur)
                if ph.minDur is not None and float(ph.minDur) >= 0
                else float(ph.duration)
            )
            P_max.append(
                float(ph.maxDur)
                if ph.maxDur is not None and float(ph.maxDur) >= 0
                else float(ph.duration)
            )

        nodes = [net.getNode(j) for j in junctions] or []
        xy = np.mean([n.getCoord()[:2] for n in nodes], axis=0) if nodes else np.zeros(2)
        sig_ids.append(tls.getID())
        sig_junc.append(tuple(junctions))
        sig_xy.append(xy)
        sig_off.append(float(prog.getOffset() or 0.0))
        sig_prog.append(str(prog_id))
        link_start.append(len(L_sig))
        mov_start.append(len(M_sig))
        phase_start.append(len(P_sig))
        del m0

    S = len(sig_ids)
    lmax = max(f.shape[0] for f in foes_per_sig)
    link_foes = np.zeros((S, lmax, lmax), dtype=bool)
    link_proh = np.zeros((S, lmax, lmax), dtype=bool)
    for s, (f, p) in enumerate(zip(foes_per_sig, proh_per_sig, strict=True)):
        n = f.shape[0]
        link_foes[s, :n, :n] = f
        link_proh[s, :n, :n] = p

    mov_in = np.array([edge_idx[e] for e in M_from], dtype=np.int64)
    mov_out = np.array([edge_idx.get(e, -1) for e in M_to], dtype=np.int64)
    speed = np.array([e.getSpeed() for e in edges], dtype=float)
    mov_len = edge_len[mov_in] if len(mov_in) else np.zeros(0)
    mov_speed = speed[mov_in] if len(mov_in) else np.zeros(0)

    # A roadside unit sits at every signal that a V2X corridor edge enters.
    sig_rsu = np.zeros(S, dtype=bool)
    for m, s in enumerate(M_sig):
        if edge_v2x[mov_in[m]]:
            sig_rsu[s] = True

    A = np.asarray
    return Network(
        path=path,
        signal_ids=tuple(sig_ids),
        signal_junctions=tuple(sig_junc),
        signal_xy_m=_frozen(A(sig_xy, dtype=float).reshape(S, 2)),
        signal_link_start=_frozen(A(link_start, dtype=np.int64)),
        signal_mov_start=_frozen(A(mov_start, dtype=np.int64)),
        signal_phase_start=_frozen(A(phase_start, dtype=np.int64)),
        signal_offset_s=_frozen(A(sig_off, dtype=float)),
        signal_program_id=tuple(sig_prog),
        signal_rsu=_frozen(sig_rsu),
        link_signal=_frozen(A(L_sig, dtype=np.int64)),
        link_index=_frozen(A(L_idx, dtype=np.int64)),
        link_from_lane=tuple(L_from),
        link_to_lane=tuple(L_to),
        link_dir=tuple(L_dir),
        link_is_ped=_frozen(A(L_ped, dtype=bool)),
        link_movement=_frozen(A(L_mov, dtype=np.int64)),
        link_junction=tuple(L_junc),
        link_foes=_frozen(link_foes),
        link_prohibits=_frozen(link_proh),
        mov_signal=_frozen(A(M_sig, dtype=np.int64)),
        mov_from_edge=tuple(M_from),
        mov_to_edge=tuple(M_to),
        mov_in_edge=_frozen(mov_in),
        mov_out_edge=_frozen(mov_out),
        mov_dir=tuple(M_dir),
        mov_lanes=_frozen(A(M_lanes, dtype=float)),
        mov_sat_flow_vps=_frozen(A(M_sat, dtype=float)),
        mov_length_m=_frozen(mov_len),
        mov_speed_mps=_frozen(mov_speed),
        mov_free_flow_s=_frozen(mov_len / np.maximum(mov_speed, 0.1)),
        phase_signal=_frozen(A(P_sig, dtype=np.int64)),
        phase_state=tuple(P_state),
        phase_duration_s=_frozen(A(P_dur, dtype=float)),
        phase_min_s=_frozen(A(P_min, dtype=float)),
        phase_max_s=_frozen(A(P_max, dtype=float)),
        edge_ids=tuple(e.getID() for e in edges),
        edge_from=tuple(e.getFromNode().getID() for e in edges),
        edge_to=tuple(e.getToNode().getID() for e in edges),
        edge_length_m=_frozen(edge_len),
        edge_speed_mps=_frozen(speed),
        edge_lanes=_frozen(edge_lanes),
        edge_storage_veh=_frozen(edge_len * edge_lanes / JAM_SPACING_M),
        edge_v2x=edge_v2x,
    )


class SumoLoadWarning(UserWarning):
    """Something SUMO loads with a warning (the same input loads here with the same warning)."""


def _state_length(path: Path, tls_id: str, prog_id: str, phases, n_controlled: int) -> int:
    """Links of a signal: its state length, which SUMO allows to exceed the controlled links.

    SUMO loads a tlLogic whose state strings are longer than the highest controlled link index
    + 1 and warns ("Unused states in tlLogic ..."; NLJunctionControlBuilder); the extra
    characters control nothing. A shorter state (a controlled link without a character) is an
    error in SUMO ("Invalid linkIndex") and here. Phases of one program must agree in length.
    """
    found = sorted({len(ph.state) for ph in phases}) if phases else [0]
    if not phases or len(found) != 1 or found[0] < n_controlled:
        raise InputError(
            path,
            f"tlLogic {tls_id} state length",
            str(n_controlled) if found[0] < n_controlled else "one length for every phase",
            ",".join(map(str, found)),
        )
    n = found[0]
    if n > n_controlled:
        import warnings

        # lineno 0: the warning prints as one line (no source line to show)
        warnings.warn_explicit(
            f"Unused states in tlLogic {tls_id!r}, program {prog_id!r}: {n - n_controlled} "
            f"state character(s) after tl-index {n_controlled - 1} control no link (SUMO loads "
            "it with the same warning)",
            SumoLoadWarning,
            str(path),
            0,
        )
    return n


def _find_connection(in_lane, out_lane):
    for c in in_lane.getOutgoing():
        if c.getToLane() is out_lane:
            return c
    return None


def count_signalized_intersections(network: Network) -> int:
    """Signals with at least two conflicting vehicle approaches (the pilot-zone acceptance count).

    A signal counts when two of its vehicle links that come from different incoming edges are
    foes in SUMO's conflict matrix -- a signal on a dead end or a plain mid-block crossing does not.
    """
    n = 0
    for s in range(network.n_signals):
        sl = network.links_of(s)
        veh = ~network.link_is_ped[sl]
        from_edges = np.array([ln.rsplit("_", 1)[0] for ln in network.link_from_lane[sl]])
        f = network.foes(s) & veh[:, None] & veh[None, :]
        f &= from_edges[:, None] != from_edges[None, :]
        n += bool(f.any())
    return n


def to_json(network: Network) -> str:
    return json.dumps(network.summary())
