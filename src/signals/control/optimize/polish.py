"""Polish the solver's plans with the queue model, confirm the winners in SUMO.

The CP-SAT splits and offsets optimise analytical models (HCM delay per signal, pairwise
cyclic-flow delay tables); the batch queue model (:class:`signals.evaluate.queue.
QueueModel`) sees the whole network at once: queues, spillback, turning flows. Local search
around the solver's plans:

* a candidate perturbs a share of the signals: a few seconds of green moved between two of a
  signal's stages (the cycle unchanged), and, for signals sharing a cycle with others, the
  offset shifted by up to a quarter of the cycle;
* every perturbed signal plan passes the safety gate or the candidate keeps that signal's plan;
* each round scores ``candidates`` plans in one batch and re-centres on the best so far;
* the model's ranking among such near-optimal plans is weak (Spearman 0.4-0.9 in ``signals
  bench accuracy``), so the model only shortlists: its ``top_k`` best distinct plans and the
  solver's own are run through ``confirm`` (SUMO, supplied by the caller: this module does not
  import SUMO) and the one SUMO finds best is kept, the solver's plan when nothing beats it.

The polish is reproducible: a fixed seed drives every draw.

Core module: no traci/libsumo import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from signals.control.fixed_time import DEFAULT_SAFETY
from signals.plans import PlanSet, stack_arrays
from signals.safety import SafetyConfig, assert_safe, validate

if TYPE_CHECKING:  # pragma: no cover
    from signals.evaluate.queue import QueueModel
    from signals.network import Network


@dataclass(frozen=True)
class PolishConfig:
    """Settings of the polish.

    Attributes:
        candidates: perturbed plans scored per round (one queue-model batch).
        rounds: local-search rounds.
        signal_share: share of the signals a candidate perturbs.
        split_move_s: most whole seconds of green moved between two stages.
        offset_move: offsets shift by up to this fraction of the cycle.
        top_k: the model's best distinct plans sent to ``confirm`` beside the solver's.
        horizon_s: queue-model horizon.
        seed: the draws' seed.
    """

    candidates: int = 32
    rounds: int = 3
    signal_share: float = 0.15
    split_move_s: int = 3
    offset_move: float = 0.25
    top_k: int = 3
    horizon_s: float = 3600.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.rounds < 1 or self.top_k < 0:
            raise ValueError("candidates and rounds must be >= 1, top_k >= 0")
        if not 0 < self.signal_share <= 1 or not 0 <= self.offset_move <= 0.5:
            raise ValueError("signal_share in (0, 1], offset_move in [0, 0.5]")
        if self.split_move_s < 1 or self.horizon_s <= 0:
            raise ValueError("split_move_s >= 1 and horizon_s > 0")


@dataclass(frozen=True)
class PolishResult:
    """What the polish chose.

    ``plans``: the kept plans; ``shortlist``: the solver's plans then the model's ``top_k``;
    ``model_delay_s``: their queue-model average delays; ``confirm_delay_s``: ``confirm``'s
    figures for them (empty without ``confirm``); ``chosen``: index into the shortlist.
    """

    plans: PlanSet
    shortlist: tuple[PlanSet, ...]
    model_delay_s: tuple[float, ...]
    confirm_delay_s: tuple[float, ...]
    chosen: int
    n_scored: int

    def summary(self) -> dict:
        return {
            "n_scored": self.n_scored,
            "model_delay_s": [round(x, 3) for x in self.model_delay_s],
            "confirm_delay_s": [round(x, 3) for x in self.confirm_delay_s],
            "chosen": self.chosen,
            "model_gain": round(min(self.model_delay_s) / self.model_delay_s[0], 4)
            if self.model_delay_s and self.model_delay_s[0] > 0
            else None,
        }


def perturb(
    network: Network,
    plans: PlanSet,
    rng: np.random.Generator,
    cfg: PolishConfig,
    safety: SafetyConfig,
    shared: set[str],
) -> PlanSet:
    """A neighbour of ``plans`` (see the module docstring); ``shared``: signals whose cycle
    other signals share (their offsets may move)."""
    ids = sorted(plans.plans)
    n = max(1, int(round(cfg.signal_share * len(ids))))
    out = dict(plans.plans)
    for sid in rng.choice(ids, size=min(n, len(ids)), replace=False):
        p = out[sid]
        new = p
        if p.n_stages >= 2:
            i, j = rng.choice(p.n_stages, size=2, replace=False)
            d = int(rng.integers(1, cfg.split_move_s + 1))
            g = [ph.green_s for ph in p.phases]
            if g[i] - d >= p.phases[i].min_green_s and g[j] + d <= p.phases[j].max_green_s:
                g[i] -= d
                g[j] += d
                new = p.retimed(g)
        if sid in shared and cfg.offset_move > 0:
            m = max(1, int(cfg.offset_move * new.cycle_s))
            shift = int(rng.integers(-m, m + 1))
            new = replace(new, offset_s=float((new.offset_s + shift) % new.cycle_s))
        if new is not p and not validate(new, network, clearance=safety):
            out[sid] = new
    return PlanSet(out)


def polish(
    network: Network,
    model: QueueModel,
    plans: PlanSet,
    cfg: PolishConfig = PolishConfig(),
    safety: SafetyConfig = DEFAULT_SAFETY,
    confirm: Callable[[Sequence[PlanSet]], Sequence[float]] | None = None,
) -> PolishResult:
    """Local search around ``plans`` scored by ``model``; ``confirm`` (e.g. SUMO runs) decides
    among the solver's plans and the model's shortlist. Every plan returned passes the gate."""
    rng = np.random.default_rng(cfg.seed)
    cycles: dict[float, int] = {}
    for p in plans:
        cycles[p.cycle_s] = cycles.get(p.cycle_s, 0) + 1
    shared = {p.signal_id for p in plans if cycles[p.cycle_s] > 1}

    def score(batch: list[PlanSet]) -> np.ndarray:
        arrays = stack_arrays([ps.to_arrays(network) for ps in batch])
        return np.asarray(model.evaluate(arrays, cfg.horizon_s).avg_delay_s, float)

    base_delay = float(score([plans])[0])
    pool: list[tuple[float, int, PlanSet]] = []  # (model delay, draw order, plans)
    centre, centre_delay = plans, base_delay
    for _ in range(cfg.rounds):
        batch = [perturb(network, centre, rng, cfg, safety, shared) for _ in range(cfg.candidates)]
        delays = score(batch)
        pool += [
            (float(d), len(pool) + k, ps)
            for k, (d, ps) in enumerate(zip(delays, batch, strict=True))
        ]
        k = int(np.argmin(delays))
        if delays[k] < centre_delay:
            centre, centre_delay = batch[k], float(delays[k])
    seen = {_key(plans)}
    short: list[tuple[float, PlanSet]] = []
    for d, _, ps in sorted(pool, key=lambda x: (x[0], x[1])):
        if len(short) >= cfg.top_k or d >= base_delay:
            break
        if _key(ps) not in seen:
            seen.add(_key(ps))
            short.append((d, ps))
    shortlist = (plans, *(ps for _, ps in short))
    model_delay = (base_delay, *(d for d, _ in short))
    confirm_delay: tuple[float, ...] = ()
    chosen = int(np.argmin(model_delay)) if confirm is None else 0
    if confirm is not None and len(shortlist) > 1:
        confirm_delay = tuple(float(x) for x in confirm(shortlist))
        chosen = int(np.argmin(confirm_delay))
    out = shortlist[chosen]
    assert_safe(out, network, clearance=safety)
    return PolishResult(
        out,
        shortlist,
        model_delay,
        confirm_delay,
        chosen,
        n_scored=cfg.rounds * cfg.candidates,
    )


def _key(ps: PlanSet) -> tuple:
    return tuple(
        (sid, p.offset_s, tuple(ph.green_s for ph in p.phases))
        for sid, p in sorted(ps.plans.items())
    )


__all__ = ["PolishConfig", "PolishResult", "perturb", "polish"]
