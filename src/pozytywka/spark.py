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
from .engine import SESSION_CONF, naive_utc, spark_session, to_pandas  # noqa: F401 (re-exported)
from .weeks import complete_weeks

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession


def register_tables(spark: SparkSession, tables: Mapping[str, str | os.PathLike[str]]) -> None:
    """Register Parquet files (or folders of part files) as temporary views by name.

    On object storage the paths are ``s3://`` / ``abfss://`` URLs of the
    partitioned interim tables; locally they are the ``data/interim`` files.
    """
    for name, path in tables.items():
        spark.read.parquet(str(path)).createOrReplaceTempView(name)


def normalise_weekly(raw: pd.DataFrame, weeks: list[pd.Timestamp]) -> pd.DataFrame:
    """Complete weeks only, plays.weekly_popularity's dtypes and row order (naive UTC first)."""

    return plays.normalise_weekly(naive_utc(raw.copy()), weeks)


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
        return plays.empty_weekly()
    raw = to_pandas(spark.sql(plays.weekly_popularity_sql(sessions)))
    return normalise_weekly(raw, weeks)


def weekly_popularity_from_parquet(
    sessions_path: str | os.PathLike[str], master: str = "local[2]"
) -> pd.DataFrame:
    """Convenience for one-off runs: a session, the sessions view, the weekly table."""
    spark = spark_session(master)
    register_tables(spark, {"sessions": Path(sessions_path)})
    return weekly_popularity_spark(spark, "sessions")
