"""The real server over HTTP on loopback: nothing acknowledged is lost when it is killed.

One ``pozytywka serve`` process (uvicorn) on a free port, a SQLite store in a
temp dir, the manual clock (event times in the published week). Four client
threads send a few thousand requests (playlist requests and event batches of
1-60 events); once 1,500 answers are in, the server gets SIGKILL. After a
restart on the same store every acknowledged request, exposure and event is
there exactly once, and every batch sent is either wholly stored or absent.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import threading
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select

from pozytywka.config import ABParams
from pozytywka.experiment.assign import ab_arm
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import Store, events, exposures, requests
from serve_support import TRACKS, write_tiny_root

pytestmark = pytest.mark.timeout(600)

WEEK = dt.datetime(2024, 7, 29)
THREADS, OPS, KILL_AFTER = 4, 1000, 1500


def served_arm(user: str) -> str:
    """The arm whose playlists the service serves ``user``: the global holdout gets A's."""
    arm = ab_arm(user, ABParams())
    return "A" if arm == "H" else arm


@dataclass
class Log:
    """What one client thread sent and what was acknowledged."""

    acked_requests: dict[str, str] = field(default_factory=dict)  # request_id -> user
    sent_batches: list[list[tuple]] = field(default_factory=list)
    acked_batches: list[int] = field(default_factory=list)  # indexes into sent_batches


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    root = write_tiny_root(tmp / "root")
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp / 'log.sqlite'}",
        "POZYTYWKA_CLOCK": "manual",
        "POZYTYWKA_ADMIN_TOKEN": "t",
    }
    return root, env


def client_thread(url: str, seed: int, log: Log, acks: Counter, lock, reached: threading.Event):
    rng = random.Random(seed)
    tick = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(OPS):
            try:
                if not log.acked_requests or rng.random() < 0.6:
                    user = f"t{seed}-{rng.randrange(300)}"
                    r = client.get("/v1/playlists", params={"user_id": user})
                    r.raise_for_status()
                    log.acked_requests[r.json()["request_id"]] = user
                else:
                    batch = []
                    for _ in range(rng.randint(1, 60)):
                        req, user = rng.choice(list(log.acked_requests.items()))
                        tick += 1
                        ts = WEEK + dt.timedelta(microseconds=seed * 1_000_000 + tick)
                        track = rng.choice(TRACKS[served_arm(user)])
                        batch.append((req, track, rng.choice(["play", "skip", "like"]), ts))
                    log.sent_batches.append(batch)
                    body = [
                        {
                            "request_id": q,
                            "track_id": t,
                            "event_type": e,
                            "timestamp": s.isoformat(),
                        }
                        for q, t, e, s in batch
                    ]
                    r = client.post("/v1/events", json={"events": body})
                    r.raise_for_status()
                    log.acked_batches.append(len(log.sent_batches) - 1)
            except (httpx.TransportError, httpx.HTTPStatusError):
                return  # the server is gone: what was not acknowledged may or may not be stored
            with lock:
                acks[0] += 1
                if acks[0] >= KILL_AFTER:
                    reached.set()
    reached.set()


def test_sigkill_loses_nothing_acknowledged_and_leaves_no_half_batch(project):
    root, env = project
    logs = [Log() for _ in range(THREADS)]
    acks, lock, reached = Counter(), threading.Lock(), threading.Event()
    svc = ServiceProcess(root, env).start()
    threads = [
        threading.Thread(target=client_thread, args=(svc.url, i, logs[i], acks, lock, reached))
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    reached.wait()
    svc.kill()
    for t in threads:
        t.join()
    assert acks[0] >= KILL_AFTER

    with ServiceProcess(root, env) as again:  # restart on the same store
        assert (
            httpx.get(again.url + "/v1/playlists", params={"user_id": "after"}).status_code == 200
        )
        assert httpx.get(again.url + "/v1/experiments/playlists/results").status_code == 200
    # SIGTERM: uvicorn's graceful shutdown ran to the end (then it re-raises the signal).
    assert again.proc.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in again.log()

    store = Store(Settings(store_url=env["POZYTYWKA_STORE"], root=root).database_url)
    with store.engine.connect() as conn:
        stored_requests = Counter(conn.execute(select(requests.c.request_id)).scalars())
        exposed = Counter(conn.execute(select(exposures.c.user_id)).scalars())
        stored_events = Counter(
            tuple(r)
            for r in conn.execute(
                select(events.c.request_id, events.c.track_id, events.c.event_type, events.c.ts)
            )
        )
    store.dispose()
    acked_requests = {k: v for log in logs for k, v in log.acked_requests.items()}
    assert all(stored_requests[r] == 1 for r in acked_requests)
    assert all(exposed[u] == 1 for u in set(acked_requests.values()))
    assert max(stored_events.values()) == 1
    n_acked_events = 0
    for log in logs:
        acked = set(log.acked_batches)
        for i, batch in enumerate(log.sent_batches):
            keys = {(q, t, e, s) for q, t, e, s in batch}
            found = sum(k in stored_events for k in keys)
            assert found in (0, len(keys)), "a half-written batch"
            if i in acked:
                assert found == len(keys)
                n_acked_events += len(keys)
    assert n_acked_events > 0 and len(acked_requests) > 500
