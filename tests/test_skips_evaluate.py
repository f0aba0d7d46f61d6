"""Rolling-week splits, thresholds, baselines and metrics of the skip models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pozytywka.config import SkipsParams
from pozytywka.errors import PozytywkaError
from pozytywka.skips.baselines import fit_baselines, predict_baseline
from pozytywka.skips.evaluate import (
    METRICS,
    MODELS,
    best_threshold,
    binary_metrics,
    fitting_rows,
    run_backtest,
    sample_rows,
    session_accuracies,
    session_halves,
    summarise,
    week_splits,
    weekly_metrics,
)
from pozytywka.skips.features import FEATURE_COLUMNS

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


# ------------------------------------------------------------ never a NaN in JSON


def test_binary_metrics_on_one_outcome_and_on_no_plays_are_nan_not_errors():
    one = binary_metrics(np.array([0, 0]), np.array([0.2, 0.4]), 0.5)
    assert np.isnan(one["roc_auc"]) and np.isnan(one["pr_auc"])
    assert one["accuracy"] == 1.0
    assert one["log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    empty = binary_metrics(np.array([], dtype=int), np.array([]), 0.5)
    assert all(np.isnan(v) for v in empty.values())


def _predictions(weeks: dict) -> pd.DataFrame:
    """A hand-made backtest output: ``{week: (eval rows, valid rows)}``, each row
    ``(session, skipped, p)``; every model predicts ``p``."""
    rows = []
    pid = 0
    for week, (ev, va) in weeks.items():
        for role, part in (("eval", ev), ("valid", va)):
            for k, (session, y, p) in enumerate(part):
                pid += 1
                rows.append(
                    {
                        "eval_week": week,
                        "role": role,
                        "play_id": pid,
                        "session_id": session,
                        "ts": week + pd.Timedelta(minutes=k),
                        "week_start": week,
                        "skipped": y,
                        **{f"p_{m}": p for m in MODELS},
                    }
                )
    return pd.DataFrame(rows)


def test_a_week_of_one_outcome_leaves_roc_auc_out_with_a_reason():
    valid = [("v", 0, 0.2), ("v", 1, 0.8)]
    frame = _predictions(
        {
            WEEKS[0]: ([("a", 0, 0.2), ("a", 0, 0.6)], valid),  # no skip at all
            WEEKS[1]: ([("b", 0, 0.2), ("b", 1, 0.7)], valid),
        }
    )
    weekly = weekly_metrics(frame)
    assert np.isnan(weekly.loc[0, "catboost_roc_auc"]) and weekly.loc[1, "catboost_roc_auc"] == 1
    summary = summarise(weekly)
    json.dumps(summary, allow_nan=False)  # raises on a NaN
    cat = summary["catboost"]
    assert cat["roc_auc"] == 1.0 and cat["roc_auc_ci_low"] is None  # one week left: no interval
    assert summary["undefined"]["roc_auc"] == (
        "undefined on 2024-01-01 (plays of one outcome only (ROC AUC and PR AUC need both)); "
        "mean over the other 1 of 2 weeks"
    )
    # accuracy at the validation threshold 0.205 (the lowest grid point above 0.2 that calls
    # both validation plays right): week 0 calls 0.6 a skip wrongly -> 1/2, week 1 both right
    assert cat["accuracy"] == pytest.approx(0.75)
    assert summary["versus"]["listener_rate"]["roc_auc"]["weeks_compared"] == 1


def test_an_empty_week_and_a_single_week_give_nulls_not_nan():
    valid = [("v", 0, 0.2), ("v", 1, 0.8)]
    frame = _predictions({WEEKS[0]: ([], valid)})
    weekly = weekly_metrics(frame)
    assert weekly.loc[0, "n_plays"] == 0
    summary = summarise(weekly)
    text = json.dumps(summary, allow_nan=False)
    assert "NaN" not in text
    assert summary["skip_rate"] is None and summary["catboost"]["log_loss"] is None
    assert summary["undefined"]["log_loss"].endswith("null: no week defines it")
    assert summary["verdict"] == "no signal: ROC AUC is defined on no evaluated week"


# ------------------------------------------------------------ the challenge's accuracies


def test_session_halves_follow_time_then_play_id():
    plays = pd.DataFrame(
        {
            "session_id": ["a", "a", "a", "b", "a", "c"],
            "ts": pd.Timestamp("2024-01-01")
            + pd.to_timedelta([183, 180, 181, 240, 181, 300], unit="min"),
            "play_id": [5, 1, 3, 7, 2, 9],
        }
    )
    # a: 1 (03:00), 2 and 3 (03:01, by play_id), 5 (03:03): second half = 3, 5; b, c: 1 play
    halves = session_halves(plays)
    assert halves["play_id"].tolist() == [3, 5] and halves["step"].tolist() == [1, 2]


def test_session_accuracies_by_hand():
    # session x: 4 plays, the last 2 predicted, right/wrong: accuracy 1/2, first right,
    #   AA = (A(1) L(1) + A(2) L(2)) / 2 = (1 * 1 + 1/2 * 0) / 2 = 1/2
    # session y: 5 plays, the last 3 predicted, wrong/right/right: accuracy 2/3, first wrong,
    #   AA = (0 + 1/2 * 1 + 2/3 * 1) / 3 = 7/18
    halves = pd.DataFrame(
        {"session_id": ["x", "x", "y", "y", "y"], "step": [1, 2, 1, 2, 3]},
        index=[10, 11, 20, 21, 22],
    )
    acc = session_accuracies(halves, np.array([1, 0, 0, 1, 1]))
    assert acc["session_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert acc["first_play_accuracy"] == pytest.approx(0.5)
    assert acc["average_accuracy"] == pytest.approx((1 / 2 + 7 / 18) / 2)
    empty = session_accuracies(halves.iloc[:0], np.array([]))
    assert all(np.isnan(v) for v in empty.values())


# ------------------------------------------------------------ sample and fallback


def test_sample_rows_is_seeded_and_keeps_row_order():
    frame = pd.DataFrame({"x": range(100)})
    a, b = sample_rows(frame, 10, 42), sample_rows(frame, 10, 42)
    assert a["x"].tolist() == b["x"].tolist() and len(a) == 10
    assert a["x"].is_monotonic_increasing
    assert sample_rows(frame, 0, 42) is frame and sample_rows(frame, 500, 42) is frame


def test_a_week_with_nothing_to_learn_falls_back_to_the_listener_rate():
    weeks = WEEKS[:3]
    n = 4
    table = pd.DataFrame(
        {
            "play_id": range(3 * n),
            "session_id": [f"s{i // 2}" for i in range(3 * n)],
            "ts": [w + pd.Timedelta(hours=i) for w in weeks for i in range(n)],
            "week_start": [w for w in weeks for _ in range(n)],
            "known_at": [w + pd.Timedelta(hours=i, minutes=1) for w in weeks for i in range(n)],
            "skipped": [0] * n + [0, 1, 0, 1] + [1, 0, 0, 1],  # training week: no skip
        }
    )
    for col in FEATURE_COLUMNS:
        table[col] = 0.0
    table["user_skip_rate"] = 0.25
    params = SkipsParams(train_weeks=1, valid_weeks=1, eval_weeks=1)
    predictions, log = run_backtest(table, params, progress=False)
    assert log.loc[0, "not_fitted"] == "training plays of one outcome only"
    assert (predictions["p_catboost"] == predictions["p_listener_rate"]).all()
    summary = summarise(weekly_metrics(predictions), log)
    assert summary["catboost_not_fitted"] == {
        "2024-01-15": "training plays of one outcome only: listener_rate used"
    }


def test_sample_listeners_keeps_whole_listeners_within_the_cap_whatever_the_row_order():
    from pozytywka.skips.evaluate import sample_listeners

    # listeners a..f with 6, 5, 4, 3, 2, 1 plays (21 rows) and one play without a listener
    users = [u for u, n in zip("abcdef", range(6, 0, -1), strict=True) for _ in range(n)]
    frame = pd.DataFrame({"user_id": [*users, None], "x": range(22)})
    got = sample_listeners(frame, 10, 42)
    assert 0 < len(got) <= 10
    chosen = set(got["user_id"].dropna())
    # every play of a chosen listener is in, and rows keep their order
    assert len(got) == int(frame["user_id"].isin(chosen).sum()) + int(got["user_id"].isna().sum())
    assert got["x"].is_monotonic_increasing
    # the same listeners whatever the order of the rows (a stable hash of the id)
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert set(sample_listeners(shuffled, 10, 42)["user_id"].dropna()) == chosen
    assert sample_listeners(frame, 0, 42) is frame and sample_listeners(frame, 22, 42) is frame
    # one listener above the cap alone: kept whole, the fit needs rows
    one = pd.DataFrame({"user_id": ["a"] * 5, "x": range(5)})
    assert len(sample_listeners(one, 2, 42)) == 5
