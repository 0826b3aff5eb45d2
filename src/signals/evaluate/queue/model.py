"""The queue model's API: :class:`QueueModel` (offline ``evaluate``; online ``reset``, ``step``,
``observe``, ``result``) and its :class:`QueueResult`, on the numpy reference or the compiled
kernel (imported lazily)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from signals.errors import InputError
from signals.evaluate.queue.demand import DemandStream
from signals.evaluate.queue.params import CALIBRATED, CHUNK_STEPS, QueueParams
from signals.evaluate.queue.reference import (
    A_DEL,
    A_DIS,
    A_STOP,
    R_BDEL,
    R_EXIT,
    R_MOV,
    R_QDEL,
    R_STOP,
    ROW_FIELDS,
    State,
    _segsum,
    approach_samples,
    online_effective_np,
    step_np,
)
from signals.evaluate.queue.timing import (
    PlanTables,
    effective_green_np,
    green_fraction,
    plan_tables,
)
from signals.evaluate.queue.topology import Topology, build_topology, route_inputs
from signals.lanes import LaneGroups
from signals.network import Network


# ------------------------------------------------------------------------------------ result
@dataclass(eq=False)
class QueueResult:
    """Metrics of N evaluated rows (plans x seeds), batch-first.

    Attributes:
        plan_index, seed: (N,) which plan and demand seed each row is (seed -1: fluid demand).
        horizon_s: simulated seconds.
        row: dict of (N,) totals (ROW_FIELDS plus n_inside).
        avg_delay_s: (N,) delay per vehicle (time in network minus free-flow time, counting
            vehicles still inside and those not yet inserted: the RESCO definition).
        avg_stops: (N,) stops per vehicle.
        throughput_veh: (N,) finished trips.
        mov_delay_vs, mov_arrivals, mov_stops, mov_discharged, mov_capacity_veh: (N, M) signal
            movements.
        signal_delay_s: (N, S) control delay per vehicle arriving at the signal.
        signal_vc: (N, S) highest movement volume/capacity ratio at the signal.
        approach_edges: (A,) edge indices; approach_queue_mean/max/p95_veh: (N, A).
    """

    network: Network
    params: QueueParams
    plan_index: np.ndarray
    seed: np.ndarray
    horizon_s: float
    row: dict[str, np.ndarray]
    mov_delay_vs: np.ndarray
    mov_arrivals: np.ndarray
    mov_stops: np.ndarray
    mov_discharged: np.ndarray
    mov_capacity_veh: np.ndarray
    approach_edges: np.ndarray
    approach_queue_mean_veh: np.ndarray
    approach_queue_max_veh: np.ndarray
    approach_queue_p95_veh: np.ndarray
    queue_samples: np.ndarray | None = None  # (N, n_samples, G) lane-group queues, float32
    lane_groups: LaneGroups | None = None  # the groups of queue_samples
    group_approach: np.ndarray | None = None  # (G,) approach index of each group
    travel_s: np.ndarray | None = None  # (E,) free-flow time of each edge, s (1 s steps)
    extra: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.plan_index)

    @property
    def n_vehicles(self) -> np.ndarray:
        return self.row["demanded"]

    @property
    def total_delay_vs(self) -> np.ndarray:
        p = self.params
        r = self.row
        return (
            r["queue_delay_vs"]
            + r["backlog_delay_vs"]
            + p.stop_penalty_s * r["stops"]
            + p.freeflow_loss_frac * r["moving_vs"]
        )

    @property
    def avg_delay_s(self) -> np.ndarray:
        return self.total_delay_vs / np.maximum(self.n_vehicles, 1e-9)

    @property
    def avg_stops(self) -> np.ndarray:
        return self.row["stops"] / np.maximum(self.n_vehicles, 1e-9)

    @property
    def throughput_veh(self) -> np.ndarray:
        return self.row["exited"]

    @property
    def signal_arrivals(self) -> np.ndarray:
        return _segsum(self.mov_arrivals, self.network.mov_signal, self.network.n_signals)

    @property
    def approach_signal(self) -> np.ndarray:
        """(A,) signal index of each approach edge."""
        net = self.network
        first = np.full(net.n_edges, -1, dtype=np.int64)
        first[net.mov_in_edge[::-1]] = net.mov_signal[::-1]
        return first[self.approach_edges]

    def _per_approach(self, x: np.ndarray) -> np.ndarray:
        net = self.network
        app = np.searchsorted(self.approach_edges, net.mov_in_edge)
        return _segsum(x, app, len(self.approach_edges))

    @property
    def approach_arrivals(self) -> np.ndarray:
        """(N, A) vehicles that reached each approach's stop line."""
        return self._per_approach(self.mov_arrivals)

    @property
    def approach_capacity_vps(self) -> np.ndarray:
        """(N, A) saturation flow x effective green share, summed over the approach's movements."""
        return self._per_approach(self.mov_capacity_veh) / max(self.horizon_s, 1e-9)

    @property
    def approach_moving_vs(self) -> np.ndarray:
        """(N, A) vehicle-seconds spent moving on each approach edge: the vehicles that reached
        its stop line times the edge's free-flow time (the per-approach part of the row's
        ``moving_vs``; vehicles still on their way at the horizon are left out)."""
        if self.travel_s is None:
            return np.zeros_like(self.approach_arrivals)
        return self.approach_arrivals * self.travel_s[self.approach_edges]

    @property
    def approach_time_loss_s(self) -> np.ndarray:
        """(N, A) time lost on each approach, the model's counterpart of SUMO's timeLoss on the
        approach edge and the same definition as the network delay (:attr:`total_delay_vs`):
        queueing, the stop penalty per stop and the free-flow loss share of the time moving."""
        p = self.params
        return (
            self._per_approach(self.mov_delay_vs + p.stop_penalty_s * self.mov_stops)
            + p.freeflow_loss_frac * self.approach_moving_vs
        )

    @property
    def signal_delay_s(self) -> np.ndarray:
        """(N, S) control delay: approach time loss per vehicle arriving at the signal
        (the definition of ``control_delay_s`` in :mod:`signals.evaluate.metrics`)."""
        S = self.network.n_signals
        sig = self.approach_signal
        tot = _segsum(self.approach_time_loss_s, sig, S)
        n = _segsum(self.approach_arrivals, sig, S)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, tot / np.maximum(n, 1e-12), np.nan)

    @property
    def signal_vc(self) -> np.ndarray:
        """(N, S) highest movement v/c at each signal (arrivals over capacity offered)."""
        net = self.network
        x = self.mov_arrivals / np.maximum(self.mov_capacity_veh, 1e-9)
        out = np.zeros((self.n_rows, net.n_signals))
        np.maximum.at(out.T, net.mov_signal, x.T)
        return out

    def to_frame(
        self,
        *,
        run_id: str | Sequence[str] = "",
        scenario: str = "",
        controller: str | Sequence[str] = "queue_model",
    ):
        """Long table (run_id, scenario, controller, seed, scope, metric, value, unit).

        Scopes: "network", "signal:<id>", "approach:<edge id>" (docs/architecture.md, "Metrics").
        ``run_id`` and ``controller`` may be one string or one per row.
        """
        return _to_frame(self, run_id=run_id, scenario=scenario, controller=controller)


