"""The yardstick: weekly track popularity in ONE DuckDB query from the raw dump.

Issue 6 asks how far ``ingest`` + ``features`` are from a single well-optimised
query on the same machine. This query reads ``sessions.jsonl`` (or ``.gz``, or
part files) straight from the dump and computes DESIGN §4's popularity (distinct
users with at least one full play per ISO week and track, complete weeks only)
with two window passes and one aggregation: no joins, no intermediate files.

It applies the same full-play rule as :mod:`pozytywka.plays` (a play is not full
when a skip of the same track falls at or after it and at or before the next
play strictly later in the session) and the cheap repairs that change counts
(missing-id tokens, a missing user recovered from its session, event types
lower-cased), but not the ones that need other files (duplicate songs merged
into one track id needs ``tracks.jsonl``) or a full row account; so its numbers
agree with the pipeline's on almost every (week, track), and the benchmark
reports the agreement.

Run as ``python -m pozytywka.bench.reference DUMP OUT.parquet`` so that it is
measured exactly like a stage (its own process, start-up included).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from ..errors import PozytywkaError

THREADS = 2  # as pozytywka.plays: the same cores the pipeline gets


def sessions_glob(dump: str | Path) -> str:
    """The sessions file(s) of a dump: ``sessions.jsonl``, ``.jsonl.gz`` or part files."""
    dump = Path(dump)
    found = sorted(dump.glob("sessions*.jsonl*"))
    if not found:
        raise PozytywkaError(f"no sessions.jsonl[.gz] in {dump}: is it a Pozytywka dump?")
    return str(dump / "sessions*.jsonl*")


def reference_sql(source: str) -> str:
    """The one query: weekly popularity per (week_start, track_id), complete weeks only.

    ``source`` is a path or glob of JSON-lines session files. ``next_play`` is the
    first play strictly after the row in its session (the RANGE frame starts one
    microsecond later, so tied plays are peers, not successors); ``next_skip`` is
    the first skip of the same track at or after the row (RANGE CURRENT ROW
    includes ties). A play is full when there is no such skip, or it comes after
    the next play.
    """
    path = source.replace("'", "''")

    def clean_id(col: str) -> str:
        # blank, "null"-like tokens and the -1 sentinel are missing ids; 12.0 is 12
        return (
            f"CASE WHEN lower(trim({col})) IN ('', 'null', 'none', 'nan', 'n/a', '-1') "
            f"THEN NULL ELSE regexp_replace(trim({col}), '\\.0+$', '') END"
        )

    return f"""
WITH raw AS (
    SELECT {clean_id("session_id")} AS session_id,
           {clean_id("user_id")} AS user_id,
           {clean_id("track_id")} AS track_id,
           lower(trim(event_type)) AS event_type,
           TRY_CAST("timestamp" AS TIMESTAMP) AS ts
    FROM read_json('{path}', format = 'newline_delimited', ignore_errors = true,
                   columns = {{session_id: 'VARCHAR', "timestamp": 'VARCHAR',
                              user_id: 'VARCHAR', track_id: 'VARCHAR', event_type: 'VARCHAR'}})
),
span AS (
    -- complete weeks as pozytywka.weeks.complete_weeks: the log covers the Monday
    SELECT CASE WHEN date_trunc('day', MIN(ts)) = date_trunc('week', MIN(ts))
                THEN date_trunc('week', MIN(ts))
                ELSE date_trunc('week', MIN(ts)) + INTERVAL 7 DAY END AS first_week,
           date_trunc('day', MAX(ts)) AS last_day
    FROM raw
),
marked AS (
    SELECT track_id, ts, event_type,
           -- a missing user is the session's user when the session names only one
           COALESCE(user_id, CASE WHEN MIN(user_id) OVER s = MAX(user_id) OVER s
                                  THEN MIN(user_id) OVER s END) AS user_id,
           MIN(CASE WHEN event_type = 'play' THEN ts END) OVER (
               PARTITION BY session_id ORDER BY ts
               RANGE BETWEEN INTERVAL 1 MICROSECOND FOLLOWING AND UNBOUNDED FOLLOWING
           ) AS next_play,
           MIN(CASE WHEN event_type = 'skip' THEN ts END) OVER (
               PARTITION BY session_id, track_id ORDER BY ts
               RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
           ) AS next_skip
    FROM raw
    WHERE event_type IN ('play', 'skip') AND ts IS NOT NULL
      AND session_id IS NOT NULL AND track_id IS NOT NULL
    WINDOW s AS (PARTITION BY session_id)
)
SELECT CAST(date_trunc('week', m.ts) AS TIMESTAMP) AS week_start,
       m.track_id,
       COUNT(DISTINCT m.user_id) FILTER (
           WHERE m.next_skip IS NULL OR (m.next_play IS NOT NULL AND m.next_skip > m.next_play)
       ) AS popularity
FROM marked m, span s
WHERE m.event_type = 'play'
  AND date_trunc('week', m.ts) >= s.first_week
  AND date_trunc('week', m.ts) + INTERVAL 6 DAY <= s.last_day
GROUP BY ALL
ORDER BY week_start, track_id
"""


def run_reference(dump: str | Path, out: str | Path) -> int:
    """Run the query on ``dump`` and write its result to ``out`` (Parquet); rows written."""
    con = duckdb.connect()
    con.execute(f"SET threads TO {THREADS}")
    target = str(out).replace("'", "''")
    con.execute(f"COPY ({reference_sql(sessions_glob(dump))}) TO '{target}' (FORMAT parquet)")
    rows = con.execute(f"SELECT COUNT(*) FROM read_parquet('{target}')").fetchone()[0]
    con.close()
    return int(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m pozytywka.bench.reference DUMP OUT.parquet", file=sys.stderr)
        return 2
    try:
        rows = run_reference(args[0], args[1])
    except PozytywkaError as exc:
        print(f"reference: error: {exc}", file=sys.stderr)
        return 2
    print(f"reference: {rows} (week, track) rows -> {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
