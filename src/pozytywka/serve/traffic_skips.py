"""``pozytywka traffic --product skips``: the behaviour model's plays scored by the service.

For the week the service scores (``week_start`` of ``GET
/v1/experiments/skips/results``) the behaviour model
(:func:`pozytywka.synthetic.simulate_week`, no playlists served, seed ``ab.seed``)
plays the world's week, and the run takes the first ``listeners`` listeners (in the
world's order) who play in it (:func:`playing_listeners`: the world is sparse, most
listeners do not play in a given week); when the week has fewer, the run plays
those and logs how many it asked for and why it got fewer. Each of their first
``plays_per_listener`` plays is judged by :func:`pozytywka.skips.target.play_targets`
(the one skip definition) and, before it starts, scored by ``POST
/v1/skips/predict`` with the session so far; its outcome is posted with the
answer's ``request_id``: ``play``, then ``skip`` when it was skipped. The driver
moves the manual clock to the end of the week it played before posting (as for
the playlists), then reads ``GET /v1/experiments/skips/results``. A play of a
track released after the dump (the service answers 422 ``unknown track_id``: it
has no features for it) is not scored, as a client would play it without a
prediction; the driver logs how many.

It runs on any store as the playlists driver does
(:func:`pozytywka.serve.traffic.plan_run`): its own listeners (a prefix once the
skips week has exposed listeners, ``listeners_exposed`` of the read-out), a seed
of its own, and the week's times (the scored plays' and their sessions' too)
shifted to start at the first Monday at or after the service's clock.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import numpy as np
import pandas as pd

from ..config import Params
from ..skips.target import play_targets
from .traffic import (
    BATCH,
    _check,
    _parallel,
    _refuse_not_fresh,
    listener_ids,
    plan_run,
    service_clock,
)

log = logging.getLogger(__name__)


def skips_requests(events: pd.DataFrame, plays_per_listener: int) -> list[dict]:
    """Per judged play (first ``plays_per_listener`` of each listener): the predict body
    and its outcome. ``events``: the behaviour model's (``user_id``, ``session_id``,
    ``timestamp``, ``track_id``, ``event_type``)."""
    ev = events.reset_index(drop=True).copy()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"]).astype("datetime64[us]")
    ev["row_number"] = np.arange(len(ev), dtype="int64")
    judged = play_targets(ev).sort_values(["user_id", "ts", "play_id"], kind="stable")
    judged = judged.groupby("user_id", sort=False).head(plays_per_listener)
    out = []
    for play in judged.itertuples(index=False):
        before = ev[(ev["session_id"] == play.session_id) & (ev["row_number"] < play.play_id)]
        out.append(
            {
                "body": {
                    "user_id": str(play.user_id),
                    "track_id": str(play.track_id),
                    "timestamp": play.ts.isoformat(),
                    "session": [
                        {"timestamp": t.isoformat(), "event_type": k, "track_id": str(tr)}
                        for t, k, tr in zip(
                            before["timestamp"],
                            before["event_type"],
                            before["track_id"],
                            strict=True,
                        )
                    ],
                },
                "skipped": int(play.skipped),
                "skip_at": (
                    play.ts + pd.Timedelta(seconds=float(play.skip_after_s))
                    if play.skipped
                    else None
                ),
            }
        )
    return out


def playing_listeners(world_ids: list[str], events: pd.DataFrame, n: int | None) -> list[str]:
    """The first ``n`` of ``world_ids`` (all when None), in their order, who play in ``events``.

    ``events``: the behaviour model's week (``user_id``, ``session_id``, ``track_id``,
    ``event_type``); a listener plays when they have a ``play`` event with a session and
    a track (what :func:`pozytywka.skips.target.play_targets` judges). Fewer than ``n``
    when the week has fewer such listeners."""
    judged = events[
        (events["event_type"] == "play") & events["session_id"].notna() & events["track_id"].notna()
    ]
    players = set(judged["user_id"].astype(str))
    out = [u for u in world_ids if u in players]
    return out if n is None else out[:n]


def fewer_listeners_line(asked: int | None, got: int, world: int, week_start: dt.date) -> str:
    """The log line when the run plays fewer listeners than asked ('' when not fewer)."""
    if asked is None or got >= asked:
        return ""
    return (
        f"skips: {asked} listeners asked, {got} played: only {got} of the world's {world} "
        f"listeners play in the week of {week_start} (the behaviour model's week is sparse)"
    )


def is_unknown_track(response: httpx.Response) -> bool:
    """A 422 whose one reason is a track the scoring service has no features for."""
    if response.status_code != 422:
        return False
    detail = response.json().get("detail") or []
    return len(detail) == 1 and str(detail[0]).startswith("unknown track_id")


def run_skips_traffic(
    base_url: str,
    params: Params,
    listeners: int | None = 50,
    admin_token: str | None = None,
    workers: int = 4,
    plays_per_listener: int = 10,
    world=None,
    timeout: float = 60.0,
) -> dict:
    """Score the behaviour model's plays against the service; the experiment's read-out."""
    from ..synthetic import build_world, simulate_week

    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        now = service_clock(client, headers)
        before = _check(client.get("/v1/experiments/skips/results"))
        week_start = dt.date.fromisoformat(before["week_start"])
        plan = plan_run(week_start, now, int(before["listeners_exposed"]), params.ab.seed)
        world = world if world is not None else build_world(params.data.synthetic)
        week = world.week_index(pd.Timestamp(week_start))
        events = simulate_week(world, week=week, served=None, seed=plan.seed)
        everyone = listener_ids(world, None)
        users = set(playing_listeners(everyone, events, listeners))
        fewer = fewer_listeners_line(listeners, len(users), len(everyone), week_start)
        if fewer:
            log.warning("%s", fewer)
        log.info("skips: %s", plan.describe(len(users)))
        events = events[events["user_id"].astype(str).isin(users)]
        events = events.assign(
            user_id=events["user_id"].astype(str).map(plan.listener),
            timestamp=pd.to_datetime(events["timestamp"]) + pd.Timedelta(plan.offset),
        )
        plays = skips_requests(events, plays_per_listener)

        def predict(p: dict) -> dict | None:
            r = client.post("/v1/skips/predict", json=p["body"])
            return None if is_unknown_track(r) else _check(r)

        answers = _parallel(predict, plays, workers)
        unknown = sum(a is None for a in answers)
        if unknown:
            log.info(
                "%d of %d plays are of tracks the service does not know (released after the "
                "dump): not scored, as a client would play them without a prediction",
                unknown,
                len(plays),
            )
        scored = [(p, a) for p, a in zip(plays, answers, strict=True) if a is not None]
        _refuse_not_fresh(stale_listeners([a for _, a in scored]), len(users), "skips")
        _check(client.put("/v1/admin/clock", json={"now": plan.end.isoformat()}, headers=headers))
        records = []
        for p, a in scored:
            track, rid = p["body"]["track_id"], a["request_id"]
            records.append(
                dict(
                    request_id=rid,
                    track_id=track,
                    event_type="play",
                    timestamp=p["body"]["timestamp"],
                )
            )
            if p["skipped"]:
                records.append(
                    dict(
                        request_id=rid,
                        track_id=track,
                        event_type="skip",
                        timestamp=p["skip_at"].isoformat(),
                    )
                )
        for i in range(0, len(records), BATCH):
            _check(client.post("/v1/events", json={"events": records[i : i + BATCH]}))
        return _check(client.get("/v1/experiments/skips/results"))


def stale_listeners(answers: list[dict]) -> list[dict]:
    """One answer per listener none of whose answers was their first exposure: the
    listener was exposed before the run. ``answers``: ``POST /v1/skips/predict``'s."""
    fresh = {a["user_id"] for a in answers if a["first_exposure"]}
    seen: dict[str, dict] = {}
    for a in answers:
        if a["user_id"] not in fresh:
            seen.setdefault(a["user_id"], a)
    return [seen[u] for u in sorted(seen)]
