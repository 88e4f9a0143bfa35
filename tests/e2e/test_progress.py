"""Creation progress: ``GET /create_pod_progress`` (Server-Sent Events) and ``POST
/get_create_pod_progress`` (the same list as JSON), and get_pods' ``progress``.

The stream is read over real HTTP as a browser's EventSource reads it: ``id:`` and ``data:``
lines, an empty line after each event, comments ignored. A good creation reads accepted ->
scheduled -> image pulled -> container started -> Ready -> its plugin steps -> done; failures end
the stream within seconds with the real reason. Another user's pod and an unknown pod get the
same answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import httpx2
import pytest
import trio

from tests.e2e.conftest import CLUSTER, Stack
from tests.e2e.helpers import (
    SLOW_START,
    assert_json,
    container,
    create,
    get_pods,
    pod_manifest,
    serve,
    watch_create,
)

USER = "progress@dtu.dk"
OTHER = "nosy@dtu.dk"
ANSWER_WITHIN = 8.0  # far below timeoutCreate (15 s): failures end the stream at once


def with_ssh(name: str, image: str | None = None, restart: str = "Never") -> dict[str, Any]:
    """A pod listening on 22, so that the ssh-service step makes something."""
    main = container("main", image) if image else container("main")
    main["ports"] = [{"containerPort": 22, "protocol": "TCP"}]
    return pod_manifest(name, main, restart=restart)


@asynccontextmanager
async def open_stream(
    stack: Stack, user: str, name: str, last_event_id: str | None = None
) -> AsyncIterator[tuple[int, AsyncIterator[tuple[str, dict[str, Any]]]]]:
    """The stream's status and its events (id, data) as they come."""
    # As latin-1 bytes, which is how the server reads a header: a crafted id need not be ASCII.
    headers = {"Last-Event-ID": last_event_id.encode("latin-1")} if last_event_id else {}
    async with (
        httpx2.AsyncClient(timeout=30) as client,
        client.stream(
            "GET",
            stack.url + "/create_pod_progress",
            params={"user_id": user, "pod_name": name},
            headers=headers,
        ) as reply,
    ):

        async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
            ident, data = "", []
            async for line in reply.aiter_lines():
                if line.startswith(":"):
                    continue
                if line.startswith("id: "):
                    ident = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    yield ident, json.loads("\n".join(data))
                    ident, data = "", []

        if reply.status_code == 200:
            assert reply.headers["content-type"].startswith("text/event-stream")
        else:
            await reply.aread()
        async with aclosing(events()) as found:
            yield reply.status_code, found


async def read_stream(
    stack: Stack, user: str, name: str, last_event_id: str | None = None
) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """The stream's status and all its events, read until the server ends it."""
    async with open_stream(stack, user, name, last_event_id) as (status, events):
        return status, [event async for event in events]


async def progress_json(api: Any, user: str, name: str) -> list[dict[str, Any]]:
    found = assert_json(await api("/get_create_pod_progress", {"user_id": user, "pod_name": name}))
    assert isinstance(found, list), found
    return found


