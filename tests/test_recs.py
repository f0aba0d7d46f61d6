"""Personal recommendations: hand-computed model scores, metrics, the time split, fallbacks."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from pozytywka.config import RecsParams, RecsWeightParams, params_from_dict
from pozytywka.errors import ParamError, PozytywkaError
from pozytywka.recs import metrics as M
from pozytywka.recs.evaluate import grid, split_weeks
from pozytywka.recs.interactions import catalogue, relevant, train_data
from pozytywka.recs.models import MODELS
from pozytywka.recs.models.base import top_k
from pozytywka.recs.online import PublishedRecs
from pozytywka.recs.publish import FALLBACK_SOURCE, MODEL_SOURCE

W0 = pd.Timestamp("2024-01-01")
W1 = W0 + pd.Timedelta(days=7)
W2 = W1 + pd.Timedelta(days=7)
BINARY = RecsWeightParams(full_play=1.0, like=0.0, skip=0.0)

# The 4 x 5 matrix of the hand computations (listeners u0..u3, tracks t0..t4):
#   u0: t0 t1      u1: t0 t1      u2: t0 t2      u3: t3      (t4: nobody)
MATRIX = [("u0", "t0"), ("u0", "t1"), ("u1", "t0"), ("u1", "t1"), ("u2", "t0"), ("u2", "t2")]
MATRIX += [("u3", "t3")]


def _rows(pairs, week=W0, **counts):
    frame = pd.DataFrame(pairs, columns=["user_id", "track_id"])
    frame.insert(0, "week_start", pd.Timestamp(week).as_unit("us"))
    for col in ("plays", "full_plays", "skips", "likes"):
        frame[col] = np.int32(counts.get(col, 1 if col in ("plays", "full_plays") else 0))
    return frame


def _catalogue(interactions, favourites=None, genres=None):
    users = pd.DataFrame(
        {
            "user_id": ["u0", "u1", "u2", "u3"],
            "favourite_genres": favourites or [["rock"], ["rock"], ["jazz"], []],
        }
    )
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(5)], "energy": np.arange(5.0)})
    track_genres = pd.DataFrame(
        genres
        or {
            "track_id": ["t0", "t1", "t2", "t3", "t4"],
            "genre": ["rock", "jazz", "jazz", "pop", "rock"],
        }
    )
    return catalogue(interactions, users, tracks, track_genres)


@pytest.fixture
def data():
    inter = _rows(MATRIX)
    return train_data(inter, W1, _catalogue(inter), BINARY)


def test_ease_scores_match_the_hand_computed_closed_form(data):
    # G = X^T X + I on the used tracks t0..t3: [[4,2,1,0],[2,3,0,0],[1,0,2,0],[0,0,0,2]];
    # its 3x3 block inverts to [[6,-4,-3],[-4,7,2],[-3,2,8]] / 13, P33 = 1/2.
    # B_ij = -P_ij / P_jj: B01 = 4/7, B02 = 3/8, B10 = 2/3, B12 = -1/4, B20 = 1/2, B21 = -2/7.
    model = MODELS["ease"](l2=1.0).fit(data)
    s = model.scores(np.array([0, 2]))
    np.testing.assert_allclose(s[0], [2 / 3, 4 / 7, 3 / 8 - 1 / 4, 0, 0], rtol=1e-5)  # u0: t0 t1
    np.testing.assert_allclose(s[1], [1 / 2, 4 / 7 - 2 / 7, 3 / 8, 0, 0], rtol=1e-5)  # u2: t0 t2


def test_itemknn_cosine_scores_match_the_hand_computation(data):
    # columns: t0 = (1,1,1,0), t1 = (1,1,0,0), t2 = (0,0,1,0): cos(t0,t1) = 2/sqrt(6),
    # cos(t0,t2) = 1/sqrt(3), cos(t1,t2) = 0. u2 holds t0 and t2.
    full = MODELS["itemknn"](neighbours=10).fit(data).scores(np.array([2]))[0]
    np.testing.assert_allclose(
        full, [1 / math.sqrt(3), 2 / math.sqrt(6), 1 / math.sqrt(3), 0, 0], rtol=1e-5
    )
    # one neighbour per target: t0 keeps t1, t1 keeps t0, t2 keeps t0
    one = MODELS["itemknn"](neighbours=1).fit(data).scores(np.array([2]))[0]
    np.testing.assert_allclose(one, [0, 2 / math.sqrt(6), 1 / math.sqrt(3), 0, 0], rtol=1e-5)


def test_metrics_on_hand_made_rankings():
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]], dtype=np.float32))
    recs = np.array([[0, 1, 2], [3, 4, 5]])
    got = M.per_user(recs, truth, ks=(2, 3))
    # u0: one hit at rank 2 of 2 relevant; u1: its only relevant track first
    np.testing.assert_allclose(got["recall_at_2"], [0.5, 1.0])
    dcg = 1 / math.log2(3)
    np.testing.assert_allclose(got["ndcg_at_2"], [dcg / (1 + dcg), 1.0])
    np.testing.assert_allclose(got["ndcg_at_3"], [dcg / (1 + dcg), 1.0])
    np.testing.assert_allclose(got["map_at_2"], [0.5 / 2, 1.0])
    np.testing.assert_allclose(M.oracle_recall(truth, 1), [0.5, 1.0])
    heard = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32))
    np.testing.assert_allclose(M.oracle_recall(truth, 2, heard), [0.5, 1.0])
    assert M.coverage(recs, 2, 6) == pytest.approx(4 / 6)


def test_time_split_never_trains_on_the_week_or_later():
    inter = pd.concat(
        [
            _rows([("u0", "t0")], W0),
            _rows([("u0", "t1")], W0, skips=4),  # mostly skipped: clipped to 0
            _rows([("u1", "t2")], W1),
            _rows([("u2", "t3")], W2),
        ],
        ignore_index=True,
    )
    cat = _catalogue(inter)
    weights = RecsWeightParams(full_play=1.0, like=2.0, skip=-0.5)
    d = train_data(inter, W1, cat, weights)
    assert d.history["week_start"].max() < W1
    dense = d.matrix.toarray()
    assert dense[0, 0] == 1.0 and dense.sum() == 1.0  # t1's 1 - 4 x 0.5 < 0 -> dropped
    assert d.heard.toarray()[0, 1] == 1.0  # but it was heard
    later = inter.copy()
    later.loc[later["week_start"] >= W1, "full_plays"] = 99  # changing the future changes nothing
    assert (train_data(later, W1, cat, weights).matrix != d.matrix).nnz == 0
    assert relevant(inter, W1, cat).toarray()[1, 2] == 1 and relevant(inter, W1, cat).sum() == 1


def test_new_listener_gets_popularity_in_favourite_genres(data):
    # u3's only track t3 -> give u3 no history: a fresh split with u3's row removed
    inter = _rows(MATRIX[:-1])
    d = train_data(inter, W1, _catalogue(inter), BINARY)
    fallback = MODELS["popularity_genres"](window_weeks=1).fit(d)
    ease = MODELS["ease"](l2=1.0).fit(d)
    ease.fallback = fallback
    u3 = 3
    assert np.diff(d.matrix.indptr)[u3] == 0
    np.testing.assert_array_equal(
        ease.recommend(np.array([u3]), 3, False), fallback.recommend(np.array([u3]), 3, False)
    )
    # popularity (distinct listeners last week): t0 3, t1 2, t2 1; u0 likes rock: t0, t4 first
    np.testing.assert_array_equal(fallback.recommend(np.array([0]), 3, False)[0], [0, 4, 1])


def test_exclude_seen_never_recommends_a_played_track(data):
    for name in ("popularity", "ease", "itemknn"):
        recs = MODELS[name]().fit(data).recommend(np.arange(3), 2, exclude_seen=True)
        heard = data.heard.toarray()
        assert not any(heard[u, recs[u]].any() for u in range(3)), name


def test_top_k_is_stable_on_ties():
    np.testing.assert_array_equal(top_k(np.array([[1.0, 3.0, 3.0, 0.0, 3.0]]), 2), [[1, 2]])


def test_a_single_grid_value_is_a_grid_of_one_and_values_are_checked():
    p = params_from_dict({"recs": {"als": {"factors": 128}}})
    assert p.recs.als.factors == [128]
    assert [h["factors"] for h in grid("als", p.recs)] == [128, 128]  # x two alphas
    with pytest.raises(ParamError, match=r"recs.ease.l2\[1\]"):
        params_from_dict({"recs": {"ease": {"l2": [1.0, -1.0]}}})


def test_grid_sample_respects_the_budget():
    rp = params_from_dict({"recs": {"tune_budget": 3, "svd": {"factors": [8, 16, 32, 64, 128]}}})
    configs = grid("svd", rp.recs)
    assert len(configs) == 3 and configs == grid("svd", rp.recs)


def test_too_few_weeks_is_one_line():
    with pytest.raises(PozytywkaError, match="recs needs 7 complete weeks"):
        split_weeks([W0] * 5, RecsParams(min_train_weeks=4, valid_weeks=1, eval_weeks=2))


def test_online_answers_from_the_published_lists(tmp_path):
    published = pd.DataFrame(
        {
            "week_start": "2024-07-29",
            "user_id": ["u0", "u0", "u0", "u0", "u9", "u9"],
            "arm": ["A", "A", "B", "B", "B", "B"],
            "model": ["popularity_genres"] * 2 + ["catboost"] * 4,
            "rank": [1, 2, 1, 2, 1, 2],
            "track_id": ["t0", "t1", "t5", "t6", "t0", "t4"],
            "source": [MODEL_SOURCE] * 4 + [FALLBACK_SOURCE] * 2,
        }
    )
    fallback = pd.DataFrame({"week_start": "2024-07-29", "rank": [1, 2], "track_id": ["t0", "t2"]})
    published.to_parquet(tmp_path / "recs.parquet")
    fallback.to_parquet(tmp_path / "fb.parquet")
    recs = PublishedRecs.load(tmp_path / "recs.parquet", tmp_path / "fb.parquet")
    assert recs.recommend("u0", 1, "B") == (["t5"], MODEL_SOURCE)
    assert recs.recommend("u0", 20, "A") == (["t0", "t1"], MODEL_SOURCE)
    assert recs.recommend("u9", 2, "B") == (["t0", "t4"], FALLBACK_SOURCE)  # known, no history
    assert recs.recommend("nobody", 2, "B") == (["t0", "t2"], FALLBACK_SOURCE)  # unknown
    assert recs.models == {"A": "popularity_genres", "B": "catboost"}
    with pytest.raises(ValueError, match="arm"):
        recs.recommend("u0", 2, "C")
    with pytest.raises(PozytywkaError, match="recs_publish"):
        PublishedRecs.load(tmp_path / "missing.parquet", tmp_path / "fb.parquet")


def test_summary_and_pr_report_show_each_model_against_the_baseline():
    from pozytywka.recs.report import pr_section, summary_lines, vs_popularity_markdown

    entry = {"ndcg_at_20": 0.3, "ndcg_at_20_ci_low": 0.25, "ndcg_at_20_ci_high": 0.35}
    after = {
        "popularity": {**entry, "ndcg_at_20": 0.1, "valid_ndcg_at_20": 0.09},
        "popularity_genres": {**entry, "recall_at_20": 0.4, "valid_ndcg_at_20": 0.28},
        "catboost": {
            **entry,
            "ndcg_at_20": 0.32,
            "recall_at_20": 0.41,
            "valid_ndcg_at_20": 0.29,
            "ndcg_at_20_minus_baseline": 0.02,
            "ndcg_at_20_minus_baseline_ci_low": 0.01,
            "ndcg_at_20_minus_baseline_ci_high": 0.03,
            "weeks_better_than_baseline": 3,
        },
        "weeks_evaluated": 4,
        "strongest_baseline": "popularity_genres",
        "best_model": "catboost",
        "arm_a_model": "popularity_genres",
        "arm_b_model": "catboost",
        "arm_b_reason": "Arm B serves `catboost`: it beat the strongest baseline.",
        "verdict": "`catboost` beats the strongest baseline.",
        "rerank_not_fitted": [{"week_start": "2024-01-08", "split": "valid", "why": "no positive"}],
        "exclude_seen": False,
        "exclude_seen_true": {"catboost": {"ndcg_at_20": 0.2}},
        "diagnostics": {
            "relevant_per_listener": 3.5,
            "relevant_unheard_share": 1.0,
            "relevant_new_track_share": 0.945,
            "candidate_recall": 0.0,
        },
    }
    text = "\n".join(summary_lines(after))
    assert "catboost" in text and "0.3200 [0.2500, 0.3500]" in text
    assert "strongest baseline (chosen on the validation weeks): popularity_genres" in text
    assert "arm A popularity_genres, arm B catboost" in text and after["arm_b_reason"] in text
    assert "already-played tracks: allowed (recs.exclude_seen: false)" in text
    assert "False" not in text and "NDCG@20 = how high they rank" in text
    assert "run `dvc repro recs_evaluate`" in "\n".join(summary_lines(None))
    section = pr_section({"catboost": {"ndcg_at_20": 0.30}}, after)
    assert "0.3000 → 0.3200 (+0.0200)" in section
    assert "not present at base" in pr_section(None, after)
    md = vs_popularity_markdown(after)
    assert "+0.0200 [+0.0100, +0.0300]" in md and "| 3/4 |" in md
    assert "`popularity_genres` (strongest baseline)" in md and "`recs.exclude_seen: true`" in md
    assert after["verdict"] in md and after["arm_b_reason"] in md
    assert "validation week 2024-01-08: no positive" in md
    assert "fully played 3.5 tracks in the week, 100% of them new to that listener and 94%" in md
    # the weaker fixed baseline is no yardstick any more: popularity's row has no difference
    row = next(line for line in md.splitlines() if line.startswith("| `popularity` "))
    assert row.endswith("| 0.0900 |  |  |")


def _random_weeks(n_weeks=6, n_users=12, n_tracks=8, seed=0):
    """Each listener fully plays 3 random tracks a week (some liked, some skipped)."""
    rng = np.random.default_rng(seed)
    frames = []
    for w in range(n_weeks):
        pairs = {(f"u{u}", f"t{t}") for u in range(n_users) for t in rng.choice(n_tracks, 3)}
        frame = _rows(sorted(pairs), W0 + pd.Timedelta(days=7 * w))
        frame["likes"] = rng.integers(0, 2, len(frame)).astype(np.int32)
        frame["skips"] = rng.integers(0, 2, len(frame)).astype(np.int32)
        frames.append(frame)
    inter = pd.concat(frames, ignore_index=True)
    users = pd.DataFrame(
        {"user_id": [f"u{u}" for u in range(n_users)], "favourite_genres": [["rock"]] * n_users}
    )
    tracks = pd.DataFrame({"track_id": [f"t{t}" for t in range(n_tracks)]})
    genres = pd.DataFrame(
        {"track_id": tracks["track_id"], "genre": ["rock", "jazz"] * (n_tracks // 2)}
    )
    return inter, catalogue(inter, users, tracks, genres)


def test_candidates_are_the_models_half_then_the_baselines_new_tracks():
    from pozytywka.recs.rerank import candidates

    model = np.array([[5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]], dtype=np.float32)
    base = np.array([[0, 9, 8, 7, 1, 1], [9, 8, 7, 6, 5, 4]], dtype=np.float32)
    # row 0: model's top 2 = t0 t1; baseline's t1 t2 t3 t4 -> t1 is already in
    # row 1: model's t5 t4; baseline's t0 t1 t2 t3 -> all new, the first two fill up
    np.testing.assert_array_equal(candidates(model, base, 4), [[0, 1, 2, 3], [5, 4, 0, 1]])


def test_rolling_week_reuses_the_tuning_fits_with_the_same_lists():
    from pozytywka.recs.evaluate import run_week, tune

    inter, cat = _random_weeks()
    rp = params_from_dict({"recs": {"als": {"factors": 4, "iterations": 2}}}).recs
    week = W0 + pd.Timedelta(days=35)
    hyper, trials, fits = tune(inter, cat, [week], rp)
    assert set(trials["model"]) == set(MODELS) and fits[week].data.week == week
    assert all(m.hyper == hyper[name] for name, m in fits[week].models.items())
    reused = run_week(inter, cat, week, rp, hyper, "ease", None, prefit=fits[week])
    fresh = run_week(inter, cat, week, rp, hyper, "ease", None)
    assert reused.recs.keys() == fresh.recs.keys() == set(itertools.product(MODELS, (False, True)))
    for key, recs in fresh.recs.items():
        np.testing.assert_array_equal(reused.recs[key], recs, err_msg=str(key))
    pd.testing.assert_frame_equal(reused.frame, fresh.frame)


def test_summary_picks_the_baseline_and_arm_b_on_validation_weeks_only():
    from pozytywka.recs.evaluate import Evaluation, summarise

    ndcg = {"popularity": 0.1, "popularity_genres": 0.3, "ease": 0.2, "catboost": 0.25}
    valid = {"popularity": 0.12, "popularity_genres": 0.28, "ease": 0.2, "catboost": 0.29}
    rows = [
        {"week_start": w, "model": m, "exclude_seen": ex, "ndcg_at_20": v, "listeners": 5}
        for w in (W1, W2)
        for ex in (False, True)
        for m, v in ndcg.items()
    ]
    valid_rows = [  # already-played tracks left out: half the score (the other table)
        {"week_start": W0, "model": m, "exclude_seen": ex, "ndcg_at_20": v / (1 + ex)}
        for ex in (False, True)
        for m, v in valid.items()
    ]
    diag = pd.DataFrame({"week_start": [W1, W2], "candidate_recall": [0.5, 0.7]})
    ev = Evaluation(
        {},
        "ease",
        pd.DataFrame(),
        pd.DataFrame(rows),
        pd.DataFrame(),
        diag,
        None,
        pd.DataFrame(valid_rows),
    )
    summary = summarise(ev, RecsParams())
    json.dumps(summary, allow_nan=False)  # no NaN anywhere
    assert summary["strongest_baseline"] == "popularity_genres"  # 0.28 > 0.12 on validation
    assert summary["best_model"] == "popularity_genres"  # reported as it is
    # catboost beat it on validation (0.29 > 0.28): arm B, whatever the evaluated weeks say
    assert summary["arm_b_model"] == "catboost"
    assert summary["catboost"]["valid_ndcg_at_20"] == 0.29
    assert summary["exclude_seen_true"]["catboost"]["valid_ndcg_at_20"] == 0.145
    # on the evaluated weeks: -0.05 both weeks -> no signal, 0 weeks better
    assert summary["catboost"]["ndcg_at_20_minus_baseline"] == pytest.approx(-0.05)
    assert summary["catboost"]["weeks_better_than_baseline"] == 0
    assert "ndcg_at_20_minus_baseline" not in summary["popularity_genres"]  # the yardstick
    assert summary["signal"] is False and summary["verdict"].startswith("No signal")
    assert summary["diagnostics"] == {"candidate_recall": 0.6}


def test_published_arm_b_serves_a_different_model_than_arm_a():
    from pozytywka.recs.publish import publish

    inter, cat = _random_weeks()
    rp = params_from_dict({"recs": {"k": 3}}).recs
    hyper = {name: {"window_weeks": 1} if "popularity" in name else {} for name in MODELS}
    tuned = {"hyper": hyper, "candidate_model": "ease", "best_model": "popularity_genres"}
    published, _ = publish(inter, cat, pd.DataFrame(), rp, {**tuned, "arm_b_model": "ease"})
    arms = published.groupby("arm")["model"].unique().to_dict()
    assert arms == {"A": ["popularity_genres"], "B": ["ease"]}
    lists = published.pivot_table(index="user_id", columns="arm", values="track_id", aggfunc=tuple)
    assert (lists["A"] != lists["B"]).any()  # the experiment compares two different things


def test_week_diagnostics_count_what_bounds_every_model():
    from pozytywka.recs.evaluate import WeekRun, week_diagnostics

    # before W1: u0 played t0 t1, u1 t0 t1, u2 t0 t2, u3 t3 (favourites: rock, rock, jazz, -)
    inter = pd.concat([_rows(MATRIX), _rows([("u0", "t0"), ("u0", "t4"), ("u3", "t1")], W1)])
    cat = _catalogue(inter)
    d = train_data(inter, W1, cat, BINARY)
    truth = relevant(inter, W1, cat)
    users = np.array([0, 3])
    run = WeekRun(W1, users, truth[users], d.heard[users], d)
    run.frame = pd.DataFrame({"user": [0, 0, 3, 3], "item": [0, 2, 1, 2]})
    got = week_diagnostics(run)
    # relevant pairs: (u0, t0) heard, rock; (u0, t4) new, rock; (u3, t1) unheard, no favourite
    assert got["relevant_per_listener"] == pytest.approx(3 / 2)
    assert got["relevant_unheard_share"] == pytest.approx(2 / 3)
    assert got["relevant_new_track_share"] == pytest.approx(1 / 3)
    assert got["relevant_in_favourite_genres_share"] == pytest.approx(2 / 3)
    assert got["candidate_recall"] == pytest.approx((1 / 2 + 1) / 2)  # u0 finds t0, u3 t1


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.integers(1, 12).flatmap(
            lambda cols: st.tuples(
                st.lists(
                    st.sampled_from([-np.inf, -1.0, -0.0, 0.0, 0.5, 2.0]),
                    min_size=rows * cols,
                    max_size=rows * cols,
                ).map(lambda v: np.array(v, dtype=np.float32).reshape(rows, cols)),
                st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols).map(
                    lambda v: sp.csr_matrix(np.array(v, dtype=np.float32).reshape(rows, cols))
                ),
            )
        )
    ),
    st.integers(1, 14),
    st.integers(0, 14),
)
def test_top_lists_are_the_top_k_of_both_settings_ties_by_index(case, k, depth):
    from pozytywka.recs.models.base import top_lists

    scores, heard = case
    masked = scores.copy()
    masked[heard.toarray() > 0] = -np.inf

    def reference(s, n):  # every tie, the k-th place's too, to the lower column index
        return np.argsort(-s.astype(np.float64), axis=1, kind="stable")[:, :n]

    np.testing.assert_array_equal(top_k(scores, k), reference(scores, k))
    deep, unseen = top_lists(scores, heard, k, depth)
    np.testing.assert_array_equal(deep, reference(scores, max(k, depth)))
    np.testing.assert_array_equal(unseen, reference(masked, k))
