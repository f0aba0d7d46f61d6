"""The service's routes in detail, through FastAPI's TestClient on tiny hand-made artifacts."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pozytywka.config import ABParams
from pozytywka.errors import PozytywkaError
from pozytywka.experiment.assign import ab_arm, arm_of, assign_arms
from pozytywka.serve.app import create_app
from pozytywka.serve.artifacts import load_artifacts
from pozytywka.serve.schemas import PlaylistsResponse
from pozytywka.serve.settings import Settings
from serve_support import TRACKS, VERSIONS, write_tiny_root

TOKEN = "secret-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TABLE = Path(__file__).parent / "data" / "assignment_table.csv"


def make_client(tmp_path, ab: ABParams | None = None, clock="manual") -> TestClient:
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(
        store_url=f"sqlite:///{tmp_path / 'log.sqlite'}", admin_token=TOKEN, root=root, clock=clock
    )

    def load(s: Settings):
        arts = load_artifacts(s.root)
        return dataclasses.replace(arts, ab=ab) if ab else arts

    return TestClient(create_app(settings, load=load))


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path) as c:
        yield c


def users_in(arm: str, n: int, salt: str = "pozytywka-ab-v1") -> list[str]:
    out = [u for u in (f"u{i}" for i in range(500)) if ab_arm(u, ABParams(), salt) == arm]
    return out[:n]


def at(day: int, minute: int = 0) -> str:
    return (dt.datetime(2024, 7, 29) + dt.timedelta(days=day, minutes=minute)).isoformat()


def ev(request_id: str, track: str, kind: str, when: str) -> dict:
    return {"request_id": request_id, "track_id": track, "event_type": kind, "timestamp": when}


def test_playlists_answer_the_listeners_arm_and_log_one_exposure(client):
    (ua,), (ub,) = users_in("A", 1), users_in("B", 1)
    a = client.get("/v1/playlists", params={"user_id": ua}).json()
    b = client.get("/v1/playlists", params={"user_id": ub}).json()
    assert (a["arm"], a["model"], a["model_version"]) == ("A", "baseline", VERSIONS["baseline"])
    assert (b["arm"], b["model"], b["model_version"]) == ("B", "catboost", VERSIONS["catboost"])
    assert a["week_start"] == "2024-07-29" and a["experiment"] == "playlists"
    tracks = a["playlists"][0]["tracks"]
    assert [t["track_id"] for t in tracks] == TRACKS["A"]
    assert [t["position"] for t in tracks] == list(range(1, 11))
    assert tracks[0] == {"track_id": "a01", "name": "Song a01", "artist": "Ava", "position": 1}
    again = client.get("/v1/playlists", params={"user_id": ua}).json()
    assert a["first_exposure"] and not again["first_exposure"]
    assert again["arm"] == "A" and again["request_id"] != a["request_id"]
    store = client.app.state.store
    assert store.count("exposures") == 2 and store.count("requests") == 3


def test_the_playlists_answer_is_the_response_models_own_json(client):
    """The route splices the arm's playlists, serialised once, into the answer: the body
    must be what the response model itself would serialise, to the byte."""
    (ua,) = users_in("A", 1)
    r = client.get("/v1/playlists", params={"user_id": ua})
    assert r.headers["content-type"] == "application/json"
    parsed = PlaylistsResponse.model_validate_json(r.content)
    assert r.content == parsed.model_dump_json().encode()
    assert len(parsed.playlists) == 1 and len(parsed.playlists[0].tracks) == 10


@pytest.mark.parametrize("user_id", ["", "x" * 65, "bad\x00id", "tab\tid", " ", "101 ", " 101"])
def test_bad_user_ids_are_422_with_one_line(client, user_id):
    r = client.get("/v1/playlists", params={"user_id": user_id})
    assert r.status_code == 422
    assert len(r.json()["detail"]) == 1 and r.json()["detail"][0].startswith("user_id:")
    assert client.app.state.store.count("requests") == 0


def test_undecodable_bytes_in_a_user_id_are_refused_not_folded(client):
    # %FF and %FE are not UTF-8: both would decode to U+FFFD and name one listener.
    for raw in ("/v1/playlists?user_id=u%FF", "/v1/playlists?user_id=u%FE"):
        r = client.get(raw)
        assert r.status_code == 422
        assert r.json()["detail"] == [
            "user_id: must not be blank, start or end with a space, or hold control characters "
            "or undecodable bytes"
        ]
    assert client.app.state.store.count("requests") == 0


def test_events_a_bad_batch_stores_nothing_and_names_each_bad_item(client):
    (ua,) = users_in("A", 1)
    req = client.get("/v1/playlists", params={"user_id": ua}).json()["request_id"]
    client.put("/v1/admin/clock", json={"now": at(7)}, headers=ADMIN)
    batch = [
        ev(req, "a01", "play", at(1)),
        ev("0" * 32, "a01", "play", at(1)),  # unknown request
        ev(req, "b01", "play", at(1)),  # not served in that request
        ev(req, "a02", "play", "2024-07-28T23:59:59"),  # before the exposure
        ev(req, "a02", "play", at(8)),  # in the future
    ]
    r = client.post("/v1/events", json={"events": batch})
    assert r.status_code == 422
    lines = r.json()["detail"]
    assert [line.split(":")[0] for line in lines] == [f"events[{i}]" for i in (1, 2, 3, 4)]
    assert "unknown request_id" in lines[0] and "was not served" in lines[1]
    assert "before the listener's exposure" in lines[2] and "in the future" in lines[3]
    assert all("\n" not in line for line in lines)
    r = client.post("/v1/events", json={"events": [batch[0], {**batch[0], "event_type": "share"}]})
    assert r.status_code == 422
    assert r.json()["detail"] == ["events[1]: unknown event_type 'share' (play, skip or like)"]
    too_many = [ev(req, "a01", "play", at(1, m)) for m in range(1001)]
    assert client.post("/v1/events", json={"events": too_many}).status_code == 422
    assert client.app.state.store.count("events") == 0
    ok = client.post("/v1/events", json={"events": batch[:1]})
    assert ok.status_code == 200 and ok.json()["stored"] == 1


def test_timezones_are_converted_to_utc(client):
    (ua,) = users_in("A", 1)
    req = client.get("/v1/playlists", params={"user_id": ua}).json()["request_id"]
    client.put("/v1/admin/clock", json={"now": at(1)}, headers=ADMIN)
    # 01:30 at +02:00 is 23:30 UTC of the Sunday before: before the exposure.
    r = client.post(
        "/v1/events", json={"events": [ev(req, "a01", "play", "2024-07-29T01:30:00+02:00")]}
    )
    assert r.status_code == 422 and "before the listener's exposure" in r.json()["detail"][0]
    r = client.post(
        "/v1/events", json={"events": [ev(req, "a01", "play", "2024-07-29T03:30:00+02:00")]}
    )
    assert r.status_code == 200


def test_results_match_hand_computed_outcomes(client):
    """Two listeners per arm; full plays by DESIGN §4 within a request (the session).

    A1: play a01, play a02 (2 plays, 2 full) -> rate 1.0, a like.
    A2: play a01, skip a01 (1 play, 0 full) -> rate 0.0, one skip.
    B1: play b01, skip b01, play b02, like b02 -> rate 0.5, one skip, one like.
    B2: play b01 -> 1.0.    Rates: A 0.5, B 0.75: lift +50%.
    """
    a1, a2 = users_in("A", 2)
    b1, b2 = users_in("B", 2)
    req = {u: client.get("/v1/playlists", params={"user_id": u}).json()["request_id"]
           for u in (a1, a2, b1, b2)}  # fmt: skip
    client.put("/v1/admin/clock", json={"now": at(7)}, headers=ADMIN)
    batch = [
        ev(req[a1], "a01", "play", at(1, 0)), ev(req[a1], "a02", "play", at(1, 4)),
        ev(req[a1], "a02", "like", at(1, 5)),
        ev(req[a2], "a01", "play", at(2, 0)), ev(req[a2], "a01", "skip", at(2, 1)),
        ev(req[b1], "b01", "play", at(3, 0)), ev(req[b1], "b01", "skip", at(3, 1)),
        ev(req[b1], "b02", "play", at(3, 2)), ev(req[b1], "b02", "like", at(3, 3)),
        ev(req[b2], "b01", "play", at(4, 0)),
    ]  # fmt: skip
    assert client.post("/v1/events", json={"events": batch}).status_code == 200
    r = client.get("/v1/experiments/playlists/results").json()
    assert r["arms"]["A"] == {"users": 2, "play_through_rate": 0.5, "likes_per_user": 0.5,
                              "skips_per_user": 0.5}  # fmt: skip
    assert r["arms"]["B"] == {"users": 2, "play_through_rate": 0.75, "likes_per_user": 0.5,
                              "skips_per_user": 0.5}  # fmt: skip
    assert r["lift"] == pytest.approx(0.5)
    assert r["ci_low"] < 0.5 < r["ci_high"]
    assert r["srm_p_value"] == pytest.approx(1.0)
    assert (r["listeners_exposed"], r["excluded_both_arms"], r["events"]) == (4, 0, 10)
    assert r["mode"] == "live" and r["week_start"] == "2024-07-29"
    assert client.get("/v1/experiments/nope/results").status_code == 404


def test_a_listener_served_both_arms_is_left_out_and_counted(client):
    users = users_in("A", 3) + users_in("B", 3)
    for u in users:
        client.get("/v1/playlists", params={"user_id": u})
    # The split changes mid-week (a new params.yaml): every listener moves to B.
    live = client.app.state.live
    moved = dataclasses.replace(
        live.artifacts, ab=dataclasses.replace(live.artifacts.ab, split=0.99)
    )
    client.app.state.live = dataclasses.replace(live, artifacts=moved)
    switched = [u for u in users if arm_of(u, "pozytywka-ab-v1", 0.99) == "B"][:3]
    for u in switched:
        assert client.get("/v1/playlists", params={"user_id": u}).json()["arm"] == "B"
    r = client.get("/v1/experiments/playlists/results").json()
    n_switched = sum(arm_of(u, "pozytywka-ab-v1", 0.5) == "A" for u in switched)
    assert r["excluded_both_arms"] == n_switched >= 1
    assert r["arms"]["A"]["users"] + r["arms"]["B"]["users"] == 6 - n_switched


def test_health_readiness_and_admin(client, tmp_path):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert (ready["status"], ready["checks"]) == ("ok", {"artifacts": True, "store": True})
    # the tiny root publishes the playlists only: the optional parts are down, and say why
    assert {k: (v["serving"], v["reason"]) for k, v in ready["parts"].items()} == {
        "catalogue": (False, ready["parts"]["catalogue"]["reason"]),
        "playlists": (True, None),
        "recs": (False, "run dvc repro recs_publish first"),
        "skips": (False, "run dvc repro skips_train first"),
    }
    assert ready["parts"]["catalogue"]["reason"].startswith("catalogue files missing: ")
    assert client.put("/v1/admin/clock", json={"now": at(1)}).status_code == 401
    assert client.put("/v1/admin/clock", json={"now": at(2)}, headers=ADMIN).json()["now"] == at(2)
    assert client.put("/v1/admin/clock", json={"now": at(1)}, headers=ADMIN).status_code == 409
    with make_client(tmp_path / "wall", clock="wall") as wall:
        assert wall.put("/v1/admin/clock", json={"now": at(1)}, headers=ADMIN).status_code == 409
    assert "/v1/events" in client.get("/openapi.json").json()["paths"]


def test_missing_artifacts_stop_the_service_with_one_line(tmp_path, capsys):
    from pozytywka.cli import main

    root = write_tiny_root(tmp_path, week_b="2024-08-05")
    with pytest.raises(PozytywkaError, match="different weeks .* run dvc repro first$"):
        load_artifacts(root)
    (root / "reports" / "playlists" / "by_model" / "catboost.json").unlink()
    assert main(["serve", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pozytywka serve: error: {root}/reports/playlists/by_model/catboost.json "
                   "not found: run dvc repro first"]  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert main(["serve", "--root", str(elsewhere)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pozytywka serve: error: {elsewhere} is not the project root (no params.yaml): "
                   "run the service from the project root or set POZYTYWKA_ROOT to it"]  # fmt: skip


def test_stale_model_file_is_inconsistent(tmp_path):
    root = write_tiny_root(tmp_path)
    (root / "models").mkdir()
    (root / "models" / "catboost.cbm").write_bytes(b"another model")
    with pytest.raises(PozytywkaError, match="differs from the version in dvc.lock"):
        load_artifacts(root)


def _table() -> list[dict]:
    with TABLE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_assignment_table_the_stage_reproduces():
    rows = _table()
    for salt, split in {(r["salt"], float(r["split"])) for r in rows}:
        mine = [r for r in rows if r["salt"] == salt and float(r["split"]) == split]
        got = assign_arms([r["user_id"] for r in mine], salt, split)
        assert dict(zip(got["user_id"], got["arm"], strict=True)) == {
            r["user_id"]: r["arm"] for r in mine
        }
    assert {r["arm"] for r in rows} == {"A", "B"}


def test_assignment_table_the_service_reproduces(tmp_path):
    rows = _table()
    for i, (salt, split) in enumerate(sorted({(r["salt"], float(r["split"])) for r in rows})):
        ab = ABParams(salt=salt, split=split)
        with make_client(tmp_path / str(i), ab=ab) as c:
            for r in (r for r in rows if r["salt"] == salt and float(r["split"]) == split):
                assert (
                    c.get("/v1/playlists", params={"user_id": r["user_id"]}).json()["arm"]
                    == r["arm"]
                )


def test_a_body_over_the_limit_is_413_before_any_route_reads_it(client):
    limit = client.app.state.settings.max_body_bytes
    big = b'{"events": [' + b" " * limit + b"]}"
    r = client.post("/v1/events", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json() == {"detail": [f"request body over {limit} bytes"]}

    def chunks():  # no Content-Length: the bytes received are counted
        yield b'{"events": ['
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    r = client.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.app.state.store.count("events") == 0
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        (None, "none"),
        ("text/plain", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
    ],
)
def test_a_json_body_sent_as_another_media_type_is_415(client, content_type, named):
    (ua,) = users_in("A", 1)
    served = client.get("/v1/playlists", params={"user_id": ua}).json()
    client.put("/v1/admin/clock", json={"now": at(7)}, headers=ADMIN)
    body = json.dumps({"events": [ev(served["request_id"], "a01", "play", at(1))]})
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/v1/events", content=body.encode(), headers=headers)
    assert r.status_code == 415
    assert r.json() == {
        "detail": [
            f"the body must be JSON (Content-Type: application/json), got {named}: "
            "curl -H 'Content-Type: application/json' -d ..."
        ]
    }
    assert client.app.state.store.count("events") == 0
    ok = client.post(
        "/v1/events",
        content=body.encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    broken = client.post("/v1/events", content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 422  # JSON that does not parse is bad input, not a media type
    assert broken.json() == {
        "detail": [
            "body: not valid JSON (Expecting property name enclosed in double quotes) "
            "at character 1"
        ]
    }


def test_every_error_is_a_list_of_lines(client):
    answers = {
        401: client.put("/v1/admin/clock", json={"now": at(1)}),
        404: client.get("/v1/experiments/nope/results"),
        405: client.delete("/v1/playlists"),
        422: client.get("/v1/playlists"),
    }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.text)
        lines = r.json()["detail"]
        assert isinstance(lines, list) and lines and all(isinstance(x, str) for x in lines)
    assert answers[404].json() == {"detail": ["unknown experiment 'nope'"]}
    assert answers[405].headers["allow"] == "GET"


def test_a_week_that_is_not_a_monday_is_422_with_the_reason(client):
    r = client.get("/v1/experiments/playlists/results", params={"week": "2024-07-31"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        "week: Value error, 2024-07-31 is a Wednesday: weeks start on Monday (ISO 8601)"
    ]
    assert client.get("/v1/experiments/playlists/results", params={"week": "2024-07-29"}).is_success


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "80000"], "must be a port number in 1..65535, got '80000'"),
        (["--port", "http"], "must be a port number in 1..65535, got 'http'"),
        (["--workers", "0"], "must be an integer >= 1, got '0'"),
    ],
)
def test_impossible_serve_options_are_usage_errors(args, message, capsys):
    from pozytywka.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    from pozytywka.serve.store import Store

    path = tmp_path / "log.sqlite"
    path.write_bytes(b"garbage, not SQLite")
    with pytest.raises(PozytywkaError, match=r"^cannot open the store .*file is not a database"):
        Store(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POZYTYWKA_CLOCK": "manual"}, "POZYTYWKA_CLOCK=manual needs one worker"),
        ({"POZYTYWKA_STORE": "sqlite://"}, "is an in-memory SQLite database"),
        ({"POZYTYWKA_STORE": "sqlite:///:memory:"}, "is an in-memory SQLite database"),
    ],
)
def test_serve_refuses_what_cannot_work_with_one_line(env, message, monkeypatch, capsys):
    from pozytywka.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_metrics_folder_with_files_is_refused_for_one_worker_too(tmp_path, monkeypatch, capsys):
    from pozytywka.cli import main

    (tmp_path / "counter_1.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert main(["serve"]) == 2
    assert "holds 1 files of an earlier run" in capsys.readouterr().err


def test_a_store_folder_that_cannot_be_made_is_one_line(tmp_path):
    from pozytywka.serve.store import Store

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(PozytywkaError, match=r"^cannot create the store's folder .*file/sub"):
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'log.sqlite'}")


def test_the_page_links_its_assets_by_path_whatever_the_host_header(client):
    html = client.get("/", headers={"host": "evil.example"}).text
    assert 'src="/static/app.js"' in html and 'href="/static/style.css"' in html
    assert "evil.example" not in html
