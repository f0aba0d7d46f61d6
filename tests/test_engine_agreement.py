"""The Spark engine's own code path, without a JVM: the fast half of the engine agreement.

:func:`pozytywka.spark.weekly_popularity_spark` runs the shared SQL of
:func:`pozytywka.plays.weekly_popularity_sql` on Spark and hands the raw result
(time-zone-aware ``week_start`` from Arrow, every week of the log, engine row
order) to :func:`pozytywka.spark.normalise_weekly`. Here DuckDB runs that SQL,
the result is shaped the way Spark returns it, and Spark's normalisation must
give DuckDB's weekly table and, separately, the same features. The full Spark
run is ``tests/test_spark.py`` (marked ``spark``: it needs Java).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from interim_fakes import fake_interim
from pozytywka import plays
from pozytywka.config import FeaturesParams
from pozytywka.playlists.features import build_features
from pozytywka.spark import normalise_weekly


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return fake_interim(weeks=6, n_tracks=15, n_users=25, events_per_user=10, seed=4)


def _spark_shaped_weekly(sessions: pd.DataFrame) -> pd.DataFrame:
    """The shared SQL's raw result as Spark's ``toArrow().to_pandas()`` gives it."""
    con = duckdb.connect()
    con.register("sessions", sessions)
    raw = con.sql(plays.weekly_popularity_sql("sessions")).df()
    con.close()
    raw["week_start"] = pd.to_datetime(raw["week_start"]).dt.tz_localize("UTC")
    return raw.iloc[::-1].reset_index(drop=True)  # no promise of row order


def _both(data) -> dict[str, pd.DataFrame]:
    sessions = data["sessions"]
    weeks = plays.complete_week_starts(sessions)
    return {
        "duckdb": plays.weekly_popularity(sessions),
        "spark": normalise_weekly(_spark_shaped_weekly(sessions), weeks),
    }


def test_spark_normalisation_gives_duckdbs_weekly_table(data):
    weekly = _both(data)
    assert len(weekly["duckdb"]) > 0 and weekly["duckdb"]["likes"].sum() > 0
    assert_frame_equal(weekly["duckdb"], weekly["spark"])


def test_features_from_each_engines_weekly_table_are_identical(data):
    weeks = plays.complete_week_starts(data["sessions"])
    built = {
        engine: build_features(
            weekly, data["tracks"], data["track_genres"], weeks, FeaturesParams()
        )
        for engine, weekly in _both(data).items()
    }
    assert built["duckdb"]["skip_rate"].nunique() > 1
    assert_frame_equal(built["duckdb"], built["spark"])
