"""A cap on request bodies: a body over the limit answers 413 before any route reads it.

The largest legal body is a batch of 1,000 events (about 250 kB); a client
that sends megabytes (or an endless chunked body) is refused without being
buffered. Pure ASGI: the declared ``Content-Length`` is checked first, and the
bytes actually received are counted for bodies without one.
"""

from __future__ import annotations

import json

#: Default cap (bytes), ``POZYTYWKA_MAX_BODY_BYTES``.
DEFAULT_MAX_BODY_BYTES = 1_048_576


class BodyLimitMiddleware:
    """Answer 413 ``{"detail": ["request body over N bytes"]}`` for a larger body."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = refused = False

        async def counted_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now; the route sees a client that went away.
                    if not started and not refused:
                        refused = True
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, tracked_send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": [f"request body over {self.max_bytes} bytes"]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
