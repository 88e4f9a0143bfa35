"""The HTTP edge of the API: an ASGI wrapper around the quart app, for what quart cannot do.

- **Oversized request heads get a JSON 431.** hypercorn refuses a head over its h11/h2 limit
  with a bare 431 (no body) before any app sees it, and where that limit bites depends on how
  the head arrives (a head that comes in one 64 KiB read passes a smaller limit). So the
  server's limits are raised to :data:`SERVER_HEAD_LIMIT` (service.py) and the head is
  measured here: over :data:`MAX_HEAD` is a JSON 431 like every other error. Only a head over
  the server's limit still gets hypercorn's bare 431; it is not buffered, so memory stays
  bounded.
- **A reply's sends are shielded from cancellation.** quart-trio cancels the request's
  nursery as soon as the client's ``http.disconnect`` arrives, which hypercorn sends while it
  is still inside the app's last ``send``, closing the connection. The cancellation lands in
  that close, so a connection the client asked to close (``Connection: close``, HTTP/1.0)
  was left open until the client gave up. hypercorn already shields the socket writes
  themselves, so the shield adds no new wait.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_HEAD = 64 * 1024  # bytes of request line and headers the API accepts
SERVER_HEAD_LIMIT = 1024 * 1024  # what hypercorn may buffer for a head before its own 431


def head_size(scope: Scope) -> int:
    """The size of the request's head as received: target, and each header line."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return target + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))


def guard(app: ASGIApp) -> ASGIApp:
    """``app`` behind the edge rules of the module docstring."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def shielded_send(message: Message) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        size = head_size(scope)
        if size > MAX_HEAD:
            message = f"the request head is {size} bytes, more than the {MAX_HEAD} allowed"
            await answer_json(shielded_send, 431, {"error": message})
            return
        await app(scope, receive, shielded_send)

    return guarded


async def answer_json(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
