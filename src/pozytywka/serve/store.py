"""The log of the service: one schema on SQLite (WAL) and PostgreSQL, written with SQLAlchemy Core.

Tables (constraints enforced by the database, not only by this code):

- ``schema_version(version)``: the schema this code created; checked on start.
- ``artifacts``: which published output was live: (experiment, week_start, arm,
  model, model_version), unique on (experiment, week_start, arm, model_version);
  ``artifact_tracks(artifact_id, track_id)``: the tracks it serves.
- ``requests``: every served ``GET /v1/playlists``: ``request_id`` (32 hex),
  the listener, arm, the artifact served (foreign key), ``served_at``, and
  ``latency_ms`` (schema 5, nullable): the server-side time from the request's
  arrival (the outermost middleware, :func:`.metrics.arrival`) to the moment its row
  is written in the transaction that commits it, in milliseconds. The wait for the
  group commit and the write lock is in it; the commit's own flush and sending the
  answer are not (the value must be known when the row is written). NULL for rows
  logged before schema 5 or without an arrival time (a direct :meth:`Store.serve`).
  Index ``ix_requests_listener`` on (experiment, week_start, user_id).
- ``exposures``: the first request of a listener in an experiment's week;
  **unique on (experiment, user_id, week_start)** (that unique index is also the
  lookup the playlists route does), referencing the request that exposed them.
- ``events``: ``play``/``skip``/``like`` (a CHECK) on a served track: a foreign
  key (request_id, artifact_id) -> requests, so every event belongs to a served
  request, and (artifact_id, track_id) -> artifact_tracks, so its track was in
  what that request served. Unique on (request_id, track_id, event_type, ts):
  a retried batch is not stored twice. ``batch_id`` groups the rows of one POST
  (one transaction).
- ``predictions`` (schema 2): what a scoring request answered (``POST
  /v1/skips/predict``): ``request_id`` (primary key, foreign key -> requests),
  the scored ``track_id``, ``probability`` in [0, 1] and ``decision`` (``fetch``
  or ``stream``), both CHECKed. Its outcome is the request's events, which must be
  on the scored track.
- ``request_items`` (schema 3): the personal list one request served (``GET
  /v1/recommendations``): (request_id, track_id) primary key, ``position``
  (1-based). A request with a list accepts events only on its own tracks, not
  on any track of the arm's artifact (another listener's recommendations).

- ``arm_stops`` (schema 4): the kill switch (issue 23): an arm of an experiment's
  week stopped by an operator (``POST /v1/admin/experiments/{key}/arms/{arm}/stop``),
  with ``stopped_at`` (service time) and a ``reason``; unique on (experiment,
  week_start, arm), arm CHECKed. From the next request its listeners are served the
  other arm; the read-out analyses only what happened before ``stopped_at``.

Any experiment key (``playlists``, ``skips``, ``recs``) uses the same tables: an
"artifact" is what one arm of one experiment may serve in a week, and its
``artifact_tracks`` the items it may serve (:meth:`Store.register_items`). A
store of schema 1 to 4 is migrated on start (the new tables are added, and
``requests.latency_ms`` by ``ALTER TABLE ... ADD COLUMN``; nothing else changes).

Every write is one transaction, committed before the route answers: a 2xx
means the rows are on disk (SQLite ``synchronous=FULL``; PostgreSQL's default
``synchronous_commit``). Served requests that arrive together share one
transaction, and so do event batches (group commit, :mod:`.group_commit`). On
SQLite, write transactions start with ``BEGIN IMMEDIATE`` (a writer waits instead
of failing to upgrade a read lock) and reads with a plain (deferred) ``BEGIN``: in
WAL mode a reader takes no lock, so readers never wait for a writer (an outside
one included) nor block one. Foreign keys are switched on per connection. The
serving writers of several processes on one SQLite file (``pozytywka serve
--workers 2``) take turns on an ``flock`` of ``<file>-writelock``: the kernel
wakes the next writer when the lock is free, where SQLite's busy handler polls
with sleeps of up to 100 ms (p99 of ``GET /v1/playlists`` at 32 clients: 2.5 s
without the lock in one of two runs, 46 ms with it). Times are naive UTC.

Failures of the store: every operation raises :class:`StoreUnavailable` with a
short code and a one-line reason (:func:`store_problem`) instead of a driver
error, and within a bounded time: a write waits at most ``BUSY_TIMEOUT_S`` for
SQLite's write lock, and a request at most ``WRITE_DEADLINE_S`` for its commit,
whatever holds it up; PostgreSQL connects within ``PG_CONNECT_TIMEOUT_S`` and
waits for a row lock at most ``BUSY_TIMEOUT_S``. Before each transaction on a
SQLite file (:meth:`Store._preflight`) the file must exist (a removed folder is
a 503, not rows written into a deleted file, nor a new empty log) and its
``-shm`` must be writable: SQLite maps the ``-shm`` into memory, and touching
the map of a file made immutable is a SIGBUS that kills the process (reproduced
with ``chattr +i``). A file put back under the store's name by a restore is
reopened. :meth:`Store.check_writable` is the readiness probe: a committed
one-row write (table ``store_probe``, outside the versioned schema: older code
ignores it), since a read-only or full store still answers a ``SELECT 1``.

The WAL is bounded: ``journal_size_limit`` (``WAL_LIMIT_BYTES``) truncates it when
a checkpoint lets SQLite start it again, and once the store has had no write
for ``CHECKPOINT_IDLE_S`` a background thread runs ``wal_checkpoint(TRUNCATE)``
without waiting (``busy_timeout=0``), again each second until the WAL is empty,
so a WAL that grew while an outside reader held an old snapshot shrinks once
the reader leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    DBAPIError,
    IntegrityError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..errors import PozytywkaError
from .artifacts import Artifacts
from .clock import utc_now
from .group_commit import GroupCommit

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
#: SQLite: how long a write waits for the write lock (an outside writer) before failing.
BUSY_TIMEOUT_S = 2.0
#: How long a request waits for its write to commit, whatever the cause, before a 503.
WRITE_DEADLINE_S = 4.0
#: The readiness probe: its wait for SQLite's write lock, and for its whole answer.
PROBE_BUSY_S = 0.5
PROBE_TIMEOUT_S = 2.5
#: PostgreSQL: seconds to connect (and to wait for a pooled connection).
PG_CONNECT_TIMEOUT_S = 3
#: SQLite WAL: the size it is truncated to when it restarts; the idle time before a
#: ``wal_checkpoint(TRUNCATE)``.
WAL_LIMIT_BYTES = 4 * 1024 * 1024
CHECKPOINT_IDLE_S = 1.0
#: The ``Retry-After`` (seconds) of a 503 for a store failure.
RETRY_AFTER_S = 2
DECISIONS = ("fetch", "stream")
EVENT_TYPES = ("play", "skip", "like")
#: An event's identity (the unique key ``uq_events_once``): stored once, whatever the retries.
EVENT_KEY = ("request_id", "track_id", "event_type", "ts")
ID = 64  # max length of ids (user, track, request)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("artifact_id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("week_start", Date, nullable=False),
    Column("arm", String(1), nullable=False),
    Column("model", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("loaded_at", DateTime, nullable=False),
    UniqueConstraint("experiment", "week_start", "arm", "model_version", name="uq_artifacts"),
    CheckConstraint("arm IN ('A', 'B')", name="ck_artifacts_arm"),
)

artifact_tracks = Table(
    "artifact_tracks",
    metadata,
    Column("artifact_id", Integer, nullable=False),
    Column("track_id", String(ID), nullable=False),
    PrimaryKeyConstraint("artifact_id", "track_id", name="pk_artifact_tracks"),
    ForeignKeyConstraint(["artifact_id"], ["artifacts.artifact_id"], name="fk_tracks_artifact"),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("artifact_id", Integer, nullable=False),
    Column("experiment", String(64), nullable=False),
    Column("week_start", Date, nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("arm", String(1), nullable=False),
    Column("served_at", DateTime, nullable=False),
    Column("latency_ms", Float, nullable=True),  # schema 5: arrival -> row written (docstring)
    ForeignKeyConstraint(["artifact_id"], ["artifacts.artifact_id"], name="fk_requests_artifact"),
    UniqueConstraint("request_id", "artifact_id", name="uq_requests_artifact"),
    CheckConstraint("arm IN ('A', 'B')", name="ck_requests_arm"),
    Index("ix_requests_listener", "experiment", "week_start", "user_id"),
)

exposures = Table(
    "exposures",
    metadata,
    Column("exposure_id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("week_start", Date, nullable=False),
    Column("arm", String(1), nullable=False),
    Column("request_id", String(32), nullable=False),
    Column("exposed_at", DateTime, nullable=False),
    UniqueConstraint("experiment", "user_id", "week_start", name="uq_exposures_listener_week"),
    ForeignKeyConstraint(["request_id"], ["requests.request_id"], name="fk_exposures_request"),
    CheckConstraint("arm IN ('A', 'B')", name="ck_exposures_arm"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("artifact_id", Integer, nullable=False),
    Column("track_id", String(ID), nullable=False),
    Column("event_type", String(8), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("received_at", DateTime, nullable=False),
    ForeignKeyConstraint(
        ["request_id", "artifact_id"],
        ["requests.request_id", "requests.artifact_id"],
        name="fk_events_request",
    ),
    ForeignKeyConstraint(
        ["artifact_id", "track_id"],
        ["artifact_tracks.artifact_id", "artifact_tracks.track_id"],
        name="fk_events_served_track",
    ),
    UniqueConstraint(*EVENT_KEY, name="uq_events_once"),
    CheckConstraint("event_type IN ('play', 'skip', 'like')", name="ck_events_type"),
    Index("ix_events_batch", "batch_id"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("track_id", String(ID), nullable=False),
    Column("probability", Float, nullable=False),
    Column("decision", String(8), nullable=False),
    ForeignKeyConstraint(["request_id"], ["requests.request_id"], name="fk_predictions_request"),
    CheckConstraint("probability >= 0 AND probability <= 1", name="ck_predictions_probability"),
    CheckConstraint("decision IN ('fetch', 'stream')", name="ck_predictions_decision"),
)


store_probe = Table(  # the readiness probe's row (not versioned: older code ignores it)
    "store_probe",
    metadata,
    Column("probe_id", Integer, primary_key=True, autoincrement=False),
    Column("probed_at", DateTime, nullable=False),
)


request_items = Table(
    "request_items",
    metadata,
    Column("request_id", String(32), nullable=False),
    Column("track_id", String(ID), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("request_id", "track_id", name="pk_request_items"),
    ForeignKeyConstraint(["request_id"], ["requests.request_id"], name="fk_request_items_request"),
)


arm_stops = Table(
    "arm_stops",
    metadata,
    Column("stop_id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("week_start", Date, nullable=False),
    Column("arm", String(1), nullable=False),
    Column("stopped_at", DateTime, nullable=False),
    Column("reason", String(200), nullable=False),
    # schema 6: the largest exposure_id when the stop was made (NULL on older rows): an
    # exposure is before the stop when its id is at most this, whatever the clock says
    Column("last_exposure_id", Integer, nullable=True),
    UniqueConstraint("experiment", "week_start", "arm", name="uq_arm_stops"),
    CheckConstraint("arm IN ('A', 'B')", name="ck_arm_stops_arm"),
)


class StoreUnavailable(Exception):
    """The store cannot do what was asked now (the service answers 503 with ``reason``).

    ``code`` is a short label (the ``reason`` of ``pozytywka_store_errors_total``):
    ``locked``, ``full``, ``read_only``, ``io``, ``missing``, ``replaced``,
    ``corrupt``, ``unreachable``, ``timeout`` or ``error``; ``op`` the operation
    (``serve``, ``add_events``, ``read``, ``register``, ``probe``, ...)."""

    def __init__(self, code: str, reason: str, op: str = "") -> None:
        super().__init__(code, reason, op)
        self.code, self.reason, self.op = code, reason, op

    def __str__(self) -> str:
        return self.reason


#: Driver errors that are the store's failure, not a bug or a bad item (those stay).
_NOT_THE_STORE = (IntegrityError, ProgrammingError, DataError)

#: (code, what it means) by a fragment of SQLite's or PostgreSQL's message, first match wins.
_MESSAGES = (
    ("database is locked", "locked", "the store is locked by another writer"),
    ("database table is locked", "locked", "the store is locked by another writer"),
    ("lock timeout", "locked", "the store is locked by another writer"),
    ("database or disk is full", "full", "the store's disk is full"),
    ("no space left", "full", "the store's disk is full"),
    ("could not extend file", "full", "the store's disk is full"),
    ("readonly database", "read_only", "the store is read-only"),
    ("read-only transaction", "read_only", "the store is read-only"),
    ("disk i/o error", "io", "the store's disk failed a read or write"),
    ("unable to open database file", "missing", "the store's file cannot be opened"),
    ("not a database", "corrupt", "the store's file is not a database or is damaged"),
    ("malformed", "corrupt", "the store's file is not a database or is damaged"),
    ("statement timeout", "timeout", "the store did not answer in time"),
)
_ERRNOS = {
    errno.ENOENT: ("missing", "a file of the store is missing (its folder removed or unmounted?)"),
    errno.ENOSPC: ("full", "the store's disk is full"),
    errno.EDQUOT: ("full", "the store's disk quota is used up"),
    errno.EFBIG: ("full", "the store's file reached its size limit"),
    errno.EROFS: ("read_only", "the store's file system is read-only"),
    errno.EACCES: ("read_only", "a file of the store is not writable"),
    errno.EPERM: ("read_only", "a file of the store is not writable"),
}


def store_problem(exc: BaseException) -> tuple[str, str]:
    """``(code, one-line reason)`` of a store failure, for the 503 and the metric.

    ``exc``: a driver error wrapped by SQLAlchemy (its ``orig`` is sqlite3's or
    psycopg's), a bare DB-API error, an :class:`OSError` of a store file (the
    write lock, the preflight checks) or a pool timeout. The reason names the
    failure and the database's own words (SQLite's messages carry no path; a
    PostgreSQL connection error is named, not quoted, since it holds the host);
    an :class:`OSError` gives its ``strerror``, not its file name."""
    if isinstance(exc, StoreUnavailable):
        return exc.code, exc.reason
    if isinstance(exc, PoolTimeout):
        return "timeout", "the store has no free connection (all busy): try again"
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        code, what = _ERRNOS.get(exc.errno, ("io", "a file of the store failed"))
        return code, f"{what} ({exc.strerror or exc})"
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    low = text.lower()
    for fragment, code, what in _MESSAGES:
        if fragment in low:
            return code, f"{what} ({text})"
    if type(orig).__module__.startswith("psycopg"):
        # connection refused, server closed the connection, terminating connection, ...
        return "unreachable", "the store's database server is unreachable or closed the connection"
    return "error", f"the store failed ({text})"


def _guarded(op: str):
    """Decorate a :class:`Store` method: a store failure raised in it becomes a
    :class:`StoreUnavailable` of operation ``op`` (bugs and bad items pass through)."""

    def wrap(fn):
        @functools.wraps(fn)
        def guarded(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except StoreUnavailable as exc:
                if not exc.op:
                    exc.op = op
                raise
            except _NOT_THE_STORE:
                raise
            except (DBAPIError, PoolTimeout, OSError, sqlite3.Error) as exc:
                code, reason = store_problem(exc)
                log.warning("store %s failed (%s): %s", op, code, getattr(exc, "orig", exc))
                raise StoreUnavailable(code, reason, op) from exc

        return guarded

    return wrap


class BatchRejected(Exception):
    """A batch with bad items: ``reasons`` holds one line per bad item; nothing was stored.

    ``codes`` holds each line's reason as a short label (``unknown_request``, ...:
    the ``reason`` of the ``pozytywka_events_rejected_total`` metric).
    """

    def __init__(self, reasons: list[str], codes: list[str] | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        self.codes = codes or []


@dataclass(frozen=True)
class EventIn:
    request_id: str
    track_id: str
    event_type: str
    ts: dt.datetime  # naive UTC


@dataclass(frozen=True)
class ServeRequest:
    """A request to log (:meth:`Store.serve`): who was served what, when; ``prediction``
    is ``(track_id, probability, decision)`` for a scoring request."""

    experiment: str
    week_start: dt.date
    user_id: str
    arm: str
    artifact_id: int
    now: dt.datetime
    prediction: tuple[str, float, str] | None = None
    items: tuple[str, ...] | None = None
    #: ``time.perf_counter()`` when the request arrived (this process), for ``latency_ms``
    arrived: float | None = None


@dataclass(frozen=True)
class EventsWrite:
    """One posted batch to store (:meth:`Store.add_events`)."""

    batch: tuple[EventIn, ...]
    now: dt.datetime
    skew: dt.timedelta


@dataclass(frozen=True)
class Served:
    """What :meth:`Store.serve` recorded: the request, and the listener's exposure."""

    request_id: str
    exposure_arm: str
    exposed_at: dt.datetime
    first_exposure: bool


