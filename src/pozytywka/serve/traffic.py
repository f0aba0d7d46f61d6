"""``pozytywka traffic``: the synthetic service's listeners, played against a running service.

The listeners are the behaviour model's (:mod:`pozytywka.synthetic`: the world
rebuilt from ``data.synthetic``, deterministic, the one the dump came from),
and what they do is that model's :func:`~pozytywka.synthetic.simulate_week`,
imported, not re-implemented. Over HTTP (httpx, a few threads):

1. every listener opens the app once: ``GET /v1/playlists`` (their exposure;
   the service decides their arm and what they are served);
2. the behaviour model plays the published week with each listener served
   exactly the playlists the service returned (same seed as the ``ab_test``
   stage: ``ab.seed``); only the shelf's playlist sessions concern the service;
3. each playlist session is a visit to the shelf: one more
   ``GET /v1/playlists``, whose ``request_id`` the session's plays, skips and
   likes are posted with (``POST /v1/events``, batches of up to 1,000);
4. the experiment is read back: ``GET /v1/experiments/playlists/results``.

The published week is in the past for the synthetic data, so the service must
run on the manual clock (``POZYTYWKA_CLOCK=manual``: it starts at the week's
Monday): the driver moves it to the week's end (``PUT /v1/admin/clock``, with
the admin token) before posting the week's events, which keep the times the
behaviour model gave them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pandas as pd

from ..config import Params
from ..errors import PozytywkaError
from ..experiment.assign import assign_ab
from ..experiment.holdout import experiment_only
from ..experiment.outcomes import user_outcomes
from ..experiment.simulate import counted_events, simulate_ab_week
from ..experiment.stats import analyse

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

EXPERIMENT = "playlists"
BATCH = 1000


@dataclass
class TrafficResult:
    """What the driver did and what the service read from it."""

    listeners: int
    requests: int
    events_posted: int
    batches: int
    week_start: dt.date
    served: dict[str, list[list[str]]] = field(repr=False)
    arms: dict[str, str] = field(repr=False)
    results: dict = field(repr=False)


def _check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        raise PozytywkaError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def _parallel(fn: Callable, items: Sequence, workers: int) -> list:
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def listener_ids(world, n: int | None) -> list[str]:
    """The first ``n`` listeners of the world (all when ``n`` is None), as strings."""
    ids = [str(u) for u in world.user_ids.tolist()]
    return ids if n is None else ids[:n]


def playlist_sessions(events: pd.DataFrame) -> pd.DataFrame:
    """The behaviour model's shelf events (``source == "playlist"``), in session order."""
    ev = events[events["source"].eq("playlist")].reset_index(drop=True)
    return ev[["user_id", "session_id", "track_id", "event_type", "timestamp"]]


def as_served_ids(events: pd.DataFrame, served: dict[str, list[list[str]]], world) -> pd.Series:
    """Each shelf event's ``track_id`` as the listener was served it.

    The behaviour model plays songs: a served alias id (the heavy dirt profile's
    second id of a song, :attr:`pozytywka.synthetic.world.World.alias_ids`)
    comes back as the song's first id. The app reports the id it showed, so
    the driver maps it back per listener. ``events`` has ``user_id`` and
    ``track_id``; returns the corrected ``track_id`` column (same index).
    """
    aliases: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    rows: list[tuple[str, str, str]] = []
    for user, playlists in served.items():
        for pl in playlists:
            key = tuple(pl)
            if key not in aliases:
                pos = world.track_index(key)
                aliases[key] = [
                    (str(world.track_ids[p]), t)
                    for p, t in zip(pos.tolist(), key, strict=True)
                    if p >= 0 and world.track_ids[p] != t
                ]
            rows.extend((user, song, t) for song, t in aliases[key])
    if not rows:
        return events["track_id"]
    table = pd.DataFrame(rows, columns=["user_id", "track_id", "served_id"]).drop_duplicates(
        ["user_id", "track_id"]
    )
    merged = events[["user_id", "track_id"]].merge(table, how="left", on=["user_id", "track_id"])
    ids = merged["served_id"].fillna(merged["track_id"]).to_numpy()
    return pd.Series(ids, index=events.index, name="track_id")


