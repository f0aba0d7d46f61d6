"""Security headers on every answer of the service (OWASP Secure Headers Project).

- ``X-Content-Type-Options: nosniff``: a browser never guesses a type from the body;
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no page of the service
  is framed by another site (clickjacking);
- ``Referrer-Policy: no-referrer``;
- ``Content-Security-Policy`` on every answer, the API docs pages (``/docs``,
  ``/redoc``) included, whose files the service serves itself (:mod:`.routers.docs`):
  scripts, styles, images and connections to the service itself only, no inline
  script or style (the demo page has none). The two docs pages set their own
  :data:`DOCS_CSP`, which allows inline ones: FastAPI's Swagger UI page starts it with
  an inline script, and ReDoc styles itself inline.

A pure ASGI middleware: it adds headers to ``http.response.start`` and touches nothing else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: The API docs pages' policy (:mod:`.routers.docs`): the service's, plus inline scripts
#: and styles, which Swagger UI's start-up and ReDoc need.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_EXTRA = (*HEADERS, (b"content-security-policy", CSP.encode()))


class SecurityHeadersMiddleware:
    """Adds :data:`HEADERS` and :data:`CSP` to every HTTP answer (unless it sets its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in _EXTRA if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
