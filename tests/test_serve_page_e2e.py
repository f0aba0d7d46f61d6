"""The demo page in a real browser: Debian's headless Chromium driven by playwright.

The service on a real uvicorn server on a free loopback port (in a thread, so the
skip scorer and the recommendations can be hand-made), over a hand-made published
week, a fresh SQLite store. One browser visits each view:

- a known listener (``101``): their three arms, the arm's playlists in play order with
  each track's P(skip) and caching decision, their recommendations; nothing is logged
  by looking; a "like" then serves them (their exposure) and logs the event, tied to
  that request, and the read-out counts it;
- an unknown listener: labelled a cold start, with the fallback recommendations;
- ``/browse``: genre by genre, the tracks in which the arms differ marked.

No console error (a CSP violation or a missing asset would be one). With
``POZYTYWKA_SCREENSHOTS=1`` it redraws the README's screenshots, 1000x700, in
``docs/img/`` (``page-listener.png``, ``page-cold-start.png``, ``page-browse.png``);
otherwise it writes nothing in the tree.

The browser is ``/usr/bin/chromium`` (``.ci/run`` installs it; never a downloaded
browser: no ``playwright install``), with a fresh profile directory.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--font-render-hinting=none",
]
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "img"
VIEWPORT = {"width": 1000, "height": 700}

pytestmark = [pytest.mark.e2e, pytest.mark.needs("chromium"), pytest.mark.timeout(300)]

WEEK = "2024-07-29"
# The published week: two genres per arm, "dance pop" in both (four tracks shared).
ARM_A = {
    "dance pop": ["dp1", "dp2", "dp3", "dp4", "dp5", "dp6"],
    "indie rock": ["ir1", "ir2", "ir3", "ir4"],
}
ARM_B = {
    "dance pop": ["dp3", "dp1", "dp7", "dp2", "dp8", "dp4"],
    "lo-fi beats": ["lf1", "lf2", "lf3", "lf4"],
}
NAMES = {
    "dp1": ("Neon Summer", "Ava Krawczyk"),
    "dp2": ("Midnight Call", "The Club"),
    "dp3": ("Golden Hour", "Ava Krawczyk"),
    "dp4": ("Paper Hearts", "Lena"),
    "dp5": ("Slow Motion", "Marek & The Girls"),
    "dp6": ("Echoes", "Lena"),
    "dp7": ("City Lights", "Zoe & The Sound"),
    "dp8": ("Higher", "The Club"),
    "ir1": ("Broken Radio", "Wild Machine"),
    "ir2": ("Static", "Young Band"),
    "ir3": ("Cold Water", "Wild Machine"),
    "ir4": ("Northbound", "Home Project"),
    "lf1": ("Rain on Glass", "Luna"),
    "lf2": ("Coffee at 3", "Neon Club"),
    "lf3": ("Late Bus", "Luna"),
    "lf4": ("Warm Tape", "Fire Orchestra"),
}
# P(skip) of each track (both skip arms; threshold 0.5): hand-made.
P_SKIP = {t: round(0.08 + 0.06 * i, 2) for i, t in enumerate(sorted(NAMES))}
THRESHOLD = 0.5


def write_root(root: Path) -> Path:
    """The tiny published root of ``serve_support`` with richer playlists (names above)."""
    import json

    from serve_support import write_tiny_root

    write_tiny_root(root)
    for model, lists in (("baseline", ARM_A), ("catboost", ARM_B)):
        doc = {
            "week_start": WEEK,
            "model": model,
            "skipped": [],
            "playlists": [
                {
                    "genre": g,
                    "tracks": [
                        {"track_id": t, "name": NAMES[t][0], "artist": NAMES[t][1], "score": 1.0}
                        for t in ts
                    ],
                }
                for g, ts in lists.items()
            ],
        }
        path = root / "reports" / "playlists" / "by_model" / f"{model}.json"
        path.write_text(json.dumps(doc))
    return root


class Scorer:
    """The skip scorer's interface with hand-made answers: :data:`P_SKIP`, listener 101 known."""

    prior_rate = 0.31
    serve_week = WEEK
    meta = {"serve_week": WEEK}
    known_tracks = frozenset(NAMES)

    def knows(self, user_id: str) -> bool:
        return user_id == "101"

    def predict(self, user, track, session, arm="B", now=None):
        from pozytywka.errors import PozytywkaError
        from pozytywka.skips.online import ARM_MODELS, Prediction

        if track not in NAMES:
            raise PozytywkaError(f"unknown track_id {track!r}")
        p = P_SKIP[track]
        return Prediction(p, "stream" if p >= THRESHOLD else "fetch", ARM_MODELS[arm], THRESHOLD)


def recs():
    from pozytywka.recs.online import PublishedRecs

    lists = {
        ("101", "A"): (("lf1", "dp7", "ir3", "dp5", "lf3"), "model"),
        ("101", "B"): (("dp7", "lf2", "dp5", "ir4", "lf4"), "model"),
    }
    return PublishedRecs(
        WEEK, lists, ("dp3", "dp1", "ir1", "lf2", "dp8"), {"A": "popularity_genre", "B": "ease"}
    )


