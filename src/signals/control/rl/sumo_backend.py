"""The SUMO backend of the RL environments: libsumo stepped one decision at a time.

The same loop as :func:`signals.evaluate.sumo_loop.evaluate_online` -- the checked
:class:`~signals.evaluate.sumo_loop.StageProgram` installed on every signal, the loop's
bookkeeping (:class:`~signals.evaluate.sumo_loop.ClosedLoop`: min/max green, unknown stages
ignored) and observations from :class:`~signals.evaluate.sumo_loop.MovementObserver` -- but
driven from outside, as :class:`signals.evaluate.queue_loop.QueueLoop` is, so an environment can
use either backend through the same three calls (``reset``, ``step``, ``observation``).

libsumo runs one simulation per process: use one SUMO environment per process (SB3's
``SubprocVecEnv``). The first ``reset`` starts SUMO, later ones reload the same inputs with
the new seed (``simulation.load``, no restart). Nothing is written: the only file is the
connected-vehicle detector definition, written once when the backend is built.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from signals.control.adaptive import Controller, Observation
from signals.errors import InputError
from signals.evaluate.sumo_loop import (
    CV_NEEDS,
    ClosedLoop,
    LoopConfig,
    MovementObserver,
    StageProgram,
    connected_type_ids,
)
from signals.network import Network

PathLike = str | os.PathLike


class SumoBackend:
    """One SUMO simulation driven by the loop, one decision at a time.

    Args:
        net, routes: the scenario files.
        network: the net's :class:`Network` (read from ``net`` if None).
        program: the loop's checked programs (:func:`signals.evaluate.sumo_loop.loop_stages`).
        config: the loop settings.
        needs: observation groups to collect (:attr:`Controller.needs`).
        horizon_s: episode length from ``begin_s``.
        turning_ratio: (M,) Varaiya's r (default from the routes).
        time_to_teleport_s: SUMO's jam teleport time.
    """

    def __init__(
        self,
        net: PathLike,
        routes: PathLike | Sequence[PathLike],
        program: StageProgram,
        *,
        network: Network | None = None,
        config: LoopConfig | None = None,
        needs: frozenset[str] = frozenset({"queues", "counts"}),
        horizon_s: float = 3600.0,
        begin_s: float = 0.0,
        turning_ratio: np.ndarray | None = None,
        time_to_teleport_s: float = 300.0,
    ):
        config = config or LoopConfig()
        config.check()
        self.net = Path(net)
        self.routes = [
            Path(r) for r in ([routes] if isinstance(routes, (str, os.PathLike)) else routes)
        ]
        self.network = network if network is not None else Network.from_sumo(self.net)
        self.program, self.config = program, config
        self.horizon_s, self.begin_s = float(horizon_s), float(begin_s)
        self.time_to_teleport_s = float(time_to_teleport_s)
        if turning_ratio is None:
            from signals.demand import turning_ratios

            try:
                turning_ratio = turning_ratios(self.network, self.routes)
            except InputError:
                turning_ratio = None
        cv_types = connected_type_ids(self.routes) if needs & CV_NEEDS else []
        if needs & CV_NEEDS and not cv_types:
            raise InputError(
                ",".join(map(str, self.routes)),
                "vType",
                "connected vehicle types (ids starting 'cv')",
                "none",
            )
        self.observer = MovementObserver(self.network, config, turning_ratio, cv_types, needs)
        self._tmp = tempfile.TemporaryDirectory(prefix="signals_rl_")
        self._adds: list[str] = []
        if needs & (CV_NEEDS | {"detectors"}):
            p = Path(self._tmp.name) / "loop_detectors.add.xml"
            p.write_text(self.observer.detector_xml())
            self._adds.append(str(p))
        self.loop: ClosedLoop | None = None
        self.ls = None
        self.arrived = 0
        self.teleports = 0
        self.departed = 0

    def _args(self, seed: int) -> list[str]:
        a = [
            "--net-file", str(self.net),
            "--route-files", ",".join(map(str, self.routes)),
            "--begin", f"{self.begin_s:g}",
            "--end", f"{self.begin_s + self.horizon_s:g}",
            "--seed", str(int(seed)),
            "--time-to-teleport", f"{self.time_to_teleport_s:g}",
            "--no-step-log", "--no-warnings",
        ]  # fmt: skip
        if self._adds:
            a += ["--additional-files", ",".join(self._adds)]
        return a

    # ------------------------------------------------------------------ stepping
    @property
    def time_s(self) -> float:
        return float(self.ls.simulation.getTime()) if self.ls is not None else self.begin_s

    @property
    def done(self) -> bool:
        return self.loop is not None and self.time_s >= self.begin_s + self.horizon_s - 1e-9

    def reset(self, seed: int | None = None, controller: Controller | None = None) -> Observation:
        import libsumo

        args = self._args(0 if seed is None else int(seed))
        if self.ls is None:
            if libsumo.simulation.isLoaded():
                raise InputError(
                    None,
                    "libsumo",
                    "one SUMO simulation per process (use SubprocVecEnv for more)",
                    "a simulation already running",
                )
            libsumo.start(["sumo", *args])
            self.ls = libsumo
        else:
            libsumo.simulation.load(args)
        ls = self.ls
        self.loop = ClosedLoop(
            self.network, self.program, controller or Controller(), self.config, self.observer,
            self.begin_s,
        )  # fmt: skip
        self.program.install(ls, self.network, self.loop.stage)
        self.observer.subscribe(ls, self.config.read)
        self.arrived = self.teleports = self.departed = 0
        return self.observation()

    def step(self, desired: np.ndarray) -> Observation:
        loop = self._require()
        ls = self.ls
        t = self.time_s
        idx, target = loop.decide(t, desired)
        loop.apply(t, idx, target, ls)
        loop.stats.decisions += 1
        end = min(t + float(self.config.delta_t_s), self.begin_s + self.horizon_s)
        # SUMO runs the change chains itself; stepping each second only to count arrivals and
        # teleports (libsumo reports them for the last step only)
        sim = ls.simulation
        while self.time_s < end - 1e-9:
            ls.simulationStep(min(self.time_s + 1.0, end))
            self.arrived += sim.getArrivedNumber()
            self.departed += sim.getDepartedNumber()
            self.teleports += sim.getStartingTeleportNumber()
        return self.observation()

    def observation(self) -> Observation:
        return self._require().observation(self.time_s, self.ls)

    def close(self) -> None:
        if self.ls is not None:
            self.ls.close()
            self.ls = None
        self._tmp.cleanup()

    def _require(self) -> ClosedLoop:
        if self.loop is None:
            raise InputError("sumo backend", "state", "reset() before step()", "no reset")
        return self.loop
