"""Matrix factorisation: implicit ALS and PureSVD.

**ALS** (Hu, Koren, Volinsky, ICDM 2008) with the ``implicit`` package (0.7.3):
``AlternatingLeastSquares.fit`` takes the listener x track CSR (implicit >= 0.5
orientation: rows are users) of confidences; ``alpha`` scales the weights into
confidence. BLAS is pinned to one thread (threadpoolctl) as implicit asks;
implicit's own conjugate-gradient solver runs on :data:`ALS_THREADS` threads with a
fixed ``random_state``: it updates each listener's (then each track's) row on its
own from the other side's factors, so the factors do not depend on the thread count
(measured: bit-identical with 1 and 2 threads) and are the same on every run.
Scores are ``user_factors @ item_factors.T``.

**PureSVD** (Cremonesi, Koren, Turrin, RecSys 2010): a truncated SVD of the
listener x track matrix, ``X ~ U S V^T``; a listener's scores are ``x_u V V^T``
(scikit-learn ``TruncatedSVD``, randomized, fixed ``random_state``).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .base import Recommender

ALS_THREADS = 2


class ALS(Recommender):
    name = "als"

    def _fit(self, data) -> None:
        import scipy.linalg  # noqa: F401  (load every BLAS before limiting them)
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=int(self.hyper.get("factors", 64)),
                regularization=float(self.hyper.get("regularization", 0.01)),
                alpha=float(self.hyper.get("alpha", 1.0)),
                iterations=int(self.hyper.get("iterations", 15)),
                num_threads=ALS_THREADS,
                random_state=int(self.hyper.get("seed", 42)),
            )
            model.fit(data.matrix, show_progress=False)  # users x items
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T


class PureSVD(Recommender):
    name = "svd"

    def _fit(self, data) -> None:
        from sklearn.decomposition import TruncatedSVD

        n = min(int(self.hyper.get("factors", 32)), min(data.matrix.shape) - 1)
        svd = TruncatedSVD(
            n_components=max(n, 1),
            algorithm="randomized",
            random_state=int(self.hyper.get("seed", 42)),
        )
        with threadpool_limits(limits=1, user_api="blas"):
            svd.fit(data.matrix.astype(np.float64))
        self.v = svd.components_.T.astype(np.float32)  # items x factors

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.data.matrix[users] @ self.v) @ self.v.T