def _result(
    st: State,
    topo: Topology,
    network: Network,
    params: QueueParams,
    plan_index,
    seed,
    green_s: np.ndarray,
) -> QueueResult:
    """Metrics from a final state; ``green_s`` (B, Mt) effective green seconds per movement."""
    M = topo.n_mov
    T = max(st.t, 1)
    row = {name: st.acc_r[:, i].copy() for i, name in enumerate(ROW_FIELDS)}
    row["n_inside"] = st.moving.sum(1) + st.q.sum(1)
    row["n_backlog"] = st.backlog.sum(1)
    app_in = topo.edge_app[topo.mov_in[:M]]
    A = len(topo.approach_edges)
    qmean = _segsum(st.acc_m[:, A_DEL, :M], app_in, A) / T
    n_samp = min(st.samples.shape[1], st.t // st.sample_steps) if st.sample_steps > 0 else 0
    samples = st.samples[:, :n_samp, :] if n_samp > 0 else None
    if samples is not None:
        p95 = np.percentile(approach_samples(samples, topo.grp_app, A).astype(float), 95, axis=1)
    else:
        p95 = np.full_like(qmean, np.nan)
    return QueueResult(
        network=network,
        params=params,
        plan_index=np.asarray(plan_index),
        seed=np.asarray(seed),
        horizon_s=float(st.t),
        row=row,
        mov_delay_vs=st.acc_m[:, A_DEL, :M].copy(),
        mov_arrivals=st.acc_m[:, A_DIS, :M] + st.q[:, :M],
        mov_stops=st.acc_m[:, A_STOP, :M].copy(),
        mov_discharged=st.acc_m[:, A_DIS, :M].copy(),
        mov_capacity_veh=topo.sat_vps[:M] * green_s[:, :M],
        approach_edges=topo.approach_edges,
        approach_queue_mean_veh=qmean,
        approach_queue_max_veh=st.qmax.copy(),
        approach_queue_p95_veh=p95,
        queue_samples=samples,
        lane_groups=topo.lane_groups,
        group_approach=topo.grp_app,
        travel_s=topo.travel_steps.astype(float),
    )


# ------------------------------------------------------------------------------------- model
def _backend(name: str) -> str:
    if name not in ("auto", "numpy", "numba"):
        raise InputError("queue model", "backend", "auto, numpy or numba", name)
    if name == "auto":
        try:
            import numba  # noqa: F401

            return "numba"
        except ImportError:  # pragma: no cover
            return "numpy"
    return name


class QueueModel:
    """Vectorized queue/delay evaluator for batches of fixed-time plans and for online control.

    Example::

        qm = QueueModel(net, turning=turning_ratios(net, routes), entry_flow_vps=flows, bin_s=900)
        res = qm.evaluate(stack_arrays([ps.to_arrays(net) for ps in plansets]), horizon_s=3600)
        res.avg_delay_s          # (B,)
        res.to_frame(scenario="am_peak")

    Online (many independent copies, a controller choosing green each decision interval)::

        qm.reset(batch=8, stages=PlanSet.from_network(net).to_arrays(net))
        obs = qm.step(stage_idx, dt_s=5)  # stage_idx (B, S) or green shares (B, M)
    """

    def __init__(
        self,
        network: Network,
        turning: np.ndarray,
        entry_flow_vps: np.ndarray,
        *,
        bin_s: float | None = None,
        passthrough: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        params: QueueParams = CALIBRATED,
        backend: str = "auto",
    ):
        self.network = network
        self.params = params
        self.backend = _backend(backend)
        self.topo = build_topology(
            network, turning, entry_flow_vps, bin_s=bin_s, passthrough=passthrough, params=params
        )
        self._online: dict | None = None

    @classmethod
    def from_routes(
        cls,
        network: Network,
        routes,
        *,
        begin_s: float = 0.0,
        end_s: float = 3600.0,
        bin_s: float = 900.0,
        params: QueueParams = CALIBRATED,
        backend: str = "auto",
    ) -> QueueModel:
        """Model fed by a routed demand file: turning ratios and entry flows from
        :mod:`signals.demand`, pass-through ratios from the same routes.

        Entry flows are binned from ``begin_s``; the model's t = 0 is ``begin_s``.
        """
        turning, flows, passthrough = route_inputs(
            network, routes, begin_s=begin_s, end_s=end_s, bin_s=bin_s
        )
        return cls(
            network,
            turning,
            flows,
            bin_s=bin_s,
            passthrough=passthrough,
            params=params,
            backend=backend,
        )

    # -------------------------------------------------------------------- offline
    def evaluate(
        self,
        plans,
        horizon_s: float,
        seeds: Sequence[int] | None = None,
        *,
        queue_sample_s: float = 5.0,
    ) -> QueueResult:
        """Evaluate a batch of fixed-time plans over ``horizon_s`` (1 s steps from t = 0).

        Args:
            plans: PlanArrays (one PlanSet) or stacked PlanArrays with a leading batch axis B,
                or a prepared :class:`PlanTables`.
            horizon_s: simulated seconds.
            seeds: None for fluid demand; else Poisson arrivals per seed and the batch becomes
                B x len(seeds) rows (plan-major: row = plan * n_seeds + seed_index).
            queue_sample_s: sampling interval of approach queues for the 95th percentile.

        Returns:
            QueueResult with one row per (plan, seed).
        """
        tables = (
            plans
            if isinstance(plans, PlanTables)
            else plan_tables(plans, self.network, self.params)
        )
        B = tables.batch
        T = int(math.ceil(horizon_s))
        n_seeds = 1 if seeds is None else len(seeds)
        plan_index = np.repeat(np.arange(B), n_seeds)
        row_seed = np.tile(np.arange(n_seeds), B)
        if n_seeds > 1:
            tables = tables.take(plan_index)
        N = len(plan_index)
        ss = max(1, int(round(queue_sample_s)))
        stream = DemandStream(self.topo, seeds, row_seed)
        st = self._run_fixed(N, tables, stream, T, T // ss, ss)
        seed_arr = np.full(N, -1) if seeds is None else np.asarray(seeds)[row_seed]
        green_s = green_fraction(tables, self.topo) * T
        return _result(st, self.topo, self.network, self.params, plan_index, seed_arr, green_s)

    def _run_fixed(
        self, N: int, tables: PlanTables, stream: DemandStream, T: int, n_samp: int, ss: int
    ) -> State:
        if self.backend == "numba":
            from signals.evaluate.queue import kernel

            return kernel.run_fixed(N, self.topo, tables, stream, T, self.params, n_samp, ss)
        st = State.zeros(N, self.topo, n_samp, ss)
        for t0 in range(0, T, CHUNK_STEPS):
            n = min(CHUNK_STEPS, T - t0)
            slabs, rows = stream.chunk(t0, n)
            for i in range(n):
                eff = effective_green_np(tables, self.topo, float(st.t), 1.0)
                step_np(st, self.topo, eff, slabs[rows, i, :], self.params)
        return st

    # -------------------------------------------------------------------- online
    def reset(
        self,
        batch: int,
        *,
        seeds: Sequence[int] | None = None,
        stages=None,
        horizon_s: float | None = None,
        queue_sample_s: float = 5.0,
    ) -> dict:
        """Start ``batch`` independent copies at t = 0 with empty network.

        Args:
            batch: number of copies B.
            seeds: None for fluid demand, else one Poisson seed per copy (len B).
            stages: PlanArrays (unbatched) whose stages define the stage indices accepted by
                :meth:`step` (e.g. ``PlanSet.from_network(net).to_arrays(net)``).
            horizon_s: expected episode length; with it, approach queues are kept every
                ``queue_sample_s`` for the 95th percentile of :meth:`result`.
            queue_sample_s: approach-queue sampling interval (max and 95th percentile).

        Returns:
            the observation dict (see :meth:`observe`).
        """
        if seeds is not None and len(seeds) != batch:
            raise InputError("queue model", "seeds", f"{batch} seeds (one per copy)", len(seeds))
        ss = max(1, int(round(queue_sample_s)))
        n_samp = 0 if horizon_s is None else int(math.ceil(horizon_s)) // ss
        st = State.zeros(batch, self.topo, n_samp, ss)
        stream = DemandStream(
            self.topo, seeds, np.arange(batch) if seeds is not None else np.zeros(batch, np.int64)
        )
        stage_green = stage_yellow = None
        if stages is not None:
            stage_green = np.asarray(stages.mov_green, dtype=float)
            stage_yellow = np.asarray(stages.mov_yellow, dtype=float)
            if stage_green.ndim != 2 or stage_green.shape[1] != self.network.n_movements:
                raise InputError(
                    "queue model",
                    "stages.mov_green",
                    f"(K, {self.network.n_movements})",
                    stage_green.shape,
                )
        self._online = {
            "state": st,
            "stream": stream,
            "green": np.zeros((batch, self.topo.n_mov_total)),
            "stage_green": stage_green,
            "stage_yellow": stage_yellow,
            "seeds": None if seeds is None else list(seeds),
            "green_s": np.zeros((batch, self.topo.n_mov_total)),
            "batch": batch,
        }
        return self.observe()

    def green_from_stages(self, stage_idx: np.ndarray) -> np.ndarray:
        """(B, M) green shares of movements for per-signal stage indices (B, S)."""
        o = self._require_online()
        if o["stage_green"] is None:
            raise InputError(
                "queue model",
                "stages",
                "reset(..., stages=PlanArrays) before stage indices",
                "none",
            )
        k = np.asarray(stage_idx, dtype=np.int64)[:, self.network.mov_signal]  # (B, M)
        K = o["stage_green"].shape[0]
        if (k < 0).any() or (k >= K).any():
            raise InputError("queue model", "stage index", f"0..{K - 1}", int(k.max()))
        return o["stage_green"][k, np.arange(k.shape[1])]

    def step(
        self,
        action: np.ndarray,
        dt_s: int = 1,
        *,
        yellow: np.ndarray | None = None,
        observe: bool = True,
    ) -> dict | None:
        """Advance every copy ``dt_s`` seconds with the given signal decision held constant.

        Args:
            action: (B, S) int stage indices into ``reset(stages=...)``, or (B, M) float green
                share of each signal movement.
            dt_s: seconds to advance (integer steps of 1 s).
            yellow: optional (B, M) share of each movement's links showing yellow (the loop
                inserts yellow and all-red; a yellow movement keeps discharging for
                ``yellow_used_s``, HCM 6th ed. Ch. 19).
            observe: False to skip building the observation (a caller that reads the state
                itself, e.g. :class:`signals.evaluate.queue_loop.QueueLoop`).

        Returns:
            the observation dict (see :meth:`observe`), or None with ``observe=False``.
        """
        o = self._require_online()
        B = o["batch"]
        M = self.network.n_movements
        a = np.asarray(action)
        if a.shape == (B, self.network.n_signals) and np.issubdtype(a.dtype, np.integer):
            green = self.green_from_stages(a)
        elif a.shape == (B, M):
            green = a.astype(float)
        else:
            raise InputError(
                "queue model",
                "action",
                f"(B={B}, S={self.network.n_signals}) ints or ({B}, {M}) shares",
                a.shape,
            )
        n = int(dt_s)
        if n < 1:
            raise InputError("queue model", "dt_s", "an integer >= 1", dt_s)
        y = np.zeros((B, M)) if yellow is None else np.asarray(yellow, dtype=float)
        self.run_schedule(green[None], y[None], np.zeros(n, dtype=np.int64))
        return self.observe() if observe else None

    def run_schedule(self, green: np.ndarray, yellow: np.ndarray, segments: np.ndarray) -> None:
        """Advance every copy ``len(segments)`` seconds; second i shows the green and yellow
        shares ``green[segments[i]]``, ``yellow[segments[i]]`` ((G, B, M) each): one call for a
        whole decision interval of a closed loop whose signals change within it."""
        o = self._require_online()
        st = o["state"]
        B = o["batch"]
        M, Mt = self.network.n_movements, self.topo.n_mov_total
        green = np.asarray(green, dtype=float)
        G = green.shape[0]
        if green.shape != (G, B, M) or np.shape(yellow) != (G, B, M):
            raise InputError("queue model", "schedule", f"(G, B={B}, M={M}) shares", green.shape)
        seg = np.asarray(segments, dtype=np.int64)
        if seg.ndim != 1 or not len(seg) or seg.min() < 0 or seg.max() >= G:
            raise InputError("queue model", "segments", f"indices in 0..{G - 1}", seg.shape)
        g = np.ones((G, B, Mt))
        g[..., :M] = np.clip(green, 0.0, 1.0)
        y = np.zeros((G, B, Mt))
        y[..., :M] = np.clip(np.asarray(yellow, dtype=float), 0.0, 1.0)
        if self.backend == "numba":
            from signals.evaluate.queue import kernel

            kernel.run_online(st, self.topo, g, y, o["stream"], len(seg), self.params, seg)
        else:
            for i in seg.tolist():
                eff = online_effective_np(st, g[i], y[i], self.params)
                slabs, rows = o["stream"].chunk(st.t, 1)
                step_np(st, self.topo, eff, slabs[rows, 0, :], self.params)
        o["green"] = g[seg[-1]]
        o["green_s"] += np.einsum("gbm,g->bm", g, np.bincount(seg, minlength=G).astype(float))

    def change(
        self,
        stage_from: np.ndarray,
        stage_to: np.ndarray,
        *,
        yellow_s: int = 3,
        allred_s: int = 2,
    ) -> dict:
        """Run the change interval between two stage choices (B, S) of ``reset(stages=...)``.

        Links green in both stages stay green; the rest of the old stage's green shows yellow
        for ``yellow_s`` then red for ``allred_s`` (signals whose stage does not change keep
        their green). The caller (control loop) decides when; the safety gate owns the
        durations (docs/architecture.md, "Central types": the loop inserts yellow and all-red).
        """
        g_from = self.green_from_stages(stage_from)
        g_to = self.green_from_stages(stage_to)
        keep = np.minimum(g_from, g_to)
        obs = self.observe()
        if yellow_s > 0:
            obs = self.step(keep, int(yellow_s), yellow=g_from - keep)
        if allred_s > 0:
            obs = self.step(keep, int(allred_s))
        return obs

    def observe(self) -> dict:
        """Arrays for controllers (B copies): ``t_s`` (int), ``queue_veh`` (B, M) stop-line
        queues, ``approach_queue_veh`` (B, A), ``occupancy_veh`` (B, E), ``pressure_veh`` (B, M)
        (max-pressure weight: queue minus the ratio-weighted queues downstream, Varaiya 2013),
        ``delay_vs`` (B,) delay so far, ``arrived_veh`` (B,) finished trips so far."""
        o = self._require_online()
        st = o["state"]
        q, occ, acc_r = st.q, st.occ, st.acc_r
        M = self.network.n_movements
        tp = self.topo
        # downstream weighted queue of each edge: sum over its movements of ratio x queue
        down = _segsum(q * tp.ratio, tp.mov_in, tp.n_edges)
        out = tp.mov_out[:M]
        press = q[:, :M] - np.where(out >= 0, down[:, np.maximum(out, 0)], 0.0)
        app = _segsum(q[:, :M], tp.edge_app[tp.mov_in[:M]], len(tp.approach_edges))
        p = self.params
        delay = (
            acc_r[:, R_QDEL]
            + acc_r[:, R_BDEL]
            + p.stop_penalty_s * acc_r[:, R_STOP]
            + p.freeflow_loss_frac * acc_r[:, R_MOV]
        )
        return {
            "t_s": st.t,
            "queue_veh": q[:, :M].copy(),
            "approach_queue_veh": app,
            "occupancy_veh": occ.copy(),
            "pressure_veh": press,
            "delay_vs": delay,
            "arrived_veh": acc_r[:, R_EXIT].copy(),
        }

    def result(self) -> QueueResult:
        """Metrics of the online copies so far (one row per copy)."""
        o = self._require_online()
        st = self.state
        B = o["batch"]
        seeds = np.full(B, -1) if o["seeds"] is None else np.asarray(o["seeds"])
        return _result(st, self.topo, self.network, self.params, np.arange(B), seeds, o["green_s"])

    @property
    def state(self) -> State:
        """The online state (batch-first arrays)."""
        return self._require_online()["state"]

    def _require_online(self) -> dict:
        if self._online is None:
            raise InputError(
                "queue model", "online state", "reset(batch) before step()", "no reset"
            )
        return self._online


# ------------------------------------------------------------------------------- long table
def _to_frame(res: QueueResult, *, run_id, scenario: str, controller):
    """Long-schema DataFrame of a QueueResult with the builders of :mod:`signals.evaluate.metrics`
    (the same definitions as SUMO runs; see :meth:`QueueResult.to_frame`)."""
    import pandas as pd

    from signals.evaluate import metrics as Mx

    net = res.network
    N = res.n_rows
    run_ids = [run_id] * N if isinstance(run_id, str) else list(run_id)
    ctrls = [controller] * N if isinstance(controller, str) else list(controller)
    app_ids = [net.edge_ids[e] for e in res.approach_edges]
    app_sig = res.approach_signal
    tl = res.approach_time_loss_s
    ent = res.approach_arrivals
    cap = res.approach_capacity_vps
    frames = []
    for r in range(N):
        inside, backlog = float(res.row["n_inside"][r]), float(res.row["n_backlog"][r])
        rows = Mx.scalar_rows(
            {
                "avg_delay_s": res.avg_delay_s[r],
                "avg_stops": res.avg_stops[r],
                "throughput_veh": res.throughput_veh[r],
                "n_vehicles": res.n_vehicles[r],
                "n_unfinished": inside + backlog,
                "n_running": inside,
                "n_undeparted": backlog,
            }
        )
        rows += Mx.approach_rows(
            app_ids, app_sig, net.signal_ids, tl[r], ent[r], res.horizon_s, cap[r]
        )
        if res.queue_samples is not None and res.queue_samples.shape[1] > 0:
            gs = res.queue_samples[r : r + 1]
            aq = approach_samples(gs, res.group_approach, len(app_ids))[0]
            rows += Mx.queue_rows(app_ids, app_sig, net.signal_ids, aq)
            g = res.lane_groups
            rows += Mx.lane_group_queue_rows(g.ids, g.signal, g.n_lanes, net.signal_ids, gs[0])
        frames.append(
            Mx.results_frame(
                rows,
                run_id=run_ids[r],
                scenario=scenario,
                controller=ctrls[r],
                seed=int(res.seed[r]),
            )
        )
    return pd.concat(frames, ignore_index=True)
