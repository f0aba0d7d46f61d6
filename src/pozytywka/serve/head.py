"""``HEAD`` on the pages, health checks and API docs (RFC 9110 §9.3.2: a ``HEAD`` is
answered as the ``GET`` would be, without the body).

FastAPI routes declared with ``GET`` answer ``HEAD`` with 405, and declaring ``HEAD``
on them adds a ``head`` operation per route to the OpenAPI schema. This pure ASGI
middleware instead answers ``HEAD`` on :data:`HEAD_PATHS` with their ``GET`` (status
and headers, ``Content-Length`` included) and drops the body. Only these read-only
paths: a ``HEAD`` on ``/v1/playlists`` would otherwise log an exposure.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The paths whose ``HEAD`` is their ``GET`` without the body (nothing is logged on them).
HEAD_PATHS = frozenset(
    {"/", "/browse", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json", "/metrics"}
)


class HeadAsGetMiddleware:
    """Answers ``HEAD`` on :data:`HEAD_PATHS` as ``GET`` without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"] not in HEAD_PATHS:
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, no_body)
