"""The two-stage model: candidates from one recommender, re-ranked by a CatBoost ranker.

Stage 1: ``candidates`` tracks per listener, half from the candidate model, the
rest from popularity in favourite genres (:func:`candidates`; already played
tracks included, ``exclude_seen`` is applied after re-ranking).
Stage 2: :class:`catboost.CatBoostRanker` (YetiRank or PairLogit, one group per
listener and week, ``thread_count`` and ``random_seed`` fixed) on features known
before the predicted week only (:func:`candidate_features`):

- model scores: every fitted model's score of the pair and its rank within the
  listener's candidates (``score_<model>``, ``rank_<model>``);
- listener: tracks heard, weeks since last active, skip rate, declared favourites;
- track: listeners with a full play last week and its trend, from the playlist
  features of the week before (``pop_lag_0``, ``pop_trend``, ``pop_ratio_1``,
  ``skip_rate``, ``like_rate``, ``weeks_since_release``, ``genre_trend_max``);
- listener-track: genre affinity (share of the listener's weight in the track's
  genres), favourite-genre match, audio distance to the listener's taste (mean
  standardised audio of what they played, weighted), the pair's own weight,
  whether heard, weeks since the listener last played it.

The ranker for week w learns on the ``train_weeks`` weeks before w, each with
candidates and features built from the weeks before *that* week and labels = full
plays in it; listeners whose candidates hold no relevant track teach a ranker
nothing and are left out of training. When nothing is left (no positive, or one
class only: :func:`ranker_not_fitted`), no ranker is fitted and the candidate order
(the candidate model's half, then popularity in favourite genres) stands; the
evaluation says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import RecsRerankParams
from .interactions import TrainData
from .models.base import top_k

TRACK_FEATURES = (
    "pop_lag_0",
    "pop_trend",
    "pop_ratio_1",
    "skip_rate",
    "like_rate",
    "weeks_since_release",
    "genre_trend_max",
)


def _rank_within(scores: np.ndarray) -> np.ndarray:
    """1 = best: rank of each candidate by a score within its listener's row."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return ranks


