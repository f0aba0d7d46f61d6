"""Kill switch and global holdout (issue 23 item 5): in the store, and on a real server
with two workers over loopback."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pozytywka.errors import PozytywkaError
from pozytywka.experiment.assign import arm_of
from pozytywka.serve.killswitch import ArmStops, first_stop
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import SCHEMA_VERSION, Store, arm_stops, metadata, schema_version
from serve_support import TRACKS, WEEK, postgres_server, store_url, write_tiny_root  # noqa: F401

TOKEN = "s3cret-token"
W = dt.date.fromisoformat(WEEK)
T0 = dt.datetime(2024, 7, 29, 8, 0)
SALT, HOLDOUT_SALT = "pozytywka-ab-v1", "pozytywka-holdout-v1"


@pytest.fixture
def store(store_url):  # noqa: F811
    s = Store(Settings(store_url=store_url).database_url)
    yield s
    s.dispose()


def test_a_stop_is_logged_once_with_its_time_and_one_arm_stays(store):
    assert store.arm_stops("playlists", W) == {}
    assert store.stop_arm("playlists", W, "B", T0, "crashes") == (T0, True)
    later = T0 + dt.timedelta(hours=1)
    assert store.stop_arm("playlists", W, "B", later, "again") == (T0, False)  # first time kept
    with pytest.raises(PozytywkaError, match="arm B of playlists .* is already stopped"):
        store.stop_arm("playlists", W, "A", later, "")
    assert store.stop_arm("skips", W, "A", later, "") == (later, True)  # another key: its own
    assert store.arm_stops("playlists", W) == {"B": T0}
    frame = store.arm_stops_frame()
    assert frame[["experiment", "arm", "reason"]].values.tolist() == [
        ["playlists", "B", "crashes"],
        ["skips", "A", ""],
    ]
    # the database refuses a third arm and a second row for the same arm
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        row = dict(experiment="recs", week_start=W, stopped_at=T0, reason="")
        conn.execute(insert(arm_stops).values(**row, arm="C"))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        row = dict(experiment="playlists", week_start=W, stopped_at=T0, reason="")
        conn.execute(insert(arm_stops).values(**row, arm="B"))


def test_a_schema_3_store_gains_the_stops_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = Store(url)
    with old.engine.begin() as conn:  # make it a schema-3 store: no arm_stops, version 3
        arm_stops.drop(conn)
        conn.execute(schema_version.delete())
        conn.execute(insert(schema_version).values(version=3, applied_at=T0))
    old.dispose()
    store = Store(url)
    assert SCHEMA_VERSION == 6 and store.migrate() == 6
    with store.engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalars().all() == [3, 6]
    assert "arm_stops" in metadata.tables and store.arm_stops("playlists", W) == {}
    store.dispose()


def test_every_process_sees_a_stop_from_the_next_call(tmp_path):
    """Two Store objects on one file (two workers): the one that did not stop the arm
    serves the other arm at its next call, through the marker file, not a signal."""
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    here, there = Store(url), Store(url)
    seen = ArmStops(there)
    assert seen.served_arm("playlists", W, "B") == "B"  # cached: no stop yet
    here.stop_arm("playlists", W, "B", T0, "")
    assert seen.served_arm("playlists", W, "B") == "A"
    assert seen.served_arm("playlists", W, "A") == "A"
    assert seen.served_arm("playlists", W, "H") == "H"  # the holdout is not an arm
    assert seen.served_arm("recs", W, "B") == "B"
    assert first_stop({"B": T0, "A": T0 + dt.timedelta(1)}) == ("B", T0)
    here.dispose()
    there.dispose()


def _users(n, first=0):
    return [f"u{i}" for i in range(first, first + n)]


def _assigned(user):
    return arm_of(user, SALT, 0.5, holdout=0.2, holdout_salt=HOLDOUT_SALT)


def test_kill_switch_and_holdout_on_a_real_server_with_two_workers(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("holdout: 0.05", "holdout: 0.2", 1))
    db = tmp_path / "log.sqlite"
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{db}",
        "POZYTYWKA_ADMIN_TOKEN": TOKEN,  # the wall clock: the manual one needs one worker
    }
    admin = {"Authorization": f"Bearer {TOKEN}"}
    before, after = _users(60), _users(40, first=60)
    held = [u for u in before if _assigned(u) == "H"]
    in_b = [u for u in before if _assigned(u) == "B"]
    assert held and in_b  # the hand-picked ids cover every case

    def serve(user):  # a new connection each: both workers answer some
        r = httpx.get(f"{url}/v1/playlists", params={"user_id": user}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    with ServiceProcess(root, env, args=("--workers", "2")) as svc:
        url = svc.url
        first = {u: serve(u) for u in before}
        for u, got in first.items():
            if u in held:  # the baseline, logged under the holdout's key
                assert (got["experiment"], got["arm"]) == ("playlists:holdout", "A")
            else:
                assert (got["experiment"], got["arm"]) == ("playlists", _assigned(u))
        # a play of each B listener's first track, when it was served

        def plays(at):
            return [
                {
                    "request_id": first[u]["request_id"],
                    "track_id": TRACKS["B"][0],
                    "event_type": "play",
                    "timestamp": at[u]["served_at"],
                }
                for u in in_b
            ]

        assert httpx.post(f"{url}/v1/events", json={"events": plays(first)}).status_code == 200

        stop = httpx.post(
            f"{url}/v1/admin/experiments/playlists/arms/B/stop",
            json={"reason": "B crashes the app"},
            headers=admin,
        )
        assert stop.status_code == 200, stop.text
        body = stop.json()
        assert body["serving"] == "A" and body["newly_stopped"] is True
        again = httpx.post(f"{url}/v1/admin/experiments/playlists/arms/B/stop", headers=admin)
        assert again.json()["newly_stopped"] is False
        assert again.json()["stopped_at"] == body["stopped_at"]
        other = httpx.post(f"{url}/v1/admin/experiments/playlists/arms/A/stop", headers=admin)
        assert other.status_code == 409
        no_token = httpx.post(f"{url}/v1/admin/experiments/playlists/arms/B/stop")
        assert no_token.status_code == 401
        unknown = httpx.post(f"{url}/v1/admin/experiments/nope/arms/B/stop", headers=admin)
        assert unknown.status_code == 404

        # from the next request, nobody is served B, whichever worker answers
        then = {u: serve(u) for u in before + after}
        assert {g["arm"] for g in then.values()} == {"A"}
        assert all(
            g["playlists"][0]["tracks"][0]["track_id"] == TRACKS["A"][0] for g in then.values()
        )
        # a play of the old B playlist after the stop is accepted but not analysed
        late = httpx.post(f"{url}/v1/events", json={"events": plays(then)})
        assert late.status_code == 200 and late.json()["stored"] == len(in_b)

        res = httpx.get(f"{url}/v1/experiments/playlists/results", timeout=60).json()
        new_in_experiment = sum(_assigned(u) != "H" for u in after)
        assert res["stopped"]["arm"] == "B"
        assert res["stopped"]["stopped_at"] == body["stopped_at"]
        assert res["stopped"]["listeners_after_stop"] == new_in_experiment
        assert "only exposures and events before it are analysed" in res["stopped"]["note"]
        assert res["listeners_exposed"] == len(before) - len(held)
        assert res["excluded_both_arms"] == 0  # served A after the stop: not counted
        assert res["arms"]["B"]["users"] == len(in_b)
        assert res["events"] == len(in_b)  # the plays after the stop are left out
        assert res["holdout"]["users"] == len(held)

    # the store shows the switch
    log = Store(f"sqlite:///{db}")
    frame = log.arm_stops_frame()
    assert frame[["experiment", "arm", "reason"]].values.tolist() == [
        ["playlists", "B", "B crashes the app"]
    ]
    assert frame["stopped_at"][0].isoformat() == body["stopped_at"]
    exposed = log.exposures_frame("playlists:holdout", W)
    assert sorted(exposed["user_id"]) == sorted(held + [u for u in after if _assigned(u) == "H"])
    assert set(exposed["arm"]) == {"A"}
    log.dispose()


def test_a_stopped_recs_arm_and_the_holdout_in_a_product(tmp_path):
    """The other keys work the same: recs' B stopped -> its listeners get A; the holdout
    (its own salt, the same listeners as for the playlists) gets A under ``recs:holdout``."""
    from fastapi.testclient import TestClient

    from pozytywka.serve.app import create_app
    from test_serve_products import RECS

    root = write_tiny_root(tmp_path / "root")
    settings = Settings(
        store_url=f"sqlite:///{tmp_path / 'log.sqlite'}",
        root=root,
        clock="manual",
        admin_token=TOKEN,
    )
    salt = f"{SALT}:recs"
    assigned = {
        u: arm_of(u, salt, 0.5, holdout=0.05, holdout_salt=HOLDOUT_SALT) for u in _users(300)
    }
    b_user = next(u for u, a in assigned.items() if a == "B")
    held = next(u for u, a in assigned.items() if a == "H")
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings, load_skips=None, load_recs=lambda s: RECS)) as c:

        def recommend(user):
            r = c.get("/v1/recommendations", params={"user_id": user, "k": 2})
            assert r.status_code == 200, r.text
            return r.json()

        assert (recommend(b_user)["experiment"], recommend(b_user)["arm"]) == ("recs", "B")
        assert (recommend(held)["experiment"], recommend(held)["arm"]) == ("recs:holdout", "A")
        c.put("/v1/admin/clock", json={"now": f"{WEEK}T01:00:00"}, headers=admin)
        stop = c.post("/v1/admin/experiments/recs/arms/B/stop", headers=admin)
        assert stop.status_code == 200 and stop.json()["serving"] == "A"
        assert recommend(b_user)["arm"] == "A"
        late = next(u for u, a in assigned.items() if a == "B" and u != b_user)
        assert recommend(late)["arm"] == "A"
        res = c.get("/v1/experiments/recs/results").json()
    assert res["stopped"]["arm"] == "B" and res["stopped"]["listeners_after_stop"] == 1
    assert res["listeners"] == 1 and res["excluded_both_arms"] == 0  # b_user, before the stop
    assert res["holdout_listeners"] == 1
