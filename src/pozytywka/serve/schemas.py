"""Payloads and answers of the API (pydantic v2): ``/docs`` (OpenAPI) is built from these."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .clock import to_naive_utc

#: Ids: 1-64 characters, no control characters (a NUL cannot be stored in PostgreSQL).
#: An id: no control characters, no U+FFFD (undecodable bytes in a query string
#: decode to it, so two different byte strings would fold into one listener) and no
#: space at either end (``"101 "`` would be another listener than ``"101"``).
ID_PATTERN = r"^[^\s\x00-\x1f\x7f\ufffd](?:[^\x00-\x1f\x7f\ufffd]*[^\s\x00-\x1f\x7f\ufffd])?$"
#: What a client is told when an id does not match :data:`ID_PATTERN`.
ID_RULE = (
    "must not be blank, start or end with a space, or hold control characters or undecodable bytes"
)
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
MAX_BATCH = 1000


#: The times the service accepts (UTC): a listener's event or a skip-scoring moment
#: outside them is a 422 naming the range, never a 500 deep in a model.
TIME_RANGE = (dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1))


def _naive_utc(value: dt.datetime) -> dt.datetime:
    try:
        value = to_naive_utc(value)
    except OverflowError:
        raise ValueError("time out of range once converted to UTC") from None
    if not TIME_RANGE[0] <= value < TIME_RANGE[1]:
        raise ValueError(
            f"time {value.isoformat()} out of range: accepted from "
            f"{TIME_RANGE[0]:%Y-%m-%d} to before {TIME_RANGE[1]:%Y-%m-%d} (UTC)"
        )
    return value


#: A datetime in naive UTC, as the store keeps it (an offset is converted; none means UTC).
UtcDatetime = Annotated[dt.datetime, AfterValidator(_naive_utc)]


def _monday(day: dt.date) -> dt.date:
    if not TIME_RANGE[0].date() <= day < TIME_RANGE[1].date():
        raise ValueError(
            f"week {day.isoformat()} out of range: accepted from "
            f"{TIME_RANGE[0]:%Y-%m-%d} to before {TIME_RANGE[1]:%Y-%m-%d}"
        )
    if day.weekday() != 0:
        raise ValueError(f"{day.isoformat()} is a {day:%A}: weeks start on Monday (ISO 8601)")
    return day


#: ``?week=``: the Monday of a served week (ISO 8601 week start); default the served one.
Week = Annotated[
    dt.date | None,
    AfterValidator(lambda d: d if d is None else _monday(d)),
    Query(description="Monday of the week (default: the served one)"),
]


class TrackOut(BaseModel):
    track_id: str = Field(description="Track id, as in the dump's tracks.jsonl")
    name: str | None = Field(description="Track title")
    artist: str | None = Field(description="Artist name")
    position: int = Field(description="1-based position in the playlist (play order)", ge=1)


class PlaylistOut(BaseModel):
    genre: str = Field(description="The playlist's genre (a micro-genre, lower case)")
    tracks: list[TrackOut] = Field(description="10-20 tracks in play order")


class PlaylistsResponse(BaseModel):
    request_id: str = Field(description="Id of this served request (32 hex); events refer to it")
    experiment: str = Field(description="Experiment key (the product: 'playlists')")
    user_id: str = Field(description="The listener")
    arm: Literal["A", "B"] = Field(description="The listener's arm: A = baseline, B = CatBoost")
    model: str = Field(description="Model whose playlists this arm serves")
    model_version: str = Field(description="md5 of the model file, from dvc.lock")
    week_start: dt.date = Field(description="Monday (UTC) of the week the playlists are for")
    first_exposure: bool = Field(
        description="True when this request exposed the listener (first in the week)"
    )
    exposed_at: dt.datetime = Field(description="When the listener was first served (UTC)")
    served_at: dt.datetime = Field(
        description="When this request was served (UTC): its events are not earlier"
    )
    playlists: list[PlaylistOut] = Field(description="The arm's playlists")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: Id = Field(description="The request_id of the GET /v1/playlists that served it")
    track_id: Id = Field(description="A track of that request's playlists")
    event_type: str = Field(
        max_length=16,
        description="play (started), skip (left before the end), like; another value is "
        "reported with the batch's other bad items (422, nothing stored)",
        json_schema_extra={"enum": ["play", "skip", "like"]},
    )
    timestamp: UtcDatetime = Field(
        description="When it happened (ISO 8601; no offset = UTC); not before the "
        "listener's exposure and not in the future"
    )


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} events"
    )


class EventsAccepted(BaseModel):
    batch_id: str = Field(description="Id of the stored batch (one transaction)")
    stored: int = Field(description="Events stored by this call")
    duplicates: int = Field(description="Events already in the store (a retry), not stored again")


class Problem(BaseModel):
    detail: list[str] = Field(description="One line per bad item; nothing was stored")


class ArmResult(BaseModel):
    users: int = Field(description="Listeners exposed to this arm only")
    play_through_rate: float | None = Field(
        description="Mean over listeners with plays of full plays / plays"
    )
    likes_per_user: float | None = Field(description="Likes per listener")
    skips_per_user: float | None = Field(description="Skips per listener")


class ExperimentResults(BaseModel):
    """The keys of ``metrics/ab.json`` (DESIGN §6) plus the live read-out's own."""

    model_config = ConfigDict(extra="allow")

    experiment: str = Field(description="Experiment key")
    week_start: dt.date = Field(description="The week read")
    arms: dict[str, ArmResult] = Field(description="Per arm (A, B)")
    metric: str = Field(description="Primary metric")
    lift: float | None = Field(description="Relative lift of B over A on the primary metric")
    ci_low: float | None = Field(description="Lower end of the lift's 95% interval")
    ci_high: float | None = Field(description="Upper end of the lift's 95% interval")
    p_value: float | None = Field(description="Welch t-test p-value")
    srm_p_value: float | None = Field(description="Sample-ratio check against the split")
    mde: float | None = Field(description="Minimum detectable relative effect at the power")
    decision: str | None = Field(
        None,
        description="From the always-valid read-out: 'ship B', 'keep A', 'keep running' "
        "(no decision yet) or 'inconclusive' (sample ratio mismatch)",
    )
    reason: str | None = Field(None, description="The decision in words, with the numbers")
    sequential: dict | None = Field(
        None,
        description="Asymptotic confidence sequence of the lift (valid however often the "
        "read-out is refreshed): lift, cs_low, cs_high, always-valid p_value, n, rho",
    )
    fixed_horizon: dict | None = Field(
        None, description="The fixed-horizon decision: valid only at the planned horizon"
    )
    guardrails: dict | None = Field(
        None,
        description="Non-inferiority verdict per guardrail (status pass / fail / not shown, "
        "change, CS, margin): skip_rate, and latency_p95 (the ratio of the arms' p95 "
        "answer latency, with p95_a, p95_b in ms and the requests counted)",
    )
    multiplicity: dict | None = Field(
        None, description="Correction of the secondary metrics (Holm or BH) and which moved"
    )
    listeners_exposed: int = Field(description="Listeners with an exposure in the week")
    excluded_both_arms: int = Field(
        description="Listeners served both arms in the week: left out of the analysis"
    )
    events: int = Field(description="Events read from the log")


