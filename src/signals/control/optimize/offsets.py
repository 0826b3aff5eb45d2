"""Network offsets by CP-SAT for signals that share a cycle: the grid, not only corridors.

For every pair of signals i -> j joined by a road (a movement of i leaves on an edge that leads,
through junctions without a signal where the road has one way on, to an approach of j) and
sharing cycle C, the delay at j of the traffic from i depends
only on the relative offset delta = (o_j - o_i) mod C. It is tabulated for every whole second of
delta with cyclic flow profiles (the TRANSYT idea: Robertson 1969, "TRANSYT: a traffic network
study tool", RRL LR 253), here without platoon dispersion:

* departures from i: each movement of i into the edge is a D/D/1 queue over the cycle (uniform
  arrivals at its flow, discharge at its saturation flow while green, link-averaged green
  shares of the plan's every second), in steady state;
* arrivals at j: those departures ``tau`` later (free-flow time from i's stop line to j's,
  rounded to the second), split over j's movements from the edge by their share of its flow; flow of j's
  movements that does not come from i arrives uniformly;
* delay at j: the same D/D/1 queue of each of j's movements over the cycle, vehicle-seconds
  per hour.

The model is one integer offset o_s in [0, C) per signal, delta_ij = (o_j - o_i) mod C by a
modulo constraint and each pair's delay read from its table with an element constraint;
minimise the summed delay (weighted by the volumes through the tables). Node offsets satisfy
every loop constraint of a grid by construction (offsets around a block sum to a multiple of
the cycle). One signal per connected group keeps offset 0 (the rest are relative). Fixed seed,
worker count and time limit; a model not proven optimal in the limit gives its best offsets,
flagged.

Core module: no traci/libsumo import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from signals.plans import _expand

if TYPE_CHECKING:  # pragma: no cover
    from signals.network import Network
    from signals.plans import SignalPlan


@dataclass(frozen=True)
class OffsetResult:
    """Offsets of one coordination group: ``delay_vs_h`` the model's delay at the downstream
    signals of the group's pairs with these offsets, ``delay_zero_vs_h`` with every offset 0
    (vehicle-seconds per hour); ``status`` CP-SAT's (``optimal`` or ``feasible``)."""

    group: str
    cycle_s: int
    offsets_s: dict[str, int]
    n_pairs: int
    delay_vs_h: float
    delay_zero_vs_h: float
    status: str


def green_profile(network: Network, plan: SignalPlan) -> np.ndarray:
    """(n_m, C) green share of each movement of the plan's signal in every second of its
    cycle (program time 0 = start of stage 1 green), link-averaged."""
    s = network.signal_index(plan.signal_id)
    C = int(round(plan.cycle_s))
    ms = network.movements_of(s)
    out = np.zeros((ms.stop - ms.start, C))
    t = 0.0
    for _, state, dur in _expand(plan):
        share = network.movement_green_share(s, state)
        a, b = int(round(t)), int(round(t + dur))
        out[:, a:b] = share[:, None]
        t += dur
    return out


