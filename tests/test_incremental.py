"""Incremental weekly aggregation (issue 24): only the weeks new events can change.

:func:`pozytywka.plays.update_weekly_popularity` keeps the earlier table's final
weeks and recomputes the last complete week and the new ones (wider when a session
is still open from earlier); the result must equal a full recomputation of the grown
log, on DuckDB and on Spark (local mode).
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from event_data import random_sessions
from pozytywka.engine import DuckDBEngine
from pozytywka.plays import update_weekly_popularity, weekly_popularity


def _events(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    frame["row_number"] = range(len(frame))
    return frame


# The log starts Monday 2024-01-01; the earlier run's log ended Sunday 01-14 23:59:00,
# so weeks 01-01 and 01-08 were complete.
EARLIER = [
    ("s0", "2024-01-01 00:00:00", "u0", None, "advertisement"),
    ("s1", "2024-01-03 10:00:00", "u1", "b", "play"),  # s1 is still open (no next play)
    ("s2", "2024-01-14 23:59:00", "u2", "a", "play"),  # Sunday night, nothing after it yet
]
LATER = [
    ("s2", "2024-01-15 00:00:01", "u2", "a", "skip"),  # a's Sunday play was skipped
    ("s1", "2024-01-15 10:00:00", "u1", "b", "skip"),  # so was b's play 12 days ago
    ("s3", "2024-01-21 12:00:00", "u3", "c", "play"),  # completes week 01-15
]
PREVIOUS_END = pd.Timestamp("2024-01-14 23:59:00")


def test_a_monday_skip_changes_the_last_finished_week_and_an_open_session_widens_the_window():
    previous = weekly_popularity(_events(EARLIER))
    assert previous.set_index("track_id")["popularity"].to_dict() == {"a": 1, "b": 1}
    grown = _events(EARLIER + LATER)
    got, start = update_weekly_popularity(previous, grown, PREVIOUS_END)
    # s1 opened in week 01-01 and goes on after the earlier end: recompute from 01-01
    assert start == pd.Timestamp("2024-01-01")
    assert_frame_equal(got, weekly_popularity(grown))
    popularity = got.set_index(["week_start", "track_id"])["popularity"].to_dict()
    assert popularity == {
        (pd.Timestamp("2024-01-01"), "b"): 0,
        (pd.Timestamp("2024-01-08"), "a"): 0,
        (pd.Timestamp("2024-01-15"), "a"): 0,  # the skips' own rows: counted in their week
        (pd.Timestamp("2024-01-15"), "b"): 0,
        (pd.Timestamp("2024-01-15"), "c"): 1,
    }


def test_without_an_open_session_only_the_last_finished_week_and_the_new_one_are_recomputed():
    earlier = [r for r in EARLIER if r[0] != "s1"]
    later = [r for r in LATER if r[0] != "s1"]
    previous = weekly_popularity(_events(earlier))
    # a row the update must keep untouched: week 01-01 is final
    previous.loc[len(previous)] = [pd.Timestamp("2024-01-01"), "z", 9, 9, 0, 0, 9, 9]
    grown = _events(earlier + later)
    got, start = update_weekly_popularity(previous, grown, PREVIOUS_END)
    assert start == pd.Timestamp("2024-01-08")  # w, the last finished week
    assert got.iloc[0].tolist() == [pd.Timestamp("2024-01-01"), "z", 9, 9, 0, 0, 9, 9]
    assert_frame_equal(got.iloc[1:].reset_index(drop=True), weekly_popularity(grown))


def _cuts(sessions: pd.DataFrame) -> list[pd.Timestamp]:
    """Earlier log ends: a Sunday night, a Monday morning, mid-week."""
    return [pd.Timestamp(t) for t in ("2024-01-21 23:50", "2024-01-29 00:30", "2024-02-07 13:00")]


def _check_cuts(sessions: pd.DataFrame, engine) -> list[pd.Timestamp]:
    full = weekly_popularity(sessions, engine)
    starts = []
    for cut in _cuts(sessions):
        earlier = sessions[sessions["timestamp"] <= cut]
        previous_end = earlier["timestamp"].max()
        previous = weekly_popularity(earlier, engine)
        got, start = update_weekly_popularity(previous, sessions, previous_end, engine)
        assert_frame_equal(got, full, obj=f"cut at {cut}")
        starts.append(start)
    return starts


def test_on_random_sessions_the_update_equals_a_full_recomputation_on_duckdb():
    sessions = random_sessions(seed=11, sessions=900, weeks=7)
    starts = _check_cuts(sessions, DuckDBEngine())
    # short sessions: each update starts at the last week the earlier log finished
    assert starts == [pd.Timestamp(w) for w in ("2024-01-15", "2024-01-22", "2024-01-29")]


@pytest.mark.spark
@pytest.mark.needs("java")
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_on_random_sessions_the_update_equals_a_full_recomputation_on_spark():
    pytest.importorskip("pyspark")
    from pozytywka.engine import SparkEngine, spark_session, stop_spark

    spark = spark_session("local[2]", app_name="pozytywka-incremental")
    engine = SparkEngine(spark)
    try:
        sessions = random_sessions(seed=11, sessions=900, weeks=7)
        starts = _check_cuts(sessions, engine)
        assert starts == [pd.Timestamp(w) for w in ("2024-01-15", "2024-01-22", "2024-01-29")]
    finally:
        engine.close()
        stop_spark(spark)
