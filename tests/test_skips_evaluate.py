"""Rolling-week splits, thresholds, baselines and metrics of the skip models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pozytywka.errors import PozytywkaError
from pozytywka.skips.baselines import fit_baselines, predict_baseline
from pozytywka.skips.evaluate import (
    METRICS,
    MODELS,
    best_threshold,
    binary_metrics,
    fitting_rows,
    summarise,
    week_splits,
)

WEEKS = list(pd.date_range("2024-01-01", periods=8, freq="7D"))


def test_week_splits_never_look_at_the_predicted_week():
    splits = week_splits(WEEKS, n_eval=2, n_train=3, n_valid=1)
    assert [s.week for s in splits] == WEEKS[-2:]
    first = splits[0]
    assert first.valid == [WEEKS[5]] and first.train == WEEKS[2:5]
    for s in splits:
        assert max(s.train) < min(s.valid) < s.week


def test_week_splits_too_few_weeks_is_one_clear_error():
    with pytest.raises(PozytywkaError, match=r"skips.eval_weeks \(6\)"):
        week_splits(WEEKS, n_eval=6, n_train=2, n_valid=1)


def test_fitting_rows_wait_for_the_outcome():
    """A Sunday-night play whose outcome arrives on Monday is not used for that Monday's model."""
    table = pd.DataFrame(
        {
            "week_start": [WEEKS[0], WEEKS[0]],
            "known_at": [pd.Timestamp("2024-01-07 23:00"), pd.Timestamp("2024-01-08 00:05")],
        }
    )
    assert len(fitting_rows(table, [WEEKS[0]], WEEKS[1])) == 1


def test_best_threshold_by_hand():
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([0.1, 0.3, 0.6, 0.8, 0.7])
    # any t in (0.3, 0.6] predicts 3 skips (1 wrong): 4/5; t in (0.7, 0.8]: 4/5 too;
    # ties go to the lowest, which must still exclude p = 0.3
    t = best_threshold(y, p)
    assert 0.3 < t <= 0.6
    assert binary_metrics(y, p, t)["accuracy"] == pytest.approx(0.8)
    assert binary_metrics(y, p, 0.3)["accuracy"] == pytest.approx(0.6)


def test_binary_metrics_by_hand():
    y = np.array([0, 1])
    m = binary_metrics(y, np.array([0.2, 0.6]), 0.5)
    assert m["roc_auc"] == 1.0 and m["accuracy"] == 1.0
    assert m["brier"] == pytest.approx((0.04 + 0.16) / 2)
    assert m["log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_baselines_are_group_rates_of_the_training_rows():
    train = pd.DataFrame(
        {
            "skipped": [1, 1, 0, 0, 0, 1],
            "favourite_genre_match": [0, 0, 1, 1, 1, np.nan],
            "previous_skipped": [np.nan, 1, 0, 1, np.nan, 0],
            "user_skip_rate": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        }
    )
    model = fit_baselines(train)
    assert model["genre_rule"]["rates"] == {"0": 1.0, "1": 0.0, "missing": 1.0}
    assert model["previous_outcome"]["rates"] == {"0": 0.5, "1": 0.5, "missing": 0.5}
    rows = pd.DataFrame(
        {
            "favourite_genre_match": [0, 1],
            "previous_skipped": [1, 0],
            "user_skip_rate": [0.1, np.nan],
        }
    )
    assert predict_baseline(model, "genre_rule", rows).tolist() == [1.0, 0.0]
    # the listener's rate is the probability; an unknown listener gets the training rate
    assert predict_baseline(model, "listener_rate", rows).tolist() == [0.1, 0.5]


def _weekly(values: dict[str, list[float]]) -> pd.DataFrame:
    """A two-week ``weekly_metrics`` frame: every model at 0.5 except the given columns."""
    n = len(next(iter(values.values())))
    frame = pd.DataFrame({"week_start": WEEKS[:n], "n_plays": 100, "skip_rate": 0.3})
    for model in MODELS:
        frame[f"{model}_threshold"] = 0.5
        for metric in METRICS:
            frame[f"{model}_{metric}"] = 0.5
    for col, v in values.items():
        frame[col] = v
    return frame


def test_bounded_metrics_get_the_logit_interval_log_loss_the_t_interval():
    # two weeks: ROC AUC 0.8 and 0.9 -> mean 0.85, se = sd / sqrt(2) = 0.05, t(0.975, 1) = 12.7062;
    # logit(0.85) = ln(0.85 / 0.15) = 1.7346; half width 12.7062 * 0.05 / (0.85 * 0.15) = 4.9828;
    # back: 1 / (1 + e^3.2482) = 0.0374, 1 / (1 + e^-6.7174) = 0.9988 (inside [0, 1]), whereas
    # the plain t interval would be 0.85 +- 0.6353 = [0.2147, 1.4853].
    # log loss 0.4 and 0.6 (unbounded): 0.5 +- 12.7062 * 0.1 = [-0.7706, 1.7706].
    s = summarise(_weekly({"catboost_roc_auc": [0.8, 0.9], "catboost_log_loss": [0.4, 0.6]}))
    cat = s["catboost"]
    assert cat["roc_auc"] == pytest.approx(0.85)
    assert cat["roc_auc_ci_low"] == pytest.approx(0.0374, abs=1e-4)
    assert cat["roc_auc_ci_high"] == pytest.approx(0.9988, abs=1e-4)
    assert cat["log_loss_ci_low"] == pytest.approx(-0.7706, abs=1e-4)
    assert cat["log_loss_ci_high"] == pytest.approx(1.7706, abs=1e-4)
    assert cat["brier_ci_low"] == cat["brier_ci_high"] == 0.5  # no spread: no width


def test_one_week_has_no_interval_for_bounded_metrics():
    s = summarise(_weekly({"catboost_accuracy": [0.7]}))
    assert s["catboost"]["accuracy"] == pytest.approx(0.7)
    assert s["catboost"]["accuracy_ci_low"] is None and s["catboost"]["accuracy_ci_high"] is None
    assert s["catboost"]["log_loss_ci_low"] == 0.5  # mean_ci collapses to the mean
