"""The baselines to beat: charts of the weeks before, overall and in favourite genres, and
each listener's own most-played tracks (DESIGN §11).

Popularity of a track = distinct listeners with a full play of it, summed over the
weeks of a window before the predicted one (DESIGN §4's popularity, counted per
week; :func:`chart`):

- ``popularity``: the last ``window_weeks`` weeks ("last week's chart" when the
  window is 1; the recent chart);
- ``popularity_all``: every training week (plain popularity);
- ``popularity_genres``: the recent chart, tracks in the listener's declared
  favourite genres first (by popularity), then all others (by popularity): the chart
  restricted to their genres, padded when it runs short. A listener with no
  favourite genres gets the overall chart;
- ``own_most_played``: the tracks the listener already gave the most weight to
  (their full plays and likes by the interaction weights, ``recs.weights``, over all
  training weeks), ties and the rest of the list by plain popularity; a listener with
  no history gets plain popularity. The "repeat" or personal-popularity baseline of
  the music-recommendation literature (e.g. the "user's most popular items" of
  Ludewig & Jannach, "Evaluation of session-based recommendation algorithms", 2018).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender


def chart(
    history: pd.DataFrame, items: pd.Index, week: pd.Timestamp, window: int | None
) -> np.ndarray:
    """Popularity per track index (float64, len(items)) from the interaction rows.

    ``history``: rows (``week_start``, ``user_id``, ``track_id``, ``full_plays``) of the
    weeks before ``week``, one per (week, listener, track); ``window``: the last that
    many weeks, ``None`` = all. Each row with a full play counts once: distinct
    listeners per week, summed over the window's weeks. Tracks outside ``items`` are
    ignored.
    """
    h = history
    if window is not None:
        start = pd.Timestamp(week) - pd.Timedelta(days=7 * int(window))
        h = h[h["week_start"] >= start]
    per_track = h[h["full_plays"] > 0].groupby("track_id").size()
    pop = np.zeros(len(items), dtype=np.float64)
    idx = items.get_indexer(per_track.index)
    pop[idx[idx >= 0]] = per_track.to_numpy()[idx >= 0]
    return pop


class Popularity(Recommender):
    name = "popularity"
    personal = False

    def _window(self) -> int | None:
        return int(self.hyper.get("window_weeks", 1))

    def _fit(self, data) -> None:
        self.pop = chart(data.history, data.items, data.week, self._window())

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.pop.astype(np.float32), (len(users), len(self.pop))).copy()


class PopularityAll(Popularity):
    name = "popularity_all"

    def _window(self) -> int | None:
        return None


class PopularityGenres(Popularity):
    name = "popularity_genres"

    def _scores(self, users: np.ndarray) -> np.ndarray:
        fav = self.data.fav[users]
        in_fav = (fav @ self.data.item_genres.T).toarray() > 0
        bonus = np.float32(self.pop.max() + 1.0)
        return self.pop.astype(np.float32)[None, :] + bonus * in_fav.astype(np.float32)


def own_most_played_scores(
    weights: sp.csr_matrix, pop: np.ndarray, users: np.ndarray
) -> np.ndarray:
    """Scores (len(users) x n_items, float32) ranking each listener's own tracks first.

    ``weights``: listeners x tracks CSR of interaction weights (zero = none);
    ``pop``: plain popularity per track. A listener's tracks with a positive weight come
    first, by weight, equal weights by ``pop``, then by track index; every other track
    follows by ``pop``, then index. The scores are small integers (exact in float32 up
    to 2**24 tracks): ``n_items + m - position`` for the listener's m own tracks,
    ``n_items - 1 - chart position`` for the others.
    """
    n_items = weights.shape[1]
    chart_order = np.lexsort((np.arange(n_items), -pop))  # by pop desc, then index
    chart_pos = np.empty(n_items, dtype=np.int64)
    chart_pos[chart_order] = np.arange(n_items)
    out = np.broadcast_to((n_items - 1 - chart_pos).astype(np.float32), (len(users), n_items))
    out = out.copy()
    rows = weights[users].tocoo()
    keep = rows.data > 0
    r, c, w = rows.row[keep], rows.col[keep], rows.data[keep]
    if len(r):
        order = np.lexsort((chart_pos[c], -w.astype(np.float64), r))
        r, c = r[order], c[order]
        start = np.searchsorted(r, r, side="left")
        position = np.arange(len(r)) - start
        m = np.bincount(r, minlength=len(users))[r]
        out[r, c] = (n_items + m - position).astype(np.float32)
    return out


class OwnMostPlayed(Recommender):
    name = "own_most_played"
    personal = False  # a listener with no history gets plain popularity, not the fallback

    def _fit(self, data) -> None:
        self.pop = chart(data.history, data.items, data.week, None)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return own_most_played_scores(self.data.matrix, self.pop, users)
