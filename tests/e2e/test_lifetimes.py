"""Maximum lifetimes (config ``maxLifetime``, annotation ``sciencedata.dk/max-lifetime``, plugin
``max-lifetime``): a pod past its lifetime is deleted as delete_pod deletes it, with the reason
logged and counted; get_pods shows the deadline (``expires``); the annotation only shortens; an
invalid one is a 400; the deadline counts from creationTimestamp, across restarts.

Lifetimes here are a few seconds: the deletion is real and waited for with deadlines.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_error,
    container,
    create,
    create_ready,
    leftovers,
    listed,
    pod_manifest,
    post_create,
    serve,
    wait_terminating,
    wall_clock_past,
    watch_create,
    watch_delete,
)
from userpods.plugins.lifetime import ANNOTATION

USER = "life@dtu.dk"
OTHER = "long@dtu.dk"


def manifest(name: str, lifetime: str | None = None, *, storage: bool = False) -> dict[str, Any]:
    """A pod that is Ready at once, listening on 22 (an SSH service is made for it); with
    ``storage``, it mounts the user's storage; ``lifetime``: its annotation."""
    main = container("main")
    main["ports"] = [{"containerPort": 22, "protocol": "TCP"}]
    if storage:
        main["volumeMounts"] = [{"name": "sciencedata", "mountPath": "/mnt/sciencedata"}]
    found = pod_manifest(name, main, restart="Never")
    if lifetime is not None:
        found["metadata"]["annotations"] = {ANNOTATION: lifetime}
    return found


async def created_at(kube: AsyncClient, name: str) -> datetime:
    pod = await kube.get(Pod, name)
    stamp = pod.metadata.creationTimestamp if pod.metadata else None
    assert stamp is not None
    return stamp


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expired(text: str, source: str) -> float:
    """``userpods_pods_expired_total{source=...}`` in a /metrics page (0 if absent)."""
    prefix = f'userpods_pods_expired_total{{source="{source}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0][len(prefix) :]) if found else 0.0


async def test_a_pod_past_its_lifetime_is_deleted_with_what_was_made_for_it(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await stack.restart(maxLifetime="4s")
    url = serve(stack, manifest("short", storage=True))
    with caplog.at_level(logging.INFO, logger="userpods.daemon"), trio.fail_after(20):
        name = await create(api, url, USER)
        assert await watch_create(api, USER, name)
        made = await leftovers(kube, USER)
        assert f"Service/{name}-ssh" in made and any(
            m.startswith("PersistentVolume/") for m in made
        )
        deadline = await created_at(kube, name) + timedelta(seconds=4)
        info = (await listed(api, USER))[name]
        assert info["expires"] == stamp(deadline)
        assert info["expires_reason"] == "maximum lifetime 4s (maxLifetime)"
        await wait_terminating(kube, name)
        assert datetime.now(UTC) >= deadline, "deleted before its lifetime passed"
        assert await watch_delete(api, USER, name)  # the deletion flow, cleanup included
    assert await leftovers(kube, USER) == []
    assert await listed(api, USER) == {}
    assert expired((await api("/metrics")).text, "maxLifetime") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert f"deleting pod {name} of {USER}: its maximum lifetime 4s (maxLifetime) has passed" in (
        messages
    ), messages


async def test_the_annotation_shortens_the_lifetime_and_never_lengthens_it(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(maxLifetime="1h")
    with trio.fail_after(20):
        short = await create_ready(api, serve(stack, manifest("short", "3s")), USER)
        longer = await create_ready(api, serve(stack, manifest("longer", "5h")), OTHER)
        plain = await create_ready(api, serve(stack, manifest("plain")), OTHER)
        info = (await listed(api, USER))[short]
        assert info["expires"] == stamp(await created_at(kube, short) + timedelta(seconds=3))
        assert info["expires_reason"] == f"maximum lifetime 3s ({ANNOTATION})"
        others = await listed(api, OTHER)
        for name in (longer, plain):  # 5h is clamped to maxLifetime
            hour = await created_at(kube, name) + timedelta(hours=1)
            assert others[name]["expires"] == stamp(hour), name
            assert others[name]["expires_reason"] == "maximum lifetime 1h (maxLifetime)"
        await wait_terminating(kube, short)
        assert await watch_delete(api, USER, short)
    assert await listed(api, USER) == {}
    assert set(await listed(api, OTHER)) == {longer, plain}  # untouched
    metrics = (await api("/metrics")).text
    assert expired(metrics, "annotation") == 1
    assert expired(metrics, "maxLifetime") == 0


async def test_without_max_lifetime_only_annotated_pods_expire(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    with trio.fail_after(20):
        plain = await create_ready(api, serve(stack, manifest("plain")), USER)
        annotated = await create_ready(api, serve(stack, manifest("annotated", "2h")), USER)
        pods = await listed(api, USER)
        assert (pods[plain]["expires"], pods[plain]["expires_reason"]) == ("", "")
        hours = await created_at(kube, annotated) + timedelta(hours=2)
        assert pods[annotated]["expires"] == stamp(hours)
        assert pods[annotated]["expires_reason"] == f"maximum lifetime 2h ({ANNOTATION})"


@pytest.mark.parametrize("value", ["soon", "0", "0s", "-5m", "", "5 minutes", "1d"])
async def test_an_invalid_annotation_is_refused_before_anything_is_made(
    stack: Stack, api: Any, kube: AsyncClient, value: str
) -> None:
    with trio.fail_after(10):
        reply = await post_create(api, serve(stack, manifest("bad", value)), USER)
        message = assert_error(reply, 400)
    assert ANNOTATION in message, message
    assert [p async for p in kube.list(Pod)] == []


async def test_the_age_counts_from_the_creation_timestamp_across_restarts(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    with trio.fail_after(20):
        name = await create_ready(api, serve(stack, manifest("kept")), USER)
        deadline = await created_at(kube, name) + timedelta(seconds=3)
        # Down past the pod's deadline under the next configuration: the new daemon deletes
        # it at once, as old as Kubernetes says it is (not counted from the daemon's start).
        stack.crash()
        await wall_clock_past(deadline)
        await stack.start(maxLifetime="3s")
        await wait_terminating(kube, name)
        assert await watch_delete(api, USER, name)
    assert await listed(api, USER) == {}
    assert await leftovers(kube, USER) == []
    assert expired((await api("/metrics")).text, "maxLifetime") == 1


async def test_a_restart_with_a_longer_lifetime_keeps_the_age(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    with trio.fail_after(20):
        name = await create_ready(api, serve(stack, manifest("aging")), USER)
        assert (await listed(api, USER))[name]["expires"] == ""
        await stack.restart(maxLifetime="1h")
        hour = await created_at(kube, name) + timedelta(hours=1)
        assert (await listed(api, USER))[name]["expires"] == stamp(hour)
