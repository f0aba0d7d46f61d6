"""The engine the event stages run their SQL on: DuckDB (embedded) or Spark (a cluster).

Every query over the events (the weekly aggregation, the listeners, the recs
interactions, the skip target, the gap counts) is written **once**, in DuckDB's
dialect, in :mod:`pozytywka.plays` and its users. :class:`DuckDBEngine` runs it
as is; :class:`SparkEngine` translates it with SQLGlot (``duckdb`` -> ``spark``:
``"timestamp"`` becomes a backquoted identifier, ``date_diff('microsecond', a, b)``
becomes ``DATEDIFF(MICROSECOND, a, b)``) and runs it on a Spark session. No second
hand-written copy of any query exists. Both return a pandas frame of the (small)
result; the caller's dtype casts, complete-week filter and total sort are shared,
so the two engines write the same bytes (``tests/test_engine_spark.py``).

``params.yaml``: ``engine: duckdb | spark`` picks one (default ``duckdb``);
``spark.master`` is ``local[*]`` or a cluster URL (``spark://host:7077``, ``yarn``,
a Databricks/EMR/Dataproc session), ``spark.shuffle_partitions`` the partitions of
a shuffle. Results do not depend on either: every aggregate is an integer count or
an exact integer difference, and outputs are sorted on a unique key before writing.

Why a context manager (:func:`open_engine`): the Spark session (a JVM) is
stopped when the stage ends, unless it was already running when the stage
started (a test, a notebook on a cluster), which then keeps it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from . import duck
from .errors import PozytywkaError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from .config import Params

#: Settings every Pozytywka Spark session gets: UTC (``date_trunc('week', ...)`` is the
#: ISO Monday), ANSI double-quoted identifiers (SQL not passed through :func:`to_spark_sql`
#: quotes ``"timestamp"`` the standard way), no UI, loopback (:mod:`pozytywka.spark`).
SESSION_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # no progress bars in the stage logs
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


def to_spark_sql(sql: str) -> str:
    """The DuckDB-dialect ``sql`` in Spark SQL, translated by SQLGlot.

    Raises :class:`~pozytywka.errors.PozytywkaError` when SQLGlot cannot parse
    it (the text is then not in the subset both engines share).
    """
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        (out,) = sqlglot.transpile(sql, read="duckdb", write="spark")
    except (SqlglotError, ValueError) as exc:
        raise PozytywkaError(f"SQL cannot be translated to Spark: {exc}") from None
    return out


class Engine(Protocol):
    """What a stage asks of an engine: run one SQL text over named tables."""

    name: str

    def query(self, sql: str, tables: Mapping[str, object]) -> pd.DataFrame:
        """``sql`` (DuckDB dialect) over ``tables`` (name -> Parquet path or frame)."""
        ...  # pragma: no cover - protocol


class DuckDBEngine:
    """The embedded engine: a fresh in-memory DuckDB connection per query."""

    name = "duckdb"

    def query(self, sql: str, tables: Mapping[str, object]) -> pd.DataFrame:
        """Run ``sql`` with each table as a view (frames registered, paths read as Parquet)."""
        con = duck.connect()
        try:
            for view, table in tables.items():
                if isinstance(table, pd.DataFrame):
                    con.register(view, table)
                else:
                    path = os.fspath(table).replace("'", "''")
                    con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{path}')")
            return con.sql(sql).df()
        finally:
            con.close()


class SparkEngine:
    """Spark SQL on ``spark`` (any master): tables as temporary views, SQL translated.

    A pandas frame (tests, small inputs) is written to a Parquet file in a
    temporary folder of the engine first, so Spark reads it as it reads the
    interim tables. Results come back through Arrow; timestamps are naive UTC
    (the session time zone is UTC: :data:`SESSION_CONF`).
    """

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._tmp = tempfile.TemporaryDirectory(prefix="pozytywka-spark-")
        self._frames = 0

    def _path(self, table: object) -> str:
        if isinstance(table, pd.DataFrame):
            self._frames += 1
            path = Path(self._tmp.name) / f"frame{self._frames}.parquet"
            table.to_parquet(path, index=False)
            return str(path)
        path = os.fspath(table)  # type: ignore[arg-type]
        # the JVM resolves a relative path against its own working folder: make it absolute
        return path if "://" in path else os.path.abspath(path)

    def query(self, sql: str, tables: Mapping[str, object]) -> pd.DataFrame:
        """Run the translated ``sql``; the result as pandas with naive timestamps."""
        for view, table in tables.items():
            self.spark.read.parquet(self._path(table)).createOrReplaceTempView(view)
        return naive_utc(to_pandas(self.spark.sql(to_spark_sql(sql))))

    def close(self) -> None:
        """Remove the temporary folder (the session is the caller's)."""
        self._tmp.cleanup()


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every time-zone-aware column converted to UTC and made naive.

    Spark hands ``TIMESTAMP`` (with local time zone) columns over as UTC-aware;
    the project's timestamps are naive UTC (DuckDB's ``TIMESTAMP``).
    """
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def check_available(params: Params) -> None:
    """Raise :class:`~pozytywka.errors.PozytywkaError` (one line) when ``params.engine``
    cannot start here: ``spark`` needs the ``pyspark`` package and a Java runtime
    (``java`` on PATH or ``JAVA_HOME``). The ``validate`` stage calls it, so a missing
    JVM stops ``dvc repro`` before any output is removed.
    """
    if params.engine != "spark":
        return
    if importlib.util.find_spec("pyspark") is None:
        raise PozytywkaError(
            "engine: spark needs pyspark (a dev dependency): pip install -e '.[dev]'"
        )
    java_home = os.environ.get("JAVA_HOME", "")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        raise PozytywkaError(
            "engine: spark needs a Java runtime (java on PATH or JAVA_HOME): "
            "apt-get install default-jre-headless, or set engine: duckdb"
        )


def session_conf(params: Params) -> dict[str, str]:
    """The Spark settings ``params.spark`` adds to :data:`SESSION_CONF`.

    The driver listens on ``spark.driver_host`` (loopback by default; any interface
    when the executors are on other machines and must call it back).
    """
    host = params.spark.driver_host
    return {
        "spark.sql.shuffle.partitions": str(params.spark.shuffle_partitions),
        "spark.driver.host": host,
        "spark.driver.bindAddress": host if host.startswith("127.") else "0.0.0.0",
    }


@contextmanager
def open_engine(params: Params) -> Iterator[Engine]:
    """The engine ``params.engine`` names, for the duration of a stage.

    For ``spark``: a session on ``params.spark.master`` with the project's settings
    and ``params.spark.shuffle_partitions``; stopped on exit unless one was
    already active in this process (then it is reused and left running).
    """
    if params.engine == "duckdb":
        yield DuckDBEngine()
        return
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PozytywkaError(
            "engine: spark needs pyspark (a dev dependency): pip install -e '.[dev]'"
        ) from exc
    active = SparkSession.getActiveSession()
    spark = active or spark_session(params.spark.master, conf=session_conf(params))
    engine = SparkEngine(spark)
    try:
        yield engine
    finally:
        engine.close()
        if active is None:
            stop_spark(spark)


def stop_spark(spark: SparkSession, timeout: float = 30.0) -> None:
    """Stop ``spark`` and the JVM this process started for it, and wait for the JVM to exit.

    ``SparkSession.stop`` leaves the gateway JVM running until the Python process
    ends (it exits when its standard input closes); this closes that input and reaps
    the JVM, so no JVM outlives a stage and the stage's resource usage (``wait4``,
    ``/usr/bin/time``: the benchmark's peak memory) includes the JVM's. A JVM that
    does not exit within ``timeout`` seconds is killed. A later session in the same
    process starts a new JVM.
    """
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    spark.stop()
    if proc is None:  # a JVM this process did not launch (a platform's): not ours to end
        return
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
