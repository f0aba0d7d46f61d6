"""The online scorer: loads published artifacts once, scores a play as the offline table does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skips_data
from pozytywka import paths
from pozytywka.config import SkipsCatBoostParams
from pozytywka.errors import PozytywkaError
from pozytywka.io import write_json, write_parquet
from pozytywka.playlists.models.catboost_model import save_catboost
from pozytywka.skips.baselines import fit_baselines
from pozytywka.skips.features import FEATURE_COLUMNS
from pozytywka.skips.model import predict_skip, train_classifier
from pozytywka.skips.online import OnlineScorer

PRIOR = 2.0


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Artifacts laid out as the pipeline publishes them, serving week 1 of skips_data."""
    root = tmp_path_factory.mktemp("published")
    events = skips_data.events()
    table, history = skips_data.features(events, PRIOR)
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


# Week-1 sessions added to the hand-made log for the parity tests. Week-1 outcomes are
# known in week 1 at the earliest, so they leave the serving week's history unchanged.
EXTRA = [
    # an unknown listener: t3 played through (liked), t1 skipped after 10 s, then t2
    ("s4", "2024-01-09 10:00:00", "u9", "t3", "play"),
    ("s4", "2024-01-09 10:00:30", "u9", "t3", "like"),
    ("s4", "2024-01-09 10:00:50", "u9", "t1", "play"),
    ("s4", "2024-01-09 10:01:00", "u9", "t1", "skip"),
    ("s4", "2024-01-09 10:01:02", "u9", "t2", "play"),
    # u2 off their favourite genre, an ad, a full play, then t1 again
    ("s5", "2024-01-10 20:00:00", "u2", "t1", "play"),
    ("s5", "2024-01-10 20:03:20", "u2", None, "advertisement"),
    ("s5", "2024-01-10 20:03:40", "u2", "t2", "play"),
    ("s5", "2024-01-10 20:05:20", "u2", "t1", "play"),
    # no listener id at all
    ("s6", "2024-01-11 07:00:00", None, "t2", "play"),
    ("s6", "2024-01-11 07:00:05", None, "t2", "skip"),
    ("s6", "2024-01-11 07:00:06", None, "t1", "play"),
]


def _with(rows) -> pd.DataFrame:
    extra = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    extra["timestamp"] = pd.to_datetime(extra["timestamp"]).astype("datetime64[us]")
    events = pd.concat([skips_data.events(), extra], ignore_index=True)
    events["row_number"] = range(len(events))
    return events


def _offline(events: pd.DataFrame) -> pd.DataFrame:
    table, _ = skips_data.features(events, PRIOR)
    return table.set_index("play_id")


def _assert_online_is_offline(scorer, events, table, play_id) -> None:
    """Score play ``play_id`` online from its session's earlier events; compare with the table."""
    play = events.loc[events["row_number"] == play_id].iloc[0]
    earlier = events[
        (events["session_id"] == play["session_id"]) & (events["timestamp"] < play["timestamp"])
    ]
    session = [
        {"timestamp": e.timestamp, "event_type": e.event_type, "track_id": e.track_id}
        for e in earlier.itertuples()
    ]
    user = play["user_id"] if isinstance(play["user_id"], str) else None
    online = scorer.features(user, play["track_id"], session, now=play["timestamp"])
    pd.testing.assert_series_equal(
        online.iloc[0][FEATURE_COLUMNS].astype(float),
        table.loc[play_id, FEATURE_COLUMNS].astype(float),
        check_names=False,
        obj=f"play {play_id}",
    )


@pytest.fixture(scope="module")
def extended():
    events = _with(EXTRA)
    return events, _offline(events)


def test_online_features_are_the_offline_features(published, extended):
    root, table, _ = published
    scorer = OnlineScorer.load(root)
    online = scorer.features("u1", "t1", SESSION_S3, now="2024-01-08T09:00:51")
    offline = table.loc[10, FEATURE_COLUMNS].astype(float)  # the same play, offline
    pd.testing.assert_series_equal(
        online.iloc[0][FEATURE_COLUMNS].astype(float), offline, check_names=False
    )
    events, table = extended
    by_id = events.set_index("row_number")
    first = 8  # u1's first play of s3, after an ad
    after_skip = 10  # u1's t1 right after skipping t2
    unknown = int(by_id.index[(by_id["user_id"] == "u9") & (by_id["track_id"] == "t2")][0])
    assert (
        table.loc[first, "session_position"] == 0 and table.loc[after_skip, "previous_skipped"] == 1
    )
    assert table.loc[unknown, "user_plays"] == 0 and table.loc[unknown, "previous_skipped"] == 1
    assert np.isnan(table.loc[unknown, "premium"])
    week1 = table.index[table["week_start"] == skips_data.W1]
    assert len(week1) == 2 + 8  # s3's two plays and the extra sessions' eight
    for play_id in week1:  # first of a session, after a skip, full play, ad, unknown, no id
        _assert_online_is_offline(scorer, events, table, int(play_id))


@settings(max_examples=10, deadline=None)  # each example builds the offline table
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # session: u1 (known), u9 (unknown), no listener id
            st.integers(0, 2_000),  # seconds into the week (distinct within a session)
            st.sampled_from(["t1", "t2", "t3", None]),
            st.sampled_from(["play", "play", "skip", "like", "advertisement"]),
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_online_matches_offline_on_random_sessions(published, rows):
    """Property: every week-1 play of any log gets the same features online as offline.

    Times are distinct within a session: a live request carries only events
    strictly before the play, so an event tied with the play is never part of it.
    """
    users = {0: "u1", 1: "u9", 2: None}
    rows = [
        (
            f"r{s}",
            skips_data.W1 + pd.Timedelta(seconds=sec),
            users[s],
            None if e == "advertisement" else t,
            e,
        )
        for s, sec, t, e in rows
        if e == "advertisement" or t is not None
    ]
    events = _with(rows)
    table = _offline(events)
    scorer = OnlineScorer.load(published[0])
    for play_id in table.index[table["week_start"] == skips_data.W1]:
        _assert_online_is_offline(scorer, events, table, int(play_id))


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
