"""The service fails safe when its store breaks (issue 22, items 1 and 2).

On a real server over loopback (``pozytywka serve``, a SQLite store in a temp dir, or
a throwaway PostgreSQL), each fault is switched on while the service runs, then
mended:

- an outside ``sqlite3`` writer holding the write lock (``BEGIN IMMEDIATE``): reads,
  the results endpoint and ``/readyz`` answer at once; writes wait at most the busy
  timeout, then 503;
- an outside reader holding an old snapshot while the WAL grows: once it leaves, the
  WAL is truncated (no restart, no new write);
- the store's folder moved away (removed, unmounted), the database file and its WAL
  made immutable (``chattr +i``: ``chmod`` does not stop root, and a file already
  open stays writable to its holder even for another user, so only the immutable flag
  makes the open files read-only), the ``-shm`` made immutable (SQLite maps it: a
  SIGBUS killed the process before), a full disk (a 2 MiB tmpfs, filled up), a stopped
  PostgreSQL server.

For each: every write answers 503 ``{"detail": [reason]}`` with ``Retry-After`` within
5 s, ``/readyz`` is 503 naming the store during the fault and 200 after, the process
stays alive, and every acknowledged (2xx) request and event is in the store exactly
once. The root-only faults (``chattr``, ``mount``) run as root or with password-less
``sudo``, else they are skipped. The pure parts (the classification of failures, the
group commit's whole-batch failure) have unit tests with hand-made data.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from pozytywka.serve.process import ServiceProcess, free_port
from serve_support import TRACKS, write_tiny_root

pytestmark = pytest.mark.timeout(300)

WEEK = dt.datetime(2024, 7, 29)
BOUND_S = 5.0  # the bound for a failure's answer
WAL_LIMIT = 4 * 1024 * 1024  # store.WAL_LIMIT_BYTES


# --- unit tests: the pure parts ------------------------------------------------------


def test_store_problem_names_each_failure_by_the_databases_words():
    import psycopg
    from sqlalchemy.exc import OperationalError

    from pozytywka.serve.store import store_problem

    def wrapped(orig):
        return OperationalError("INSERT ...", {}, orig)

    cases = [
        (wrapped(sqlite3.OperationalError("database is locked")), "locked"),
        (wrapped(sqlite3.OperationalError("database or disk is full")), "full"),
        (wrapped(sqlite3.OperationalError("attempt to write a readonly database")), "read_only"),
        (wrapped(sqlite3.OperationalError("disk I/O error")), "io"),
        (wrapped(sqlite3.OperationalError("unable to open database file")), "missing"),
        (wrapped(sqlite3.DatabaseError("file is not a database")), "corrupt"),
        (OSError(errno.ENOENT, "No such file or directory", "/x/p.sqlite-writelock"), "missing"),
        (OSError(errno.ENOSPC, "No space left on device"), "full"),
        (OSError(errno.EPERM, "Operation not permitted"), "read_only"),
    ]
    for exc, code in cases:
        assert store_problem(exc)[0] == code, exc
    code, reason = store_problem(wrapped(sqlite3.OperationalError("database or disk is full")))
    assert reason == "the store's disk is full (database or disk is full)"
    # an OSError's file name (a path of the server) is not in the answer
    assert "/x/" not in store_problem(cases[6][0])[1]
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "10.0.0.7", port 5432 failed: refused'
    )
    code, reason = store_problem(wrapped(refused))
    assert code == "unreachable" and "10.0.0.7" not in reason


class _Down(Exception):
    """The store failed (a ``whole`` failure of the group commit)."""


def test_a_store_failure_fails_the_batch_and_the_queue_at_once_and_a_cancelled_item_is_skipped():
    from pozytywka.serve.group_commit import GroupCommit

    calls: list[list[int]] = []
    entered, release = threading.Event(), threading.Event()

    def write_many(items):
        calls.append(list(items))
        if len(calls) == 1:
            entered.set()
            release.wait(30)
            raise _Down("disk full")
        return list(items)

    gc = GroupCommit(write_many, whole=(_Down,))
    first = gc.submit_future(1)
    assert entered.wait(30)
    queued = [gc.submit_future(i) for i in (2, 3, 4)]
    assert queued[1].cancel()  # its caller gave up before the writer took it
    release.set()
    for fut in (first, queued[0], queued[2]):
        with pytest.raises(_Down):
            fut.result(30)
    assert queued[1].cancelled()
    # one transaction tried: no one-by-one retry, the queued items did not wait for their own
    assert calls == [[1]]
    assert gc.submit(5, timeout=30) == 5  # the store is back: the writer goes on
    gc.close()
    assert calls == [[1], [5]]


def test_sqlite_reads_do_not_wait_for_an_outside_writer(tmp_path):
    """A store read while another connection holds ``BEGIN IMMEDIATE`` answers at once
    (it waited the 30 s busy timeout and failed, before: every transaction was IMMEDIATE)."""
    from pozytywka.serve.store import Store

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    store = Store(url)
    outside = sqlite3.connect(tmp_path / "log.sqlite", isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        start = time.monotonic()
        assert store.count("requests") == 0
        assert time.monotonic() - start < 1.0
        down = store.check_writable()
        assert down is not None and down.code == "locked"
        assert time.monotonic() - start < BOUND_S
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    assert store.check_writable() is None
    store.dispose()


def test_a_store_file_put_back_by_a_restore_is_reopened_and_another_log_is_refused(tmp_path):
    from pozytywka.serve.artifacts import load_artifacts
    from pozytywka.serve.store import Store, StoreUnavailable

    arts = load_artifacts(write_tiny_root(tmp_path / "root"))
    db = tmp_path / "log.sqlite"
    store = Store(f"sqlite:///{db}")
    ids = store.register_artifacts(arts, WEEK)
    assert store.checkpoint()  # the WAL is in the file: a copy of it is the whole log
    shutil.copy(db, tmp_path / "backup.sqlite")
    store.serve(arts.experiment, arts.week_start, "u1", "A", ids["A"], WEEK)
    for f in tmp_path.glob("log.sqlite*"):
        f.unlink()
    with pytest.raises(StoreUnavailable, match="missing"):
        store.count("requests")
    shutil.copy(tmp_path / "backup.sqlite", db)  # the restore: another inode, same log
    assert store.count("requests") == 0  # reopened: the backup has no request yet
    assert store.serve(arts.experiment, arts.week_start, "u2", "A", ids["A"], WEEK).first_exposure
    for f in tmp_path.glob("log.sqlite*"):
        f.unlink()
    other = Store(f"sqlite:///{db}")  # another log under the name: artifact ids differ
    other.register_items("skips", arts.week_start, "A", "m", "v", ["x"], WEEK)
    other.dispose()
    with pytest.raises(StoreUnavailable, match="restart the service"):
        store.count("requests")
    store.dispose()


# --- the real server -----------------------------------------------------------------


@dataclass
class Ledger:
    """What the clients sent and what was acknowledged."""

    acked_requests: set[str] = field(default_factory=set)
    acked_events: list[tuple] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # status -> count
    tick: int = 0
    seen: dict = field(default_factory=dict)  # during the fault: slowest answers, reasons


def one_round(client: httpx.Client, ledger: Ledger, user: str) -> list[httpx.Response]:
    """A playlist request, then (if it was served) one event on a served track."""
    out = [client.get("/v1/playlists", params={"user_id": user})]
    ledger.answers[out[0].status_code] += 1
    if out[0].status_code != 200:
        return out
    body = out[0].json()
    ledger.acked_requests.add(body["request_id"])
    ledger.tick += 1
    ts = WEEK + dt.timedelta(microseconds=ledger.tick)
    event = (body["request_id"], TRACKS[body["arm"]][0], "play", ts)
    payload = {
        "events": [
            {"request_id": event[0], "track_id": event[1], "event_type": "play",
             "timestamp": ts.isoformat()}
        ]
    }  # fmt: skip
    out.append(client.post("/v1/events", json=payload))
    ledger.answers[out[1].status_code] += 1
    if out[1].status_code == 200:
        ledger.acked_events.append(event)
    return out


def assert_fails_safe(client: httpx.Client, ledger: Ledger, users: list[str], word: str) -> None:
    """During a fault: each write a 503 in the one error shape, with its reason
    (containing ``word``) and ``Retry-After``, within the bound; ``/readyz`` 503 naming
    the store, within the bound."""
    for user in users:
        start = time.monotonic()
        r = client.get("/v1/playlists", params={"user_id": user})
        took = time.monotonic() - start
        ledger.answers[r.status_code] += 1
        assert r.status_code == 503, r.text
        assert took < BOUND_S, took
        detail = r.json()["detail"]
        assert len(detail) == 1 and word in detail[0], detail
        assert int(r.headers["retry-after"]) >= 1
        ledger.seen["slowest_503_s"] = max(ledger.seen.get("slowest_503_s", 0), took)
        ledger.seen["reason"] = detail[0]
    start = time.monotonic()
    ready = client.get("/readyz")
    ledger.seen["readyz_s"] = time.monotonic() - start
    ledger.seen["readyz"] = ready.json()["status"]
    assert ledger.seen["readyz_s"] < BOUND_S
    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["store"] is False
    assert ready.json()["status"].startswith("not ready: store: ")


def wait_ready(client: httpx.Client, within: float = 30.0) -> float:
    """Poll ``/readyz`` until 200; the seconds it took (fails past ``within``)."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if client.get("/readyz").status_code == 200:
            return time.monotonic() - start
        threading.Event().wait(0.05)
    raise AssertionError(f"/readyz not 200 within {within} s after the store was mended")


