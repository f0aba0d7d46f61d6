"""A stage's Spark session ends with its JVM (issue 24): nothing outlives a stage."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

pytestmark = [
    pytest.mark.spark,
    pytest.mark.needs("java"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]


def test_a_stage_session_is_stopped_with_its_jvm_and_a_next_one_starts(tmp_path):
    """open_engine without an active session: its JVM is reaped on exit (no JVM outlives a
    stage; wait4 counts its memory), and a second engine in the same process works."""
    pytest.importorskip("pyspark")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from pozytywka.config import params_from_dict
    from pozytywka.engine import open_engine, stop_spark

    active = SparkSession.getActiveSession()
    if active is not None:  # the module's session: this test needs none running
        stop_spark(active)
    params = params_from_dict({"engine": "spark", "spark": {"master": "local[1]"}})
    frame = pd.DataFrame({"x": [1, 2, 3]})
    for _ in range(2):
        with open_engine(params) as engine:
            proc = SparkContext._gateway.proc
            assert int(engine.query("SELECT SUM(x) AS s FROM t", {"t": frame})["s"][0]) == 6
        assert proc.poll() is not None  # the JVM has exited and was reaped
        assert SparkContext._gateway is None
