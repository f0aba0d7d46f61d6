"""``pozytywka traffic``: the synthetic service's listeners, played against a running service.

The listeners are the behaviour model's (:mod:`pozytywka.synthetic`: the world
rebuilt from ``data.synthetic``, deterministic, the one the dump came from),
and what they do is that model's :func:`~pozytywka.synthetic.simulate_week`,
imported, not re-implemented. Over HTTP (httpx, a few threads):

1. every listener opens the app once: ``GET /v1/playlists`` (their exposure;
   the service decides their arm and what they are served);
2. the behaviour model plays the published week with each listener served
   exactly the playlists the service returned (on a fresh store with the
   ``ab_test`` stage's seed, ``ab.seed``; see "any store" below); only the
   shelf's playlist sessions concern the service;
3. each playlist session is a visit to the shelf: one more
   ``GET /v1/playlists``, whose ``request_id`` the session's plays, skips and
   likes are posted with (``POST /v1/events``, batches of up to 1,000);
4. the experiment is read back: ``GET /v1/experiments/playlists/results``.

The published week is in the past for the synthetic data, so the service must
run on the manual clock (``POZYTYWKA_CLOCK=manual``: it starts at the week's
Monday) and the driver needs its admin token: it asks the clock first (``GET
/v1/admin/clock``) and stops before any request with what is missing. It moves
the clock to the end of the week it played (``PUT /v1/admin/clock``) before
posting the week's events.

**Any store** (:func:`plan_run`). A run does not depend on what the store holds:

- its listeners are its own: on a week with no exposed listener they are the
  world's ids (as the ``ab_test`` stage's simulation names them), otherwise the
  world's ids prefixed ``traffic<N>-``, N the listeners the week had before the
  run (so each run gets new ones, whatever the store holds: the README's curl
  examples, earlier runs), and the behaviour model's seed is
  ``ab.seed + N`` (a new draw, not a copy of the earlier run's listeners);
- its times are the behaviour model's, shifted by whole weeks to start at the
  first Monday at or after the service's clock (0 weeks on a fresh manual
  clock; one week after a run that moved the clock to the week's end): every
  event is then after its listener's exposure and its request.

The read-out of the served week counts every run's listeners (exposures,
requests and events are the served week's whatever their times). A listener
that was exposed before the run (a client used one of its ids) stops it before
any event is posted.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from .schemas import TIME_RANGE

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

EXPERIMENT = "playlists"
BATCH = 1000
WEEK = dt.timedelta(days=7)
#: The prefix of a run's listener ids on a week that already has exposed listeners.
PREFIX = "traffic"


@dataclass
class TrafficResult:
    """What the driver did and what the service read from it."""

    listeners: int
    requests: int
    events_posted: int
    batches: int
    week_start: dt.date
    #: keyed by the world's listener id (the service knows it as ``plan.listener(id)``)
    served: dict[str, list[list[str]]] = field(repr=False)
    arms: dict[str, str] = field(repr=False)
    results: dict = field(repr=False)
    plan: RunPlan | None = None


@dataclass(frozen=True)
class RunPlan:
    """Where one run's listeners and times go in a store that may hold earlier runs.

    ``prefix``: the service knows world listener ``u`` as ``prefix + u``; ``seed``:
    the behaviour model's; ``offset``: added to every time the behaviour model
    gives (whole weeks); ``week_start``: the served week (Monday)."""

    week_start: dt.date
    prefix: str
    seed: int
    offset: dt.timedelta

    def listener(self, world_id: str) -> str:
        return f"{self.prefix}{world_id}"

    @property
    def end(self) -> dt.datetime:
        """Where the run leaves the service's clock: the end of the week it played."""
        return dt.datetime.combine(self.week_start, dt.time()) + self.offset + WEEK

    def describe(self, listeners: int) -> str:
        ids = f"'{self.prefix}<world id>'" if self.prefix else "the world's ids"
        weeks = self.offset // WEEK
        when = "its own times" if not weeks else f"its times + {weeks} week(s)"
        return (
            f"the week of {self.week_start}: {listeners} listeners as {ids}, seed {self.seed}, "
            f"{when} (to {self.end.isoformat()})"
        )


def listener_prefix(exposed: int) -> str:
    """The prefix of a run's listener ids: none on a week with no exposed listener
    (the world's ids, as the ``ab_test`` stage's simulation names them), else
    ``traffic<exposed>-``. ``exposed`` only grows as runs expose listeners, so
    two runs on one store never share a prefix."""
    if exposed < 0:
        raise ValueError(f"exposed listeners must be >= 0, got {exposed}")
    return f"{PREFIX}{exposed}-" if exposed else ""


def week_offset(week_start: dt.date, now: dt.datetime) -> dt.timedelta:
    """Whole weeks from ``week_start``'s Monday 00:00 to the first Monday 00:00 at or
    after ``now`` (naive UTC); 0 when ``now`` is not after the Monday. Played with
    this offset, every behaviour-model time of the week is at or after ``now``."""
    monday = dt.datetime.combine(week_start, dt.time())
    if now <= monday:
        return dt.timedelta(0)
    return WEEK * math.ceil((now - monday) / WEEK)


