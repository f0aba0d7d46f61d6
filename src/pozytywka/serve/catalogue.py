"""Read-only questions about the ingested catalogue: DuckDB over the interim Parquet.

Inputs (under the project root, written by the ``ingest`` and ``features`` stages):

- ``data/interim/tracks.parquet``: ``track_id``, ``name``, ``artist_id``,
  ``popularity`` (the dump's catalogue popularity, 0-100), ``duration_ms``,
  ``explicit`` (0/1), ``release_date`` (timestamp; its year is the release year);
- ``data/interim/artists.parquet``: ``artist_id``, ``name``;
- ``data/interim/track_genres.parquet``: ``track_id``, ``genre`` (DESIGN §4: the
  artist's genres, lower case);
- ``data/processed/weekly_popularity.parquet``: ``week_start``, ``track_id``,
  ``popularity`` (DESIGN §4: distinct listeners with a full play in the week).
  "Last week" is the latest ``week_start`` in that table.

The connection is a private in-memory DuckDB database holding a copy of those
tables, read once when the service starts (the Parquet files are read, never
written: nothing here can change the catalogue; a new ``dvc repro`` is seen
after a restart).
Every query is a constant SQL string with ``?`` parameters; input never becomes
SQL text. Name search is a case-insensitive substring match
(``strpos(lower(name), lower(?))``, so ``%`` and ``_`` are plain characters).

Bad parameters raise :class:`CatalogueError` (the router answers 422 with its
message): a year outside the catalogue's release years, an unknown genre.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .. import paths
from ..errors import PozytywkaError

TABLES = {
    "tracks": paths.INTERIM_TRACKS,
    "artists": paths.INTERIM_ARTISTS,
    "track_genres": paths.INTERIM_TRACK_GENRES,
    "weekly_popularity": paths.WEEKLY_POPULARITY,
}


class CatalogueError(ValueError):
    """A parameter the catalogue cannot answer for (the message is the 422's reason)."""


@dataclass(frozen=True)
class Page:
    """One page of an ordered answer: ``total`` rows match, ``rows`` are ``offset..``."""

    total: int
    rows: list[dict]


_TRACK_COLUMNS = """
    t.track_id, t.name, a.name AS artist, year(t.release_date) AS year,
    t.popularity, CAST(t.duration_ms AS BIGINT) AS duration_ms,
    CAST(t.explicit AS INTEGER) AS explicit
"""

SQL_SEARCH_TRACKS = f"""
    SELECT {_TRACK_COLUMNS}, count(*) OVER () AS _total
    FROM tracks t LEFT JOIN artists a USING (artist_id)
    WHERE strpos(lower(t.name), lower(?)) > 0
    ORDER BY t.popularity DESC NULLS LAST, t.name, t.track_id
    LIMIT ? OFFSET ?
"""

SQL_SEARCH_ARTISTS = """
    SELECT a.artist_id, a.name, a.genres, count(t.track_id) AS tracks,
           count(*) OVER () AS _total
    FROM artists a LEFT JOIN tracks t USING (artist_id)
    WHERE strpos(lower(a.name), lower(?)) > 0
    GROUP BY a.artist_id, a.name, a.genres
    ORDER BY tracks DESC, a.name, a.artist_id
    LIMIT ? OFFSET ?
"""

SQL_GENRE_TOP = f"""
    WITH last AS (SELECT max(week_start) AS w FROM weekly_popularity)
    SELECT {_TRACK_COLUMNS}, CAST(w.popularity AS BIGINT) AS week_popularity,
           CAST(last.w AS DATE) AS week_start, count(*) OVER () AS _total
    FROM track_genres g
    JOIN tracks t USING (track_id)
    LEFT JOIN artists a USING (artist_id)
    CROSS JOIN last
    JOIN weekly_popularity w ON w.track_id = t.track_id AND w.week_start = last.w
    WHERE g.genre = ?
    ORDER BY w.popularity DESC, t.popularity DESC NULLS LAST, t.track_id
    LIMIT ? OFFSET ?
"""

SQL_LONGEST = f"""
    SELECT {_TRACK_COLUMNS}
    FROM tracks t LEFT JOIN artists a USING (artist_id)
    WHERE year(t.release_date) = ?
      AND (? IS NULL OR t.track_id IN (SELECT track_id FROM track_genres WHERE genre = ?))
      AND (? IS NULL OR t.explicit = ?)
      AND t.duration_ms IS NOT NULL
    ORDER BY t.duration_ms DESC, t.track_id
    LIMIT 1
"""

SQL_GENRE_COUNTS = """
    SELECT g.genre, count(DISTINCT t.track_id) AS tracks, count(*) OVER () AS _total
    FROM tracks t JOIN track_genres g USING (track_id)
    WHERE year(t.release_date) = ? AND t.popularity > ?
    GROUP BY g.genre
    ORDER BY tracks DESC, g.genre
    LIMIT ? OFFSET ?
"""

SQL_TOP_ARTIST = """
    SELECT a.artist_id, a.name, count(DISTINCT t.track_id) AS tracks
    FROM tracks t JOIN track_genres g USING (track_id) JOIN artists a USING (artist_id)
    WHERE g.genre = ? AND year(t.release_date) = ?
    GROUP BY a.artist_id, a.name
    ORDER BY tracks DESC, a.name, a.artist_id
    LIMIT 1
"""

SQL_TRACK_NAMES = """
SELECT t.track_id, t.name, a.name AS artist
FROM tracks t LEFT JOIN artists a ON a.artist_id = t.artist_id
WHERE list_contains(?, t.track_id)
ORDER BY t.track_id
"""


class Catalogue:
    """The catalogue's Parquet tables, copied into a private in-memory DuckDB database.

    ``root``: the project root (the files of :data:`TABLES` under it). A missing
    file raises :class:`~pozytywka.errors.PozytywkaError` ("run dvc repro first").
    DuckDB connections are not shared across threads: each query runs on a cursor
    of the one connection, under a lock (queries take milliseconds).
    """

    def __init__(self, root: Path | str = ".") -> None:
        root = Path(root)
        missing = [str(p) for p in TABLES.values() if not (root / p).is_file()]
        if missing:
            raise PozytywkaError(f"catalogue files missing: {', '.join(missing)}; run dvc repro")
        self._con = duckdb.connect(":memory:", config={"threads": 1})
        for name, rel in TABLES.items():
            path = str((root / rel).resolve()).replace("'", "''")
            # DDL cannot take parameters; the path is ours (paths.py), never a request's.
            # Copied into memory once: a query then costs milliseconds, not a Parquet scan.
            self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
        self._lock = threading.Lock()
        self.genres = frozenset(r[0] for r in self._all("SELECT DISTINCT genre FROM track_genres"))
        lo, hi = self._all("SELECT min(year(release_date)), max(year(release_date)) FROM tracks")[0]
        self.years = (int(lo), int(hi)) if lo is not None else (0, -1)
        self.last_week = self._all("SELECT CAST(max(week_start) AS DATE) FROM weekly_popularity")[
            0
        ][0]

    def _all(self, sql: str, params: list | None = None) -> list[tuple]:
        with self._lock:
            return self._con.cursor().execute(sql, params or []).fetchall()

    def _dicts(self, sql: str, params: list) -> list[dict]:
        with self._lock:
            cur = self._con.cursor().execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def _page(self, sql: str, params: list) -> Page:
        """``params`` end with ``limit, offset``; ``total`` counts every match, also on
        a page past the end (then counted with a first page of one row)."""
        rows = self._dicts(sql, params)
        if not rows and params[-1] > 0:
            first = self._dicts(sql, [*params[:-2], 1, 0])
            return Page(int(first[0]["_total"]) if first else 0, [])
        total = int(rows[0]["_total"]) if rows else 0
        for r in rows:
            del r["_total"]
        return Page(total, rows)

    # --- validation -------------------------------------------------------------

    def check_year(self, year: int) -> int:
        lo, hi = self.years
        if not lo <= year <= hi:
            raise CatalogueError(f"year {year} is outside the catalogue's release years {lo}-{hi}")
        return year

    def check_genre(self, genre: str) -> str:
        g = genre.strip().lower()
        if g not in self.genres:
            raise CatalogueError(f"unknown genre {genre!r} (GET /v1/catalogue lists the genres)")
        return g

    # --- questions --------------------------------------------------------------

    def search_tracks(self, q: str, limit: int, offset: int) -> Page:
        """Tracks whose name contains ``q`` (any case), most popular (catalogue) first."""
        return self._page(SQL_SEARCH_TRACKS, [q, limit, offset])

    def search_artists(self, q: str, limit: int, offset: int) -> Page:
        """Artists whose name contains ``q``, with their genres and number of tracks."""
        return self._page(SQL_SEARCH_ARTISTS, [q, limit, offset])

    def genre_top(self, genre: str, limit: int, offset: int) -> Page:
        """The genre's tracks by last week's popularity (tracks with no full play are absent)."""
        return self._page(SQL_GENRE_TOP, [self.check_genre(genre), limit, offset])

    def longest(self, year: int, genre: str | None, explicit: bool | None) -> dict | None:
        """The longest track released in ``year`` (optionally in ``genre``, explicit or not);
        ties go to the smallest ``track_id``; ``None`` when nothing matches."""
        g = None if genre is None else self.check_genre(genre)
        e = None if explicit is None else int(explicit)
        rows = self._dicts(SQL_LONGEST, [self.check_year(year), g, g, e, e])
        return rows[0] if rows else None

    def genre_counts(self, year: int, min_popularity: float, limit: int, offset: int) -> Page:
        """Per genre, the tracks released in ``year`` with catalogue popularity strictly
        above ``min_popularity``; most tracks first."""
        return self._page(SQL_GENRE_COUNTS, [self.check_year(year), min_popularity, limit, offset])

    def top_artist(self, genre: str, year: int) -> dict | None:
        """The artist with the most tracks in ``genre`` released in ``year`` (ties: by name)."""
        rows = self._dicts(SQL_TOP_ARTIST, [self.check_genre(genre), self.check_year(year)])
        return rows[0] if rows else None

    def track_names(self, track_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """``track_id -> (name, artist)`` for the catalogue's tracks among ``track_ids``
        (an id the catalogue does not hold is absent; the demo page names tracks with it)."""
        if not track_ids:
            return {}
        rows = self._all(SQL_TRACK_NAMES, [sorted(set(track_ids))])
        return {r[0]: (r[1], r[2]) for r in rows}

    def close(self) -> None:
        self._con.close()
