"""A property-based fuzz suite over every endpoint of the REST API, over real HTTP.

For every request (any method, path, query, headers and body, see tests/e2e/fuzz_strategies.py)
the daemon must answer, within a bound, with no 5xx (no faults are injected, so not even a
503), and every reply that is not a success must be JSON ``{"error": "<message>", ...}``.
After the run the daemon must be healthy: ready, and a normal creation and deletion work.

Design. One stack (manifest server, simulated cluster, daemon: the same pieces as the
``stack`` fixture) runs for the whole module in a background thread with its own trio run;
the tests are plain synchronous ``@given`` tests that send each example as one request (or,
in the flows test, one short sequence) with a raw HTTP client (tests/e2e/rawhttp.py). This
gives hypothesis what it needs to shrink a failure to the smallest request that still fails,
with its usual reporting and example database, which generating a request list inside one
async test would not; and starting a daemon per example would cost seconds each.

The daemon's state carries over between examples (pods made by one request are seen by the
next), which is part of what is tested: a request that fails only after some other one may
shrink less well (hypothesis reports it as flaky), but is still reported.

CI runs a derandomized profile (the same examples every run, no example database), a few
thousand requests. ``USERPODS_FUZZ_SCALE=20`` multiplies the number of examples and draws
fresh random ones (``--hypothesis-seed=N`` to repeat a run), for a longer local run.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import trio
import trio.from_thread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FAST, MANIFESTS
from tests.e2e.conftest import CLUSTER, NAMESPACE, Stack, daemon_settings, grant_daemon_rbac
from tests.e2e.fuzz_strategies import (
    ENDPOINTS,
    FORWARDED_FOR,
    USERS,
    Known,
    Manifest,
    encode_json,
    json_posts,
    requests,
    settings_for,
)
from tests.e2e.helpers import PLAIN, container, pod_manifest
from tests.e2e.manifest_server import serve_manifests
from tests.e2e.rawhttp import RawReply, RawRequest, send
from userpods.daemon.edge import MAX_HEAD, SERVER_HEAD_LIMIT
from userpods.sim import SimOptions, serve_sim

pytestmark = [
    pytest.mark.skipif(bool(CLUSTER), reason="drives the simulated cluster's stack"),
    # The stack's thread uses the random module while hypothesis draws in this one; hypothesis
    # takes that for a strategy using random (and it does not affect what is drawn).
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

SCALE = float(os.environ.get("USERPODS_FUZZ_SCALE", "0") or 0)
SLACK = 10.0  # seconds on top of the longest a request may rightly take: past it, a hang
FUZZ_MANIFEST = pod_manifest("fuzz", container("main", PLAIN, FOO="foo", BAR="bar"))


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of one test: CI's reproducible profile, or a longer random run."""
    common: dict[str, Any] = {
        "deadline": None,  # the bound is checked per request, not per example
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    }
    if SCALE:
        return settings(max_examples=int(examples * SCALE), **common)
    return settings(max_examples=examples, derandomize=True, database=None, **common)


@dataclass
class Target:
    """The running stack, as the tests (in another thread) see it."""

    host: str
    port: int
    known: Known
    timeout_create: float
    timeout_delete: float
    logged: list[logging.LogRecord] = field(default_factory=list)  # daemon tracebacks
    replies: Counter[tuple[str, int]] = field(default_factory=Counter)  # by (path, status)

    def __repr__(self) -> str:  # in hypothesis' report of a failing example
        return f"Target(http://{self.host}:{self.port})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def bound(self, request: RawRequest) -> float:
        """The longest ``request`` may rightly take, plus SLACK."""
        path = unquote(request.path)
        if "clean_all_unused" in path:
            return 3 * self.timeout_delete + SLACK
        if "delete_all_user" in path:
            return 2 * self.timeout_delete + SLACK
        if "watch_" in path:
            return max(self.timeout_create, self.timeout_delete) + SLACK
        return SLACK

    def exchange(self, request: RawRequest) -> RawReply:
        """Send ``request``; the reply, once it passed the checks every reply must pass."""
        reply = send(self.host, self.port, request, self.bound(request))
        path = request.path if len(request.path) < 40 else request.path[:40] + "..."
        self.replies[path, reply.status] += 1
        check_reply(request, reply)
        return reply

    def exchange_freeing_names(self, request: RawRequest) -> RawReply:
        """:meth:`exchange`; when the reply says a user's pod names are all taken (409), the
        users' pods are deleted, so that later creations get past naming again."""
        reply = self.exchange(request)
        if reply.status == 409:
            for user in USERS:
                assert self.post("/delete_all_user", {"user_id": user}) == (200, {"deleted": True})
        return reply

    def post(self, path: str, body: Any, *extra: tuple[bytes, bytes]) -> Any:
        """POST a JSON body as the frontend does; the checked reply's JSON, and its status."""
        headers = ((b"Content-Type", b"application/json"), *extra)
        reply = self.exchange(RawRequest("POST", path.encode(), headers, encode_json(body, True)))
        return reply.status, json.loads(reply.body)