#: An execution option: the transaction writes (SQLite: ``BEGIN IMMEDIATE``), and its
#: busy timeout in ms (:data:`BUSY_TIMEOUT_S` unless given).
WRITE = "pozytywka_write"
BUSY_MS = "pozytywka_busy_ms"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    cur.execute("PRAGMA wal_autocheckpoint=1000")  # SQLite's default, said out loud
    cur.execute("PRAGMA mmap_size=0")  # no map of the database file (the -shm: _preflight)
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """A write starts with ``BEGIN IMMEDIATE`` (takes the write lock, waiting up to its
    busy timeout); a read with ``BEGIN`` (deferred: in WAL mode, a snapshot, no lock)."""
    opts = conn.get_execution_options()
    busy = int(opts.get(BUSY_MS, BUSY_TIMEOUT_S * 1000))
    conn.exec_driver_sql(f"PRAGMA busy_timeout={busy}")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if opts.get(WRITE) else "BEGIN")


def _pg_connect_args(url: str) -> dict:
    """psycopg's connection settings that bound a failure's wait: the connect timeout and
    the row-lock timeout (``lock_timeout``), unless the URL sets them itself."""
    query = url.split("?", 1)[1] if "?" in url else ""
    args: dict = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "options" not in query:
        args["options"] = f"-c lock_timeout={int(BUSY_TIMEOUT_S * 1000)}"
    return args


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite with WAL, foreign keys, deferred reads and
    ``BEGIN IMMEDIATE`` writes (:data:`WRITE`); else pooled, with bounded waits."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != url and not path.startswith(":memory:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PozytywkaError(
                    f"cannot create the store's folder {Path(path).parent}: {exc.strerror}"
                ) from None
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
            pool_size=8,
            pool_timeout=PG_CONNECT_TIMEOUT_S,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs: dict = {"pool_timeout": PG_CONNECT_TIMEOUT_S}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = _pg_connect_args(url)
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


