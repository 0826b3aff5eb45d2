"""Queue-model polish of the solver's plans (issue 11, part 4): perturbations that keep every
cycle and pass the gate, a search never worse than the solver's plans by the model, and a
confirmation step (SUMO in the benches) that decides among the shortlist."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from signals.control.fixed_time import DEFAULT_SAFETY, WebsterConfig, movement_flows_vph
from signals.control.optimize import SplitConfig, optimize
from signals.control.optimize.polish import PolishConfig, perturb, polish
from signals.evaluate.queue import QueueModel
from signals.network import Network
from signals.safety import validate

TEST_NETS = Path(__file__).resolve().parents[1] / "networks" / "test"
NET = TEST_NETS / "grid2x2.net.xml"
CFG = PolishConfig(candidates=8, rounds=2, signal_share=0.5, top_k=2, horizon_s=600.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from signals.demand import generate_routes

    d = tmp_path_factory.mktemp("polish")
    routes = generate_routes(NET, d / "g.rou.xml", veh_per_hour=2500, end_s=600, seed=1)
    net = Network.from_sumo(NET)
    flows = movement_flows_vph(net, routes, 0.0, 600.0)
    # one cycle, offsets 0: room for the polish to find better plans
    cfg = SplitConfig(
        cycle_step_s=10,
        common_cycle="all",
        offsets="none",
        webster=replace(WebsterConfig(), cycle_max_s=80.0),
    )
    plans = optimize(net, flows, cfg=cfg).plans
    model = QueueModel.from_routes(net, routes, end_s=600.0, backend="numpy")
    return net, plans, model


def test_perturbations_keep_the_cycles_and_pass_the_gate(setup):
    net, plans, _ = setup
    rng = np.random.default_rng(0)
    shared = set(plans.plans)
    moved = 0
    for _ in range(20):
        ps = perturb(net, plans, rng, CFG, DEFAULT_SAFETY, shared)
        assert validate(ps, net) == []
        for sid, p in ps.plans.items():
            q = plans[sid]
            assert p.cycle_s == q.cycle_s and p.n_stages == q.n_stages
            dg = np.array([a.green_s for a in p.phases]) - [a.green_s for a in q.phases]
            assert dg.sum() == 0 and np.abs(dg).max() <= CFG.split_move_s
            off = (p.offset_s - q.offset_s) % q.cycle_s
            assert min(off, q.cycle_s - off) <= CFG.offset_move * q.cycle_s
            moved += p != q
    assert moved > 0
    # signals on a cycle of their own keep their offsets
    ps = perturb(net, plans, np.random.default_rng(1), CFG, DEFAULT_SAFETY, set())
    assert all(ps[s].offset_s == plans[s].offset_s for s in plans.plans)


def test_polish_never_loses_by_the_model_and_is_reproducible(setup):
    net, plans, model = setup
    r = polish(net, model, plans, CFG)
    assert r.shortlist[0] == plans and len(r.shortlist) > 1
    assert all(d < r.model_delay_s[0] for d in r.model_delay_s[1:])  # shortlist beats the base
    assert r.model_delay_s[r.chosen] == min(r.model_delay_s)
    assert validate(r.plans, net) == []
    assert r.n_scored == CFG.rounds * CFG.candidates
    assert polish(net, model, plans, CFG).plans == r.plans


def test_confirmation_decides_and_sees_the_solver_plans_first(setup):
    net, plans, model = setup
    seen = []

    def prefer_base(shortlist):
        seen.append(list(shortlist))
        return [0.0] + [1.0] * (len(shortlist) - 1)

    r = polish(net, model, plans, CFG, confirm=prefer_base)
    assert len(r.shortlist) > 1 and seen[0] == list(r.shortlist)
    assert seen[0][0] == plans and r.chosen == 0 and r.plans == plans  # the model's pick lost
    assert r.confirm_delay_s[0] == 0.0

    def prefer_last(shortlist):
        return list(range(len(shortlist), 0, -1))

    r2 = polish(net, model, plans, CFG, confirm=prefer_last)
    assert r2.chosen == len(r2.shortlist) - 1 and r2.plans == r2.shortlist[-1]


@pytest.mark.parametrize("kw", [{"candidates": 0}, {"signal_share": 0}, {"offset_move": 0.9}])
def test_bad_polish_settings_are_refused(kw):
    with pytest.raises(ValueError):
        PolishConfig(**kw)


def test_bench_polish_reports_the_gain_in_sumo(tmp_path):
    """``signals bench polish`` on a net it did not build (arterial3 as the corridor, 600 s):
    the gain is the ratio of the evaluation runs, the shortlist ran on another SUMO seed."""
    import argparse
    import shutil

    from signals.bench import polish as bench

    net = tmp_path / "arterial3.net.xml"
    shutil.copyfile(TEST_NETS / "arterial3.net.xml", net)
    (tmp_path / "arterial3.meta.json").write_text('{"base_veh_per_hour": 1200}')
    args = argparse.Namespace(
        net=None, corridor_net=str(net), nets=["v2x-corridor"], work=str(tmp_path / "w"),
        seeds=[11], end_s=600.0, quick=False, jobs=1, candidates=6, rounds=2, top_k=2,
    )  # fmt: skip
    out = bench.run(args)
    r = out["nets"]["v2x-corridor"]
    want = r["avg_delay_s_polished"] / r["avg_delay_s_optimized"]
    assert out["polish_gain_sumo"] == r["polish_gain_sumo"] == pytest.approx(want, abs=1e-4)
    (s,) = r["per_seed"]
    assert s["n_scored"] == 12 and 0 <= s["chosen"] < len(s["model_delay_s"])
    if len(s["model_delay_s"]) > 1:  # a shortlist went to SUMO
        assert len(s["confirm_delay_s"]) == len(s["model_delay_s"])
    assert out["evaluation_seeds"] == [11] and out["confirm_sumo_seed"] == 1
    assert {"v2x-corridor_polished_seed11", "v2x-corridor_routes_seed11"} <= set(
        out["inputs_sha256"]
    )


def test_plan_optimize_polish_confirm_writes_the_polish_report(tmp_path, capsys):
    import json

    from signals.cli import main
    from signals.demand import generate_routes

    routes = generate_routes(NET, tmp_path / "g.rou.xml", veh_per_hour=2500, end_s=600, seed=1)
    out = tmp_path / "o"
    argv = [
        "plan", "optimize", "--net", str(NET), "--routes", str(routes), "--out", str(out),
        "--common-cycle", "all", "--offsets", "none", "--cycle-step-s", "10",
        "--time-limit-s", "2", "--polish-confirm",
    ]  # fmt: skip
    assert main(argv) == 0
    (period,) = json.loads((out / "optimize.json").read_text())["periods"].values()
    pol = period["polish"]
    assert pol["n_scored"] == 96 and pol["model_delay_s"][0] >= min(pol["model_delay_s"])
    if len(pol["model_delay_s"]) > 1:
        assert len(pol["confirm_delay_s"]) == len(pol["model_delay_s"])
        assert pol["confirm_delay_s"][pol["chosen"]] == min(pol["confirm_delay_s"])
    assert "polish:" in capsys.readouterr().out
