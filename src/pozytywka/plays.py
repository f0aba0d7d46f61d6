"""Full plays and weekly track popularity (DESIGN §4), as portable SQL.

The SQL text lives here, in one place, parameterised by table names, so the
same query runs on DuckDB (the default engine, on the interim Parquet tables or
DataFrames) and on Spark SQL (issue 6 registers the same tables as temporary
views and runs :func:`weekly_popularity_sql` unchanged). It therefore sticks to
standard SQL and window functions: no ASOF joins, QUALIFY, list functions or
other engine-only syntax. ``date_trunc('week', ts)`` is the Monday 00:00 of the
ISO week on both engines, which is :mod:`pozytywka.weeks`' definition.

**Full play rule.** A play of track T at time t in session S is *not* full when
S holds a skip of T at a time s with ``t <= s <= n``, where n is the timestamp
of the next play in S strictly after t (any track), or ``s >= t`` with no upper
bound when no later play exists. Otherwise it is full. Why inclusive bounds and
"strictly after": timestamps that tie inside a session come in an unreliable
order (file order is not event order), so the rule never looks at file order.
A skip at the same instant as the play, or at the same instant as the next
play, is taken to belong to the play (the user skipped it to get to the next
one). Plays of T that tie at t are judged together (the same answer for all).
A skip of another track never affects T's plays.

Weekly popularity of a track = distinct users with at least one full play in
the week; a play belongs to the week of its own timestamp (a play on Sunday
23:59:59 skipped on Monday 00:00:00 is a non-full play of the earlier week).
"""

from __future__ import annotations

import os

import duckdb
import pandas as pd

from .weeks import complete_weeks

WEEKLY_COLUMNS = [
    "week_start",
    "track_id",
    "plays",
    "full_plays",
    "skips",
    "likes",
    "listeners",
    "popularity",
]


def full_plays_sql(sessions: str = "sessions") -> str:
    """SQL selecting every play event with an ``is_full`` flag (1/0).

    Output columns: ``session_id``, ``user_id``, ``track_id``, ``ts``, ``is_full``
    (one row per play event, duplicates kept so that play counts are counts of
    events). ``sessions`` names a table or view in the interim ``sessions`` schema.
    """
    return f"""
WITH ev AS (
    SELECT session_id, user_id, track_id, event_type, "timestamp" AS ts
    FROM {sessions}
    WHERE track_id IS NOT NULL AND session_id IS NOT NULL AND "timestamp" IS NOT NULL
),
play_events AS (
    SELECT session_id, user_id, track_id, ts FROM ev WHERE event_type = 'play'
),
play_times AS (
    SELECT DISTINCT session_id, ts FROM play_events
),
next_play AS (
    SELECT session_id, ts, LEAD(ts) OVER (PARTITION BY session_id ORDER BY ts) AS next_ts
    FROM play_times
),
play_keys AS (
    SELECT DISTINCT p.session_id, p.track_id, p.ts, n.next_ts
    FROM play_events p
    JOIN next_play n ON p.session_id = n.session_id AND p.ts = n.ts
),
skip_events AS (
    SELECT DISTINCT session_id, track_id, ts FROM ev WHERE event_type = 'skip'
),
judged AS (
    SELECT k.session_id, k.track_id, k.ts,
           CASE WHEN COUNT(s.ts) = 0 THEN 1 ELSE 0 END AS is_full
    FROM play_keys k
    LEFT JOIN skip_events s
      ON s.session_id = k.session_id
     AND s.track_id = k.track_id
     AND s.ts >= k.ts
     AND (k.next_ts IS NULL OR s.ts <= k.next_ts)
    GROUP BY k.session_id, k.track_id, k.ts
)
SELECT p.session_id, p.user_id, p.track_id, p.ts, j.is_full
FROM play_events p
JOIN judged j ON p.session_id = j.session_id AND p.track_id = j.track_id AND p.ts = j.ts
"""


