"""``GET /healthz`` (the process answers), ``GET /readyz`` (artifacts loaded, store reachable,
and with several workers, every worker serving: :func:`..supervisor.workers_serving`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..metrics import multiprocess_dir
from ..schemas import Health
from ..supervisor import workers_serving

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Artifacts loaded, store reachable, every worker serving (503 otherwise)",
    responses={503: {"model": Health}},
)
def readyz(request: Request):
    state = request.app.state
    checks = {
        "artifacts": getattr(state, "live", None) is not None,
        "store": getattr(state, "store", None) is not None and state.store.ping(),
    }
    workers = workers_serving(multiprocess_dir())
    if workers is not None:
        checks["workers"] = workers[0] >= workers[1]
    if all(checks.values()):
        return Health(status="ok", checks=checks)
    bad = ", ".join(
        f"workers ({workers[0]} of {workers[1]} serving)" if k == "workers" and workers else k
        for k, ok in checks.items()
        if not ok
    )
    return JSONResponse(
        status_code=503, content=Health(status=f"not ready: {bad}", checks=checks).model_dump()
    )
