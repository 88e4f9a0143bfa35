"""Small ASGI helpers for the simulated apiserver: requests, JSON answers, streaming."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from . import protobuf
from .jsonbytes import dumps
from .status import ApiError

Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 3 * 1024 * 1024  # the apiserver's request size limit
JSON = "application/json"
TRUE = {"1", "t", "T", "true", "TRUE", "True"}  # Go's strconv.ParseBool
FALSE = {"0", "f", "F", "false", "FALSE", "False"}
ACCEPTED_BODIES = {
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "application/vnd.kubernetes.protobuf",
    "",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    client: str = ""
    user: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_scope(cls, scope: Scope) -> Request:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        client = scope.get("client") or ("", 0)
        return cls(
            method=scope.get("method", "GET"),
            path=scope["path"],
            query=parse_qs(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            ),
            headers=headers,
            client=str(client[0]),
        )

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.param(name)
        if value is None:
            return default
        if value in TRUE or value == "":
            return True
        if value in FALSE:
            return False
        raise ApiError(400, f"invalid boolean value for {name}: {value!r}", "BadRequest")

    def int_param(self, name: str) -> int | None:
        value = self.param(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {value!r}", "BadRequest") from None

    def json_body(self, kind: str = "") -> Any:
        """The decoded body; ``kind`` (the Kind expected) words a parse error as the
        apiserver's decoder does."""
        if not self.body:
            raise ApiError(400, "the body of the request was empty", "BadRequest")
        ctype = self.headers.get("content-type", JSON).split(";")[0].strip()
        if ctype not in ACCEPTED_BODIES:
            raise ApiError(
                415,
                "the body of the request was in an unknown format - accepted "
                "media types include: " + ", ".join(sorted(ACCEPTED_BODIES)),
                "UnsupportedMediaType",
            )
        if ctype == protobuf.MEDIA_TYPE:
            try:
                return protobuf.decode(self.body)
            except protobuf.DecodeError as exc:
                raise ApiError(400, str(exc), "BadRequest") from exc
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                import yaml

                return yaml.safe_load(self.body)
            return json.loads(self.body)
        except (ValueError, Exception) as exc:
            prefix = (
                f"the object provided is unrecognized (must be of type {kind}): " if kind else ""
            )
            shown = self.body[:30].decode(errors="replace")
            raise ApiError(
                400,
                f"{prefix}couldn't get version/kind; json parse error: {exc} ({shown} ...)",
                "BadRequest",
            ) from exc


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(
                413, f"Request entity too large: limit is {MAX_BODY}", "RequestEntityTooLarge"
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache, private"),
    ]
    raw.extend((k.encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, obj: Any, headers: Mapping[str, str] | None = None
) -> None:
    await send_bytes(send, status, dumps(obj), JSON, headers)


async def send_error(send: Send, error: ApiError) -> None:
    await send_json(send, error.code, error.body(), error.headers)


async def start_stream(send: Send, content_type: str = JSON) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"cache-control", b"no-cache, private"),
            ],
        }
    )


async def stream_chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def end_stream(send: Send) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})
