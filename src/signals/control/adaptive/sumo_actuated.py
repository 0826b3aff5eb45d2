"""SUMO's own gap-based actuated control, as the baseline any engineer gets for free.

Core module: writes SUMO XML text, imports no traci/libsumo (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from signals.control.adaptive.base import Controller, Observation, Stages

if TYPE_CHECKING:  # pragma: no cover
    from signals.evaluate.sumo_loop import StageProgram
    from signals.network import Network

CLEARANCES = ("own", "guideline")


class ActuatedSumo(Controller):
    """SUMO's own gap-based actuated control (SUMO docs, "Traffic Lights": type="actuated").

    The plan's programs are converted to ``type="actuated"`` (green phases get minDur/maxDur,
    change intervals stay fixed) and loaded from an additional file; SUMO places its induction
    loops and extends greens while vehicles keep arriving within ``max_gap_s``. The loop makes
    no decisions for it (``builtin``).

    ``clearances``: ``"own"`` keeps each stage's change interval as the program shows it (what
    an engineer gets by writing ``type="actuated"``; an existing program may be below the
    gate's guideline, e.g. no red clearance, which the gate reports and lets through);
    ``"guideline"`` uses instead the change chains the loop builds for its own controllers
    (:class:`signals.evaluate.sumo_loop.StageProgram`, yellow and red clearance at least the ITE
    values, and the stages the loop runs), so SUMO's actuated logic is compared with ours at the
    same clearances.
    """

    name = "actuated"
    builtin = True

    def __init__(
        self,
        max_gap_s: float = 3.0,
        detector_gap_s: float = 2.0,
        passing_time_s: float = 1.9,
        clearances: str = "own",
    ):
        if clearances not in CLEARANCES:
            raise ValueError(f"clearances must be one of {CLEARANCES}, got {clearances!r}")
        self.max_gap_s = float(max_gap_s)
        self.detector_gap_s = float(detector_gap_s)
        self.passing_time_s = float(passing_time_s)
        self.clearances = clearances
        if clearances == "guideline":
            self.name = "actuated_guideline"

    @property
    def uses_loop_program(self) -> bool:
        """True: the loop builds its checked stage program and passes it to
        :meth:`additional_xml`."""
        return self.clearances == "guideline"

    def act(self, obs: Observation) -> np.ndarray:
        return np.asarray(obs.stage).copy()

    def additional_xml(
        self,
        network: Network,
        stages: Stages,
        program_id: str = "signals_actuated",
        program: StageProgram | None = None,
    ) -> str:
        """A SUMO additional file with one actuated tlLogic per signal (stage order kept); with
        ``program`` (``clearances="guideline"``) each change interval is the loop's chain from
        a stage to the next one."""
        from xml.sax.saxutils import quoteattr

        if self.uses_loop_program and program is None:
            raise ValueError("clearances='guideline' needs the loop's StageProgram")

        out = ["<additional>"]
        for s, sid in enumerate(network.signal_ids):
            ks = range(int(stages.signal_stage_start[s]), int(stages.signal_stage_start[s + 1]))
            phs = [stages.stage_phase[k] for k in ks]
            n = len(phs)
            out.append(
                f'    <tlLogic id={quoteattr(sid)} programID={quoteattr(program_id)} type="actuated" '
                f'offset="{float(network.signal_offset_s[s]):g}">'
            )
            out.append(f'        <param key="max-gap" value="{self.max_gap_s:g}"/>')
            out.append(f'        <param key="detector-gap" value="{self.detector_gap_s:g}"/>')
            out.append(f'        <param key="passing-time" value="{self.passing_time_s:g}"/>')
            for i, (k, ph) in enumerate(zip(ks, phs, strict=True)):
                mn = float(stages.min_green_s[k])
                mx = max(float(stages.max_green_s[k]), mn)
                parts = ph.intervals(phs[(i + 1) % n].state, n == 1)
                if program is not None and n > 1:  # the loop's chain to the next stage
                    chain = program.change_rows(s, i, (i + 1) % n)
                    parts = parts[:1] + [(st, d, False) for st, d in chain]
                # the stage's first green is actuated; the rest (pedestrian clearance, the
                # change interval, as the plan shows it) keeps its fixed durations
                g = min(max(parts[0][1], mn), mx)
                out.append(
                    f'        <phase duration="{g:g}" minDur="{mn:g}" maxDur="{mx:g}" state="{ph.state}"/>'
                )
                for st, d, _ in parts[1:]:
                    out.append(f'        <phase duration="{d:g}" state="{st}"/>')
            out.append("    </tlLogic>")
        out.append("</additional>")
        return "\n".join(out) + "\n"
