"""API economy and resilience against the API server: one watch per kind however many pods
are in flight, reads answered from memory, /readyz following the cache's freshness, and
retries that hide a flaky API server from the caller."""

from __future__ import annotations

from typing import Any

import httpx2
import trio
from lightkube import AsyncClient

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    SLOW_READY,
    assert_accounted,
    assert_json,
    container,
    create,
    delete,
    eventually,
    listed,
    pod_manifest,
    serve,
    watch_create,
    watch_delete,
)
from userpods.sim import FaultSettings

# The cache's five kinds, and the Events that creation progress follows.
KINDS = ("pods", "services", "ingresses", "persistentvolumeclaims", "persistentvolumes", "events")
USERS = [f"user{i}@economy.dk" for i in range(5)]


def _open_watches(stack: Stack) -> dict[str, int]:
    snapshot = stack.sim.api.counters.snapshot()
    return {kind: n for kind, n in snapshot["watches"]["open"].items() if n}


def _requests(stack: Stack) -> dict[str, dict[str, int]]:
    requests: dict[str, dict[str, int]] = stack.sim.api.counters.snapshot()["requests"]
    return requests


async def test_one_watch_per_kind(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """Ten creations in flight share the daemon's six watches; waiting for Ready opens none."""
    assert _open_watches(stack) == dict.fromkeys(KINDS, 1)
    stack.sim.api.counters.reset()
    urls = [
        serve(stack, pod_manifest(f"slow{i}", image=SLOW_READY, restart="Never")) for i in range(2)
    ]
    names: list[tuple[str, str]] = []

    async def create_for(user: str, url: str) -> None:
        names.append((user, await create(api, url, user)))

    async with trio.open_nursery() as nursery:
        for user in USERS:
            for url in urls:
                nursery.start_soon(create_for, user, url)
    assert len(stack.daemon.creating) == 10  # all in flight (Ready takes 2 s)
    assert _open_watches(stack) == dict.fromkeys(KINDS, 1)

    async def ready(user: str, name: str) -> None:
        assert await watch_create(api, user, name) is True

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for user, name in names:
                nursery.start_soon(ready, user, name)
    assert _open_watches(stack) == dict.fromkeys(KINDS, 1)
    counters = stack.sim.api.counters.snapshot()
    assert not any(counters["watches"]["started"].values()), counters
    requests = counters["requests"]
    assert "watch" not in requests and "list" not in requests and "get" not in requests, requests
    assert requests["create"]["pods"] == 10
    for user in USERS:
        await assert_accounted(api, kube, user)


async def test_reads_make_no_api_call(stack: Stack, api: Any) -> None:
    """get_pods, get_podip_owner and watch_* of settled pods are answered from memory."""
    pods = {}
    url = serve(stack, pod_manifest("app", restart="Never"))
    for user in USERS[:2]:
        name = await create(api, url, user)
        with trio.fail_after(5):
            assert await watch_create(api, user, name) is True
        pods[user] = (await listed(api, user))[name]
    stack.sim.api.counters.reset()
    for _ in range(20):
        for user, info in pods.items():
            assert list(await listed(api, user)) == [info["pod_name"]]
            owner = await api("/get_podip_owner", params={"ip": info["pod_ip"]})
            assert owner.text == user
            assert await watch_create(api, user, info["pod_name"]) is True
            assert await watch_delete(api, user, "no-such-pod") is True
    assert await listed(api, "nobody@economy.dk") == {}
    requests = _requests(stack)
    assert not {"get", "list", "watch"} & set(requests), requests


async def _readyz(api: Any) -> httpx2.Response:
    reply: httpx2.Response = await api("/readyz")
    return reply


async def test_readyz_follows_freshness(stack: Stack, api: Any) -> None:
    """/readyz turns 503 once the watches have been failing for stale_after (1 s), and 200
    again once the API server answers; /healthz stays 200 throughout."""
    assert (await _readyz(api)).status_code == 200
    # Watch streams take their cut time when they open: restart the daemon under it.
    stack.sim.api.apply_faults(FaultSettings(watch_cut_after=0.2))
    await stack.restart()
    assert (await _readyz(api)).json()["status"] == "ready"

    stack.sim.api.apply_faults(FaultSettings(watch_cut_after=0.2, error_rate=1.0, retry_after=0))

    async def stale() -> bool:
        return (await _readyz(api)).status_code == 503

    with trio.fail_after(5):
        await eventually(stale)
    body = (await _readyz(api)).json()
    assert body["status"] == "stale"
    assert not body["cache"]["Pod"]["fresh"]
    assert (await api("/healthz")).status_code == 200

    stack.sim.api.apply_faults(FaultSettings())

    async def fresh() -> bool:
        return (await _readyz(api)).status_code == 200

    with trio.fail_after(10):
        await eventually(fresh)
    assert (await _readyz(api)).json()["status"] == "ready"


async def test_readyz_holds_while_watches_keep_failing(stack: Stack, api: Any) -> None:
    """Half the watch requests fail and the others are cut every 0.2 s, while lists succeed:
    each failure is followed by a successful list, which proves the API healthy, so /readyz
    stays 200 throughout (its staleness limit is 1 s here). Before, the back-off grew with
    every failure until an event arrived, which quiet kinds (PVs, ingresses) never send, and
    a few failures in a row made the daemon unready."""
    stack.sim.api.apply_faults(FaultSettings(watch_cut_after=0.2))
    await stack.restart()
    stack.sim.api.apply_faults(
        FaultSettings(watch_cut_after=0.2, error_rate=0.5, verbs=["watch"], retry_after=0, seed=8)
    )
    samples: list[int] = []
    with trio.move_on_after(4):
        while True:  # sampling a state over a time window: there is no event to wait on
            samples.append((await _readyz(api)).status_code)
            await trio.sleep(0.05)
    stack.sim.api.apply_faults(FaultSettings())
    restarts = sum(cache.restarts for cache in stack.daemon.cache.kinds)
    assert restarts >= 20, restarts  # the watches did fail, many times
    assert samples and set(samples) == {200}, samples


async def test_retries_hide_a_flaky_api(stack: Stack, api: Any) -> None:
    """Half the creates, patches and deletes fail with 429/500/503: the caller sees none of it."""
    user = USERS[0]
    stack.sim.api.apply_faults(
        FaultSettings(error_rate=0.5, verbs=["create", "patch", "delete"], seed=3, retry_after=0)
    )
    url = serve(stack, pod_manifest("app", restart="Never"))
    name = await create(api, url, user)
    with trio.fail_after(10):
        assert await watch_create(api, user, name) is True
    assert_json(await delete(api, user, name))
    with trio.fail_after(10):
        assert await watch_delete(api, user, name) is True
    assert await listed(api, user) == {}

    calls = stack.daemon.kube.stats.calls
    retried = {
        (verb, outcome): n
        for (verb, outcome), n in calls.items()
        if verb in ("create", "patch", "delete") and outcome in ("429", "500", "503")
    }
    injected = stack.sim.api.counters.snapshot()["injected_errors"]
    assert retried, calls
    assert sum(retried.values()) == sum(injected.values())
    assert calls[("create", "ok")] == 1 and calls[("delete", "ok")] == 1


async def test_a_returning_users_pod_needs_one_write_fewer(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """A user's first pod waits behind the scheduling gate while its storage is made; the next
    finds the storage Bound, is created ungated and costs two writes: create, state ready."""
    user = "returning@economy.dk"
    mounts = [{"name": "sciencedata", "mountPath": "/root/data"}]
    url = serve(stack, pod_manifest("app", {**container("main"), "volumeMounts": mounts}))
    gated: list[bool] = []
    writes: list[dict[str, dict[str, int]]] = []
    for _ in range(2):
        stack.sim.api.counters.reset()
        name = await create(api, url, user)
        steps = assert_json(
            await api("/get_create_pod_progress", {"user_id": user, "pod_name": name})
        )
        gated.append("held until its dependencies exist" in steps[0]["message"])
        with trio.fail_after(5):
            assert await watch_create(api, user, name) is True
        requests = _requests(stack)
        writes.append({verb: requests[verb] for verb in ("create", "patch") if verb in requests})
    assert gated == [True, False]
    assert writes[0]["create"]["persistentvolumeclaims"] == 1, writes
    assert writes[0]["patch"]["pods"] == 2, writes  # the gate released, the state written
    assert writes[1] == {"create": {"pods": 1}, "patch": {"pods": 1}}, writes
    # A claim that is not Bound (here: an operator's claim that does not exist) keeps the gate:
    # let through, the pod would be Unschedulable at once, which fails its creation.
    local = [*mounts, {"name": "local", "mountPath": "/usr/local/software"}]
    url = serve(stack, pod_manifest("two", {**container("main"), "volumeMounts": local}))
    name = await create(api, url, user)
    steps = assert_json(await api("/get_create_pod_progress", {"user_id": user, "pod_name": name}))
    assert "held until its dependencies exist" in steps[0]["message"], steps
    with trio.fail_after(5):
        await watch_create(api, user, name)
    await assert_accounted(api, kube, user)
