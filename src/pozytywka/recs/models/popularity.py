"""The baselines to beat: last weeks' most popular tracks, overall and in favourite genres.

Popularity of a track = distinct listeners with a full play of it, summed over the
last ``window_weeks`` weeks before the predicted one (DESIGN §4, "last week's
chart" when the window is 1). ``popularity_genres`` ranks first the tracks in the
listener's declared favourite genres (by popularity), then all others (by
popularity): the chart restricted to their genres, padded when it runs short.
A listener with no favourite genres gets the overall chart.
"""

from __future__ import annotations

import numpy as np

from .base import Recommender


class Popularity(Recommender):
    name = "popularity"
    personal = False

    def _fit(self, data) -> None:
        window = int(self.hyper.get("window_weeks", 1))
        h = data.history
        start = data.week - np.timedelta64(7 * window, "D")
        recent = h[(h["week_start"] >= start) & (h["full_plays"] > 0)]
        per_track = recent.groupby("track_id").size()  # (week, listener) pairs: distinct per week
        pop = np.zeros(data.n_items, dtype=np.float64)
        idx = data.items.get_indexer(per_track.index)
        pop[idx[idx >= 0]] = per_track.to_numpy()[idx >= 0]
        self.pop = pop

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.pop.astype(np.float32), (len(users), len(self.pop))).copy()


class PopularityGenres(Popularity):
    name = "popularity_genres"

    def _scores(self, users: np.ndarray) -> np.ndarray:
        fav = self.data.fav[users]
        in_fav = (fav @ self.data.item_genres.T).toarray() > 0
        bonus = np.float32(self.pop.max() + 1.0)
        return self.pop.astype(np.float32)[None, :] + bonus * in_fav.astype(np.float32)
