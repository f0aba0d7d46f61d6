"""``GET /v1/recommendations`` and ``GET /v1/experiments/recs/results`` (issue 15, item 5).

The listener's arm of experiment ``recs`` (A: popularity in favourite genres, B:
the best model if it beat the dump's strongest baseline on the validation weeks,
otherwise that baseline, as ``recs_publish`` wrote them) and its first ``k`` tracks from
:class:`pozytywka.recs.online.PublishedRecs` (a look-up). A listener with no
history gets the popularity fallback and ``source`` says so. Plays and likes of
the served tracks come back through ``POST /v1/events`` with the ``request_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from ..deps import ClockDep, StoreDep
from ..metrics import arrival
from ..products import RECS, finite, read_recs
from ..schemas import Problem, Week
from .playlists import UserId
from .skips import model_failed, product

router = APIRouter(prefix="/v1", tags=["recommendations"])


class RecsOut(BaseModel):
    request_id: str = Field(description="Id of this served request; events refer to it")
    experiment: str
    user_id: str
    arm: Literal["A", "B"] = Field(
        description="A = popularity in favourite genres, B = the best model if it beat "
        "the strongest baseline on the validation weeks, else that baseline"
    )
    model: str
    source: str = Field(description="'model' or 'popularity fallback (no history)'")
    week_start: dt.date
    first_exposure: bool
    track_ids: list[str] = Field(description="Recommended tracks, best first")


@router.get(
    "/recommendations",
    response_model=RecsOut,
    responses={422: {"model": Problem}, 503: {"description": "Recommendations not published"}},
    summary="The listener's recommendations for the published week",
)
def recommendations(
    user_id: UserId,
    request: Request,
    store: StoreDep,
    clock: ClockDep,
    k: Annotated[int, Query(ge=1, le=100, description="How many tracks")] = 20,
):
    live = product(request, RECS)
    key, arm, artifact_id = live.target(user_id, request.app.state.arm_stops)
    try:
        tracks, source = live.model.recommend(user_id, k, arm)
    except Exception as exc:  # the model cannot answer: the product's 503, never a 500
        raise model_failed(RECS, exc) from exc
    rec = store.serve(
        key,
        live.week_start,
        user_id,
        arm,
        artifact_id,
        clock.now(),
        items=tracks,
        arrived=arrival(request.scope),
    )
    return RecsOut(
        request_id=rec.request_id,
        experiment=key,
        user_id=user_id,
        arm=arm,
        model=live.model.models.get(arm, "popularity_genre"),
        source=source,
        week_start=live.week_start,
        first_exposure=rec.first_exposure,
        track_ids=tracks,
    )


@router.get(
    "/experiments/recs/results",
    summary="Arms' hit rate and plays per listener, B - A with 95% intervals",
)
def recs_results(request: Request, store: StoreDep, week: Week = None) -> dict:
    """Per exposed listener; see :func:`pozytywka.serve.products.read_recs`."""
    live = product(request, RECS)
    return finite(read_recs(store, live, week or live.week_start))
