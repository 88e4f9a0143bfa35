"""Manifest URLs against the real daemon over HTTP: with the whitelist narrowed to one sub-path
of the manifest server, every URL trick is refused with a JSON 400 and the manifest server's
log shows that nothing off the whitelist was requested (for a refused URL: nothing at all);
redirects are held to the same rules. YAML alias bombs are refused in bounded memory, measured
on a real daemon process (its peak RSS).

The manifest server reads ``/doc/`` paths as lenient servers do (percent-decoded, ``\\`` as
``/``, dot segments removed), so a trick that got past the daemon would be served, and seen.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2
import pytest
import trio
from lightkube import AsyncClient

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_error,
    assert_nothing_made,
    base_name,
    create,
    pod_manifest,
    serve,
    watch_create,
)
from tests.e2e.processes import api_of, peak_rss_kib, process_files, serve_process
from tests.unit.test_manifest_yaml import flat_bomb, nested_bomb

USER = "tricks@dtu.dk"
OK = "doc/ok/"  # the whitelisted sub-path of the manifest server


async def narrow(stack: Stack, pattern: str | None = None) -> str:
    """Restart the daemon with the whitelist narrowed to the manifest server's ``/doc/ok/``
    (or ``pattern``), serve ``ok/pod.yaml`` and, off the whitelist, ``no/plain.yaml``; an empty
    log. Returns the whitelisted prefix."""
    base = stack.manifests.url
    await stack.restart(whitelistManifestRegex=pattern or re.escape(base + OK))
    stack.manifests.put("ok/pod.yaml", pod_manifest("okpod"))
    stack.manifests.put("no/plain.yaml", pod_manifest("offlist"))
    stack.manifests.log.clear()
    return base + OK


async def post_url(api: Any, url: str) -> httpx2.Response:
    """create_pod with ``url`` as yaml_url, the body encoded by us (a lone surrogate is sent as
    the JSON escape ``\\ud800``, which no JSON encoder of a client would produce from it)."""
    body = json.dumps({"yaml_url": url, "user_id": USER, "settings": {}}).encode()
    reply: httpx2.Response = await api(
        "/create_pod", None, content=body, headers={"content-type": "application/json"}
    )
    return reply


def host_port(stack: Stack) -> str:
    return stack.manifests.url.removeprefix("http://").rstrip("/")


async def test_the_narrowed_whitelist_serves_its_sub_path(stack: Stack, api: Any) -> None:
    """The control: what the tricks below aim at is served, when asked for plainly."""
    ok = await narrow(stack)
    name = await create(api, ok + "pod.yaml", USER)
    assert await watch_create(api, USER, name)
    off = assert_error(await post_url(api, stack.manifests.url + "doc/no/plain.yaml"), 400)
    assert "does not match the manifest whitelist" in off, off
    assert stack.manifests.log == ["/doc/ok/pod.yaml"]
    async with httpx2.AsyncClient() as client:  # the server serves the off-whitelist one
        assert (await client.get(stack.manifests.url + "doc/no/plain.yaml")).status_code == 200


TRICKS = {
    # dot segments, raw: normalised off the whitelist, so refused by it
    "../no/plain.yaml": "(normalised: ",
    "./../no/plain.yaml": "(normalised: ",
    "x/../../no/plain.yaml": "(normalised: ",
    "../../../doc/no/plain.yaml": "(normalised: ",
    # dot segments percent-encoded, in every mix
    "%2e%2e/no/plain.yaml": "'.' percent-encoded",
    "%2E%2E/no/plain.yaml": "'.' percent-encoded",
    ".%2E/no/plain.yaml": "'.' percent-encoded",
    ".%2e/no/plain.yaml": "'.' percent-encoded",
    "%2e./no/plain.yaml": "'.' percent-encoded",
    "%2E./no/plain.yaml": "'.' percent-encoded",
    # encoded slashes and backslashes; raw backslashes; path parameters
    "..%2fno%2fplain.yaml": "'/' percent-encoded",
    "..%2Fno/plain.yaml": "'/' percent-encoded",
    "..%5cno%5cplain.yaml": "backslash percent-encoded",
    "..%5Cno/plain.yaml": "backslash percent-encoded",
    "..\\no\\plain.yaml": "contains a backslash",
    "\\..\\..\\no/plain.yaml": "contains a backslash",
    "..;/no/plain.yaml": "read as a dot segment",
    # control characters and whitespace
    "pod.yaml\x00": "control character (U+0000)",
    "pod.yaml\x00/../../no/plain.yaml": "control character (U+0000)",
    "pod.yaml\x7f": "control character (U+007F)",
    "pod.yaml\n": "whitespace (U+000A)",
    "pod.yaml\r\nX-Injected: 1": "whitespace (U+000D)",
    "pod.yaml\t": "whitespace (U+0009)",
    "pod .yaml": "whitespace (U+0020)",
    # non-ASCII, a lone surrogate, malformed percent-encodings
    "pöd.yaml": "non-ASCII character (U+00F6)",
    # (a lone surrogate never gets this far: the body parser refuses it, see test_requests)
    "\u2024\u2024/no/plain.yaml": "non-ASCII character (U+2024)",  # one-dot leader
    "pod.yaml%": "malformed percent-encoding",
    "%zz": "malformed percent-encoding",
    # long
    "a" * 70_000: "longer than 4096 characters",
}


async def test_url_tricks_are_refused_and_nothing_is_requested(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    ok = await narrow(stack)
    prefix_tricks = {ok + suffix: expected for suffix, expected in TRICKS.items()}
    whole_tricks = {
        " " + ok + "pod.yaml": "whitespace (U+0020) at position 0",
        ok.replace("http://", "http://\t") + "pod.yaml": "whitespace (U+0009)",
        ok.replace("127.0.0.1", "127.0.0.1\u3002") + "pod.yaml": "non-ASCII",
        ok.replace("http:", "file:") + "pod.yaml": "not file",
        ok.replace("http://", "http:\\\\") + "pod.yaml": "backslash",
    }
    for url, expected in {**prefix_tricks, **whole_tricks}.items():
        message = assert_error(await post_url(api, url), 400)
        assert expected in message and "whitelist" in message, (url[:100], message)
        assert len(message) < 1000, message  # a long URL is not echoed whole
        assert stack.manifests.log == [], (url[:100], stack.manifests.log)
    await assert_nothing_made(stack, kube)


async def test_userinfo_is_refused_whichever_side_is_whitelisted(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """With a whitelist of the host alone (no path), ``http://<whitelisted host>@evil/``
    matches the raw string but goes to ``evil``; ``http://evil@<host>/`` hides a user."""
    await narrow(stack, re.escape(stack.manifests.url.rstrip("/")))
    host = host_port(stack)
    for url in (
        f"http://{host}@localhost:{host.rsplit(':', 1)[1]}/doc/no/plain.yaml",
        f"http://{host}:x@localhost:{host.rsplit(':', 1)[1]}/doc/no/plain.yaml",
        f"http://evil@{host}/doc/ok/pod.yaml",
        f"http://@{host}/doc/ok/pod.yaml",
    ):
        message = assert_error(await post_url(api, url), 400)
        assert "userinfo" in message, (url, message)
    assert stack.manifests.log == []
    await assert_nothing_made(stack, kube)


