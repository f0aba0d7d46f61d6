"""The demo page's HTML without a browser: local assets only, both arms, names escaped.

(The page's behaviour in a real browser: ``tests/test_serve_page_e2e.py``.)
"""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from pozytywka.serve.app import create_app
from pozytywka.serve.settings import Settings
from serve_support import TRACKS, write_tiny_root


def make_client(tmp_path) -> TestClient:
    root = write_tiny_root(tmp_path / "root")
    doc_path = root / "reports" / "playlists" / "by_model" / "catboost.json"
    doc = json.loads(doc_path.read_text())
    doc["playlists"][0]["tracks"][0]["name"] = "<script>alert(1)</script>"
    doc_path.write_text(json.dumps(doc))
    return TestClient(
        create_app(Settings(store_url=f"sqlite:///{tmp_path / 'l.sqlite'}", root=root))
    )


def test_index_uses_only_the_services_own_assets(tmp_path):
    with make_client(tmp_path) as c:
        html = c.get("/").text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert {a for a in assets if a.endswith((".js", ".css"))} == {
            "/static/app.js",
            "/static/style.css",
        }
        assert all(a.startswith("/") for a in assets), assets  # nothing from another host
        for a in assets:
            if "/static/" in a:
                assert c.get(a).status_code == 200
        assert 'data-experiment="playlists"' in html and "2024-07-29" in html


def test_browse_shows_both_arms_side_by_side_escaped(tmp_path):
    with make_client(tmp_path) as c:
        html = c.get("/browse").text
        a_part, b_part = html.split('data-arm="B"')
        assert f"Song {TRACKS['A'][0]}" in a_part and f"Song {TRACKS['A'][1]}" not in b_part
        assert f"Song {TRACKS['B'][1]}" in b_part
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in b_part
        # browsing logs no exposure: the first listener request is still a first exposure
        first = c.get("/v1/playlists", params={"user_id": "u1"}).json()
        assert first["first_exposure"] is True
