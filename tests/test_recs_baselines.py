"""Recs baselines, the strongest-baseline choice, the arm-B rule, bounded models and the
no-crash paths (tiny hand-made frames, hand-computed answers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pozytywka.config import RecsWeightParams, params_from_dict
from pozytywka.recs.evaluate import (
    choose_arm_b,
    compare,
    evaluate,
    strongest_baseline,
    summarise,
    verdict,
)
from pozytywka.recs.interactions import catalogue, train_data
from pozytywka.recs.models import MODELS
from pozytywka.recs.models.ease import most_played
from pozytywka.recs.models.knn import cosine_top_k
from pozytywka.recs.publish import publish, unknown_listener_chart
from pozytywka.recs.rerank import fit_ranker, ranker_not_fitted, rerank

W0 = pd.Timestamp("2024-01-01")
WEEKS = [W0 + pd.Timedelta(days=7 * i) for i in range(6)]
BINARY = RecsWeightParams(full_play=1.0, like=0.0, skip=0.0)


def _rows(pairs, week, **counts):
    frame = pd.DataFrame(pairs, columns=["user_id", "track_id"])
    frame.insert(0, "week_start", pd.Timestamp(week).as_unit("us"))
    for col in ("plays", "full_plays", "skips", "likes"):
        frame[col] = np.int32(counts.get(col, 1 if col in ("plays", "full_plays") else 0))
    return frame


def _catalogue(inter):
    users = pd.DataFrame(
        {
            "user_id": ["u0", "u1", "u2", "u3"],
            "favourite_genres": [["rock"], ["rock"], ["jazz"], []],
        }
    )
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(5)]})
    genres = pd.DataFrame(
        {
            "track_id": ["t0", "t1", "t2", "t3", "t4"],
            "genre": ["rock", "jazz", "jazz", "pop", "rock"],
        }
    )
    return catalogue(inter, users, tracks, genres)


def _two_weeks():
    """W0: u0 t0 t1, u1 t0, u2 t2, u3 t4 (skipped, no full play);
    W1: u0 t1 (liked), u1 t3, u2 t3 t0. Predicting W2."""
    inter = pd.concat(
        [
            _rows([("u0", "t0"), ("u0", "t1"), ("u1", "t0"), ("u2", "t2")], WEEKS[0]),
            _rows([("u3", "t4")], WEEKS[0], full_plays=0, skips=1),
            _rows([("u0", "t1")], WEEKS[1], likes=1),
            _rows([("u1", "t3"), ("u2", "t3"), ("u2", "t0")], WEEKS[1]),
        ],
        ignore_index=True,
    )
    return inter, _catalogue(inter)


def test_plain_and_last_week_popularity_by_hand():
    inter, cat = _two_weeks()
    data = train_data(inter, WEEKS[2], cat, RecsWeightParams())
    # all weeks, distinct listeners with a full play per week: t0 3 (u0 u1; u2), t1 2 (u0; u0),
    # t2 1, t3 2, t4 0 (skipped only) -> t0, then t1 and t3 tied (lower index first), t2, t4
    plain = MODELS["popularity_all"]().fit(data)
    np.testing.assert_array_equal(plain.pop, [3, 2, 1, 2, 0])
    np.testing.assert_array_equal(plain.recommend(np.array([0]), 5, False)[0], [0, 1, 3, 2, 4])
    # last week only: t0 1, t1 1, t3 2
    recent = MODELS["popularity"](window_weeks=1).fit(data)
    np.testing.assert_array_equal(recent.pop, [1, 1, 0, 2, 0])
    np.testing.assert_array_equal(recent.recommend(np.array([0]), 5, False)[0], [3, 0, 1, 2, 4])


def test_own_most_played_by_weight_then_plain_popularity():
    inter, cat = _two_weeks()
    data = train_data(inter, WEEKS[2], cat, RecsWeightParams(full_play=1.0, like=2.0, skip=-0.5))
    model = MODELS["own_most_played"]().fit(data)
    got = model.recommend(np.arange(4), 5, False)
    # u0: t1 = 1 + (1 + 2 like) = 4, t0 = 1; then the chart's rest t3 t2 t4
    np.testing.assert_array_equal(got[0], [1, 0, 3, 2, 4])
    # u1: t0 and t3 both 1: the more popular t0 (3 > 2) first; then t1 t2 t4
    np.testing.assert_array_equal(got[1], [0, 3, 1, 2, 4])
    # u2: t0 t2 t3 all 1: by popularity t0 (3), t3 (2), t2 (1); then t1 t4
    np.testing.assert_array_equal(got[2], [0, 3, 2, 1, 4])
    # u3: only a skipped track (weight clipped to 0): no history -> plain popularity
    np.testing.assert_array_equal(got[3], [0, 1, 3, 2, 4])
    # exclude_seen drops the listener's own tracks: u0 gets the chart without t0 t1
    np.testing.assert_array_equal(model.recommend(np.array([0]), 3, True)[0], [3, 2, 4])


def test_strongest_baseline_is_the_best_on_validation_first_on_ties():
    valid = {"popularity_all": 0.05, "popularity": 0.068, "popularity_genres": 0.023}
    assert strongest_baseline({**valid, "own_most_played": float("nan")}) == "popularity"
    assert strongest_baseline({**valid, "own_most_played": 0.07}) == "own_most_played"
    assert strongest_baseline({"popularity_all": 0.1, "popularity": 0.1}) == "popularity_all"
    assert strongest_baseline({"itemknn": 0.9}) == "popularity_all"  # nothing scored: first


def test_arm_b_serves_a_model_only_if_it_beat_the_baseline_on_validation():
    valid = {"popularity": 0.068, "itemknn": 0.087, "ease": 0.05, "catboost": float("nan")}
    model, why = choose_arm_b(valid, "popularity")
    assert model == "itemknn"
    assert why == (
        "Arm B serves `itemknn`: it beat the strongest baseline `popularity` on the "
        "validation weeks (NDCG@20 0.0870 vs 0.0680)."
    )
    model, why = choose_arm_b({**valid, "itemknn": 0.068}, "popularity")  # equal is not better
    assert model == "popularity"
    assert why == (
        "Arm B serves the strongest baseline `popularity`: no model beat it on the validation "
        "weeks (the best, `itemknn`: NDCG@20 0.0680 vs 0.0680)."
    )
    model, why = choose_arm_b({"popularity_genres": 0.3, "catboost": 0.29}, "popularity_genres")
    assert model == "popularity_genres" and why.endswith("so the live experiment is an A/A test.")


def test_compare_and_verdict_by_hand():
    weeks = pd.Index(WEEKS[:3])
    model = pd.Series([0.10, 0.12, 0.08], index=weeks)
    base = pd.Series([0.09, 0.09, 0.09], index=weeks)
    got = compare(model, base)
    # differences 0.01, 0.03, -0.01: mean 0.01, sd 0.02, se 0.02 / sqrt 3, t(0.975, 2) 4.302653
    half = 4.302653 * 0.02 / math.sqrt(3)
    assert got["ndcg_at_20_minus_baseline"] == pytest.approx(0.01)
    assert got["ndcg_at_20_minus_baseline_ci_low"] == pytest.approx(0.01 - half, abs=1e-6)
    assert got["ndcg_at_20_minus_baseline_ci_high"] == pytest.approx(0.01 + half, abs=1e-6)
    assert got["weeks_better_than_baseline"] == 2
    models = {
        "popularity": {"ndcg_at_20": 0.09, "ndcg_at_20_ci_low": 0.09, "ndcg_at_20_ci_high": 0.09},
        "itemknn": got,
        "ease": compare(model - 0.02, base),
    }
    signal, sentence = verdict(models, "popularity", 3)
    assert not signal
    assert sentence == (
        "No signal: no model beats the strongest baseline `popularity` (NDCG@20 0.0900 "
        "[0.0900, 0.0900]); the best, `itemknn`, differs by +0.0100 [-0.0397, +0.0597] "
        "NDCG@20, better in 2/3 weeks (the interval includes 0 or lies below it)."
    )
    sure = compare(pd.Series([0.11, 0.12, 0.13], index=weeks), base)  # 0.02, 0.03, 0.04
    signal, sentence = verdict({**models, "als": sure}, "popularity", 3)
    assert signal and sentence.startswith("`als` beats the strongest baseline `popularity`")
    assert compare(pd.Series(dtype=float), base)["ndcg_at_20_minus_baseline"] is None


def test_unknown_listeners_get_the_chart_that_validated_better():
    assert unknown_listener_chart({"popularity": {"valid_ndcg_at_20": 0.01}}) == "popularity"
    both = {"popularity": {"valid_ndcg_at_20": 0.01}, "popularity_all": {"valid_ndcg_at_20": 0.02}}
    assert unknown_listener_chart(both) == "popularity_all"
    both["popularity"]["valid_ndcg_at_20"] = 0.02  # ties: the recent chart
    assert unknown_listener_chart(both) == "popularity"


def test_ease_on_the_most_played_tracks_is_exact_when_they_are_all_kept():
    # columns: t0 3 listeners, t1 2, t2 1, t3 1 (u3 only), t4 none
    pairs = [("u0", "t0"), ("u0", "t1"), ("u1", "t0"), ("u1", "t1"), ("u2", "t0"), ("u2", "t2")]
    inter = _rows(pairs + [("u3", "t3")], WEEKS[0])
    data = train_data(inter, WEEKS[1], _catalogue(inter), BINARY)
    np.testing.assert_array_equal(most_played(data.matrix, 2), [0, 1])
    np.testing.assert_array_equal(most_played(data.matrix, 3), [0, 1, 2])  # t2, t3 tie: lower
    np.testing.assert_array_equal(most_played(data.matrix, 99), [0, 1, 2, 3])  # never t4
    users = np.arange(4)
    full = MODELS["ease"](l2=1.0, max_items=99).fit(data).scores(users)
    # t3 shares no listener with the others: its B row and column are 0, so dropping it
    # changes no score (the 3 x 3 block of the closed form in test_recs.py)
    np.testing.assert_allclose(MODELS["ease"](l2=1.0, max_items=3).fit(data).scores(users), full)
    # two tracks: G = [[4, 2], [2, 3]], P = [[3, -2], [-2, 4]] / 8: B01 = 1/2, B10 = 2/3
    two = MODELS["ease"](l2=1.0, max_items=2).fit(data).scores(users)
    np.testing.assert_allclose(two[0], [2 / 3, 1 / 2, 0, 0, 0], rtol=1e-6)  # u0: t0 t1
    np.testing.assert_allclose(two[2], [0, 1 / 2, 0, 0, 0], rtol=1e-6)  # u2: t0 (t2 not kept)


def test_item_knn_blocks_give_the_same_neighbours():
    rng = np.random.default_rng(3)
    x = sp.csr_matrix(rng.integers(0, 3, (9, 13)).astype(np.float32) * (rng.random((9, 13)) < 0.4))
    for k in (1, 4, 12):
        whole = cosine_top_k(x, k, block=1024).toarray()
        np.testing.assert_array_equal(cosine_top_k(x, k, block=3).toarray(), whole)
        assert ((whole > 0).sum(axis=0) <= k).all() and np.diag(whole).max() == 0


def test_ranker_without_a_positive_is_not_fitted_and_the_candidate_order_stands():
    rp = params_from_dict({}).recs.rerank
    frame = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 1, 1],
            "item": [4, 2, 3, 1, 0, 2],
            "pair_heard": [0, 1, 0, 0, 0, 0],
            "score_x": [0.5, 0.4, 0.3, 0.9, 0.8, 0.1],
        }
    )
    none = frame.assign(label=0, group=frame["user"])
    model, cols, why = fit_ranker(none, rp)
    assert model is None and cols == ["pair_heard", "score_x"] and "one class" in why
    assert fit_ranker(none.iloc[:0], rp)[0] is None
    assert "no listener" in ranker_not_fitted(none.iloc[:0])
    assert ranker_not_fitted(frame.assign(label=[1, 0, 0, 0, 1, 0], group=0)) is None
    np.testing.assert_array_equal(rerank(None, cols, frame, 2, 2, False), [[4, 2], [1, 0]])
    # already-played candidates go last: u0's t2
    np.testing.assert_array_equal(rerank(None, cols, frame, 2, 3, True), [[4, 3, 2], [1, 0, 2]])


def _dirty_weeks():
    """Six weeks; week 3 (the validation week) holds only skips: nobody fully played.

    A listener (u9) and a track (t9) the users / tracks tables do not know."""
    rng = np.random.default_rng(0)
    frames = []
    for i, w in enumerate(WEEKS):
        if i == 3:
            frames.append(_rows([("u0", "t1"), ("u2", "t3")], w, full_plays=0, skips=1))
            continue
        pairs = sorted({(f"u{u}", f"t{t}") for u in range(4) for t in rng.choice(5, 2)})
        frames.append(_rows(pairs + [("u9", "t9")], w))
    inter = pd.concat(frames, ignore_index=True)
    return inter, _catalogue(inter)


def test_evaluation_survives_an_empty_week_and_a_ranker_with_nothing_to_learn():
    inter, cat = _dirty_weeks()
    rp = params_from_dict(
        {
            "recs": {
                "min_train_weeks": 2,
                "valid_weeks": 1,
                "eval_weeks": 2,
                "als": {"factors": 2, "iterations": 2},
                "svd": {"factors": 2},
                "rerank": {"iterations": 5},
            }
        }
    ).recs
    ev = evaluate(inter, cat, pd.DataFrame(), rp)
    summary = summarise(ev, rp)
    json.dumps(summary, allow_nan=False)  # no NaN anywhere
    assert summary["weeks_left_out"] == ["2024-01-22"]  # the validation week: no full play
    assert summary["weeks_evaluated"] == 2
    # the first evaluated week's ranker learns on the empty week: not fitted, said why
    notes = summary["rerank_not_fitted"]
    assert notes[0]["week_start"] == "2024-01-29" and notes[0]["split"] == "evaluated"
    assert "no listener" in notes[0]["why"]
    # nothing validated: the first baseline is the strongest, and arm B serves it
    assert summary["strongest_baseline"] == "popularity_all"
    assert summary["arm_b_model"] == "popularity_all"
    assert "no model beat it" in summary["arm_b_reason"]
    assert summary["catboost"]["ndcg_at_20"] is not None  # scored: the candidate order
    tuned = {
        "hyper": summary["hyper"],
        "candidate_model": summary["candidate_model"],
        "arm_b_model": "catboost",
        "ranker_features": ev.next_ranker[1],
    }
    published, fallback = publish(inter, cat, pd.DataFrame(), rp, tuned, ev.next_ranker[0])
    assert set(published["user_id"]) == {"u0", "u1", "u2", "u3", "u9"}
    assert (published.groupby(["user_id", "arm"]).size() == 6).all()  # t0..t4 and t9
    assert len(fallback) == 6


def test_weeks_run_are_the_scored_ones_and_those_their_ranker_learns_on():
    from pozytywka.recs.evaluate import weeks_needed

    # weeks 3 and 4 scored, rankers learn on the 2 weeks before each: 1 2 3 4
    assert weeks_needed(WEEKS, [WEEKS[3], WEEKS[4]], 2) == WEEKS[1:5]
    # week 1's ranker would learn on week 0, which has no history before it: not run
    assert weeks_needed(WEEKS, [WEEKS[1]], 2) == [WEEKS[1]]
