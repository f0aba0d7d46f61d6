"""Baseline and CatBoost models: predictions, byte-identical saves, scoring by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interim_fakes import fake_features
from pozytywka.config import BaselineParams, CatBoostParams
from pozytywka.errors import PozytywkaError
from pozytywka.io import write_json
from pozytywka.playlists.features import labelled_weeks, model_feature_columns
from pozytywka.playlists.models.baseline import fit_baseline, predict_baseline
from pozytywka.playlists.models.catboost_model import (
    feature_importance,
    learning_curve,
    load_catboost,
    loss_meaning,
    predict_catboost,
    save_catboost,
    train_catboost,
)
from pozytywka.playlists.models.scoring import score_week

FAST = CatBoostParams(iterations=30, depth=4, early_stopping_rounds=10, thread_count=2)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return fake_features(weeks=8, seed=1)


def split(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    weeks = labelled_weeks(features)
    return (
        features[features["week_start"].isin(weeks[:-1])],
        features[features["week_start"] == weeks[-1]],
    )


def test_baseline_sums_the_last_window_lags() -> None:
    f = pd.DataFrame({"pop_lag_0": [3.0, 0.0, 2.0], "pop_lag_1": [1.0, 4.0, np.nan]})
    one = fit_baseline(BaselineParams(window_weeks=1))
    assert predict_baseline(one, f).tolist() == [3.0, 0.0, 2.0]
    two = fit_baseline(BaselineParams(window_weeks=2))
    assert predict_baseline(two, f).tolist() == [4.0, 4.0, 2.0]  # unknown lag counts as 0
    with pytest.raises(PozytywkaError, match="window_weeks"):
        predict_baseline(fit_baseline(BaselineParams(window_weeks=3)), f)


def test_catboost_save_is_byte_identical_across_trainings(features, tmp_path) -> None:
    train, valid = split(features)
    cols = model_feature_columns(4)
    paths = []
    for i in range(2):
        model = train_catboost(train, valid, FAST, cols)
        paths.append(tmp_path / f"m{i}.cbm")
        save_catboost(model, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    loaded = load_catboost(paths[0])
    assert "model_guid" not in dict(loaded.get_metadata())
    assert "train_finish_time" not in dict(loaded.get_metadata())
    np.testing.assert_array_equal(predict_catboost(loaded, valid), predict_catboost(model, valid))


def test_catboost_regressor_predicts_popularity_scale(features) -> None:
    train, valid = split(features)
    model = train_catboost(train, valid, FAST, model_feature_columns(4))
    pred = predict_catboost(model, valid)
    assert pred.shape == (len(valid),) and (pred >= 0).all()
    # log1p target mapped back: the mean prediction is on the scale of the counts
    assert 0.2 < pred.mean() / max(valid["target"].mean(), 1e-9) < 5
    curve = learning_curve(model)
    assert list(curve.columns) == ["iteration", "learn", "validation"]
    assert len(curve) >= model.get_best_iteration() + 1
    imp = feature_importance(model)
    assert set(imp["feature"]) == set(model_feature_columns(4))
    assert imp["importance"].is_monotonic_decreasing


def test_the_logged_poisson_loss_is_what_its_words_say(features) -> None:
    """The training log says why the Poisson loss is negative: it is the mean of
    exp(a) - a*y, the negative log-likelihood without log(y!). Checked against CatBoost."""
    from scipy.special import gammaln

    train, valid = split(features)
    model = train_catboost(train, valid, FAST, model_feature_columns(4))
    assert model.get_params()["loss_function"] == "Poisson"
    y = valid["target"].to_numpy(dtype=float)
    a = np.log(predict_catboost(model, valid))
    logged = learning_curve(model)["validation"].iloc[model.get_best_iteration()]
    assert logged == pytest.approx(np.mean(np.exp(a) - a * y), rel=1e-4)
    nll = np.mean(np.exp(a) - a * y + gammaln(y + 1))  # the full negative log-likelihood
    assert nll > 0 and logged < nll
    words = loss_meaning("Poisson")
    assert "exp(a) - a*y" in words and "without its log(y!) term" in words
    assert "can be negative" in words and "lower is better" in words
    assert loss_meaning("RMSE") == "RMSE of log1p(popularity); lower is better"


def test_ranker_trains_grouped_by_week(features) -> None:
    train, valid = split(features)
    params = CatBoostParams(loss_function="YetiRank:permutations=1", iterations=10, depth=3)
    model = train_catboost(train, valid, params, model_feature_columns(4))
    assert predict_catboost(model, valid).shape == (len(valid),)


def test_score_week_by_model_name(features, tmp_path) -> None:
    train, valid = split(features)
    write_json(tmp_path / "baseline.json", fit_baseline(BaselineParams()))
    save_catboost(
        train_catboost(train, valid, FAST, model_feature_columns(4)), tmp_path / "catboost.cbm"
    )
    week = features[features["is_prediction_week"]]
    base = score_week("baseline", week, tmp_path)
    assert list(base.columns) == ["track_id", "score"]
    assert base["score"].tolist() == week["pop_lag_0"].tolist()
    cat = score_week("catboost", week, tmp_path)
    assert cat["track_id"].tolist() == week["track_id"].tolist()
    with pytest.raises(PozytywkaError, match="unknown model"):
        score_week("magic", week, tmp_path)