def check_reply(request: RawRequest, reply: RawReply) -> None:
    """What every reply must be, whatever the request was."""
    summary = f"{reply.status} {reply.headers} {reply.body[:500]!r}"
    assert reply.status < 500, summary
    head = len(request.encode("127.0.0.1:65535").partition(b"\r\n\r\n")[0])
    if head > SERVER_HEAD_LIMIT:  # hypercorn's own 431: not buffered, so it has no body
        assert reply.status == 431, summary
        return
    if head > MAX_HEAD + 1024:  # the daemon counts a head a little differently from the wire
        assert reply.status == 431, summary
    if not 200 <= reply.status < 300:
        assert reply.content_type == "application/json", summary
        if reply.status == 405:
            assert reply.headers.get("allow"), summary
        if request.method != "HEAD":
            body = json.loads(reply.body)
            assert isinstance(body, dict), summary
            assert isinstance(body.get("error"), str), summary
            assert body["error"], summary
        return
    if request.method == "HEAD":
        return
    if reply.content_type == "application/json":
        json.loads(reply.body)
    else:
        routed = re.sub("/+", "/", unquote(request.path))  # werkzeug merges slashes
        assert routed in ("/get_podip_owner", "/metrics", "/get_pod_logs"), summary
        assert reply.content_type == "text/plain", summary
        reply.body.decode("utf-8")