async def test_normalised_forms_are_fetched_as_normalised(stack: Stack, api: Any) -> None:
    """What normalises onto the whitelist is fetched in its normal form: the log shows the
    normalised path, once per creation."""
    ok = await narrow(stack)
    upper = ok.replace("http://", "HTTP://")
    for url in (
        ok + "pod.yaml#../../no/plain.yaml",
        upper + "pod.yaml",
        ok + "x/../pod.yaml",
        ok + "./pod.yaml",
        ok.replace("/ok/", "/no/../ok/") + "pod.yaml",
        ok + "%70od.yaml",  # an encoded unreserved character: decoded
    ):
        name = await create(api, url, USER)
        assert await watch_create(api, USER, name)
    assert stack.manifests.log == ["/doc/ok/pod.yaml"] * 6


async def test_redirects_are_resolved_normalised_and_whitelisted(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    ok = await narrow(stack)
    off = stack.manifests.url + "doc/no/plain.yaml"
    host = host_port(stack)
    refused = {
        "to-off": (off, "not whitelisted"),
        "to-dots": (ok + "../no/plain.yaml", "not whitelisted"),
        "relative-dots": ("../no/plain.yaml", "not whitelisted"),
        "root-relative": ("/doc/no/plain.yaml", "not whitelisted"),
        "network-path": ("//localhost:" + host.rsplit(":", 1)[1] + "/doc/ok/pod.yaml", "not white"),
        "encoded-dots": ("%2e%2e/no/plain.yaml", "'.' percent-encoded"),
        "mixed-dots": (".%2E/no/plain.yaml", "'.' percent-encoded"),
        "backslashes": ("..\\no\\plain.yaml", "backslash"),
        "userinfo": (f"http://{host}@localhost:{host.rsplit(':', 1)[1]}/doc/ok/pod.yaml", "user"),
        "non-ascii": ("p\u00f6d.yaml", "non-ASCII"),
        "scheme": ("file:///etc/passwd", "only http and https"),
    }
    for name, (location, expected) in refused.items():
        url = stack.manifests.put_redirect(f"ok/{name}", location)
        message = assert_error(await post_url(api, url), 400)
        assert expected in message and "redirected" in message, (name, message)
        assert stack.manifests.log == [f"/doc/ok/{name}"], (name, stack.manifests.log)
        stack.manifests.log.clear()
    await assert_nothing_made(stack, kube)

    # a relative redirect that stays on the whitelist is followed, normalised
    relative = stack.manifests.put_redirect("ok/sub/relative", "../x/./../pod.yaml")
    name = await create(api, relative, USER)
    assert name == base_name("okpod", USER)
    assert stack.manifests.log == ["/doc/ok/sub/relative", "/doc/ok/pod.yaml"]


async def test_redirect_loops_end_with_a_400(stack: Stack, api: Any, kube: AsyncClient) -> None:
    ok = await narrow(stack)
    itself = stack.manifests.put_redirect("ok/loop", "loop")
    stack.manifests.put_redirect("ok/ping", ok + "pong")
    stack.manifests.put_redirect("ok/pong", "./ping#again")
    for url, expected in (
        (itself, ["/doc/ok/loop"]),
        (ok + "ping", ["/doc/ok/ping", "/doc/ok/pong"]),
    ):
        message = assert_error(await post_url(api, url), 400)
        assert "redirected in a loop" in message, message
        assert stack.manifests.log == expected
        stack.manifests.log.clear()
    chain = [stack.manifests.put_redirect(f"ok/hop{i}", f"hop{i + 1}") for i in range(8)]
    message = assert_error(await post_url(api, chain[0]), 400)
    assert "too many redirects" in message, message
    assert stack.manifests.log == [f"/doc/ok/hop{i}" for i in range(6)]
    await assert_nothing_made(stack, kube)


# ---------------------------------------------------------------------- YAML alias bombs

BOMBS = {
    "flat-54KB": flat_bomb(1_000),  # the "51 KB": 78 -> 460 MB peak before the fix
    "flat-62KB": flat_bomb(3_000),  # the "62 KB": 1.6 GB before the fix
    "nested": nested_bomb(),
}


async def test_alias_bombs_are_a_json_400(stack: Stack, api: Any, kube: AsyncClient) -> None:
    for name, text in BOMBS.items():
        url = stack.manifests.put(f"{name}.yaml", text.decode())
        message = assert_error(await post_url(api, url), 400)
        assert "aliases expand it to more than" in message, message
    await assert_nothing_made(stack, kube)
    # sane anchors are fine
    anchored = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: anchored}\nspec:\n  containers:\n"
        "  - &main {name: a, image: LOCALREGISTRY/plain, env: [{name: X, value: '1'}]}\n"
        "  - {<<: *main, name: b}\n"
    )
    name = await create(api, stack.manifests.put("anchored.yaml", anchored), USER)
    assert await watch_create(api, USER, name)


