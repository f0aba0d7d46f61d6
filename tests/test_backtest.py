"""The backtest never lets a model see the week it predicts."""

from __future__ import annotations

import pandas as pd
import pytest

from interim_fakes import fake_features
from pozytywka.config import CatBoostParams, EvaluateParams, Params, SplitParams
from pozytywka.errors import PozytywkaError
from pozytywka.playlists.backtest import PREDICTION_COLUMNS, run_backtest, split_before

WEEK = pd.Timedelta(days=7)
PARAMS = Params(
    split=SplitParams(valid_weeks=1, min_train_weeks=3),
    catboost=CatBoostParams(iterations=20, depth=3, early_stopping_rounds=5),
    evaluate=EvaluateParams(k=3, eval_weeks=2, n_genres=2),
)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return fake_features(weeks=9, seed=2)


def test_each_week_trained_only_on_earlier_weeks(features) -> None:
    preds, log = run_backtest(features, PARAMS, progress=False)
    weeks = sorted(features["week_start"].unique())
    labelled = weeks[:-1]
    assert list(log["week_start"]) == labelled[-2:]
    for row in log.itertuples():
        # early stopping on the week just before; training strictly before that
        assert row.last_valid_week == row.week_start - WEEK
        assert row.last_train_week < row.last_valid_week
    assert list(preds.columns) == PREDICTION_COLUMNS
    assert (preds["target_week"] == preds["week_start"] + WEEK).all()
    assert set(preds["week_start"]) == set(labelled[-2:])
    assert preds["actual"].notna().all()


def test_predictions_ignore_the_future(features) -> None:
    """Scrambling the targets of the evaluated week and later changes nothing for it."""
    first = sorted(features["week_start"].unique())[-3]
    preds, _ = run_backtest(features, PARAMS, progress=False)
    future = (features["week_start"] >= first) & ~features["is_prediction_week"]
    scrambled = features.copy()
    scrambled.loc[future, "target"] = scrambled.loc[future, "target"].to_numpy()[::-1] * 7
    again, _ = run_backtest(scrambled, PARAMS, progress=False)
    mine = preds["week_start"] == first
    pd.testing.assert_series_equal(
        preds.loc[mine, "catboost_score"], again.loc[again["week_start"] == first, "catboost_score"]
    )


def test_too_few_weeks_before_a_week(features) -> None:
    second = sorted(features["week_start"].unique())[2]
    with pytest.raises(PozytywkaError, match="labelled weeks before"):
        split_before(features, second, valid_weeks=1, min_train_weeks=3)


def test_too_short_dump_stops_the_backtest(features) -> None:
    params = Params(evaluate=EvaluateParams(eval_weeks=6))  # needs 4 + 1 + 6 + 1 = 12 weeks
    with pytest.raises(PozytywkaError, match="has 9 complete weeks but 12 are needed"):
        run_backtest(features, params, progress=False)


def test_sample_tracks_keeps_whole_track_histories_and_about_the_fraction():
    from pozytywka.playlists.backtest import sample_tracks

    weeks = pd.date_range("2024-01-01", periods=4, freq="7D")
    frame = pd.DataFrame(
        [(w, f"t{i}") for w in weeks for i in range(2000)], columns=["week_start", "track_id"]
    )
    half = sample_tracks(frame, 0.5)
    kept = set(half["track_id"])
    assert 0.45 < len(kept) / 2000 < 0.55
    # a sampled track is in every week, an unsampled one in none
    assert (half.groupby("track_id")["week_start"].nunique() == 4).all()
    assert set(sample_tracks(frame, 0.5)["track_id"]) == kept  # stable
    assert sample_tracks(frame, 1.0) is frame


def test_the_training_window_keeps_the_latest_weeks_within_the_row_bound() -> None:
    from pozytywka.playlists.backtest import recent_weeks_within

    w = list(pd.date_range("2024-01-01", periods=5, freq="7D"))
    rows = pd.Series([50, 40, 30, 20, 10], index=w)
    # Newest back: 10, +20 = 30, +30 = 60, +40 = 100 (> 70): the last three weeks.
    assert recent_weeks_within(w, rows, max_rows=70, min_weeks=1) == w[2:]
    # Never fewer than min_weeks, even past the bound: 10 + 20 + 30 + 40 = 100.
    assert recent_weeks_within(w, rows, max_rows=5, min_weeks=4) == w[1:]
    # 0 = no bound; a bound above the total keeps everything.
    assert recent_weeks_within(w, rows, max_rows=0, min_weeks=1) == w
    assert recent_weeks_within(w, rows, max_rows=1000, min_weeks=1) == w


def test_split_before_bounds_the_training_rows(features) -> None:
    weeks = sorted(features["week_start"].unique())
    per_week = features["week_start"].value_counts()
    last = weeks[-2]  # the last labelled week: 6 train weeks before it (1 validates)
    full = split_before(features, last, valid_weeks=1, min_train_weeks=3)
    assert full.train_weeks == weeks[:6]
    bound = int(per_week[weeks[5]] + per_week[weeks[4]] + per_week[weeks[3]] + per_week[weeks[2]])
    four = split_before(features, last, 1, 3, max_train_rows=bound)
    assert four.train_weeks == weeks[2:6] and four.valid_weeks == [weeks[6]]
    assert split_before(features, last, 1, 3, max_train_rows=1).train_weeks == weeks[3:6]
