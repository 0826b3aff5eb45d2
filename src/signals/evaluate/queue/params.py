"""The queue model's constants: :class:`QueueParams`, the SUMO-calibrated set ``CALIBRATED``
(its record is ``queue_calibration.json`` beside this file) and the demand draw length."""

from __future__ import annotations

from dataclasses import dataclass, replace

from signals.network import BASE_SAT_FLOW_VPHPL

# Steps of the demand generator per draw; fixed so the Poisson stream of a seed never depends on
# how the horizon is cut into chunks.
CHUNK_STEPS = 300


@dataclass(frozen=True)
class QueueParams:
    """Model constants (defaults: HCM values; ``CALIBRATED`` holds the SUMO-calibrated set).

    Attributes:
        sat_flow_factor: multiplies every movement's saturation flow (network.mov_sat_flow_vps).
        startup_lost_s: l1, start-up lost time at the start of green (HCM 6th ed. Ch. 19: 2 s).
        yellow_used_s: e, extension of effective green into the yellow (HCM 6th ed. Ch. 19: 2 s).
        permissive: reduce the capacity of yielding movements by the flow they yield to.
        critical_headway_s: t_cg of a permitted left turn (HCM 6th ed. Ch. 31: 4.5 s).
        follow_up_headway_s: t_fh of a permitted left turn (HCM 6th ed. Ch. 31: 2.5 s).
        sneakers_per_green: vehicles of a yielding movement's queue that clear when its green
            ends while a foe it yields to is discharging ("sneakers", waiting inside the junction
            for the opposing flow to stop: HCM 2000 Ch. 16 App. C, f_min = 2(1 + P_L)/g, two per
            cycle; in SUMO the left turners waiting at the internal junction).
        stop_penalty_s: delay added per stop for decelerating and accelerating (Akcelik 1981,
            ARR 123; for SUMO's default car from 50 km/h: v/2a + v/2b = 13.9/5.2 + 13.9/9 = 4.2 s).
        freeflow_loss_frac: share of the free-flow travel time lost even without queues (SUMO's
            driver imperfection sigma and speed deviation), calibrated against SUMO.
        pass_sat_flow_vphpl: saturation flow per lane of pass-through movements (no signal).
        lane_groups: movements that share approach lanes share their saturation flow in
            proportion to their demand (the lane rule of Webster's design, :mod:`signals.lanes`;
            HCM 6th ed. Ch. 19 and 31), so every movement on a lane runs at the lane's degree of
            saturation; False splits each shared lane equally among its movements
            (``network.mov_sat_flow_vps`` as it is).
        fifo_lanes: which shared lanes are first-in first-out under spillback (a vehicle that
            cannot enter its full downstream edge holds up its lane,
            :func:`signals.evaluate.queue.reference.fifo_factor`): ``"signal"`` the approach
            lanes of signals, ``"all"`` also the one-lane edges at junctions without a signal,
            ``"off"`` none (each movement queues on its own).
    """

    sat_flow_factor: float = 1.0
    startup_lost_s: float = 2.0
    yellow_used_s: float = 2.0
    permissive: bool = True
    critical_headway_s: float = 4.5
    follow_up_headway_s: float = 2.5
    sneakers_per_green: float = 2.0
    stop_penalty_s: float = 0.0
    freeflow_loss_frac: float = 0.0
    pass_sat_flow_vphpl: float = BASE_SAT_FLOW_VPHPL
    lane_groups: bool = True
    fifo_lanes: str = "signal"

    def replace(self, **kw) -> QueueParams:
        return replace(self, **kw)


# Calibrated against SUMO micro 1.28 (default car, sigma 0.5) by ``signals bench calibration``
# on the tuning seeds 1 and 2 only, on two networks at once (the pilot zone and RESCO cologne8),
# over 900 s and the full hour, on calibration plans kept apart from the plans ``signals bench
# accuracy`` reports on; the record they came from (data digests, horizons, plans, grid, chosen
# values) is ``queue_calibration.json`` beside this file, and a test holds the two equal. In this
# model (lane groups, sneakers) SUMO's cars discharge at about 0.6 x the HCM lane saturation flow
# of :mod:`signals.lanes`, lose about 2.0 s per stop (Akcelik's estimate for SUMO's default car
# from 50 km/h: 4.2 s) and about 19 % of their free-flow time besides; no FIFO lanes fit better
# than FIFO approach lanes or more. The default of QueueModel.
CALIBRATED = QueueParams(
    sat_flow_factor=0.6, stop_penalty_s=1.992, freeflow_loss_frac=0.1861, fifo_lanes="off"
)