def _queue(arrive: np.ndarray, green: np.ndarray, sat_vps) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state D/D/1 over a cycle: ``arrive`` (R, C) veh per second of each row, service
    at ``sat_vps`` (scalar or (R,)) x ``green`` ((C,) or (R, C)). Returns (departures (R, C),
    delay veh s per cycle (R,))."""
    R, C = arrive.shape
    cap = np.broadcast_to(np.asarray(sat_vps, float).reshape(-1, 1) * green, (R, C))
    q = np.zeros(R)
    dep = np.zeros((R, C))
    delay = np.zeros(R)
    for rep in range(3):  # two cycles to reach the cyclic steady state, the third measured
        last = rep == 2
        for x in range(C):
            q = q + arrive[:, x]
            d = np.minimum(q, cap[:, x])
            q = q - d
            if last:
                dep[:, x] = d
                delay += q
    return dep, delay


MAX_CHAIN_EDGES = 12  # edges followed through junctions without a signal


def _chains(network: Network) -> dict[int, tuple[int, float]]:
    """edge -> (the signal approach it leads to, free-flow seconds from the edge's start to the
    approach's start),
    following edges without a signal movement through junctions where the road has one way on
    (U-turns aside): bay tapers, shape nodes, OSM's intermediate nodes. Edges that reach no
    approach that way are left out."""
    approach = set(int(e) for e in network.mov_in_edge)
    by_from: dict[str, list[int]] = {}
    for i, j in enumerate(network.edge_from):
        by_from.setdefault(j, []).append(i)
    out: dict[int, tuple[int, float]] = {}
    for e0 in range(network.n_edges):
        e, tau = e0, 0.0
        for _ in range(MAX_CHAIN_EDGES):
            if e in approach:
                out[e0] = (e, tau)
                break
            succ = [
                x
                for x in by_from.get(network.edge_to[e], [])
                if not (
                    network.edge_to[x] == network.edge_from[e]
                    and network.edge_from[x] == network.edge_to[e]
                )
            ]
            if len(succ) != 1:
                break
            tau += float(network.edge_length_m[e] / max(network.edge_speed_mps[e], 0.1))
            e = succ[0]
    return out


def pair_tables(
    network: Network, plans: dict[str, SignalPlan], flow_vph: np.ndarray, members: list[str]
) -> list[tuple[str, str, np.ndarray]]:
    """[(upstream id, downstream id, (C,) delay veh s/h at the downstream signal for each
    relative offset delta = o_j - o_i)] of the signal pairs among ``members`` (one cycle): a
    movement of i leaves on an edge leading (:func:`_chains`) to an approach of j. An approach
    fed by two signals is left out (its delay is not a sum over pairs)."""
    idx = {sid: network.signal_index(sid) for sid in members}
    C = int(round(plans[members[0]].cycle_s))
    sat = np.asarray(network.mov_sat_flow_vps, float)
    flow = np.asarray(flow_vph, float) / 3600.0  # veh/s
    prof = {sid: green_profile(network, plans[sid]) for sid in members}
    chains = _chains(network)
    # departure profile of every loaded movement of the members, by the approach it feeds
    feeds: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    for sid, s in idx.items():
        ms = network.movements_of(s)
        mv = np.arange(ms.start, ms.stop)
        hits = [chains.get(int(network.mov_out_edge[m])) for m in mv]
        use = [k for k, m in enumerate(mv) if flow[m] > 0 and hits[k] is not None]
        if not use:
            continue
        # every loaded movement of the signal in one queue pass, one row each
        d, _ = _queue(flow[mv[use]][:, None] * np.ones(C), prof[sid][use], sat[mv[use]])
        for row, k in enumerate(use):
            a, tau_chain = hits[k]
            feeds.setdefault(a, []).append((s, d[row], tau_chain))
    out = []
    for sid_j, sj in idx.items():
        ms = network.movements_of(sj)
        by_edge: dict[int, list[int]] = {}
        for m in range(ms.start, ms.stop):
            by_edge.setdefault(int(network.mov_in_edge[m]), []).append(m)
        for a, down in by_edge.items():
            ups = [u for u in feeds.get(a, []) if u[0] != sj]
            if not ups or len({u[0] for u in ups}) > 1:
                continue
            si = ups[0][0]
            platoon = np.sum([u[1] for u in ups], axis=0)  # (C,) veh/s in i's program time
            # travel to j's stop line: the chain, then the approach itself
            tau_s = max(u[2] for u in ups) + float(
                network.edge_length_m[a] / max(network.edge_speed_mps[a], 0.1)
            )
            tau = int(round(tau_s))
            v_a = flow[down].sum()
            if v_a <= 0:
                continue
            # arrivals at j in j's program time for every delta: platoon(x - tau + delta)
            x = np.arange(C)
            rows = (x[None, :] - tau + np.arange(C)[:, None]) % C
            base = platoon[rows]  # (C deltas, C)
            total = np.zeros(C)
            for m in down:
                share = flow[m] / v_a
                rest = max(flow[m] - share * platoon.mean(), 0.0)
                _, dly = _queue(share * base + rest, prof[sid_j][m - ms.start], sat[m])
                total += dly
            out.append((network.signal_ids[si], sid_j, total * 3600.0 / C))
    return out


def optimize_offsets(
    network: Network,
    plans: dict[str, SignalPlan],
    flow_vph: np.ndarray,
    members: list[str],
    group: str,
    *,
    time_limit_s: float = 30.0,
    seed: int = 0,
    workers: int = 1,
    fixed: dict[str, int] | None = None,
) -> OffsetResult:
    """CP-SAT offsets of ``members`` (all on one cycle; see the module docstring); the
    signals of ``fixed`` keep the offsets given (e.g. a corridor's green wave)."""
    from ortools.sat.python import cp_model

    C = int(round(plans[members[0]].cycle_s))
    if any(int(round(plans[s].cycle_s)) != C for s in members):
        raise ValueError(f"group {group}: offsets need one common cycle")
    fixed = {s: int(o) % C for s, o in (fixed or {}).items() if s in members}
    pairs = pair_tables(network, plans, flow_vph, members)
    zero = float(sum(t[0] for _, _, t in pairs))
    if not pairs or C <= 1 or len(fixed) == len(members):
        offs = {s: fixed.get(s, 0) for s in members}
        got = float(sum(t[(offs[j] - offs[i]) % C] for i, j, t in pairs))
        return OffsetResult(group, C, offs, len(pairs), round(got, 1), round(zero, 1), "optimal")
    m = cp_model.CpModel()
    o = {s: m.new_int_var(0, C - 1, f"o_{s}") for s in members}
    # one signal per connected component keeps offset 0
    parent = {s: s for s in members}

    def root(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    for i, j, _ in pairs:
        parent[root(j)] = root(i)
    for s, v in fixed.items():
        m.add(o[s] == v)
    held = {root(s) for s in fixed}
    for s in members:
        if root(s) == s and s not in held:
            m.add(o[s] == 0)
    costs = []
    for n, (i, j, table) in enumerate(pairs):
        diff = m.new_int_var(1, 2 * C - 1, f"diff{n}")
        m.add(diff == o[j] - o[i] + C)
        delta = m.new_int_var(0, C - 1, f"delta{n}")
        m.add_modulo_equality(delta, diff, C)
        tab = [int(round(v)) for v in table]
        c = m.new_int_var(min(tab), max(tab), f"cost{n}")
        m.add_element(delta, tab, c)
        costs.append(c)
    m.minimize(sum(costs))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    st = solver.solve(m)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - 0 is feasible
        offs = {s: fixed.get(s, 0) for s in members}
        return OffsetResult(group, C, offs, len(pairs), zero, zero, "none")
    offs = {s: int(solver.value(o[s])) for s in members}
    got = float(sum(t[(offs[j] - offs[i]) % C] for i, j, t in pairs))
    status = "optimal" if st == cp_model.OPTIMAL else "feasible"
    return OffsetResult(group, C, offs, len(pairs), round(got, 1), round(zero, 1), status)


__all__ = ["OffsetResult", "green_profile", "optimize_offsets", "pair_tables"]