def plan_run(week_start: dt.date, now: dt.datetime, exposed: int, seed: int) -> RunPlan:
    """The plan of a run on a service whose clock reads ``now`` and whose week already
    has ``exposed`` listeners: :func:`listener_prefix`, seed ``seed + exposed``,
    :func:`week_offset`. Raises :class:`PozytywkaError` when the week played from
    ``now`` would end past the times the service accepts."""
    offset = week_offset(week_start, now)
    plan = RunPlan(week_start, listener_prefix(exposed), seed + exposed, offset)
    if plan.end > TIME_RANGE[1]:
        raise PozytywkaError(
            f"the service's clock is at {now.isoformat()}: a week played from there ends "
            f"after {TIME_RANGE[1]:%Y-%m-%d}, past the times it accepts; restart the service "
            "(its manual clock starts again at the week's Monday)"
        )
    return plan


def shift_times(times: pd.Series, offset: dt.timedelta) -> list[str]:
    """ISO 8601 strings of ``times`` (naive UTC) moved by ``offset``."""
    return _iso(pd.to_datetime(times) + pd.Timedelta(offset))


_START_MANUAL = (
    "start it with POZYTYWKA_CLOCK=manual POZYTYWKA_ADMIN_TOKEN=<token> (the store can be "
    "kept) and run the driver with the same POZYTYWKA_ADMIN_TOKEN"
)


def service_clock(client: httpx.Client, headers: Mapping[str, str]) -> dt.datetime:
    """The service's manual clock (``GET /v1/admin/clock``), asked before any other request.

    Raises :class:`PozytywkaError` saying what is missing: no service at the address,
    no admin token on the service (404), the driver's token missing or not the service's (401), or a
    wall clock (the published week is in the past for it: events would be refused)."""
    try:
        r = client.get("/v1/admin/clock", headers=headers)
    except httpx.TransportError as exc:
        raise PozytywkaError(
            f"no service answers at {client.base_url} ({exc}): {_START_MANUAL}"
        ) from None
    detail = "; ".join(map(str, _detail(r)))
    if r.status_code == 404:
        raise PozytywkaError(
            f"GET /v1/admin/clock answered 404 ({detail}): the driver moves the service's "
            f"manual clock, which needs its admin routes: {_START_MANUAL}"
        )
    if r.status_code == 401:
        given = (
            "the driver has no POZYTYWKA_ADMIN_TOKEN"
            if not headers
            else "the driver's POZYTYWKA_ADMIN_TOKEN is not the one the service accepts"
        )
        raise PozytywkaError(
            f"GET /v1/admin/clock answered 401 ({detail}): {given}: "
            "set POZYTYWKA_ADMIN_TOKEN to the service's token"
        )
    clock = _check(r)
    if not clock["manual"]:
        raise PozytywkaError(
            "the service runs on the wall clock: the driver plays the published week with "
            f"the behaviour model's times, which the wall clock refuses; {_START_MANUAL}"
        )
    return dt.datetime.fromisoformat(clock["now"])


def _detail(response: httpx.Response) -> list:
    try:
        return list(response.json().get("detail") or [])
    except ValueError:
        return [response.text[:200]]


def not_fresh(answers: Iterable[dict]) -> list[dict]:
    """The answers, among a run's first request per listener, of listeners exposed
    before it (``first_exposure`` false): an id the run thought its own was used."""
    return [a for a in answers if not a["first_exposure"]]


def _refuse_not_fresh(stale: list[dict], total: int, experiment: str) -> None:
    if stale:
        ex = stale[0]
        raise PozytywkaError(
            f"{len(stale)} of this run's {total} listeners were exposed in the {experiment} "
            f"experiment before it (e.g. {ex['user_id']!r}): a client used these ids, so "
            "their events would mix with another's; nothing was posted: run the driver "
            "again (its listeners then get another prefix)"
        )


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
    """Play ``listeners`` of the synthetic world against the service at ``base_url``,
    whatever its store holds (see the module's "any store")."""
    from ..synthetic import build_world, simulate_week

    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        now = service_clock(client, headers)
        before = _check(client.get(f"/v1/experiments/{EXPERIMENT}/results"))
        week_start = dt.date.fromisoformat(before["week_start"])
        plan = plan_run(week_start, now, int(before["listeners_exposed"]), params.ab.seed)
        world = world if world is not None else build_world(params.data.synthetic)
        users = listener_ids(world, listeners)
        log.info("playlists: %s", plan.describe(len(users)))

        def serve(user_id: str) -> dict:
            return _check(client.get("/v1/playlists", params={"user_id": plan.listener(user_id)}))

        first = _parallel(serve, users, workers)
        _refuse_not_fresh(not_fresh(first), len(first), EXPERIMENT)
        served = {
            u: [[t["track_id"] for t in p["tracks"]] for p in a["playlists"]]
            for u, a in zip(users, first, strict=True)
        }
        arms = {u: a["arm"] for u, a in zip(users, first, strict=True)}
        week = world.week_index(pd.Timestamp(week_start))
        log.info("behaviour model: week %d (%s) for %d listeners", week, week_start, len(users))
        events = playlist_sessions(simulate_week(world, week=week, served=served, seed=plan.seed))
        sessions = events[["user_id", "session_id"]].drop_duplicates().reset_index(drop=True)
        visits = _parallel(serve, sessions["user_id"].astype(str).tolist(), workers)
        request_of = dict(
            zip(sessions["session_id"], (v["request_id"] for v in visits), strict=True)
        )
        _check(client.put("/v1/admin/clock", json={"now": plan.end.isoformat()}, headers=headers))
        payload = pd.DataFrame(
            {
                "request_id": events["session_id"].map(request_of),
                "track_id": as_served_ids(events, served, world).astype(str),
                "event_type": events["event_type"].astype(str),
                "timestamp": shift_times(events["timestamp"], plan.offset),
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
        plan=plan,
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
