"""The service's clock: the wall clock, or a manual one for simulating a past week.

Times are naive UTC datetimes (microseconds), as the store keeps them. A
:class:`ManualClock` starts at a given instant and moves only forward, when an
admin sets it (``PUT /v1/admin/clock``): the traffic driver uses it to play the
published week, which is in the past for the synthetic data, with the event
times the behaviour model gave them.
"""

from __future__ import annotations

import datetime as dt
import threading


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def to_naive_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime converted to UTC without tzinfo; a naive one is taken as UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


class WallClock:
    manual = False

    def now(self) -> dt.datetime:
        return utc_now()


class ManualClock:
    """A clock that reads ``start`` until :meth:`set` moves it forward."""

    manual = True

    def __init__(self, start: dt.datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, value: dt.datetime) -> dt.datetime:
        """Move the clock to ``value``; raises ValueError when that is earlier than now."""
        with self._lock:
            if value < self._now:
                raise ValueError(f"the clock only moves forward (now {self._now.isoformat()})")
            self._now = value
            return self._now
