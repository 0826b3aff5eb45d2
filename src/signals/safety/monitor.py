"""An independent software conflict monitor: plays a program second by second and flags what a
cabinet's malfunction management unit would (NEMA TS 2 sec. 6.2: conflicting right of way,
right of way ended without yellow, short yellow, a green while a foe is still in its yellow).

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
    ped = network.link_is_ped[network.links_of(s)].tolist()
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
            yellow_for[i] = yellow_for[i] + 1 if cur[i] in "yY" else 0
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
        if a in "yY" and rb:
            out.append(Fault(t, "yellow to green", (i,)))
        if a in "ru" and b in "yY":
            out.append(Fault(t, "red to yellow", (i,)))
        if ra and b == "u":
            out.append(Fault(t, "green to red-yellow", (i,)))
        if not ped[i] and a in "yY" and b not in "yY" and yellow_for[i] < cfg.yellow_unsafe_s:
            out.append(Fault(t, "short yellow", (i,)))
        if rb > ra:
            for j in range(n):
                if j == i or not foes[i][j] or (b in _MINOR and yields[i][j]):
                    continue
                if cur[j] in "yY":
                    out.append(Fault(t, "green during clearance", (i, j)))
    return out
