"""``POST /v1/skips/predict`` and ``GET /v1/experiments/skips/results`` (issue 14, item 7).

A play about to start (listener, track, the session so far) -> P(skip) and the
caching decision (``fetch`` the whole track ahead or ``stream`` it), from arm A
(the genre rule) or B (CatBoost) of experiment ``skips`` (see
:mod:`pozytywka.serve.products` for the assignment). Each answer is a served
request (prediction stored with it); its outcome comes back through
``POST /v1/events`` with its ``request_id`` and the scored ``track_id``: a
``play``, then a ``skip`` if the listener skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ...errors import PozytywkaError
from ..deps import ClockDep, StoreDep
from ..metrics import arrival
from ..products import SKIPS, ProductLive, answer_failed, finite, read_skips
from ..schemas import Id, Problem, UtcDatetime, Week

router = APIRouter(prefix="/v1", tags=["skips"])
log = logging.getLogger(__name__)


class SessionEvent(BaseModel):
    timestamp: UtcDatetime = Field(description="When it happened (ISO 8601; no offset = UTC)")
    event_type: str = Field(
        max_length=32,
        description="play, skip, like or advertisement (any case; the dump's 'advertisment' too)",
    )
    track_id: Id | None = Field(default=None, description="The track (none for an ad)")


class SkipPredictIn(BaseModel):
    user_id: Id = Field(description="The listener")
    track_id: Id = Field(description="The track about to play")
    session: list[SessionEvent] = Field(
        default_factory=list, max_length=500, description="The session's earlier events"
    )
    timestamp: UtcDatetime | None = Field(
        default=None, description="When the play starts (default: 1 s after the last event)"
    )


class SkipPredictOut(BaseModel):
    request_id: str = Field(description="Id of this served request; the outcome refers to it")
    experiment: str
    user_id: str
    track_id: str
    arm: Literal["A", "B"] = Field(description="A = genre rule, B = CatBoost")
    model: str
    probability: float = Field(description="P(skip)", ge=0, le=1)
    decision: Literal["fetch", "stream"] = Field(
        description="stream when P(skip) >= threshold, else fetch the whole track ahead"
    )
    threshold: float = Field(description="The model's caching threshold (validation week)")
    week_start: dt.date
    first_exposure: bool


def product(request: Request, key: str) -> ProductLive:
    """The product ``key`` or a 503 with its one-line fix."""
    live = request.app.state.products[key]
    if live.problem:
        raise HTTPException(status_code=503, detail=live.problem)
    return live


def model_failed(key: str, exc: Exception) -> HTTPException:
    """The 503 of product ``key`` when its model raised something unexpected while
    answering (logged with its traceback)."""
    log.error("%s: the model could not answer", key, exc_info=exc)
    return HTTPException(status_code=503, detail=answer_failed(key, exc))


@router.post(
    "/skips/predict",
    response_model=SkipPredictOut,
    responses={422: {"model": Problem}, 503: {"description": "Skip models not published"}},
    summary="P(skip) of a play about to start and the caching decision",
)
def predict(body: SkipPredictIn, request: Request, store: StoreDep, clock: ClockDep):
    live = product(request, SKIPS)
    key, arm, artifact_id = live.target(body.user_id, request.app.state.arm_stops)
    session = [e.model_dump() for e in body.session]
    try:
        p = live.model.predict(body.user_id, body.track_id, session, arm=arm, now=body.timestamp)
    except PozytywkaError as exc:  # named as the request names it: ``session``, not the
        # scorer's own ``session_so_far``
        line = str(exc).replace("session_so_far", "session")
        return JSONResponse(status_code=422, content={"detail": [line]})
    except Exception as exc:  # the model cannot answer: the product's 503, never a 500
        raise model_failed(SKIPS, exc) from exc
    rec = store.serve(
        key,
        live.week_start,
        body.user_id,
        arm,
        artifact_id,
        clock.now(),
        prediction=(body.track_id, p.probability, p.decision),
        arrived=arrival(request.scope),
    )
    return SkipPredictOut(
        request_id=rec.request_id,
        experiment=key,
        user_id=body.user_id,
        track_id=body.track_id,
        arm=arm,
        model=p.model,
        probability=p.probability,
        decision=p.decision,
        threshold=p.threshold,
        week_start=live.week_start,
        first_exposure=rec.first_exposure,
    )


@router.get(
    "/experiments/skips/results",
    summary="Arms' log loss and accuracy on the logged outcomes, B - A with 95% intervals",
)
def skips_results(request: Request, store: StoreDep, week: Week = None) -> dict:
    """Per listener (the randomised unit): the mean log loss and accuracy of their
    scored plays whose outcome was logged; see :func:`pozytywka.serve.products.read_skips`."""
    live = product(request, SKIPS)
    return finite(read_skips(store, live, week or live.week_start))
