"""Normalise, repair or drop: the cleaning rules of each dump table, as DuckDB SQL.

Every rule is vectorised SQL over the raw text columns :mod:`.read` extracts, so
the same code cleans a ten-row test dump and ten million session events. Each
``clean_<table>(con, path)`` reads its file (one pass: parse and normalise) and
builds the temp table ``rows_<table>``: one row per input row (malformed lines
included) with

- ``row_number``: the line number in the file;
- ``drop_reason``: null for kept rows, else the first rule (in the order of
  :data:`DROP_REASONS`) the row failed, so each dropped row counts once;
- the contract's output columns, already typed;
- ``rep_<rule>``: how many values of the row that rule repaired (an id ``-1``
  turned into null, an event type re-spelled, a user id recovered ...);
- ``line``: the text of the line, kept only for rows that may be dropped (for
  the sample a person inspects).

Kept-but-noteworthy rows (an unknown event type, a session event whose track is
not in ``tracks``) are counted by the conditions in :data:`FLAGS`.
:mod:`.quality` turns all this into the row account; the rules live here.

Normalisation shared by all tables (SQL macros ``pz_*``):

- ids are trimmed text (``123`` and ``"123"`` are the same id, ``123.0`` too);
  ``""``, ``"null"``/``"none"``/``"nan"``/``"n/a"`` and the sentinel ``-1`` are missing;
- text is trimmed, ``""`` is missing; enums are lower-cased and trimmed;
- lists may be JSON lists, null (an empty list), a JSON list written as a string
  (also with Python quotes) or a comma-separated string; items are lower-cased,
  trimmed, de-duplicated (first occurrence wins, order kept), empty items removed;
- timestamps: one parser (:data:`TIMESTAMP_RULES`, macro ``pz_ts``) for every
  spelling a dump uses; the result is naive UTC.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .read import RawStats, read_table
from .schemas import AUDIO_FEATURES, INPUTS, KNOWN_EVENTS, PLAUSIBLE, TRACK_EVENTS

#: Spellings seen across dump editions, mapped to the canonical event type. They
#: are matched after :func:`_event_sql`'s case folding (``BuyPremium``,
#: ``BUY_PREMIUM``, ``Buy premium`` and ``buy-premium`` are all ``buy_premium``).
#: The sic ``advertisment`` of the original format is canonicalised to ``advertisement``.
EVENT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "advertisement": ("advertisment", "advertisement", "advert", "ad", "ads", "advertising"),
    "play": ("played", "plays"),
    "skip": ("skipped", "skips"),
    "like": ("liked", "likes"),
    "buy_premium": ("buypremium", "premium_bought", "bought_premium"),
}

#: Drop reasons per table, in the order they are tested (first failing wins).
DROP_REASONS: dict[str, tuple[str, ...]] = {
    "artists": ("malformed_json", "artist_id_missing", "duplicate_id"),
    "tracks": ("malformed_json", "track_id_missing", "duplicate_id", "duplicate_song"),
    "users": ("malformed_json", "user_id_missing", "duplicate_id"),
    "sessions": (
        "malformed_json",
        "session_id_missing",
        "timestamp_missing",
        "timestamp_zone_unknown",
        "timestamp_zone_ambiguous",
        "timestamp_invalid",
        "event_type_missing",
        "track_id_missing",
        "user_id_missing",
        "duplicate_event",
    ),
    "track_storage": ("malformed_json", "track_id_missing", "duplicate_id"),
}

_NULL_TOKENS = ("null", "none", "nan", "n/a")
_TRUE = ("1", "1.0", "true", "t", "yes", "y")
_FALSE = ("0", "0.0", "false", "f", "no", "n")


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _event_sql(x: str) -> str:
    """CASE expression mapping a raw event type ``x`` to its canonical name.

    Exact canonical names pass first (the common case on big dumps); a blank
    or null token is null; anything else is folded to lower snake case by
    ``pz_snake`` (CamelCase, UPPER_SNAKE, lower, spaces and hyphens: every
    spelling of one name becomes the same word) and then matched against the
    canonical names and :data:`EVENT_SPELLINGS`; an unknown type keeps its
    snake-case name (and is flagged). Each branch only runs on the rows the
    earlier ones did not match.
    """
    e = f"pz_snake({x})"
    whens = " ".join(
        f"WHEN {e} IN ({_sql_list(spellings)}) THEN '{canonical}'"
        for canonical, spellings in EVENT_SPELLINGS.items()
    )
    return (
        f"CASE WHEN {x} IS NULL THEN NULL WHEN {x} IN ({_sql_list(KNOWN_EVENTS)}) THEN {x} "
        f"WHEN {x} = 'advertisment' THEN 'advertisement' "
        f"WHEN pz_blank({x}) OR pz_token({x}) OR {e} = '' THEN NULL "
        f"WHEN {e} IN ({_sql_list(KNOWN_EVENTS)}) THEN {e} {whens} "
        f"ELSE {e} END"
    )


#: Session timestamps: the one parser (``pz_ts``), as RE2 patterns. A value is
#: a local date-time (``T``, ``t`` or spaces between date and time, optional
#: seconds and fraction, or a date alone) optionally followed, with or without
#: spaces, by a zone: nothing (UTC: the format's default), ``Z``/``z``/``UTC``/
#: ``GMT``, an offset ``+HH``, ``+HHMM``, ``+HH:MM`` or ``+HH:MM:SS`` (also
#: after ``UTC``/``GMT``), or an IANA zone name like ``Europe/Warsaw``. The
#: result is naive UTC. A plain value (no zone, the common case) is cast
#: directly; everything else is split into its parts.
TS_PLAIN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
TS_PARTS = (
    r"^\s*([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|\s+)[0-9]{1,2}:[0-9]{2}"
    r"(?::[0-9]{2}(?:\.[0-9]+)?)?)?)\s*(.*?)\s*$"
)
TZ_UTC = r"(?i)z|utc|gmt"
TZ_OFFSET = r"^(?i:utc|gmt)?([+-])([0-9]{2})(?::?([0-9]{2}))?(?::?([0-9]{2}))?$"
#: A zone name: letters first (``Europe/Warsaw``, ``America/Argentina/Salta``,
#: but also ``CET`` or ``EST``). Only names of the form Area/Location in the
#: time-zone database are converted; an abbreviation is not a zone (what "EST"
#: or "IST" means depends on who wrote it), so such rows are dropped as
#: ``timestamp_zone_unknown``, never guessed.
TZ_NAME = r"[A-Za-z][A-Za-z0-9_+/-]*"


# The guards on ``ascii(x)`` (the first character's code) keep the common case
# cheap on ten million rows: only values starting with a space, tab, '-', 'n' or
# 'N' can be blank, a null token or the -1 sentinel, so only those are trimmed
# and lower-cased. ``pz_ts_plain`` needs no guard: RE2 scans a timestamp faster
# than the string functions a guard would call (0.5 s against 1.5 s on ten
# million timestamps); only the values it rejects are split into parts.
MACROS = rf"""
CREATE OR REPLACE TEMP MACRO pz_blank(x) AS CASE
    WHEN x IS NULL THEN false WHEN x = '' THEN true
    WHEN ascii(x) IN (9, 10, 13, 32) THEN trim(x) = '' ELSE false END;
