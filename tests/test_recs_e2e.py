"""End to end: the recs stages inside the tiny pipeline's real `dvc repro`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from e2e_helpers import run, stages_run

pytestmark = pytest.mark.e2e

RECS_STAGES = {"recs_interactions", "recs_evaluate", "recs_publish"}
BASELINES = ("popularity_all", "popularity", "popularity_genres", "own_most_played")
MODELS = (*BASELINES, "itemknn", "ease", "als", "svd", "catboost")


def test_recs_stages_run_in_dvc_repro(tiny_pipeline):
    _, output = tiny_pipeline
    assert stages_run(output) >= RECS_STAGES


def test_recs_metrics_follow_the_contract(tiny_pipeline):
    repo, _ = tiny_pipeline
    m = json.loads((repo / "metrics/recs.json").read_text())
    for name in MODELS:
        for key in ("recall", "ndcg", "map"):
            for k in (10, 20):
                value = m[name][f"{key}_at_{k}"]
                assert m[name][f"{key}_at_{k}_ci_low"] <= value <= m[name][f"{key}_at_{k}_ci_high"]
        assert 0 < m[name]["coverage_at_20"] <= 1
        assert m[name]["recall_at_20"] <= m["oracle"]["recall_at_20"] + 1e-9
    assert m["best_model"] in MODELS and m["candidate_model"] in ("itemknn", "ease", "als", "svd")
    assert set(m["exclude_seen_true"]) >= set(MODELS)  # the other setting is reported too
    valid = {name: m[name]["valid_ndcg_at_20"] for name in BASELINES}
    assert m["strongest_baseline"] == max(BASELINES, key=lambda b: (valid[b], -BASELINES.index(b)))
    table = (repo / "reports/recs/vs_popularity.md").read_text()
    assert "each model against the strongest baseline" in table and "`catboost`" in table
    assert m["verdict"] in table and m["arm_b_reason"] in table


def test_every_listener_gets_k_distinct_tracks_in_both_arms(tiny_pipeline):
    repo, _ = tiny_pipeline
    published = pd.read_parquet(repo / "data/serving/recs.parquet")
    users = pd.read_parquet(repo / "data/interim/users.parquet")
    assert set(published["user_id"]) >= set(users["user_id"].astype(str))
    sizes = published.groupby(["user_id", "arm"])["track_id"].agg(["size", "nunique"])
    assert (sizes["size"] == 20).all() and (sizes["nunique"] == 20).all()
    assert set(published["source"]) <= {"model", "popularity fallback (no history)"}
    assert "Listener" in (repo / "reports/recs/sample.md").read_text()


def test_arm_b_serves_a_model_only_if_it_beat_the_strongest_baseline_on_validation(
    tiny_pipeline,
):
    repo, _ = tiny_pipeline
    m = json.loads((repo / "metrics/recs.json").read_text())
    valid = {name: m[name]["valid_ndcg_at_20"] for name in MODELS}
    challengers = {n: v for n, v in valid.items() if n not in BASELINES and v is not None}
    best = max(challengers, key=challengers.get)
    if challengers[best] > valid[m["strongest_baseline"]]:
        assert m["arm_b_model"] == best
    else:
        assert m["arm_b_model"] == m["strongest_baseline"]
    published = pd.read_parquet(repo / "data/serving/recs.parquet")
    assert published.groupby("arm")["model"].unique().map(list).to_dict() == {
        "A": ["popularity_genres"],
        "B": [m["arm_b_model"]],
    }
    lists = published[published["source"] == "model"].pivot_table(
        index="user_id", columns="arm", values="track_id", aggfunc=tuple
    )
    if m["arm_b_model"] != "popularity_genres":  # otherwise an A/A test, and it says so
        assert (lists["A"] != lists["B"]).mean() > 0.5
    else:
        assert "A/A test" in m["arm_b_reason"]
    cold = published[published["source"] != "model"]
    by_arm = cold.groupby(["user_id", "arm"])["track_id"].agg(tuple).unstack("arm")
    assert by_arm.empty or (by_arm["A"] == by_arm["B"]).all()  # no history: fallback in both


def test_publish_is_byte_identical_when_rerun(tiny_pipeline):
    repo, _ = tiny_pipeline
    before = (repo / "data/serving/recs.parquet").read_bytes()
    run(["pozytywka", "recs_publish"], repo)
    assert (repo / "data/serving/recs.parquet").read_bytes() == before
    out = run(["pozytywka", "summary"], repo)
    assert "Personal recommendations" in out