def assert_acknowledged_stored_once(url: str, ledger: Ledger) -> None:
    """Every 2xx request and event is in the store exactly once."""
    engine = create_engine(url)
    with engine.connect() as conn:
        reqs = Counter(conn.execute(text("SELECT request_id FROM requests")).scalars())
        rows = conn.execute(text("SELECT request_id, track_id, event_type, ts FROM events"))
        evs = Counter(
            (r, t, e, dt.datetime.fromisoformat(s) if isinstance(s, str) else s)
            for r, t, e, s in rows
        )
    engine.dispose()
    assert ledger.acked_requests and ledger.acked_events
    assert all(reqs[r] == 1 for r in ledger.acked_requests)
    assert all(evs[e] == 1 for e in ledger.acked_events)


def _root(*cmd: str) -> None:
    """Run a root-only command (as root, or through password-less sudo)."""
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*prefix, *cmd], check=True, capture_output=True)


def _can(*cmd: str) -> bool:
    try:
        _root(*cmd)
        return True
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_tiny_root(tmp_path_factory.mktemp("faults") / "root")


def serve(root: Path, store_url: str) -> ServiceProcess:
    env = {"POZYTYWKA_STORE": store_url, "POZYTYWKA_CLOCK": "manual"}
    return ServiceProcess(root, env, startup_timeout=120).start()


