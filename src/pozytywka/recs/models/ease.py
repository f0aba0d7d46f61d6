"""EASE: the closed-form shallow linear autoencoder (Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019).

``G = X^T X + l2 I``, ``P = G^-1``, ``B[i, j] = -P[i, j] / P[j, j]`` with
``B[j, j] = 0``; a listener's scores are ``x_u B``. ``l2`` is the one hyper-param.
The item x item inverse costs O(n_items^3), independent of the number of listeners
(measured: LAPACK's general inverse beat a Cholesky ``potri`` here).
"""

from __future__ import annotations

import numpy as np

from .base import Recommender


class EASE(Recommender):
    name = "ease"

    def _fit(self, data) -> None:
        x = data.matrix
        # Tracks nobody interacted with have zero rows and columns in X^T X: their B
        # rows are 0 and their columns 0, so only the used tracks are inverted.
        used = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
        xu = x[:, used]
        g = (xu.T @ xu).toarray().astype(np.float64)
        g[np.diag_indices_from(g)] += float(self.hyper.get("l2", 100.0))
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        full = np.zeros((x.shape[1], x.shape[1]), dtype=np.float32)
        full[np.ix_(used, used)] = b
        self.b = full

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.data.matrix[users] @ self.b)
