"""The demo page's HTML without a browser: local assets only, the three products of a
listener, cold start, products unavailable, nothing logged by looking, the arms' diff.

(The page's behaviour in a real browser: ``tests/test_serve_page_e2e.py``.)

The hand-made world: the tiny published root of ``serve_support`` (arm A serves one
"dance pop" playlist of a01..a10, arm B one of b01..b10), a fake skip scorer
(P(skip) of track ``a0k``/``b0k`` is ``k / 10``, threshold 0.5, so tracks 1-4 are
fetched and 5-10 streamed; it knows listener ``known`` only) and published
recommendations for ``known`` (arm A: a01 a02 t1, arm B: b01 t2) with the fallback
chart t1, zz.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from pozytywka.config import ABParams
from pozytywka.errors import PozytywkaError
from pozytywka.experiment.assign import arm_of
from pozytywka.recs.online import PublishedRecs
from pozytywka.serve.app import create_app
from pozytywka.serve.artifacts import Arm, Playlist, Track
from pozytywka.serve.catalogue import Catalogue
from pozytywka.serve.routers.pages import arm_diff, listener_known, score_tracks, valid_user_id
from pozytywka.serve.settings import Settings
from pozytywka.skips.online import Prediction
from serve_support import TRACKS, write_tiny_root
from test_serve_catalogue import write_tiny_catalogue
from test_skips_online import published  # noqa: F401  (a fixture)

SALT = ABParams().salt


class FakeScorer:
    """P(skip) of ``a0k``/``b0k`` is k/10 in both arms; t1 (in the catalogue) is 0.9;
    threshold 0.5; knows listener ``known``; the prior skip rate is 0.35."""

    prior_rate = 0.35
    serve_week = "2024-07-29"
    meta = {"serve_week": serve_week}
    known_tracks = frozenset(TRACKS["A"] + TRACKS["B"] + ["t1"])

    def knows(self, user_id: str) -> bool:
        return user_id == "known"

    def predict(self, user, track, session, arm="B", now=None) -> Prediction:
        if track == "t1":
            p = 0.9
        elif track in self.known_tracks:
            p = int(track[1:]) / 10
        else:
            raise PozytywkaError(f"unknown track_id {track!r}")
        return Prediction(p, "stream" if p >= 0.5 else "fetch", f"model{arm}", 0.5)


RECS = PublishedRecs(
    "2024-07-29",
    {("known", "A"): (("a01", "a02", "t1"), "model"), ("known", "B"): (("b01", "t2"), "model")},
    ("t1", "zz"),
    {"A": "popularity_genre", "B": "ease"},
)


def make_client(tmp_path, products: bool = True, catalogue: bool = False) -> TestClient:
    root = write_tiny_root(tmp_path / "root")
    if catalogue:
        write_tiny_catalogue(root)
    doc_path = root / "reports" / "playlists" / "by_model" / "catboost.json"
    doc = json.loads(doc_path.read_text())
    doc["playlists"][0]["tracks"][0]["name"] = "<script>alert(1)</script>"
    doc_path.write_text(json.dumps(doc))
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'l.sqlite'}", root=root, clock="manual")
    return TestClient(
        create_app(
            settings,
            load_skips=(lambda s: FakeScorer()) if products else None,
            load_recs=(lambda s: RECS) if products else None,
        )
    )


def rows(html: str, section: str) -> list[str]:
    """The ``data-track`` of each table row inside ``<section id="section">``."""
    part = html.split(f'<section id="{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<tr data-track="([^"]+)"', part)


def cell(html: str, section: str, track: str, css: str) -> str:
    """The text of the ``<td class="css">`` of ``track``'s row in ``section``, tags removed."""
    part = html.split(f'<section id="{section}"', 1)[1].split("</section>", 1)[0]
    row = part.split(f'<tr data-track="{track}">', 1)[1].split("</tr>", 1)[0]
    td = row.split(f'<td class="{css}">', 1)[1].split("</td>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", td)).strip()


def exposures(c: TestClient) -> dict[str, int]:
    """Listeners exposed per experiment, read back through the API."""
    return {
        "playlists": c.get("/v1/experiments/playlists/results").json()["listeners_exposed"],
        "recs": c.get("/v1/experiments/recs/results").json()["listeners"],
        "skips": c.get("/v1/experiments/skips/results").json()["listeners"],
    }


# --- pure functions ------------------------------------------------------------------


def _arm(name: str, lists: dict[str, list[str]]) -> Arm:
    return Arm(
        name,
        name,
        "v",
        tuple(
            Playlist(g, tuple(Track(t, f"N{t}", "X", i) for i, t in enumerate(ts, 1)))
            for g, ts in lists.items()
        ),
    )


