"""The log's schema on SQLite and PostgreSQL: the database itself keeps it consistent."""

from __future__ import annotations

import datetime as dt
import fcntl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from pozytywka.serve.artifacts import load_artifacts
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import (
    SCHEMA_VERSION,
    BatchRejected,
    EventIn,
    EventsWrite,
    ServeRequest,
    Store,
    events,
    exposures,
    schema_version,
)
from serve_support import postgres_server, store_url, write_tiny_root  # noqa: F401

T0 = dt.datetime(2024, 7, 29, 8, 0)
SKEW = dt.timedelta(seconds=5)


@pytest.fixture
def arts(tmp_path):
    return load_artifacts(write_tiny_root(tmp_path / "root"))


@pytest.fixture
def store(store_url):  # noqa: F811
    s = Store(Settings(store_url=store_url).database_url)
    yield s
    s.dispose()


def _serve(store, arts, ids, user, arm="A", at=T0):
    return store.serve(arts.experiment, arts.week_start, user, arm, ids[arm], at)


def test_schema_is_created_once_and_versioned(store, arts):
    assert store.migrate() == SCHEMA_VERSION  # a second start migrates nothing
    with store.engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]
    ids = store.register_artifacts(arts, T0)
    assert store.register_artifacts(arts, T0 + dt.timedelta(hours=1)) == ids  # same version
    assert store.count("artifact_tracks") == 20


def test_exposure_is_written_once_per_listener_and_week(store, arts):
    ids = store.register_artifacts(arts, T0)
    first = _serve(store, arts, ids, "u1")
    again = _serve(store, arts, ids, "u1", at=T0 + dt.timedelta(hours=2))
    assert first.first_exposure and not again.first_exposure
    assert again.exposed_at == T0 and again.request_id != first.request_id
    assert store.count("exposures") == 1 and store.count("requests") == 2


def test_concurrent_first_requests_expose_once(store, arts):
    ids = store.register_artifacts(arts, T0)
    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(lambda _: _serve(store, arts, ids, "u9"), range(16)))
    assert sum(s.first_exposure for s in served) == 1
    assert store.count("exposures") == 1 and store.count("requests") == 16


def test_one_transaction_of_many_requests_exposes_each_listener_at_their_first(store, arts):
    ids = store.register_artifacts(arts, T0)
    at = [T0 + dt.timedelta(minutes=m) for m in range(4)]
    items = [
        ServeRequest(arts.experiment, arts.week_start, user, "A", ids["A"], t)
        for user, t in zip(["u1", "u2", "u1", "u2"], at, strict=True)
    ]
    served = store.serve_many(items)
    assert [s.first_exposure for s in served] == [True, True, False, False]
    assert [s.exposed_at for s in served] == [at[0], at[1], at[0], at[1]]
    assert served[2].exposure_arm == "A" and len({s.request_id for s in served}) == 4
    assert store.count("exposures") == 2 and store.count("requests") == 4


def test_the_database_rejects_a_second_exposure_and_orphan_events(store, arts):
    ids = store.register_artifacts(arts, T0)
    req = _serve(store, arts, ids, "u1").request_id
    row = dict(experiment="playlists", user_id="u1", week_start=arts.week_start, arm="B",
               request_id=req, exposed_at=T0)  # fmt: skip
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(exposures).values(**row))
    ev = dict(request_id=req, artifact_id=ids["A"], track_id="a01", event_type="play", ts=T0,
              batch_id="x", received_at=T0)  # fmt: skip
    bad = [
        {**ev, "request_id": "0" * 32},  # no such request
        {**ev, "track_id": "b01"},  # not a track of what the request served
        {**ev, "artifact_id": ids["B"], "track_id": "b01"},  # not the request's artifact
        {**ev, "event_type": "share"},  # not an event type
    ]
    for row in bad:
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(events).values(**row))
    with store.engine.begin() as conn:
        conn.execute(insert(events).values(**ev))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(events).values(**{**ev, "batch_id": "y"}))  # the same event twice
    assert store.count("events") == 1


