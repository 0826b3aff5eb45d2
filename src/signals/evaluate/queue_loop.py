"""The closed loop on the queue model: the SUMO loop's rules and programs, the queue model's
physics (issue 12, "one observation type for every backend").

An online controller (:class:`signals.control.adaptive.Controller`) runs here unchanged: every
``delta_t_s`` the loop builds an :class:`~signals.control.adaptive.Observation` from the model's
state, asks the controller for the stage each signal should show, and applies the request with
the SUMO loop's own bookkeeping (:class:`signals.evaluate.sumo_loop.ClosedLoop`: min green, max
green, unknown stages ignored) on the SUMO loop's own programs
(:class:`~signals.evaluate.sumo_loop.StageProgram`, every change chain checked by the safety gate
when built). The model is then advanced from one program event to the next with the green and
yellow shares of the rows the signals show, so the queue model sees exactly the states SUMO
would show, change intervals included.

Observation from the model state (one copy, batch row 0):

* ``queue_veh``: the model's stop-line queue of each movement (SUMO: halting vehicles);
* ``approach_veh``: the queue plus the movement's share (turning ratio) of the vehicles still
  travelling on its incoming edge (SUMO: vehicles on the movement's lanes);
* ``down_*``: Varaiya's downstream term, sum over the movements p leaving the edge m enters of
  ``ratio(p) * x(p)`` (exit edges: 0, the model keeps no queue there);
* ``cv_*``: connected vehicles within roadside-unit range: the queue and the travelling vehicles
  on the last ``rsu_range_m`` of the edge (uniformly spread), thinned binomially at the
  penetration rate ``cv_share`` (a fluid count is rounded first), at signals with an RSU.
* ``det_gap_s`` / ``det_occupied`` (loop detectors): a detection whenever the movement's
  cumulative stop-line arrivals cross a whole vehicle (dated half a decision interval back), and
  gap 0 while the queue reaches back over the advance detector (``detector_advance_s`` of travel
  at the speed limit, 7.5 m of lane per queued vehicle: SUMO's default 5 m car and 2.5 m gap);
  the stop-bar loop is occupied while at least half a vehicle queues;
* ``cv_eta_s``: the model's delay line holds the vehicles that reach the stop line in each of
  the next seconds; the nearest connected vehicle is the first second by which the movement's
  expected connected vehicles on the last ``rsu_range_m`` of the edge add up to half a vehicle
  (turning ratio x penetration x delay-line mass; deterministic).

Core module: no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import math

import numpy as np

from signals.control.adaptive import Controller, Observation
from signals.errors import InputError
from signals.evaluate.queue import QueueModel, QueueResult
from signals.evaluate.queue.reference import _segsum
from signals.evaluate.sumo_loop import ClosedLoop, LoopConfig, SafetyViolation, StageProgram
from signals.safety import conflicting_green, illegal_transitions
from signals.states import YELLOW_CHARS


class QueueLoop:
    """One queue-model copy driven by the loop's programs, one decision at a time.

    Example::

        stages, program = loop_stages(net, plans, config)
        ql = QueueLoop(QueueModel.from_routes(net, routes), program, config, cv_share=0.3)
        res = ql.run(MaxPressure(), horizon_s=3600, seed=11)   # QueueResult
        # or step by step (the RL environments):
        obs = ql.reset(seed=11)
        obs = ql.step(desired_stage)                           # (S,) local stage per signal

    Args:
        qm: the queue model (its demand, turning ratios and parameters).
        program: the loop's checked programs (:func:`signals.evaluate.sumo_loop.loop_stages`).
        config: the loop's settings (``delta_t_s``, ``rsu_range_m``, ``rsu_at``, ``audit``).
        cv_share: connected-vehicle penetration rate in [0, 1] (for the ``cv_*`` arrays).
        horizon_s: episode length (queue samples for the 95th percentile are kept up to it).
        needs: observation groups to build (:attr:`Controller.needs`; None: all). Without
            ``"cv"``/``"cv_counts"`` the connected-vehicle arrays stay zero, as in the SUMO loop.
    """

    def __init__(
        self,
        qm: QueueModel,
        program: StageProgram,
        config: LoopConfig | None = None,
        *,
        cv_share: float = 0.0,
        horizon_s: float = 3600.0,
        needs: frozenset[str] | None = None,
    ):
        config = config or LoopConfig()
        config.check()
        if not 0.0 <= cv_share <= 1.0:
            raise InputError(None, "cv_share", "a penetration rate in [0, 1]", cv_share)
        if not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise InputError(None, "horizon_s", "a positive number of seconds", horizon_s)
        net = qm.network
        self.qm, self.program, self.config = qm, program, config
        self.network = net
        self.cv_share = float(cv_share)
        self._cv = needs is None or bool(set(needs) & {"cv", "cv_counts"})
        self.horizon_s = float(horizon_s)
        M, S = net.n_movements, net.n_signals
        yellow = "".join(sorted(YELLOW_CHARS))
        # each program row's green and yellow share over its signal's movements, padded:
        # (S, n_max) movement indices (-1 past a signal's movements), (R, n_max) shares
        n_mov = np.diff(np.asarray(net.signal_mov_start))
        n_max = max(int(n_mov.max(initial=0)), 1)
        self._mov_pad = np.full((S, n_max), -1, dtype=np.int64)
        for s in range(S):
            self._mov_pad[s, : n_mov[s]] = np.arange(
                net.signal_mov_start[s], net.signal_mov_start[s + 1]
            )
        R = program.n_rows
        row_sig = np.repeat(np.arange(S), np.diff(program.prog_start))
        self._row_g = np.zeros((R, n_max))
        self._row_y = np.zeros((R, n_max))
        for r, (s, st) in enumerate(zip(row_sig.tolist(), program.row_state, strict=True)):
            self._row_g[r, : n_mov[s]] = net.movement_green_share(s, st)
            self._row_y[r, : n_mov[s]] = net.movement_state_share(s, st, yellow)
        tp = qm.topo
        self._mov_in = np.asarray(tp.mov_in[:M])
        self._mov_out = np.asarray(tp.mov_out[:M])
        self._ratio = np.asarray(tp.ratio[:M], dtype=float)
        length = np.maximum(np.asarray(net.edge_length_m, dtype=float), 1.0)
        self._range_frac = np.minimum(1.0, config.rsu_range_m / length)[self._mov_in]
        rsu = (
            np.ones(S, dtype=bool)
            if config.rsu_at == "all"
            else np.asarray(net.signal_rsu, dtype=bool)
        )
        self._cv_observed = rsu[np.asarray(net.mov_signal)]
        want = set(needs) if needs is not None else {"detectors", "cv_eta"}
        self._det = "detectors" in want
        self._eta = "cv_eta" in want and self.cv_share > 0
        # advance detector: queued vehicles per lane that reach back over it (7.5 m each)
        speed = np.asarray(net.edge_speed_mps, dtype=float)[self._mov_in]
        lanes = np.maximum(np.asarray(net.mov_lanes, dtype=float), 1e-9)
        self._q_over_adv = lanes * np.maximum(config.detector_advance_s * speed / 7.5, 1.0)
        # delay-line slots in arrival order: slot i of edge e is ring[start_e + (t + i) % T_e]
        T = np.asarray(tp.travel_steps, dtype=np.int64)
        start = np.asarray(tp.ring_start[:-1], dtype=np.int64)
        self._slot_edge = np.repeat(np.arange(len(T)), T)
        self._slot_i = np.arange(int(T.sum())) - np.repeat(start, T)
        self._slot_in_range = (
            self._slot_i
            < np.ceil(np.minimum(1.0, config.rsu_range_m / length) * T)[self._slot_edge]
        )
        self._edge_start, self._edge_T = start, T
        self.loop: ClosedLoop | None = None
        self.rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ stepping
    @property
    def time_s(self) -> float:
        return float(self.qm.state.t)

    @property
    def done(self) -> bool:
        return self.loop is not None and self.time_s >= self.horizon_s - 1e-9

    def reset(self, seed: int | None = None, controller: Controller | None = None) -> Observation:
        """Empty network at t = 0, every signal in the green of its first stage.

        ``seed``: None for fluid (expected-value) demand, else the Poisson demand seed; it also
        seeds the connected-vehicle thinning. No file is read or written.
        """
        self.qm.reset(1, seeds=None if seed is None else [int(seed)], horizon_s=self.horizon_s)
        self.rng = np.random.default_rng(seed)
        self.loop = ClosedLoop(
            self.network, self.program, controller or Controller(), self.config, None, 0.0
        )
        M = self.network.n_movements
        self._green = np.zeros((1, M))
        self._yellow = np.zeros((1, M))
        self._shown_row = np.full(self.network.n_signals, -1, dtype=np.int64)
        self._shown_codes: np.ndarray | None = None
        self._arrived = np.zeros(M)
        self._last_det_s = np.full(M, -math.inf)
        self._refresh()
        return self.observation()

    def step(self, desired: np.ndarray) -> Observation:
        """Apply the loop's rules to the requested stages (S,) at the current decision instant,
        then advance the model ``delta_t_s`` (or to the horizon)."""
        loop = self._require()
        t = self.time_s
        idx, target = loop.decide(t, desired)
        loop.apply(t, idx, target)
        loop.stats.decisions += 1
        self._advance(min(t + float(self.config.delta_t_s), self.horizon_s))
        return self.observation()

    def run(self, controller: Controller, *, seed: int | None = None, rng=None) -> QueueResult:
        """A whole episode with an online controller; the queue model's metrics of it."""
        obs = self.reset(seed, controller)
        controller.reset(self.network, self.program.stages, rng)
        while not self.done:
            obs = self.step(controller.act(obs))
        return self.qm.result()

    def _advance(self, t_end: float) -> None:
        """Run the model to ``t_end``: the rows each signal shows change at program events
        (change intervals ending); the shares of each stretch between events are collected and
        the model runs the whole interval in one call."""
        loop = self._require()
        t0 = t = self.time_s
        greens, yellows, lengths = [], [], []
        while t < t_end - 1e-9:
            self._refresh()
            nxt = min(t_end, float(loop.row_end_s.min()))
            n = max(1, int(round(nxt - t)))
            greens.append(self._green.copy())
            yellows.append(self._yellow.copy())
            lengths.append(n)
            t += n
            loop.advance_rows(t)
        if lengths:
            seg = np.repeat(np.arange(len(lengths)), lengths)
            self.qm.run_schedule(np.stack(greens), np.stack(yellows), seg)
            assert self.time_s == t0 + len(seg)
        self._refresh()

    def _refresh(self) -> None:
        """Green and yellow shares of the rows the signals show now (only changed signals)."""
        loop = self._require()
        changed = np.flatnonzero(loop.row != self._shown_row)
        if not len(changed):
            return
        if self.config.audit:
            self._audit(loop.row)
        idx = self._mov_pad[changed]
        rows = loop.row[changed]
        ok = idx >= 0
        self._green[0, idx[ok]] = self._row_g[rows][ok]
        self._yellow[0, idx[ok]] = self._row_y[rows][ok]
        self._shown_row = loop.row.copy()

    def _audit(self, rows: np.ndarray) -> None:
        """The gate's per-step rules on the state about to be shown (``config.audit``)."""
        net = self.network
        codes = self.program.flat_codes(net, rows)
        bad = conflicting_green(net, codes)
        if self._shown_codes is not None:
            bad |= illegal_transitions(net, self._shown_codes, codes)
        loop = self._require()
        loop.stats.gate_checks += 1
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise SafetyViolation(
                f"signal {net.signal_ids[s]}: refused state {self.program.row_state[rows[s]]!r}"
            )
        self._shown_codes = codes

    # ------------------------------------------------------------------ observation
    def observation(self) -> Observation:
        """The :class:`Observation` of the current model state (see the module docstring)."""
        loop = self._require()
        st = self.qm.state
        M = self.network.n_movements
        q = st.q[0, :M].copy()
        moving = st.moving[0][self._mov_in] * self._ratio
        app = q + moving
        cv_q = np.zeros(M)
        cv_app = np.zeros(M)
        rows = [q, app]
        if self.cv_share > 0 and self._cv:
            in_range = q + moving * self._range_frac
            cv_q = self._thin(q) * self._cv_observed
            cv_app = np.maximum(self._thin(in_range), cv_q) * self._cv_observed
            rows += [cv_q, cv_app]
        down = self._down(np.stack(rows))
        z = np.zeros(M)
        t = self.time_s
        tis = t - loop.green_start_s
        gap = occupied = eta = None
        if self._det:
            gap, occupied = self._detectors(t, q, st.acc_m[0, 2, :M])
        if self._eta:
            eta = self._cv_eta(st)
        return Observation(
            time_s=t,
            queue_veh=q,
            approach_veh=app,
            down_queue_veh=down[0],
            cv_queue_veh=cv_q,
            cv_approach_veh=cv_app,
            cv_down_queue_veh=down[2] if len(down) > 2 else z,
            cv_observed=self._cv_observed.copy(),
            stage=loop.stage.copy(),
            time_in_stage_s=tis,
            in_change=tis < 0,
            down_approach_veh=down[1],
            cv_down_approach_veh=down[3] if len(down) > 2 else z,
            det_gap_s=gap,
            det_occupied=occupied,
            cv_eta_s=eta,
        )

    def _detectors(
        self, t: float, q: np.ndarray, discharged: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """det_gap_s, det_occupied of the model state (module docstring)."""
        arrived = discharged + q
        crossed = np.floor(arrived + 1e-9) > np.floor(self._arrived + 1e-9)
        self._last_det_s[crossed] = t - 0.5 * float(self.config.delta_t_s)
        self._arrived = arrived.copy()
        self._last_det_s[q >= self._q_over_adv] = t  # a vehicle stands over the loop
        return np.maximum(t - self._last_det_s, 0.0), q >= 0.5

    def _cv_eta(self, st) -> np.ndarray:
        """cv_eta_s from the delay lines (module docstring)."""
        M = self.network.n_movements
        e0, T = self._edge_start, self._edge_T
        idx = e0[self._slot_edge] + (int(st.t) + self._slot_i) % T[self._slot_edge]
        mass = np.where(self._slot_in_range, st.ring[0, idx], 0.0)
        cum = np.cumsum(mass)
        base = np.concatenate([[0.0], cum])[e0]  # mass before each edge's first slot
        e = self._mov_in
        want = 0.5 / np.maximum(self._ratio * self.cv_share, 1e-12)
        i = np.searchsorted(cum, base[e] + want - 1e-12, side="left")
        end = e0[e] + T[e]
        found = (i < end) & self._slot_in_range[np.minimum(i, len(cum) - 1)]
        found &= self._cv_observed
        return np.where(found, (i - e0[e]) + 1.0, np.inf)[:M]

    def _down(self, x: np.ndarray) -> np.ndarray:
        """Varaiya's downstream term of each row of ``x`` (n, M): sum of ratio(p) * x(p) over
        the movements p leaving the edge each movement enters (0 for exits)."""
        edge = _segsum(self._ratio * x, self._mov_in, self.network.n_edges)
        out = self._mov_out
        return np.where(out >= 0, edge[:, np.maximum(out, 0)], 0.0)

    def _thin(self, x: np.ndarray) -> np.ndarray:
        if self.cv_share >= 1.0:
            return x.copy()
        n = np.rint(np.maximum(x, 0.0)).astype(np.int64)
        return self.rng.binomial(n, self.cv_share).astype(float)

    def _require(self) -> ClosedLoop:
        if self.loop is None:
            raise InputError("queue loop", "state", "reset() before step()", "no reset")
        return self.loop
