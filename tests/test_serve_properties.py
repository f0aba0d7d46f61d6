"""No input makes the service answer 5xx (DESIGN §9: a 5xx is a bug): hypothesis on the routes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pozytywka.serve.app import create_app
from pozytywka.serve.settings import Settings
from serve_support import TRACKS, write_tiny_root


@pytest.fixture(scope="module")
def client():
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tiny_root(Path(tmp) / "root")
        settings = Settings(
            store_url=f"sqlite:///{Path(tmp) / 'log.sqlite'}", root=root, clock="manual"
        )
        with TestClient(create_app(settings), raise_server_exceptions=False) as c:
            c.request_ids = [  # a few real requests, so some events are valid
                c.get("/v1/playlists", params={"user_id": f"p{i}"}).json()["request_id"]
                for i in range(3)
            ]
            yield c


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
timestamps = st.datetimes().map(lambda d: d.isoformat()) | st.sampled_from(
    [
        "2024-07-29T00:00:00",
        "2024-07-29T00:00:01+14:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "x",
    ]
)


@st.composite
def events(draw, request_ids):
    item = {
        "request_id": draw(st.sampled_from(request_ids) | st.text(max_size=40) | json_leaf),
        "track_id": draw(
            st.sampled_from(TRACKS["A"] + TRACKS["B"]) | st.text(max_size=70) | json_leaf
        ),
        "event_type": draw(st.sampled_from(["play", "skip", "like", "PLAY", ""]) | json_leaf),
        "timestamp": draw(timestamps | json_leaf),
    }
    drop = draw(st.sets(st.sampled_from(list(item)), max_size=2))
    return {k: v for k, v in item.items() if k not in drop}


@settings(max_examples=30)
@given(data=st.data())
def test_no_event_batch_makes_a_5xx(client, data):
    batch = data.draw(st.lists(events(client.request_ids), max_size=8))
    body = data.draw(
        st.sampled_from(["object", "list", "leaf"]).map(
            lambda kind: (
                {"events": batch} if kind == "object" else batch if kind == "list" else None
            )
        )
    )
    r = client.post("/v1/events", json=body)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert all(isinstance(line, str) and "\n" not in line for line in r.json()["detail"])


@given(
    user_id=st.text(max_size=80), week=st.text(max_size=12), key=st.text(min_size=1, max_size=20)
)
def test_no_query_makes_a_5xx(client, user_id, week, key):
    assert client.get("/v1/playlists", params={"user_id": user_id}).status_code in (200, 422)
    r = client.get(f"/v1/experiments/{quote(key, safe='')}/results", params={"week": week})
    assert r.status_code < 500, r.text