def test_a_bad_item_rejects_the_whole_batch(store, arts):
    ids = store.register_artifacts(arts, T0)
    req = _serve(store, arts, ids, "u1").request_id
    good = EventIn(req, "a01", "play", T0 + dt.timedelta(minutes=1))
    batches = {
        "unknown request_id": EventIn("f" * 32, "a01", "play", T0),
        "was not served": EventIn(req, "b01", "play", T0),
        "before the listener's exposure": EventIn(req, "a02", "play", T0 - dt.timedelta(1)),
        "in the future": EventIn(req, "a02", "play", T0 + dt.timedelta(minutes=5)),
        "unknown event_type": EventIn(req, "a02", "share", T0),
    }
    now = T0 + dt.timedelta(minutes=2)
    for reason, bad in batches.items():
        with pytest.raises(BatchRejected) as info:
            store.add_events([good, bad, good], now, SKEW)
        assert [r.split(":")[0] for r in info.value.reasons][:1] == ["events[1]"]
        assert reason in info.value.reasons[0]
        assert info.value.reasons[1:] == ["events[2]: repeats events[0]"]
    assert store.count("events") == 0
    _, stored, dupes = store.add_events([good], now, SKEW)
    assert (stored, dupes) == (1, 0)
    _, stored, dupes = store.add_events([good], now, SKEW)  # a retry
    assert (stored, dupes) == (0, 1)
    assert store.count("events") == 1


def test_an_event_cannot_precede_the_request_that_served_its_track(store, arts):
    """Exposed at T0, served again at T0 + 1 h: an event on the second request at
    T0 + 30 min is after the exposure but before its request existed."""
    ids = store.register_artifacts(arts, T0)
    _serve(store, arts, ids, "u1")
    later = _serve(store, arts, ids, "u1", at=T0 + dt.timedelta(hours=1)).request_id
    now = T0 + dt.timedelta(hours=2)
    with pytest.raises(BatchRejected) as info:
        store.add_events([EventIn(later, "a01", "play", T0 + dt.timedelta(minutes=30))], now, SKEW)
    assert info.value.codes == ["before_request"]
    assert info.value.reasons == [
        f"events[0]: timestamp 2024-07-29T08:30:00 is before request {later} was served "
        "(2024-07-29T09:00:00)"
    ]
    _, stored, _ = store.add_events(
        [EventIn(later, "a01", "play", T0 + dt.timedelta(hours=1))], now, SKEW
    )
    assert stored == 1  # at the moment it was served is fine


def test_a_request_older_than_the_exposure_another_process_wrote_takes_its_events(store, arts):
    """Two processes stamp a listener's first two requests at T0 + 1 s and T0 but commit
    them in that order: the exposure says T0 + 1 s, and an event of the T0 request at
    T0 + 1 ms is neither before that request nor, really, before the exposure."""
    ids = store.register_artifacts(arts, T0)
    item = ServeRequest(arts.experiment, arts.week_start, "u1", "A", ids["A"], T0)
    later, first = store.serve_many([replace(item, now=T0 + dt.timedelta(seconds=1)), item])
    assert later.first_exposure and later.exposed_at == T0 + dt.timedelta(seconds=1)
    ev = EventIn(first.request_id, "a01", "play", T0 + dt.timedelta(milliseconds=1))
    _, stored, _ = store.add_events([ev], T0 + dt.timedelta(minutes=1), SKEW)
    assert stored == 1
    with pytest.raises(BatchRejected, match="before the listener's exposure"):
        store.add_events(
            [EventIn(first.request_id, "a01", "skip", T0 - dt.timedelta(seconds=1))],
            T0 + dt.timedelta(minutes=1),
            SKEW,
        )


def test_batches_committed_together_stay_all_or_nothing_each(store, arts):
    ids = store.register_artifacts(arts, T0)
    req = _serve(store, arts, ids, "u1").request_id
    now = T0 + dt.timedelta(minutes=2)
    good = EventIn(req, "a01", "play", T0 + dt.timedelta(minutes=1))
    like = EventIn(req, "a01", "like", T0 + dt.timedelta(minutes=1))
    bad = EventIn(req, "b01", "play", T0)
    out = store.add_events_many(
        [
            EventsWrite((good,), now, SKEW),
            EventsWrite((like, bad), now, SKEW),  # rejected: the like is not stored either
            EventsWrite((good, like), now, SKEW),  # sees the first batch's row in the transaction
        ]
    )
    assert [len(o[1]) for o in (out[0], out[2])] == [1, 1] and (out[0][2], out[2][2]) == (0, 1)
    assert isinstance(out[1], BatchRejected) and "was not served" in out[1].reasons[0]
    assert out[0][0] != out[2][0]  # each batch its own batch_id
    assert store.count("events") == 2


