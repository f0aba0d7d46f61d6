"""``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc): the API docs, with no CDN.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN (jsdelivr), so they are
blank offline and need a Content-Security-Policy that lets in another site. These
pages are FastAPI's (:func:`fastapi.openapi.docs.get_swagger_ui_html`,
:func:`~fastapi.openapi.docs.get_redoc_html`) pointed at files the service serves
itself, under ``/docs/assets/`` (FastAPI docs, "Self-hosting JavaScript and CSS for
docs"): ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js`` and
``favicon.png``, as the PyPI package ``fastapi-offline`` ships them (pinned in
``pyproject.toml``; only its files are used). ReDoc's Google Fonts are left out.
Every URL on the pages is the service's own; their CSP is the service's plus inline
scripts and styles (:data:`..security.DOCS_CSP`; ReDoc's page adds ``worker-src blob:``
for its search worker).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..security import DOCS_CSP

#: Where the docs pages' scripts, styles and icon are served (the package's files).
ASSETS = "/docs/assets"
#: The package and folder they come from (``importlib.resources``).
ASSETS_PACKAGE = ("fastapi_offline", "static")

#: ReDoc runs its search in a Web Worker it makes from a ``blob:`` URL: allowed on its page
#: only (its "by Redocly" logo from their CDN stays blocked).
REDOC_CSP = f"{DOCS_CSP}; worker-src 'self' blob:"

router = APIRouter(include_in_schema=False)


def _urls(request: Request) -> tuple[str, str]:
    """``(openapi.json URL, assets URL)`` under the app's ``root_path`` (behind a proxy)."""
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{root}{request.app.openapi_url}", f"{root}{ASSETS}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    openapi, assets = _urls(request)
    page = get_swagger_ui_html(
        openapi_url=openapi,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )
    page.headers["content-security-policy"] = DOCS_CSP
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    openapi, assets = _urls(request)
    page = get_redoc_html(
        openapi_url=openapi,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    page.headers["content-security-policy"] = REDOC_CSP
    return page


def add_docs(app: FastAPI) -> None:
    """The two pages and their files, on an app made with ``docs_url=None, redoc_url=None``."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
