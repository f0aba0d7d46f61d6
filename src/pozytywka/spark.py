"""The weekly aggregation on Spark: the same SQL text as DuckDB, on a cluster.

Why Spark and not a home-made engine: when the session log outgrows one
machine, the aggregation that turns events into weekly tables is the only part
of the pipeline that touches every event (issue 6, ``docs/scaling.md``). It is
written once, as portable SQL in :mod:`pozytywka.plays`; this module registers
the interim tables as Spark temporary views and runs that text unchanged. The
test suite runs it in local mode and checks it against DuckDB row for row.

Three session settings make Spark read the SQL the way DuckDB does:

- ``spark.sql.session.timeZone=UTC``: timestamps in the project are naive UTC,
  and ``date_trunc('week', ts)`` must give the Monday 00:00 of :mod:`pozytywka.weeks`.
- ``spark.sql.ansi.enabled`` + ``spark.sql.ansi.doubleQuotedIdentifiers``: the
  SQL quotes the column ``"timestamp"`` the standard way; without the setting
  Spark would read it as a string literal.
- ``spark.ui.enabled=false`` and a loopback driver host: no web UI, no network.

``pyspark`` is a dev/optional dependency: it is imported lazily, so the
pipeline itself never needs Java.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import plays
from .errors import PozytywkaError
from .weeks import complete_weeks

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

#: Settings every Pozytywka Spark session gets (see the module docstring).
SESSION_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # A small local job: a handful of shuffle partitions, not the default 200.
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_session(
    master: str = "local[2]", app_name: str = "pozytywka", conf: Mapping[str, str] | None = None
) -> SparkSession:
    """Start (or reuse) a Spark session with the project's settings.

    ``master`` is ``local[N]`` on one machine, or a cluster URL; on Databricks
    pass the session the platform provides to the functions below instead.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PozytywkaError(
            "the Spark engine needs pyspark (a dev dependency): pip install -e '.[dev]'"
        ) from exc
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no lookup of the host's interfaces
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register_tables(spark: SparkSession, tables: Mapping[str, str | os.PathLike[str]]) -> None:
    """Register Parquet files (or folders of part files) as temporary views by name.

    On object storage the paths are ``s3://`` / ``abfss://`` URLs of the
    partitioned interim tables; locally they are the ``data/interim`` files.
    """
    for name, path in tables.items():
        spark.read.parquet(str(path)).createOrReplaceTempView(name)


def to_pandas(frame: SparkDataFrame) -> pd.DataFrame:
    """A (small) Spark result as pandas, through Arrow when available.

    Why not ``toPandas()``: PySpark 4.3 warns that it does not fully support
    pandas 3; ``toArrow()`` hands over an Arrow table and pyarrow does the
    conversion the rest of the project already relies on.
    """
    if hasattr(frame, "toArrow"):
        return frame.toArrow().to_pandas()
    rows = frame.collect()  # pragma: no cover - PySpark < 4
    return pd.DataFrame.from_records([r.asDict() for r in rows], columns=frame.columns)


def normalise_weekly(raw: pd.DataFrame, weeks: list[pd.Timestamp]) -> pd.DataFrame:
    """Complete weeks only, plays.weekly_popularity's dtypes and row order."""
    out = raw.copy()
    out["week_start"] = pd.to_datetime(out["week_start"]).dt.tz_localize(None)
    out["week_start"] = out["week_start"].astype("datetime64[us]")
    out = out[out["week_start"].isin(pd.DatetimeIndex(weeks).astype("datetime64[us]"))]
    for col in plays.WEEKLY_COLUMNS[2:]:
        out[col] = out[col].astype("int64")
    out["track_id"] = out["track_id"].astype(str)
    return out.sort_values(["week_start", "track_id"], kind="stable").reset_index(drop=True)[
        plays.WEEKLY_COLUMNS
    ]


def complete_week_starts_spark(
    spark: SparkSession, sessions: str = "sessions"
) -> list[pd.Timestamp]:
    """The complete weeks of the view ``sessions``, from Spark's own MIN/MAX of the log.

    The Spark counterpart of :func:`pozytywka.plays.complete_week_starts`: the weeks
    ``build_features`` gets on this engine (empty list for no events).
    """
    span = spark.sql(f'SELECT MIN("timestamp") AS lo, MAX("timestamp") AS hi FROM {sessions}')
    lo, hi = span.collect()[0]
    return [] if lo is None else complete_weeks(pd.Timestamp(lo), pd.Timestamp(hi))


def weekly_popularity_spark(spark: SparkSession, sessions: str = "sessions") -> pd.DataFrame:
    """Weekly popularity on Spark from the view ``sessions`` (the interim table).

    Runs :func:`pozytywka.plays.weekly_popularity_sql` unchanged, and keeps the
    complete weeks of the whole log exactly as :func:`pozytywka.plays.weekly_popularity`
    does, so the two engines return equal frames.
    """
    weeks = complete_week_starts_spark(spark, sessions)
    if not weeks:
        return plays.weekly_popularity(pd.DataFrame({"timestamp": pd.Series(dtype="object")}))
    raw = to_pandas(spark.sql(plays.weekly_popularity_sql(sessions)))
    return normalise_weekly(raw, weeks)


def weekly_popularity_from_parquet(
    sessions_path: str | os.PathLike[str], master: str = "local[2]"
) -> pd.DataFrame:
    """Convenience for one-off runs: a session, the sessions view, the weekly table."""
    spark = spark_session(master)
    register_tables(spark, {"sessions": Path(sessions_path)})
    return weekly_popularity_spark(spark, "sessions")