@pytest.mark.parametrize("bomb", ["flat-54KB", "flat-62KB"])
async def test_alias_bombs_keep_the_daemon_process_small(
    stack: Stack, kube: AsyncClient, tmp_path: Any, bomb: str
) -> None:
    """A real daemon process: its peak RSS (VmHWM) grows by less than 20 MB over a bomb."""
    sane = serve(stack, pod_manifest("warmup"))
    url = stack.manifests.put(f"{bomb}.yaml", BOMBS[bomb].decode())
    config, kubeconfig, log = process_files(stack, tmp_path)
    async with serve_process(config, kubeconfig, log) as (process, base), api_of(base) as call:
        # warm up: a creation and a refused manifest run every code path the bomb needs
        reply = await call("/create_pod", {"yaml_url": sane, "user_id": USER, "settings": {}})
        assert reply.status_code == 200, reply.text
        assert_error(await call("/create_pod", {"yaml_url": sane + "x", "user_id": USER}), 400)
        before = peak_rss_kib(process)
        with trio.fail_after(20):
            reply = await call("/create_pod", {"yaml_url": url, "user_id": USER, "settings": {}})
        message = assert_error(reply, 400)
        assert "aliases expand it to more than" in message, message
        after = peak_rss_kib(process)
        print(f"{bomb}: peak RSS {before} KiB before, {after} KiB after")
        assert after - before < 20 * 1024, (before, after)
        assert (await call("/get_pods", {"user_id": USER})).status_code == 200
