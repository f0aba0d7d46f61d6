"""The skip-prediction target: one row per ``play`` event (DESIGN §10).

``skipped`` = 1 when the play is not a full play, 0 when it is, by the one
full-play rule of :mod:`pozytywka.plays` (:func:`pozytywka.plays.play_outcomes_sql`).

**When an outcome is known.** A skipped play's outcome is known at its skip; a
full play's at the session's next play, or at the session's end (its last event)
when it was the session's last play. ``known_at`` holds that time: history
features (:mod:`pozytywka.skips.features`) count a play only once ``known_at`` is
before the week they are computed for, so a Sunday-night play whose outcome
arrives on Monday belongs to the history of the week after next.

``skip_after_s`` = seconds from the play to its skip (the skip point the log
records; NaN for full plays); the cache simulation turns it into a share of the
track, with a param for skips the log gives no usable position for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from .. import duck
from ..engine import DuckDBEngine, Engine
from ..plays import play_outcomes_sql

TARGET_COLUMNS = [
    "play_id",
    "session_id",
    "user_id",
    "track_id",
    "ts",
    "week_start",
    "known_at",
    "skipped",
    "skip_after_s",
]


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """The pipeline's DuckDB connection (:func:`pozytywka.duck.connect`)."""
    return duck.connect()


def with_row_numbers(sessions: pd.DataFrame) -> pd.DataFrame:
    """The interim sessions table; tables made by hand get ``row_number`` = their row order."""
    if "row_number" in sessions.columns:
        return sessions
    return sessions.assign(row_number=np.arange(len(sessions), dtype="int64"))


def play_targets_sql(sessions: str = "sessions") -> str:
    """SQL: :data:`TARGET_COLUMNS` (unsorted, raw types) for the plays of view ``sessions``.

    The one text both engines run (:mod:`pozytywka.engine`): ``date_diff('microsecond',
    ...)`` is exact integer microseconds on DuckDB and Spark alike.
    """
    return f"""
WITH p AS ({play_outcomes_sql(sessions)}),
ends AS (
    SELECT session_id, MAX("timestamp") AS session_end
    FROM {sessions} WHERE session_id IS NOT NULL GROUP BY session_id
)
SELECT p.row_number AS play_id, p.session_id, p.user_id, p.track_id, p.ts,
       date_trunc('week', p.ts) AS week_start,
       CASE WHEN p.is_full = 1 THEN COALESCE(p.next_play, e.session_end) ELSE p.next_skip END
           AS known_at,
       1 - p.is_full AS skipped,
       CASE WHEN p.is_full = 0 THEN date_diff('microsecond', p.ts, p.next_skip) / 1e6 END
           AS skip_after_s
FROM p JOIN ends e USING (session_id)
"""


def play_targets(
    sessions: pd.DataFrame | str | os.PathLike[str],
    weeks: Sequence[pd.Timestamp] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """One row per play event of the interim ``sessions`` table, with its outcome.

    Columns :data:`TARGET_COLUMNS`: ``play_id`` (the play's interim ``row_number``),
    ``session_id``, ``user_id`` (may be null in real dumps), ``track_id``, ``ts``,
    ``week_start`` (the play's ISO week), ``known_at``, ``skipped`` (int8 0/1),
    ``skip_after_s`` (float seconds, NaN for full plays). Plays without a session or
    a track are not judged (as in :mod:`pozytywka.plays`). ``weeks``: keep only the
    plays of these week starts (the complete weeks); None keeps all. Sorted by
    ``ts``, ``play_id``.
    """
    if isinstance(sessions, pd.DataFrame):
        sessions = with_row_numbers(sessions)
    engine = DuckDBEngine() if engine is None else engine
    out = engine.query(play_targets_sql("sessions"), {"sessions": sessions})
    for col in ("ts", "week_start", "known_at"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[us]")
    out["play_id"] = out["play_id"].astype("int64")
    out["skipped"] = out["skipped"].astype("int8")
    out["skip_after_s"] = out["skip_after_s"].astype(float)
    for col in ("session_id", "user_id", "track_id"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    if weeks is not None:
        keep = pd.DatetimeIndex(list(weeks)).astype("datetime64[us]")
        out = out[out["week_start"].isin(keep)]
    out = out.sort_values(["ts", "play_id"], kind="stable").reset_index(drop=True)
    return out[TARGET_COLUMNS]


def session_outcomes(events: Sequence[tuple[int, str, str | None]]) -> list[tuple[int, int]]:
    """``(start, skipped)`` of each play of one session, by the full-play rule, in plain Python.

    The serving path's counterpart of :func:`play_targets` for one live session
    (a handful of events: a DuckDB query would cost ~100 ms per request).
    ``events``: ``(time, event_type, track_id)`` with any integer time unit;
    ``play``/``skip`` events without a track are ignored, as in
    :func:`pozytywka.plays.judged_events_sql`. The rule of :mod:`pozytywka.plays`: a
    play of T at t is skipped when a skip of T falls at s with ``t <= s <= n``
    (n = the next play strictly after t, any track), or ``s >= t`` when no play
    follows. A property test checks it against :func:`play_targets` on random
    sessions, ties included.
    """
    plays = [(t, k) for t, e, k in events if e == "play" and k is not None]
    skips = [(t, k) for t, e, k in events if e == "skip" and k is not None]
    out = []
    for t, track in plays:
        next_play = min((u for u, _ in plays if u > t), default=None)
        next_skip = min((s for s, k in skips if k == track and s >= t), default=None)
        full = next_skip is None or (next_play is not None and next_skip > next_play)
        out.append((t, 0 if full else 1))
    return out
