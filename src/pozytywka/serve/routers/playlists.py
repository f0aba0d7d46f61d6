"""``GET /v1/playlists``: the listener's arm and that arm's playlists; logs the exposure once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...experiment.assign import HOLDOUT, ab_arm
from ..holdout import holdout_key
from ..metrics import arrival
from ..schemas import ID_PATTERN, PlaylistsResponse, Problem
from ..store import ServeRequest

router = APIRouter(prefix="/v1", tags=["playlists"])

UserId = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="The listener's id (as in the dump's users.jsonl)",
    ),
]


@router.get(
    "/playlists",
    response_model=PlaylistsResponse,
    responses={422: {"model": Problem}},
    summary="The listener's arm and playlists for the published week",
)
async def get_playlists(user_id: UserId, request: Request):
    """Assign the listener (``pozytywka.experiment.assign.arm_of``, the ``ab_test`` stage's
    rule), log the request and, on the listener's first request of the week, the exposure.
    ``live`` is read once per request: a reload during the request does not change
    what it serves (the request row records the artifact, so the week and versions).
    A coroutine: it awaits the group commit (:mod:`..group_commit`) in the event loop,
    and reads ``app.state`` itself (the hottest route: no dependency resolution)."""
    state = request.app.state
    live, store, clock, metrics = state.live, state.store, state.clock, state.metrics
    arts = live.artifacts
    assigned = ab_arm(user_id, arts.ab)
    if assigned == HOLDOUT:  # the global holdout: the baseline, logged apart (holdout.py)
        arm, key, artifact_id = "A", holdout_key(arts.experiment), live.holdout_id
    else:  # a stopped arm's listeners get the other arm (killswitch.py)
        arm = state.arm_stops.served_arm(arts.experiment, arts.week_start, assigned)
        key, artifact_id = arts.experiment, live.artifact_ids[arm]
    served = arts.arms[arm]
    now = clock.now()
    with metrics.store_write.labels("serve").time():
        rec = await store.serve_async(
            ServeRequest(
                key, arts.week_start, user_id, arm, artifact_id, now, arrived=arrival(request.scope)
            )
        )
    metrics.playlist_requests.labels(arm).inc()
    if rec.first_exposure:
        metrics.exposures.labels(arm).inc()
    head = PlaylistsResponse(
        request_id=rec.request_id,
        experiment=key,
        user_id=user_id,
        arm=arm,
        model=served.model,
        model_version=served.model_version,
        week_start=arts.week_start,
        first_exposure=rec.first_exposure,
        exposed_at=rec.exposed_at,
        served_at=now,
        playlists=[],
    ).model_dump_json()
    # The arm's playlists are the same for every listener: serialised once per artifact.
    body = f"{head[: -len('[]}')]}{served.playlists_json}}}"
    return Response(content=body, media_type="application/json")