def weekly_popularity_sql(sessions: str = "sessions") -> str:
    """SQL for weekly counts per (week_start, track_id) over *all* weeks in ``sessions``.

    Columns as :data:`WEEKLY_COLUMNS`: plays, full plays, skips and likes are event
    counts; ``listeners`` = distinct users with a play; ``popularity`` = distinct
    users with a full play (DESIGN §4). Filtering to complete weeks is done by the
    caller (:func:`weekly_popularity`), because which weeks are complete depends on
    the whole log's time span, not on a track's rows.
    """
    return f"""
WITH plays AS ({full_plays_sql(sessions)}),
flags AS (
    SELECT track_id, user_id, ts, 1 AS is_play, is_full, 0 AS is_skip, 0 AS is_like
    FROM plays
    UNION ALL
    SELECT track_id, user_id, "timestamp" AS ts, 0 AS is_play, 0 AS is_full,
           CASE WHEN event_type = 'skip' THEN 1 ELSE 0 END AS is_skip,
           CASE WHEN event_type = 'like' THEN 1 ELSE 0 END AS is_like
    FROM {sessions}
    WHERE track_id IS NOT NULL AND "timestamp" IS NOT NULL AND event_type IN ('skip', 'like')
)
SELECT date_trunc('week', ts) AS week_start,
       track_id,
       SUM(is_play) AS plays,
       SUM(is_full) AS full_plays,
       SUM(is_skip) AS skips,
       SUM(is_like) AS likes,
       COUNT(DISTINCT CASE WHEN is_play = 1 THEN user_id END) AS listeners,
       COUNT(DISTINCT CASE WHEN is_full = 1 THEN user_id END) AS popularity
FROM flags
GROUP BY date_trunc('week', ts), track_id
"""


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # The machine's two cores are shared with other stages; results do not depend on it.
    con.execute("SET threads TO 2")
    return con


def full_plays(sessions: pd.DataFrame) -> pd.DataFrame:
    """Every play event of the interim ``sessions`` table with ``is_full`` (bool).

    Sorted by session, timestamp, track: deterministic whatever the input order.
    """
    con = _duckdb()
    con.register("sessions", sessions)
    out = con.sql(full_plays_sql("sessions")).df()
    con.close()
    out["is_full"] = out["is_full"].astype(bool)
    return out.sort_values(["session_id", "ts", "track_id", "user_id"], kind="stable").reset_index(
        drop=True
    )


def weekly_popularity(sessions: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """Weekly popularity per (week_start, track_id) over the complete weeks only.

    ``sessions`` is the interim table, as a DataFrame or the path of its Parquet
    file (DuckDB then scans the file itself: no pandas copy of the events). A
    week is complete by :func:`pozytywka.weeks.complete_weeks` over the time span
    of *all* events (ads included: they show the log was running). Rows sorted by
    week, track; counts are int64 and ``week_start`` is ``datetime64[us]``.
    """
    con = _duckdb()
    if isinstance(sessions, pd.DataFrame):
        con.register("sessions", sessions)
    else:
        path = os.fspath(sessions).replace("'", "''")
        con.execute(f"CREATE VIEW sessions AS SELECT * FROM read_parquet('{path}')")
    first, last = con.sql('SELECT MIN("timestamp"), MAX("timestamp") FROM sessions').fetchall()[0]
    if first is None:
        con.close()
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in WEEKLY_COLUMNS}).astype(
            {"week_start": "datetime64[us]", "track_id": "str"}
        )
    weeks = complete_weeks(pd.Timestamp(first), pd.Timestamp(last))
    out = con.sql(weekly_popularity_sql("sessions")).df()
    con.close()
    out["week_start"] = pd.to_datetime(out["week_start"]).astype("datetime64[us]")
    out = out[out["week_start"].isin(pd.DatetimeIndex(weeks).astype("datetime64[us]"))].copy()
    for col in WEEKLY_COLUMNS[2:]:
        out[col] = out[col].astype("int64")
    out["track_id"] = out["track_id"].astype(str)
    out = out.sort_values(["week_start", "track_id"], kind="stable").reset_index(drop=True)
    return out[WEEKLY_COLUMNS]


def complete_week_starts(sessions: pd.DataFrame | str | os.PathLike[str]) -> list[pd.Timestamp]:
    """The complete weeks of a sessions table or Parquet file (empty list for no events)."""
    if isinstance(sessions, pd.DataFrame):
        ts = sessions["timestamp"].dropna()
        return complete_weeks(ts.min(), ts.max()) if len(ts) else []
    path = os.fspath(sessions).replace("'", "''")
    con = _duckdb()
    first, last = con.sql(
        f'SELECT MIN("timestamp"), MAX("timestamp") FROM read_parquet(\'{path}\')'
    ).fetchall()[0]
    con.close()
    return complete_weeks(pd.Timestamp(first), pd.Timestamp(last)) if first is not None else []
