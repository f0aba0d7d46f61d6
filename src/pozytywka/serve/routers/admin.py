"""Operator routes behind ``POZYTYWKA_ADMIN_TOKEN`` (absent: the routes are 404).

``POST /v1/admin/experiments/{key}/arms/{arm}/stop`` is the kill switch
(:mod:`..killswitch`): the arm's listeners are served the other arm from the next
request, in every worker; the stop is logged in the store with its time (200, again
200 with the first time when repeated; 409 when the other arm is already stopped).
``GET /v1/admin/clock`` tells the service's time and whether its clock is the manual
one; ``PUT /v1/admin/clock`` moves the manual clock (``POZYTYWKA_CLOCK=manual``) forward.
``POST /admin/reload`` swaps in what a new ``dvc repro`` published
(:mod:`..reload`): a new week, or a new model version of any arm in the live week;
200 with the previous and the new week and the arms that changed; 422 when the new
artifacts are invalid, 409 when nothing is new (or the week is earlier); the live
week is unchanged then.
With several workers, a 200 also tells the other ready workers to reload the
same files (:mod:`..supervisor`), so within a moment every worker serves the new week.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from ...errors import PozytywkaError
from ..deps import ClockDep, Live, MetricsDep, SettingsDep, StoreDep
from ..killswitch import OTHER
from ..metrics import multiprocess_dir
from ..reload import ReloadRejected
from ..schemas import ArmStopIn, ArmStopOut, ClockIn, ClockOut, LiveWeek, Problem, Reloaded
from ..supervisor import notify_siblings

router = APIRouter(prefix="/v1/admin", tags=["admin"])
reload_router = APIRouter(prefix="/admin", tags=["admin"])


def require_admin(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """``Authorization: Bearer <POZYTYWKA_ADMIN_TOKEN>`` (RFC 6750 §2.1; the scheme is
    case-insensitive, RFC 9110 §11.1); 404 when no token is configured, 401 with
    ``WWW-Authenticate: Bearer`` when missing, of another scheme, or wrong."""
    if not settings.admin_token:
        raise HTTPException(status_code=404, detail="admin routes are disabled")
    scheme, _, given = (authorization or "").strip().partition(" ")
    ok = scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), settings.admin_token.encode()
    )
    if not ok:
        raise HTTPException(
            status_code=401,
            detail="bad or missing admin token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Admin = Annotated[None, Depends(require_admin)]


@router.get("/clock", response_model=ClockOut, summary="The service's time and clock")
def get_clock(clock: ClockDep, _admin: Admin) -> ClockOut:
    """What ``pozytywka traffic`` asks first: a wall clock cannot play a past week."""
    return ClockOut(now=clock.now(), manual=clock.manual)


@router.put("/clock", response_model=ClockOut, summary="Move the manual clock forward")
def set_clock(body: ClockIn, clock: ClockDep, _admin: Admin) -> ClockOut:
    if not clock.manual:
        raise HTTPException(status_code=409, detail="the service runs on the wall clock")
    try:
        now = clock.set(body.now)
    except ValueError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return ClockOut(now=now, manual=True)


def _week(live: Live) -> LiveWeek:
    arts = live.artifacts
    return LiveWeek(
        week_start=arts.week_start,
        versions={arm: a.model_version for arm, a in sorted(arts.arms.items())},
        artifact_ids=dict(sorted(live.artifact_ids.items())),
    )


@reload_router.post(
    "/reload",
    response_model=Reloaded,
    responses={
        401: {"description": "Bad or missing admin token"},
        404: {"description": "No POZYTYWKA_ADMIN_TOKEN configured: the route is off"},
        409: {
            "model": Problem,
            "description": "Nothing new (the live week, every version unchanged) or an "
            "earlier week",
        },
        422: {"model": Problem, "description": "The new artifacts are invalid"},
    },
    summary="Swap in what a new dvc repro published: a new week, or a new model version of "
    "any arm (the old one stays live on failure)",
)
def reload(request: Request, metrics: MetricsDep, _admin: Admin):
    try:
        done = request.app.state.reloader.reload()
    except ReloadRejected as exc:
        metrics.reloads.labels("rejected").inc()
        return JSONResponse(status_code=exc.status, content={"detail": exc.reasons})
    metrics.reloads.labels("ok").inc()
    return Reloaded(
        previous=_week(done.previous),
        live=_week(done.live),
        changed=done.changed,
        notes=stopped_notes(request, done.previous.artifacts, done.live.artifacts),
        workers_notified=len(notify_siblings(multiprocess_dir())),
    )


def stopped_notes(request: Request, previous, live) -> list[str]:
    """One line per arm of the live week that got a new model version but is stopped by
    the kill switch: it stays stopped for the week (a new week is a new run with both
    arms, so a new week has no note)."""
    if previous.week_start != live.week_start:
        return []
    stops = request.app.state.arm_stops.stops(live.experiment, live.week_start)
    return [
        f"arm {arm} has a new version but stays stopped for the week (kill switch since "
        f"{stops[arm].isoformat()}): its listeners are still served arm "
        f"{OTHER[arm]}"
        for arm in sorted(live.arms)
        if arm in stops and live.arms[arm].model_version != previous.arms[arm].model_version
    ]


def _experiment_week(request: Request, key: str):
    """The live week of experiment ``key`` (playlists or an available product), or 404."""
    state = request.app.state
    if key == state.live.artifacts.experiment:
        return state.live.artifacts.week_start
    product = getattr(state, "products", {}).get(key)
    if product is not None and product.problem is None:
        return product.week_start
    raise HTTPException(status_code=404, detail=f"unknown experiment {key!r}")


@router.post(
    "/experiments/{key}/arms/{arm}/stop",
    response_model=ArmStopOut,
    responses={
        401: {"description": "Bad or missing admin token"},
        404: {"description": "Unknown experiment, or no POZYTYWKA_ADMIN_TOKEN configured"},
        409: {"model": Problem, "description": "The other arm is already stopped"},
    },
    summary="Kill switch: stop an arm now; its listeners get the other arm from the next request",
)
def stop_arm(
    key: str,
    arm: Literal["A", "B"],
    request: Request,
    store: StoreDep,
    clock: ClockDep,
    _admin: Admin,
    body: Annotated[ArmStopIn | None, Body()] = None,
) -> ArmStopOut:
    week = _experiment_week(request, key)
    reason = body.reason if body is not None else ""
    try:
        stopped_at, newly = store.stop_arm(key, week, arm, clock.now(), reason)
    except PozytywkaError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return ArmStopOut(
        experiment=key,
        week_start=week,
        arm=arm,
        serving=OTHER[arm],
        stopped_at=stopped_at,
        newly_stopped=newly,
    )
