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

    A week is complete when the data starts at or before its Monday 00:00 and
    runs past its last day (an event on the following Monday or later, or on its
    Sunday when the data simply ends there is *not* enough: we need evidence the
    log reached the end of the week, so the last event must be on or after the
    week's Sunday). Partial first and last weeks are left out.
    """
    first_full = week_start_of(first)
    if first_full < pd.Timestamp(first):
        first_full += WEEK
    last_ts = pd.Timestamp(last)
    weeks = []
    w = first_full
    while w + WEEK - pd.Timedelta(days=1) <= last_ts.normalize():
        weeks.append(w)
        w += WEEK
    return weeks


def target_week(last_complete_week: pd.Timestamp) -> pd.Timestamp:
    """The week playlists are published for: the one after the last complete week."""
    return pd.Timestamp(last_complete_week) + WEEK