def _iso(ts: pd.Series) -> list[str]:
    return [t.isoformat() for t in pd.to_datetime(ts).dt.to_pydatetime()]


def run_traffic(
    base_url: str,
    params: Params,
    listeners: int | None = None,
    admin_token: str | None = None,
    workers: int = 4,
    world=None,
    timeout: float = 60.0,
) -> TrafficResult:
    """Play ``listeners`` of the synthetic world against the service at ``base_url``."""
    from ..synthetic import build_world, simulate_week

    world = world if world is not None else build_world(params.data.synthetic)
    users = listener_ids(world, listeners)
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    with httpx.Client(base_url=base_url, timeout=timeout) as client:

        def serve(user_id: str) -> dict:
            return _check(client.get("/v1/playlists", params={"user_id": user_id}))

        first = _parallel(serve, users, workers)
        week_start = dt.date.fromisoformat(first[0]["week_start"])
        week_end = dt.datetime.combine(week_start + dt.timedelta(days=7), dt.time())
        if dt.datetime.fromisoformat(first[0]["exposed_at"]) >= week_end:
            raise PozytywkaError(
                f"the service's clock is past the published week ({week_start}): "
                "start it with POZYTYWKA_CLOCK=manual to play that week"
            )
        served = {
            a["user_id"]: [[t["track_id"] for t in p["tracks"]] for p in a["playlists"]]
            for a in first
        }
        arms = {a["user_id"]: a["arm"] for a in first}
        week = world.week_index(pd.Timestamp(week_start))
        log.info("behaviour model: week %d (%s) for %d listeners", week, week_start, len(users))
        events = playlist_sessions(
            simulate_week(world, week=week, served=served, seed=params.ab.seed)
        )
        sessions = events[["user_id", "session_id"]].drop_duplicates().reset_index(drop=True)
        visits = _parallel(serve, sessions["user_id"].tolist(), workers)
        request_of = dict(
            zip(sessions["session_id"], (v["request_id"] for v in visits), strict=True)
        )
        _check(client.put("/v1/admin/clock", json={"now": week_end.isoformat()}, headers=headers))
        payload = pd.DataFrame(
            {
                "request_id": events["session_id"].map(request_of),
                "track_id": as_served_ids(events, served, world).astype(str),
                "event_type": events["event_type"].astype(str),
                "timestamp": _iso(events["timestamp"]),
            }
        )
        records = payload.to_dict("records")
        batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
        _parallel(lambda b: _check(client.post("/v1/events", json={"events": b})), batches, workers)
        results = _check(client.get(f"/v1/experiments/{EXPERIMENT}/results"))
    return TrafficResult(
        listeners=len(users),
        requests=len(users) + len(sessions),
        events_posted=len(records),
        batches=len(batches),
        week_start=week_start,
        served=served,
        arms=arms,
        results=results,
    )


def simulated_readout(
    params: Params, users: Iterable[str], served_by_arm: dict[str, list[list[str]]], world, week
) -> dict:
    """The ``ab_test`` stage's simulation of the same listeners and week (no CUPED covariates):
    assignment (the held-out listeners simulated, then left out), behaviour model,
    outcomes and statistics, all the stage's own functions."""
    assignment = assign_ab(users, params.ab)
    events = simulate_ab_week(world, week, assignment, served_by_arm, params.ab.seed)
    counted = counted_events(events, assignment, served_by_arm)
    outcomes = experiment_only(user_outcomes(events, assignment, counted))
    return analyse(outcomes, params.ab, "simulation")


def served_by_arm(served: dict[str, list[list[str]]], arms: dict[str, str]) -> dict:
    """Each arm's playlists (track-id lists) as the service served them."""
    out = {}
    for user, arm in arms.items():
        out.setdefault(arm, served[user])
    return out
