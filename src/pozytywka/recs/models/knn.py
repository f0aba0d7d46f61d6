"""Item-item nearest neighbours with cosine similarity (Sarwar et al., WWW 2001).

``sim[i, j] = x_i . x_j / (|x_i| |x_j|)`` over the columns (tracks) of the
listener x track weight matrix, with ``sim[j, j] = 0``; for each target track j
only its ``neighbours`` most similar tracks are kept (a sparse matrix of at most
``neighbours`` x n_items entries). A listener's score for j is ``sum_i x_ui sim[i, j]``.

The similarities are computed :data:`BLOCK` target tracks at a time (a sparse
product, then a dense block of n_items x BLOCK whose top ``neighbours`` per column
are kept), so memory stays O(n_items x (BLOCK + neighbours)) instead of the
n_items² of the full matrix (4 GB at 22k tracks).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender

BLOCK = 1024  # target tracks per block: a block of 22k tracks is 90 MB (float32)


def cosine_top_k(x: sp.csr_matrix, k: int, block: int = BLOCK) -> sp.csc_matrix:
    """Items x items CSC of each column's ``k`` largest cosine similarities (diagonal 0).

    ``x``: listeners x items weights. Column j holds the similarities of the tracks
    kept as j's neighbours; a column with fewer than ``k`` non-zero similarities keeps
    them all (zeros are never stored).
    """
    x = sp.csr_matrix(x, dtype=np.float64)
    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    xn = sp.csc_matrix(x.multiply(inv[None, :]))
    xt = sp.csr_matrix(xn.T)
    rows, cols, vals = [], [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        sim = (xt @ xn[:, start:stop]).toarray()  # n x b
        sim[np.arange(start, stop), np.arange(stop - start)] = 0.0
        if k < n - 1:
            # keep each column's k largest (argpartition: deterministic, linear time)
            drop = np.argpartition(-sim, k - 1, axis=0)[k:, :]
            np.put_along_axis(sim, drop, 0.0, axis=0)
        r, c = np.nonzero(sim)
        rows.append(r)
        cols.append(c + start)
        vals.append(sim[r, c])
    cat = np.concatenate
    if not rows:
        return sp.csc_matrix((n, n), dtype=np.float32)
    out = sp.csc_matrix(
        (cat(vals).astype(np.float32), (cat(rows), cat(cols))), shape=(n, n), dtype=np.float32
    )
    out.sort_indices()
    return out


class ItemKNN(Recommender):
    name = "itemknn"

    def _fit(self, data) -> None:
        n = data.matrix.shape[1]
        self.sim = sp.csr_matrix(cosine_top_k(data.matrix, int(self.hyper.get("neighbours", n))))

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return (self.data.matrix[users] @ self.sim).toarray()
