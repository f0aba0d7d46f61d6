"""The store as the log grows: ``GET /v1/playlists`` latency with 10k and 1M exposures in it.

For each size: a SQLite store in a temp dir is filled with that many listeners'
exposures and their requests (bulk inserts, as weeks of traffic would leave
them), the service is started on it (``pozytywka serve``, a real uvicorn
process on loopback), and ``requests`` sequential ``GET /v1/playlists`` are
timed from one client: half for listeners already exposed (a request row is
written, the exposure insert hits the unique index and does nothing), half for
new listeners (a request and an exposure are written). Every request is a
committed write transaction (``synchronous=FULL``).

The indexes the route uses, which keep it flat as the log grows:
``uq_exposures_listener_week`` (experiment, user_id, week_start) for the
exposure's insert-or-nothing and the read back; the primary key of
``requests``; ``ix_requests_listener`` (experiment, week_start, user_id) for
the read-out's per-listener arms. ``EXPLAIN QUERY PLAN`` of the exposure
lookup is saved with the results to show the index is used.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select, text

from ..experiment.assign import arm_of
from ..serve.artifacts import load_artifacts
from ..serve.process import ServiceProcess
from ..serve.settings import Settings
from ..serve.store import Store, exposures, requests

CHUNK = 50_000
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per timed request


def fill(store: Store, arts, ids: dict[str, int], n: int) -> None:
    """``n`` listeners ``bench-0 ..`` each with one request and its exposure."""
    now = dt.datetime.combine(arts.week_start, dt.time())
    for start in range(0, n, CHUNK):
        users = [f"bench-{i}" for i in range(start, min(n, start + CHUNK))]
        arms = [arm_of(u, arts.ab.salt, arts.ab.split) for u in users]
        reqs = [uuid.uuid4().hex for _ in users]
        with store.engine.begin() as conn:
            conn.execute(
                requests.insert(),
                [
                    dict(request_id=r, artifact_id=ids[a], experiment=arts.experiment,
                         week_start=arts.week_start, user_id=u, arm=a, served_at=now)
                    for r, u, a in zip(reqs, users, arms, strict=True)
                ],
            )  # fmt: skip
            conn.execute(
                exposures.insert(),
                [
                    dict(experiment=arts.experiment, user_id=u, week_start=arts.week_start,
                         arm=a, request_id=r, exposed_at=now)
                    for r, u, a in zip(reqs, users, arms, strict=True)
                ],
            )  # fmt: skip


def query_plan(store: Store, arts) -> list[str]:
    q = select(exposures.c.arm).where(
        exposures.c.experiment == arts.experiment,
        exposures.c.user_id == "bench-1",
        exposures.c.week_start == arts.week_start,
    )
    sql = str(q.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        return [str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {
        "requests": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "mean_ms": round(float(a.mean()), 2),
    }


def bench_size(root: Path, n: int, n_requests: int) -> dict:
    arts = load_artifacts(root)
    with tempfile.TemporaryDirectory(prefix="pozytywka-bench-store-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'log.sqlite'}"
        store = Store(Settings(store_url=url).database_url)
        ids = store.register_artifacts(arts, dt.datetime.combine(arts.week_start, dt.time()))
        t0 = time.perf_counter()
        fill(store, arts, ids, n)
        fill_s = time.perf_counter() - t0
        plan = query_plan(store, arts)
        store.dispose()
        with (
            ServiceProcess(root, {"POZYTYWKA_STORE": url}) as svc,
            httpx.Client(base_url=svc.url, timeout=30) as client,
        ):
            client.get("/v1/playlists", params={"user_id": "warm-up"}).raise_for_status()
            timings: dict[str, list[float]] = {"exposed": [], "new": []}
            for i in range(n_requests):
                kind = "exposed" if i % 2 == 0 else "new"
                user = f"bench-{(i * 7919) % n}" if kind == "exposed" else f"fresh-{i}"
                t = time.perf_counter()
                r = client.get("/v1/playlists", params={"user_id": user})
                timings[kind].append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                assert r.json()["first_exposure"] == (kind == "new")
    return {
        "exposures_in_store": n,
        "fill_seconds": round(fill_s, 1),
        "exposed_listener": _stats(timings["exposed"]),
        "new_listener": _stats(timings["new"]),
        "exposure_lookup_plan": plan,
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "# Store benchmark: GET /v1/playlists latency as the log grows",
        "",
        "SQLite (WAL, synchronous=FULL), one client, sequential requests over loopback HTTP; "
        "each request is a committed write. Produced by `pozytywka bench-store`.",
        "",
        "| exposures in store | listener | requests | p50 ms | p95 ms | p99 ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for kind in ("exposed_listener", "new_listener"):
            s = r[kind]
            lines.append(
                f"| {r['exposures_in_store']:,} | {kind.replace('_', ' ')} | {s['requests']} | "
                f"{s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} |"
            )
    lines += ["", "Exposure lookup (`EXPLAIN QUERY PLAN`):", ""]
    lines += [f"- {p}" for p in results[-1]["exposure_lookup_plan"]]
    return "\n".join(lines) + "\n"
