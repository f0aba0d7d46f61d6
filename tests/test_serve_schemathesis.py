"""schemathesis against the running service: no input, on any route, is a server error.

One ``pozytywka serve`` process on a free loopback port serves a hand-made root
with every product loaded: the tiny playlists of ``serve_support``, skip models
trained on ``skips_data`` (as ``test_skips_online`` publishes them), a recs
list and fallback, and a catalogue over the same three tracks. schemathesis
(its CLI, in a subprocess: its pytest plugin does not run under pytest 9) reads
the OpenAPI schema the server publishes (``/openapi.json``) and sends generated
requests to every operation (playlists, events, skips, recs, experiments,
catalogue, admin with the right token, health, metrics): valid and invalid
bodies, queries and headers, undeclared media types, and sequences that follow
one answer's ids into the next request (its coverage, fuzzing and stateful
phases; a fixed seed and a bounded number of examples). Its dictionaries put the
catalogue's track ids, listeners, genres and years into generated values half
the time, so the requests get past "unknown track" to the models (the
out-of-range times that were a 500 in skip scoring were found that way). Its
check ``not_a_server_error`` fails on any 5xx: bad input is a 4xx with the
reason, and every product is loaded, so a 503 would be a bug here too.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pandas as pd
import pytest

import skips_data
from pozytywka import paths
from pozytywka.config import SkipsCatBoostParams
from pozytywka.io import write_json, write_parquet
from pozytywka.playlists.models.catboost_model import save_catboost
from pozytywka.serve.process import ServiceProcess
from pozytywka.skips.baselines import fit_baselines
from pozytywka.skips.model import train_classifier
from serve_support import write_tiny_root

pytestmark = pytest.mark.timeout(300)

TOKEN = "schemathesis-token"
#: Examples per operation: enough to reach each route's validation, small enough
#: for the whole module to take well under a minute.
MAX_EXAMPLES = 25
SEED = 1

#: schemathesis's configuration: the admin token on every request, and values of
#: the hand-made root mixed into the generated ones (each with its probability).
CONFIG = f"""
headers = {{ Authorization = "Bearer {TOKEN}" }}

[dictionaries.tracks]
values = ["t1", "t2", "t3"]
[dictionaries.listeners]
values = ["u1", "u2", "nobody"]
[dictionaries.genres]
values = ["rock", "pop", "jazz"]
[dictionaries.years]
values = [2023]

