"""The demo page (``GET /``) and the browse view (``GET /browse``): HTML for people.

Server-rendered with Jinja2 from ``serve/templates``; the page's only script and
style sheet are ``serve/static/app.js`` and ``style.css``, served by the app itself
under ``/static`` (nothing from a CDN). The script calls the public API: ``GET
/v1/playlists``, ``POST /v1/events`` (the listener's played/skipped/liked marks,
with the serving request's id), ``GET /v1/experiments/{key}/results`` (drawn as an
inline SVG interval chart).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from ..artifacts import ARM_MODELS
from ..deps import LiveDep

router = APIRouter(tags=["pages"], include_in_schema=False)

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("pozytywka.serve", "templates"),
        autoescape=select_autoescape(["html"]),
    )
)


def _context(request: Request, live) -> dict:
    arts = live.artifacts
    return {
        "clock": request.app.state.settings.clock,
        "experiment": arts.experiment,
        "week_start": arts.week_start.isoformat(),
        "arms": {
            arm: {"model": served.model, "version": served.model_version[:8]}
            for arm, served in sorted(arts.arms.items())
        },
    }


@router.get("/", response_class=HTMLResponse)
def index(request: Request, live: LiveDep):
    """Type a listener id, see their playlists, mark tracks, read the experiment."""
    return templates.TemplateResponse(request, "index.html", _context(request, live))


@router.get("/browse", response_class=HTMLResponse)
def browse(request: Request, live: LiveDep):
    """Both arms' playlists for the week, side by side (no exposure is logged)."""
    arms = live.artifacts.arms
    ctx = _context(request, live) | {
        "columns": [(arm, ARM_MODELS.get(arm, ""), arms[arm].playlists) for arm in sorted(arms)]
    }
    return templates.TemplateResponse(request, "browse.html", ctx)