def _row_normalised(m: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(m.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    return sp.csr_matrix(m.multiply(inv[:, None]))


def _pairs(m: sp.csr_matrix, users: np.ndarray, cand: np.ndarray) -> np.ndarray:
    rows = np.repeat(users, cand.shape[1])
    return np.asarray(m[rows, cand.ravel()]).reshape(cand.shape)


def candidate_features(
    data: TrainData,
    users: np.ndarray,
    cand: np.ndarray,
    scores: dict[str, np.ndarray],
    track_week: pd.DataFrame,
) -> pd.DataFrame:
    """One row per (listener, candidate): the features of the module doc.

    ``users``: listener row indices; ``cand``: their candidates (len(users) x C track
    indices); ``scores``: model name -> len(users) x C scores of those pairs;
    ``track_week``: playlist features of the week before ``data.week`` indexed by
    track index (missing tracks get NaN). Columns ``user``, ``item`` (indices) first.
    """
    n, c = cand.shape
    out = {"user": np.repeat(users, c), "item": cand.ravel()}
    for name, s in scores.items():
        out[f"score_{name}"] = s.ravel()
        out[f"rank_{name}"] = _rank_within(s).ravel()
    m = data.matrix
    hist = data.history
    heard_n = np.diff(data.heard.indptr)[users]
    out["user_heard"] = np.repeat(heard_n, c)
    week_no = ((data.week - hist["week_start"]) / np.timedelta64(7, "D")).to_numpy()
    ui, ii = data.history_users, data.history_items
    last_active = np.full(data.n_users, np.nan)
    if len(hist):
        s = pd.Series(week_no).groupby(ui).min()
        last_active[s.index.to_numpy()] = s.to_numpy()
    out["user_weeks_since_active"] = np.repeat(last_active[users], c)
    plays = np.bincount(ui, hist["plays"].to_numpy(), minlength=data.n_users)
    skips = np.bincount(ui, hist["skips"].to_numpy(), minlength=data.n_users)
    rate = np.divide(skips, plays, out=np.full(data.n_users, np.nan), where=plays > 0)
    out["user_skip_rate"] = np.repeat(rate[users], c)
    out["user_n_favourites"] = np.repeat(np.diff(data.fav.indptr)[users], c)

    # pair rows x genres, all sparse (dense repeats were n*c x genres: GBs at 800 genres)
    pair_user = np.repeat(np.arange(n), c)
    genre_rows = data.item_genres[cand.ravel()]
    ug = _row_normalised(m @ data.item_genres)[users][pair_user]
    out["genre_affinity"] = np.asarray(genre_rows.multiply(ug).sum(axis=1)).ravel()
    fav = data.fav[users][pair_user]
    out["favourite_genre"] = (np.asarray(genre_rows.multiply(fav).sum(axis=1)).ravel() > 0).astype(
        np.int8
    )
    taste = _row_normalised(m)[users] @ data.audio  # n x audio
    diff = data.audio[cand] - np.asarray(taste)[:, None, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    dist[heard_n == 0] = np.nan
    out["taste_distance"] = dist.ravel()
    out["pair_weight"] = _pairs(m, users, cand).ravel()
    out["pair_heard"] = _pairs(data.heard, users, cand).ravel()
    played = hist["plays"].to_numpy() > 0
    age = sp.csr_matrix((1.0 / (1.0 + week_no[played]), (ui[played], ii[played])), shape=m.shape)
    age.sum_duplicates()
    age.data = np.minimum(age.data, 1.0)  # duplicates (several weeks) sum: cap at "last week"
    out["pair_recency"] = _pairs(age, users, cand).ravel()
    frame = pd.DataFrame(out)
    tw = track_week.reindex(cand.ravel())
    for col in TRACK_FEATURES:
        frame[col] = tw[col].to_numpy() if col in tw.columns else np.nan
    return frame


def track_week_features(
    features: pd.DataFrame, week: pd.Timestamp, items: pd.Index
) -> pd.DataFrame:
    """The playlist features of the week before ``week``, indexed by track index (empty
    when there are none: every track feature is then missing)."""
    if "week_start" not in features.columns or "track_id" not in features.columns:
        return pd.DataFrame()
    prev = features[features["week_start"] == week - pd.Timedelta(days=7)]
    idx = items.get_indexer(prev["track_id"].astype(str))
    cols = [c for c in TRACK_FEATURES if c in prev.columns]
    return prev.loc[idx >= 0, cols].set_index(pd.Index(idx[idx >= 0]))


def candidates(cand_scores: np.ndarray, base_scores: np.ndarray, n: int) -> np.ndarray:
    """``n`` candidates per listener: the candidate model's top ``n // 2``, then the
    baseline's (popularity in favourite genres) best tracks not already in, in order.

    Two sources because each finds what the other misses: the personal model the
    listener's neighbourhood, the baseline this week's hits in their genres.
    """
    n = min(n, cand_scores.shape[1])
    return merge_candidates(top_k(cand_scores, n // 2), top_k(base_scores, n), n)


def merge_candidates(first: np.ndarray, second: np.ndarray, n: int) -> np.ndarray:
    """Rows of ``first`` (the model's best), then ``second``'s (the baseline's n best,
    distinct) not already in, in order; the first ``n`` of each row."""
    merged = np.concatenate([first, second], axis=1)
    # a track's later occurrences in its row are repeats (stable sort: first one first)
    by_track = np.argsort(merged, axis=1, kind="stable")
    ordered = np.take_along_axis(merged, by_track, axis=1)
    repeat = np.zeros(merged.shape, dtype=bool)
    np.put_along_axis(repeat, by_track[:, 1:], ordered[:, 1:] == ordered[:, :-1], axis=1)
    # the baseline's n tracks are distinct, so every row keeps at least n: the first n kept
    first_kept = np.argsort(repeat, axis=1, kind="stable")[:, :n]
    return np.take_along_axis(merged, first_kept, axis=1)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("user", "item", "label", "group")]


def ranker_not_fitted(train: pd.DataFrame) -> str | None:
    """Why a ranker cannot learn from a training frame (``None``: it can).

    ``train``: candidate rows with ``label`` (0/1) and ``group``. A ranker needs rows
    of both classes: no row at all (no listener active, or none whose candidates hold
    a track they fully played) or one class only leaves nothing to order.
    """
    if train is None or not len(train):
        return (
            "its training weeks hold no listener whose candidates include a track they fully played"
        )
    labels = train["label"].unique()
    if len(labels) < 2:
        kind = "relevant" if labels[0] > 0 else "irrelevant"
        return f"every candidate of its training weeks is {kind} (one class)"
    return None


def fit_ranker(train: pd.DataFrame, params: RecsRerankParams):
    """A CatBoost ranker on frames with ``label`` (0/1) and ``group`` (listener x week).

    Returns ``(model, feature columns, None)``, or ``(None, feature columns, why)`` when
    the frame cannot teach a ranker (:func:`ranker_not_fitted`): then
    :func:`rerank` keeps the candidate order. At most ``max_train_listeners`` groups
    (a seeded sample) are used: the cost of the ranker grows with its rows, its quality
    little beyond a few hundred queries.
    """
    cols = feature_columns(train) if train is not None else []
    why = ranker_not_fitted(train)
    if why is not None:
        return None, cols, why
    from catboost import CatBoostRanker, Pool

    groups = np.sort(train["group"].unique())
    if len(groups) > params.max_train_listeners:
        rng = np.random.default_rng(params.random_seed)
        keep = rng.choice(groups, size=params.max_train_listeners, replace=False)
        train = train[train["group"].isin(keep)]
        why = ranker_not_fitted(train)
        if why is not None:
            return None, cols, why
    train = train.sort_values(["group", "item"], kind="stable")
    pool = Pool(train[cols], label=train["label"], group_id=train["group"].to_numpy())
    model = CatBoostRanker(
        loss_function=params.loss_function,
        iterations=params.iterations,
        depth=params.depth,
        learning_rate=params.learning_rate,
        thread_count=params.thread_count,
        random_seed=params.random_seed,
        verbose=False,
        allow_writing_files=False,
    )
    model.fit(pool)
    return model, cols, None


def rerank(
    model, cols: list[str], frame: pd.DataFrame, n_users: int, k: int, exclude_seen: bool
) -> np.ndarray:
    """Re-ranked top-``k`` (n_users x k) from a frame of n_users x C rows in candidate order.

    Returns track indices, best first; ties keep the candidate model's order.
    ``exclude_seen``: candidates the listener already played go last. ``model`` None
    (no ranker could be fitted): the candidate order stands.
    """
    if n_users == 0:
        return np.empty((0, k), dtype=np.int64)
    if model is None:
        width = len(frame) // n_users
        score = np.tile(-np.arange(width, dtype=np.float64), (n_users, 1))
    else:
        score = model.predict(frame[cols]).reshape(n_users, -1)
    if exclude_seen:
        score[frame["pair_heard"].to_numpy().reshape(n_users, -1) > 0] = -np.inf
    items = frame["item"].to_numpy().reshape(n_users, -1)
    order = top_k(score, k)
    return np.take_along_axis(items, order, axis=1)
