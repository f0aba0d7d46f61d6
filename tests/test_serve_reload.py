"""``POST /admin/reload``: the checks (hand-made weeks), the guard, and a reload under load.

The load test runs the real server on loopback and a second process with a
bounded pool of client threads (each: ``GET /v1/playlists``, then one event on a
served track), while this process publishes a bad week (kept out: 422, the old
week stays live) and then a good one (swapped in). Every answer must be 2xx, the
store must hold exactly one row per 2xx answer, and each request row must name
the week and model version its answer showed.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from pozytywka.config import PlaylistParams
from pozytywka.serve.artifacts import Arm, Playlist, Track, load_artifacts
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.reload import check_new_week
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import Store, artifacts, requests
from serve_support import VERSIONS, write_tiny_root

pytestmark = pytest.mark.timeout(600)

RULES = PlaylistParams(min_size=10, max_size=20, max_per_artist=2)
TOKEN = "s3cret"
NEW_WEEK = "2024-08-05"
NEW_VERSIONS = {"baseline": "c" * 32, "catboost": "d" * 32}


def publish(root: Path, week: str, versions: dict[str, str], n_tracks: int = 10) -> None:
    """Write a week as ``dvc repro`` would publish it: both arms' documents and dvc.lock."""
    out = root / "reports" / "playlists" / "by_model"
    for model, prefix in (("baseline", "n"), ("catboost", "m")):
        tracks = [
            {"track_id": f"{prefix}{i:02d}", "name": f"Song {i}", "artist": f"Artist {i // 2}"}
            for i in range(n_tracks)
        ]
        doc = {
            "week_start": week,
            "model": model,
            "playlists": [{"genre": "pop", "tracks": tracks}],
        }
        (out / f"{model}.json").write_text(json.dumps(doc))
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    for dep in lock["stages"]["playlists"]["deps"]:
        dep["md5"] = versions["baseline" if "baseline" in dep["path"] else "catboost"]
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))


# --- the checks, on hand-made weeks -------------------------------------------------------


def _arm(arm: str, version: str, artists: list[str]) -> Arm:
    tracks = tuple(Track(f"{arm}{i}", "x", a, i + 1) for i, a in enumerate(artists))
    return Arm(arm, {"A": "baseline", "B": "catboost"}[arm], version, (Playlist("pop", tracks),))


@pytest.fixture
def live(tmp_path):
    return load_artifacts(write_tiny_root(tmp_path))


def test_a_valid_new_week_passes(live):
    ok = [f"p{i // 2}" for i in range(10)]  # 10 tracks, two per artist
    new = replace(live, arms={"A": _arm("A", "1" * 32, ok), "B": _arm("B", "2" * 32, ok)})
    assert check_new_week(live, new, RULES) is None


@pytest.mark.parametrize(
    "artists_a, expected",
    [
        ([f"p{i}" for i in range(9)], "has 9 tracks, not 10-20"),
        ([f"p{i}" for i in range(21)], "has 21 tracks, not 10-20"),
        (["same"] * 3 + [f"p{i}" for i in range(7)], "more than 2 tracks of same"),
    ],
)
def test_a_playlist_breaking_the_rules_is_422(live, artists_a, expected):
    ok = [f"p{i}" for i in range(10)]
    new = replace(live, arms={"A": _arm("A", "1" * 32, artists_a), "B": _arm("B", "2" * 32, ok)})
    status, reasons = check_new_week(live, new, RULES)
    assert status == 422 and len(reasons) == 1 and expected in reasons[0]
    assert reasons[0].startswith("arm A (baseline) playlist 'pop'")


def test_a_repeated_track_or_a_missing_arm_is_422(live):
    a = _arm("A", "1" * 32, [f"p{i}" for i in range(10)])
    twice = Playlist("pop", a.playlists[0].tracks[:9] + a.playlists[0].tracks[:1])
    new = replace(live, arms={"A": replace(a, playlists=(twice,))})
    status, reasons = check_new_week(live, new, RULES)
    assert status == 422
    assert reasons == [
        "arm(s) B missing from the published week",
        "arm A (baseline) playlist 'pop' repeats a track",
    ]


def test_an_identical_week_or_an_earlier_week_is_409(live):
    ok = [f"p{i}" for i in range(10)]
    same_b = live.arms["B"].model_version
    new = replace(
        live,
        week_start=live.week_start - dt.timedelta(days=7),
        arms={"A": _arm("A", "1" * 32, ok), "B": _arm("B", same_b, ok)},
    )
    status, reasons = check_new_week(live, new, RULES)
    assert status == 409
    assert reasons == ["week 2024-07-22 is before the live week 2024-07-29"]
    same = {arm: replace(a, playlists=new.arms[arm].playlists) for arm, a in live.arms.items()}
    live = replace(live, arms=same)  # the same versions and playlists: identical
    status, reasons = check_new_week(live, replace(live, arms=dict(same)), RULES)
    assert status == 409
    assert reasons == [
        f"arm {arm} ({model}) version {VERSIONS[model]} is the live one: nothing new was published"
        for arm, model in (("A", "baseline"), ("B", "catboost"))
    ]


# --- the guard ------------------------------------------------------------------------------