@dataclass
class Live:
    """A running service on a SQLite store (shared by the SQLite fault tests: starting
    one takes seconds)."""

    svc: ServiceProcess
    db: Path
    client: httpx.Client

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"


@pytest.fixture(scope="module")
def live(root, tmp_path_factory):
    db = tmp_path_factory.mktemp("sqlite") / "store" / "p.sqlite"
    svc = serve(root, f"sqlite:///{db}")
    with httpx.Client(base_url=svc.url, timeout=60) as client:
        yield Live(svc, db, client)
    svc.terminate()


def fault_cycle(
    client: httpx.Client, svc: ServiceProcess, store_url: str, fault_on, fault_off, word: str
) -> Ledger:
    """Traffic; fault on; 503s and /readyz false; fault off; ready again and traffic
    served; every acknowledged row stored once."""
    ledger = Ledger()
    tag = f"{word.replace(' ', '')}{time.monotonic_ns()}"
    assert wait_ready(client) < BOUND_S
    for i in range(5):
        assert [r.status_code for r in one_round(client, ledger, f"{tag}h{i}")] == [200, 200]
    fault_on()
    try:
        assert_fails_safe(client, ledger, [f"{tag}f{i}" for i in range(4)], word)
        assert svc.proc.poll() is None  # alive
    finally:
        fault_off()
    ledger.seen["ready_again_s"] = wait_ready(client)
    for i in range(5):
        assert [r.status_code for r in one_round(client, ledger, f"{tag}a{i}")] == [200, 200]
    assert svc.proc.poll() is None
    # counted under the first store call that failed: the write (``serve``), or on
    # PostgreSQL the kill switch's read of the stopped arms (``read``) before it
    assert re.search(
        r'pozytywka_store_errors_total\{op="(serve|read)"', client.get("/metrics").text
    )
    assert_acknowledged_stored_once(store_url, ledger)
    assert ledger.answers[503] >= 4
    print(f"\n{word}: {ledger.seen} answers {dict(ledger.answers)}")  # the numbers (pytest -s)
    return ledger


def test_an_outside_writer_blocks_no_reader_and_writes_fail_within_the_bound(live):
    outside = sqlite3.connect(live.db, isolation_level=None)

    def hold_the_lock():  # a backup, a sqlite3 shell: holds the write lock
        outside.execute("BEGIN IMMEDIATE")
        for path in ("/v1/experiments/playlists/results", "/healthz"):
            start = time.monotonic()
            assert live.client.get(path).status_code == 200
            assert time.monotonic() - start < 1.0, path

    try:
        fault_cycle(
            live.client, live.svc, live.url, hold_the_lock,
            lambda: outside.execute("ROLLBACK"), "locked",
        )  # fmt: skip
    finally:
        outside.close()


