"""``pozytywka traffic`` runs on any store, and what it says is true.

Unit tests of the run's plan (hand-computed), then the real thing: the tiny
pipeline's service over loopback, first on the wall clock with the README's curl
examples (listener 101 exposed at the wall clock's time, an event posted), then on
the manual clock on the same store, after a few hand-made requests: playlists
traffic twice in a row, skips traffic twice, playlists again. Each run must add
exactly its own listeners and events to the read-out, every listener once.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pozytywka.config import load_params
from pozytywka.errors import PozytywkaError
from pozytywka.serve.app import create_app
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.settings import Settings
from pozytywka.serve.store import Store, exposures
from pozytywka.serve.traffic import (
    RunPlan,
    listener_prefix,
    not_fresh,
    plan_run,
    run_traffic,
    service_clock,
    shift_times,
    week_offset,
)
from pozytywka.serve.traffic_skips import run_skips_traffic, stale_listeners
from pozytywka.synthetic import build_world
from serve_support import write_tiny_root

MONDAY = dt.date(2024, 4, 1)
T0 = dt.datetime(2024, 4, 1)
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)


# --- the plan of a run ---------------------------------------------------------------


def test_the_first_run_on_a_week_uses_the_worlds_ids_then_a_prefix_per_exposure_count():
    assert listener_prefix(0) == ""
    assert listener_prefix(21) == "traffic21-"
    with pytest.raises(ValueError, match=">= 0"):
        listener_prefix(-1)


@pytest.mark.parametrize(
    ("now", "weeks"),
    [
        (T0 - DAY, 0),  # before the Monday: the week's own times are all ahead
        (T0, 0),  # a fresh manual clock
        (T0 + 3 * DAY, 1),  # moved by hand mid-week: the next Monday
        (T0 + WEEK, 1),  # after a run: the week after
        (T0 + WEEK + dt.timedelta(microseconds=1), 2),
        (T0 + 20 * DAY, 3),  # 2.86 weeks -> 3
    ],
)
def test_week_offset_is_whole_weeks_to_the_first_monday_not_before_now(now, weeks):
    assert week_offset(MONDAY, now) == weeks * WEEK


def test_plan_run_shifts_the_seed_and_ends_a_week_after_the_offset():
    plan = plan_run(MONDAY, T0 + WEEK, 25, seed=7)
    assert plan == RunPlan(MONDAY, "traffic25-", 32, WEEK)
    assert plan.listener("101") == "traffic25-101"
    assert plan.end == dt.datetime(2024, 4, 15)  # 2024-04-01 + 1 week offset + the week
    assert plan_run(MONDAY, T0, 0, seed=7) == RunPlan(MONDAY, "", 7, dt.timedelta(0))


def test_a_clock_too_far_ahead_is_one_true_line():
    with pytest.raises(PozytywkaError, match="ends after 2100-01-01.*restart the service"):
        plan_run(MONDAY, dt.datetime(2099, 12, 25), 0, seed=7)


def test_shift_times_moves_each_time_by_the_offset():
    times = pd.Series([pd.Timestamp("2024-04-01 09:00:00"), pd.Timestamp("2024-04-07 23:59:59.5")])
    assert shift_times(times, WEEK) == ["2024-04-08T09:00:00", "2024-04-14T23:59:59.500000"]


def test_listeners_exposed_before_the_run_are_found():
    first = [
        {"user_id": "a", "first_exposure": True},
        {"user_id": "b", "first_exposure": False},
    ]
    assert not_fresh(first) == [first[1]]
    # skips: a listener is fresh when any of their answers was their first exposure
    answers = [
        {"user_id": "x", "first_exposure": False, "n": 1},
        {"user_id": "x", "first_exposure": True, "n": 2},
        {"user_id": "z", "first_exposure": False, "n": 3},
        {"user_id": "y", "first_exposure": False, "n": 4},
        {"user_id": "y", "first_exposure": False, "n": 5},
    ]
    assert [a["n"] for a in stale_listeners(answers)] == [4, 3]  # y, z: sorted, first answer


# --- the service's clock, asked first --------------------------------------------------


def test_get_admin_clock_tells_the_time_and_the_kind_of_clock(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    auth = {"Authorization": "Bearer t"}
    for clock, expected in (("manual", True), ("wall", False)):
        settings = Settings(
            store_url=f"sqlite:///{tmp_path / f'{clock}.sqlite'}",
            root=root,
            clock=clock,
            admin_token="t",
        )
        with TestClient(create_app(settings)) as c:
            assert c.get("/v1/admin/clock").status_code == 401
            body = c.get("/v1/admin/clock", headers=auth).json()
            assert body["manual"] is expected
            if clock == "manual":  # the tiny root's week starts on Monday 2024-07-29
                assert body["now"] == "2024-07-29T00:00:00"
                c.put("/v1/admin/clock", json={"now": "2024-07-30T01:02:03"}, headers=auth)
                assert c.get("/v1/admin/clock", headers=auth).json()["now"] == (
                    "2024-07-30T01:02:03"
                )


def _answering(status: int, body: dict) -> httpx.Client:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return httpx.Client(base_url="http://svc", transport=transport)


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (404, {"detail": ["admin routes are disabled"]}, {}, "404 .admin routes are disabled"),
        (401, {"detail": ["bad"]}, {}, "401 .bad.: the driver has no POZYTYWKA_ADMIN_TOKEN"),
        (
            401,
            {"detail": ["bad"]},
            {"Authorization": "Bearer x"},
            "401 .bad.: the driver's POZYTYWKA_ADMIN_TOKEN is not the one the service accepts: "
            "set POZYTYWKA_ADMIN_TOKEN to the service's token$",
        ),
        (200, {"now": "2026-12-07T10:00:00", "manual": False}, {}, "runs on the wall clock"),
    ],
)
def test_what_the_driver_says_before_any_request_is_true(status, body, headers, message):
    with pytest.raises(PozytywkaError, match=message) as exc:
        service_clock(_answering(status, body), headers)
    assert "POZYTYWKA_CLOCK=manual POZYTYWKA_ADMIN_TOKEN=" in str(exc.value) or status == 401


def test_the_manual_clock_is_the_runs_start():
    answer = {"now": "2024-04-08T00:00:00", "manual": True}
    assert service_clock(_answering(200, answer), {}) == T0 + WEEK


# --- the real service ------------------------------------------------------------------


def _exposed(store_url: str, root, experiment: str) -> int:
    store = Store(Settings(store_url=store_url, root=root).database_url)
    try:
        with store.engine.connect() as conn:
            q = select(func.count()).where(exposures.c.experiment == experiment)
            return int(conn.execute(q).scalar_one())
    finally:
        store.dispose()


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_traffic_runs_after_curl_twice_and_across_products(tiny_pipeline, tmp_path):
    repo, _ = tiny_pipeline
    params = load_params(repo / "params.yaml")
    world = build_world(params.data.synthetic)
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    token = "t"
    wall = {"POZYTYWKA_STORE": url, "POZYTYWKA_ADMIN_TOKEN": token}

    # The README's curl examples on `make serve` (the wall clock): 101 exposed "now".
    with ServiceProcess(repo, wall) as svc:
        served = httpx.get(svc.url + "/v1/playlists", params={"user_id": "101"}).json()
        track = served["playlists"][0]["tracks"][0]["track_id"]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
        ev = {"request_id": served["request_id"], "track_id": track, "event_type": "play"}
        r = httpx.post(svc.url + "/v1/events", json={"events": [ev | {"timestamp": now}]})
        assert r.status_code == 200, r.text
        # traffic against the wall clock: the true reason, before any request is logged
        with pytest.raises(PozytywkaError, match="runs on the wall clock.*POZYTYWKA_CLOCK=manual"):
            run_traffic(svc.url, params, 5, token, world=world)
    assert _exposed(url, repo, "playlists") == 1

    manual = wall | {"POZYTYWKA_CLOCK": "manual"}
    with ServiceProcess(repo, manual) as svc:
        with pytest.raises(PozytywkaError, match="401.*no POZYTYWKA_ADMIN_TOKEN"):
            run_traffic(svc.url, params, 5, None, world=world)
        # a few hand-made requests: a listener of the world, a skip scored for another
        assert httpx.get(svc.url + "/v1/playlists", params={"user_id": "102"}).status_code == 200
        skips_week = httpx.get(svc.url + "/v1/experiments/skips/results").json()["week_start"]

        seen = {"playlists": 2, "skips": 0}
        events = {
            "playlists": httpx.get(svc.url + "/v1/experiments/playlists/results").json()["events"]
        }
        events["skips"] = 0
        for product in ("playlists", "playlists", "skips", "skips", "playlists"):
            if product == "playlists":
                res = run_traffic(svc.url, params, 20, token, world=world)
                doc, added, posted = res.results, res.listeners, res.events_posted
                assert res.plan.prefix == listener_prefix(seen["playlists"])
                assert doc["listeners_exposed"] == seen["playlists"] + added
                assert doc["events"] == events["playlists"] + posted
                assert doc["excluded_both_arms"] == 0
                events["playlists"] = doc["events"]
            else:
                doc = run_skips_traffic(svc.url, params, 10, token, 4, 3, world=world)
                assert doc["week_start"] == skips_week
                added = doc["listeners_exposed"] - seen["skips"]
                assert added > 0 and doc["excluded_both_arms"] == 0
                assert doc["predictions_with_outcome"] > events["skips"]
                events["skips"] = doc["predictions_with_outcome"]
            seen[product] += added
        assert seen["playlists"] == 2 + 3 * 20
    assert _exposed(url, repo, "playlists") == seen["playlists"]
    assert _exposed(url, repo, "skips") == seen["skips"]
