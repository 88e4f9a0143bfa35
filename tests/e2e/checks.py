"""Helpers of the resilience tests (fail-fast, restart, economy): manifests that run the
simulated images, calls that assert a 200, and the "nothing is orphaned" check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.networking_v1 import Ingress

from tests.e2e.conftest import Stack
from userpods.daemon import podstate


def pod_doc(
    name: str,
    image: str,
    *,
    restart: str = "Never",
    container: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-container pod manifest running ``image`` (see the sim's image catalogue)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "main", "image": image, **(container or {})}],
            "restartPolicy": restart,
            **(spec or {}),
        },
    }


async def create(stack: Stack, api: Any, user: str, doc: dict[str, Any]) -> str:
    """Serve ``doc``, ask the daemon to create it for ``user``; the pod's name."""
    url = stack.manifests.put(f"{doc['metadata']['name']}.yaml", doc)
    reply = await api("/create_pod", {"yaml_url": url, "user_id": user, "settings": {}})
    assert reply.status_code == 200, reply.text
    name: str = reply.json()["pod_name"]
    return name


async def watch_create(api: Any, user: str, name: str) -> bool:
    reply = await api("/watch_create_pod", {"user_id": user, "pod_name": name})
    assert reply.status_code == 200, reply.text
    ready: bool = reply.json()["ready"]
    return ready


async def watch_delete(api: Any, user: str, name: str) -> bool:
    reply = await api("/watch_delete_pod", {"user_id": user, "pod_name": name})
    assert reply.status_code == 200, reply.text
    deleted: bool = reply.json()["deleted"]
    return deleted


async def listed(api: Any, user: str) -> dict[str, dict[str, Any]]:
    """get_pods of ``user``, by pod name."""
    reply = await api("/get_pods", {"user_id": user})
    assert reply.status_code == 200, reply.text
    return {info["pod_name"]: info for info in reply.json()}


async def cluster_pods(kube: AsyncClient, user: str) -> dict[str, Pod]:
    """The pods of ``user`` that exist in the cluster (Terminating ones included)."""
    return {podstate.name_of(p): p async for p in kube.list(Pod) if podstate.owner(p) == user}


async def assert_accounted(api: Any, kube: AsyncClient, user: str) -> None:
    """Nothing is orphaned: get_pods lists exactly the user's pods in the cluster, and every
    object made for a pod (an ownerReference to it) belongs to a pod that still exists."""
    pods = await cluster_pods(kube, user)
    assert set(await listed(api, user)) == set(pods)
    uids = {p.metadata.uid for p in [q async for q in kube.list(Pod)] if p.metadata}
    made: list[Any] = [s async for s in kube.list(Service)]
    made += [i async for i in kube.list(Ingress)]
    for obj in made:
        for ref in obj.metadata.ownerReferences or []:
            if ref.kind == "Pod":
                assert ref.uid in uids, f"{type(obj).__name__} {obj.metadata.name} is orphaned"


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check()`` holds, for a condition that nothing signals (one that turns
    with time, such as staleness): it is re-checked every 50 ms. The caller sets the deadline."""
    while True:
        if await check():
            return
        await trio.sleep(0.05)


async def wall_clock_past(moment: datetime) -> None:
    """Let the wall clock pass ``moment`` (a deadline annotation, while no daemon runs: there
    is nothing else to wait on)."""
    while True:
        remaining = (moment - datetime.now(UTC)).total_seconds()
        if remaining < 0:
            return
        await trio.sleep(remaining + 0.01)
