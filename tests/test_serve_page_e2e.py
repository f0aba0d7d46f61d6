"""The demo page in a real browser: Debian's headless Chromium driven by playwright.

The real server (``pozytywka serve``) on a free loopback port over the tiny
published project (arm A: tracks a01..a10, arm B: b01..b10), a fresh SQLite
store. The browser opens ``/``, types a listener id, sees the listener's arm and
playlist in play order, clicks a track's "like"; the test then finds that event
in the store, tied to the request that served the page. It also opens
``/browse`` and sees both arms side by side.

The browser is ``/usr/bin/chromium`` (``.ci/run`` installs it; never a
downloaded browser: no ``playwright install``), with a fresh profile directory.

Run as a script to redraw the README's screenshot on the real published week::

    python tests/test_serve_page_e2e.py --root . --out reports/serve/page.png
"""

from __future__ import annotations

import argparse
import os
import tempfile
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
]

pytestmark = [pytest.mark.e2e, pytest.mark.needs("chromium"), pytest.mark.timeout(300)]


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
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            ctx.close()


def refresh_readout(page) -> str:
    """Click "Refresh" and wait for the new read-out; returns the chart's caption."""
    page.click("#refresh")
    page.wait_for_selector('#chart[data-state="ready"] svg')
    return page.text_content("#chart .caption")


def show_listener(page, url: str, user_id: str) -> None:
    """Open the demo page, type ``user_id``, wait for the playlists' table."""
    page.goto(url + "/")
    page.fill("#user-id", user_id)
    page.click("#show")
    page.wait_for_selector("#playlists table tbody tr")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found (Debian's chromium package)")
    from pozytywka.serve.process import ServiceProcess
    from serve_support import write_tiny_root

    tmp = tmp_path_factory.mktemp("page")
    root = write_tiny_root(tmp / "root")
    store = tmp / "log.sqlite"
    with ServiceProcess(root, {"POZYTYWKA_STORE": f"sqlite:///{store}"}) as svc:
        yield svc, store


def test_a_listener_sees_their_playlists_and_a_like_is_logged(served, tmp_path):
    from sqlalchemy import select

    from pozytywka.config import ABParams
    from pozytywka.experiment.assign import ab_arm
    from pozytywka.serve.settings import Settings
    from pozytywka.serve.store import Store, events, requests
    from serve_support import TRACKS

    svc, store_path = served
    user = "listener-42"
    arm = ab_arm(user, ABParams())
    assert arm != "H"  # in the experiment, not the global holdout
    with browser_page(tmp_path / "profile") as page:
        show_listener(page, svc.url, user)
        assert page.text_content("#arm") == arm
        rows = page.query_selector_all("#playlists tbody tr")
        shown = [r.get_attribute("data-track") for r in rows]
        assert shown == TRACKS[arm]  # the arm's playlist, in play order
        cells = [c.text_content() for c in rows[2].query_selector_all("td")][:4]
        assert cells == ["3", f"Song {TRACKS[arm][2]}", "Ava", "dance pop"]
        like = page.locator(f'tr[data-track="{TRACKS[arm][2]}"] button[data-event="like"]')
        like.click()
        page.wait_for_selector(f'tr[data-track="{TRACKS[arm][2]}"] button.like.done')
        assert "Logged: like" in page.text_content("#status")
        caption = refresh_readout(page)
        assert "1 listeners exposed, 1 events" in caption, caption
        users = {
            a: page.text_content(f"#arms-table tbody tr:nth-child({i + 1}) td:nth-child(2)")
            for i, a in enumerate("AB")
        }
        assert users == {a: str(int(a == arm)) for a in "AB"}
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

        page.goto(svc.url + "/browse")
        columns = page.query_selector_all("section.arm")
        assert [c.get_attribute("data-arm") for c in columns] == ["A", "B"]
        for col, a in zip(columns, "AB", strict=True):
            assert col.query_selector_all("li .track")[0].text_content() == f"Song {TRACKS[a][0]}"

    db = Store(Settings(store_url=f"sqlite:///{store_path}").database_url)
    try:
        with db.engine.connect() as conn:
            logged = conn.execute(
                select(events.c.track_id, events.c.event_type, requests.c.user_id).join(
                    requests, requests.c.request_id == events.c.request_id
                )
            ).all()
    finally:
        db.dispose()
    assert [tuple(r) for r in logged] == [(TRACKS[arm][2], "like", user)]
    assert (tmp_path / "page.png").stat().st_size > 10_000


def main() -> None:
    """Redraw the README's screenshot: the real service on ``--root`` (manual clock), the
    behaviour model's traffic for ``--listeners`` listeners, a few marks, the read-out."""
    from pozytywka.config import load_params
    from pozytywka.serve.process import ServiceProcess
    from pozytywka.serve.traffic import run_traffic

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--out", type=Path, default=Path("reports/serve/page.png"))
    ap.add_argument("--user", default="101")
    ap.add_argument("--listeners", type=int, default=400)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"POZYTYWKA_STORE": f"sqlite:///{Path(tmp) / 'log.sqlite'}"}
        env |= {"POZYTYWKA_CLOCK": "manual", "POZYTYWKA_ADMIN_TOKEN": "screenshot"}
        with ServiceProcess(a.root.resolve(), env) as svc, browser_page(Path(tmp) / "p") as page:
            params = load_params(a.root / "params.yaml")
            run_traffic(svc.url, params, a.listeners, "screenshot", 2)
            show_listener(page, svc.url, a.user)
            buttons = page.locator("#playlists tbody tr")
            for i, kind in ((0, "play"), (1, "skip"), (2, "like")):
                buttons.nth(i).locator(f'button[data-event="{kind}"]').click()
            page.wait_for_selector("#playlists button.like.done")
            refresh_readout(page)
            page.evaluate("window.scrollTo(0, 0)")
            a.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(a.out), full_page=False)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
