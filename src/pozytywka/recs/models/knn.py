"""Item-item nearest neighbours with cosine similarity (Sarwar et al., WWW 2001).

``sim[i, j] = x_i . x_j / (|x_i| |x_j|)`` over the columns (tracks) of the
listener x track weight matrix, with ``sim[j, j] = 0``; for each target track j
only its ``neighbours`` most similar tracks are kept. A
listener's score for j is ``sum_i x_ui sim[i, j]``.
"""

from __future__ import annotations

import numpy as np

from .base import Recommender


class ItemKNN(Recommender):
    name = "itemknn"

    def _fit(self, data) -> None:
        x = data.matrix.astype(np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        xn = x.multiply(inv[None, :]).tocsc()
        sim = (xn.T @ xn).toarray()
        np.fill_diagonal(sim, 0.0)
        n = sim.shape[0]
        k = int(self.hyper.get("neighbours", n))
        if k < n - 1:
            # keep each column's k largest (argpartition: deterministic, linear time)
            drop = np.argpartition(-sim, k - 1, axis=0)[k:, :]
            np.put_along_axis(sim, drop, 0.0, axis=0)
        self.sim = sim.astype(np.float32)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.data.matrix[users] @ self.sim)
