"""Shared pieces of the service tests: a tiny published project, stores on SQLite and PostgreSQL.

``write_tiny_root(root)`` writes what the pipeline publishes, by hand: arm A
(baseline) serves one playlist of tracks a01..a10, arm B (catboost) one of
b01..b10, both for the week of 2024-07-29; ``dvc.lock`` records the model
hashes; ``params.yaml`` is the project's (salt, split 0.5).

``postgres_url`` starts a throwaway PostgreSQL server on loopback (Debian's
``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin, run as the ``postgres``
user when the tests run as root), once per session, and gives each test a
fresh database. Without the binaries the PostgreSQL cases are skipped (``.ci/run``
installs them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pozytywka.serve.pgtemp import PostgresServer, pg_bin

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2024-07-29"
VERSIONS = {"baseline": "a" * 32, "catboost": "b" * 32}
TRACKS = {"A": [f"a{i:02d}" for i in range(1, 11)], "B": [f"b{i:02d}" for i in range(1, 11)]}


def playlist_doc(model: str, tracks: list[str], week: str = WEEK) -> dict:
    return {
        "week_start": week,
        "model": model,
        "skipped": [],
        "playlists": [
            {
                "genre": "dance pop",
                "tracks": [
                    {"track_id": t, "name": f"Song {t}", "artist": "Ava", "score": 1.0}
                    for t in tracks
                ],
            }
        ],
    }


def write_tiny_root(root: Path, week_b: str = WEEK) -> Path:
    """The files :func:`pozytywka.serve.artifacts.load_artifacts` reads, hand-made."""
    out = root / "reports" / "playlists" / "by_model"
    out.mkdir(parents=True, exist_ok=True)
    (out / "baseline.json").write_text(json.dumps(playlist_doc("baseline", TRACKS["A"])))
    (out / "catboost.json").write_text(json.dumps(playlist_doc("catboost", TRACKS["B"], week_b)))
    lock = {
        "schema": "2.0",
        "stages": {
            "playlists": {
                "cmd": "pozytywka playlists",
                "deps": [
                    {"path": "models/baseline.json", "hash": "md5", "md5": VERSIONS["baseline"]},
                    {"path": "models/catboost.cbm", "hash": "md5", "md5": VERSIONS["catboost"]},
                ],
            }
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    return root


# --- PostgreSQL -------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (.ci/run installs Debian's postgresql)")
    from pozytywka.serve.process import free_port

    server = PostgresServer(bindir, free_port()).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty store: a SQLite file, or a new database on the throwaway server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite'}"
    return request.getfixturevalue("postgres_server").create_database()
