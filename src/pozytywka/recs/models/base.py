"""The one interface every recommender follows: fit before a week, recommend k tracks.

A model is fitted on :class:`~pozytywka.recs.interactions.TrainData` (only weeks
before the predicted one) and scores every track of the catalogue for a batch of
listeners (:meth:`Recommender.scores`, float32, higher = better). ``recommend``
turns scores into the top k track indices, best first; ties go to the lower track
index (deterministic). Listeners with no history get the ``fallback`` model's
scores (popularity in their favourite genres), which is what the service says too.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ..interactions import TrainData

BATCH = 2048  # listeners scored at once: bounds memory at any number of listeners


class Recommender:
    """Base class: subclasses implement ``_fit`` and ``_scores``."""

    name: ClassVar[str] = ""
    #: False: listeners with no history keep the model's own scores (a chart covers them),
    #: True: they get the ``fallback`` model's scores
    personal: ClassVar[bool] = True

    def __init__(self, **hyper: object) -> None:
        self.hyper = dict(hyper)
        self.data: TrainData | None = None
        self.fallback: Recommender | None = None

    def fit(self, data: TrainData) -> Recommender:
        self.data = data
        self._fit(data)
        return self

    def _fit(self, data: TrainData) -> None:
        raise NotImplementedError

    def _scores(self, users: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Scores (len(users) x n_items, float32) for listener row indices ``users``."""
        users = np.asarray(users, dtype=np.int64)
        out = np.asarray(self._scores(users), dtype=np.float32)
        if self.personal and self.fallback is not None and len(users):
            cold = np.diff(self.data.matrix.indptr)[users] == 0
            if cold.any():
                out[cold] = self.fallback.scores(users[cold])
        return out

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool) -> np.ndarray:
        """Top-``k`` track indices per listener (len(users) x k, best first).

        ``exclude_seen``: tracks the listener played before the week are never
        recommended (their score is set to -inf, so they come last if the catalogue
        is smaller than k).
        """
        users = np.asarray(users, dtype=np.int64)
        k = min(k, self.data.n_items)
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), BATCH):
            batch = users[start : start + BATCH]
            s = self.scores(batch)
            if exclude_seen:
                mask_seen(s, self.data, batch)
            out[start : start + BATCH] = top_k(s, k)
        return out


def mask_seen(scores: np.ndarray, data: TrainData, users: np.ndarray) -> None:
    """Set the scores of tracks each listener already played to -inf (in place)."""
    heard = data.heard[users].tocoo()
    scores[heard.row, heard.col] = -np.inf


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k highest scores per row, best first (deterministic).

    Ties go to the lower column index, also at the k-th place (so the first k of a
    longer list are the top k): ``argpartition`` picks k of the best, and rows where
    it left out a track tied with the k-th score take the lowest-index tied ones
    instead; a stable sort then orders the k by score, equal scores by index.
    """
    n = scores.shape[1]
    k = min(k, n)
    if k == 0 or scores.shape[0] == 0:
        return np.empty((scores.shape[0], k), dtype=np.int64)
    if k == n:
        return np.argsort(-scores, axis=1, kind="stable").astype(np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, part, axis=1)
    kth = picked.min(axis=1)[:, None]
    tied = np.flatnonzero((scores == kth).sum(axis=1) > (picked == kth).sum(axis=1))
    if len(tied):
        sub, kth = scores[tied], kth[tied]
        equal = sub == kth
        need = k - (sub > kth).sum(axis=1)
        first = np.cumsum(equal, axis=1, dtype=np.int32) <= need[:, None]
        keep = (sub > kth) | (equal & first)
        part[tied] = np.nonzero(keep)[1].reshape(len(tied), k)
    part = np.sort(part, axis=1)
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def top_lists(
    scores: np.ndarray, heard: sp.csr_matrix, k: int, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """(top ``max(k, depth)`` with played tracks allowed, top ``k`` without them).

    One selection serves both settings: the list without played tracks is the longer
    list with ``heard`` (the same rows, 1 = played) left out, when that leaves k with
    a finite score; other rows are selected again with the played tracks masked
    (-inf). Identical to ``top_k`` of the masked scores (ties by column index in both).
    """
    depth = max(k, depth)
    deep = top_k(scores, depth + 2 * k)
    played = np.asarray(heard[np.repeat(np.arange(len(deep)), deep.shape[1]), deep.ravel()])
    played = played.reshape(deep.shape) > 0
    kept = np.argsort(played, axis=1, kind="stable")[:, :k]  # unplayed first, in order
    unseen = np.take_along_axis(deep, kept, axis=1)
    finite = np.isfinite(np.take_along_axis(scores, deep, axis=1))
    short = np.flatnonzero((~played & finite).sum(axis=1) < min(k, deep.shape[1]))
    if len(short):
        masked = scores[short].copy()
        rows = heard[short].tocoo()
        masked[rows.row, rows.col] = -np.inf
        unseen[short] = top_k(masked, k)
    return deep[:, :depth], unseen