class Store:
    """The one interface to the log (see the module docstring for the schema)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        #: the same pool; its transactions write (SQLite: BEGIN IMMEDIATE, see _sqlite_begin)
        self._writes = self.engine.execution_options(**{WRITE: True})
        self.dialect = self.engine.dialect.name
        self._insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        self._writers: dict[str, GroupCommit] = {}  # started on first use (group_commit.py)
        self._writers_lock = threading.Lock()
        db = self.engine.url.database if self.dialect == "sqlite" else None
        #: the SQLite file (None: PostgreSQL or in memory), its (device, inode) when opened
        self._db = db if db and db != ":memory:" and not db.startswith("file:") else None
        self._write_lock_path = f"{self._db}-writelock" if self._db else None
        #: a file replaced after every new stop of a SQLite file store
        #: (``<file>-armstops``), so processes serving from the store notice a stop with
        #: one ``stat`` instead of a query per request (:mod:`.killswitch`); None for
        #: other stores (they query)
        self.stops_marker = f"{db}-armstops" if db and db != ":memory:" else None
        self._identity: tuple[int, int] | None = None
        self._reopen_lock = threading.Lock()
        #: register_items' keys -> artifact_id: checked again when the file is reopened
        self._registered: dict[tuple, int] = {}
        self._probe: Future | None = None
        self._probe_lock = threading.Lock()
        self._last_write = time.monotonic()
        self._stop = threading.Event()
        self.migrate()
        if self._db:
            self._identity = _identity(self._db)
            threading.Thread(target=self._checkpointer, name="wal-checkpoint", daemon=True).start()

    # -- schema ---------------------------------------------------------------
    def migrate(self) -> int:
        """Create the schema if absent; refuse a store made by newer code. Returns the version."""
        try:
            with self._writes.begin() as conn:
                metadata.create_all(conn, checkfirst=True)
                # 5: a column on ``requests`` (create_all does not alter a table); a no-op
                # on a store that has it
                float_type = "DOUBLE PRECISION" if conn.dialect.name == "postgresql" else "FLOAT"
                _add_column(conn, "requests", "latency_ms", float_type)
                _add_column(conn, "arm_stops", "last_exposure_id", "INTEGER")  # 6
                have = conn.execute(select(func.max(schema_version.c.version))).scalar()
                if have is None:
                    conn.execute(
                        self._insert(schema_version)
                        .values(
                            version=SCHEMA_VERSION,
                            applied_at=utc_now(),
                        )
                        .on_conflict_do_nothing()
                    )
                    have = SCHEMA_VERSION
                elif have < SCHEMA_VERSION:
                    # 1 -> 2 -> 3 -> 4: create_all above added ``predictions`` (2),
                    # ``request_items`` (3) and ``arm_stops`` (4); 5 added
                    # ``requests.latency_ms`` and 6 ``arm_stops.last_exposure_id`` just
                    # above. Record the upgrade.
                    conn.execute(
                        schema_version.insert().values(version=SCHEMA_VERSION, applied_at=utc_now())
                    )
                    have = SCHEMA_VERSION
        except DatabaseError as exc:  # unreachable, or not a database (a stray file)
            raise PozytywkaError(f"cannot open the store {self.safe_url}: {exc.orig}") from None
        if have > SCHEMA_VERSION:
            raise PozytywkaError(
                f"the store {self.safe_url} has schema version {have}, newer than this code's "
                f"{SCHEMA_VERSION}: upgrade the service"
            )
        return int(have)

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- failures, readiness, the WAL -------------------------------------------
    def _preflight(self, write: bool = True) -> None:
        """Before a transaction on a SQLite file: the file is there (a removed folder
        is not papered over by writing into a deleted file, nor by a new empty log),
        its ``-shm`` is writable (else SQLite's map of it is a SIGBUS: see the module
        docstring), and if a restore put another file under its name, the pool is
        reopened on it. Before a ``write``, the database file and its WAL must also be
        writable (``access(2)``: a mode or an immutable flag, ``chattr +i``, that
        forbids it). A commit then still succeeds, into the WAL, but the WAL can never
        be checkpointed into the file and grows without bound, so the store is
        unavailable for writes until the file is writable again. Raises
        :class:`StoreUnavailable`."""
        if self._db is None:
            return
        try:
            ident = _identity(self._db)
        except FileNotFoundError:
            raise StoreUnavailable(
                "missing",
                "the store's database file is missing (its folder removed or unmounted?): "
                "put it back; the service does not start a new empty log while serving",
            ) from None
        shm = f"{self._db}-shm"
        try:
            os.close(os.open(shm, os.O_RDWR))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreUnavailable(
                "read_only",
                f"the store's -shm file is not writable ({exc.strerror}): SQLite maps it, "
                "so the store is not used until it is writable again",
            ) from None
        if write:
            # the database file was just stat'ed (_identity); the WAL may not exist yet
            wal = f"{self._db}-wal"
            for path in (self._db, wal):
                if (path is self._db or os.path.exists(path)) and not os.access(path, os.W_OK):
                    raise StoreUnavailable(
                        "read_only",
                        f"the store's {'WAL' if path is wal else 'database'} file "
                        "is not writable (its mode or an immutable flag): writes are refused "
                        "until it is writable again",
                    )
        if ident != self._identity:
            self._reopen(ident)

    def _reopen(self, ident: tuple[int, int]) -> None:
        """Another file now has the store's name (a restore): close the pool's
        connections (to the old file), migrate the new one and register again what was
        registered. Its artifact ids must be the ones being served, else
        :class:`StoreUnavailable` ``replaced`` (restart the service on that log)."""
        with self._reopen_lock:
            if ident == self._identity:
                return
            log.warning("the store's file was replaced: reopening it")
            self.engine.dispose()
            self._identity = ident
            try:
                self.migrate()
            except PozytywkaError as exc:  # not a database, or newer code's
                self._identity = None
                raise StoreUnavailable("corrupt", str(exc).splitlines()[0]) from None
            for key, aid in sorted(self._registered.items()):
                if self._register(*key) != aid:
                    self._identity = None  # not this log: checked again next time
                    raise StoreUnavailable(
                        "replaced",
                        "the store's file was replaced by another log (its artifact ids "
                        "differ from those served): restart the service",
                    )

    @_guarded("probe")
    def probe(self) -> None:
        """One committed write (the ``store_probe`` row), as a served request's: raises
        :class:`StoreUnavailable` if the store cannot write now. The write lock is waited
        for :data:`PROBE_BUSY_S` at most."""
        opts = {BUSY_MS: int(PROBE_BUSY_S * 1000)}
        with (
            self._write_turn(timeout=PROBE_BUSY_S),
            self._writes.execution_options(**opts).begin() as conn,
        ):
            conn.execute(
                self._insert(store_probe)
                .values(probe_id=1, probed_at=utc_now())
                .on_conflict_do_update(index_elements=["probe_id"], set_={"probed_at": utc_now()})
            )

    def check_writable(self, timeout: float = PROBE_TIMEOUT_S) -> StoreUnavailable | None:
        """The readiness check: None if :meth:`probe` committed within ``timeout``
        seconds, else why not. One probe at a time: a caller arriving while one runs
        waits for that one (a hung disk or server holds one thread, not one per call)."""
        with self._probe_lock:
            fut = self._probe
            if fut is None or fut.done():
                fut = self._probe = Future()
                threading.Thread(
                    target=_resolve, args=(fut, self.probe), name="store-probe", daemon=True
                ).start()
        try:
            fut.result(timeout)
        except TimeoutError:
            return StoreUnavailable(
                "timeout", f"the store did not answer a write within {timeout:g} s", "probe"
            )
        except StoreUnavailable as exc:
            return exc
        return None

    def checkpoint(self) -> bool:
        """``wal_checkpoint(TRUNCATE)`` without waiting (SQLite file stores): True when
        the WAL is empty afterwards (or there is none), False when a reader or writer
        still uses it (or the store failed): try again later."""
        if self._db is None:
            return True
        try:
            if os.path.getsize(f"{self._db}-wal") == 0:
                return True
        except FileNotFoundError:
            return True
        try:
            with self._write_turn(timeout=0.0), self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                raw.execute("PRAGMA busy_timeout=0")
                try:
                    busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            return busy == 0
        except (StoreUnavailable, DBAPIError, OSError, sqlite3.Error) as exc:
            log.debug("checkpoint skipped: %s", exc)
            return False

    def _checkpointer(self) -> None:
        """The WAL's janitor: once no write for :data:`CHECKPOINT_IDLE_S`, checkpoint,
        and again every second until the WAL is empty (a reader may hold it)."""
        while not self._stop.wait(CHECKPOINT_IDLE_S):
            if time.monotonic() - self._last_write >= CHECKPOINT_IDLE_S:
                self.checkpoint()

    def dispose(self) -> None:
        """Stop the writer (after what is queued) and close the connections."""
        self._stop.set()
        with self._writers_lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.close()
        self.engine.dispose()

    # -- artifacts ------------------------------------------------------------
    def register_artifacts(self, arts: Artifacts, now: dt.datetime) -> dict[str, int]:
        """Record the published arms (once per version) and their tracks; ``arm -> artifact_id``."""
        return {
            arm: self.register_items(
                arts.experiment, arts.week_start, arm, a.model, a.model_version, a.track_ids, now
            )
            for arm, a in arts.arms.items()
        }

    @_guarded("register")
    def register_items(
        self,
        experiment: str,
        week_start: dt.date,
        arm: str,
        model: str,
        model_version: str,
        track_ids: Iterable[str],
        now: dt.datetime,
    ) -> int:
        """Record what one arm of ``experiment`` may serve in the week (once per version).

        Returns its ``artifact_id``; events are accepted only on these tracks."""
        key = (experiment, week_start, arm, model, model_version, tuple(sorted(set(track_ids))))
        aid = self._registered[key] = self._register(*key, now=now)
        return aid

    def _register(
        self,
        experiment: str,
        week_start: dt.date,
        arm: str,
        model: str,
        model_version: str,
        track_ids: tuple[str, ...],
        now: dt.datetime | None = None,
    ) -> int:
        now = now or utc_now()
        key = dict(
            experiment=experiment, week_start=week_start, arm=arm, model_version=model_version
        )
        with self._write_turn(), self._writes.begin() as conn:
            conn.execute(
                self._insert(artifacts)
                .values(**key, model=model, loaded_at=now)
                .on_conflict_do_nothing()
            )
            aid = conn.execute(select(artifacts.c.artifact_id).filter_by(**key)).scalar_one()
            rows = [{"artifact_id": aid, "track_id": t} for t in track_ids]
            if rows:
                conn.execute(self._insert(artifact_tracks).on_conflict_do_nothing(), rows)
        return int(aid)

    # -- serving --------------------------------------------------------------
    def serve(
        self,
        experiment: str,
        week_start: dt.date,
        user_id: str,
        arm: str,
        artifact_id: int,
        now: dt.datetime,
        prediction: tuple[str, float, str] | None = None,
        items: Sequence[str] | None = None,
        arrived: float | None = None,
    ) -> Served:
        """Log a served request and, if it is the listener's first this week, their exposure.

        ``prediction``: ``(track_id, probability, decision)`` of a scoring request,
        stored in the same transaction. ``items``: the tracks this request alone served
        (a personal list: its events must be on one of them, not only on a track of the
        arm's artifact). ``arrived``: ``time.perf_counter()`` at the request's arrival,
        for ``requests.latency_ms`` (module docstring). Concurrent calls are committed
        together (:mod:`.group_commit`); this returns once the request's transaction has
        committed."""
        item = ServeRequest(
            experiment,
            week_start,
            user_id,
            arm,
            artifact_id,
            now,
            prediction,
            None if items is None else tuple(items),
            arrived,
        )
        return _within_deadline(
            lambda: self._writer("store-writer", self.serve_many).submit(item, WRITE_DEADLINE_S),
            "serve",
        )

    async def serve_async(self, item: ServeRequest) -> Served:
        """:meth:`serve` for a coroutine: awaits the commit without holding a thread."""
        fut = self._writer("store-writer", self.serve_many).submit_future(item)
        return await _await_commit(fut, "serve")

    def _writer(self, name: str, write_many) -> GroupCommit:
        """The group-commit writer ``name`` over ``write_many``, started on first use.
        A :class:`StoreUnavailable` fails its whole batch and what is queued behind it."""
        writer = self._writers.get(name)
        if writer is None:
            with self._writers_lock:
                writer = self._writers.get(name)
                if writer is None:
                    writer = self._writers[name] = GroupCommit(
                        write_many, name=name, whole=(StoreUnavailable,)
                    )
        return writer

    @contextlib.contextmanager
    def _write_turn(self, timeout: float | None = None):
        """Hold the store's write turn across processes (SQLite file stores only; see
        the module docstring), after :meth:`_preflight`. Each call opens the lock file
        itself: ``flock`` locks belong to an open file, so the two writer threads of one
        process also queue. ``timeout`` (seconds; None: the kernel wakes us when it is
        free): give up with :class:`StoreUnavailable` ``locked`` after that long."""
        self._preflight()
        if self._write_lock_path is None:
            yield
            self._last_write = time.monotonic()
            return
        # "a" never creates the folder: a removed folder is an OSError (ENOENT) here.
        with open(self._write_lock_path, "a") as f:
            _flock(f, timeout)
            yield
            self._last_write = time.monotonic()

    @_guarded("serve")
    def serve_many(self, items: Sequence[ServeRequest]) -> list[Served]:
        """Log ``items`` (in order) in one transaction; one :class:`Served` per item.

        Within the batch as across batches, a listener's exposure is their first
        request of the experiment's week."""
        raw = os.urandom(16 * len(items))  # one system call for the batch's request ids
        ids = [raw[i : i + 16].hex() for i in range(0, len(raw), 16)]
        with self._write_turn(), self._writes.begin() as conn:
            written = time.perf_counter()  # the rows' latency ends here (module docstring)
            conn.execute(
                requests.insert(),
                [
                    dict(
                        request_id=rid,
                        artifact_id=it.artifact_id,
                        experiment=it.experiment,
                        week_start=it.week_start,
                        user_id=it.user_id,
                        arm=it.arm,
                        served_at=it.now,
                        latency_ms=latency_ms(it.arrived, written),
                    )
                    for rid, it in zip(ids, items, strict=True)
                ],
            )
            conn.execute(
                self._insert(exposures).on_conflict_do_nothing(
                    index_elements=["experiment", "user_id", "week_start"]
                ),
                [
                    dict(
                        experiment=it.experiment,
                        user_id=it.user_id,
                        week_start=it.week_start,
                        arm=it.arm,
                        request_id=rid,
                        exposed_at=it.now,
                    )
                    for rid, it in zip(ids, items, strict=True)
                ],
            )
            preds = [
                dict(
                    request_id=rid,
                    track_id=it.prediction[0],
                    probability=it.prediction[1],
                    decision=it.prediction[2],
                )
                for rid, it in zip(ids, items, strict=True)
                if it.prediction is not None
            ]
            if preds:
                conn.execute(predictions.insert(), preds)
            listed = [
                dict(request_id=rid, track_id=t, position=pos)
                for rid, it in zip(ids, items, strict=True)
                if it.items
                for pos, t in enumerate(dict.fromkeys(it.items), start=1)
            ]
            if listed:
                conn.execute(request_items.insert(), listed)
            groups: dict[tuple[str, dt.date], set[str]] = {}
            for it in items:
                groups.setdefault((it.experiment, it.week_start), set()).add(it.user_id)
            exposed = {}
            for (experiment, week_start), users in groups.items():
                for chunk in _chunks(sorted(users), 500):
                    q = select(
                        exposures.c.user_id,
                        exposures.c.arm,
                        exposures.c.exposed_at,
                        exposures.c.request_id,
                    ).where(
                        exposures.c.experiment == experiment,
                        exposures.c.week_start == week_start,
                        exposures.c.user_id.in_(chunk),
                    )
                    exposed.update(
                        ((experiment, week_start, r.user_id), r) for r in conn.execute(q)
                    )
        out = []
        for rid, it in zip(ids, items, strict=True):
            row = exposed[(it.experiment, it.week_start, it.user_id)]
            out.append(Served(rid, row.arm, row.exposed_at, row.request_id == rid))
        return out

    # -- events ---------------------------------------------------------------
    def add_events(
        self,
        batch: Sequence[EventIn],
        now: dt.datetime,
        skew: dt.timedelta,
        stored_by: Counter[tuple[str, str]] | None = None,
    ) -> tuple[str, int, int]:
        """Validate and store a batch atomically: ``(batch_id, stored, duplicates)``.

        Raises :class:`BatchRejected` (nothing stored) when an item refers to an
        unknown request, a track that request did not serve, or has a timestamp
        before the listener's exposure or its request, or later than ``now + skew``.
        Items already in the store (a retried batch) are counted as duplicates, not
        stored again.
        ``stored_by``, when given, is incremented by the stored events per
        ``(arm, event_type)`` once the transaction committed (the service's metrics).
        Batches posted together share one transaction, each checked on its own
        (:mod:`.group_commit`); this returns once it has committed.
        """
        write = EventsWrite(tuple(batch), now, skew)
        done = _within_deadline(
            lambda: self._writer("event-writer", self.add_events_many).submit(
                write, WRITE_DEADLINE_S
            ),
            "add_events",
        )
        return _events_result(done, stored_by)

    async def add_events_async(
        self,
        batch: Sequence[EventIn],
        now: dt.datetime,
        skew: dt.timedelta,
        stored_by: Counter[tuple[str, str]] | None = None,
    ) -> tuple[str, int, int]:
        """:meth:`add_events` for a coroutine: awaits the commit without holding a thread."""
        fut = self._writer("event-writer", self.add_events_many).submit_future(
            EventsWrite(tuple(batch), now, skew)
        )
        return _events_result(await _await_commit(fut, "add_events"), stored_by)

    @_guarded("add_events")
    def add_events_many(
        self, writes: Sequence[EventsWrite]
    ) -> list[tuple[str, list[dict], int] | BatchRejected]:
        """Store several batches in one transaction, each batch all-or-nothing.

        One result per batch, in order: ``(batch_id, stored rows, duplicates)``, or
        the :class:`BatchRejected` of a batch that stored nothing. The lookups are made
        once for the whole group (:meth:`_event_context`), each batch is checked on its
        own (:func:`check_events`), and the accepted batches' rows go in one
        ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: an event already stored (a
        retried batch, an earlier batch of the group, or another process's insert on
        PostgreSQL) is refused by the unique key ``uq_events_once`` and counted as a
        duplicate of the batch that sent it again."""
        with self._write_turn(), self._writes.begin() as conn:
            ctx = self._event_context(conn, [e for w in writes for e in w.batch])
            # Per batch: its BatchRejected, or (batch_id, its rows to insert).
            checked: list[BatchRejected | tuple[str, list[dict]]] = []
            for w in writes:
                reasons, codes = check_events(w.batch, ctx, w.now + w.skew, w.now)
                if reasons:
                    checked.append(BatchRejected(reasons, codes))
                    continue
                batch_id = uuid.uuid4().hex
                rows = [
                    {
                        "request_id": e.request_id,
                        "artifact_id": ctx.requests[e.request_id].artifact_id,
                        "track_id": e.track_id,
                        "event_type": e.event_type,
                        "ts": e.ts,
                        "batch_id": batch_id,
                        "received_at": w.now,
                    }
                    for e in w.batch
                ]
                checked.append((batch_id, rows))
            candidates = [r for c in checked if not isinstance(c, BatchRejected) for r in c[1]]
            stored = set()
            if candidates:
                stmt = (
                    self._insert(events)
                    .on_conflict_do_nothing(index_elements=list(EVENT_KEY))
                    .returning(*(events.c[k] for k in (*EVENT_KEY, "batch_id")))
                )
                # In key order (stable: an earlier batch's copy first): two processes
                # inserting overlapping groups take the key's row locks in one order, so
                # they cannot deadlock on PostgreSQL.
                ordered = sorted(candidates, key=lambda r: tuple(r[k] for k in EVENT_KEY))
                stored = {tuple(r) for r in conn.execute(stmt, ordered)}
        out: list[tuple[str, list[dict], int] | BatchRejected] = []
        for c, w in zip(checked, writes, strict=True):
            if isinstance(c, BatchRejected):
                out.append(c)
                continue
            batch_id, rows = c
            kept = [
                {**r, "arm": ctx.requests[r["request_id"]].arm}
                for r in rows
                if (*(r[k] for k in EVENT_KEY), batch_id) in stored
            ]
            out.append((batch_id, kept, len(w.batch) - len(kept)))
        return out

    def _event_context(self, conn: Connection, items: Sequence[EventIn]) -> EventContext:
        """What checking ``items`` needs from the store: one indexed query per table
        (in chunks) for the requests they name, those requests' own lists, and the
        artifacts' tracks among theirs."""
        known = {}
        for chunk in _chunks(sorted({e.request_id for e in items}), 500):
            q = (
                select(
                    requests.c.request_id,
                    requests.c.artifact_id,
                    requests.c.arm,
                    requests.c.served_at,
                    exposures.c.exposed_at,
                    predictions.c.track_id.label("scored"),
                )
                .join(
                    exposures,
                    (exposures.c.experiment == requests.c.experiment)
                    & (exposures.c.user_id == requests.c.user_id)
                    & (exposures.c.week_start == requests.c.week_start),
                )
                .outerjoin(predictions, predictions.c.request_id == requests.c.request_id)
                .where(requests.c.request_id.in_(chunk))
            )
            known.update({r.request_id: r for r in conn.execute(q)})
        listed: dict[str, set[str]] = {}
        for chunk in _chunks(sorted(known), 500):
            q = select(request_items.c.request_id, request_items.c.track_id).where(
                request_items.c.request_id.in_(chunk)
            )
            for r in conn.execute(q):
                listed.setdefault(r.request_id, set()).add(r.track_id)
        # Both IN lists on the primary key (artifact_id, track_id): an index search for
        # each combination. A row-value IN (``(a, t) IN (VALUES ...)``) scans the table
        # on SQLite (EXPLAIN QUERY PLAN).
        artifact_ids = sorted({r.artifact_id for r in known.values()})
        tracks = sorted({e.track_id for e in items if e.request_id in known})
        served = set()
        for chunk in _chunks(tracks, 500):
            q = select(artifact_tracks.c.artifact_id, artifact_tracks.c.track_id).where(
                artifact_tracks.c.artifact_id.in_(artifact_ids),
                artifact_tracks.c.track_id.in_(chunk),
            )
            served.update((r.artifact_id, r.track_id) for r in conn.execute(q))
        return EventContext(known, listed, served)

    # -- reading the experiment ----------------------------------------------
    @contextlib.contextmanager
    def _reading(self):
        """A read: :meth:`_preflight`, then a connection whose transaction is deferred."""
        self._preflight(write=False)
        with self.engine.connect() as conn:
            yield conn

    @_guarded("read")
    def exposures_frame(
        self,
        experiment: str,
        week_start: dt.date,
        before: dt.datetime | None = None,
        upto: int | None = None,
    ) -> pd.DataFrame:
        """The week's exposed listeners: ``user_id``, ``arm`` (exposed to), ``exposed_at``;
        with ``upto`` (a kill switch's ``last_exposure_id``), only those logged before the
        stop (exposure id at most ``upto``: exact, even when a manual clock gives the
        stop and later exposures the same time); else with ``before``, only those
        exposed before that time."""
        q = select(exposures.c.user_id, exposures.c.arm, exposures.c.exposed_at).where(
            exposures.c.experiment == experiment, exposures.c.week_start == week_start
        )
        if upto is not None:
            q = q.where(exposures.c.exposure_id <= upto)
        elif before is not None:
            q = q.where(exposures.c.exposed_at < before)
        return self._frame(q, ["user_id", "arm", "exposed_at"])

    @_guarded("read")
    def listeners_in_both_arms(
        self, experiment: str, week_start: dt.date, before: dt.datetime | None = None
    ) -> list[str]:
        """Listeners whose requests in the week (served before ``before``, if given) were
        served more than one arm (sorted)."""
        q = select(requests.c.user_id).where(
            requests.c.experiment == experiment, requests.c.week_start == week_start
        )
        if before is not None:
            q = q.where(requests.c.served_at < before)
        q = (
            q.group_by(requests.c.user_id)
            .having(func.count(func.distinct(requests.c.arm)) > 1)
            .order_by(requests.c.user_id)
        )
        with self._reading() as conn:
            return [r[0] for r in conn.execute(q)]

    @_guarded("read")
    def events_frame(
        self, experiment: str, week_start: dt.date, before: dt.datetime | None = None
    ) -> pd.DataFrame:
        """The week's events as sessions: ``session_id`` (= the request), ``user_id``,
        ``track_id``, ``event_type``, ``timestamp``, ordered by listener, request, time, id.
        With ``before``: only events before it, of requests served before it."""
        window = () if before is None else (requests.c.served_at < before, events.c.ts < before)
        q = (
            select(
                events.c.request_id.label("session_id"),
                requests.c.user_id,
                events.c.track_id,
                events.c.event_type,
                events.c.ts.label("timestamp"),
            )
            .join(requests, requests.c.request_id == events.c.request_id)
            .where(
                requests.c.experiment == experiment, requests.c.week_start == week_start, *window
            )
            .order_by(requests.c.user_id, events.c.request_id, events.c.ts, events.c.event_id)
        )
        frame = self._frame(q, ["session_id", "user_id", "track_id", "event_type", "timestamp"])
        frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
        return frame

    @_guarded("read")
    def latency_frame(
        self, experiment: str, week_start: dt.date, before: dt.datetime | None = None
    ) -> pd.DataFrame:
        """The week's served requests that have a latency: ``user_id``, ``arm``,
        ``latency_ms`` (module docstring), ordered by listener and request. With
        ``before``: only requests served before it."""
        window = () if before is None else (requests.c.served_at < before,)
        q = (
            select(requests.c.user_id, requests.c.arm, requests.c.latency_ms)
            .where(
                requests.c.experiment == experiment,
                requests.c.week_start == week_start,
                requests.c.latency_ms.is_not(None),
                *window,
            )
            .order_by(requests.c.user_id, requests.c.request_id)
        )
        frame = self._frame(q, ["user_id", "arm", "latency_ms"])
        frame["latency_ms"] = frame["latency_ms"].astype("float64")
        return frame

    @_guarded("read")
    def predictions_frame(
        self, experiment: str, week_start: dt.date, before: dt.datetime | None = None
    ) -> pd.DataFrame:
        """The week's scoring requests with their outcome, one row per prediction.

        Columns ``request_id``, ``user_id``, ``arm``, ``track_id``, ``probability``,
        ``decision``, ``played`` (a ``play`` event on the scored track was logged)
        and ``skipped`` (a ``skip`` event was logged), both 0/1."""
        q = (
            select(
                predictions.c.request_id,
                requests.c.user_id,
                requests.c.arm,
                predictions.c.track_id,
                predictions.c.probability,
                predictions.c.decision,
            )
            .join(requests, requests.c.request_id == predictions.c.request_id)
            .where(requests.c.experiment == experiment, requests.c.week_start == week_start)
            .order_by(requests.c.user_id, predictions.c.request_id)
        )
        if before is not None:  # a kill switch's time: requests served and events before it
            q = q.where(requests.c.served_at < before)
        cols = ["request_id", "user_id", "arm", "track_id", "probability", "decision"]
        frame = self._frame(q, cols)
        ev = self.events_frame(experiment, week_start, before)
        for kind, col in (("play", "played"), ("skip", "skipped")):
            hit = ev.loc[ev["event_type"] == kind, ["session_id", "track_id"]].drop_duplicates()
            keys = set(zip(hit["session_id"], hit["track_id"], strict=True))
            frame[col] = [
                int((r, t) in keys)
                for r, t in zip(frame["request_id"], frame["track_id"], strict=True)
            ]
        return frame

    # -- the kill switch (schema 4) -------------------------------------------
    @_guarded("stop_arm")
    def stop_arm(
        self, experiment: str, week_start: dt.date, arm: str, now: dt.datetime, reason: str
    ) -> tuple[dt.datetime, bool]:
        """Stop ``arm`` of ``experiment``'s week at ``now``: ``(stopped_at, newly)``.

        Idempotent: an arm already stopped keeps its first time (``newly`` False).
        Raises :class:`PozytywkaError` when the other arm is already stopped (one arm
        must stay served). One transaction; committed when this returns, so every
        process reading :meth:`arm_stops` afterwards sees it."""
        if arm not in ("A", "B"):
            raise PozytywkaError(f"arm must be A or B, got {arm!r}")
        key = dict(experiment=experiment, week_start=week_start)
        with self._write_turn(), self._writes.begin() as conn:
            have = {
                r.arm: r.stopped_at
                for r in conn.execute(
                    select(arm_stops.c.arm, arm_stops.c.stopped_at).filter_by(**key)
                )
            }
            if arm in have:
                return have[arm], False
            if have:
                other = next(iter(have))
                raise PozytywkaError(
                    f"arm {other} of {experiment} (week {week_start}) is already stopped: "
                    "one arm must stay served"
                )
            # the stop's place in the log: exposures with a larger id came after it
            last = conn.execute(select(func.max(exposures.c.exposure_id))).scalar() or 0
            conn.execute(
                arm_stops.insert().values(
                    **key, arm=arm, stopped_at=now, reason=reason[:200], last_exposure_id=last
                )
            )
        self._touch_stops_marker()
        return now, True

    def _touch_stops_marker(self) -> None:
        path = self.stops_marker
        if path is None:
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(uuid.uuid4().hex)
        os.replace(tmp, path)  # a new inode: a reader's stat sees the change

    @_guarded("read")
    def arm_stops(self, experiment: str, week_start: dt.date) -> dict[str, dt.datetime]:
        """``arm -> stopped_at`` of the experiment's week (empty: both arms served).

        On SQLite a plain autocommit read on the driver's connection (about 0.1 ms: the
        playlists route calls this from the event loop when a stop was made)."""
        if self.dialect == "sqlite":
            self._preflight(write=False)
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute(
                    "SELECT arm, stopped_at FROM arm_stops WHERE experiment = ? AND week_start = ?",
                    (experiment, week_start.isoformat()),
                )
                rows = cur.fetchall()
                cur.close()
            finally:
                raw.close()
            return {arm: dt.datetime.fromisoformat(at) for arm, at in rows}
        q = select(arm_stops.c.arm, arm_stops.c.stopped_at).where(
            arm_stops.c.experiment == experiment, arm_stops.c.week_start == week_start
        )
        with self._reading() as conn:
            return {r.arm: r.stopped_at for r in conn.execute(q)}

    @_guarded("read")
    def stop_positions(self, experiment: str, week_start: dt.date) -> dict[str, int | None]:
        """``arm -> last_exposure_id`` of the experiment's week's stops (None: a stop made
        by a schema-5 service, without its position)."""
        q = select(arm_stops.c.arm, arm_stops.c.last_exposure_id).where(
            arm_stops.c.experiment == experiment, arm_stops.c.week_start == week_start
        )
        with self._reading() as conn:
            return {r.arm: r.last_exposure_id for r in conn.execute(q)}

    def arm_stops_frame(self) -> pd.DataFrame:
        """Every stop in the log: ``experiment``, ``week_start``, ``arm``, ``stopped_at``,
        ``reason``, in the order they were made."""
        cols = ["experiment", "week_start", "arm", "stopped_at", "reason"]
        q = select(*(arm_stops.c[c] for c in cols)).order_by(arm_stops.c.stop_id)
        return self._frame(q, cols)

    @_guarded("read")
    def count(self, table: str) -> int:
        t = metadata.tables[table]
        with self._reading() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

    def _frame(self, query, columns: list[str]) -> pd.DataFrame:
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def latency_ms(arrived: float | None, written: float) -> float | None:
    """Milliseconds from ``arrived`` to ``written`` (``time.perf_counter()`` seconds of one
    process), rounded to the microsecond; None without an arrival time."""
    if arrived is None:
        return None
    return round(max(written - arrived, 0.0) * 1000.0, 3)


