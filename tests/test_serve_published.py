"""A published playlist file edited by hand is refused (start and reload), and new
playlists under an unchanged model version are a reload (issue: one version, one content).

The tiny project (:func:`serve_support.write_tiny_root`) gets the ``outs`` record a real
``dvc repro`` writes for the ``playlists`` stage (``reports/playlists`` with DVC's
directory hash), then a test edits a published file by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from pozytywka.config import PlaylistParams
from pozytywka.errors import PozytywkaError
from pozytywka.serve.app import create_app
from pozytywka.serve.artifacts import Playlist, dvc_dir_md5, load_artifacts
from pozytywka.serve.reload import changed_arms, check_new_week
from pozytywka.serve.settings import Settings
from serve_support import TRACKS, write_tiny_root

REPO = Path(__file__).resolve().parents[1]
TOKEN = "s3cret"
RULES = PlaylistParams(min_size=10, max_size=20, max_per_artist=20)
EDITED = "reports/playlists is not what the playlists stage published"


def record_outs(root: Path) -> Path:
    """Add the ``reports/playlists`` output to the tiny project's ``dvc.lock``, as DVC does."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    md5 = dvc_dir_md5(root / "reports" / "playlists")
    lock["stages"]["playlists"]["outs"] = [{"path": "reports/playlists", "hash": "md5", "md5": md5}]
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    return root


def swap_first_two(root: Path) -> None:
    """Hand-edit catboost.json: swap its first two tracks (what the tester did)."""
    path = root / "reports" / "playlists" / "by_model" / "catboost.json"
    doc = json.loads(path.read_text())
    t = doc["playlists"][0]["tracks"]
    t[0], t[1] = t[1], t[0]
    path.write_text(json.dumps(doc))


def test_dvc_dir_md5_is_the_md5_of_the_sorted_listing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_bytes(b"a")
    (tmp_path / "sub" / "a.txt").write_bytes(b"")
    # md5("a") = 0cc175b9..., md5("") = d41d8cd9...; sorted by relpath: b.txt before sub/a.txt
    listing = (
        '[{"md5": "0cc175b9c0f1b6a831c399e269772661", "relpath": "b.txt"}, '
        '{"md5": "d41d8cd98f00b204e9800998ecf8427e", "relpath": "sub/a.txt"}]'
    )
    assert dvc_dir_md5(tmp_path) == hashlib.md5(listing.encode()).hexdigest() + ".dir"


def test_dvc_dir_md5_agrees_with_the_repositorys_dvc_lock():
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for o in lock["stages"]["playlists"]["outs"]}
    if not (REPO / "reports" / "playlists").is_dir():
        pytest.skip("no published playlists in this checkout")
    assert dvc_dir_md5(REPO / "reports" / "playlists") == outs["reports/playlists"]


def test_a_hand_edited_published_file_stops_the_start_with_one_line(tmp_path, capsys):
    from pozytywka.cli import main

    root = record_outs(write_tiny_root(tmp_path))
    assert [t.track_id for t in load_artifacts(root).arms["B"].playlists[0].tracks] == TRACKS["B"]
    swap_first_two(root)
    with pytest.raises(PozytywkaError, match=f"^{EDITED} .* run dvc repro first$"):
        load_artifacts(root)
    assert main(["serve", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and EDITED in err[0], err


def test_a_hand_edited_published_file_is_refused_by_the_reload_and_the_old_order_stays(tmp_path):
    root = record_outs(write_tiny_root(tmp_path / "root"))
    settings = Settings(
        store_url=f"sqlite:///{tmp_path / 'l.sqlite'}", admin_token=TOKEN, root=root, clock="manual"
    )
    with TestClient(create_app(settings)) as client:
        swap_first_two(root)
        r = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 422
        assert len(r.json()["detail"]) == 1 and EDITED in r.json()["detail"][0]
        live = client.app.state.live.artifacts.arms["B"].playlists[0].tracks
        assert [t.track_id for t in live][:2] == ["b01", "b02"]


def test_new_playlists_under_the_same_version_are_new_and_named(tmp_path):
    live = load_artifacts(write_tiny_root(tmp_path))
    b = live.arms["B"]
    p = b.playlists[0]
    swapped = Playlist(p.genre, (p.tracks[1], p.tracks[0], *p.tracks[2:]))
    new_b = replace(b, playlists=(swapped,))
    assert new_b.model_version == b.model_version and new_b.content_md5 != b.content_md5
    new = replace(live, arms={**live.arms, "B": new_b})
    assert changed_arms(live, new) == [
        f"arm B (catboost): playlists {b.content_md5} -> {new_b.content_md5} (version unchanged)"
    ]
    assert check_new_week(live, new, RULES) is None
    status, reasons = check_new_week(live, replace(live), RULES)  # same content: still 409
    assert status == 409 and all("nothing new was published" in r for r in reasons)


def test_content_md5_is_the_md5_of_genres_and_track_ids_in_order(tmp_path):
    arm = load_artifacts(write_tiny_root(tmp_path)).arms["A"]
    ids = ",".join(f'"a{i:02d}"' for i in range(1, 11))
    text = f'[["dance pop",[{ids}]]]'
    assert arm.content_md5 == hashlib.md5(text.encode()).hexdigest()
