"""The headline figures (pozytywka.report.headline) on hand-made detail files."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT
from pozytywka.report.headline import MAX_COLUMNS, headline


def _details() -> dict:
    model = {"roc_auc": 0.8, "share_of_oracle_saving": 0.2}
    return {
        "offline": {
            "catboost": {"ndcg_at_k": 0.95},
            "baseline": {"ndcg_at_k": 0.89},
            "ndcg_diff": 0.06,
            "ndcg_diff_ci_low": 0.04,
            "ndcg_diff_ci_high": 0.08,
            "weeks_catboost_better": 5,
            "weeks_evaluated": 6,
        },
        "playlists": {"model": "catboost"},
        "playlist_sets": {
            "catboost": {"reach_share": 0.6123456, "capture_at_10": 0.347},
            "baseline": {"reach_share": None, "capture_at_10": 0.15},
        },
        "ab": {
            "lift": 0.0123456789,
            "ci_low": -0.002,
            "ci_high": 0.027,
            "p_value": 0.09,
            "srm_p_value": 0.7,
            "decision": "inconclusive",
        },
        "skips": {
            "catboost": model,
            "genre_rule": {"roc_auc": 0.58},
            "listener_rate": {"roc_auc": 0.79},  # the strongest rule
            "previous_outcome": {"roc_auc": 0.6},
            "catboost_better_weeks": {"listener_rate": 4, "genre_rule": 6},
            "weeks_evaluated": 6,
        },
        "cache": {
            "catboost": model,
            "genre_rule": {"share_of_oracle_saving": 0.01},
            "listener_rate": {"share_of_oracle_saving": 0.05},
            "previous_outcome": {"share_of_oracle_saving": 0.12},  # the strongest rule
        },
        "recs": {
            "arm_b_model": "itemknn",
            "itemknn": {"ndcg_at_20": 0.087},
            "popularity": {"ndcg_at_20": 0.068},  # plain popularity beats the genres one
            "popularity_genres": {"ndcg_at_20": 0.023},
        },
        "data_quality": {"window": {"complete_weeks": 30}, "sessions": {"rows_kept": 1000}},
    }


def test_each_model_against_its_strongest_baseline():
    out = headline(_details())
    assert out["playlists"]["ndcg_weeks_better"] == "5/6"
    assert out["playlists"]["reach_share"] == 0.6123
    assert out["playlists"]["baseline_reach_share"] is None  # undefined: null, never NaN
    assert out["playlists"]["capture@10"] == 0.347
    assert out["ab"]["lift"] == 0.0123  # 4 decimals: a headline, not the detail
    assert out["skips"]["skip_rule"] == "listener_rate"
    assert out["skips"]["skip_rule_roc_auc"] == 0.79
    assert out["skips"]["skip_weeks_better"] == "4/6"
    assert out["cache"]["cache_rule_saving_share"] == 0.12
    assert out["recs"] == {
        "recs_ndcg@20": 0.087,
        "recs_baseline_ndcg@20": 0.068,
        "recs_baseline": "popularity",
        "recs_arm_b": "itemknn",
    }
    chosen = {**_details()["recs"], "strongest_baseline": "popularity_genres"}  # on validation
    assert headline({**_details(), "recs": chosen})["recs"]["recs_baseline"] == "popularity_genres"


def test_skips_headline_survives_a_null_roc_auc():
    # a dump whose weeks each hold one outcome: ROC AUC is null for every model
    details = _details()
    for name in ("catboost", "genre_rule", "listener_rate", "previous_outcome"):
        details["skips"][name] = {"roc_auc": None}
    out = headline(details)["skips"]
    assert out["skip_roc_auc"] is None and out["skip_rule_roc_auc"] is None
    assert out["skip_rule"] == "genre_rule"  # no ROC AUC to rank by: the first rule
    details["skips"]["strongest_baseline"] = "previous_outcome"  # the file's own choice wins
    assert headline(details)["skips"]["skip_rule"] == "previous_outcome"


def test_names_are_unique_and_few():
    """Unique names: DVC prints them without a file prefix; few: `dvc exp show` fits."""
    names = [name for figures in headline(_details()).values() for name in figures]
    assert len(names) == len(set(names))
    assert len(names) <= MAX_COLUMNS
    assert max(len(name) for name in names) <= 24


def test_only_the_headline_files_are_dvc_metrics():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    metrics = [
        next(iter(entry)) if isinstance(entry, dict) else entry
        for spec in stages.values()
        for entry in spec.get("metrics", [])
    ]
    assert metrics == ["metrics/headline"]
    committed = sorted(p.stem for p in (ROOT / "metrics/headline").glob("*.json"))
    assert committed == sorted(headline(_details()))


@pytest.mark.parametrize("product", ["playlists", "ab", "skips", "cache", "recs", "data"])
def test_committed_headline_is_what_the_details_give(product):
    """The committed headline files are the function of the committed details."""
    import json

    from pozytywka.stages.headline import DETAILS, HEADLINE

    details = {name: json.loads((ROOT / path).read_text()) for name, path in DETAILS.items()}
    committed = json.loads((ROOT / HEADLINE / f"{product}.json").read_text())
    assert committed == headline(details)[product]
