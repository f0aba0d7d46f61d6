"""The service fails safe (issue 22, items 3, 5 and 7), on a real server over loopback.

- Optional parts degrade alone: a truncated file of the catalogue, the skip model or
  the recommendations disables that part only (503 with a line naming the file on its
  routes, ``/readyz`` ready and saying which part is down), and the rest serves; a
  truncated playlist document still stops the start with one line.
- The API docs pages load their scripts and styles from the service (no CDN).
- A busy port is reported at once, before anything is loaded.
- ``POST /admin/reload`` takes a new model version of one arm, and still refuses
  (409) what is already live.

The project root holds every part: the tiny playlists (``serve_support``), the skip
model of ``test_skips_online`` (its ``published`` fixture: tracks t1-t3, listeners u1,
u2), two recommendation lists and a fallback, and a catalogue over the same tracks.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pozytywka import paths
from pozytywka.config import ABParams, PlaylistParams
from pozytywka.experiment.assign import arm_of
from pozytywka.serve.app import create_app
from pozytywka.serve.artifacts import load_artifacts
from pozytywka.serve.process import ServiceProcess, free_port
from pozytywka.serve.reload import changed_arms, check_new_week
from pozytywka.serve.security import CSP, DOCS_CSP
from pozytywka.serve.settings import Settings
from serve_support import VERSIONS, WEEK, write_tiny_root
from test_serve_page_e2e import CHROMIUM, browser_page
from test_serve_reload import publish
from test_skips_online import SESSION_S3, published  # noqa: F401  (a fixture)

pytestmark = pytest.mark.timeout(300)

SALT = ABParams().salt  # the playlists experiment's

SKIP_BODY = {
    "user_id": "u1",
    "track_id": "t1",
    "session": SESSION_S3,
    "timestamp": "2024-01-08T09:00:51",
}


def write_recs(root: Path) -> None:
    """Listener ``known``: arm A gets t1, t2; arm B t2, t3; the fallback is t3, t1."""
    rows = [("known", "A", "popularity_genre", r, t) for r, t in enumerate(["t1", "t2"], 1)]
    rows += [("known", "B", "ease", r, t) for r, t in enumerate(["t2", "t3"], 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "arm", "model", "rank", "track_id"])
    frame.insert(0, "week_start", "2024-07-29")
    frame["source"] = "model"
    (root / paths.RECS_PUBLISHED).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(root / paths.RECS_PUBLISHED, index=False)
    fallback = pd.DataFrame({"week_start": "2024-07-29", "rank": [1, 2], "track_id": ["t3", "t1"]})
    fallback.to_parquet(root / paths.RECS_FALLBACK, index=False)


def write_catalogue(root: Path) -> None:
    """The catalogue's columns on the skip model's tracks (t1-t3 by a1, a1, a2), its
    artists and last week's popularity (t1: 4 listeners)."""
    tracks = pd.read_parquet(root / paths.INTERIM_TRACKS)
    tracks["name"] = ["Love", "Lovely", "Blue"]
    tracks["popularity"] = [50.0, 70.0, 30.0]
    tracks["explicit"] = [0, 1, 0]
    tracks.to_parquet(root / paths.INTERIM_TRACKS, index=False)
    artists = pd.DataFrame(
        {"artist_id": ["a1", "a2"], "name": ["Ava", "Bob"], "genres": [["rock"], ["jazz"]]}
    )
    artists.to_parquet(root / paths.INTERIM_ARTISTS, index=False)
    weekly = pd.DataFrame(
        {"week_start": pd.to_datetime(["2024-07-22"]), "track_id": ["t1"], "popularity": [4]}
    )
    (root / paths.WEEKLY_POPULARITY).parent.mkdir(parents=True, exist_ok=True)
    weekly.to_parquet(root / paths.WEEKLY_POPULARITY, index=False)


@pytest.fixture(scope="module")
def full_root(published, tmp_path_factory) -> Path:  # noqa: F811
    root = tmp_path_factory.mktemp("full") / "root"
    shutil.copytree(published[0], root)
    write_tiny_root(root)
    write_recs(root)
    write_catalogue(root)
    return root


