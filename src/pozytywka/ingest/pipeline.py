"""Ingest as one pure-ish function: a dump folder in, typed tables and their account out.

:func:`ingest_dump` reads the dump (and nothing else) and returns everything the
``ingest`` stage writes, so tests call it on a ten-line dump in ``tmp_path`` and
the stage entry point only writes files. All heavy lifting runs in an in-memory
DuckDB connection, with a memory limit and spill folder of its own, so ten
million events fit in a few gigabytes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from .clean import CLEANERS, install_macros
from .quality import account, dropped_sample, summary_markdown, time_window
from .read import locate_dump
from .schemas import INTERIM_TABLES, SCHEMAS, validate

log = logging.getLogger(__name__)

#: Sort key of each interim table: rows are written in this order (stable bytes).
#: Sessions are in time order; ties (a skip and the next play at the same
#: instant) keep session then file order, the only order a dump can vouch for.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "artists": ("artist_id",),
    "tracks": ("track_id",),
    "track_genres": ("track_id", "genre"),
    "users": ("user_id",),
    "sessions": ("timestamp", "session_id", "row_number"),
    "track_storage": ("track_id",),
}

DUCKDB_MEMORY_LIMIT = "2GB"


@dataclass
class IngestResult:
    """What the ``ingest`` stage writes: tables, the account, samples and a summary."""

    tables: dict[str, pd.DataFrame]
    quality: dict[str, Any]
    samples: dict[str, pd.DataFrame]
    summary: str


@contextmanager
def _connect() -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="pozytywka-duckdb-") as spill:
        con = duckdb.connect(
            config={
                "memory_limit": DUCKDB_MEMORY_LIMIT,
                "temp_directory": spill,
                "preserve_insertion_order": True,
            }
        )
        try:
            install_macros(con)
            yield con
        finally:
            con.close()


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with the contract's dtypes (nullable Int8 stays Int8)."""
    return table.to_pandas(types_mapper={pa.int8(): pd.Int8Dtype()}.get)


def _fetch(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    columns = ", ".join(f'"{c}"' for c in SCHEMAS[table].columns)
    order = ", ".join(f'"{c}"' for c in SORT_KEYS[table])
    if table == "track_genres":
        sql = """
            SELECT DISTINCT t.track_id, unnest(a.genres) AS genre
            FROM rows_tracks t JOIN rows_artists a ON t.artist_id = a.artist_id
            WHERE t.drop_reason IS NULL AND a.drop_reason IS NULL
        """
        sql = f"SELECT {columns} FROM ({sql}) ORDER BY {order}"
    else:
        sql = f"SELECT {columns} FROM rows_{table} WHERE drop_reason IS NULL ORDER BY {order}"
    return _to_pandas(con.sql(sql).to_arrow_table())


def ingest_dump(source: str | Path) -> IngestResult:
    """Read, clean, validate and account for the dump in folder ``source``.

    Raises :class:`~pozytywka.errors.PozytywkaError` (one line naming the file)
    when the folder is not a usable dump; anything recoverable is repaired or
    dropped and counted instead.
    """
    files = locate_dump(source)
    quality: dict[str, Any] = {}
    samples: dict[str, pd.DataFrame] = {}
    tables: dict[str, pd.DataFrame] = {}
    with _connect() as con:
        # Small tables first, so a broken one fails before the big read.
        for table, clean in CLEANERS.items():
            started = time.perf_counter()
            raw = clean(con, files[table])
            quality[table] = account(con, table, raw)
            if quality[table]["rows_dropped"]:
                samples[table] = dropped_sample(con, table, list(SCHEMAS[table].columns))
            log.info(
                "clean %s: kept %d of %d (%.1fs)",
                table,
                quality[table]["rows_kept"],
                quality[table]["rows_read"],
                time.perf_counter() - started,
            )
        for table in INTERIM_TABLES:
            started = time.perf_counter()
            tables[table] = validate(table, _fetch(con, table))
            log.info(
                "validated %s: %d rows (%.1fs)",
                table,
                len(tables[table]),
                time.perf_counter() - started,
            )
        first, last = con.execute(
            'SELECT min("timestamp"), max("timestamp") FROM rows_sessions WHERE drop_reason IS NULL'
        ).fetchall()[0]
    quality["window"] = time_window(first, last)
    quality["derived"] = {"track_genres": len(tables["track_genres"])}
    summary = summary_markdown(str(source), quality, tuple(CLEANERS))
    return IngestResult(tables=tables, quality=quality, samples=samples, summary=summary)
