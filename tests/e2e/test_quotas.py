"""Per-user quotas (config ``quotas``, plugin ``quotas``): a create_pod over a limit is a 429
naming the limit, the usage and the request, before anything is created; concurrent creations
cannot overshoot; refusals are counted on /metrics by limit."""

from __future__ import annotations

from typing import Any

import trio
from lightkube import AsyncClient

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_error,
    cluster_pods,
    container,
    create,
    create_ready,
    delete,
    delete_all,
    pod_manifest,
    post_create,
    serve,
    watch_create,
    watch_delete,
)

USER = "quota@dtu.dk"
BIG = "big@dtu.dk"


def sized(name: str, **requests: str) -> dict[str, Any]:
    """A manifest whose one container requests ``requests`` (and has them as limits)."""
    main = container("main")
    main["resources"] = {"requests": dict(requests), "limits": dict(requests)}
    return pod_manifest(name, main, restart="Never")


def creates(stack: Stack) -> int:
    """How many pod creations the daemon has sent to Kubernetes."""
    calls = stack.daemon.kube.stats.calls
    return sum(n for (verb, _), n in calls.items() if verb == "create")


def refusals(text: str, limit: str) -> float:
    """``userpods_quota_refusals_total{limit=...}`` in a /metrics page (0 if absent)."""
    prefix = f'userpods_quota_refusals_total{{limit="{limit}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0][len(prefix) :]) if found else 0.0


async def test_the_pod_over_the_pod_count_is_refused_and_deleting_one_frees_it(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(
        quotas={"default": {"pods": 2}, "users": {BIG: {"pods": 3}}},
    )
    url = serve(stack, sized("small", cpu="100m"))
    with trio.fail_after(30):
        first = await create_ready(api, url, USER)
        await create_ready(api, url, USER)
        before = creates(stack)
        reply = await post_create(api, url, USER)
        message = assert_error(reply, 429)
        assert reply.json() == {
            "error": message,
            "limit": "pods",
            "allowed": "2",
            "usage": "2",
            "request": "1",
        }
        assert "pods" in message, message
        assert creates(stack) == before, "a refused pod reached Kubernetes"
        assert len(await cluster_pods(kube, USER)) == 2
        # Another user's override: three pods.
        for _ in range(3):
            await create(api, url, BIG)
        assert_error(await post_create(api, url, BIG), 429)
        # A deleted pod no longer counts once it is gone.
        assert (await delete(api, USER, first)).status_code == 200
        assert await watch_delete(api, USER, first)
        await create_ready(api, url, USER)
        metrics = (await api("/metrics")).text
        assert refusals(metrics, "pods") == 2
        assert await delete_all(api, USER)
        assert await delete_all(api, BIG)


async def test_a_pod_over_the_cpu_or_gpu_quota_is_refused(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(
        quotas={
            "default": {
                "requests.cpu": "1500m",
                "limits.memory": "1Gi",
                "nvidia.com/gpu": 1,
            }
        },
    )
    small = serve(stack, sized("small", cpu="1", memory="256Mi"))
    large = serve(stack, sized("large", cpu="600m", memory="256Mi"))
    gpus = serve(stack, sized("gpus", **{"nvidia.com/gpu": "2", "memory": "1Mi"}))
    unbounded = serve(stack, pod_manifest("unbounded", container("main"), restart="Never"))
    with trio.fail_after(30):
        await create_ready(api, small, USER)
        before = creates(stack)
        reply = await post_create(api, large, USER)
        assert_error(reply, 429)
        body = reply.json()
        assert (body["limit"], body["allowed"], body["usage"], body["request"]) == (
            "requests.cpu",
            "1500m",
            "1",
            "600m",
        )
        reply = await post_create(api, gpus, USER)
        assert_error(reply, 429)
        assert reply.json()["limit"] == "requests.nvidia.com/gpu"
        assert (reply.json()["usage"], reply.json()["request"]) == ("0", "2")
        # limits.memory is bounded: a container without a memory limit cannot be admitted.
        message = assert_error(await post_create(api, unbounded, USER), 400)
        assert "limits.memory" in message and "main" in message, message
        assert creates(stack) == before
        assert len(await cluster_pods(kube, USER)) == 1
        metrics = (await api("/metrics")).text
        assert refusals(metrics, "requests.cpu") == 1
        assert refusals(metrics, "requests.nvidia.com/gpu") == 1
        assert refusals(metrics, "limits.memory") == 1
        assert await delete_all(api, USER)


async def test_twenty_concurrent_creations_do_not_overshoot(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """requests.cpu 2 with pods of 500m: exactly 4 of 20 concurrent creations are created, the
    16 others get a 429 for requests.cpu; none gets a 409 (4 names of the 10 are used)."""
    await stack.restart(quotas={"default": {"pods": 6, "requests.cpu": "2"}})
    url = serve(stack, sized("half", cpu="500m"))
    statuses: list[int] = []
    names: list[str] = []

    async def one() -> None:
        reply = await post_create(api, url, USER)
        statuses.append(reply.status_code)
        if reply.status_code == 200:
            names.append(reply.json()["pod_name"])
        else:
            assert_error(reply, 429)
            assert reply.json()["limit"] == "requests.cpu", reply.json()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(one)
        assert sorted(statuses) == [200] * 4 + [429] * 16, statuses
        assert sorted(await cluster_pods(kube, USER)) == sorted(names)
        for name in names:
            assert await watch_create(api, USER, name)
        metrics = (await api("/metrics")).text
        assert refusals(metrics, "requests.cpu") == 16
        assert await delete_all(api, USER)