def test_reload_is_off_without_a_token_and_401_with_a_wrong_one(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    store = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}"}
    with ServiceProcess(root, {**store, "POZYTYWKA_ADMIN_TOKEN": ""}) as svc:
        assert httpx.post(svc.url + "/admin/reload").status_code == 404
    with ServiceProcess(root, {**store, "POZYTYWKA_ADMIN_TOKEN": TOKEN}) as svc:
        for bad in ("Bearer nope", TOKEN, f"Basic {TOKEN}", f"Bearer{TOKEN}", ""):
            r = httpx.post(svc.url + "/admin/reload", headers={"Authorization": bad})
            assert r.status_code == 401, bad
            assert r.headers["www-authenticate"] == "Bearer"
        publish(root, "2024-07-29", VERSIONS)  # valid new playlists under the live versions
        auth = {"Authorization": f"Bearer {TOKEN}"}
        new = httpx.post(svc.url + "/admin/reload", headers=auth)
        assert new.status_code == 200 and "(version unchanged)" in new.text, new.text
        for good in (f"Bearer {TOKEN}", f"bearer {TOKEN}"):  # the scheme is case-insensitive
            same = httpx.post(svc.url + "/admin/reload", headers={"Authorization": good})
            assert same.status_code == 409 and "nothing new" in same.json()["detail"][0]


# --- under load -----------------------------------------------------------------------------


def _client(url: str, seed: int, stop, progress) -> dict:
    """One client: playlist request, then one event on a served track, until ``stop``."""
    rng = random.Random(seed)
    seen, errors, n_events = [], [], 0
    with httpx.Client(base_url=url, timeout=60) as c:
        while not stop.is_set() and len(seen) < 2000:
            try:
                r = c.get("/v1/playlists", params={"user_id": f"u{rng.randrange(300)}"})
                if r.status_code != 200:
                    errors.append(f"GET {r.status_code} {r.text[:200]}")
                    continue
                doc = r.json()
                seen.append((doc["request_id"], doc["week_start"], doc["model_version"]))
                track = rng.choice(doc["playlists"][0]["tracks"])["track_id"]
                now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
                ev = {"request_id": doc["request_id"], "track_id": track, "event_type": "play"}
                r = c.post("/v1/events", json={"events": [{**ev, "timestamp": now}]})
                if r.status_code != 200:
                    errors.append(f"POST {r.status_code} {r.text[:200]}")
                    continue
                n_events += r.json()["stored"]
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            with progress.get_lock():
                progress.value += 1
    return {"seen": seen, "errors": errors, "events": n_events}


def _load_process(url: str, threads: int, stop, progress, out) -> None:
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda i: _client(url, i, stop, progress), range(threads)))
    out.put(results)


def _wait_for(progress, n: int, proc) -> None:
    while progress.value < n:
        assert proc.is_alive(), "the load process died"
        proc.join(0.05)


def test_reload_under_load_loses_nothing_and_each_request_keeps_its_week(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "POZYTYWKA_ADMIN_TOKEN": TOKEN,
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ctx = mp.get_context("fork")
    stop, progress, out = ctx.Event(), ctx.Value("i", 0), ctx.Queue()
    with ServiceProcess(root, env) as svc:
        proc = ctx.Process(target=_load_process, args=(svc.url, 4, stop, progress, out))
        proc.start()
        try:
            _wait_for(progress, 100, proc)
            publish(root, NEW_WEEK, NEW_VERSIONS, n_tracks=8)  # too short a playlist
            bad = httpx.post(svc.url + "/admin/reload", headers=auth, timeout=60)
            assert bad.status_code == 422
            assert "has 8 tracks, not 10-20" in bad.json()["detail"][0]
            _wait_for(progress, 200, proc)
            publish(root, NEW_WEEK, NEW_VERSIONS)
            good = httpx.post(svc.url + "/admin/reload", headers=auth, timeout=60)
            assert good.status_code == 200, good.text
            assert good.json()["previous"]["week_start"] == "2024-07-29"
            assert good.json()["live"]["week_start"] == NEW_WEEK
            _wait_for(progress, progress.value + 200, proc)
        finally:
            stop.set()
        results = out.get(timeout=120)
        proc.join(60)
        metrics = httpx.get(svc.url + "/metrics").text
    assert f'week_start="{NEW_WEEK}"' in metrics and 'result="rejected"' in metrics

    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    seen = {rid: (week, version) for r in results for rid, week, version in r["seen"]}
    weeks = {week for week, _ in seen.values()}
    assert weeks == {"2024-07-29", NEW_WEEK}
    n_events = sum(r["events"] for r in results)

    store = Store(Settings(store_url=env["POZYTYWKA_STORE"], root=root).database_url)
    q = select(requests.c.request_id, artifacts.c.week_start, artifacts.c.model_version).join(
        artifacts, artifacts.c.artifact_id == requests.c.artifact_id
    )
    with store.engine.connect() as conn:
        logged = {
            r.request_id: (r.week_start.isoformat(), r.model_version) for r in conn.execute(q)
        }
    n_stored_events = store.count("events")
    store.dispose()
    assert logged == seen  # one row per 2xx answer, with the week and version it showed
    assert n_stored_events == n_events == len(seen)