def test_arm_diff_matches_genres_and_marks_tracks_the_other_arm_lacks():
    a = _arm("A", {"pop": ["t1", "t2", "t3"], "rock": ["t4", "t5"]})
    b = _arm("B", {"pop": ["t3", "t1", "t6"], "jazz": ["t7"], "rock": ["t4", "t5"]})
    diff = arm_diff(a, b)
    assert [g.genre for g in diff] == ["pop", "rock", "jazz"]  # A's order, then B's own
    pop, rock, jazz = diff
    assert [(t.track_id, t.shared) for t in pop.a] == [("t1", True), ("t2", False), ("t3", True)]
    assert [(t.track_id, t.shared) for t in pop.b] == [("t3", True), ("t1", True), ("t6", False)]
    assert (pop.shared, pop.only_a, pop.only_b, pop.identical) == (2, 1, 1, False)
    assert (rock.shared, rock.only_a, rock.only_b, rock.identical) == (2, 0, 0, True)
    assert (jazz.a, jazz.shared, jazz.only_a, jazz.only_b) == ((), 0, 0, 1)
    # a track both arms serve under different genres still differs within each genre
    moved = arm_diff(_arm("A", {"pop": ["t1"]}), _arm("B", {"rock": ["t1"]}))
    assert [(g.genre, g.only_a, g.only_b) for g in moved] == [("pop", 1, 0), ("rock", 0, 1)]


def test_listener_known_and_scores_with_reasons():
    class Knows:
        def __init__(self, who):
            self.who = who

        def knows(self, user_id):
            return user_id in self.who

    assert listener_known("u", []) is None  # nothing loaded can tell
    assert listener_known("u", [Knows(set()), Knows({"u"})]) is True
    assert listener_known("v", [Knows(set()), Knows({"u"})]) is False
    got = score_tracks(FakeScorer(), "u", "A", ["a03", "zz", "a03", "b07"])
    assert list(got) == ["a03", "zz", "b07"]  # each once, in order
    assert (got["a03"].probability, got["a03"].decision) == (0.3, "fetch")
    assert (got["b07"].probability, got["b07"].decision) == (0.7, "stream")
    assert got["zz"] == "unknown track_id 'zz'"
    assert valid_user_id("101") is None
    assert valid_user_id(" 101").startswith("user_id: must not be blank")
    assert valid_user_id("x" * 65) == "user_id: must be 1 to 64 characters"


def test_the_real_products_know_the_published_listeners(published):  # noqa: F811
    from pozytywka.skips.online import OnlineScorer

    scorer = OnlineScorer.load(published[0])
    # u1, u2: the dump's listeners (users.parquet); u9 is in no published table
    assert [scorer.knows(u) for u in ("u1", "u2", "u9", "nobody")] == [True, True, False, False]
    assert scorer.prior_rate == scorer.lookup.prior_rate
    assert [RECS.knows(u) for u in ("known", "stranger")] == [True, False]
    assert listener_known("u1", [scorer, RECS]) is True
    assert listener_known("stranger", [scorer, RECS]) is False


def test_catalogue_names_the_tracks_it_holds(tmp_path):
    cat = Catalogue(write_tiny_catalogue(tmp_path))
    try:
        assert cat.track_names(["t2", "zz", "t1", "t2"]) == {
            "t1": ("Love Song", "Ava"),
            "t2": ("Lovely Day", "Bob Lovejoy"),
        }
        assert cat.track_names([]) == {}
    finally:
        cat.close()


# --- the pages --------------------------------------------------------------------------


def test_index_uses_only_the_services_own_assets_and_nothing_inline(tmp_path):
    with make_client(tmp_path) as c:
        for path in ("/", "/?user_id=known", "/browse"):
            html = c.get(path).text
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert {a for a in assets if a.endswith((".js", ".css"))} == (
                {"/static/style.css"} | ({"/static/app.js"} if path != "/browse" else set())
            )
            assert all(a.startswith(("/", "data:")) for a in assets), assets  # no other host
            # the CSP needs no 'unsafe-inline' for the page: no inline script, style or handler
            assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
            assert "<style" not in html and " style=" not in html
            assert re.search(r"\son[a-z]+=", html) is None
        for a in ("/static/app.js", "/static/style.css"):
            assert c.get(a).status_code == 200
        html = c.get("/").text
        assert 'data-experiment="playlists"' in html and "2024-07-29" in html


