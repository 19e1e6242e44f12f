"""The HTTP body limit of contract section 9, as plain ASGI: shared by the center and ingestion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_BODY_BYTES = 64 * 1024  # contract section 9: larger bodies get 413 before authentication or parsing


class BodyLimit:
    """413 for a request body over `limit` bytes, before authentication or parsing: by its
    Content-Length at once, and by counting what arrives when it is streamed without one."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.app = app
        self.limit = limit
        self.headers = list(headers)  # added to the 413, like the app's own answers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(send)
            return
        received = 0
        too_large = answered = False

        async def counted() -> dict[str, Any]:
            nonlocal received, too_large
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def watched(message: dict[str, Any]) -> None:
            nonlocal answered
            if too_large:  # whatever the app made of the interrupted body, the answer is 413
                if not answered:
                    answered = True
                    await self._too_large(send)
                return
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            pass
        if too_large and not answered:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = b'{"error":"the request body is over %d bytes"}' % self.limit
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *self.headers]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