def test_the_wal_shrinks_once_a_long_reader_leaves(live):
    wal = Path(f"{live.db}-wal")
    reader = sqlite3.connect(live.db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM requests").fetchone()  # holds its snapshot
    n = 0
    while wal.stat().st_size <= WAL_LIMIT and n < 3000:
        assert live.client.get("/v1/playlists", params={"user_id": f"w{n}"}).status_code == 200
        n += 1
    grown = wal.stat().st_size
    assert grown > WAL_LIMIT  # a reader on an old snapshot: SQLite cannot restart the WAL
    reader.execute("COMMIT")
    reader.close()
    start = time.monotonic()  # no more writes: the service shrinks it by itself
    while wal.stat().st_size > WAL_LIMIT and time.monotonic() - start < 15:
        threading.Event().wait(0.05)
    assert wal.stat().st_size <= WAL_LIMIT, (n, grown, wal.stat().st_size)
    took = time.monotonic() - start
    print(f"\nWAL: {grown} bytes after {n} requests, {wal.stat().st_size} after {took:.2f} s")


def test_the_store_folder_moved_away_then_back(live, tmp_path):
    folder, away = live.db.parent, tmp_path / "store.away"

    def move_away():
        folder.rename(away)
        # not only the playlists: the read-out and event posts answer the one shape too
        some = WEEK.isoformat()
        event = {"request_id": "0" * 32, "track_id": "a01", "event_type": "like", "timestamp": some}
        for method, path, kw in (
            ("GET", "/v1/experiments/playlists/results", {}),
            ("POST", "/v1/events", {"json": {"events": [event]}}),
        ):
            r = live.client.request(method, path, **kw)
            assert r.status_code == 503 and r.headers["content-type"] == "application/json"
            assert "missing" in r.json()["detail"][0]

    fault_cycle(live.client, live.svc, live.url, move_away, lambda: away.rename(folder), "missing")


needs_chattr = pytest.mark.skipif(
    shutil.which("chattr") is None or (os.geteuid() != 0 and shutil.which("sudo") is None),
    reason="chattr as root (or password-less sudo) makes an open file read-only",
)


def _chattr_or_skip(path: Path) -> None:
    if not _can("chattr", "+i", str(path)):
        pytest.skip("chattr +i is not permitted here (needs root or sudo, and ext4/xfs/btrfs)")
    _root("chattr", "-i", str(path))


@needs_chattr
def test_a_read_only_store_file(live):
    files = [live.db, Path(f"{live.db}-wal")]
    _chattr_or_skip(files[0])

    def on():
        for f in files:
            _root("chattr", "+i", str(f))

    def off():
        for f in files:
            _root("chattr", "-i", str(f))

    # SQLite's own words ("disk I/O error" or "readonly database"): the code says which
    ledger = fault_cycle(live.client, live.svc, live.url, on, off, "the store")
    assert ledger.answers[503] >= 4


@needs_chattr
def test_a_read_only_database_file_alone_refuses_writes(live):
    """Only the database file immutable: commits would still land in the WAL, which
    could then never be checkpointed and would grow without bound (found by a
    newcomer: every answer 200, /readyz ready, the WAL from 2 to 13 MB). Writes are
    refused with the reason; reads still answer."""
    db = Path(live.db)
    _chattr_or_skip(db)
    ledger = fault_cycle(
        live.client, live.svc, live.url,
        lambda: _root("chattr", "+i", str(db)),
        lambda: _root("chattr", "-i", str(db)),
        "database file is not writable",
    )  # fmt: skip
    assert ledger.answers[503] >= 4


@needs_chattr
def test_a_read_only_shm_does_not_kill_the_process(live):
    shm = Path(f"{live.db}-shm")
    _chattr_or_skip(shm)
    fault_cycle(
        live.client, live.svc, live.url,
        lambda: _root("chattr", "+i", str(shm)),
        lambda: _root("chattr", "-i", str(shm)),
        "-shm",
    )  # fmt: skip


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (``mount``: root or sudo), unmounted after the test."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if not _can("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)):
        pytest.skip("mounting a tmpfs is not permitted here (needs root or sudo)")
    if os.geteuid() != 0:
        _root("chown", str(os.geteuid()), str(mnt))
    yield mnt
    _root("umount", "-l", str(mnt))


def test_a_full_disk(root, small_disk):
    filler = small_disk / "filler"

    def fill():
        with filler.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    url = f"sqlite:///{small_disk / 'store' / 'p.sqlite'}"
    svc = serve(root, url)
    try:
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            fault_cycle(client, svc, url, fill, filler.unlink, "full")
    finally:
        svc.terminate()


def test_a_stopped_postgresql(root):
    from pozytywka.serve.pgtemp import PostgresServer, pg_bin

    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (.ci/run installs Debian's postgresql)")
    server = PostgresServer(bindir, free_port()).start()
    try:
        url = server.create_database()
        svc = serve(root, url)
        try:
            with httpx.Client(base_url=svc.url, timeout=60) as client:
                fault_cycle(client, svc, url, server.halt, server.resume, "database server")
        finally:
            svc.terminate()
    finally:
        server.stop()
