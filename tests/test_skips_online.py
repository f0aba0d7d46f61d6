"""The online scorer: loads published artifacts once, scores a play as the offline table does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import skips_data
from pozytywka import paths
from pozytywka.config import SkipsCatBoostParams
from pozytywka.errors import PozytywkaError
from pozytywka.io import write_json, write_parquet
from pozytywka.playlists.models.catboost_model import save_catboost
from pozytywka.skips.baselines import fit_baselines
from pozytywka.skips.features import FEATURE_COLUMNS, build_features
from pozytywka.skips.model import predict_skip, train_classifier
from pozytywka.skips.online import OnlineScorer
from pozytywka.skips.target import play_targets

PRIOR = 2.0


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Artifacts laid out as the pipeline publishes them, serving week 1 of skips_data."""
    root = tmp_path_factory.mktemp("published")
    events = skips_data.events()
    table, history = build_features(
        play_targets(events),
        events,
        skips_data.tracks(),
        skips_data.track_genres(),
        skips_data.users(),
        PRIOR,
    )
    model = train_classifier(table, table, SkipsCatBoostParams(iterations=5, depth=2))
    (root / paths.SKIPS_MODELS).mkdir(parents=True)
    save_catboost(model, root / paths.SKIPS_CATBOOST)
    write_json(root / paths.SKIPS_BASELINES, fit_baselines(table))
    meta = {
        "serve_week": "2024-01-08",
        "prior_plays": PRIOR,
        "thresholds": {"catboost": {"cache": 0.5}, "genre_rule": {"cache": 0.5}},
    }
    write_json(root / paths.SKIPS_META, meta)
    for name, frame in history.items():
        write_parquet(root / paths.SKIPS_HISTORY / f"{name}.parquet", frame)
    write_parquet(root / paths.INTERIM_TRACKS, skips_data.tracks())
    write_parquet(root / paths.INTERIM_TRACK_GENRES, skips_data.track_genres())
    write_parquet(root / paths.INTERIM_USERS, skips_data.users())
    return root, table.set_index("play_id"), model


SESSION_S3 = [
    {"timestamp": "2024-01-08T09:00:00", "event_type": "advertisment", "track_id": None},
    {"timestamp": "2024-01-08T09:00:20", "event_type": "play", "track_id": "t2"},
    {"timestamp": "2024-01-08T09:00:50", "event_type": "SKIP", "track_id": "t2"},
]


def test_online_features_are_the_offline_features(published):
    root, table, _ = published
    scorer = OnlineScorer.load(root)
    online = scorer.features("u1", "t1", SESSION_S3, now="2024-01-08T09:00:51")
    offline = table.loc[10, FEATURE_COLUMNS].astype(float)  # the same play, offline
    pd.testing.assert_series_equal(
        online.iloc[0][FEATURE_COLUMNS].astype(float), offline, check_names=False
    )


def test_predict_arms(published):
    root, table, model = published
    scorer = OnlineScorer.load(root)
    b = scorer.predict("u1", "t1", SESSION_S3, arm="B", now="2024-01-08T09:00:51")
    expected = predict_skip(model, table.loc[[10]])[0]
    assert b.model == "catboost" and b.probability == pytest.approx(expected)
    assert b.decision == ("stream" if expected >= 0.5 else "fetch")
    a = scorer.predict("u1", "t1", SESSION_S3, arm="A", now="2024-01-08T09:00:51")
    # genre rule: t1 is in u1's favourite genre; in the table, matching plays were skipped
    rate = table.loc[table["favourite_genre_match"] == 1, "skipped"].mean()
    assert a.model == "genre_rule" and a.probability == pytest.approx(rate)
    assert a.decision == ("stream" if rate >= 0.5 else "fetch")


def test_new_session_and_unknown_listener(published):
    scorer = OnlineScorer.load(published[0])
    row = scorer.features(None, "t3", [])
    assert row["session_position"].iloc[0] == 0
    assert np.isnan(row["user_skip_rate"].iloc[0]) and row["track_plays"].iloc[0] == 0
    assert 0.0 < scorer.predict("nobody", "t3", []).probability < 1.0


@pytest.mark.parametrize(
    ("track", "session", "message"),
    [
        ("t9", [], "unknown track_id"),
        (
            "t1",
            [{"timestamp": "2024-01-08T09:00:00", "event_type": "dance", "track_id": "t1"}],
            "event_type",
        ),
        ("t1", [{"event_type": "play", "track_id": "t1"}], "timestamp"),
        (
            "t1",
            [{"timestamp": "2024-01-08T10:00:00", "event_type": "play", "track_id": "t1"}],
            "before",
        ),
    ],
)
def test_bad_input_is_one_clear_error(published, track, session, message):
    scorer = OnlineScorer.load(published[0])
    with pytest.raises(PozytywkaError, match=message):
        scorer.features("u1", track, session, now="2024-01-08T09:00:00")


def test_missing_artifacts_name_the_stage(tmp_path):
    with pytest.raises(PozytywkaError, match="dvc repro skips_train"):
        OnlineScorer.load(tmp_path)
