"""A SUMO run with its own --queue-output beside ours (the queue tests' common set-up)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

# SUMO's queueing_length is in metres; a queued car takes its 5 m length plus 2.5 m minGap
QUEUED_CAR_M = 7.5


def run_with_queue_output(net: Path, tmp_path: Path, veh_per_hour: float, seed: int, end_s=900):
    """(our SumoResult, {lane id: (end_s + 1,) SUMO's queued vehicles per second}) of one run
    with queues sampled every second; SUMO lists only lanes with a queue."""
    from signals.demand import generate_routes
    from signals.evaluate.sumo_run import evaluate_sumo
    from signals.network import Network

    routes = tmp_path / "r.rou.xml"
    generate_routes(net, routes, veh_per_hour=veh_per_hour, end_s=end_s, seed=seed, cv_share=0.0)
    qo = tmp_path / "queue.xml"
    res = evaluate_sumo(
        net, routes, end_s=end_s, network=Network.from_sumo(net), queue_sample_s=1.0,
        extra_options=["--queue-output", str(qo)],
    )  # fmt: skip
    lanes: dict[str, np.ndarray] = {}
    for d in ET.parse(qo).getroot().iter("data"):
        t = int(float(d.get("timestep")))
        for lane in d.iter("lane"):
            q = lanes.setdefault(lane.get("id"), np.zeros(int(end_s) + 1))
            q[t] = float(lane.get("queueing_length")) / QUEUED_CAR_M
    return res, lanes
