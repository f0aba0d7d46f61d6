"""The Spark engine on a real standalone cluster (issue 24): a master and two workers.

Three separate JVM processes on 127.0.0.1 (``tests/spark_cluster.py``); the driver
(this process) runs every event query of the pipeline against the master URL, on
seeded random sessions with ties, skips at the next play's instant and sessions that
cross a week boundary, and gets the same frames as DuckDB. The cluster is stopped at
the end, and no process of it may be left behind. Bounded: 240 s (pytest-timeout).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal

from event_data import random_sessions
from pozytywka.engine import DuckDBEngine, SparkEngine
from pozytywka.plays import complete_week_starts, weekly_listeners, weekly_popularity
from pozytywka.recs.interactions import weekly_interactions
from pozytywka.skips.target import play_targets
from spark_cluster import standalone_cluster

pytestmark = [
    pytest.mark.spark,
    pytest.mark.needs("java"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.timeout(240),
]


def _no_process_mentions(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmd:
                found.append(f"{proc.name}: {cmd[:200]}")
    return found


def test_every_event_query_on_a_standalone_cluster_equals_duckdb(tmp_path):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from pozytywka.engine import spark_session, stop_spark

    if SparkSession.getActiveSession() is not None:  # a local session of another module
        stop_spark(SparkSession.getActiveSession())
    sessions = random_sessions()
    path = tmp_path / "sessions.parquet"
    sessions.to_parquet(path, index=False)
    folder = tmp_path / "cluster"
    duck = DuckDBEngine()
    expected = {
        "weekly": weekly_popularity(path, duck),
        "listeners": weekly_listeners(path, duck),
        "interactions": weekly_interactions(path, duck),
        "targets": play_targets(path, engine=duck),
    }
    assert len(complete_week_starts(path, duck)) >= 4
    assert expected["weekly"]["popularity"].sum() > 50
    with standalone_cluster(folder, workers=2) as url:
        spark = spark_session(
            url,
            app_name="pozytywka-cluster-test",
            conf={
                "spark.executor.memory": "512m",
                "spark.executor.cores": "1",
                "spark.cores.max": "2",
                "spark.sql.shuffle.partitions": "4",
            },
        )
        try:
            assert spark.sparkContext.master == url
            engine = SparkEngine(spark)
            got = {
                "weekly": weekly_popularity(path, engine),
                "listeners": weekly_listeners(path, engine),
                "interactions": weekly_interactions(path, engine),
                "targets": play_targets(path, engine=engine),
            }
            # the work ran on the workers: two executors registered with the driver
            executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
            engine.close()
        finally:
            stop_spark(spark)
    assert executors == 3  # the driver and two executors
    for name, frame in expected.items():
        assert_frame_equal(got[name], frame, obj=name)
    port = url.rsplit(":", 1)[1]
    assert _no_process_mentions(f"--port {port}") == []  # the master
    assert _no_process_mentions(str(folder)) == []  # the workers and their executors
