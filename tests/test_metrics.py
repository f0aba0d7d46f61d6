"""Offline metrics against hand-computed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pozytywka.playlists.metrics import (
    METRIC_NAMES,
    bounded_mean_ci,
    genre_week_metrics,
    group_metrics,
    left_out_weeks,
    selection_weights,
    summarise,
    top_genres,
    weekly_metrics,
)

ACTUAL = np.array([5.0, 3.0, 3.0, 0.0, 1.0])  # tracks a b c d e


def test_group_metrics_hand_computed() -> None:
    got = group_metrics(ACTUAL, np.array([1.0, 5.0, 4.0, 3.0, 0.0]), k=2)
    # chosen: b, c (actual 3, 3); relevant = actual top-2 with ties: a, b, c
    dcg = 3 + 3 / math.log2(3)
    idcg = 5 + 3 / math.log2(3)
    assert got == pytest.approx(
        {
            "ndcg_at_k": dcg / idcg,
            "precision_at_k": 1.0,
            "recall_at_k": 2 / 3,
            "capture_ratio": 6 / 8,
        }
    )


def test_perfect_and_worst_rankings() -> None:
    best = group_metrics(ACTUAL, ACTUAL, k=2)
    assert best == pytest.approx(
        {"ndcg_at_k": 1.0, "precision_at_k": 1.0, "recall_at_k": 2 / 3, "capture_ratio": 1.0}
    )
    worst = group_metrics(ACTUAL, -ACTUAL, k=2)  # picks d (0) and e (1)
    assert worst["precision_at_k"] == 0.0 and worst["recall_at_k"] == 0.0
    assert worst["capture_ratio"] == pytest.approx(1 / 8)


def test_ties_in_scores_share_the_slots() -> None:
    assert selection_weights(np.array([2.0, 2.0, 2.0, 0.0, 0.0]), 2) == pytest.approx(
        [2 / 3, 2 / 3, 2 / 3, 0, 0]
    )
    got = group_metrics(ACTUAL, np.array([2.0, 2.0, 2.0, 0.0, 0.0]), k=2)
    assert got["precision_at_k"] == pytest.approx(1.0)
    assert got["recall_at_k"] == pytest.approx(2 / 3)
    assert got["capture_ratio"] == pytest.approx((11 * 2 / 3) / 8)
    # the answer does not depend on which tied track comes first
    perm = [2, 0, 4, 1, 3]
    again = group_metrics(ACTUAL[perm], np.array([2.0, 2.0, 2.0, 0.0, 0.0])[perm], k=2)
    assert again == pytest.approx(got)


def test_fewer_listened_tracks_than_k_makes_recall_exceed_precision() -> None:
    got = group_metrics(np.array([4.0, 0, 0, 0]), np.array([4.0, 3, 2, 1]), k=3)
    assert got["recall_at_k"] == 1.0 and got["precision_at_k"] == pytest.approx(1 / 3)


def test_undefined_groups_are_skipped() -> None:
    assert group_metrics(np.zeros(4), np.arange(4.0), k=2) is None
    assert group_metrics(np.array([3.0]), np.array([1.0]), k=2) is None


def test_top_genres_use_the_feature_week_popularity() -> None:
    fw = pd.DataFrame({"track_id": ["a", "b", "c"], "popularity": [5, 1, 3]})
    tg = pd.DataFrame({"track_id": ["a", "b", "c", "c"], "genre": ["x", "y", "y", "z"]})
    assert top_genres(fw, tg, 2) == ["x", "y"]  # x 5, y 4, z 3
    assert top_genres(fw, tg, 5) == ["x", "y", "z"]


def test_genre_week_metrics_and_weekly_average() -> None:
    week = pd.Timestamp("2024-01-01")
    preds = pd.DataFrame(
        {
            "week_start": week,
            "track_id": list("abcde"),
            "actual": ACTUAL,
            "baseline_score": [1.0, 5.0, 4.0, 3.0, 0.0],
            "catboost_score": ACTUAL,
        }
    )
    feats = pd.DataFrame({"week_start": week, "track_id": list("abcde"), "popularity": [1] * 5})
    tg = pd.DataFrame({"track_id": list("abcde") + ["a", "b"], "genre": ["g"] * 5 + ["h", "h"]})
    by_genre = genre_week_metrics(preds, feats, tg, ["baseline", "catboost"], k=2, n_genres=2)
    assert list(by_genre["genre"]) == ["g", "h"]
    g = by_genre.iloc[0]
    assert g["catboost_ndcg_at_k"] == pytest.approx(1.0)
    assert g["baseline_capture_ratio"] == pytest.approx(6 / 8)
    # genre h: a (5) and b (3); baseline puts b first -> NDCG@2 = (3 + 5/log2 3)/(5 + 3/log2 3)
    h = by_genre.iloc[1]
    assert h["baseline_ndcg_at_k"] == pytest.approx((3 + 5 / math.log2(3)) / (5 + 3 / math.log2(3)))
    weekly = weekly_metrics(by_genre)
    assert len(weekly) == 1 and weekly["n_genres"].iloc[0] == 2
    assert weekly["baseline_ndcg_at_k"].iloc[0] == pytest.approx(
        (g["baseline_ndcg_at_k"] + h["baseline_ndcg_at_k"]) / 2
    )


def _weekly(baseline: list[float], catboost: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week_start": pd.date_range("2024-01-01", periods=len(baseline), freq="7D"),
            **{f"baseline_{m}": baseline for m in METRIC_NAMES},
            **{f"catboost_{m}": catboost for m in METRIC_NAMES},
        }
    )


def test_summary_keys_means_and_logit_t_interval() -> None:
    s = summarise(_weekly([0.5, 0.6, 0.7], [0.6, 0.8, 0.7]), k=10)
    assert s["k"] == 10 and s["weeks_evaluated"] == 3
    assert s["evaluated_weeks"] == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert s["left_out_weeks"] == [] and s["interval"].startswith("logit")
    for model in ("baseline", "catboost"):
        assert {"ndcg_at_k", "precision_at_k", "recall_at_k", "capture_ratio"} <= set(s[model])
    # m = 0.6, sd = 0.1, se = 0.1 / sqrt 3 = 0.0577350; logit(0.6) = ln 1.5 = 0.4054651
    # se on the logit scale = 0.0577350 / (0.6 * 0.4) = 0.2405626; t(0.975, 2) = 4.3026527
    # half = 1.0350569 -> logit bounds -0.6295918, 1.4405220
    # -> 1 / (1 + e^0.6295918) = 0.347603, 1 / (1 + e^-1.4405220) = 0.808536
    assert s["baseline"]["ndcg_at_k"] == 0.6
    assert s["baseline"]["ndcg_at_k_ci_low"] == pytest.approx(0.347603, abs=1e-6)
    assert s["baseline"]["ndcg_at_k_ci_high"] == pytest.approx(0.808536, abs=1e-6)
    assert s["ndcg_diff"] == 0.1 and s["weeks_catboost_better"] == 2
    assert s["ndcg_lift"] == pytest.approx(0.1 / 0.6, abs=1e-6)


# --- the edges: fewer tracks than k, ties at the cut, nothing relevant chosen ---------


def test_fewer_tracks_than_k_divides_precision_by_the_tracks_there_are() -> None:
    # 3 candidate tracks, k = 10: k' = 3, every track is chosen; relevant = the
    # actual top-3 with popularity > 0 = x and y (z was not listened to).
    got = group_metrics(np.array([4.0, 2.0, 0.0]), np.array([1.0, 2.0, 3.0]), k=10)
    assert got["precision_at_k"] == pytest.approx(2 / 3)  # not 2 / 10
    assert got["recall_at_k"] == 1.0
    assert got["capture_ratio"] == 1.0  # the k' chosen are the oracle's k'
    # NDCG over all 3: gains in score order z (0), y (2), x (4)
    dcg = 0 + 2 / math.log2(3) + 4 / math.log2(4)
    idcg = 4 + 2 / math.log2(3) + 0
    assert got["ndcg_at_k"] == pytest.approx(dcg / idcg)


def test_exactly_k_tracks_and_one_more_than_k_differ_only_by_the_cut() -> None:
    two = group_metrics(np.array([3.0, 1.0]), np.array([0.0, 1.0]), k=2)
    assert two["precision_at_k"] == 1.0 and two["capture_ratio"] == 1.0
    three = group_metrics(np.array([3.0, 1.0, 0.0]), np.array([0.0, 1.0, 2.0]), k=2)
    # chosen: the 0 and the 1; relevant: the 3 and the 1 -> 1 hit out of 2
    assert three["precision_at_k"] == pytest.approx(1 / 2)
    assert three["recall_at_k"] == pytest.approx(1 / 2)
    assert three["capture_ratio"] == pytest.approx(1 / 4)


def test_ties_in_actual_popularity_at_the_cut_are_all_relevant() -> None:
    # k = 2, actual 5, 2, 2, 2, 0: the 2nd best is 2, so 4 tracks are relevant.
    actual = np.array([5.0, 2.0, 2.0, 2.0, 0.0])
    got = group_metrics(actual, np.array([0.0, 4.0, 3.0, 1.0, 2.0]), k=2)
    # chosen: the 2nd and 3rd tracks (2, 2): both relevant
    assert got["precision_at_k"] == 1.0
    assert got["recall_at_k"] == pytest.approx(2 / 4)
    assert got["capture_ratio"] == pytest.approx(4 / 7)


def test_ties_in_scores_at_the_cut_with_fewer_tracks_than_k() -> None:
    # 4 tracks, k = 3: the scores tie 3 ways for the last 2 slots (2/3 each).
    actual = np.array([3.0, 2.0, 0.0, 0.0])
    got = group_metrics(actual, np.array([9.0, 1.0, 1.0, 1.0]), k=3)
    assert selection_weights(np.array([9.0, 1.0, 1.0, 1.0]), 3) == pytest.approx(
        [1, 2 / 3, 2 / 3, 2 / 3]
    )
    # relevant = top-3 with ties and > 0 = the 3 and the 2; hits = 1 + 2/3
    assert got["precision_at_k"] == pytest.approx((1 + 2 / 3) / 3)
    assert got["recall_at_k"] == pytest.approx((1 + 2 / 3) / 2)
    assert got["capture_ratio"] == pytest.approx((3 + 2 * 2 / 3) / 5)


def test_no_relevant_track_chosen_scores_zero_and_none_at_all_is_undefined() -> None:
    # Two listened tracks, k = 2, the model picks the two silent ones.
    got = group_metrics(np.array([0.0, 0.0, 1.0, 1.0]), np.array([4.0, 3.0, 2.0, 1.0]), k=2)
    assert got["precision_at_k"] == 0.0 and got["recall_at_k"] == 0.0
    assert got["capture_ratio"] == 0.0
    # Nobody listened to any candidate, fewer tracks than k or not: no relevant track,
    # the ranking has no defined quality and the group is left out (never a 0/0).
    assert group_metrics(np.zeros(3), np.array([1.0, 2.0, 3.0]), k=10) is None


def test_two_weeks_give_an_interval_inside_0_1() -> None:
    """Issue 9: 2 weeks gave baseline NDCG 0.291 [-0.958, 1.540] (Student t on the raw scale)."""
    s = summarise(_weekly([0.03, 0.55], [0.5, 0.6]), k=10)
    low, high = s["baseline"]["ndcg_at_k_ci_low"], s["baseline"]["ndcg_at_k_ci_high"]
    assert 0 <= low < 0.29 < high <= 1
    # m = 0.29, se = 0.26 (sd 0.367696 / sqrt 2); logit(0.29) = -0.8953840;
    # se_logit = 0.26 / (0.29 * 0.71) = 1.2627610; t(0.975, 1) = 12.7062047;
    # bounds -0.8953840 -+ 16.0449 = -16.9403, 15.1495 -> 4.40e-8, 1 - 2.63e-7
    assert low == pytest.approx(0.0, abs=1e-6) and high == pytest.approx(1.0, abs=1e-6)
    # the NDCG difference lives in [-1, 1]
    assert -1 <= s["ndcg_diff_ci_low"] <= s["ndcg_diff"] <= s["ndcg_diff_ci_high"] <= 1


def test_one_week_has_no_interval_and_says_so() -> None:
    """Issue 9: one week printed 'NDCG@10 0.5833 [0.5833, 0.5833]'."""
    one = summarise(
        _weekly([0.5833], [0.6]), k=10, left_out=[{"week_start": "2024-01-08", "reason": "x"}]
    )
    assert one["catboost"]["ndcg_at_k"] == 0.6
    assert one["catboost"]["ndcg_at_k_ci_low"] is None and one["ndcg_diff_ci_high"] is None
    assert one["interval"] == "too few weeks for an interval"
    assert one["left_out_weeks"] == [{"week_start": "2024-01-08", "reason": "x"}]
    assert "NaN" not in json.dumps(one)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=8))
def test_bounded_interval_stays_in_range_and_holds_the_mean(values) -> None:
    mean, low, high = bounded_mean_ci(np.array(values))
    assert 0 <= low <= mean + 1e-12 and mean - 1e-12 <= high <= 1


def test_left_out_weeks_name_the_week_and_the_reason() -> None:
    predictions = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2024-01-01"] * 2 + ["2024-01-08"] * 2),
            "actual": [1.0, 0.0, 0.0, 0.0],
        }
    )
    by_genre = pd.DataFrame({"week_start": pd.to_datetime(["2024-01-01"])})
    out = left_out_weeks(predictions, by_genre)
    assert [w["week_start"] for w in out] == ["2024-01-08"]
    assert "0 listened next week" in out[0]["reason"]
