"""A raw HTTP/1.1 client for the fuzz suite: sends exactly the bytes it is given.

httpx normalises what it sends (percent-encodes paths, refuses non-ASCII header values, sets
its own Content-Length and Host), so a fuzzer built on it never sends half of what a hostile
client can. This client writes a request as given, on a fresh connection with
``Connection: close``, reads the reply until the server closes, and parses it. It sends and
reads at the same time, so a server that answers early (a 413 before the body is read) and
closes is seen answering, not as a broken pipe.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, replace
from typing import Any, SupportsBytes

Wire = bytes | SupportsBytes  # bytes, or a recipe for them made only when sent


@dataclass(frozen=True)
class Big:
    """``head`` + ``unit`` * ``count`` + ``tail``, made only when sent. hypothesis keeps what
    it draws for a while (to mutate and shrink), so a drawn 1 MiB value would cost 1 MiB for
    each of the thousands of examples it remembers; a recipe costs a few bytes."""

    unit: bytes
    count: int
    head: bytes = b""
    tail: bytes = b""

    def __bytes__(self) -> bytes:
        return self.head + self.unit * self.count + self.tail

    def __add__(self, other: bytes) -> Big:
        return replace(self, tail=self.tail + other)

    def __radd__(self, other: bytes) -> Big:
        return replace(self, head=other + self.head)

    def __repr__(self) -> str:
        return f"{self.head!r}+{self.unit!r}*{self.count}+{self.tail!r}"


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: Wire  # origin-form path and query, or "*", or absolute-form: as on the wire
    headers: tuple[tuple[bytes, Wire], ...] = ()
    body: Wire = b""
    chunked: bool = False  # send the body with Transfer-Encoding: chunked
    many_headers: int = 0  # this many more headers X-H<i>: v*40

    @property
    def path(self) -> str:
        """The target's path (of an absolute-form target too), percent-encoded as sent."""
        path = bytes(self.target).split(b"?", 1)[0].decode("ascii", "replace")
        if "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path

    def encode(self, host: str) -> bytes:
        lines = [self.method.encode("ascii") + b" " + bytes(self.target) + b" HTTP/1.1"]
        names = {name.lower() for name, _ in self.headers}
        if b"host" not in names:
            lines.append(b"Host: " + host.encode("ascii"))
        lines.extend(name + b": " + bytes(value) for name, value in self.headers)
        lines.extend(b"X-H%d: %s" % (i, b"v" * 40) for i in range(self.many_headers))
        body = bytes(self.body)
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in (body[i : i + 65536] for i in range(0, len(body), 65536))
            )
            body += b"0\r\n\r\n"
        else:
            lines.append(b"Content-Length: " + str(len(body)).encode("ascii"))
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))

    def __repr__(self) -> str:  # what hypothesis prints for a failing example: keep it short
        def cut(data: Wire, keep: int = 300) -> str:
            if not isinstance(data, bytes):
                return repr(data)
            return repr(data) if len(data) <= keep else f"{data[:keep]!r}...<{len(data)} bytes>"

        headers = ", ".join(f"{cut(n, 60)}: {cut(v, 120)}" for n, v in self.headers)
        more = f" + {self.many_headers} X-H<i>" if self.many_headers else ""
        return (
            f"RawRequest({self.method} {cut(self.target)}, headers=[{headers}{more}], "
            f"body={cut(self.body)}{', chunked' if self.chunked else ''})"
        )


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header's values joined by ", "
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class NoReply(AssertionError):
    """The server did not answer within the bound, or closed without a complete reply."""


def send(host: str, port: int, request: RawRequest, timeout: float) -> RawReply:
    """Send ``request`` and return the reply; :class:`NoReply` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    outgoing = memoryview(request.encode(f"{host}:{port}"))
    received = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NoReply(f"no reply within {timeout}s; got {bytes(received[:200])!r}")
                for _, events in selector.select(remaining):
                    if events & selectors.EVENT_WRITE:
                        try:
                            outgoing = outgoing[sock.send(outgoing[:262144]) :]
                        except (BrokenPipeError, ConnectionResetError):
                            outgoing = outgoing[:0]  # the server stopped reading: it answers
                        if not outgoing:
                            selector.modify(sock, selectors.EVENT_READ)
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = sock.recv(262144)
                        except ConnectionResetError:
                            chunk = b""
                        if not chunk:
                            return parse_reply(bytes(received), head=request.method == "HEAD")
                        received.extend(chunk)


def parse_reply(data: bytes, *, head: bool = False) -> RawReply:
    """The final (non-1xx) response in ``data``, the whole of what the server sent (a reply to
    a HEAD request, ``head``, has no body whatever its headers say)."""
    while True:
        top, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            raise NoReply(f"the connection closed before a complete reply: {data[:200]!r}")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        version, _, status_text = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not status_text[:3].isdigit():
            raise NoReply(f"not an HTTP reply: {data[:200]!r}")
        status = int(status_text[:3])
        if status >= 200:
            break
        data = rest  # an interim reply (100 Continue): the real one follows
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if head:
        if rest:
            raise NoReply(f"a reply to HEAD with a body: {rest[:200]!r}")
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if len(rest) != length:
            raise NoReply(f"Content-Length {length} but {len(rest)} body bytes")
    return RawReply(status, headers, rest)


def _dechunk(data: bytes) -> bytes:
    body = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        body.extend(data[:size])
        data = data[size + 2 :]