CREATE OR REPLACE TEMP MACRO pz_token(x) AS CASE
    WHEN x IS NULL OR length(x) > 8 OR ascii(x) NOT IN (9, 32, 78, 110) THEN false
    ELSE lower(trim(x)) IN ({_sql_list(_NULL_TOKENS)}) END;
CREATE OR REPLACE TEMP MACRO pz_sentinel(x) AS CASE
    WHEN x IS NULL OR length(x) > 8 OR ascii(x) NOT IN (9, 32, 45) THEN false
    ELSE trim(x) = '-1' END;
CREATE OR REPLACE TEMP MACRO pz_id(x) AS CASE
    WHEN x IS NULL OR pz_blank(x) OR pz_token(x) OR pz_sentinel(x) THEN NULL
    WHEN contains(x, '.') AND regexp_full_match(trim(x), '-?[0-9]+\.0+')
        THEN regexp_replace(trim(x), '\.0+$', '')
    ELSE trim(x) END;
CREATE OR REPLACE TEMP MACRO pz_text(x) AS CASE WHEN x IS NULL OR trim(x) = '' THEN NULL
    ELSE trim(x) END;
CREATE OR REPLACE TEMP MACRO pz_enum(x) AS CASE
    WHEN x IS NULL OR pz_blank(x) OR pz_token(x) THEN NULL ELSE lower(trim(x)) END;
