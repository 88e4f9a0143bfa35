"""The two clusters the differential suite talks to, reached the same way.

A :class:`Target` is one apiserver (the real one from the loopback control plane, or the
simulated cluster in this process) with the credentials the corpus acts under: ``admin`` (a
client certificate on the real cluster, the admin token on the simulated one) and bearer tokens
of service accounts made during the run. It sends raw HTTP requests (so both see byte-for-byte
the same request), reads watch streams to their end, performs a websocket handshake by hand (the
answer to the upgrade is what is compared, not the exec session) and runs the real kubectl.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
import trio
import yaml

CALL_TIMEOUT = 20.0  # seconds for one request, watch or kubectl run


@dataclass
class Answer:
    """What one corpus entry got back from one cluster."""

    code: int
    body: Any = None  # decoded JSON (or the text when it is not JSON)
    events: list[Any] | None = None  # a watch's events, in order
    content_type: str = ""


@dataclass
class Target:
    """One apiserver and the ways the corpus authenticates to it."""

    label: str  # "real" | "sim"
    url: str
    ca_pem: str
    admin_headers: dict[str, str]
    admin_cert: tuple[str, str] | None  # (certfile, keyfile) when admin is a client certificate
    kubeconfig: Path
    tokens: dict[str, str] = field(default_factory=dict)  # identity -> bearer token
    clients: dict[str, httpx2.AsyncClient] = field(default_factory=dict)

    @classmethod
    def from_kubeconfig(cls, label: str, path: Path, scratch: Path) -> Target:
        """A target from a kubeconfig with embedded data (as both clusters write them)."""
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        headers: dict[str, str] = {}
        cert: tuple[str, str] | None = None
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        if user.get("client-certificate-data"):
            certfile, keyfile = scratch / f"{label}-admin.crt", scratch / f"{label}-admin.key"
            certfile.write_bytes(base64.b64decode(user["client-certificate-data"]))
            keyfile.write_bytes(base64.b64decode(user["client-key-data"]))
            keyfile.chmod(0o600)
            cert = (str(certfile), str(keyfile))
        return cls(label, cluster["server"], ca, headers, cert, path)

    def context(self, who: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem)
        if who == "admin" and self.admin_cert is not None:
            context.load_cert_chain(*self.admin_cert)
        return context

    def headers(self, who: str) -> dict[str, str]:
        if who == "admin":
            return dict(self.admin_headers)
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def client(self, who: str) -> httpx2.AsyncClient:
        if who not in self.clients:
            self.clients[who] = httpx2.AsyncClient(
                base_url=self.url,
                verify=self.context(who),
                headers=self.headers(who),
                timeout=httpx2.Timeout(CALL_TIMEOUT),
            )
        return self.clients[who]

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()

    # ------------------------------------------------------------------ requests
    async def request(
        self,
        who: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = content_type
        with trio.fail_after(CALL_TIMEOUT):
            response = await self.client(who).request(
                method, path, content=data, params=dict(query or {}), headers=sent
            )
        return _answer(
            response.status_code, response.headers.get("content-type", ""), response.content
        )

    async def watch(self, who: str, path: str, query: Mapping[str, Any]) -> Answer:
        """A watch read until the server ends it (the corpus always sets timeoutSeconds)."""
        events: list[Any] = []
        with trio.fail_after(CALL_TIMEOUT):
            async with self.client(who).stream(
                "GET", path, params={"watch": "true", **query}
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    return _answer(
                        response.status_code,
                        response.headers.get("content-type", ""),
                        response.content,
                    )
                buffer = b""
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            events.append(json.loads(line))
                if buffer.strip():
                    events.append({"unterminated": buffer.decode(errors="replace")})
        return Answer(200, None, events, response.headers.get("content-type", ""))

    async def upgrade(self, who: str, path: str, query: list[tuple[str, str]]) -> Answer:
        """A websocket handshake (as lightkube's exec makes it); the HTTP answer to it."""
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 443
        target = f"{path}?{urlencode(query)}"
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io",
            *(f"{k}: {v}" for k, v in self.headers(who).items()),
            "",
            "",
        ]
        with trio.fail_after(CALL_TIMEOUT):
            raw = await trio.open_tcp_stream(host, port)
            stream = trio.SSLStream(raw, self.context(who), server_hostname=host)
            await stream.send_all("\r\n".join(lines).encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            code = int(status_line.split()[1])
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (h.partition(":") for h in header_lines)
            }
            if code == 101:
                await stream.aclose()
                return Answer(101, {"protocol": fields.get("sec-websocket-protocol", "")})
            length = int(fields.get("content-length", "-1"))
            while length < 0 or len(rest) < length:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                rest += chunk
            await raw.aclose()
        return _answer(code, fields.get("content-type", ""), rest[: max(length, 0)] or rest)

    async def kubectl(self, args: list[str], stdin: str = "") -> Answer:
        """The real kubectl as admin; the answer's body holds its exit code, stdout, stderr."""
        with tempfile.TemporaryDirectory() as home:
            with trio.fail_after(CALL_TIMEOUT):
                done = await trio.run_process(
                    ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
                    stdin=stdin.encode(),
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    env={**os.environ, "HOME": home, "KUBECONFIG": str(self.kubeconfig)},
                )
        return Answer(
            done.returncode,
            {"stdout": done.stdout.decode(), "stderr": done.stderr.decode()},
        )


def _answer(code: int, content_type: str, data: bytes) -> Answer:
    try:
        body: Any = json.loads(data) if data else None
    except ValueError:
        body = data.decode(errors="replace")
    return Answer(code, body, None, content_type.split(";")[0].strip())
