"""A dump folder -> the compact log the realism statistics read (:mod:`pozytywka.realism.stats`).

The dump goes through the project's own ingest (:func:`pozytywka.ingest.ingest_dump`),
so it is cleaned exactly as the pipeline cleans it; the sessions table is
streamed to a temporary Parquet file and read back in DuckDB, which judges full
plays with the pipeline's SQL (:func:`pozytywka.plays.play_outcomes_sql`) and
turns every id into a small integer code, so that even the 1.4M-event dump
becomes a frame of a few tens of megabytes.

Only events in the dump's complete weeks (:func:`pozytywka.weeks.complete_weeks`)
are kept; ``week`` 0 is the first complete week.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import duck
from ..errors import PozytywkaError
from ..ingest import ingest_dump
from ..ingest.read import locate_dump
from ..plays import play_outcomes_sql

log = logging.getLogger(__name__)

DUCKDB_MEMORY_LIMIT = "2GB"


@dataclass
class CompactLog:
    """One dump, as the statistics read it (see :mod:`pozytywka.realism.stats`).

    ``available``: tracks of the catalogue released by the end of each week
    (index: week code); a track with no release date counts from the start.
    """

    events: pd.DataFrame
    track_genres: pd.DataFrame
    available: pd.Series
    first_week: str
    weeks: int
    listeners: int
    tracks: int
    genres: int


def missing_files(folder: str | Path) -> str | None:
    """Why ``folder`` cannot be read as a dump (one line), or None when it has every file."""
    try:
        locate_dump(folder)
    except PozytywkaError as exc:
        return str(exc)
    return None


_COMPACT_SQL = """
WITH weeks AS (
    SELECT CAST(? AS TIMESTAMP) AS first_week, CAST(? AS TIMESTAMP) AS end_week
),
kept AS (
    SELECT s.row_number, s.session_id, s.user_id, s.track_id, s.event_type,
           CAST(date_diff('day', w.first_week, date_trunc('week', s."timestamp")) / 7 AS INTEGER)
               AS week
    FROM sessions s, weeks w
    WHERE s."timestamp" >= w.first_week AND s."timestamp" < w.end_week
),
users AS (SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS code
          FROM (SELECT DISTINCT user_id FROM kept)),
sess AS (SELECT session_id, row_number() OVER (ORDER BY session_id) - 1 AS code
         FROM (SELECT DISTINCT session_id FROM kept))
SELECT k.row_number, u.code AS "user", x.code AS "session", k.week,
       coalesce(t.code, -1) AS track,
       CASE WHEN k.event_type IN ('play', 'skip', 'like') THEN k.event_type ELSE 'other' END
           AS event,
       coalesce(o.is_full = 1, false) AS is_full
FROM kept k
JOIN users u USING (user_id)
JOIN sess x USING (session_id)
LEFT JOIN track_codes t USING (track_id)
LEFT JOIN outcomes o USING (row_number)
ORDER BY k.row_number
"""


def compact_log(source: str | Path) -> CompactLog:
    """Ingest the dump in ``source`` and return its compact log.

    Raises :class:`~pozytywka.errors.PozytywkaError` (one line) when the folder is
    not a usable dump or has no complete week.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pozytywka-realism-") as tmp:
        sessions_path = Path(tmp) / "sessions.parquet"
        result = ingest_dump(source, write={"sessions": sessions_path})
        window = result.quality["window"]
        if not window["complete_weeks"]:
            raise PozytywkaError(f"{source}: no complete week of events")
        first = pd.Timestamp(window["first_complete_week"])
        end = pd.Timestamp(window["last_complete_week"]) + pd.Timedelta(weeks=1)
        tracks = result.tables["tracks"][["track_id", "release_date"]]
        genres = result.tables["track_genres"]
        con = duck.connect(memory_limit=DUCKDB_MEMORY_LIMIT, temp_directory=tmp)
        try:
            con.register("tracks_df", tracks)
            con.register("genres_df", genres)
            path = str(sessions_path).replace("'", "''")
            con.execute(f"CREATE VIEW sessions AS SELECT * FROM read_parquet('{path}')")
            con.execute("""
                CREATE TABLE track_codes AS
                SELECT track_id, row_number() OVER (ORDER BY track_id) - 1 AS code
                FROM (SELECT track_id FROM tracks_df
                      UNION SELECT track_id FROM sessions WHERE track_id IS NOT NULL)
            """)
            con.execute(
                f"CREATE TABLE outcomes AS SELECT row_number, is_full "
                f"FROM ({play_outcomes_sql('sessions')})"
            )
            events = con.execute(_COMPACT_SQL, [first, end]).df()
            track_genres = con.execute("""
                SELECT t.code AS track, g.code AS genre
                FROM genres_df d
                JOIN track_codes t USING (track_id)
                JOIN (SELECT genre, row_number() OVER (ORDER BY genre) - 1 AS code
                      FROM (SELECT DISTINCT genre FROM genres_df)) g USING (genre)
                ORDER BY track, genre
            """).df()
            n_weeks = int(window["complete_weeks"])
            released = con.execute(
                """
                SELECT CAST(greatest(0, least(?, floor(
                           date_diff('second', CAST(? AS TIMESTAMP), release_date) / 604800.0)))
                       AS INTEGER) AS week,
                       count(*) AS n
                FROM tracks_df
                GROUP BY 1 ORDER BY 1
                """,
                [n_weeks, first],
            ).df()
        finally:
            con.close()
    # a track released during week w is available from week w on; NULL dates from week 0
    released["week"] = released["week"].fillna(0).astype(int)
    per_week = released.groupby("week")["n"].sum().reindex(range(n_weeks + 1), fill_value=0)
    available = per_week.cumsum().iloc[:n_weeks]
    events = events.drop(columns="row_number").astype(
        {
            "user": "int32",
            "session": "int32",
            "week": "int16",
            "track": "int32",
            "event": "category",
        }
    )
    track_genres = track_genres.astype({"track": "int32", "genre": "int32"})
    log.info(
        "%s: %d events in %d complete weeks (%.1fs)",
        source,
        len(events),
        n_weeks,
        time.perf_counter() - started,
    )
    return CompactLog(
        events=events,
        track_genres=track_genres,
        available=available,
        first_week=first.date().isoformat(),
        weeks=n_weeks,
        listeners=int(events["user"].nunique()),
        tracks=len(tracks),
        genres=int(track_genres["genre"].nunique()),
    )
