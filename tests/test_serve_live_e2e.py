"""The live experiment end to end: the behaviour model's listeners against the real service.

On the tiny pipeline's published week, ``run_traffic`` plays every listener of
the synthetic world against ``pozytywka serve`` over HTTP, and the read-out
from the service's log must agree with the ``ab_test`` stage's simulation of
the same listeners and week: each lift inside the other's 95% interval. They
share the behaviour model, the seed and the served playlists, so they agree
exactly; a difference would mean the log lost, duplicated or mis-sessioned
events, or the read-out computed outcomes differently from the stage.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pozytywka.config import load_params
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.traffic import listener_ids, run_traffic, served_by_arm, simulated_readout
from pozytywka.synthetic import build_world

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_live_readout_agrees_with_the_simulation(tiny_pipeline, tmp_path):
    repo, _ = tiny_pipeline
    params = load_params(repo / "params.yaml")
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "POZYTYWKA_CLOCK": "manual",
        "POZYTYWKA_ADMIN_TOKEN": "t",
    }
    world = build_world(params.data.synthetic)
    with ServiceProcess(repo, env) as svc:
        res = run_traffic(svc.url, params, None, "t", workers=4, world=world)
    live = res.results
    week = world.week_index(pd.Timestamp(res.week_start))
    users = listener_ids(world, None)
    sim = simulated_readout(params, users, served_by_arm(res.served, res.arms), world, week)

    # the held-out listeners are served the baseline and logged under their own key
    assert res.listeners == len(users) == live["listeners_exposed"] + live["holdout"]["users"]
    assert live["holdout"]["users"] > 0
    assert live["excluded_both_arms"] == 0
    assert res.events_posted == live["events"] + live["holdout"]["events"]
    assert live["events"] > 0
    for arm in ("A", "B"):
        assert live["arms"][arm]["users"] == sim["arms"][arm]["users"]
    assert sim["ci_low"] <= live["lift"] <= sim["ci_high"]
    assert live["ci_low"] <= sim["lift"] <= live["ci_high"]
    for key in ("lift", "ci_low", "ci_high", "p_value", "srm_p_value", "mde"):
        assert live[key] == pytest.approx(sim[key], rel=1e-6), key
    assert live["arms"] == sim["arms"]


def test_stage_and_live_agree_listener_by_listener(tiny_pipeline, tmp_path):
    """Issue 23, "one experiment, one answer": every listener in both the ``ab_test``
    stage's outcomes (the dump's users) and the live log (the world's listeners, a few
    more: the week's sign-ups) has the same plays, full plays, skips and likes in both:
    each listener's shelf week is drawn from their own random stream."""
    from pozytywka.serve.readout import live_outcomes
    from pozytywka.serve.store import Store

    repo, _ = tiny_pipeline
    params = load_params(repo / "params.yaml")
    db = tmp_path / "log.sqlite"
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{db}",
        "POZYTYWKA_CLOCK": "manual",
        "POZYTYWKA_ADMIN_TOKEN": "t",
    }
    world = build_world(params.data.synthetic)
    with ServiceProcess(repo, env) as svc:
        res = run_traffic(svc.url, params, None, "t", workers=4, world=world)
    store = Store(f"sqlite:///{db}")
    week = res.week_start
    parts = []
    for key in ("playlists", "playlists:holdout"):
        out = live_outcomes(store.exposures_frame(key, week), store.events_frame(key, week), [])
        parts.append(out.assign(arm="H") if key.endswith(":holdout") else out)
    live = pd.concat(parts, ignore_index=True)
    store.dispose()
    stage = pd.read_csv(repo / "reports" / "ab" / "outcomes.csv", dtype={"user_id": str})
    cols = ["user_id", "arm", "plays", "full_plays", "skips", "likes"]
    shared = sorted(set(stage["user_id"]) & set(live["user_id"]))
    assert len(shared) == len(stage) and len(live) > len(stage) * 0.9
    a = stage.set_index("user_id").loc[shared].reset_index()[cols]
    b = live.set_index("user_id").loc[shared].reset_index()[cols]
    assert a["plays"].sum() > 0 and set(a["arm"]) == {"A", "B", "H"}
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
