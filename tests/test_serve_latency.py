"""Per-request answer latency in the store (schema 5) and the latency guardrail of the live
read-out (issue 23 item 4): the migration, the three serving routes, a real server."""

from __future__ import annotations

import datetime as dt
import math
import time

import httpx
import pytest
from sqlalchemy import insert, inspect, select, text

from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import SCHEMA_VERSION, Store, latency_ms, requests, schema_version
from serve_support import WEEK, postgres_server, store_url, write_tiny_root  # noqa: F401

W = dt.date.fromisoformat(WEEK)
T0 = dt.datetime(2024, 7, 29, 8, 0)


def _latencies(store: Store) -> list:
    with store.engine.connect() as conn:
        q = select(requests.c.latency_ms).order_by(requests.c.served_at)
        return conn.execute(q).scalars().all()


def test_latency_is_milliseconds_from_arrival_to_the_row():
    assert latency_ms(10.0, 10.2505) == 250.5  # seconds -> ms, to the microsecond
    assert latency_ms(None, 10.0) is None
    assert latency_ms(10.0, 9.0) == 0.0  # never negative


def test_a_schema_4_store_gains_the_latency_column(store_url):  # noqa: F811
    old = Store(Settings(store_url=store_url).database_url)
    aid = old.register_items("playlists", W, "A", "m", "v1", ["t1"], T0)
    with old.engine.begin() as conn:  # back to schema 4: no latency column, version 4
        conn.execute(text("ALTER TABLE requests DROP COLUMN latency_ms"))
        conn.execute(schema_version.delete())
        conn.execute(insert(schema_version).values(version=4, applied_at=T0))
        conn.execute(  # a request logged by the old code
            text(
                "INSERT INTO requests (request_id, artifact_id, experiment, week_start, "
                "user_id, arm, served_at) VALUES ('r0', :aid, 'playlists', :w, 'u0', 'A', :t)"
            ),
            {"aid": aid, "w": W, "t": T0},
        )
    old.dispose()
    store = Store(Settings(store_url=store_url).database_url)
    assert SCHEMA_VERSION == 6 and store.migrate() == 6
    with store.engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [4, 6]
        columns = {c["name"]: c for c in inspect(conn).get_columns("requests")}
    assert columns["latency_ms"]["nullable"]
    arrived = time.perf_counter() - 0.25  # arrived a quarter of a second ago
    store.serve("playlists", W, "u1", "A", aid, T0 + dt.timedelta(seconds=1), arrived=arrived)
    store.serve("playlists", W, "u2", "A", aid, T0 + dt.timedelta(seconds=2))  # no arrival
    old_row, timed, untimed = _latencies(store)
    assert old_row is None and untimed is None and 250.0 <= timed < 10_000
    frame = store.latency_frame("playlists", W)  # only the timed request
    assert frame[["user_id", "arm"]].values.tolist() == [["u1", "A"]]
    assert store.latency_frame("playlists", W, before=T0 + dt.timedelta(seconds=1)).empty
    store.dispose()


def test_the_product_routes_log_their_latency(tmp_path):
    from test_serve_products import make_client, users

    with make_client(tmp_path) as c:
        scored = {"user_id": users("skips", "B", 1)[0], "track_id": "t1"}
        skip = c.post("/v1/skips/predict", json=scored)
        recs = c.get("/v1/recommendations", params={"user_id": "known", "k": 2})
        assert skip.status_code == 200 and recs.status_code == 200
        store = c.app.state.store
        skips = store.latency_frame("skips", dt.date.fromisoformat(skip.json()["week_start"]))
        listed = store.latency_frame(recs.json()["experiment"], W)
    assert len(skips) == 1 and skips["latency_ms"][0] > 0
    assert listed["user_id"].tolist() == ["known"] and listed["latency_ms"][0] > 0


def test_latencies_are_stored_and_guard_the_live_readout_on_a_real_server(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    db = tmp_path / "log.sqlite"
    users = [f"u{i}" for i in range(40)]
    with ServiceProcess(root, {"POZYTYWKA_STORE": f"sqlite:///{db}"}) as svc:
        for u in users:
            r = httpx.get(f"{svc.url}/v1/playlists", params={"user_id": u}, timeout=30)
            assert r.status_code == 200, r.text
        res = httpx.get(f"{svc.url}/v1/experiments/playlists/results", timeout=60).json()
    log = Store(f"sqlite:///{db}")
    stored = _latencies(log)
    frame = log.latency_frame("playlists", W)
    log.dispose()
    assert len(stored) == len(users)  # holdout listeners' requests included
    assert all(v is not None and 0 < v < 30_000 for v in stored)
    g = res["guardrails"]["latency_p95"]
    counts = frame["arm"].value_counts()
    assert (g["requests_a"], g["requests_b"]) == (counts["A"], counts["B"])
    assert g["margin"] == 0.1 and g["name"] == "answer latency p95"
    p95_a = sorted(frame.loc[frame["arm"] == "A", "latency_ms"])[math.ceil(0.95 * counts["A"]) - 1]
    assert g["p95_a"] == pytest.approx(p95_a, abs=1e-3)
    # a few requests per arm: no upper bound for a p95 yet, so nothing is shown and
    # the read-out cannot say "ship B"
    assert g["status"] == "not shown" and g["cs_high"] is None
    assert res["decision"] != "ship B" and res["guardrails"]["skip_rate"]["status"] == "not shown"