class _Tracebacks(logging.Handler):
    """Collects the daemon's ERROR records that carry a traceback: an exception nothing
    expected, even where no reply shows it (a flow in the background)."""

    def __init__(self, found: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.found.append(record)


async def _serve_stack(tmp_path: Path, started: queue.Queue[Any]) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        manifests = await nursery.start(serve_manifests, MANIFESTS)
        sim = await nursery.start(
            serve_sim, SimOptions(namespaces=(NAMESPACE,), pod_cidr="10.128.0.0/15", timings=FAST)
        )
        stack = Stack(
            nursery,
            tmp_path,
            manifests,
            sim,
            daemon_settings(tmp_path, manifests),
            admin_config=sim.kubeconfig(namespace=NAMESPACE),
        )
        stack.daemon_token = grant_daemon_rbac(sim, NAMESPACE)
        await stack.start()
        fuzz = Manifest(
            manifests.put("fuzz.yaml", FUZZ_MANIFEST), "fuzz", (("main", ("FOO", "BAR")),)
        )
        ubuntu = Manifest(
            manifests.manifest("testing-2023", "ubuntu_sciencedata.yaml"),
            "ubuntu",
            (("ubuntu-jammy", ("SSH_PUBLIC_KEY", "USERNAME", "HOME_SERVER")),),
        )
        known = Known(whitelist=manifests.url, manifests=(fuzz, ubuntu))
        address = urlsplit(stack.url)
        assert address.hostname is not None and address.port is not None
        target = Target(
            address.hostname,
            address.port,
            known,
            stack.settings.timeout_create,
            stack.settings.timeout_delete,
        )
        started.put((target, trio.lowlevel.current_trio_token(), stop))
        await stop.wait()
        nursery.cancel_scope.cancel()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    started: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            trio.run(_serve_stack, tmp_path, started)
        except BaseException as exc:  # reported to the fixture, which would wait otherwise
            started.put(exc)

    thread = threading.Thread(target=run, name="fuzz-stack", daemon=True)
    thread.start()
    item = started.get(timeout=60)
    if isinstance(item, BaseException):
        raise item
    found, token, stop = item
    handler = _Tracebacks(found.logged)
    logging.getLogger("userpods").addHandler(handler)
    try:
        yield found
    finally:
        logging.getLogger("userpods").removeHandler(handler)
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the stack did not stop"


# ---------------------------------------------------------------------- the properties


@fuzz_settings(2000)
@given(data=st.data())
def test_any_request_gets_a_json_answer(target: Target, data: st.DataObject) -> None:
    target.exchange_freeing_names(data.draw(requests(target.known), label="request"))


@fuzz_settings(1000)
@given(data=st.data())
def test_any_json_post_gets_a_json_answer(target: Target, data: st.DataObject) -> None:
    target.exchange_freeing_names(data.draw(json_posts(target.known), label="request"))


@fuzz_settings(100)
@given(data=st.data())
def test_well_formed_flows_end_as_they_answered(target: Target, data: st.DataObject) -> None:
    """create_pod -> watch_create_pod -> get_pod_logs -> delete_pod -> watch_delete_pod with
    real users and manifests, fuzzed settings and callers: each reply is consistent with the
    one before."""
    user = data.draw(st.sampled_from(USERS), label="user")
    manifest = data.draw(st.sampled_from(target.known.manifests), label="manifest")
    settings = data.draw(settings_for(manifest), label="settings")
    body = {"user_id": user, "yaml_url": manifest.url, "settings": settings}
    forwarded = data.draw(
        st.one_of(st.just(()), st.sampled_from(FORWARDED_FOR).map(lambda v: (v,))),
        label="X-Forwarded-For",
    )
    extra = tuple((b"X-Forwarded-For", value) for value in forwarded)
    status, created = target.post("/create_pod", body, *extra)
    if status != 200:
        return
    ids = {"user_id": user, "pod_name": created["pod_name"]}
    status, watched = target.post("/watch_create_pod", ids)
    assert status == 200 and set(watched) == {"ready"}, watched
    headers = ((b"Content-Type", b"application/json"),)
    logs = target.exchange(RawRequest("POST", b"/get_pod_logs", headers, encode_json(ids)))
    if watched["ready"]:  # a ready pod's containers have started: they have a log
        assert logs.status == 200, logs
    status, deleted = target.post("/delete_pod", ids)
    assert (status, deleted) in ((200, {"requested": True}), (404, deleted)), deleted
    if status == 404:  # only a failed creation may be gone already
        assert watched == {"ready": False}, deleted
    status, gone = target.post("/watch_delete_pod", ids)
    assert (status, gone) == (200, {"deleted": True})


def test_the_daemon_is_healthy_after_the_fuzzing(target: Target) -> None:
    """Runs last: ready, a normal creation and deletion work, nothing raised unexpectedly."""
    assert target.exchange(RawRequest("GET", b"/readyz")).status == 200
    url = target.known.manifests[0].url
    for user in USERS:
        status, body = target.post("/delete_all_user", {"user_id": user})
        assert (status, body) == (200, {"deleted": True})
    status, body = target.post("/create_pod", {"user_id": USERS[0], "yaml_url": url})
    assert status == 200, body
    ids = {"user_id": USERS[0], "pod_name": body["pod_name"]}
    assert target.post("/watch_create_pod", ids) == (200, {"ready": True})
    assert target.post("/delete_pod", ids) == (200, {"requested": True})
    assert target.post("/watch_delete_pod", ids) == (200, {"deleted": True})
    assert target.post("/get_pods", {"user_id": USERS[0]}) == (200, [])
    status, body = target.post("/clean_all_unused", {})
    assert status == 200 and isinstance(body, dict), body
    tracebacks = [
        f"{r.name}: {r.getMessage()}: {r.exc_info[1]!r}" for r in target.logged if r.exc_info
    ]
    assert tracebacks == []
    by_status = Counter[int]()
    for (_, status), count in target.replies.items():
        by_status[status] += count
    print(f"fuzz: {target.replies.total()} requests, by status: {dict(sorted(by_status.items()))}")
    for (path, status), count in sorted(target.replies.items()):
        if path in ENDPOINTS:
            print(f"  {path} {status}: {count}")
