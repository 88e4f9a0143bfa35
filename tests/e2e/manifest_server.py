"""A manifest server for end-to-end tests: real HTTP, with the misbehaviours to defend against.

- ``/<era>/<file>.yaml``: the real ScienceData manifests (tests/data/pod_manifests);
- ``/doc/<name>``: documents a test registered with :meth:`ManifestServer.put`; the name is
  read as lenient servers read paths (percent-decoded, ``\\`` as ``/``, dot segments removed),
  so a URL trick that gets past the daemon is served;
- ``/slow``: never answers; ``/big``: an endless body; ``/status/<code>``: that status;
- ``/redirect?to=<url>``: a 302 to ``url``;
- ``/doc/<name>`` registered with :meth:`ManifestServer.put_redirect`: a 302 to its location.

:attr:`ManifestServer.log` holds the raw path (the ASGI scope's ``raw_path``, as it came on
the request line, before any decoding) of every request, so that tests can check what was
and was not requested.
"""

from __future__ import annotations

import posixpath
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import hypercorn.config
import hypercorn.trio
import pytest
import trio
import yaml

from userpods.examples import answer_lifespan


class ManifestServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.docs: dict[str, bytes] = {}
        self.unavailable_images: tuple[str, ...] = ()  # set against a real cluster
        self.redirects: dict[str, str] = {}  # /doc/<name> -> Location
        self.url = ""
        self.log: list[str] = []  # the raw path of every request, in order

    @property
    def requests(self) -> int:
        return len(self.log)

    def put(self, name: str, document: Any) -> str:
        """Serve ``document`` (YAML text, or an object dumped as YAML); returns its URL."""
        text = document if isinstance(document, str) else yaml.safe_dump(document)
        if any(image in text for image in self.unavailable_images):
            pytest.skip("needs an image only the simulated cluster's test catalogue has")
        self.docs[name] = text.encode()
        return f"{self.url}doc/{name}"

    def put_redirect(self, name: str, location: str) -> str:
        """Answer ``/doc/<name>`` with a 302 to ``location`` (sent as is); returns its URL."""
        self.redirects[name] = location
        return f"{self.url}doc/{name}"

    def manifest(self, era: str, file: str) -> str:
        return f"{self.url}{era}/{file}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
        if scope["type"] != "http":
            return
        self.log.append(bytes(scope["raw_path"]).decode("latin-1"))
        path = scope["path"]  # percent-decoded
        if path.startswith("/doc/"):  # as lenient servers do: "\\" is "/", dot segments go
            path = "/doc/" + posixpath.normpath("/" + path[5:].replace("\\", "/")).lstrip("/")
        query = parse_qs(scope.get("query_string", b"").decode())
        if path == "/slow":
            await trio.sleep_forever()
        if path == "/big":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunk = b"#" * 65536 + b"\n"
            while True:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if path == "/redirect":
            location: str | None = query["to"][0]
        else:
            location = self.redirects.get(path[5:]) if path.startswith("/doc/") else None
        if location is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 302,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        status, body = 404, b"not found\n"
        if path.startswith("/status/"):
            status, body = int(path.rsplit("/", 1)[1]), b"status\n"
        elif path.startswith("/doc/") and path[5:] in self.docs:
            status, body = 200, self.docs[path[5:]]
        else:
            file = (self.root / path.lstrip("/")).resolve()
            if file.is_file() and self.root.resolve() in file.parents:
                status, body = 200, file.read_bytes()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/yaml"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def serve_manifests(
    root: Path,
    *,
    task_status: trio.TaskStatus[ManifestServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    server = ManifestServer(root)
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, cast(Any, server), config))
        server.url = binds[0] + "/"
        task_status.started(server)
