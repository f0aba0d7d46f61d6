"""Gaps in the log (issue 9, item 5): a week with no events is reported and kept out
of training labels and the backtest, by name."""

from __future__ import annotations

import pandas as pd
import pytest

from _ingest_dumps import base_dump, write_dump
from interim_fakes import fake_interim
from pozytywka.config import CatBoostParams, EvaluateParams, FeaturesParams, Params, SplitParams
from pozytywka.gaps import describe, find_gaps, gap_starts, session_gaps
from pozytywka.ingest import ingest_dump
from pozytywka.playlists.backtest import backtest_weeks, run_backtest
from pozytywka.playlists.features import build_features, labelled_weeks
from pozytywka.plays import complete_week_starts, weekly_popularity

W = [pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * i) for i in range(16)]


def test_find_gaps_hand_computed() -> None:
    counts = {W[0]: 100, W[1]: 80, W[3]: 5, W[4]: 120}  # W[2] absent: 0 events
    # counts per complete week: 100, 80, 0, 5, 120 -> median 80; 0.1 x 80 = 8
    gaps = find_gaps(W[:5], counts, 0.1)
    assert gaps["median_week_events"] == 80 and gaps["threshold"] == 8
    assert gaps["weeks"] == [
        {"week_start": "2024-01-15", "events": 0},
        {"week_start": "2024-01-22", "events": 5},
    ]
    assert gap_starts(gaps) == [W[2], W[3]]
    # share 0: only a week with no event at all
    assert [g["week_start"] for g in find_gaps(W[:5], counts, 0.0)["weeks"]] == ["2024-01-15"]
    # a quiet but real week (half the median) is not a gap
    assert find_gaps(W[:3], {W[0]: 100, W[1]: 50, W[2]: 100}, 0.1)["weeks"] == []
    assert describe(gaps).startswith("2 gap weeks: 2024-01-15 (0 events), 2024-01-22 (5 events)")


def test_ingest_reports_a_removed_week(tmp_path) -> None:
    """A tiny dump over four complete weeks with the third week's events removed."""
    tables = base_dump()
    events = []
    for week in (0, 1, 3):  # week 2 (2024-01-15 .. 21) lost
        for day in (0, 3, 6):
            ts = W[week] + pd.Timedelta(days=day, hours=10)
            events.append(
                {
                    "session_id": 100 + week * 10 + day,
                    "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S"),
                    "user_id": 1,
                    "track_id": "t1",
                    "event_type": "play",
                }
            )
    tables["sessions"] = events
    result = ingest_dump(write_dump(tmp_path / "dump", tables))
    assert result.quality["window"]["complete_weeks"] == 4
    gaps = result.quality["gaps"]
    assert gaps["weeks"] == [{"week_start": "2024-01-15", "events": 0}]
    assert gaps["median_week_events"] == 3.0
    assert "1 gap week: 2024-01-15 (0 events)" in result.summary


@pytest.fixture(scope="module")
def gapped() -> dict:
    """Fake interim tables over 12 weeks with every event of week 8 removed."""
    data = fake_interim(weeks=12, n_tracks=30, n_users=30, seed=2)
    s = data["sessions"]
    ts = s["timestamp"]
    data["sessions"] = s[(ts < W[8]) | (ts >= W[9])].reset_index(drop=True)
    return data


def _features(data: dict, tmp_path_factory) -> pd.DataFrame:
    sessions = data["sessions"]
    path = tmp_path_factory.mktemp("gaps") / "sessions.parquet"
    sessions.to_parquet(path)
    weeks = complete_week_starts(sessions)
    gaps = session_gaps(path, weeks, 0.1)
    assert gap_starts(gaps) == [W[8]]
    return build_features(
        weekly_popularity(sessions),
        data["tracks"],
        data["track_genres"],
        weeks,
        FeaturesParams(history_weeks=2),
        gap_starts(gaps),
    )


def test_weeks_touching_the_gap_leave_training_labels(gapped, tmp_path_factory) -> None:
    f = _features(gapped, tmp_path_factory)
    # history_weeks 2: week w reads weeks w-1, w (lags) and w+1 (target), so the gap
    # W8 touches feature weeks W7 (target), W8 (its own week) and W9 (lag 1).
    touched = sorted(f.loc[f["gap_in_window"] != "", "week_start"].unique())
    assert [pd.Timestamp(w) for w in touched] == [W[7], W[8], W[9]]
    assert set(f.loc[f["gap_in_window"] != "", "gap_in_window"]) == {"2024-02-26"}
    usable = labelled_weeks(f)
    assert not {W[7], W[8], W[9]} & set(usable)
    assert set(labelled_weeks(f, usable_only=False)) - set(usable) == {W[7], W[8], W[9]}


def test_backtest_leaves_out_weeks_touching_the_gap_and_says_why(gapped, tmp_path_factory):
    f = _features(gapped, tmp_path_factory)
    evaluated, left_out = backtest_weeks(f, 4)  # labelled W0..W10: window W7..W10
    assert evaluated == [W[10]]
    assert [w["week_start"] for w in left_out] == ["2024-02-19", "2024-02-26", "2024-03-04"]
    assert all("touches a gap in the log (2024-02-26)" in w["reason"] for w in left_out)
    params = Params(
        features=FeaturesParams(history_weeks=2),
        split=SplitParams(valid_weeks=1, min_train_weeks=3),
        catboost=CatBoostParams(iterations=10, depth=3, early_stopping_rounds=5),
        evaluate=EvaluateParams(k=3, eval_weeks=4, n_genres=2),
    )
    preds, fit_log = run_backtest(f, params, progress=False)
    assert sorted(preds["week_start"].unique()) == [W[10]]
    # trained on usable weeks only: W6 validates (W7..W9 touch the gap), W0..W5 train
    assert fit_log["last_valid_week"].tolist() == [W[6]]
    assert fit_log["last_train_week"].tolist() == [W[5]]
