"""Faults a newcomer found in the service (wrong-content artifacts, the page and the kill
switch, the stop's cut-off, reload notes, start errors, ``?week=`` range, field names,
``HEAD``), each on the app through TestClient."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from fastapi.testclient import TestClient

from pozytywka.config import ABParams
from pozytywka.experiment.assign import ab_arm
from pozytywka.serve.app import create_app
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import Store, StoreUnavailable
from pozytywka.skips.online import _events_list
from serve_support import TRACKS, VERSIONS, WEEK, write_tiny_root
from test_serve_products import RECS, FakeScorer
from test_serve_reload import publish

TOKEN = "s3cret-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
AB = ABParams()


def client(tmp_path, skips=FakeScorer, recs=RECS) -> TestClient:
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(
        store_url=f"sqlite:///{tmp_path / 'log.sqlite'}",
        root=root,
        clock="manual",
        admin_token=TOKEN,
    )
    return TestClient(
        create_app(
            settings,
            load_skips=(lambda s: skips()) if skips else None,
            load_recs=(lambda s: recs) if recs else None,
        )
    )


def listeners(salt: str, arm: str, n: int) -> list[str]:
    """The first ``n`` of u0, u1, ... assigned ``arm`` (holdout aside) under ``salt``."""
    got = [u for u in (f"u{i}" for i in range(400)) if ab_arm(u, AB, salt) == arm]
    return got[:n]


# --- 1. a skips model that loads but cannot answer ----------------------------------------


class NoGenreRule(FakeScorer):
    """Loads, but arm A fails as a ``baselines.json`` without ``genre_rule`` does."""

    def predict(self, user, track, session, arm="B", now=None):
        if arm == "A":
            raise KeyError("genre_rule")
        return super().predict(user, track, session, arm, now)


class FailsOnT3(FakeScorer):
    """Passes the start-up check (it scores t1) but fails on t3: the routes' backstop."""

    def predict(self, user, track, session, arm="B", now=None):
        if track == "t3":
            raise KeyError("genre_rule")
        return super().predict(user, track, session, arm, now)


def test_a_skips_model_that_cannot_answer_is_unavailable_from_the_start(tmp_path):
    a_user = listeners(f"{AB.salt}:skips", "A", 1)[0]
    with client(tmp_path, skips=NoGenreRule) as c:
        r = c.post("/v1/skips/predict", json={"user_id": a_user, "track_id": "t1"})
        assert r.status_code == 503
        (line,) = r.json()["detail"]
        assert (
            line
            == "skips could not be loaded (KeyError: 'genre_rule'): run dvc repro skips_train first"
        )
        parts = c.get("/readyz").json()["parts"]
        assert parts["skips"] == {"serving": False, "reason": line}
        assert parts["recs"]["serving"] is True
        page = c.get("/", params={"user_id": "known"})
        assert page.status_code == 200
        assert "Skip scores are unavailable: skips could not be loaded" in page.text


def test_a_model_failing_inside_a_route_is_a_503_for_its_product(tmp_path):
    with client(tmp_path, skips=FailsOnT3) as c:
        assert (
            c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "t1"}).status_code == 200
        )
        r = c.post("/v1/skips/predict", json={"user_id": "u1", "track_id": "t3"})
        assert r.status_code == 503
        assert r.json() == {
            "detail": [
                "skips could not answer (KeyError: 'genre_rule'): "
                "the published artifacts look wrong"
            ]
        }


class BrokenRecs:
    """Recommendations that pass nothing: every call raises."""

    week_start = RECS.week_start
    lists = RECS.lists
    fallback = RECS.fallback
    models = RECS.models

    def recommend(self, user_id, k, arm):
        raise ValueError("no lists")


def test_recs_that_cannot_answer_are_unavailable_and_the_page_says_so(tmp_path):
    with client(tmp_path, skips=None, recs=BrokenRecs()) as c:
        r = c.get("/v1/recommendations", params={"user_id": "known"})
        assert r.status_code == 503
        assert r.json()["detail"][0].startswith("recs could not be loaded (ValueError: no lists)")
        page = c.get("/", params={"user_id": "known"})
        assert (
            page.status_code == 200 and "Recommendations are unavailable: recs could" in page.text
        )


# --- 2. the page shows the arm served now ---------------------------------------------------


def test_the_page_shows_the_other_arm_after_a_stop_and_says_so(tmp_path):
    b_user = listeners(AB.salt, "B", 1)[0]
    with client(tmp_path, skips=None) as c:
        assert '<strong id="arm">B</strong>' in c.get("/", params={"user_id": b_user}).text
        stop = c.post("/v1/admin/experiments/playlists/arms/B/stop", headers=ADMIN)
        assert stop.status_code == 200
        html = c.get("/", params={"user_id": b_user}).text
        assert '<strong id="arm">A</strong>' in html
        assert "arm B was stopped (kill switch): served arm A" in html
        assert f'data-track="{TRACKS["A"][0]}"' in html and TRACKS["B"][0] not in html
        served = c.get("/v1/playlists", params={"user_id": b_user}).json()
        assert served["arm"] == "A"  # what the page's buttons will be served


# --- 3. the stop's cut-off is exact on the manual clock --------------------------------------