def _add_column(conn: Connection, table: str, column: str, sql_type: str) -> None:
    """``table.column`` on a store made by older code (SQLite and PostgreSQL both take
    ``ALTER TABLE ... ADD COLUMN``; existing rows get NULL). Nothing is done when the
    column is already there."""
    if any(c["name"] == column for c in inspect(conn).get_columns(table)):
        return
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


def _identity(path: str) -> tuple[int, int]:
    """``(device, inode)`` of ``path``: which file has the name now."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _flock(f, timeout: float | None) -> None:
    """``flock(LOCK_EX)`` on open file ``f``; with ``timeout``, polled (1-5 ms sleeps)
    and :class:`StoreUnavailable` ``locked`` when it is still held after ``timeout`` s."""
    if timeout is None:
        fcntl.flock(f, fcntl.LOCK_EX)
        return
    deadline, pause = time.monotonic() + timeout, 0.001
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreUnavailable(
                    "locked", f"the store's write turn stayed taken for {timeout:g} s"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.005)


def _resolve(fut: Future, fn) -> None:
    """Run ``fn()`` and put its result or exception in ``fut`` (a probe thread)."""
    try:
        fut.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiter
        fut.set_exception(exc)


def _deadline_passed(op: str) -> StoreUnavailable:
    return StoreUnavailable(
        "timeout",
        f"the store did not commit within {WRITE_DEADLINE_S:g} s (busy or slow disk): "
        "nothing is acknowledged, try again",
        op,
    )


def _within_deadline(submit, op: str):
    """``submit()`` (a group commit's blocking submit with the deadline as its timeout),
    its :class:`TimeoutError` turned into a :class:`StoreUnavailable`."""
    try:
        return submit()
    except TimeoutError:
        raise _deadline_passed(op) from None


async def _await_commit(fut: Future, op: str):
    """Await a group commit's future at most :data:`WRITE_DEADLINE_S` seconds; past it
    the item is withdrawn if not yet taken, and :class:`StoreUnavailable` is raised."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(fut), WRITE_DEADLINE_S)
    except TimeoutError:
        raise _deadline_passed(op) from None


def _events_result(
    done: tuple[str, list[dict], int], stored_by: Counter[tuple[str, str]] | None
) -> tuple[str, int, int]:
    batch_id, rows, dupes = done
    if stored_by is not None:
        stored_by.update((r["arm"], r["event_type"]) for r in rows)
    return batch_id, len(rows), dupes


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class EventContext:
    """The store's side of checking a group of event batches (:func:`check_events`).

    ``requests``: request_id -> row with ``artifact_id``, ``arm``, ``served_at`` (of
    the request), ``exposed_at`` (the listener's exposure) and ``scored`` (the track
    a scoring request scored, or None);
    ``listed``: request_id -> the tracks a personal-list request served;
    ``served``: the (artifact_id, track_id) pairs of the artifacts' tracks."""

    requests: dict
    listed: dict[str, set[str]]
    served: set[tuple[int, str]]


def check_events(
    batch: Sequence[EventIn], ctx: EventContext, latest: dt.datetime, now: dt.datetime
) -> tuple[list[str], list[str]]:
    """Why each bad item of ``batch`` is bad: ``(reasons, codes)``, both empty if none is.

    One line per bad item (``events[i]: ...``), first rule broken wins: the event
    type, the request, the track (scored / recommended / served in that request),
    the exposure and the request (no event before either), the clock (none after
    ``latest`` = service time + allowed skew), and no item repeating an earlier one
    of the batch. Codes are the store's rejection codes (:data:`.metrics` maps them
    to the ``reason`` label)."""
    reasons: list[str] = []
    codes: list[str] = []

    def bad(code: str, line: str) -> None:
        codes.append(code)
        reasons.append(line)

    seen: dict[tuple, int] = {}
    for i, e in enumerate(batch):
        r = ctx.requests.get(e.request_id)
        where = f"events[{i}]"
        if e.event_type not in EVENT_TYPES:
            bad(
                "unknown_event_type",
                f"{where}: unknown event_type {e.event_type!r} (play, skip or like)",
            )
        elif r is None:
            bad("unknown_request", f"{where}: unknown request_id {e.request_id!r}")
        elif r.scored is not None and e.track_id != r.scored:
            bad(
                "track_not_served",
                f"{where}: track {e.track_id!r} was not scored in request {e.request_id}",
            )
        elif e.request_id in ctx.listed and e.track_id not in ctx.listed[e.request_id]:
            bad(
                "track_not_served",
                f"{where}: track {e.track_id!r} was not recommended in request {e.request_id}",
            )
        elif (r.artifact_id, e.track_id) not in ctx.served:
            bad(
                "track_not_served",
                f"{where}: track {e.track_id!r} was not served in request {e.request_id}",
            )
        elif e.ts < min(r.exposed_at, r.served_at):
            # min: with several processes, a listener's first two requests may commit in
            # the other order than they were stamped, so one request can be a few ms
            # older than the exposure the other one wrote.
            bad(
                "before_exposure",
                f"{where}: timestamp {e.ts.isoformat()} is before the listener's exposure "
                f"({r.exposed_at.isoformat()})",
            )
        elif e.ts < r.served_at:
            bad(
                "before_request",
                f"{where}: timestamp {e.ts.isoformat()} is before request {e.request_id} "
                f"was served ({r.served_at.isoformat()})",
            )
        elif e.ts > latest:
            bad(
                "in_future",
                f"{where}: timestamp {e.ts.isoformat()} is in the future "
                f"(service time {now.isoformat()})",
            )
        else:
            key = (e.request_id, e.track_id, e.event_type, e.ts)
            if key in seen:
                bad("repeated", f"{where}: repeats events[{seen[key]}]")
            seen.setdefault(key, i)
    return reasons, codes
