"""The skips_* stages inside the real tiny `dvc repro` (the session's tiny_pipeline)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from e2e_helpers import stages_run

pytestmark = pytest.mark.e2e

SKIP_STAGES = ("skips_features", "skips_train", "skips_evaluate", "skips_cache")


def test_skip_stages_ran(tiny_pipeline):
    _, output = tiny_pipeline
    ran = stages_run(output)
    for stage in SKIP_STAGES:
        assert stage in ran


def test_skips_metrics_are_sane(tiny_pipeline):
    repo, _ = tiny_pipeline
    doc = json.loads((repo / "metrics/skips.json").read_text())
    assert doc["weeks_evaluated"] == 2 and doc["plays_evaluated"] > 0
    for model in ("genre_rule", "previous_outcome", "listener_rate", "catboost"):
        m = doc[model]
        for key in ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy"):
            assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"]
        assert 0.0 <= m["roc_auc"] <= 1.0 and 0.0 < m["log_loss"] < 5.0
    by_week = pd.read_csv(repo / "reports/skips/by_week.csv")
    assert len(by_week) == 2 and by_week["week_start"].is_monotonic_increasing


def test_cache_metrics_are_sane(tiny_pipeline):
    repo, _ = tiny_pipeline
    doc = json.loads((repo / "metrics/cache.json").read_text())
    oracle, always = doc["oracle"], doc["always"]
    for policy in ("never", "always", "genre_rule", "catboost", "bayes"):
        # the oracle is the floor of every policy's cost
        assert doc[policy]["cost"] >= oracle["cost"] - 1e-9
    assert oracle["wasted_bytes"] == 0 and oracle["slow_deliveries"] == 0
    assert always["slow_deliveries"] == 0 and doc["never"]["wasted_bytes"] == 0
    assert oracle["share_of_oracle_saving"] == 1.0
    # the synthetic dump: the generator's own P(skip) scored as a model (the ceiling)
    bayes = doc["bayes"]
    assert 0.5 < bayes["roc_auc"] <= 1.0 and bayes["threshold"] is not None
    assert bayes["plays_without_probability"] < 0.1 * doc["plays"]
    server = doc["server"]
    for share in ("0.01", "0.2"):
        assert server["belady"][f"hit_ratio_at_{share}"] >= server["lru"][f"hit_ratio_at_{share}"]
    curve = pd.read_csv(repo / "reports/cache/cost_vs_threshold.csv")
    assert set(curve["model"]) == {"genre_rule", "previous_outcome", "listener_rate", "catboost"}


def test_plots_and_models_exist(tiny_pipeline):
    repo, _ = tiny_pipeline
    for name in (
        "skips/by_week.png",
        "skips/calibration.png",
        "cache/cost_vs_threshold.png",
        "cache/server.png",
    ):
        png = repo / "reports" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((repo / "models/skips/meta.json").read_text())
    assert 0.0 <= meta["thresholds"]["catboost"]["cache"] <= 1.0
    assert (repo / "models/skips/catboost.cbm").stat().st_size > 0


def test_online_scorer_loads_the_published_artifacts(tiny_pipeline):
    from pozytywka.skips.online import OnlineScorer

    repo, _ = tiny_pipeline
    scorer = OnlineScorer.load(repo)
    track = sorted(scorer.known_tracks)[0]
    pred = scorer.predict(None, track, [], arm="B")
    assert 0.0 < pred.probability < 1.0 and pred.decision in ("fetch", "stream")
