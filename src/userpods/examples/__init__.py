"""Example pod manifests, served over HTTP by ``userpods serve --sim`` for trying the API.

They are copies of manifests from the ScienceData deployment (testing era) whose images the
simulated cluster's built-in catalogue knows.
"""

from __future__ import annotations

import logging
from functools import partial
from importlib import resources
from typing import Any, cast

import hypercorn.config
import hypercorn.trio
import trio


def manifest_names() -> list[str]:
    return sorted(
        p.name for p in resources.files(__package__).iterdir() if p.name.endswith(".yaml")
    )


async def answer_lifespan(receive: Any, send: Any) -> None:
    """The ASGI lifespan protocol for an app with nothing to start or stop."""
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await answer_lifespan(receive, send)
    if scope["type"] != "http":
        return
    name = scope["path"].lstrip("/")
    if name in manifest_names():
        body = resources.files(__package__).joinpath(name).read_bytes()
        status, ctype = 200, b"application/yaml"
    else:
        body, status, ctype = b"not found\n", 404, b"text/plain"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_examples(
    host: str = "127.0.0.1", *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the example manifests until cancelled; reports the base URL (ending in /)."""
    config = hypercorn.config.Config()
    config.bind = [f"{host}:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handlers
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, cast(Any, _app), config))
        task_status.started(binds[0] + "/")