def steps_of(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [data["step"] for _, data in events]


def well_formed(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Ids count from 0; every event has a time, step and message; only the last has ready."""
    assert [ident for ident, _ in events] == [str(i) for i in range(len(events))]
    for _, data in events:
        assert {"time", "step", "message"} <= set(data), data
        assert data["time"].endswith("Z"), data
    assert all("ready" not in data for _, data in events[:-1]), events
    assert isinstance(events[-1][1].get("ready"), bool), events


async def test_a_good_creation_reads_in_order_and_ends_ready(stack: Stack, api: Any) -> None:
    name = await create(api, serve(stack, with_ssh("good")), USER)
    with trio.fail_after(20):
        status, events = await read_stream(stack, USER, name)
    assert status == 200
    well_formed(events)
    steps = steps_of(events)
    assert steps[0] == "accepted" and steps[-1] == "done", steps
    assert events[-1][1]["ready"] is True
    order = ["accepted", "scheduled", "container started", "Ready", "done"]
    if not CLUSTER:  # KWOK's stages say Pulling but never Pulled
        order.insert(order.index("container started"), "image pulled")
    if "held until its dependencies exist" in events[0][1]["message"]:
        order.insert(1, "user-storage")  # gated: scheduled only once the storage is there
    else:  # the storage was there: the pod was scheduled at once, beside the step
        assert steps.index("accepted") < steps.index("user-storage") < steps.index("Ready")
    positions = [steps.index(step) for step in order]
    assert positions == sorted(positions), "\n".join(steps)
    after_ready = steps[steps.index("Ready") + 1 : -1]  # the pod_ready steps, in pluggy's order
    assert sorted(after_ready) == ["copy-tokens", "https-ingress", "ssh-service"], steps
    for step in ("scheduled", "container started", "Ready"):
        assert steps.count(step) == 1, steps  # Events and the pod's status did not double it
    scheduled = events[steps.index("scheduled")][1]
    assert scheduled["reason"] == "Scheduled" and scheduled["message"], scheduled
    # Once it has ended: the JSON list is the same log, and a late stream replays it.
    assert await progress_json(api, USER, name) == [data for _, data in events]
    assert await read_stream(stack, USER, name) == (200, events)
    # An EventSource coming back after the last event is told to stop (204), one coming back
    # earlier gets the rest.
    assert await read_stream(stack, USER, name, last_event_id=events[-1][0]) == (204, [])
    assert (await read_stream(stack, USER, name, last_event_id="2"))[1] == events[3:]
    for crafted in ("²", "-1", "1e3", "9" * 40, "x"):  # not an id of ours: from the start
        assert await read_stream(stack, USER, name, last_event_id=crafted) == (200, events)


@pytest.mark.parametrize(
    ("case", "image", "restart", "spec", "reason", "texts"),
    [
        ("pull", "registry.test/does-not-exist:1", "Never", {}, "Err", ("ImagePull",)),
        ("crashloop", "registry.test/crashloop:1", "Always", {}, "CrashLoopBackOff", ("exit",)),
        ("nonode", None, "Never", {"nodeSelector": {"gpu": "h100"}}, "Unschedulable", ("node",)),
    ],
)
async def test_a_failure_ends_the_stream_at_once_with_its_real_reason(
    stack: Stack,
    api: Any,
    case: str,
    image: str | None,
    restart: str,
    spec: dict[str, Any],
    reason: str,
    texts: tuple[str, ...],
) -> None:
    manifest = pod_manifest(case, image=image, restart=restart, **spec)
    name = await create(api, serve(stack, manifest), USER)
    with trio.fail_after(ANSWER_WITHIN):
        status, events = await read_stream(stack, USER, name)
    assert status == 200
    well_formed(events)
    last = events[-1][1]
    assert last["step"] == "failed" and last["ready"] is False, events
    assert reason.lower() in (last["reason"] + last["message"]).lower(), last
    assert all(text.lower() in last["message"].lower() for text in texts), last
    if case == "nonode":  # the scheduler's own words come through as they are
        assert "unschedulable" in steps_of(events), events
    assert await watch_create(api, USER, name) is False


async def test_another_users_pod_and_an_unknown_one_answer_alike(stack: Stack, api: Any) -> None:
    name = await create(api, serve(stack, with_ssh("mine")), USER)
    assert await watch_create(api, USER, name)

    def bare(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in step.items() if k != "time"} for step in found]

    nosy = bare(await progress_json(api, OTHER, name))
    unknown = bare(await progress_json(api, OTHER, "no-such-pod"))
    assert nosy == unknown == [{"step": "failed", "message": nosy[0]["message"], "ready": False}]
    assert name not in nosy[0]["message"] and USER not in nosy[0]["message"]
    status, events = await read_stream(stack, OTHER, name)
    assert status == 200 and bare([data for _, data in events]) == nosy


async def test_get_pods_shows_the_latest_step_while_creating(stack: Stack, api: Any) -> None:
    if CLUSTER:
        pytest.skip("the control-plane tier has no image that never starts")
    name = await create(api, serve(stack, pod_manifest("slow", image=SLOW_START)), USER)
    with trio.fail_after(10):
        async with open_stream(stack, USER, name) as (status, events):
            assert status == 200
            async for _, data in events:
                if data["step"] == "scheduled":
                    break
    (info,) = await get_pods(api, USER)
    assert info["status"] == "Creating" and info["pod_name"] == name, info
    step, _, message = info["progress"].partition(": ")
    assert step in {"scheduled", "pulling image", "image pulled", "user-storage"} and message, info


async def test_get_pods_progress_is_empty_once_ready(stack: Stack, api: Any) -> None:
    name = await create(api, serve(stack, with_ssh("ready")), USER)
    assert await watch_create(api, USER, name)
    (info,) = await get_pods(api, USER)
    assert info["progress"] == "" and info["status"].startswith("Running"), info


async def test_a_restart_keeps_an_answer_for_a_ready_pod(stack: Stack, api: Any) -> None:
    name = await create(api, serve(stack, with_ssh("kept")), USER)
    assert await watch_create(api, USER, name)
    await stack.restart()
    found = await progress_json(api, USER, name)
    assert [(s["step"], s["ready"]) for s in found] == [("done", True)], found


@pytest.mark.parametrize(
    "query",
    [{}, {"user_id": USER}, {"pod_name": "x"}, {"user_id": "", "pod_name": "x"}],
)
async def test_bad_requests_get_a_json_400(stack: Stack, api: Any, query: dict[str, str]) -> None:
    reply = await api("/create_pod_progress", params=query)
    assert reply.status_code == 400 and "error" in reply.json(), reply.text
    reply = await api("/get_create_pod_progress", query)
    assert reply.status_code == 400 and "error" in reply.json(), reply.text