def test_a_known_listener_sees_all_three_products_and_looking_logs_nothing(tmp_path):
    arm = arm_of("known", SALT, 0.5)
    recs_arm = arm_of("known", f"{SALT}:recs", 0.5)
    skips_arm = arm_of("known", f"{SALT}:skips", 0.5)
    with make_client(tmp_path) as c:
        r = c.get("/", params={"user_id": "known"})
        assert r.status_code == 200
        html = r.text
        assert f'<strong id="arm">{arm}</strong>' in html
        assert '<span class="tag known" id="known">in the published data</span>' in html
        assert "cold start" not in html
        assert rows(html, "playlists") == TRACKS[arm]
        # P(skip) k/10 of track k: 0.3 -> fetch, 0.7 -> stream (threshold 0.5)
        t3, t7 = TRACKS[arm][2], TRACKS[arm][6]
        assert cell(html, "playlists", t3, "p-skip") == "0.30"
        assert cell(html, "playlists", t3, "decision") == "fetch"
        assert cell(html, "playlists", t7, "p-skip") == "0.70"
        assert cell(html, "playlists", t7, "decision") == "stream"
        assert rows(html, "recs") == list(RECS.lists[("known", recs_arm)][0])
        assert f"arm {recs_arm}, {RECS.models[recs_arm]}, source: model" in html
        assert f"arm <strong>{skips_arm}</strong> model{skips_arm}" in html
        # t2 is in no published playlist and no catalogue: shown by id, not scored, with why
        if recs_arm == "B":
            assert cell(html, "recs", "t2", "p-skip") == "not scored: unknown track_id 't2'"
        assert exposures(c) == {"playlists": 0, "recs": 0, "skips": 0}
        served = c.get("/v1/playlists", params={"user_id": "known"}).json()
        assert served["first_exposure"] is True  # the page did not expose them


def test_an_unknown_listener_is_a_cold_start_with_what_each_product_does(tmp_path):
    arm = arm_of("stranger", SALT, 0.5)
    with make_client(tmp_path, catalogue=True) as c:
        html = c.get("/", params={"user_id": "stranger"}).text
        assert '<span class="tag cold" id="known">cold start</span>' in html
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
        assert f"Playlists: arm {arm}'s playlists, the same for every listener of the arm." in text
        assert "Recommendations: the fallback, last weeks' chart" in text
        assert (
            "Skips: the prior: with no history the listener's skip rate is that of all plays "
            "(0.35)" in text
        )
        assert rows(html, "recs") == ["t1", "zz"]  # the fallback chart
        assert "source: popularity fallback (no history)" in text
        # t1 named by the catalogue; zz, which nothing holds, by its id
        assert cell(html, "recs", "t1", "track") == "Love Song"
        assert cell(html, "recs", "t1", "artist") == "Ava"
        assert cell(html, "recs", "zz", "track") == "zz"
        assert exposures(c) == {"playlists": 0, "recs": 0, "skips": 0}


def test_unavailable_products_say_so_in_place(tmp_path):
    with make_client(tmp_path, products=False) as c:
        html = c.get("/", params={"user_id": "known"}).text
        assert (
            '<p class="unavailable" id="recs-problem">Recommendations are unavailable: '
            "run dvc repro recs_publish first.</p>" in html
        )
        assert (
            '<p class="unavailable" id="skips-problem">Skip scores are unavailable: '
            "run dvc repro skips_train first.</p>" in html
        )
        assert "<th>P(skip)</th>" not in html and rows(html, "recs") == []
        assert "cannot be told: neither the skip model nor the recommendations are loaded" in html
        arm = arm_of("known", SALT, 0.5)
        assert rows(html, "playlists") == TRACKS[arm]  # the core product still shows


@pytest.mark.parametrize(
    ("user_id", "reason"), [(" 1", "must not be blank"), ("x" * 65, "1 to 64")]
)
def test_a_bad_listener_id_is_422_with_the_reason_in_place(tmp_path, user_id, reason):
    with make_client(tmp_path) as c:
        r = c.get("/", params={"user_id": user_id})
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
        shown = rf'<p class="error" id="error" role="alert">user_id: [^<]*{reason}'
        assert re.search(shown, r.text)
        assert 'id="listener"' not in r.text


def test_browse_marks_where_the_arms_differ_escaped(tmp_path):
    with make_client(tmp_path) as c:
        html = c.get("/browse").text
        a_part, b_part = html.split('data-arm="B"')
        assert f"Song {TRACKS['A'][0]}" in a_part and f"Song {TRACKS['A'][1]}" not in b_part
        assert f"Song {TRACKS['B'][1]}" in b_part
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in b_part
        # the arms share no track of the one genre: all 20 are marked, the genre is open
        assert re.findall(r'<li data-track="([^"]+)" class="differs">', html) == (
            TRACKS["A"] + TRACKS["B"]
        )
        assert '<details class="genre" data-genre="dance pop" open>' in html
        totals = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.split('id="totals">')[1]))
        assert totals.strip().startswith(
            "Arm A (baseline) and arm B (catboost) share 0 tracks; 10 are only in A, 10 only in B."
        )
        # browsing logs no exposure: the first listener request is still a first exposure
        first = c.get("/v1/playlists", params={"user_id": "u1"}).json()
        assert first["first_exposure"] is True
