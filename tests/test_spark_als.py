"""Spark's ALS next to implicit's (issue 24): the regularisation mapping and a hand-made case."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pozytywka.config import RecsWeightParams
from pozytywka.recs.interactions import catalogue, train_data
from pozytywka.recs.models.spark_als import spark_reg

W0 = pd.Timestamp("2024-01-01")
BINARY = RecsWeightParams(full_play=1.0, like=0.0, skip=0.0)
# Two taste groups: u0, u1 play t0 t1 t2; u2 plays t0 t1 only; u3, u4 play t3 t4.
PAIRS = [("u0", "t0"), ("u0", "t1"), ("u0", "t2"), ("u1", "t0"), ("u1", "t1"), ("u1", "t2")]
PAIRS += [("u2", "t0"), ("u2", "t1"), ("u3", "t3"), ("u3", "t4"), ("u4", "t3"), ("u4", "t4")]


def test_spark_reg_divides_by_the_mean_ratings_per_listener_with_ratings():
    # rows with 2, 0 and 4 ratings: mean 3 over the two listeners with ratings
    m = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32))
    assert spark_reg(0.3, m) == pytest.approx(0.1)
    assert spark_reg(0.3, sp.csr_matrix((2, 2), dtype=np.float32)) == 0.3  # nothing rated


@pytest.mark.spark
@pytest.mark.needs("java")
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_both_als_recommend_the_groups_missing_track_first():
    pytest.importorskip("pyspark")
    from pozytywka.engine import spark_session, stop_spark
    from pozytywka.recs.models.factors import ALS
    from pozytywka.recs.models.spark_als import SparkALS

    inter = pd.DataFrame(PAIRS, columns=["user_id", "track_id"])
    inter.insert(0, "week_start", W0.as_unit("us"))
    for col in ("plays", "full_plays", "skips", "likes"):
        inter[col] = np.int32(1 if col in ("plays", "full_plays") else 0)
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(5)], "favourite_genres": [[]] * 5})
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(5)]})
    genres = pd.DataFrame({"track_id": [f"t{i}" for i in range(5)], "genre": ["g"] * 5})
    data = train_data(
        inter, W0 + pd.Timedelta(days=7), catalogue(inter, users, tracks, genres), BINARY
    )
    hyper = {"factors": 2, "regularization": 0.01, "alpha": 10.0, "iterations": 15, "seed": 1}
    spark = spark_session("local[1]", app_name="pozytywka-spark-als")
    try:
        got = {}
        for model in (ALS(**hyper), SparkALS(**hyper)):
            model.fit(data)
            # u2 (row 2): of the tracks it has not played, t2 (its group's) comes first
            got[model.name] = int(model.recommend(np.array([2]), 5, exclude_seen=True)[0, 0])
            s = model.scores(np.array([2, 3]))
            assert s[0, 2] > s[0, 3] and s[1, 3] > s[1, 0]  # each group's tracks score higher
    finally:
        stop_spark(spark)
    assert got == {"als": 2, "spark_als": 2}
