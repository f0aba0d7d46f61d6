"""Spark MLlib's ALS for implicit feedback, next to ``implicit``'s ALS (issue 24).

:class:`SparkALS` fits ``pyspark.ml.recommendation.ALS`` (Hu, Koren, Volinsky 2008,
``implicitPrefs=True``) on the same listener x track weights :class:`~.factors.ALS`
fits, and scores ``user_factors @ item_factors.T`` the same way, so the two are
compared on the same :class:`~pozytywka.recs.interactions.TrainData` and the same
truth (:func:`compare_als`). It is not one of the pipeline's models
(:data:`~pozytywka.recs.models.MODELS`): ``recs_evaluate`` stays free of a JVM; it
is what a team whose interactions outgrow one machine switches to.

The two are the same model family with different conventions, so equal
hyper-parameters do not give equal factors:

- confidence of an observed pair: Spark ``c = 1 + alpha * r``; ``implicit`` 0.7
  ``c = alpha * r`` (its solver adds ``(c - 1) y y^T`` per observed pair, the
  unobserved ones weighing 1), so the same ``alpha`` weighs a pair by one more in Spark;
- regularisation: Spark's ``regParam`` is multiplied by each row's number of
  ratings ("ALS-WR", Zhou et al. 2008); ``implicit``'s is not. :func:`spark_reg`
  divides by the mean ratings per row, so the two penalties match on average;
- initial factors and the solver differ (Spark: normal equations per block,
  Cholesky; ``implicit``: conjugate gradient), so even at convergence the factors
  differ by the local optimum reached.

Determinism: a fixed ``seed``, one user block and one item block (the solve order is
then fixed), ``local`` or cluster alike. The lineage is checkpointed every 5 iterations
(a temporary checkpoint folder when the session has none).
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from .base import Recommender


def spark_reg(regularization: float, matrix) -> float:
    """``implicit``'s L2 weight as Spark's ``regParam`` (divided by mean ratings per listener).

    ``matrix``: listeners x tracks CSR. Spark multiplies ``regParam`` by each
    listener's (and track's) rating count; dividing by the mean count per listener
    with ratings makes the average penalty the same.
    """
    counts = np.diff(matrix.indptr)
    mean = float(counts[counts > 0].mean()) if (counts > 0).any() else 1.0
    return float(regularization) / mean


class SparkALS(Recommender):
    """Spark MLlib ALS (implicit) on the active Spark session (or a local[2] one)."""

    name = "spark_als"

    def _fit(self, data) -> None:
        from pyspark.ml.recommendation import ALS as SparkALSEstimator
        from pyspark.sql import SparkSession

        from ...engine import spark_session

        spark = SparkSession.getActiveSession() or spark_session("local[2]")
        if spark.sparkContext.getCheckpointDir() is None:
            # ALS truncates its lineage every checkpointInterval iterations only when the
            # session has a checkpoint folder; without one, 15 iterations can overflow the
            # JVM's stack serialising the task (seen here). Kept as long as the model.
            self._checkpoints = tempfile.TemporaryDirectory(prefix="pozytywka-als-")
            spark.sparkContext.setCheckpointDir(self._checkpoints.name)
        coo = data.matrix.tocoo()
        ratings = pd.DataFrame(
            {
                "user": coo.row.astype("int32"),
                "item": coo.col.astype("int32"),
                "rating": coo.data.astype("float32"),
            }
        )
        frame = spark.createDataFrame(ratings) if len(ratings) else None
        factors = int(self.hyper.get("factors", 64))
        self.user_factors = np.zeros((data.n_users, factors), dtype=np.float32)
        self.item_factors = np.zeros((data.n_items, factors), dtype=np.float32)
        if frame is None:
            return
        model = SparkALSEstimator(
            rank=factors,
            maxIter=int(self.hyper.get("iterations", 15)),
            regParam=spark_reg(float(self.hyper.get("regularization", 0.01)), data.matrix),
            alpha=float(self.hyper.get("alpha", 1.0)),
            implicitPrefs=True,
            nonnegative=False,
            numUserBlocks=1,
            numItemBlocks=1,
            seed=int(self.hyper.get("seed", 42)),
            checkpointInterval=5,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
        ).fit(frame)
        for target, table in (
            (self.user_factors, model.userFactors),
            (self.item_factors, model.itemFactors),
        ):
            rows = table.collect()
            if rows:
                ids = np.array([r["id"] for r in rows], dtype=np.int64)
                target[ids] = np.array([r["features"] for r in rows], dtype=np.float32)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T


def compare_als(
    interactions: pd.DataFrame,
    cat,
    weeks: list[pd.Timestamp],
    hyper: dict,
    weights,
    k: int = 20,
) -> pd.DataFrame:
    """Recall@k and NDCG@k of ``implicit``'s ALS and Spark's, week by week, same data.

    For each week: both fitted with ``hyper`` (factors, regularization, alpha,
    iterations, seed) on :func:`~pozytywka.recs.interactions.train_data` (weeks
    before it only), scored for the listeners with at least one full play in the
    week (the evaluated listeners), played tracks allowed (``exclude_seen`` false).
    Listeners with no history get the model's own (zero) scores: no fallback, so the
    comparison is of the factorisations alone. Returns one row per week: ``week_start``,
    ``listeners``, ``als_recall_at_k``, ``spark_als_recall_at_k``, ``als_ndcg_at_k``,
    ``spark_als_ndcg_at_k``, ``als_fit_s``, ``spark_als_fit_s`` (wall seconds).
    """
    import time

    from .. import metrics as M
    from ..interactions import active_users, relevant, train_data
    from .factors import ALS

    rows = []
    for week in weeks:
        data = train_data(interactions, week, cat, weights)
        truth = relevant(interactions, week, cat)
        users = active_users(truth)
        row = {"week_start": pd.Timestamp(week), "listeners": len(users)}
        for model in (ALS(**hyper), SparkALS(**hyper)):
            t0 = time.perf_counter()
            model.fit(data)
            row[f"{model.name}_fit_s"] = round(time.perf_counter() - t0, 1)
            recs = model.recommend(users, k, exclude_seen=False)
            scores = M.per_user(recs, truth[users], ks=(k,))
            row[f"{model.name}_recall_at_{k}"] = float(scores[f"recall_at_{k}"].mean())
            row[f"{model.name}_ndcg_at_{k}"] = float(scores[f"ndcg_at_{k}"].mean())
        rows.append(row)
    return pd.DataFrame(rows)