@pytest.fixture
def project(full_root, tmp_path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the full root (a test may break its files) and a fresh store."""
    root = tmp_path / "root"
    shutil.copytree(full_root, root)
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}", "POZYTYWKA_CLOCK": "manual"}
    return root, env


def truncate(path: Path) -> None:
    """Keep the first half of the file: a copy cut short, as a full disk leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def answers(http: httpx.Client) -> dict[str, httpx.Response]:
    """One request to each part of the service."""
    return {
        "playlists": http.get("/v1/playlists", params={"user_id": "u1"}),
        "skips": http.post("/v1/skips/predict", json=SKIP_BODY),
        "recs": http.get("/v1/recommendations", params={"user_id": "known"}),
        "catalogue": http.get("/v1/catalogue/tracks", params={"q": "love"}),
    }


# --- optional parts degrade alone -------------------------------------------------------


BROKEN = {
    "catalogue": paths.WEEKLY_POPULARITY,
    "skips": paths.SKIPS_CATBOOST,
    "recs": paths.RECS_PUBLISHED,
}
FIX = {
    "catalogue": "run dvc repro",
    "skips": "run `dvc repro skips_train` first",
    "recs": "run dvc repro recs_publish first",
}


@pytest.mark.parametrize("broken", [("catalogue", "skips"), ("recs",)], ids="+".join)
def test_a_truncated_optional_file_disables_its_part_only(project, broken):
    """Two runs: every optional part is broken in one and serves in the other."""
    root, env = project
    for part in broken:
        truncate(root / BROKEN[part])
    with ServiceProcess(root, env) as svc, httpx.Client(base_url=svc.url, timeout=30) as http:
        got = answers(http)
        ready = http.get("/readyz")
    assert ready.status_code == 200  # the core serves: still ready
    parts = ready.json()["parts"]
    for part in broken:
        assert got[part].status_code == 503
        (reason,) = got[part].json()["detail"]
        assert f"{BROKEN[part]} is unreadable (" in reason
        assert reason.endswith(f"): {FIX[part]}")  # and what to do
        assert parts[part] == {"serving": False, "reason": reason}
    serving = sorted(set(got) - set(broken))
    assert {k: got[k].status_code for k in serving} == dict.fromkeys(serving, 200)
    assert sorted(k for k, v in parts.items() if v["serving"]) == serving
    if "catalogue" in serving:
        assert got["catalogue"].json()["total"] == 2  # Love, Lovely
    if "recs" in serving:
        assert got["recs"].json()["track_ids"] in (["t1", "t2"], ["t2", "t3"])


def test_a_truncated_playlist_document_still_stops_the_start_with_one_line(project, capsys):
    from pozytywka.cli import main

    root, env = project
    truncate(root / paths.PLAYLISTS_BY_MODEL / "catboost.json")
    assert main(["serve", "--root", str(root), "--port", str(free_port())]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "catboost.json is not valid JSON (" in line
    assert line.startswith("pozytywka serve: error: ")
    assert line.endswith(": run dvc repro first")


# --- reload what changed ------------------------------------------------------------------


def _week_of(live, week: str | None = None, versions: dict[str, str] | None = None):
    """``live`` with another week and/or other model versions (same playlists)."""
    arms = {
        arm: replace(a, model_version=(versions or {}).get(a.model, a.model_version))
        for arm, a in live.arms.items()
    }
    when = dt.date.fromisoformat(week) if week else live.week_start
    return replace(live, week_start=when, arms=arms)


def test_changed_arms_names_a_new_week_or_each_new_version(tmp_path):
    live = load_artifacts(write_tiny_root(tmp_path))
    a, b, d = "a" * 32, "b" * 32, "d" * 32
    assert changed_arms(live, live) == []
    assert changed_arms(live, _week_of(live, versions={"catboost": d})) == [
        f"arm B (catboost): version {b} -> {d}"
    ]
    assert changed_arms(live, _week_of(live, week="2024-08-05")) == [
        "arm A (baseline): week 2024-07-29 -> 2024-08-05",
        "arm B (catboost): week 2024-07-29 -> 2024-08-05",
    ]
    both = _week_of(live, week="2024-08-05", versions={"baseline": d})
    assert (
        changed_arms(live, both)[0]
        == f"arm A (baseline): week 2024-07-29 -> 2024-08-05, version {a} -> {d}"
    )
    rules = PlaylistParams(min_size=10, max_size=20, max_per_artist=10)
    assert check_new_week(live, _week_of(live, versions={"catboost": d}), rules) is None
    assert check_new_week(live, _week_of(live, week="2024-08-05"), rules) is None
    assert check_new_week(live, live, rules)[0] == 409


def test_a_reload_takes_a_retrained_catboost_arm_alone_and_refuses_it_twice(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    publish(root, WEEK, VERSIONS)  # playlists within the rules (the reload checks them)
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "POZYTYWKA_CLOCK": "manual",
        "POZYTYWKA_ADMIN_TOKEN": "t",
    }
    auth = {"Authorization": "Bearer t"}
    new_b = "d" * 32
    user_b = next(u for u in (f"u{i}" for i in range(100)) if arm_of(u, SALT, 0.5) == "B")
    with ServiceProcess(root, env) as svc, httpx.Client(base_url=svc.url, timeout=30) as http:
        before = http.get("/v1/playlists", params={"user_id": user_b}).json()
        publish(root, WEEK, {**VERSIONS, "catboost": new_b})  # only CatBoost retrained
        done = http.post("/admin/reload", headers=auth)
        after = http.get("/v1/playlists", params={"user_id": user_b}).json()
        again = http.post("/admin/reload", headers=auth)
        log = svc.log()
    assert done.status_code == 200, done.text
    body = done.json()
    line = f"arm B (catboost): version {VERSIONS['catboost']} -> {new_b}"
    assert body["changed"] == [line]
    assert body["live"]["versions"] == {"A": VERSIONS["baseline"], "B": new_b}
    assert body["live"]["artifact_ids"]["A"] == body["previous"]["artifact_ids"]["A"]
    assert body["live"]["artifact_ids"]["B"] != body["previous"]["artifact_ids"]["B"]
    assert (before["model_version"], after["model_version"]) == (VERSIONS["catboost"], new_b)
    assert f"reloaded: {line}" in log
    assert again.status_code == 409
    nothing_new = "is the live one: nothing new was published"
    assert again.json()["detail"] == [
        f"arm A (baseline) version {VERSIONS['baseline']} {nothing_new}",
        f"arm B (catboost) version {new_b} {nothing_new}",
    ]


# --- a busy port --------------------------------------------------------------------------

#: Runs the CLI, then prints which heavy modules it imported (none: it loaded nothing).
CLI_THEN_IMPORTS = (
    "import sys; from pozytywka.cli import main; rc = main(sys.argv[1:]); "
    "print([m for m in ('uvicorn', 'pozytywka.serve.app', 'catboost', 'sklearn') "
    "if m in sys.modules]); sys.exit(rc)"
)


def test_a_busy_port_is_one_line_at_once_before_anything_is_loaded(tmp_path):
    """The root is empty: had anything been loaded first, the error would be about it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-c", CLI_THEN_IMPORTS, "serve", "--port", str(port)]
        done = subprocess.run(
            [*cmd, "--root", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"pozytywka serve: error: port {port} is already in use on 127.0.0.1 (another "
        f"pozytywka serve?): stop what listens there (ss -ltnp 'sport = :{port}') or pick "
        "a free one with --port"
    ]
    assert done.stdout.strip() == "[]"  # no web server, app or model library imported


# --- the API docs pages, with no CDN ------------------------------------------------------

#: Every URL a page names: src= and href= attributes, Swagger UI's ``url:``, ReDoc's spec-url.
URL = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|url: '([^']*)'""")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
TYPES[".json"] = "application/json"


@pytest.fixture
def client(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'log.sqlite'}", root=root, clock="manual")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize(
    "page, files",
    [
        ("/docs", ["favicon.png", "openapi.json", "swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["favicon.png", "openapi.json", "redoc.standalone.js"]),
    ],
)
def test_the_api_docs_pages_name_only_the_services_own_files(client, page, files):
    got = client.get(page)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert "http" not in got.text  # no CDN, no font service: nothing off the service
    urls = sorted(a or b for a, b in URL.findall(got.text))
    assert sorted(u.rsplit("/", 1)[1] for u in urls) == files
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        r = client.get(url)
        assert r.status_code == 200, url
        kind = TYPES[url[url.rindex(".") :]]
        assert r.headers["content-type"].split(";")[0] == kind, url
        assert len(r.content) > 1000, url  # the real file, not an error page
    csp = got.headers["content-security-policy"]  # the service's policy: no CDN let in
    assert csp.startswith(DOCS_CSP) and "http" not in csp and "cdn" not in csp
    assert csp == DOCS_CSP if page == "/docs" else csp == f"{DOCS_CSP}; worker-src 'self' blob:"
    assert "unsafe-inline" not in CSP  # the rest of the service (the demo page) needs none


@pytest.mark.e2e
@pytest.mark.needs("chromium")
def test_the_api_docs_pages_render_in_chromium_with_the_outside_world_cut_off(tmp_path):
    """Every request off the service is aborted (offline); both pages still draw the API,
    and the browser reports no CSP violation but ReDoc's footer logo (from its CDN: blocked,
    never fetched)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (Debian's chromium package)")
    root = write_tiny_root(tmp_path / "root")
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}", "POZYTYWKA_CLOCK": "manual"}
    drawn, errors, outside = {}, [], []
    with ServiceProcess(root, env) as svc, browser_page(tmp_path / "profile") as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def offline(route) -> None:
            if route.request.url.startswith((svc.url + "/", "data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", offline)
        for path, drawn_when in (("/docs", ".opblock"), ("/redoc", "[data-section-id]")):
            page.goto(svc.url + path)
            page.wait_for_selector(drawn_when)  # an operation of the API is on the page
            drawn[path] = page.locator(drawn_when).count()
    assert outside == []
    assert drawn["/docs"] >= 10 and drawn["/redoc"] >= 10  # the service has more routes
    assert [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []
