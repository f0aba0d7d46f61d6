"""The one place where a week is defined.

A week is an ISO week: Monday 00:00 to the next Monday 00:00, UTC. Timestamps
in the project are timezone-naive and mean UTC. Playlists are published for
the week after the last *complete* week in the data.
"""

from __future__ import annotations

import pandas as pd

WEEK = pd.Timedelta(days=7)


def week_start(timestamps: pd.Series) -> pd.Series:
    """Monday 00:00 of the ISO week holding each timestamp (NaT stays NaT)."""
    ts = pd.to_datetime(timestamps)
    days = ts.dt.normalize()
    return days - pd.to_timedelta(days.dt.weekday, unit="D")


def week_start_of(timestamp: pd.Timestamp) -> pd.Timestamp:
    """Monday 00:00 of the ISO week holding one timestamp."""
    day = pd.Timestamp(timestamp).normalize()
    return day - pd.Timedelta(days=day.weekday())


def complete_weeks(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Week starts of the weeks fully covered by events from ``first`` to ``last``.

    A week counts as complete when the log covers its first and its last day:
    the first event is on or before its Monday and the last event on or after its
    Sunday. Asking for an event on each end day, rather than one at exactly
    Monday 00:00, keeps a quiet first morning from costing a week, while a log
    that starts on a Wednesday or stops on a Thursday (partial weeks) still loses
    them. Both ends are judged the same way.
    """
    first_full = week_start_of(first)
    if pd.Timestamp(first).normalize() > first_full:
        first_full += WEEK
    last_day = pd.Timestamp(last).normalize()
    weeks = []
    w = first_full
    while w + WEEK - pd.Timedelta(days=1) <= last_day:
        weeks.append(w)
        w += WEEK
    return weeks


def complete_weeks_between(first, last) -> list[pd.Timestamp]:
    """:func:`complete_weeks`, or no weeks when there is no event (``first``/``last`` None/NaT)."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return []
    return complete_weeks(pd.Timestamp(first), pd.Timestamp(last))


def target_week(last_complete_week: pd.Timestamp) -> pd.Timestamp:
    """The week playlists are published for: the one after the last complete week."""
    return pd.Timestamp(last_complete_week) + WEEK
