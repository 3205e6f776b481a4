"""The few ASGI pieces the scoring server needs, without a framework: every layer a framework
puts around a request (routing objects, middleware, request and response objects) costs each
request, and the server has four routes.

The answers match Starlette's for the same situations (``Not Found``, ``Method Not
Allowed`` with ``Allow``, a 307 to the path without its trailing slash, ``text/plain;
charset=utf-8``), so clients see what they saw when the app was a Starlette one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read; ``size`` bytes were seen."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


async def respond(send: Send, status: int, body: bytes, content_type: bytes | None = JSON_TYPE,
                  headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send a whole answer (one body message)."""
    start = [(b"content-length", b"%d" % len(body))]
    if content_type is not None:
        start.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": [*start, *headers]})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the (lower-case) header ``name``, decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body; :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def not_routed(scope: Scope, send: Send, methods: Mapping[str, str]) -> None:
    """The answer to a request no route takes; ``methods``: path -> its allowed methods.

    405 for a known path, a 307 to the path without its trailing slash when that one is
    known, else 404."""
    path: str = scope["path"]
    if path in methods:
        await respond(send, 405, b"Method Not Allowed", TEXT_TYPE,
                      ((b"allow", methods[path].encode()),))
        return
    if path != "/" and path.endswith("/") and path.rstrip("/") in methods:
        query = scope.get("query_string", b"")
        location = path.rstrip("/").encode() + (b"?" + query if query else b"")
        await respond(send, 307, b"", None, ((b"location", location),))
        return
    await respond(send, 404, b"Not Found", TEXT_TYPE)


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown (the model is loaded before the app exists)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
