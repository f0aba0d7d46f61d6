"""The engine switch (issue 24) without a JVM: params, SQL translation, DuckDB engine, settings."""

from __future__ import annotations

import pandas as pd
import pytest

from pozytywka.config import params_from_dict
from pozytywka.engine import DuckDBEngine, naive_utc, session_conf, to_spark_sql
from pozytywka.errors import ParamError, PozytywkaError
from pozytywka.plays import weekly_popularity_sql


def test_engine_defaults_to_duckdb_on_all_cores_and_accepts_spark():
    params = params_from_dict({})
    assert (params.engine, params.spark.master, params.spark.shuffle_partitions) == (
        "duckdb",
        "local[*]",
        4,
    )
    params = params_from_dict({"engine": "spark", "spark": {"master": "spark://h:7077"}})
    assert (params.engine, params.spark.master) == ("spark", "spark://h:7077")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"engine": "polars"}, "engine must be one of 'duckdb', 'spark', got 'polars'"),
        ({"spark": {"shuffle_partitions": 0}}, "spark.shuffle_partitions must be an integer"),
        ({"spark": {"cores": 2}}, "spark.cores is not a known param"),
    ],
)
def test_a_bad_engine_param_is_one_line_naming_it(raw, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace("[", r"\[")):
        params_from_dict(raw)


def test_the_duckdb_text_is_translated_to_spark_sql():
    assert to_spark_sql('SELECT "timestamp" FROM t') == "SELECT `timestamp` FROM t"
    assert (
        to_spark_sql("SELECT date_diff('microsecond', a, b) / 1e6 AS s FROM t")
        == "SELECT DATEDIFF(MICROSECOND, a, b) / 1e6 AS s FROM t"
    )
    spark = to_spark_sql(weekly_popularity_sql("sessions"))
    assert "DATE_TRUNC('WEEK', ts)" in spark and '"' not in spark


def test_sql_sqlglot_cannot_parse_is_one_line():
    with pytest.raises(PozytywkaError, match="cannot be translated to Spark"):
        to_spark_sql("SELECT FROM WHERE (")


def test_the_duckdb_engine_reads_frames_and_parquet_files(tmp_path):
    frame = pd.DataFrame({"x": [3, 1, 2]})
    frame.to_parquet(tmp_path / "t.parquet")
    engine = DuckDBEngine()
    sql = "SELECT SUM(a.x * b.x) AS s FROM a JOIN b USING (x)"
    got = engine.query(sql, {"a": frame, "b": tmp_path / "t.parquet"})
    assert int(got["s"].iloc[0]) == 9 + 1 + 4


def test_naive_utc_converts_aware_columns_and_leaves_the_rest():
    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(["2024-01-01 01:00"]).tz_localize("Europe/Warsaw"),
            "n": pd.to_datetime(["2024-01-01 01:00"]),
        }
    )
    out = naive_utc(frame)
    assert out["t"].iloc[0] == pd.Timestamp("2024-01-01 00:00")  # CET is UTC+1 in January
    assert out["n"].iloc[0] == pd.Timestamp("2024-01-01 01:00")


def test_session_conf_binds_to_loopback_unless_the_driver_must_be_reached():
    local = session_conf(params_from_dict({}))
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.sql.shuffle.partitions"] == "4"
    remote = session_conf(params_from_dict({"spark": {"driver_host": "10.0.0.5"}}))
    assert (remote["spark.driver.host"], remote["spark.driver.bindAddress"]) == (
        "10.0.0.5",
        "0.0.0.0",
    )


def test_engine_spark_without_java_stops_with_one_line(monkeypatch):
    import pozytywka.engine as engine

    params = params_from_dict({"engine": "spark"})
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(PozytywkaError, match="engine: spark needs a Java runtime"):
        engine.check_available(params)
    engine.check_available(params_from_dict({}))  # duckdb needs nothing