def test_listeners_exposed_before_a_stop_at_the_same_time_count_before_it(tmp_path):
    salt = f"{AB.salt}:recs"
    before = listeners(salt, "A", 3) + listeners(salt, "B", 3)
    late = listeners(salt, "A", 4)[3]
    with client(tmp_path) as c:
        for u in before:
            assert c.get("/v1/recommendations", params={"user_id": u}).status_code == 200
        stop = c.post("/v1/admin/experiments/recs/arms/B/stop", headers=ADMIN)
        assert stop.status_code == 200
        assert c.get("/v1/recommendations", params={"user_id": late}).status_code == 200
        res = c.get("/v1/experiments/recs/results").json()
        # the playlists read-out too: 2 exposed, stop, 1 more, same time
        pl = listeners(AB.salt, "A", 3)
        for u in pl[:2]:
            c.get("/v1/playlists", params={"user_id": u})
        c.post("/v1/admin/experiments/playlists/arms/B/stop", headers=ADMIN)
        c.get("/v1/playlists", params={"user_id": pl[2]})
        pres = c.get("/v1/experiments/playlists/results").json()
    assert res["stopped"]["listeners_after_stop"] == 1
    assert res["listeners"] == 6
    assert res["hit_rate"]["arms"]["A"]["n"] == 3 and res["hit_rate"]["arms"]["B"]["n"] == 3
    assert pres["listeners_exposed"] == 2 and pres["stopped"]["listeners_after_stop"] == 1


def test_a_schema_5_store_gains_the_stop_position_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    Store(url).dispose()
    import sqlite3

    con = sqlite3.connect(tmp_path / "old.sqlite")
    con.execute("ALTER TABLE arm_stops DROP COLUMN last_exposure_id")
    con.commit()
    con.close()
    store = Store(url)
    try:
        w = dt.date.fromisoformat(WEEK)
        store.stop_arm("recs", w, "B", dt.datetime(2024, 7, 29), "")
        assert store.stop_positions("recs", w) == {"B": 0}
    finally:
        store.dispose()


# --- 4. the reload answer names a stopped arm's new version ----------------------------------


def test_a_reload_of_a_stopped_arm_says_it_stays_stopped(tmp_path):
    with client(tmp_path) as c:
        assert (
            c.post("/v1/admin/experiments/playlists/arms/B/stop", headers=ADMIN).status_code == 200
        )
        publish(tmp_path / "root", WEEK, {"baseline": VERSIONS["baseline"], "catboost": "d" * 32})
        r = c.post("/admin/reload", headers=ADMIN)
        assert r.status_code == 200, r.text
        (note,) = r.json()["notes"]
    assert note.startswith("arm B has a new version but stays stopped for the week")
    assert note.endswith("its listeners are still served arm A")


# --- 5. a store that cannot write stops the start with one line ------------------------------


def test_a_full_store_disk_stops_the_start_with_one_line(tmp_path, monkeypatch, capsys):
    from pozytywka.cli import main

    root = write_tiny_root(tmp_path / "root")
    monkeypatch.setenv("POZYTYWKA_STORE", f"sqlite:///{tmp_path / 'log.sqlite'}")
    full = StoreUnavailable("full", "the store's disk is full (database or disk is full)")

    def no_space(*args, **kwargs):
        raise full

    monkeypatch.setattr(Store, "probe", no_space)
    monkeypatch.setattr(Store, "register_items", no_space)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["serve", "--root", str(root), "--port", str(port)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "pozytywka serve: error: cannot start: the store's disk is full (database or disk is full)"
    )


# --- 6, 7, 8: ?week= range, the session's field name, HEAD -----------------------------------


@pytest.mark.parametrize("week", ["1600-01-03", "9999-01-04"])
def test_a_week_out_of_range_is_422_naming_the_range(tmp_path, week):
    with client(tmp_path) as c:
        for key in ("playlists", "skips", "recs"):
            r = c.get(f"/v1/experiments/{key}/results", params={"week": week})
            assert r.status_code == 422, key
            (line,) = r.json()["detail"]
            assert (
                f"week {week} out of range: accepted from 1970-01-01 to before 2100-01-01" in line
            )


class ChecksSession(FakeScorer):
    def predict(self, user, track, session, arm="B", now=None):
        _events_list(session)  # the real scorer's validation and its messages
        return super().predict(user, track, session, arm, now)


def test_a_bad_session_event_is_named_by_the_requests_field(tmp_path):
    body = {
        "user_id": "u1",
        "track_id": "t1",
        "session": [{"timestamp": "2024-07-29T00:00:00", "event_type": "play"}],
    }
    with client(tmp_path, skips=ChecksSession) as c:
        r = c.post("/v1/skips/predict", json=body)
    assert (r.status_code, r.json()) == (422, {"detail": ["session[0] (play) needs a track_id"]})


def test_head_on_the_pages_health_and_docs(tmp_path):
    with client(tmp_path) as c:
        for path in ("/", "/healthz", "/docs", "/browse"):
            get, head = c.get(path), c.head(path)
            assert (head.status_code, head.content) == (200, b""), path
            assert head.headers["content-length"] == get.headers["content-length"], path
        assert c.head("/v1/playlists", params={"user_id": "u1"}).status_code == 405
        assert c.get("/v1/experiments/playlists/results").json()["listeners_exposed"] == 0
