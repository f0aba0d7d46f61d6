"""EASE: the closed-form shallow linear autoencoder (Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019).

``G = X^T X + l2 I``, ``P = G^-1``, ``B[i, j] = -P[i, j] / P[j, j]`` with
``B[j, j] = 0``; a listener's scores are ``x_u B``. ``l2`` is the one hyper-param.
The item x item inverse costs O(m^3) time and O(m^2) memory in the m tracks it is
built on, whatever the number of listeners (measured: LAPACK's general inverse beat
a Cholesky ``potri`` here). So it is built on the ``max_items`` most-played tracks
only (:func:`most_played`; ``recs.ease.max_items``): the other tracks score 0, like
tracks nobody played. The bound is exact when the training weeks hold no more
tracks than that (the synthetic world, the small real dumps); on a 22k-track
catalogue the full inverse took 4 GB and minutes per fit (docs/recs.md, "Cost").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender

MAX_ITEMS = 4000


def most_played(x: sp.csr_matrix, max_items: int) -> np.ndarray:
    """Column indices (sorted) of the at most ``max_items`` tracks with the most listeners.

    ``x``: listeners x tracks interaction weights (zero = none). Tracks nobody
    interacted with are never kept; ties in listeners go to the larger total weight,
    then to the lower index.
    """
    csc = x.tocsc()
    listeners = np.diff(csc.indptr)
    weight = np.asarray(csc.sum(axis=0), dtype=np.float64).ravel()
    used = np.flatnonzero(listeners > 0)
    if len(used) > max_items:
        order = np.lexsort((used, -weight[used], -listeners[used]))
        used = np.sort(used[order[:max_items]])
    return used


class EASE(Recommender):
    name = "ease"

    def _fit(self, data) -> None:
        x = data.matrix
        # Tracks nobody interacted with have zero rows and columns in X^T X: their B
        # rows are 0 and their columns 0, so only the used tracks are inverted.
        self.cols = most_played(x, int(self.hyper.get("max_items", MAX_ITEMS)))
        xu = x[:, self.cols]
        g = (xu.T @ xu).toarray().astype(np.float64)
        g[np.diag_indices_from(g)] += float(self.hyper.get("l2", 100.0))
        p = np.linalg.inv(g) if len(g) else g
        del g
        b = -p / np.diag(p)[None, :] if len(p) else p
        np.fill_diagonal(b, 0.0)
        self.b = b.astype(np.float32)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.data.n_items), dtype=np.float32)
        if len(self.cols):
            out[:, self.cols] = np.asarray(self.data.matrix[users][:, self.cols] @ self.b)
        return out
