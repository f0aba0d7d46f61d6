"""``GET /healthz`` (the process answers), ``GET /readyz`` (artifacts loaded, store reachable)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Artifacts loaded and store reachable (503 otherwise)",
    responses={503: {"model": Health}},
)
def readyz(request: Request):
    state = request.app.state
    checks = {
        "artifacts": getattr(state, "live", None) is not None,
        "store": getattr(state, "store", None) is not None and state.store.ping(),
    }
    if all(checks.values()):
        return Health(status="ok", checks=checks)
    bad = ", ".join(k for k, ok in checks.items() if not ok)
    return JSONResponse(
        status_code=503, content=Health(status=f"not ready: {bad}", checks=checks).model_dump()
    )
