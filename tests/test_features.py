"""Features: lags and target line up, nothing looks into the target week, short dumps stop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interim_fakes import fake_interim
from pozytywka.config import FeaturesParams
from pozytywka.errors import PozytywkaError
from pozytywka.playlists.features import (
    FEATURE_COLUMNS,
    build_features,
    check_enough_weeks,
    model_feature_columns,
    required_complete_weeks,
)
from pozytywka.plays import WEEKLY_COLUMNS, complete_week_starts, weekly_popularity

W = [pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * i) for i in range(4)]


def features_of(data: dict[str, pd.DataFrame], **kw) -> pd.DataFrame:
    sessions = data["sessions"]
    return build_features(
        weekly_popularity(sessions),
        data["tracks"],
        data["track_genres"],
        complete_week_starts(sessions),
        FeaturesParams(**kw),
    )


def tiny_weekly() -> pd.DataFrame:
    """Hand-made weekly table: A and B in genre g (B also in h), C in h, artist x has A+B."""
    rows = [
        (W[0], "A", 5, 4, 1, 0, 4, 3),
        (W[0], "B", 2, 2, 0, 1, 2, 2),
        (W[1], "A", 6, 6, 0, 2, 5, 5),
        (W[1], "C", 1, 0, 1, 0, 1, 0),
        (W[2], "A", 3, 3, 0, 0, 3, 2),
        (W[2], "B", 4, 4, 0, 0, 4, 4),
        (W[3], "B", 1, 1, 0, 0, 1, 1),
    ]
    weekly = pd.DataFrame(rows, columns=WEEKLY_COLUMNS)
    weekly["week_start"] = weekly["week_start"].astype("datetime64[us]")
    return weekly


def tiny_catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    tracks = pd.DataFrame(
        {
            "track_id": ["A", "B", "C"],
            "artist_id": ["x", "x", "y"],
            "release_date": pd.to_datetime(["2023-12-25", "2024-01-01", None]).astype(
                "datetime64[us]"
            ),
            "energy": [0.1, 0.2, 0.3],
        }
    )
    track_genres = pd.DataFrame({"track_id": ["A", "B", "B", "C"], "genre": ["g", "g", "h", "h"]})
    return tracks, track_genres


def test_hand_computed_lags_target_and_momentum() -> None:
    tracks, tg = tiny_catalogue()
    f = build_features(tiny_weekly(), tracks, tg, W, FeaturesParams(history_weeks=2, min_plays=1))
    f = f.set_index([f["week_start"].dt.strftime("%m-%d"), "track_id"])
    a2 = f.loc[("01-15", "A")]
    assert (a2["popularity"], a2["pop_lag_0"], a2["pop_lag_1"]) == (2, 2.0, 5.0)
    assert a2["target"] == 0.0  # A is not played in week 3
    assert a2["pop_diff_1"] == -3.0
    assert a2["pop_ratio_1"] == pytest.approx(3 / 6)
    assert a2["artist_pop_0"] == 6.0 and a2["artist_pop_1"] == 5.0  # A + B of artist x
    assert a2["genre_pop_max"] == 6.0  # genre g: A 2 + B 4
    assert a2["weeks_since_release"] == 4.0  # released 2023-12-25, week ends 2024-01-22
    assert a2["weeks_since_first_play"] == 2.0
    b2 = f.loc[("01-15", "B")]
    # B is in g (6) and h (B 4 + C 0 = 4): max 6, mean 5; rank 1 in both
    assert (b2["genre_pop_max"], b2["genre_pop_mean"], b2["genre_rank_best"]) == (6.0, 5.0, 1.0)
    assert b2["target"] == 1.0
    # the first week's lag 1 lies before the log: unknown, not zero
    assert np.isnan(f.loc[("01-01", "A"), "pop_lag_1"])
    # week 1 candidates: A, C played; B played in week 0 (inside the 2-week window)
    assert sorted(f.loc["01-08"].index) == ["A", "B", "C"]
    last = f[f["is_prediction_week"]]
    assert set(last.index.get_level_values(0)) == {"01-22"} and last["target"].isna().all()
    assert f.loc[~f["is_prediction_week"], "target"].notna().all()


def test_min_plays_filters_candidates() -> None:
    tracks, tg = tiny_catalogue()
    f = build_features(tiny_weekly(), tracks, tg, W, FeaturesParams(history_weeks=1, min_plays=2))
    got = set(zip(f["week_start"].dt.strftime("%m-%d"), f["track_id"], strict=True))
    assert got == {("01-01", "A"), ("01-01", "B"), ("01-08", "A"), ("01-15", "A"), ("01-15", "B")}


def test_columns_and_order() -> None:
    f = features_of(fake_interim(weeks=8, n_tracks=20, n_users=20))
    assert list(f.columns[:4]) == ["week_start", "track_id", "artist_id", "popularity"]
    assert set(model_feature_columns(4)) <= set(f.columns)
    assert set(FEATURE_COLUMNS) <= set(f.columns)
    assert f.equals(f.sort_values(["week_start", "track_id"]).reset_index(drop=True))
    assert (f["pop_lag_0"] == f["popularity"]).all()
    assert not f.duplicated(["week_start", "track_id"]).any()


def test_lags_and_target_line_up_with_weekly_popularity() -> None:
    f = features_of(fake_interim(weeks=8, n_tracks=20, n_users=20))
    pop = f.set_index(["week_start", "track_id"])["popularity"]
    nxt = f.assign(week_start=f["week_start"] - pd.Timedelta(days=7))
    joined = f.merge(
        nxt[["week_start", "track_id", "pop_lag_1"]],
        on=["week_start", "track_id"],
        suffixes=("", "_next"),
    )
    # the lag 1 of next week's row is this week's popularity
    assert (joined["pop_lag_1_next"] == joined["popularity"]).all()
    # the target is the next week's popularity (0 when the track was not a candidate then)
    nxt_pop = f.assign(week_start=f["week_start"] - pd.Timedelta(days=7)).set_index(
        ["week_start", "track_id"]
    )["popularity"]
    lab = f[~f["is_prediction_week"]].set_index(["week_start", "track_id"])
    expect = nxt_pop.reindex(lab.index).fillna(0)
    assert (lab["target"] == expect).all()
    assert len(pop) == len(f)


def test_features_of_earlier_weeks_do_not_see_later_events() -> None:
    data = fake_interim(weeks=10, n_tracks=30, n_users=30, seed=3)
    base = features_of(data)
    cut = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * 6)  # week 6 and later changed
    s = data["sessions"].copy()
    later = s["timestamp"] >= cut
    # in the later weeks: every play of half the tracks becomes a skipped one and
    # another track appears everywhere (a different future)
    hit = later & (s["event_type"] == "play") & s["track_id"].isin(["t001", "t002", "t003"])
    s.loc[later & (s["event_type"] == "like"), "event_type"] = "skip"
    s.loc[hit, "track_id"] = "t029"
    changed = features_of({**data, "sessions": s})
    assert not base.equals(changed)  # the perturbation matters ...

    def before(f: pd.DataFrame, week: pd.Timestamp) -> pd.DataFrame:
        return f[f["week_start"] < week].reset_index(drop=True)

    # ... but no feature of a week before the changed ones moves
    feature_cols = [c for c in base.columns if c != "target"]
    pd.testing.assert_frame_equal(
        before(base, cut)[feature_cols], before(changed, cut)[feature_cols]
    )
    # and the targets move only for the week just before (its target week changed)
    last_known = cut - pd.Timedelta(days=7)
    pd.testing.assert_series_equal(
        before(base, last_known)["target"], before(changed, last_known)["target"]
    )


def test_required_weeks_and_too_short_dump_error() -> None:
    assert required_complete_weeks(4, 1, 6) == 12
    check_enough_weeks(12, 4, 1, 6)
    with pytest.raises(PozytywkaError, match="has 11 complete weeks but 12 are needed"):
        check_enough_weeks(11, 4, 1, 6)