CREATE OR REPLACE TEMP MACRO pz_event(x) AS {_event_sql("x")};
CREATE OR REPLACE TEMP MACRO pz_num(x) AS try_cast(trim(x) AS DOUBLE);
CREATE OR REPLACE TEMP MACRO pz_in(v, lo, hi) AS CASE WHEN v BETWEEN lo AND hi THEN v END;
CREATE OR REPLACE TEMP MACRO pz_snake(x) AS trim(regexp_replace(lower(regexp_replace(
    regexp_replace(trim(x), '([A-Z]+)([A-Z][a-z])', '\1_\2', 'g'),
    '([a-z0-9])([A-Z])', '\1_\2', 'g')), '[\s_-]+', '_', 'g'), '_');
CREATE OR REPLACE TEMP MACRO pz_ts_plain(x) AS regexp_full_match(x, '{TS_PLAIN}');
CREATE OR REPLACE TEMP MACRO pz_tz_part(v) AS coalesce(try_cast(nullif(v, '') AS INT), 0);
CREATE OR REPLACE TEMP MACRO pz_tz_seconds(p) AS CASE
    WHEN pz_tz_part(p.h) <= 18 AND pz_tz_part(p.m) < 60 AND pz_tz_part(p.s) < 60
    THEN (CASE WHEN p.sign = '-' THEN -1 ELSE 1 END)
        * (pz_tz_part(p.h) * 3600 + pz_tz_part(p.m) * 60 + pz_tz_part(p.s)) END;
CREATE OR REPLACE TEMP MACRO pz_tz_offset(z) AS CASE
    WHEN regexp_full_match(z, '{TZ_UTC}') THEN 0
    WHEN regexp_full_match(z, '{TZ_OFFSET}')
        THEN pz_tz_seconds(regexp_extract(z, '{TZ_OFFSET}', ['sign', 'h', 'm', 's'])) END;
CREATE OR REPLACE TEMP MACRO pz_local_at(zone, u) AS timezone(zone, u::TIMESTAMPTZ);
CREATE OR REPLACE TEMP MACRO pz_once_in(zone, t, u, c) AS c = u OR pz_local_at(zone, c) <> t;
CREATE OR REPLACE TEMP MACRO pz_from_zone(zone, t) AS list_transform(
    [timezone(zone, t)::TIMESTAMP], lambda u: CASE
        WHEN pz_local_at(zone, u) = t
            AND pz_once_in(zone, t, u,
                t - (pz_local_at(zone, u - INTERVAL 1 DAY) - (u - INTERVAL 1 DAY)))
            AND pz_once_in(zone, t, u,
                t - (pz_local_at(zone, u + INTERVAL 1 DAY) - (u + INTERVAL 1 DAY)))
        THEN u END)[1];
CREATE OR REPLACE TEMP MACRO pz_ts_split(x) AS list_transform(
    [regexp_extract(x, '{TS_PARTS}', ['local', 'zone'])], lambda p: {{
        't': try_cast(regexp_replace(p.local, '[Tt]|\s+', ' ') AS TIMESTAMP),
        'z': p.zone, 'o': pz_tz_offset(p.zone), 'n': pz_tz_name(p.zone)}})[1];
CREATE OR REPLACE TEMP MACRO pz_ts_parse(x) AS list_transform([pz_ts_split(x)], lambda q:
    list_transform([CASE WHEN q.t IS NOT NULL AND q.o IS NULL AND q.n IS NOT NULL
                    THEN pz_from_zone(q.n, q.t) END], lambda zt: {{
        'ts': CASE WHEN q.t IS NULL THEN NULL WHEN q.z = '' THEN q.t
            WHEN q.o IS NOT NULL THEN q.t - to_seconds(q.o) ELSE zt END,
        'kind': CASE WHEN q.t IS NULL THEN 'invalid' WHEN q.z = '' THEN 'naive'
            WHEN q.o IS NOT NULL THEN 'offset'
            WHEN q.n IS NOT NULL THEN CASE WHEN zt IS NULL THEN 'zone_ambiguous' ELSE 'zone' END
            WHEN regexp_full_match(q.z, '{TZ_NAME}') THEN 'zone_unknown'
            ELSE 'invalid' END}})[1])[1];
