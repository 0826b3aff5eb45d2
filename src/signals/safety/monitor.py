"""An independent software conflict monitor: plays a program second by second and flags what a
cabinet's malfunction management unit would (NEMA TS 2 sec. 6.2: conflicting right of way,
right of way ended without yellow, short yellow, a green while a foe is still in its yellow) --
the unsafe rules of the gate; display sequences (yellow -> green) are the gate's guideline.

Written apart from the gate on purpose -- plain Python over characters, its own right-of-way
ranks, no lookup tables shared with :mod:`signals.safety.rules` -- so that property tests can
check the gate against it: whatever the gate passes as not unsafe, the monitor passes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from signals.safety.config import SafetyConfig

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network

_RANK = {"G": 3, "g": 2, "o": 2, "O": 2, "s": 1}  # right of way; anything else: none
_MINOR = "gsoO"


@dataclass(frozen=True)
class Fault:
    """What the monitor saw at second ``t_s`` (of the second simulated cycle)."""

    t_s: int
    kind: str
    links: tuple[int, ...]


def monitor(
    network: Network,
    signal_id: str,
    phases: Sequence[tuple],
    cfg: SafetyConfig | None = None,
) -> list[Fault]:
    """Play a cyclic program (whole-second durations) for three cycles; report the faults seen
    in the second one.

    Args:
        phases: (state, duration_s[, ...]) with integer durations >= 1.
    """
    cfg = cfg or SafetyConfig()
    s = network.signal_index(signal_id)
    n = int(network.signal_n_links[s])
    foes = network.link_foes[s, :n, :n].tolist()
    yields = network.link_prohibits[s, :n, :n].tolist()
    ls = network.links_of(s)
    from_lane = network.link_from_lane[ls.start : ls.stop]
    to_lane = network.link_to_lane[ls.start : ls.stop]
    used = [bool(a or b) for a, b in zip(from_lane, to_lane, strict=True)]
    ped = [bool(p) or not u for p, u in zip(network.link_is_ped[ls].tolist(), used, strict=True)]
    # lanes of one approach merging into one lane, one yielding: one signal group, not a conflict
    approach = [lane.rsplit("_", 1)[0] for lane in from_lane]
    for i in range(n):
        for j in range(n):
            same = used[i] and approach[i] == approach[j] and to_lane[i] == to_lane[j]
            if foes[i][j] and same and (yields[i][j] or yields[j][i]):
                foes[i][j] = False
    seconds: list[str] = []
    for ph in phases:
        d = float(ph[1])
        if d != int(d) or d < 1:
            raise ValueError(f"monitor needs whole-second durations, got {d}")
        seconds += [str(ph[0])] * int(d)
    C = len(seconds)
    faults: list[Fault] = []
    yellow_for = [0] * n
    prev = seconds[-1]
    for t in range(3 * C):
        cur = seconds[t % C]
        if C <= t < 2 * C:
            faults += _step(t - C, prev, cur, n, foes, yields, ped, yellow_for, cfg)
        for i in range(n):
            # seconds of the yellow that ended this link's right of way (-1: a yellow after red,
            # which ends nothing; the gate reports that display sequence as a guideline)
            if cur[i] not in "yY":
                yellow_for[i] = 0
            elif prev[i] not in "yY":
                yellow_for[i] = 1 if _RANK.get(prev[i], 0) else -1
            elif yellow_for[i] > 0:
                yellow_for[i] += 1
        prev = cur
    return faults


def _step(t, prev, cur, n, foes, yields, ped, yellow_for, cfg) -> list[Fault]:
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            if not foes[i][j]:
                continue
            if _RANK.get(cur[i], 0) and _RANK.get(cur[j], 0):
                i_ok = cur[i] in _MINOR and yields[i][j]
                j_ok = cur[j] in _MINOR and yields[j][i]
                if not (i_ok or j_ok):
                    out.append(Fault(t, "conflict", (i, j)))
    for i in range(n):
        a, b = prev[i], cur[i]
        ra, rb = _RANK.get(a, 0), _RANK.get(b, 0)
        if not ped[i] and rb < ra and b not in "yY" and not (a == "s" and b in "ru"):
            out.append(Fault(t, "no yellow", (i,)))
        if not ped[i] and a in "yY" and b not in "yY" and 0 < yellow_for[i] < cfg.yellow_unsafe_s:
            out.append(Fault(t, "short yellow", (i,)))
        if rb > ra:
            for j in range(n):
                if j == i or not foes[i][j] or (b in _MINOR and yields[i][j]):
                    continue
                if cur[j] in "yY":
                    out.append(Fault(t, "green during clearance", (i, j)))
    return out
