"""The FastAPI app, built by :func:`create_app` (FastAPI's "bigger applications" layout).

The lifespan loads what the pipeline published (:func:`load_artifacts`), opens
the store (creating or migrating its schema), records which artifacts are live
and keeps them on ``app.state``; routes get them through :mod:`.deps`. The
app's Prometheus metrics (:mod:`.metrics`) are counted by an ASGI middleware and
the routes, and served at ``/metrics``; ``POST /admin/reload`` (:mod:`.reload`)
swaps in a new week. One
router per concern under :mod:`.routers`. Every error answers
``{"detail": [...]}``, one line per problem: 422 for a request that fails
validation (one line per bad item), 415 for a JSON body sent as another media
type, the routes' own 401/404/405/409/503, and 503 with a ``Retry-After`` for a
failure of the store (:class:`.store.StoreUnavailable`, or a driver error that
escaped the store's methods), counted in ``pozytywka_store_errors_total``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import PozytywkaError
from ..unreadable import first_line
from .artifacts import Artifacts, load_artifacts
from .body_limit import BodyLimitMiddleware
from .catalogue import Catalogue
from .clock import ManualClock, WallClock
from .deps import Live
from .head import HeadAsGetMiddleware
from .holdout import register_with_holdout
from .killswitch import ArmStops
from .metrics import MetricsMiddleware, ServiceMetrics
from .products import (
    RECS,
    RECS_FIX,
    SKIPS,
    SKIPS_FIX,
    load_product,
    recs_arms,
    recs_check,
    skips_arms,
    skips_check,
)
from .products import load_recs as _load_recs
from .products import load_skips as _load_skips
from .reload import Reloader, ReloadRejected
from .routers import (
    admin,
    catalogue,
    events,
    experiments,
    health,
    monitoring,
    pages,
    playlists,
    recs,
    skips,
)
from .routers.docs import add_docs
from .schemas import ID_PATTERN, ID_RULE
from .security import SecurityHeadersMiddleware
from .settings import Settings, settings_from_env
from .store import RETRY_AFTER_S, Store, StoreUnavailable, store_problem
from .supervisor import exit_with_supervisor, ignore_reload_signal, supervisor_pid

log = logging.getLogger(__name__)


def _where(loc: tuple) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "request"


def validation_lines(exc: RequestValidationError) -> list[str]:
    """One line per error: ``events[3].event_type: Input should be 'play', 'skip' or 'like'``;
    a body that does not parse: ``body: not valid JSON (Expecting value) at character 14``."""
    return [_line(e) for e in exc.errors()]


def _line(error: dict) -> str:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"body: not valid JSON{f' ({reason})' if reason else ''}{at}"
    return f"{_where(loc)}: {_message(error)}"


def unsupported_media_type(headers: Mapping[str, str], exc: RequestValidationError) -> str | None:
    """The 415 line when a JSON body was sent as another media type (RFC 9110
    §15.5.16), else None (no body at all stays a 422: the body is missing).

    FastAPI reads a body of another ``Content-Type`` as no body at all, which would
    answer 422 "Input should be a valid dictionary"; ``curl -d`` sends
    ``application/x-www-form-urlencoded`` unless told otherwise."""
    if not any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors()):
        return None
    length = headers.get("content-length", "")
    if "transfer-encoding" not in headers and (not length.isdigit() or int(length) == 0):
        return None
    media = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    got = repr(media) if media else "none"
    return (
        f"the body must be JSON (Content-Type: application/json), got {got}: "
        "curl -H 'Content-Type: application/json' -d ..."
    )


def _message(error: dict) -> str:
    if (error.get("ctx") or {}).get("pattern") == ID_PATTERN:
        return ID_RULE  # not the regular expression itself
    return error.get("msg", "invalid")


def load_catalogue(settings: Settings) -> tuple[Catalogue | None, str | None]:
    """``(catalogue, None)``, or ``(None, the 503's line)`` when it cannot be loaded: files
    missing or unreadable (:class:`PozytywkaError`, its line), or anything else DuckDB
    raises on them (logged with its traceback)."""
    try:
        return Catalogue(settings.root), None
    except PozytywkaError as exc:
        log.warning("catalogue unavailable: %s", exc)
        return None, str(exc)
    except Exception as exc:
        log.warning("catalogue unavailable: could not be loaded", exc_info=True)
        return None, f"catalogue could not be loaded ({first_line(exc)}): run dvc repro"


def follow_sibling_reloads(app: FastAPI, metrics: ServiceMetrics) -> None:
    """On SIGUSR1 (a sibling worker reloaded: :mod:`.supervisor`), reload the published
    week here too, with the same checks, in a thread off the event loop."""
    loop = asyncio.get_running_loop()

    def follow() -> None:
        try:
            done = app.state.reloader.reload()
        except ReloadRejected as exc:
            if exc.status != 409:  # 409: already on it (nothing new, or reloading)
                metrics.reloads.labels("rejected").inc()
                log.warning("a sibling's reload was refused here: %s", "; ".join(exc.reasons))
            return
        metrics.reloads.labels("ok").inc()
        log.info("followed a sibling's reload: week %s", done.live.artifacts.week_start)

    loop.add_signal_handler(signal.SIGUSR1, lambda: loop.run_in_executor(None, follow))


def create_app(
    settings: Settings | None = None,
    load: Callable[[Settings], Artifacts] | None = None,
    load_skips: Callable[[Settings], object] | None = None,
    load_recs: Callable[[Settings], object] | None = None,
) -> FastAPI:
    """The service. ``load`` replaces :func:`load_artifacts` (tests pass tiny artifacts);
    ``load_skips``/``load_recs`` replace the optional products' loaders
    (:mod:`.products`)."""
    exit_with_supervisor()  # a worker of --workers N: no orphan if the supervisor dies
    ignore_reload_signal()  # until the lifespan installs the handler (supervisor.py)
    settings = settings or settings_from_env()
    loader = load or (lambda s: load_artifacts(s.root))
    skips_loader = load_skips or (lambda s: _load_skips(s.root))
    recs_loader = load_recs or (lambda s: _load_recs(s.root))
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        arts = loader(settings)
        store = Store(settings.database_url)
        if settings.clock == "manual":
            start = dt.datetime.combine(arts.week_start, dt.time())
            clock: WallClock | ManualClock = ManualClock(start)
        else:
            clock = WallClock()
        with metrics.store_write.labels("register_artifacts").time():
            ids, holdout_id = register_with_holdout(store, arts, clock.now())
        app.state.settings = settings
        app.state.store = store
        app.state.arm_stops = ArmStops(store)  # the kill switch (killswitch.py)
        app.state.clock = clock
        app.state.live = Live(arts, ids, holdout_id)
        app.state.products = {
            key: load_product(
                key, lambda f=f: f(settings), arms, store, arts.ab, clock.now(), fix, check
            )
            for key, f, arms, fix, check in (
                (SKIPS, skips_loader, skips_arms, SKIPS_FIX, skips_check),
                (RECS, recs_loader, recs_arms, RECS_FIX, recs_check),
            )
        }
        app.state.reloader = Reloader(app.state, loader)
        if supervisor_pid() is not None:  # before set_live: the gauge file marks it ready
            follow_sibling_reloads(app, metrics)
        # The catalogue API (issue 13) is optional: without readable interim tables it
        # answers 503 with the reason (issue 22, item 3), and the rest serves.
        app.state.catalogue, app.state.catalogue_error = load_catalogue(settings)
        # Last of the loading: with several workers its gauge file tells the others (and
        # /readyz, supervisor.py) that this worker is ready.
        metrics.set_live(arts)
        # What was just loaded lives as long as the process: keep it out of the cyclic
        # garbage collector's scans (a full collection over the loaded artifacts stalls
        # every request in flight; Python docs, gc.freeze).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            store.dispose()
            metrics.process_exit()
            if app.state.catalogue is not None:
                app.state.catalogue.close()

    app = FastAPI(
        title="Pozytywka playlist service",
        version="1",
        summary="Serves the published playlists to listeners in two arms, logs exposures "
        "and events, and reads the experiment from the log.",
        lifespan=lifespan,
        # no redirect built from the Host header: a path with a stray slash is a 404
        redirect_slashes=False,
        # the API docs pages load their files from the service, not a CDN (routers/docs.py)
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(HeadAsGetMiddleware)  # HEAD on the pages and health (head.py)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path == "/v1/events":
            metrics.rejected(["invalid_payload"])
        wrong_type = unsupported_media_type(request.headers, exc)
        if wrong_type:
            return JSONResponse(status_code=415, content={"detail": [wrong_type]})
        return JSONResponse(status_code=422, content={"detail": validation_lines(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Every error has one shape: {"detail": [one line per problem]} (DESIGN §9).
        lines = exc.detail if isinstance(exc.detail, list) else [str(exc.detail)]
        return JSONResponse(
            status_code=exc.status_code, content={"detail": lines}, headers=exc.headers
        )

    def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """503 ``{"detail": [reason]}`` with ``Retry-After``, counted per operation and reason."""
        if isinstance(exc, StoreUnavailable):
            code, reason, op = exc.code, exc.reason, exc.op or "other"
        else:  # a driver error raised outside the store's guarded methods
            (code, reason), op = store_problem(exc), "other"
        metrics.store_errors.labels(op, code).inc()
        log.warning("%s %s: 503, %s", request.method, request.url.path, reason)
        return JSONResponse(
            status_code=503,
            content={"detail": [reason]},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    for failure in (StoreUnavailable, OperationalError, InternalError, PoolTimeout):
        app.add_exception_handler(failure, store_unavailable)

    for module in (health, playlists, skips, recs, events, experiments, admin, monitoring):
        app.include_router(module.router)
    app.include_router(admin.reload_router)
    app.include_router(catalogue.router)
    app.include_router(pages.router)
    add_docs(app)
    app.mount("/static", StaticFiles(packages=[("pozytywka.serve", "static")]), name="static")
    return app
