"""manifest.fetch: the normalised URL is matched and is exactly what is requested; redirect
targets are resolved, normalised and matched before they are requested. (Against a real
server: tests/e2e/test_manifest_urls.py.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx2
import pytest

from userpods.daemon.manifest import ManifestError, fetch

WHITELIST = re.compile(re.escape("http://m.example/ok/"))
BODY = b"apiVersion: v1\n"


class Server:
    """A mock manifest server: ``/ok/...`` documents, ``redirects`` path -> Location."""

    def __init__(self) -> None:
        self.requested: list[str] = []
        self.redirects: dict[str, str] = {}

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requested.append(str(request.url))
        target = request.url.raw_path.decode()
        if target in self.redirects:
            return httpx2.Response(302, headers={b"location": self.redirects[target].encode()})
        return httpx2.Response(200, content=BODY)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(server)) as http:
        yield http


async def get(url: str, client: httpx2.AsyncClient) -> bytes:
    return await fetch(url, WHITELIST, max_bytes=1000, client=client)


async def refused(url: str, client: httpx2.AsyncClient) -> str:
    with pytest.raises(ManifestError) as caught:
        await get(url, client)
    return str(caught.value)


async def test_the_normalised_url_is_matched_and_fetched(
    server: Server, client: httpx2.AsyncClient
) -> None:
    assert await get("HTTP://M.Example:80/ok/./a/../p.yaml#../../no", client) == BODY
    assert server.requested == ["http://m.example/ok/p.yaml"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://m.example/ok/../no/p.yaml", "does not match the manifest whitelist"),
        ("http://m.example/ok/%2e%2e/no/p.yaml", "percent-encoded"),
        ("http://m.example/ok/..\\no/p.yaml", "backslash"),
        ("http://m.example@evil.example/ok/p.yaml", "userinfo"),
        ("http://m.example/ok/p.yaml\x00", "control character"),
        ("http://m.example/ok/\ud800", "non-ASCII"),
        ("http://m.example/ok/" + "a" * 70_000, "longer than 4096"),
    ],
)
async def test_refused_urls_are_never_requested(
    server: Server, client: httpx2.AsyncClient, url: str, expected: str
) -> None:
    message = await refused(url, client)
    assert expected in message and "whitelist" in message, message
    assert len(message) < 600, message  # a 70,000-character URL is not echoed whole
    assert server.requested == []


async def test_the_whitelisted_url_is_named_with_its_normal_form(
    client: httpx2.AsyncClient,
) -> None:
    message = await refused("http://m.example/ok/../no/p.yaml", client)
    assert "(normalised: 'http://m.example/no/p.yaml')" in message, message


@pytest.mark.parametrize(
    ("location", "fetched"),
    [
        ("sub/q.yaml", "http://m.example/ok/a/sub/q.yaml"),
        ("../q.yaml", "http://m.example/ok/q.yaml"),
        ("/ok/q.yaml?x=1", "http://m.example/ok/q.yaml?x=1"),
        ("//M.EXAMPLE/ok/./q.yaml", "http://m.example/ok/q.yaml"),
        ("?v=2", "http://m.example/ok/a/p.yaml?v=2"),
    ],
)
async def test_redirect_targets_are_resolved_against_the_current_url(
    server: Server, client: httpx2.AsyncClient, location: str, fetched: str
) -> None:
    server.redirects["/ok/a/p.yaml"] = location
    assert await get("http://m.example/ok/a/p.yaml", client) == BODY
    assert server.requested == ["http://m.example/ok/a/p.yaml", fetched]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("../../no/q.yaml", "redirected to 'http://m.example/no/q.yaml', which is not whitelisted"),
        ("http://evil.example/ok/q.yaml", "not whitelisted"),
        ("//evil.example/ok/q.yaml", "not whitelisted"),
        ("%2e%2e/%2e%2e/no", "refused: its path has '.' percent-encoded"),
        ("..\\..\\no", "refused: it contains a backslash"),
        ("http://m.example@evil.example/ok/", "refused: it has userinfo"),
        ("/ok/\u00e9", "refused: it contains a non-ASCII character"),
        ("file:///etc/passwd", "refused: only http and https"),
    ],
)
async def test_redirect_targets_off_the_whitelist_are_never_requested(
    server: Server, client: httpx2.AsyncClient, location: str, expected: str
) -> None:
    server.redirects["/ok/a/p.yaml"] = location
    message = await refused("http://m.example/ok/a/p.yaml", client)
    assert expected in message, message
    assert server.requested == ["http://m.example/ok/a/p.yaml"]


async def test_redirect_loops_and_chains_end(server: Server, client: httpx2.AsyncClient) -> None:
    server.redirects["/ok/loop"] = "#again"  # back to itself
    assert "in a loop" in await refused("http://m.example/ok/loop", client)
    assert server.requested == ["http://m.example/ok/loop"]
    server.requested.clear()
    server.redirects.update({f"/ok/{i}": f"{i + 1}" for i in range(10)})
    assert "too many redirects" in await refused("http://m.example/ok/0", client)
    assert server.requested == [f"http://m.example/ok/{i}" for i in range(6)]


async def test_a_client_that_would_change_the_url_is_refused(server: Server) -> None:
    transport = httpx2.MockTransport(server)
    async with httpx2.AsyncClient(transport=transport, params={"a": "b"}) as client:
        message = await refused("http://m.example/ok/p.yaml", client)
    assert "would request" in message and "a=b" in message, message
    assert server.requested == []
