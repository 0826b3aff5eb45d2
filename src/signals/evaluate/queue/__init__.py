"""Vectorized store-and-forward queue model: the hot path that scores batches of signal plans.

The model is a fluid (or, with demand seeds, Poisson) point-queue network at 1 s resolution:

* vehicles enter an edge (from the demand, or discharged by an upstream movement), travel it at
  free-flow time (a per-edge delay line), and at the stop line split over the edge's movements by
  the turning ratios (the remainder ends its trip there and leaves the network);
* each movement keeps a vertical queue that discharges at saturation flow during *effective* green
  (HCM 6th ed., Ch. 19: g = G + Y + AR - l1 - l2, i.e. green starts ``startup_lost_s`` after the
  signal turns green and ends ``yellow_used_s`` into the yellow);
* permitted (yielding) movements get a share of their saturation flow that falls with the flow of
  the movements they yield to (HCM 6th ed., Ch. 31, permitted left-turn saturation flow);
* discharge is limited by the space left on the downstream edge (finite storage, spillback), and
  insertion of new vehicles by the space left on their first edge (SUMO's departDelay); a shared
  approach lane is first-in first-out, so a movement blocked downstream holds up its lane-mates
  (Daganzo 1995 FIFO diverge, :func:`signals.evaluate.queue.reference.fifo_factor`);
* edges that end at a junction without a traffic light pass their vehicles on ("pass-through"
  movements, always green), so split edges (turn bays) and priority junctions keep the flow.

Delay is time in network minus free-flow time: the area under every queue (stop-line queues and
insertion backlog), plus optional calibration terms (acceleration/deceleration per stop, a share
of the free-flow time lost to driver imperfection). Conservation holds exactly:
vehicles in = vehicles out + vehicles inside.

Everything is batch-first: a batch of B plans (times demand seeds) is evaluated together; the
time loop has no Python loop over signals, vehicles or plans. The modules, leaves first:
``params`` (constants, the calibrated set and its record ``queue_calibration.json``),
``topology`` (the network as flat arrays), ``timing`` (plan tables, effective green),
``reference`` (the readable numpy model of record: state and step), ``demand`` (the demand
stream), ``kernel`` (the same model compiled with numba; the tests check that both agree) and
``model`` (:class:`QueueModel`, :class:`QueueResult`; it imports the kernel lazily). No SUMO
import here.
"""

from signals.evaluate.queue.demand import DemandStream
from signals.evaluate.queue.model import QueueModel, QueueResult
from signals.evaluate.queue.params import CALIBRATED, CHUNK_STEPS, QueueParams
from signals.evaluate.queue.reference import (
    ROW_FIELDS,
    State,
    approach_samples,
    online_effective_np,
    permitted_factor,
    step_np,
)
from signals.evaluate.queue.timing import (
    PlanTables,
    effective_green_np,
    green_fraction,
    plan_tables,
)
from signals.evaluate.queue.topology import (
    FIFO_LANES,
    Topology,
    build_topology,
    fifo_lanes,
    passthrough_from_routes,
    route_inputs,
    signal_sat_flow_vps,
    unsignalized_transitions,
)

__all__ = [
    "CALIBRATED",
    "CHUNK_STEPS",
    "FIFO_LANES",
    "ROW_FIELDS",
    "DemandStream",
    "PlanTables",
    "QueueModel",
    "QueueParams",
    "QueueResult",
    "State",
    "Topology",
    "approach_samples",
    "build_topology",
    "effective_green_np",
    "fifo_lanes",
    "green_fraction",
    "online_effective_np",
    "passthrough_from_routes",
    "permitted_factor",
    "plan_tables",
    "route_inputs",
    "signal_sat_flow_vps",
    "step_np",
    "unsignalized_transitions",
]
