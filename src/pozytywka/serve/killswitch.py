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
(:mod:`.readout`, :mod:`.products`) analyses only what happened before the stop: the
listeners exposed before it by their place in the log (:func:`read_stop`), their
requests and events by time.
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


def read_stop(
    store: Store, experiment: str, week_start: dt.date
) -> tuple[str, dt.datetime, int | None] | None:
    """The read-out's cut-off: ``(arm, stopped_at, last_exposure_id)`` of the first stop
    of the experiment's week (:func:`first_stop`), or None.

    ``last_exposure_id`` is the stop's place in the exposure log (the largest exposure
    id when it was made, :meth:`.store.Store.stop_arm`): an exposure is before the stop
    when its id is at most this, exactly, even when the manual clock gives listeners
    exposed before and after the stop the same time (comparing times cannot order
    them). None for a stop recorded without it (a schema-5 store): then by time."""
    stop = first_stop(store.arm_stops(experiment, week_start))
    if stop is None:
        return None
    return stop[0], stop[1], store.stop_positions(experiment, week_start).get(stop[0])


def stop_note(arm: str, stopped_at: dt.datetime, left_out: int) -> str:
    """The read-out's line on a stopped arm."""
    return (
        f"arm {arm} was stopped at {stopped_at.isoformat()} (kill switch): only exposures "
        f"and events before it are analysed; {left_out} listener(s) exposed after it are "
        f"left out"
    )