def test_a_track_of_the_other_arm_is_not_served_even_when_both_arms_share_a_group(store, arts):
    ids = store.register_artifacts(arts, T0)
    ra = _serve(store, arts, ids, "u1").request_id
    rb = _serve(store, arts, ids, "u2", arm="B").request_id
    now, t = T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=1)
    out = store.add_events_many(
        [
            EventsWrite((EventIn(rb, "b01", "play", t),), now, SKEW),
            EventsWrite((EventIn(ra, "b01", "play", t),), now, SKEW),  # B's track, A's request
            EventsWrite((EventIn(ra, "a01", "play", t),), now, SKEW),
        ]
    )
    assert isinstance(out[1], BatchRejected) and "was not served" in out[1].reasons[0]
    assert [(len(o[1]), o[2]) for o in (out[0], out[2])] == [(1, 0), (1, 0)]
    assert [(r["arm"], r["track_id"]) for r in out[0][1] + out[2][1]] == [
        ("B", "b01"),
        ("A", "a01"),
    ]
    assert store.count("events") == 2


def test_the_same_batch_from_two_processes_is_stored_once(store_url, arts):  # noqa: F811
    """Two service processes (two stores on one database) take the same retried batch
    at once: the unique key keeps one copy, and the other answer counts a duplicate."""
    stores = [Store(Settings(store_url=store_url).database_url) for _ in range(2)]
    try:
        ids = stores[0].register_artifacts(arts, T0)
        req = _serve(stores[0], arts, ids, "u1").request_id
        now = T0 + dt.timedelta(minutes=2)
        batch = [
            EventIn(req, "a01", kind, T0 + dt.timedelta(seconds=s))
            for kind in ("play", "skip", "like")
            for s in range(20)
        ]
        for _ in range(5):
            with ThreadPoolExecutor(2) as pool:
                got = list(pool.map(lambda s: s.add_events(batch, now, SKEW)[1:], stores))
            assert sum(stored for stored, _ in got) in (0, len(batch))
            assert sum(dupes for _, dupes in got) in (len(batch), 2 * len(batch))
        assert stores[1].count("events") == len(batch)
    finally:
        for s in stores:
            s.dispose()


def test_a_serving_write_holds_the_sqlite_write_turn_until_it_commits(tmp_path, arts):
    """Writers of several processes on one SQLite file queue on an flock, not on SQLite's
    sleeping busy handler: while one holds the turn, nobody else (another open file, as
    another process) can take it, and it is free again after the commit."""
    store = Store(Settings(store_url=f"sqlite:///{tmp_path / 'log.sqlite'}").database_url)
    ids = store.register_artifacts(arts, T0)
    lock = tmp_path / "log.sqlite-writelock"
    probes = []

    def probe() -> bool:
        with open(lock, "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(other, fcntl.LOCK_UN)
            return True

    @event.listens_for(store.engine, "commit")
    def _at_commit(conn):
        probes.append(probe())

    _serve(store, arts, ids, "u1")
    store.add_events(
        [EventIn(_serve(store, arts, ids, "u2").request_id, "a01", "play", T0)],
        T0 + dt.timedelta(minutes=1),
        SKEW,
    )
    assert probes == [False, False, False]  # three serving writes, each holding the turn
    assert probe()
    store.dispose()


def test_events_frame_is_sessions_by_request(store, arts):
    ids = store.register_artifacts(arts, T0)
    r1 = _serve(store, arts, ids, "u1").request_id
    r2 = _serve(store, arts, ids, "u2", arm="B").request_id
    t = T0 + dt.timedelta(minutes=1)
    store.add_events(
        [
            EventIn(r2, "b01", "play", t),
            EventIn(r1, "a01", "skip", t),
            EventIn(r1, "a01", "play", T0),
        ],
        T0 + dt.timedelta(hours=1),
        SKEW,
    )
    ev = store.events_frame("playlists", arts.week_start)
    assert ev["session_id"].tolist() == [r1, r1, r2]
    assert ev["event_type"].tolist() == ["play", "skip", "play"]
    assert ev["user_id"].tolist() == ["u1", "u1", "u2"]
    exposed = store.exposures_frame("playlists", arts.week_start)
    assert sorted(zip(exposed["user_id"], exposed["arm"], strict=True)) == [
        ("u1", "A"),
        ("u2", "B"),
    ]