CREATE OR REPLACE TEMP MACRO pz_ts(x) AS CASE
    WHEN x IS NULL THEN NULL
    WHEN pz_ts_plain(x) THEN try_cast(x AS TIMESTAMP)
    ELSE pz_ts_parse(x).ts END;
CREATE OR REPLACE TEMP MACRO pz_ts_kind(x) AS CASE
    WHEN x IS NULL OR pz_ts_plain(x) THEN NULL ELSE pz_ts_parse(x).kind END;
CREATE OR REPLACE TEMP MACRO pz_bool(x) AS CASE
    WHEN lower(trim(x)) IN ({_sql_list(_TRUE)}) THEN true
    WHEN lower(trim(x)) IN ({_sql_list(_FALSE)}) THEN false END;
CREATE OR REPLACE TEMP MACRO pz_list_raw(x) AS CASE
    WHEN x IS NULL OR pz_blank(x) OR pz_token(x) THEN []::VARCHAR[]
    WHEN ltrim(x) LIKE '[%' THEN coalesce(
        try(from_json(x, '["VARCHAR"]')),
        try(from_json(replace(x, '''', '"'), '["VARCHAR"]')),
        [x])
    ELSE string_split(x, ',') END;
CREATE OR REPLACE TEMP MACRO pz_dedup(l) AS
    list_filter(l, lambda g, i: g IS NOT NULL AND g <> '' AND list_position(l, g) = i);
CREATE OR REPLACE TEMP MACRO pz_genres(x) AS
    pz_dedup(list_transform(pz_list_raw(x), lambda g: lower(trim(g))));
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the ``pz_*`` normalisation macros on a connection (UTC session time zone).

    ``pz_tz_name`` knows the Area/Location names of the time-zone database
    DuckDB's ICU extension carries (lower-cased: ``europe/warsaw`` works too).
    """
    con.execute("SET TimeZone = 'UTC'")
    zones = [
        name
        for (name,) in con.execute(
            "SELECT DISTINCT lower(name) FROM pg_timezone_names() "
            "WHERE contains(name, '/') ORDER BY 1"
        ).fetchall()
    ]
    con.execute(f"CREATE OR REPLACE TYPE pz_zone AS ENUM ({_sql_list(zones)})")
    con.execute(
        "CREATE OR REPLACE TEMP MACRO pz_tz_name(z) AS CASE WHEN regexp_full_match(z, "
        f"'{TZ_NAME}') THEN try_cast(lower(z) AS pz_zone)::VARCHAR END"
    )
    con.execute(MACROS)


# ------------------------------------------------------------------ SQL fragments


def _q(name: str) -> str:
    return f'"{name}"'


def _id_repairs(columns: tuple[str, ...]) -> str:
    """rep_ columns counting ids repaired to null, summed over ``columns``."""

    def total(macro: str) -> str:
        return " + ".join(f"{macro}({_q(c)})::INT" for c in columns)

    return (
        f"{total('pz_sentinel')} AS rep_sentinel_id_as_null, "
        f"{total('pz_token')} AS rep_null_token_as_null"
    )


def _blank_repairs(columns: tuple[str, ...]) -> str:
    return " + ".join(f"pz_blank({_q(c)})::INT" for c in columns) + " AS rep_empty_string_as_null"


def _first_reason(checks: list[tuple[str, str]]) -> str:
    """CASE expression giving the first failing check's reason (null when all pass)."""
    return "CASE " + " ".join(f"WHEN {cond} THEN '{reason}'" for reason, cond in checks) + " END"


def _duplicate_id(table: str, id_column: str) -> str:
    """``rows_<table>``: ``s1_<table>`` with repeated ids dropped (the first line wins)."""
    return f"""
        CREATE OR REPLACE TEMP TABLE rows_{table} AS
        SELECT * EXCLUDE (reason0),
               coalesce(reason0, CASE WHEN row_number() OVER (
                   PARTITION BY reason0 IS NULL, {id_column} ORDER BY row_number) > 1
                   THEN 'duplicate_id' END) AS drop_reason
        FROM s1_{table};
        DROP TABLE s1_{table};
    """


def _is_missing(raw: str) -> str:
    """SQL: the raw text value carries no value (null, blank or a null token)."""
    return f"({raw} IS NULL OR pz_blank({raw}) OR pz_token({raw}))"


# ------------------------------------------------------------------ tables


def clean_artists(con: duckdb.DuckDBPyConnection, path: Path) -> RawStats:
    """``rows_artists``: ids normalised, genres a clean list, duplicate ids dropped."""
    stats = read_table(
        con,
        INPUTS["artists"],
        path,
        columns=f"""
            pz_id(id) AS artist_id, pz_text(name) AS name, pz_genres(genres) AS genres,
            {_id_repairs(("id",))}, {_blank_repairs(("id", "name", "genres"))},
            {_is_missing("genres")}::INT AS rep_genres_null_as_empty,
            (NOT {_is_missing("genres")} AND NOT ltrim(genres) LIKE '[%')::INT
                AS rep_genres_string_as_list,
            (pz_genres(genres) <> pz_list_raw(genres))::INT AS rep_genres_normalised
        """,
        reason=_first_reason(
            [("malformed_json", "NOT ok"), ("artist_id_missing", "artist_id IS NULL")]
        ),
        keep_line="reason0 IS NOT NULL",
        required={"id": "artist_id IS NOT NULL", "genres": "len(genres) > 0"},
    )
    con.execute(_duplicate_id("artists", "artist_id"))
    return stats


def _numeric(column: str) -> str:
    lo, hi = PLAUSIBLE[column]
    value = f"pz_num({_q(column)})"
    if column == "key":
        value = f"CASE WHEN {value} = floor({value}) THEN {value} END"
    return f"pz_in({value}, {lo}, {hi})"


def clean_tracks(con: duckdb.DuckDBPyConnection, path: Path) -> RawStats:
    """``rows_tracks`` and ``track_map`` (duplicate song id -> canonical id).

    Release dates of any precision become the first day of their period plus a
    precision; a year outside 1900..2100 or an impossible date is null. Numeric
    values outside :data:`~.schemas.PLAUSIBLE` are null. The same song (same
    case-folded, whitespace-collapsed name and same artist) under several ids is
    resolved to the smallest id (string order): its row is kept, the others are
    dropped as ``duplicate_song`` and their sessions are rewritten.
    """
    numeric = ("popularity", "duration_ms", *AUDIO_FEATURES)
    day = "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    precision = f"""CASE WHEN regexp_full_match(pz_text(release_date), '[0-9]{{4}}') THEN 'year'
        WHEN regexp_full_match(pz_text(release_date), '[0-9]{{4}}-[0-9]{{1,2}}') THEN 'month'
        WHEN regexp_full_match(pz_text(release_date), '{day}([T ].*)?') THEN 'day' END"""
    parsed = f"""CASE {precision}
        WHEN 'year' THEN try_strptime(pz_text(release_date), '%Y')
        WHEN 'month' THEN try_strptime(pz_text(release_date), '%Y-%m')
        WHEN 'day' THEN try_strptime(regexp_extract(pz_text(release_date), '^{day}'), '%Y-%m-%d')
        END"""
    release = f"CASE WHEN year({parsed}) BETWEEN 1900 AND 2100 THEN {parsed} END"
    implausible = ", ".join(
        f"(NOT {_is_missing(_q(c))} AND {_numeric(c)} IS NULL)::INT AS rep_{c}_implausible"
        for c in numeric
    )
    stats = read_table(
        con,
        INPUTS["tracks"],
        path,
        columns=f"""
            pz_id(id) AS track_id, pz_text(name) AS name, pz_id(id_artist) AS artist_id,
            {", ".join(f"{_numeric(c)} AS {_q(c)}" for c in numeric)},
            CASE WHEN pz_bool(explicit) THEN 1 WHEN NOT pz_bool(explicit) THEN 0 END::TINYINT
                AS explicit,
            {release} AS release_date,
            CASE WHEN {release} IS NOT NULL THEN {precision} END AS release_precision,
            {_id_repairs(("id", "id_artist"))},
            {_blank_repairs(("id", "name", "id_artist", "release_date", "explicit"))},
            (NOT {_is_missing("release_date")} AND {release} IS NULL)::INT
                AS rep_release_date_invalid,
            (NOT {_is_missing("explicit")} AND pz_bool(explicit) IS NULL)::INT
                AS rep_explicit_invalid,
            {implausible}
        """,
        reason=_first_reason(
            [("malformed_json", "NOT ok"), ("track_id_missing", "track_id IS NULL")]
        ),
        keep_line="reason0 IS NOT NULL",
        required={"id": "track_id IS NOT NULL", "id_artist": "artist_id IS NOT NULL"},
    )
    con.execute(_duplicate_id("tracks", "track_id").replace("rows_tracks", "t_tracks"))
    con.execute(r"""
        CREATE OR REPLACE TEMP TABLE track_map AS
        SELECT dup_id, canonical_id FROM (
            SELECT track_id AS dup_id,
                   min(track_id) OVER (
                       PARTITION BY artist_id, lower(regexp_replace(name, '\s+', ' ', 'g'))
                   ) AS canonical_id
            FROM t_tracks
            WHERE drop_reason IS NULL AND name IS NOT NULL AND artist_id IS NOT NULL
        ) WHERE dup_id <> canonical_id;
        CREATE OR REPLACE TEMP TABLE rows_tracks AS
        SELECT t.* EXCLUDE (drop_reason),
               coalesce(t.drop_reason, CASE WHEN m.dup_id IS NOT NULL THEN 'duplicate_song' END)
                   AS drop_reason
        FROM t_tracks t LEFT JOIN track_map m ON t.track_id = m.dup_id AND t.drop_reason IS NULL;
        DROP TABLE t_tracks;
    """)
    return stats


def clean_users(con: duckdb.DuckDBPyConnection, path: Path) -> RawStats:
    """``rows_users``: a missing or invalid ``premium_user`` counts as not premium."""
    stats = read_table(
        con,
        INPUTS["users"],
        path,
        columns=f"""
            pz_id(user_id) AS user_id, pz_text(name) AS name, pz_text(city) AS city,
            pz_text(street) AS street, pz_genres(favourite_genres) AS favourite_genres,
            coalesce(pz_bool(premium_user), false) AS premium_user,
            {_id_repairs(("user_id",))},
            {_blank_repairs(("user_id", "name", "city", "street", "favourite_genres"))},
            {_is_missing("favourite_genres")}::INT AS rep_favourite_genres_null_as_empty,
            (pz_bool(premium_user) IS NULL)::INT AS rep_premium_user_defaulted_false
        """,
        reason=_first_reason(
            [("malformed_json", "NOT ok"), ("user_id_missing", "user_id IS NULL")]
        ),
        keep_line="reason0 IS NOT NULL",
        required={"user_id": "user_id IS NOT NULL"},
    )
    con.execute(_duplicate_id("users", "user_id"))
    return stats


def clean_track_storage(con: duckdb.DuckDBPyConnection, path: Path) -> RawStats:
    """``rows_track_storage``: storage class case-folded, negative costs null.

    Storage rows keep their own track id even for a duplicate song: each id is a
    stored file with its own cost.
    """
    stats = read_table(
        con,
        INPUTS["track_storage"],
        path,
        columns=f"""
            pz_id(track_id) AS track_id, pz_enum(storage_class) AS storage_class,
            CASE WHEN pz_num(daily_cost) >= 0 THEN pz_num(daily_cost) END AS daily_cost,
            {_id_repairs(("track_id",))},
            {_blank_repairs(("track_id", "storage_class", "daily_cost"))},
            (trim(storage_class) <> lower(trim(storage_class))
                AND NOT pz_token(storage_class))::INT AS rep_storage_class_normalised,
            (NOT {_is_missing("daily_cost")} AND NOT coalesce(pz_num(daily_cost) >= 0, false))::INT
                AS rep_daily_cost_implausible
        """,
        reason=_first_reason(
            [("malformed_json", "NOT ok"), ("track_id_missing", "track_id IS NULL")]
        ),
        keep_line="reason0 IS NOT NULL",
        required={"track_id": "track_id IS NOT NULL", "storage_class": "storage_class IS NOT NULL"},
    )
    con.execute(_duplicate_id("track_storage", "track_id"))
    return stats


def _id_per_value(key: str) -> dict[str, str]:
    """Per-value expressions of a raw id ``key``: normalised id and what it repaired."""
    return {
        f"{key}0": "pz_id({x})",
        f"{key}_sentinel": "pz_sentinel({x})::INT",
        f"{key}_token": "pz_token({x})::INT",
        f"{key}_blank": "pz_blank({x})::INT",
    }


def clean_sessions(con: duckdb.DuckDBPyConnection, path: Path) -> RawStats:
    """``rows_sessions``: typed events, user ids repaired, duplicates dropped.

    Needs ``track_map`` (from :func:`clean_tracks`). Rules, in order:

    - a null user id is recovered when every other row of the same session that
      has a user agrees on one (``user_id_from_session``); a session with two
      different users is left alone and its null-user rows are dropped;
    - play/skip/like without a track are dropped; ads and other events may have none;
    - exact duplicate events (same session, timestamp, user, track and type after
      normalisation and user repair) keep their first line only;
    - track ids of duplicate songs are rewritten to the canonical id.

    Built for ten million rows: user ids, track ids and event types (tens of
    thousands of distinct values at most) are normalised once per distinct
    value; duplicate events are found by hashing first (only rows colliding on
    session, timestamp, track and type are compared exactly, user included); and
    the line text is kept only for rows that may be dropped.
    """
    track_events = _sql_list(TRACK_EVENTS)
    known = _sql_list(KNOWN_EVENTS)
    stats = read_table(
        con,
        INPUTS["sessions"],
        path,
        columns=f"""
            pz_id(session_id) AS session_id, pz_ts("timestamp") AS "timestamp",
            user_id0, track_id0, event_type0 AS event_type,
            {_is_missing('"timestamp"')} AS ts_missing,
            pz_sentinel(session_id)::INT + user_id_sentinel + track_id_sentinel
                AS rep_sentinel_id_as_null,
            pz_token(session_id)::INT + user_id_token + track_id_token AS rep_null_token_as_null,
            pz_blank(session_id)::INT + pz_blank("timestamp")::INT + user_id_blank
                + track_id_blank + event_type_blank AS rep_empty_string_as_null,
            rep_event_type_normalised,
            pz_ts_kind("timestamp") AS ts_kind
        """,
        reason=_first_reason(
            [
                ("malformed_json", "NOT ok"),
                ("session_id_missing", "session_id IS NULL"),
                ("timestamp_missing", "ts_missing"),
                ("timestamp_zone_unknown", "ts_kind = 'zone_unknown'"),
                ("timestamp_zone_ambiguous", "ts_kind = 'zone_ambiguous'"),
                ("timestamp_invalid", '"timestamp" IS NULL'),
                ("event_type_missing", "event_type IS NULL"),
                ("track_id_missing", f"event_type IN ({track_events}) AND track_id0 IS NULL"),
            ]
        ),
        keep_line="reason0 IS NOT NULL OR user_id0 IS NULL",
        required={
            "session_id": "session_id IS NOT NULL",
            "timestamp": '"timestamp" IS NOT NULL',
            "user_id": "user_id0 IS NOT NULL",
            "track_id": "track_id0 IS NOT NULL",
            "event_type": "event_type IS NOT NULL",
        },
        per_value={
            "user_id": _id_per_value("user_id"),
            "track_id": _id_per_value("track_id"),
            "event_type": {
                "event_type0": "pz_event({x})",
                "event_type_blank": "pz_blank({x})::INT",
                "rep_event_type_normalised": f"""CASE WHEN {{x}} IS NULL OR {{x}} IN ({known})
                    THEN 0 WHEN {{x}} = 'advertisment' THEN 1
                    ELSE (pz_event({{x}}) IS DISTINCT FROM {{x}})::INT END""",
            },
        },
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE session_users AS
        SELECT session_id, min(user_id0) AS user_id FROM s1_sessions
        WHERE user_id0 IS NOT NULL AND session_id IN (
            SELECT session_id FROM s1_sessions WHERE user_id0 IS NULL AND reason0 IS NULL)
        GROUP BY session_id HAVING min(user_id0) = max(user_id0);

        CREATE OR REPLACE TEMP TABLE duplicate_hashes AS
        SELECT hash(session_id, "timestamp", track_id0, event_type) AS h FROM s1_sessions
        WHERE reason0 IS NULL GROUP BY h HAVING count(*) > 1;

        CREATE OR REPLACE TEMP TABLE duplicate_events AS
        SELECT row_number FROM (
            SELECT s.row_number, row_number() OVER (
                PARTITION BY s.session_id, s."timestamp", coalesce(s.user_id0, u.user_id),
                    s.track_id0, s.event_type
                ORDER BY s.row_number) AS n
            FROM s1_sessions s LEFT JOIN session_users u
                ON s.session_id = u.session_id AND s.user_id0 IS NULL
            WHERE s.reason0 IS NULL AND coalesce(s.user_id0, u.user_id) IS NOT NULL
                AND hash(s.session_id, s."timestamp", s.track_id0, s.event_type)
                    IN (SELECT h FROM duplicate_hashes)
        ) WHERE n > 1;
        DROP TABLE duplicate_hashes;
    """)
    reps = [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM (DESCRIBE s1_sessions) WHERE column_name LIKE 'rep_%'"
        ).fetchall()
    ]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rows_sessions AS
        SELECT s.row_number, s.session_id, s."timestamp",
               coalesce(s.user_id0, u.user_id) AS user_id,
               coalesce(m.canonical_id, s.track_id0) AS track_id,
               s.event_type,
               {", ".join(f"s.{c}" for c in reps)},
               coalesce(s.ts_kind IN ('offset', 'zone'), false)::INT AS rep_timestamp_to_utc,
               coalesce(s.ts_kind = 'zone', false)::INT AS rep_timestamp_from_named_zone,
               (s.user_id0 IS NULL AND u.user_id IS NOT NULL)::INT AS rep_user_id_from_session,
               (m.canonical_id IS NOT NULL)::INT AS rep_track_id_canonicalised,
               coalesce(s.reason0, CASE
                   WHEN coalesce(s.user_id0, u.user_id) IS NULL THEN 'user_id_missing'
                   WHEN d.row_number IS NOT NULL THEN 'duplicate_event' END) AS drop_reason,
               s.line
        FROM s1_sessions s
        LEFT JOIN session_users u ON s.session_id = u.session_id AND s.user_id0 IS NULL
        LEFT JOIN duplicate_events d ON s.row_number = d.row_number
        LEFT JOIN track_map m ON s.track_id0 = m.dup_id;
        DROP TABLE s1_sessions; DROP TABLE session_users; DROP TABLE duplicate_events;
    """)
    return stats


#: The cleaners in the order they must run (sessions need the track map).
CLEANERS = {
    "artists": clean_artists,
    "tracks": clean_tracks,
    "users": clean_users,
    "track_storage": clean_track_storage,
    "sessions": clean_sessions,
}

#: Kept rows worth a look, per table: flag name -> SQL condition on ``rows_<table>``.
FLAGS: dict[str, dict[str, str]] = {
    "artists": {},
    "tracks": {
        "unknown_artist_id": "artist_id IS NOT NULL AND artist_id NOT IN "
        "(SELECT artist_id FROM rows_artists WHERE drop_reason IS NULL)",
    },
    "users": {},
    "track_storage": {
        "unknown_track_id": "track_id NOT IN "
        "(SELECT track_id FROM rows_tracks WHERE drop_reason IS NULL "
        "UNION ALL SELECT dup_id FROM track_map)",
    },
    "sessions": {
        "unknown_event_type": f"event_type NOT IN ({_sql_list(KNOWN_EVENTS)})",
        "unknown_track_id": "track_id IS NOT NULL AND track_id NOT IN "
        "(SELECT track_id FROM rows_tracks WHERE drop_reason IS NULL)",
        "unknown_user_id": "user_id NOT IN "
        "(SELECT user_id FROM rows_users WHERE drop_reason IS NULL)",
    },
}
