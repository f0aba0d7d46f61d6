"""The one way the pipeline opens DuckDB: :func:`connect`.

Results never depend on DuckDB's thread count: every query that feeds an output
has a total ``ORDER BY`` (or is sorted afterwards on a unique key), and float
aggregates are added exactly (as DECIMAL, :data:`pozytywka.skips.features.EXACT_SUM`)
rather than in the order parallel threads finish. ``POZYTYWKA_DUCKDB_THREADS``
sets the thread count (default: DuckDB's own, one per core); the reproducibility
test builds the pipeline with 1 and with 2 and compares every output's md5.
"""

from __future__ import annotations

import os
from typing import Any

import duckdb

from .errors import PozytywkaError

THREADS_ENV = "POZYTYWKA_DUCKDB_THREADS"


def threads_setting(environ: dict[str, str] | os._Environ = os.environ) -> int | None:
    """The thread count asked for in ``POZYTYWKA_DUCKDB_THREADS`` (None: DuckDB's default).

    Raises :class:`~pozytywka.errors.PozytywkaError` for a value that is not a whole
    number >= 1.
    """
    raw = environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise PozytywkaError(f"{THREADS_ENV} must be a whole number >= 1, got {raw!r}")
    return int(raw)


def connect(database: str = ":memory:", **config: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``config`` (DuckDB settings) and the configured threads."""
    threads = threads_setting()
    if threads is not None:
        config.setdefault("threads", threads)
    return duckdb.connect(database, config=config)
