"""The skip-latency benchmark's requests: real plays with their sessions so far (no timing)."""

from __future__ import annotations

import skips_data
from pozytywka import paths
from pozytywka.bench.skips_online import requests
from pozytywka.io import write_parquet


def test_requests_are_the_last_weeks_plays_with_their_earlier_events(tmp_path):
    events = skips_data.events()
    table, _ = skips_data.features(events)
    write_parquet(tmp_path / paths.SKIPS_TABLE, table)
    write_parquet(tmp_path / paths.INTERIM_SESSIONS, events)
    plan = sorted(requests(tmp_path, calls=10, seed=0), key=lambda r: r["now"])
    # week 1 holds two plays, both of u1 in s3: t2 after an ad, then t1 after t2's skip
    assert [(r["user"], r["track"]) for r in plan] == [("u1", "t2"), ("u1", "t1")]
    assert [e["event_type"] for e in plan[0]["session"]] == ["advertisement"]
    assert [e["event_type"] for e in plan[1]["session"]] == ["advertisement", "play", "skip"]
    assert all(e["timestamp"] < r["now"] for r in plan for e in r["session"])
