"""The kill switch (issue 23): an operator stops one arm of an experiment's week at once.

``POST /v1/admin/experiments/{key}/arms/{arm}/stop`` (admin token) records the stop
in the store (table ``arm_stops``, :meth:`.store.Store.stop_arm`) with the service
time. From the next request, in every worker, the listeners of the stopped arm are
served the other arm: each request asks :class:`ArmStops`, which reads the stops
from the store. Every worker reads the same store, so ``--workers N`` (and several
hosts on PostgreSQL) need no signal: the stop is committed before the admin route
answers, and a request that starts after that answer sees it.

Reading costs: on a SQLite file store, one ``stat`` of the store's marker file per
request (:attr:`.store.Store.stops_marker`, replaced after each new stop); the
stops are re-read from the table only when it changed. On PostgreSQL, one query
per request.

The stop lasts for the experiment's week: a new published week (``POST
/admin/reload``) is a new run with both arms. The global holdout is not affected
(it is served the baseline whatever is stopped). The read-out
(:mod:`.readout`, :mod:`.products`) analyses only what happened before the stop.
"""

from __future__ import annotations

import datetime as dt
import os
import threading

from .store import Store

OTHER = {"A": "B", "B": "A"}


class ArmStops:
    """The stopped arms as one process sees them: cached, re-read when the store's
    marker file changes (or on every call when the store has none)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, dt.date], dict[str, dt.datetime]] = {}
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def _marker(self) -> tuple[int, int, int] | None:
        path = self.store.stops_marker
        if path is None:
            return None
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def stops(self, experiment: str, week_start: dt.date) -> dict[str, dt.datetime]:
        """``arm -> stopped_at`` for the experiment's week (empty: both arms served)."""
        state = self._marker()
        if state is None:
            return self.store.arm_stops(experiment, week_start)
        key = (experiment, week_start)
        with self._lock:
            if state != self._seen:
                self._cache.clear()
                self._seen = state
            hit = self._cache.get(key)
        if hit is None:
            hit = self.store.arm_stops(experiment, week_start)
            with self._lock:
                self._cache[key] = hit
        return hit

    def served_arm(self, experiment: str, week_start: dt.date, arm: str) -> str:
        """The arm to serve a listener assigned ``arm``: the other one when ``arm`` is
        stopped (the holdout's ``"H"`` is returned as it is)."""
        if arm in OTHER and arm in self.stops(experiment, week_start):
            return OTHER[arm]
        return arm


def first_stop(stops: dict[str, dt.datetime]) -> tuple[str, dt.datetime] | None:
    """The earliest ``(arm, stopped_at)`` of ``stops``, or None: the read-out's cut-off."""
    if not stops:
        return None
    arm = min(stops, key=lambda a: (stops[a], a))
    return arm, stops[arm]


def stop_note(arm: str, stopped_at: dt.datetime, left_out: int) -> str:
    """The read-out's line on a stopped arm."""
    return (
        f"arm {arm} was stopped at {stopped_at.isoformat()} (kill switch): only exposures "
        f"and events before it are analysed; {left_out} listener(s) exposed after it are "
        f"left out"
    )
