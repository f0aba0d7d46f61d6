"""``GET /healthz`` (the process answers), ``GET /readyz`` (artifacts loaded, the store can
write now, and with several workers, every worker serving:
:func:`..supervisor.workers_serving`).

The store's check is a committed one-row write (:meth:`..store.Store.check_writable`), not a
``SELECT 1``: a read-only, full, locked or removed store still reads. It answers within
:data:`..store.PROBE_TIMEOUT_S` seconds, and turns true again by itself once the store is
mended (each call probes again)."""

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
    summary="Artifacts loaded, store writable, every worker serving (503 otherwise)",
    responses={503: {"model": Health}},
)
def readyz(request: Request):
    state = request.app.state
    store = getattr(state, "store", None)
    store_down = store.check_writable() if store is not None else None
    if store_down is not None:
        state.metrics.store_errors.labels("probe", store_down.code).inc()
    checks = {
        "artifacts": getattr(state, "live", None) is not None,
        "store": store is not None and store_down is None,
    }
    workers = workers_serving(multiprocess_dir())
    if workers is not None:
        checks["workers"] = workers[0] >= workers[1]
    if all(checks.values()):
        return Health(status="ok", checks=checks)
    why = {"store": f"store: {store_down.reason}" if store_down is not None else "store"}
    if workers:
        why["workers"] = f"workers ({workers[0]} of {workers[1]} serving)"
    bad = ", ".join(why.get(k, k) for k, ok in checks.items() if not ok)
    return JSONResponse(
        status_code=503, content=Health(status=f"not ready: {bad}", checks=checks).model_dump()
    )