@contextmanager
def browser_page(profile: Path):
    """A page of a fresh headless Chromium (profile in ``profile``), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
        )
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            ctx.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on a real uvicorn server on loopback: (base url, store path)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found (Debian's chromium package)")
    import uvicorn

    from pozytywka.serve.app import create_app
    from pozytywka.serve.process import free_port
    from pozytywka.serve.settings import Settings

    tmp = tmp_path_factory.mktemp("page")
    root = write_root(tmp / "root")
    store = tmp / "log.sqlite"
    settings = Settings(store_url=f"sqlite:///{store}", root=root, clock="manual")
    app = create_app(settings, load_skips=lambda s: Scorer(), load_recs=lambda s: recs())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for start-up, not timing anything
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join()


def logged(store: Path) -> list[tuple]:
    """(experiment, listener, track, event type or None) of every request and its events."""
    from sqlalchemy import select

    from pozytywka.serve.settings import Settings
    from pozytywka.serve.store import Store, events, requests

    db = Store(Settings(store_url=f"sqlite:///{store}").database_url)
    try:
        with db.engine.connect() as conn:
            q = select(
                requests.c.experiment, requests.c.user_id, events.c.track_id, events.c.event_type
            ).outerjoin(events, requests.c.request_id == events.c.request_id)
            return sorted(tuple(r) for r in conn.execute(q).all())
    finally:
        db.dispose()


def shoot(page, name: str) -> None:
    """The README's screenshot ``docs/img/<name>.png``, only with POZYTYWKA_SCREENSHOTS=1."""
    if os.environ.get("POZYTYWKA_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_each_view_of_the_page_in_a_browser(served, tmp_path):
    from pozytywka.config import ABParams
    from pozytywka.experiment.assign import arm_of

    url, store = served
    salt = ABParams().salt
    arm = arm_of("101", salt, 0.5)
    recs_arm = arm_of("101", f"{salt}:recs", 0.5)
    lists = ARM_A if arm == "A" else ARM_B
    errors: list[str] = []
    with browser_page(tmp_path / "profile") as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # a known listener: three products, nothing logged by looking
        page.goto(url + "/")
        page.fill("#user-id", "101")
        page.click("#show")
        page.wait_for_selector("#listener")
        assert page.text_content("#arm") == arm
        assert page.text_content("#known") == "in the published data"
        first = next(iter(lists))
        rows = page.locator(f'#playlists details[data-genre="{first}"] tbody tr')
        assert [rows.nth(i).get_attribute("data-track") for i in range(rows.count())] == lists[
            first
        ]
        t = lists[first][0]
        row = page.locator(f'#playlists tr[data-track="{t}"]')
        assert row.locator("td.p-skip .value").text_content() == f"{P_SKIP[t]:.2f}"
        want = "stream" if P_SKIP[t] >= THRESHOLD else "fetch"
        assert row.locator("td.decision").text_content().strip() == want
        rec_rows = page.locator("#recs tbody tr")
        shown = [rec_rows.nth(i).get_attribute("data-track") for i in range(rec_rows.count())]
        assert shown == list(recs().lists[("101", recs_arm)][0])
        assert rec_rows.nth(0).locator("td.track").text_content() == NAMES[shown[0]][0]
        page.wait_for_selector('#chart[data-state="ready"]')
        shoot(page, "page-listener")
        assert logged(store) == []

        # acting as the listener: the first mark serves them, then logs the event
        like = row.locator('button[data-event="like"]')
        like.click()
        page.wait_for_selector(f'#playlists tr[data-track="{t}"] button.like.done')
        status = page.text_content("#status")
        assert (
            status == f"Served as listener 101 (their exposure of the week). Logged: like of {t}."
        )
        assert logged(store) == [("playlists", "101", t, "like")]
        page.click("#refresh")
        # (a locator, not wait_for_function: the page's CSP forbids eval)
        page.locator("#chart .caption", has_text="1 listeners exposed, 1 events").wait_for()
        assert "1 listeners exposed, 1 events" in page.text_content("#chart .caption")

        # an unknown listener: a cold start, the fallback chart
        page.goto(url + "/?user_id=new-listener-7")
        assert page.text_content("#known") == "cold start"
        cold = " ".join(page.text_content("#coldstart").split())
        assert "Recommendations: the fallback, last weeks' chart" in cold
        assert "skip rate is that of all plays (0.31)" in cold
        rec_rows = page.locator("#recs tbody tr")
        shown = [rec_rows.nth(i).get_attribute("data-track") for i in range(rec_rows.count())]
        assert shown == list(recs().fallback)
        page.wait_for_selector('#chart[data-state="ready"]')
        shoot(page, "page-cold-start")

        # browse: genre by genre, where the arms differ
        page.goto(url + "/browse")
        genres = page.locator("details.genre")
        names = [genres.nth(i).get_attribute("data-genre") for i in range(genres.count())]
        assert names == ["dance pop", "indie rock", "lo-fi beats"]
        assert page.locator("details.genre[open]").get_attribute("data-genre") == "dance pop"
        marked = page.locator('details[data-genre="dance pop"] li.differs')
        got = [marked.nth(i).get_attribute("data-track") for i in range(marked.count())]
        assert got == ["dp5", "dp6", "dp7", "dp8"]  # only A: dp5 dp6; only B: dp7 dp8
        assert page.locator('details[data-genre="indie rock"] li.differs').count() == 4
        assert not page.is_visible('details[data-genre="indie rock"] li')  # collapsed
        shoot(page, "page-browse")
    assert errors == []
    assert logged(store) == [("playlists", "101", t, "like")]  # browsing logged nothing
