"""get_pod_logs: the frontend's log download (ajax/getLogs.php calls it with the user id and pod
name). A container's log as text, at most logMaxBytes (the newest kept), only for the caller's
own pods, one pods/log call per accepted request and none for a refused one."""

from __future__ import annotations

from typing import Any

import trio
from lightkube import AsyncClient

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    SLOW_START,
    assert_error,
    container,
    create,
    create_ready,
    manifest_url,
    pod_manifest,
    serve,
)

USER, OTHER = "logs@dtu.dk", "other@dtu.dk"
CHATTY = "example/chatty"  # logs 100 lines (tests/e2e/conftest.py)


def _log_calls(stack: Stack) -> int:
    requests = stack.sim.api.counters.snapshot()["requests"]
    return int(requests.get("get", {}).get("pods/log", 0))


async def test_the_log_of_ones_own_pod(stack: Stack, api: Any) -> None:
    with trio.fail_after(20):
        name = await create_ready(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    before = _log_calls(stack)
    reply = await api("/get_pod_logs", {"user_id": USER, "pod_name": name})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    assert "sshd: Server listening" in reply.text  # what the catalogue's ubuntu image logs
    query = f"/get_pod_logs?user_id={USER}&pod_name={name}&tail_lines=1"
    again = await api(query)
    assert again.status_code == 200 and again.text.count("\n") <= 1, again.text
    assert _log_calls(stack) == before + 2  # one call per request


async def test_refusals_reveal_nothing_and_cost_no_call(stack: Stack, api: Any) -> None:
    with trio.fail_after(20):
        name = await create_ready(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    before = _log_calls(stack)
    theirs = assert_error(await api("/get_pod_logs", {"user_id": OTHER, "pod_name": name}), 404)
    nobody = assert_error(await api("/get_pod_logs", {"user_id": OTHER, "pod_name": "nope"}), 404)
    assert theirs == f"pod {name} not found" and nobody == "pod nope not found"
    for body in (
        {"user_id": USER, "pod_name": name, "container": "nope"},
        {"user_id": USER, "pod_name": name, "tail_lines": -1},
        {"user_id": USER, "pod_name": name, "tail_lines": "many"},
        {"user_id": USER, "pod_name": name, "container": ["x"]},
        {"user_id": "Not A User", "pod_name": name},
        {"user_id": USER},
    ):
        assert_error(await api("/get_pod_logs", body), 400)
    assert_error(await api("/get_pod_logs"), 400)  # no body, no query
    assert _log_calls(stack) == before


async def test_a_long_log_keeps_its_newest_bytes(stack: Stack, api: Any, kube: AsyncClient) -> None:
    await stack.restart(logMaxBytes="64")
    url = serve(stack, pod_manifest("chatty", container("main", CHATTY), restart="Never"))
    with trio.fail_after(20):
        name = await create_ready(api, url, USER)
    full = "".join([line async for line in kube.log(name)])
    assert len(full) > 1000
    reply = await api("/get_pod_logs", {"user_id": USER, "pod_name": name})
    assert reply.status_code == 200, reply.text
    note, _, rest = reply.text.partition("\n")
    assert note == "[... older lines left out: the log is longer than 64 bytes]"
    assert rest == full[-64:]


async def test_a_container_that_has_not_started(stack: Stack, api: Any) -> None:
    url = serve(stack, pod_manifest("waits", container("main", SLOW_START), restart="Never"))
    name = await create(api, url, USER)
    message = assert_error(await api("/get_pod_logs", {"user_id": USER, "pod_name": name}), 400)
    assert "waiting to start" in message or "not started" in message, message
