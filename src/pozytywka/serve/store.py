"""The log of the service: one schema on SQLite (WAL) and PostgreSQL, written with SQLAlchemy Core.

Tables (constraints enforced by the database, not only by this code):

- ``schema_version(version)``: the schema this code created; checked on start.
- ``artifacts``: which published output was live: (experiment, week_start, arm,
  model, model_version), unique on (experiment, week_start, arm, model_version);
  ``artifact_tracks(artifact_id, track_id)``: the tracks it serves.
- ``requests``: every served ``GET /v1/playlists``: ``request_id`` (32 hex),
  the listener, arm, the artifact served (foreign key), ``served_at``.
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
store of schema 1, 2 or 3 is migrated on start (the new tables are added; nothing
else changes).

Every write is one transaction, committed before the route answers: a 2xx
means the rows are on disk (SQLite ``synchronous=FULL``; PostgreSQL's default
``synchronous_commit``). Served requests that arrive together share one
transaction, and so do event batches (group commit, :mod:`.group_commit`). On
SQLite, write transactions start with ``BEGIN IMMEDIATE`` (a writer waits instead
of failing to upgrade a read lock), foreign keys are switched on per connection,
and the journal is WAL (readers never block the writer). The serving writers of
several processes on one SQLite file (``pozytywka serve --workers 2``) take turns
on an ``flock`` of ``<file>-writelock``: the kernel wakes the next writer when the
lock is free, where SQLite's busy handler polls with sleeps of up to 100 ms (p99
of ``GET /v1/playlists`` at 32 clients: 2.5 s without the lock in one of two runs,
46 ms with it). Times are naive UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
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
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from ..errors import PozytywkaError
from .artifacts import Artifacts
from .clock import utc_now
from .group_commit import GroupCommit

SCHEMA_VERSION = 4
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
    UniqueConstraint("experiment", "week_start", "arm", name="uq_arm_stops"),
    CheckConstraint("arm IN ('A', 'B')", name="ck_arm_stops_arm"),
)


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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite with WAL, foreign keys, BEGIN IMMEDIATE; else pooled."""
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
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Store:
    """The one interface to the log (see the module docstring for the schema)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        self._writers: dict[str, GroupCommit] = {}  # started on first use (group_commit.py)
        self._writers_lock = threading.Lock()
        db = self.engine.url.database if self.dialect == "sqlite" else None
        self._write_lock_path = f"{db}-writelock" if db and db != ":memory:" else None
        self.migrate()

    # -- schema ---------------------------------------------------------------
    def migrate(self) -> int:
        """Create the schema if absent; refuse a store made by newer code. Returns the version."""
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn, checkfirst=True)
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
                    # ``request_items`` (3) and ``arm_stops`` (4); nothing else changed.
                    # Record the upgrade.
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

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                conn.rollback()
            return True
        except SQLAlchemyError:
            return False

    def dispose(self) -> None:
        """Stop the writer (after what is queued) and close the connections."""
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
        key = dict(
            experiment=experiment, week_start=week_start, arm=arm, model_version=model_version
        )
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(artifacts)
                .values(**key, model=model, loaded_at=now)
                .on_conflict_do_nothing()
            )
            aid = conn.execute(select(artifacts.c.artifact_id).filter_by(**key)).scalar_one()
            rows = [{"artifact_id": aid, "track_id": t} for t in sorted(set(track_ids))]
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
    ) -> Served:
        """Log a served request and, if it is the listener's first this week, their exposure.

        ``prediction``: ``(track_id, probability, decision)`` of a scoring request,
        stored in the same transaction. ``items``: the tracks this request alone served
        (a personal list: its events must be on one of them, not only on a track of the
        arm's artifact). Concurrent calls are committed together
        (:mod:`.group_commit`); this returns once the request's transaction has
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
        )
        return self._writer("store-writer", self.serve_many).submit(item)

    async def serve_async(self, item: ServeRequest) -> Served:
        """:meth:`serve` for a coroutine: awaits the commit without holding a thread."""
        fut = self._writer("store-writer", self.serve_many).submit_future(item)
        return await asyncio.wrap_future(fut)

    def _writer(self, name: str, write_many) -> GroupCommit:
        """The group-commit writer ``name`` over ``write_many``, started on first use."""
        writer = self._writers.get(name)
        if writer is None:
            with self._writers_lock:
                writer = self._writers.get(name)
                if writer is None:
                    writer = self._writers[name] = GroupCommit(write_many, name=name)
        return writer

    @contextlib.contextmanager
    def _write_turn(self):
        """Hold the store's write turn across processes (SQLite file stores only; see
        the module docstring). Each call opens the lock file itself: ``flock`` locks
        belong to an open file, so the two writer threads of one process also queue."""
        if self._write_lock_path is None:
            yield
            return
        with open(self._write_lock_path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def serve_many(self, items: Sequence[ServeRequest]) -> list[Served]:
        """Log ``items`` (in order) in one transaction; one :class:`Served` per item.

        Within the batch as across batches, a listener's exposure is their first
        request of the experiment's week."""
        raw = os.urandom(16 * len(items))  # one system call for the batch's request ids
        ids = [raw[i : i + 16].hex() for i in range(0, len(raw), 16)]
        with self._write_turn(), self.engine.begin() as conn:
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
        done = self._writer("event-writer", self.add_events_many).submit(
            EventsWrite(tuple(batch), now, skew)
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
        return _events_result(await asyncio.wrap_future(fut), stored_by)

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
        with self._write_turn(), self.engine.begin() as conn:
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
    def exposures_frame(
        self, experiment: str, week_start: dt.date, before: dt.datetime | None = None
    ) -> pd.DataFrame:
        """The week's exposed listeners: ``user_id``, ``arm`` (exposed to), ``exposed_at``;
        with ``before``, only those exposed before it (a kill switch's time)."""
        q = select(exposures.c.user_id, exposures.c.arm, exposures.c.exposed_at).where(
            exposures.c.experiment == experiment, exposures.c.week_start == week_start
        )
        if before is not None:
            q = q.where(exposures.c.exposed_at < before)
        return self._frame(q, ["user_id", "arm", "exposed_at"])

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
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(q)]

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
        with self._write_turn(), self.engine.begin() as conn:
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
            conn.execute(
                arm_stops.insert().values(**key, arm=arm, stopped_at=now, reason=reason[:200])
            )
        self._touch_stops_marker()
        return now, True

    @property
    def stops_marker(self) -> str | None:
        """A file replaced after every new stop of a SQLite file store (``<file>-armstops``),
        so processes serving from the store notice a stop with one ``stat`` instead of a
        query per request (:mod:`.killswitch`); None for other stores (they query)."""
        db = self.engine.url.database if self.dialect == "sqlite" else None
        return f"{db}-armstops" if db and db != ":memory:" else None

    def _touch_stops_marker(self) -> None:
        path = self.stops_marker
        if path is None:
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(uuid.uuid4().hex)
        os.replace(tmp, path)  # a new inode: a reader's stat sees the change

    def arm_stops(self, experiment: str, week_start: dt.date) -> dict[str, dt.datetime]:
        """``arm -> stopped_at`` of the experiment's week (empty: both arms served).

        On SQLite a plain read on the driver's connection (autocommit): a SQLAlchemy
        transaction would start with ``BEGIN IMMEDIATE`` and wait for the writer, and
        the playlists route calls this from the event loop."""
        if self.dialect == "sqlite":
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
        with self.engine.connect() as conn:
            return {r.arm: r.stopped_at for r in conn.execute(q)}

    def arm_stops_frame(self) -> pd.DataFrame:
        """Every stop in the log: ``experiment``, ``week_start``, ``arm``, ``stopped_at``,
        ``reason``, in the order they were made."""
        cols = ["experiment", "week_start", "arm", "stopped_at", "reason"]
        q = select(*(arm_stops.c[c] for c in cols)).order_by(arm_stops.c.stop_id)
        return self._frame(q, cols)

    def count(self, table: str) -> int:
        t = metadata.tables[table]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())

    def _frame(self, query, columns: list[str]) -> pd.DataFrame:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)


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