[parameters]
"body.track_id" = {{ dictionary = "tracks", probability = 0.7 }}
"body.user_id" = {{ dictionary = "listeners", probability = 0.5 }}
"body.session[*].track_id" = {{ dictionary = "tracks", probability = 0.7 }}
"body.events[*].track_id" = {{ dictionary = "tracks", probability = 0.5 }}
"query.user_id" = {{ dictionary = "listeners", probability = 0.5 }}
"query.genre" = {{ dictionary = "genres", probability = 0.5 }}
"query.year" = {{ dictionary = "years", probability = 0.5 }}
"""


def write_full_root(root: Path) -> Path:
    """The tiny published root with every optional product: skips, recs, catalogue.

    Tracks t1..t3 (``skips_data``) are the catalogue; genres rock, pop, jazz;
    artists a1 ("Ava") and a2 ("Bob"); last week 2024-07-22. Skip models serve
    the week of 2024-01-08; recs the week of 2024-07-29 for listener u1."""
    write_tiny_root(root)
    events = skips_data.events()
    table, history = skips_data.features(events, 2.0)
    model = train_classifier(table, table, SkipsCatBoostParams(iterations=5, depth=2))
    (root / paths.SKIPS_MODELS).mkdir(parents=True, exist_ok=True)
    save_catboost(model, root / paths.SKIPS_CATBOOST)
    write_json(root / paths.SKIPS_BASELINES, fit_baselines(table))
    meta = {
        "serve_week": "2024-01-08",
        "prior_plays": 2.0,
        "thresholds": {"catboost": {"cache": 0.5}, "genre_rule": {"cache": 0.5}},
    }
    write_json(root / paths.SKIPS_META, meta)
    for name, frame in history.items():
        write_parquet(root / paths.SKIPS_HISTORY / f"{name}.parquet", frame)
    tracks = skips_data.tracks().assign(
        name=["Love Song", "Lovely Day", "Blue"],
        popularity=[50.0, 70.0, 30.0],
        explicit=pd.Series([0, 1, 0], dtype="int8"),
    )
    write_parquet(root / paths.INTERIM_TRACKS, tracks)
    write_parquet(root / paths.INTERIM_TRACK_GENRES, skips_data.track_genres())
    write_parquet(root / paths.INTERIM_USERS, skips_data.users())
    artists = pd.DataFrame(
        {"artist_id": ["a1", "a2"], "name": ["Ava", "Bob"], "genres": [["rock", "pop"], ["jazz"]]}
    )
    write_parquet(root / paths.INTERIM_ARTISTS, artists)
    weekly = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2024-07-22", "2024-07-22"]),
            "track_id": ["t1", "t2"],
            "popularity": [3, 9],
        }
    )
    write_parquet(root / paths.WEEKLY_POPULARITY, weekly)
    recs = pd.DataFrame(
        {
            "week_start": "2024-07-29",
            "user_id": ["u1", "u1", "u1", "u1"],
            "arm": ["A", "A", "B", "B"],
            "model": ["popularity_genres", "popularity_genres", "ease", "ease"],
            "rank": [1, 2, 1, 2],
            "track_id": ["t1", "t2", "t2", "t3"],
            "source": ["model"] * 4,
        }
    )
    write_parquet(root / paths.RECS_PUBLISHED, recs)
    fallback = pd.DataFrame({"week_start": "2024-07-29", "rank": [1, 2], "track_id": ["t2", "t1"]})
    write_parquet(root / paths.RECS_FALLBACK, fallback)
    return root


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    root = write_full_root(tmp / "root")
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp / 'log.sqlite'}",
        "POZYTYWKA_CLOCK": "manual",
        "POZYTYWKA_ADMIN_TOKEN": TOKEN,
    }
    with ServiceProcess(root, env) as svc:
        yield svc


def test_every_product_is_loaded(service):
    """The premise of the fuzzing below: no route answers 503 for a missing product."""
    ready = httpx.get(service.url + "/readyz").json()
    assert ready["status"] == "ok"
    paths_ = set(httpx.get(service.url + "/openapi.json").json()["paths"])
    assert {"/v1/skips/predict", "/v1/recommendations", "/v1/catalogue/tracks"} <= paths_
    for path in ("/v1/experiments/skips/results", "/v1/experiments/recs/results", "/v1/catalogue"):
        assert httpx.get(service.url + path).status_code == 200, path


def run_schemathesis(url: str, workdir: Path) -> tuple[subprocess.CompletedProcess, ET.Element]:
    """``schemathesis run`` on ``url``'s OpenAPI schema; its output and JUnit report."""
    config, junit = workdir / "schemathesis.toml", workdir / "junit.xml"
    config.write_text(CONFIG)
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
    cmd += [f"{url}/openapi.json", "--checks", "not_a_server_error", "--workers", "1"]
    cmd += ["--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--report", "junit"]
    cmd += ["--report-junit-path", str(junit), "--output-truncate", "false"]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=240)
    return done, ET.parse(junit).getroot()


def test_no_input_on_any_route_is_a_server_error(service, tmp_path):
    done, junit = run_schemathesis(service.url, tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    operations = httpx.get(service.url + "/openapi.json").json()["paths"]
    expected = {f"{m.upper()} {p}" for p, ops in operations.items() for m in ops}
    tested = {case.get("name") for case in junit.iter("testcase")}
    assert expected <= tested, expected - tested  # every route, skips and recs included
    assert {"POST /v1/skips/predict", "GET /v1/recommendations", "PUT /v1/admin/clock"} <= tested
    assert not [c for c in junit.iter("failure")] and not [c for c in junit.iter("error")]
    assert "Server error" not in done.stdout
