"""The skips and recs products of the service: routes, log, read-outs, migration, real HTTP."""

from __future__ import annotations

import datetime as dt
import math
import socket
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text

from pozytywka.config import ABParams
from pozytywka.errors import PozytywkaError
from pozytywka.experiment.assign import ab_arm, arm_of
from pozytywka.recs.online import PublishedRecs
from pozytywka.serve.app import create_app
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import SCHEMA_VERSION, Store
from pozytywka.skips.online import OnlineScorer, Prediction
from serve_support import write_tiny_root
from test_skips_online import SESSION_S3, published  # noqa: F401  (a fixture)

T0 = "2024-07-29T00:00:00"  # the manual clock's start (the tiny playlists' week)
SALT = {k: f"{ABParams().salt}:{k}" for k in ("skips", "recs")}


class FakeScorer:
    """Stands in for OnlineScorer: arm A says 0.5, arm B 0.8; threshold 0.5."""

    serve_week = "2024-01-08"
    known_tracks = frozenset({"t1", "t2", "t3"})
    meta = {"serve_week": "2024-01-08"}

    def predict(self, user, track, session, arm="B", now=None) -> Prediction:
        if track not in self.known_tracks:
            raise PozytywkaError(f"unknown track_id {track!r}")
        p = 0.5 if arm == "A" else 0.8
        return Prediction(p, "stream" if p >= 0.5 else "fetch", f"model{arm}", 0.5)


RECS = PublishedRecs(
    "2024-07-29",
    {
        ("known", "A"): (("r1", "r2", "r3"), "model"),
        ("known", "B"): (("r3", "r4", "r5"), "model"),
    },
    ("f1", "f2"),
    {"A": "popularity_genre", "B": "ease"},
)


def make_client(tmp_path, skips=FakeScorer, recs=RECS) -> TestClient:
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'log.sqlite'}", root=root, clock="manual")
    return TestClient(
        create_app(
            settings,
            load_skips=(lambda s: skips()) if skips else None,
            load_recs=(lambda s: recs) if recs else None,
        )
    )


def users(key: str, arm: str, n: int) -> list[str]:
    # ab_arm: with the global holdout (its listeners are served A under "<key>:holdout")
    return [u for u in (f"u{i}" for i in range(300)) if ab_arm(u, ABParams(), SALT[key]) == arm][:n]


def ev(request_id: str, track: str, kind: str) -> dict:
    return {"request_id": request_id, "track_id": track, "event_type": kind, "timestamp": T0}


def test_skips_predict_logs_and_reads_log_loss_and_accuracy_per_arm(tmp_path):
    with make_client(tmp_path) as c:
        events = []
        for arm, outcomes in (("A", [1, 1, 0, 0]), ("B", [1, 1, 1, 1])):
            for user, skipped in zip(users("skips", arm, 4), outcomes, strict=True):
                r = c.post("/v1/skips/predict", json={"user_id": user, "track_id": "t1"})
                assert r.status_code == 200, r.text
                body = r.json()
                assert (body["arm"], body["decision"]) == (arm, "stream")
                events.append(ev(body["request_id"], "t1", "play"))
                if skipped:
                    events.append(ev(body["request_id"], "t1", "skip"))
        # a prediction whose outcome never came back is not counted
        c.post("/v1/skips/predict", json={"user_id": users("skips", "B", 5)[4], "track_id": "t2"})
        assert c.post("/v1/events", json={"events": events}).status_code == 200
        res = c.get("/v1/experiments/skips/results").json()
    assert res["predictions_with_outcome"] == 8 and res["listeners"] == 8
    ll = res["log_loss"]
    assert ll["arms"]["A"]["mean"] == pytest.approx(math.log(2))
    assert ll["arms"]["B"]["mean"] == pytest.approx(-math.log(0.8))
    assert ll["diff_b_minus_a"] == pytest.approx(-math.log(0.8) - math.log(2), abs=1e-6)
    acc = res["accuracy"]
    assert (acc["arms"]["A"]["mean"], acc["arms"]["B"]["mean"]) == (0.5, 1.0)
    assert acc["arms"]["A"]["ci_low"] < 0.5 < acc["arms"]["A"]["ci_high"]


def test_skips_bad_input_is_one_line_and_events_need_a_served_request(tmp_path):
    with make_client(tmp_path) as c:
        r = c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "nope"})
        assert r.status_code == 422 and r.json() == {"detail": ["unknown track_id 'nope'"]}
        r = c.post("/v1/events", json={"events": [ev("0" * 32, "t1", "play")]})
        assert r.status_code == 422
        rid = c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "t1"}).json()
        r = c.post("/v1/events", json={"events": [ev(rid["request_id"], "t2", "play")]})
        assert r.json() == {
            "detail": [f"events[0]: track 't2' was not scored in request {rid['request_id']}"]
        }


def test_missing_products_answer_503_and_playlists_still_work(tmp_path):
    with make_client(tmp_path, skips=None, recs=None) as c:
        r = c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "t1"})
        assert (r.status_code, r.json()) == (503, {"detail": ["run dvc repro skips_train first"]})
        r = c.get("/v1/recommendations", params={"user_id": "u1"})
        assert (r.status_code, r.json()) == (503, {"detail": ["run dvc repro recs_publish first"]})
        assert c.get("/v1/playlists", params={"user_id": "u1"}).status_code == 200


def test_recommendations_fallback_events_and_hit_rate(tmp_path):
    with make_client(tmp_path) as c:
        new = c.get("/v1/recommendations", params={"user_id": "stranger", "k": 5}).json()
        assert new["track_ids"] == ["f1", "f2"]
        assert new["source"] == "popularity fallback (no history)"
        known = c.get("/v1/recommendations", params={"user_id": "known", "k": 2}).json()
        arm = arm_of("known", SALT["recs"], 0.5)
        assert known["arm"] == arm and known["source"] == "model"
        assert known["track_ids"] == list(RECS.lists[("known", arm)][0][:2])
        other = "r1" if arm == "B" else "r5"  # served only by the other arm
        bad = c.post("/v1/events", json={"events": [ev(known["request_id"], other, "play")]})
        assert bad.status_code == 422 and "was not recommended" in bad.json()["detail"][0]
        # in the arm's published lists, but not in what this request recommended (k=2)
        third = RECS.lists[("known", arm)][0][2]
        bad = c.post("/v1/events", json={"events": [ev(known["request_id"], third, "play")]})
        assert bad.json() == {
            "detail": [
                f"events[0]: track {third!r} was not recommended in request {known['request_id']}"
            ]
        }
        ok = c.post(
            "/v1/events", json={"events": [ev(known["request_id"], known["track_ids"][0], "play")]}
        )
        assert ok.status_code == 200
        res = c.get("/v1/experiments/recs/results").json()
    hit = {"A": [], "B": []}
    hit[arm].append(1.0)  # played a recommended track
    hit[arm_of("stranger", SALT["recs"], 0.5)].append(0.0)  # exposed, no events
    for a, values in hit.items():
        assert res["hit_rate"]["arms"][a]["n"] == len(values)
        if values:
            assert res["hit_rate"]["arms"][a]["mean"] == pytest.approx(sum(values) / len(values))
    assert res["listeners"] == 2 and res["events"] == 1


def test_a_schema_1_store_is_migrated_on_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    Store(url).dispose()
    engine = create_engine(url)
    with engine.begin() as conn:  # back to what schema 1 was
        conn.execute(text("DROP TABLE predictions"))
        conn.execute(text("DROP TABLE request_items"))
        conn.execute(text("DROP TABLE arm_stops"))
        conn.execute(text("ALTER TABLE requests DROP COLUMN latency_ms"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 1"))
    engine.dispose()
    store = Store(url)
    assert store.migrate() == SCHEMA_VERSION == 6
    tables = set(inspect(store.engine).get_table_names())
    assert {"predictions", "request_items", "arm_stops"} <= tables
    assert "latency_ms" in {c["name"] for c in inspect(store.engine).get_columns("requests")}
    store.dispose()


@pytest.fixture(scope="module")
def hyp_client(tmp_path_factory):
    with make_client(tmp_path_factory.mktemp("hyp")) as c:
        yield c


ids = st.text(max_size=70)
json_values = st.none() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False)
sessions = st.lists(
    st.fixed_dictionaries(
        {"timestamp": st.sampled_from([T0, "x", "2024-07-28T23:00:00+01:00"]) | json_values},
        optional={
            "event_type": st.sampled_from(["play", "skip", "like", "advertisement", "x"]),
            "track_id": st.sampled_from(["t1", "t2", "zz"]) | json_values,
        },
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    user=ids,
    track=st.sampled_from(["t1", "t3", "nope"]) | ids,
    session=sessions,
    k=st.integers(-5, 200) | st.text(max_size=4),
)
def test_no_input_makes_the_new_routes_answer_5xx(hyp_client, user, track, session, k):
    body = {"user_id": user, "track_id": track, "session": session}
    assert hyp_client.post("/v1/skips/predict", json=body).status_code < 500
    r = hyp_client.get("/v1/recommendations", params={"user_id": user, "k": k})
    assert r.status_code < 500
    for key in ("skips", "recs"):
        assert hyp_client.get(f"/v1/experiments/{key}/results").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, published):  # noqa: F811
    """The app on a real uvicorn server on loopback, with the real OnlineScorer."""
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'log.sqlite'}", root=root, clock="manual")
    app = create_app(
        settings, load_skips=lambda s: OnlineScorer.load(published[0]), load_recs=lambda s: RECS
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)  # waiting for start-up, not timing anything
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_real_http_skips_and_recs(served, published):  # noqa: F811
    scorer = OnlineScorer.load(published[0])
    with httpx.Client(base_url=served) as http:
        body = {"user_id": "u1", "track_id": "t1", "session": SESSION_S3}
        body["timestamp"] = "2024-01-08T09:00:51"
        got = http.post("/v1/skips/predict", json=body).json()
        want = scorer.predict("u1", "t1", SESSION_S3, arm=got["arm"], now=body["timestamp"])
        assert got["probability"] == pytest.approx(want.probability)
        assert got["decision"] == want.decision
        events = [ev(got["request_id"], "t1", "play"), ev(got["request_id"], "t1", "skip")]
        assert http.post("/v1/events", json={"events": events}).json()["stored"] == 2
        res = http.get("/v1/experiments/skips/results").json()
        assert res["predictions_with_outcome"] == 1
        assert res["log_loss"]["arms"][got["arm"]]["mean"] == pytest.approx(
            -math.log(want.probability)
        )
        recs = http.get("/v1/recommendations", params={"user_id": "known", "k": 1}).json()
        assert recs["track_ids"] == [RECS.lists[("known", recs["arm"])][0][0]]
        assert http.get("/v1/experiments/recs/results").json()["listeners"] == 1
        assert dt.date.fromisoformat(recs["week_start"]) == dt.date(2024, 7, 29)


def test_skips_traffic_plan_judges_each_play_and_gives_its_session_so_far():
    from pozytywka.serve.traffic_skips import skips_requests

    t = pd.Timestamp("2024-07-29T10:00:00")
    events = pd.DataFrame(
        {
            "user_id": ["u1"] * 3,
            "session_id": ["s1"] * 3,
            "timestamp": [t, t + pd.Timedelta(seconds=10), t + pd.Timedelta(seconds=20)],
            "track_id": ["t1", "t1", "t2"],
            "event_type": ["play", "skip", "play"],
        }
    )
    first, second = skips_requests(events, plays_per_listener=5)
    assert first["body"]["session"] == [] and first["skipped"] == 1
    assert first["skip_at"] == t + pd.Timedelta(seconds=10)
    assert [e["event_type"] for e in second["body"]["session"]] == ["play", "skip"]
    assert second["body"]["timestamp"] == "2024-07-29T10:00:20" and second["skipped"] == 0
    assert len(skips_requests(events, plays_per_listener=1)) == 1


def test_only_an_unknown_track_422_is_a_play_left_unscored():
    from pozytywka.serve.traffic_skips import is_unknown_track

    def answer(status: int, detail) -> httpx.Response:
        return httpx.Response(status, json={"detail": detail})

    assert is_unknown_track(answer(422, ["unknown track_id 'new-release'"]))
    assert not is_unknown_track(answer(422, ["user_id: Field required"]))
    assert not is_unknown_track(answer(422, ["unknown track_id 'a'", "user_id: Field required"]))
    assert not is_unknown_track(answer(503, ["unknown track_id 'a'"]))


def test_a_log_loss_interval_stays_at_or_above_zero():
    from pozytywka.serve.products import _arm_block

    block = _arm_block(np.array([0.05, 0.1, 2.0, 0.02]), (0.0, None))
    assert block["n"] == 4 and block["mean"] == pytest.approx(0.5425)
    assert block["ci_low"] == 0.0 and block["ci_high"] > block["mean"]  # t would give < 0


@pytest.mark.parametrize(
    "when", ["2300-01-01T00:00:00", "1600-05-01T00:00:00", "9999-12-31T23:59:59"]
)
def test_out_of_range_times_are_422_with_the_accepted_range(tmp_path, when):
    with make_client(tmp_path) as c:
        r = c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "t1", "timestamp": when})
        assert r.status_code == 422, r.text
        (line,) = r.json()["detail"]
        assert "out of range: accepted from 1970-01-01 to before 2100-01-01 (UTC)" in line
        r = c.post(
            "/v1/events", json={"events": [ev("0" * 32, "t1", "play") | {"timestamp": when}]}
        )
        assert r.status_code == 422 and "out of range" in r.text


def test_no_redirect_from_the_host_header_and_security_headers_everywhere(tmp_path):
    with make_client(tmp_path) as c:
        r = c.post(
            "/v1/events/",
            json={"events": []},
            headers={"Host": "evil.example"},
            follow_redirects=False,
        )
        assert r.status_code == 404 and "location" not in r.headers  # no 307 to evil.example
        for path in ("/", "/healthz", "/v1/playlists?user_id=u1", "/nope", "/docs", "/redoc"):
            h = c.get(path).headers
            assert h["x-content-type-options"] == "nosniff", path
            assert h["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in h["content-security-policy"], path