class ArmStopIn(BaseModel):
    reason: str = Field(default="", max_length=200, description="Why the arm is stopped (logged)")


class ArmStopOut(BaseModel):
    experiment: str = Field(description="Experiment key")
    week_start: dt.date = Field(description="The experiment's live week (the stop lasts for it)")
    arm: Literal["A", "B"] = Field(description="The stopped arm")
    serving: Literal["A", "B"] = Field(description="The arm its listeners are served now")
    stopped_at: dt.datetime = Field(description="When it was stopped (service time, UTC)")
    newly_stopped: bool = Field(description="False when it was already stopped (first time kept)")


class ClockIn(BaseModel):
    now: UtcDatetime = Field(description="New service time (ISO 8601; no offset = UTC)")


class ClockOut(BaseModel):
    now: dt.datetime = Field(description="Service time (UTC)")
    manual: bool = Field(description="True for the manual clock")


class Health(BaseModel):
    status: str = Field(description="'ok', or what is not ready")
    checks: dict[str, bool] = Field(default_factory=dict, description="Each readiness check")


class PartState(BaseModel):
    serving: bool = Field(description="The part's routes answer (false: they answer 503)")
    reason: str | None = Field(description="Why it is down, the 503's line (null: serving)")


class Ready(Health):
    parts: dict[str, PartState] = Field(
        default_factory=dict,
        description="Each part of the service: playlists (required), skips, recs and "
        "catalogue (optional: one down leaves the service ready, its routes answer 503)",
    )


class LiveWeek(BaseModel):
    week_start: dt.date = Field(description="Monday (UTC) of the served week")
    versions: dict[str, str] = Field(description="Arm -> model version (md5 from dvc.lock)")
    artifact_ids: dict[str, int] = Field(description="Arm -> artifact id in the store's log")


class Reloaded(BaseModel):
    previous: LiveWeek = Field(description="What was served before the reload")
    live: LiveWeek = Field(description="What is served from now on")
    changed: list[str] = Field(
        default_factory=list,
        description="One line per arm that changed: a new week changes both, a new model "
        "version in the live week that arm only (e.g. the CatBoost arm retrained)",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="One line per arm that got a new version but stays stopped by the kill "
        "switch for the rest of the week (its listeners are still served the other arm)",
    )
    workers_notified: int = Field(
        0,
        description="Several workers: how many others were told to reload the same "
        "published week (each checks it again); 0 with one process",
    )
