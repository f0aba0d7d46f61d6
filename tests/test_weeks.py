"""The week definition: ISO weeks, Monday 00:00 UTC, complete weeks only."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pozytywka.weeks import WEEK, complete_weeks, target_week, week_start, week_start_of


def test_sunday_night_and_monday_midnight_fall_in_different_weeks():
    ts = pd.Series(
        pd.to_datetime(["2024-01-07 23:59:59.999", "2024-01-08 00:00:00"], format="ISO8601")
    )
    assert list(week_start(ts)) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]


def test_missing_timestamps_stay_missing():
    ts = pd.Series(pd.to_datetime(["2024-01-03 10:00", None]))
    assert week_start(ts).isna().tolist() == [False, True]


@given(st.datetimes(min_value=pd.Timestamp("2000-01-01"), max_value=pd.Timestamp("2100-01-01")))
def test_week_start_is_the_monday_at_or_before(moment):
    start = week_start_of(moment)
    assert start.weekday() == 0 and start == start.normalize()
    assert start <= pd.Timestamp(moment) < start + WEEK


def test_partial_first_and_last_weeks_are_not_complete():
    # Wednesday 2024-01-03 .. Wednesday 2024-01-24: full weeks of Jan 8 and Jan 15 only.
    weeks = complete_weeks(pd.Timestamp("2024-01-03 08:00"), pd.Timestamp("2024-01-24 12:00"))
    assert weeks == [pd.Timestamp("2024-01-08"), pd.Timestamp("2024-01-15")]
    assert target_week(weeks[-1]) == pd.Timestamp("2024-01-22")


def test_data_starting_at_monday_midnight_and_ending_on_sunday_keeps_both_ends():
    weeks = complete_weeks(pd.Timestamp("2024-01-01 00:00"), pd.Timestamp("2024-01-14 21:00"))
    assert weeks == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]


def test_less_than_a_week_has_no_complete_week():
    assert complete_weeks(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-06 23:00")) == []


def test_a_log_starting_on_monday_morning_keeps_its_first_week():
    # First event at 00:04 on Monday: the week is complete (a quiet first minutes).
    weeks = complete_weeks(pd.Timestamp("2024-01-01 00:04:28"), pd.Timestamp("2024-01-14 23:59"))
    assert weeks == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    # First event on Tuesday: the log started mid-week, the week is partial.
    weeks = complete_weeks(pd.Timestamp("2024-01-02 00:00"), pd.Timestamp("2024-01-14 23:59"))
    assert weeks == [pd.Timestamp("2024-01-08")]
