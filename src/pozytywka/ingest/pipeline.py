"""Ingest as one pure-ish function: a dump folder in, typed tables and their account out.

:func:`ingest_dump` reads the dump (and nothing else) and returns everything the
``ingest`` stage writes, so tests call it on a ten-line dump in ``tmp_path`` and
the stage entry point only writes files. All heavy lifting runs in an in-memory
DuckDB connection, with a memory limit and spill folder of its own, so ten
million events fit in a few gigabytes.

The small tables come out as pandas frames validated by pandera. Sessions (ten
million rows on a big dump) never become one: they are validated against the
same schema inside DuckDB and, when the caller gives a path, streamed from
DuckDB's sort straight into the Parquet file, one row group at a time, written
exactly as :func:`pozytywka.io.write_parquet` would write the whole frame (same
bytes), at a fraction of the memory.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from .. import duck
from ..gaps import find_gaps, log_gaps, weekly_event_counts_sql
from ..io import PARQUET_ROW_GROUP, write_parquet_tables
from ..weeks import complete_weeks_between
from .clean import CLEANERS, install_macros
from .quality import account, dropped_sample, summary_markdown, time_window
from .read import locate_dump
from .schemas import INTERIM_TABLES, SCHEMAS, to_pandas, validate, validate_duckdb

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

#: Tables validated in DuckDB and, given a path, written from it (never one frame).
BIG_TABLES: tuple[str, ...] = ("sessions",)


@dataclass
class IngestResult:
    """What the ``ingest`` stage writes: tables, the account, samples and a summary.

    ``tables`` holds every interim table, except the big ones already written to
    the paths given to :func:`ingest_dump` (listed in ``written``).
    """

    tables: dict[str, pd.DataFrame]
    quality: dict[str, Any]
    samples: dict[str, pd.DataFrame]
    summary: str
    written: dict[str, Path] = field(default_factory=dict)


@contextmanager
def _connect() -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="pozytywka-duckdb-") as spill:
        con = duck.connect(
            memory_limit=DUCKDB_MEMORY_LIMIT,
            temp_directory=spill,
            preserve_insertion_order=True,
        )
        try:
            install_macros(con)
            yield con
        finally:
            con.close()


def _select(table: str) -> str:
    """The query giving interim ``table`` (its contract's columns), unordered."""
    columns = ", ".join(f'"{c}"' for c in SCHEMAS[table].columns)
    if table == "track_genres":
        sql = """
            SELECT DISTINCT t.track_id, unnest(a.genres) AS genre
            FROM rows_tracks t JOIN rows_artists a ON t.artist_id = a.artist_id
            WHERE t.drop_reason IS NULL AND a.drop_reason IS NULL
        """
        return f"SELECT {columns} FROM ({sql})"
    return f"SELECT {columns} FROM rows_{table} WHERE drop_reason IS NULL"


def _ordered(table: str) -> str:
    order = ", ".join(f'"{c}"' for c in SORT_KEYS[table])
    return f"{_select(table)} ORDER BY {order}"


def _fetch(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return to_pandas(con.sql(_ordered(table)).to_arrow_table())


def _row_groups(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """The stream cut into tables of exactly ``rows`` rows (the last shorter, at least one).

    Each table is contiguous (chunks combined), as the slices of a whole table
    are when pyarrow writes it in row groups.
    """
    pending: list[pa.RecordBatch] = []
    n = 0
    yielded = False
    for batch in reader:
        pending.append(batch)
        n += batch.num_rows
        while n >= rows:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield table.slice(0, rows).combine_chunks()
            yielded = True
            rest = table.slice(rows)
            pending, n = rest.to_batches(), rest.num_rows
    if n or not yielded:
        yield pa.Table.from_batches(pending, schema=reader.schema).combine_chunks()


def write_table(con: duckdb.DuckDBPyConnection, table: str, target: Path) -> None:
    """Stream interim ``table``, in its order, from DuckDB into the Parquet file ``target``.

    The same bytes as ``write_parquet(target, _fetch(con, table))``: the rows
    go from DuckDB's sort to the file one row group at a time, with the schema
    (types and pandas metadata) pandas gives the first row group. Strings leave
    DuckDB as ``large_string``, the type pandas hands to Parquet, so the cast to
    that schema copies nothing. Written atomically.
    """
    con.execute("SET arrow_large_buffer_size = true")
    try:
        reader = con.sql(_ordered(table)).to_arrow_reader(batch_size=128 * 1024)
        groups = _row_groups(reader, PARQUET_ROW_GROUP)
        first = next(groups)
        schema = pa.Schema.from_pandas(to_pandas(first), preserve_index=False)
        write_parquet_tables(target, itertools.chain([first], groups), schema)
    finally:
        con.execute("RESET arrow_large_buffer_size")


def ingest_dump(
    source: str | Path,
    write: dict[str, Path] | None = None,
    gap_min_share: float = 0.1,
    check_weeks: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read, clean, validate and account for the dump in folder ``source``.

    ``write`` maps big tables (:data:`BIG_TABLES`) to the Parquet file each is
    streamed to, once everything is validated; the others come back in
    ``tables``. Raises :class:`~pozytywka.errors.PozytywkaError` (one line naming
    the file) when the folder is not a usable dump, before anything is written;
    anything recoverable is repaired or dropped and counted instead.
    ``gap_min_share``: which complete weeks are gaps in the log (:mod:`pozytywka.gaps`),
    reported in ``quality["gaps"]``. ``check_weeks`` is called with the number of
    complete weeks of the cleaned events before anything is written; it raises
    :class:`~pozytywka.errors.PozytywkaError` to reject a dump that is too short.
    """
    write = dict(write or {})
    if unknown := set(write) - set(BIG_TABLES):
        raise ValueError(f"only {BIG_TABLES} are written by ingest_dump, not {sorted(unknown)}")
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
            if table in BIG_TABLES:
                validate_duckdb(con, table, _select(table))
                if table not in write:
                    tables[table] = _fetch(con, table)
            else:
                tables[table] = validate(table, _fetch(con, table))
            log.info("validated %s (%.1fs)", table, time.perf_counter() - started)
        first, last = con.execute(
            'SELECT min("timestamp"), max("timestamp") FROM rows_sessions WHERE drop_reason IS NULL'
        ).fetchall()[0]
        if check_weeks is not None:
            check_weeks(len(complete_weeks_between(first, last)))
        for table, target in write.items():
            started = time.perf_counter()
            write_table(con, table, Path(target))
            log.info("wrote %s to %s (%.1fs)", table, target, time.perf_counter() - started)
        week_counts = dict(
            con.execute(weekly_event_counts_sql("rows_sessions", "drop_reason IS NULL")).fetchall()
        )
    quality["window"] = time_window(first, last)
    quality["gaps"] = log_gaps(
        find_gaps(complete_weeks_between(first, last), week_counts, gap_min_share)
    )
    quality["derived"] = {"track_genres": len(tables["track_genres"])}
    summary = summary_markdown(str(source), quality, tuple(CLEANERS))
    return IngestResult(
        tables=tables,
        quality=quality,
        samples=samples,
        summary=summary,
        written={t: Path(p) for t, p in write.items()},
    )
