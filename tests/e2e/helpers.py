"""Helpers of the end-to-end tests: manifests, calls to the daemon's API that check the reply's
shape, look-ups in the cluster, the "nothing left behind" checks, and waiting.

``api`` is the conftest fixture (``await api(path, json)``) or any callable like it; ``kube``
is an admin client of the cluster. Images of the manifests built here (see tests/e2e/conftest.py
and src/userpods/sim/images.yaml): ``PLAIN`` runs and is Ready at once (in no catalogue),
``SLOW_START`` never starts, ``SLOW_READY`` is Ready after 2 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import httpx2
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.types import PatchType

from tests.e2e.conftest import Stack
from userpods import naming
from userpods.daemon import podstate

PLAIN = "example/plain"
SLOW_START = "example/slow-start"
SLOW_READY = "example/slow-ready"
TESTING = "testing-2023"  # the era of tests/data manifests most tests use
HOLD = "test.example/hold"  # a finalizer that keeps a deleted pod Terminating
PODINFO_FIELDS = {
    "pod_name",
    "container_name",
    "image_name",
    "pod_ip",
    "node_ip",
    "owner",
    "age",
    "status",
    "url",
    "ssh_url",
    "tokens",
    "k8s_pod_info",
}

# ---------------------------------------------------------------------- manifests


def container(name: str, image: str = PLAIN, **env: str | dict[str, Any]) -> dict[str, Any]:
    """A container entry; each ``env`` item is a value (str) or a ``valueFrom`` source (dict)."""
    found: dict[str, Any] = {"name": name, "image": image}
    if env:
        found["env"] = [
            {"name": key, "value": value}
            if isinstance(value, str)
            else {"name": key, "valueFrom": value}
            for key, value in env.items()
        ]
    return found


def pod_manifest(
    name: str,
    *containers: dict[str, Any],
    image: str | None = None,
    restart: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A v1 Pod manifest: ``containers``, or one ``main`` container running ``image`` (PLAIN by
    default); ``restart`` is its restartPolicy (none by default: the daemon's default fills it);
    ``spec`` holds further fields of its spec."""
    assert not (containers and image), "give containers or an image, not both"
    if restart is not None:
        spec["restartPolicy"] = restart
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": list(containers) or [container("main", image or PLAIN)], **spec},
    }


def manifest_url(stack: Stack, file: str, era: str = TESTING) -> str:
    """The URL of a real manifest (tests/data/manifests/``era``/``file``)."""
    return stack.manifests.manifest(era, file)


def serve(stack: Stack, manifest: dict[str, Any]) -> str:
    """Serve ``manifest`` as ``<its name>.yaml``; its URL."""
    return stack.manifests.put(f"{manifest['metadata']['name']}.yaml", manifest)


def base_name(manifest_name: str, user: str) -> str:
    """The name the daemon gives ``user``'s first pod of the manifest named ``manifest_name``."""
    return naming.pod_name_candidates(manifest_name, user)[0]


# ---------------------------------------------------------------------- replies and API calls


def assert_json(reply: httpx2.Response) -> Any:
    """``reply`` is a 200 with a JSON body; returns the body."""
    assert reply.status_code == 200, (reply.status_code, reply.text)
    assert reply.headers["content-type"].split(";")[0].strip() == "application/json"
    return reply.json()


def assert_error(reply: httpx2.Response, status: int) -> str:
    """``reply`` is a JSON ``{"error": "..."}`` with ``status``; returns the message."""
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert reply.headers["content-type"].split(";")[0].strip() == "application/json", reply.headers
    body = reply.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body["error"], body
    return str(body["error"])


def _flag(reply: httpx2.Response, key: str) -> bool:
    """The one boolean field ``key`` of a 200 JSON reply that has no other field."""
    found = assert_json(reply)
    assert set(found) == {key} and isinstance(found[key], bool), found
    return bool(found[key])


async def post_create(
    api: Any, url: str, user: str, settings: dict[str, Any] | None = None, **kwargs: Any
) -> httpx2.Response:
    """Ask the daemon to create a pod of the manifest at ``url`` for ``user``; the reply as is."""
    body = {"yaml_url": url, "user_id": user, "settings": settings or {}}
    reply: httpx2.Response = await api("/create_pod", body, **kwargs)
    return reply


async def create(
    api: Any, url: str, user: str, settings: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    """Create a pod (the reply must be a 200 ``{"pod_name": ...}``); its name."""
    found = assert_json(await post_create(api, url, user, settings, **kwargs))
    assert set(found) == {"pod_name"}, found
    return str(found["pod_name"])


async def create_ready(api: Any, url: str, user: str, **kwargs: Any) -> str:
    """Create a pod and wait until it is Ready; its name."""
    name = await create(api, url, user, **kwargs)
    assert await watch_create(api, user, name)
    return name


async def watch_create(api: Any, user: str, name: str) -> bool:
    """Long-poll until the creation ends: whether the pod is Ready."""
    return _flag(await api("/watch_create_pod", {"user_id": user, "pod_name": name}), "ready")


async def watch_delete(api: Any, user: str, name: str) -> bool:
    """Long-poll until the deletion ends: whether the pod is gone."""
    return _flag(await api("/watch_delete_pod", {"user_id": user, "pod_name": name}), "deleted")


async def delete(api: Any, user: str, name: str) -> httpx2.Response:
    """Ask the daemon to delete a pod; the reply as is."""
    reply: httpx2.Response = await api("/delete_pod", {"user_id": user, "pod_name": name})
    return reply


async def delete_all(api: Any, user: str) -> bool:
    """delete_all_user: whether all of ``user``'s pods are gone."""
    return _flag(await api("/delete_all_user", {"user_id": user}), "deleted")


async def get_pods(api: Any, user: str) -> list[dict[str, Any]]:
    """get_pods of ``user``: a list of pod infos, each with at least the PODINFO_FIELDS."""
    pods = assert_json(await api("/get_pods", {"user_id": user}))
    assert isinstance(pods, list), pods
    for info in pods:
        assert set(info) >= PODINFO_FIELDS, info  # later issues may add fields
    return pods


async def listed(api: Any, user: str) -> dict[str, dict[str, Any]]:
    """get_pods of ``user``, by pod name."""
    return {info["pod_name"]: info for info in await get_pods(api, user)}


# ---------------------------------------------------------------------- the cluster


async def names_of(kube: AsyncClient, kind: Any, **kwargs: Any) -> list[str]:
    """The sorted names of the objects of ``kind`` (``kwargs`` as for ``kube.list``)."""
    return sorted([o.metadata.name async for o in kube.list(kind, **kwargs)])


async def vanishes(kube: AsyncClient, kind: Any, name: str, within: float = 15.0) -> bool:
    """Whether ``name`` is gone within ``within`` seconds. An object whose deletion was accepted
    may stay a while as Terminating, waiting for a controller (a PV's pv-protection finalizer
    goes once its claim is gone: at once in the simulated cluster, in a real one's own time)."""

    async def absent() -> bool:
        return name not in await names_of(kube, kind)

    with trio.move_on_after(within):
        await eventually(absent)
        return True
    return False


async def cluster_pods(kube: AsyncClient, user: str) -> dict[str, Pod]:
    """The pods of ``user`` that exist in the cluster (Terminating ones included), by name."""
    return {podstate.name_of(p): p async for p in kube.list(Pod) if podstate.owner(p) == user}


async def leftovers(kube: AsyncClient, user: str | None = None) -> list[str]:
    """``Kind/name`` of every pod, service, ingress, PVC and PV the daemon made (for ``user``,
    or for anyone), by the owner annotation it puts on all of them."""
    found = []
    for kind in (Pod, Service, Ingress, PersistentVolumeClaim, PersistentVolume):
        async for obj in kube.list(kind):
            notes = (obj.metadata.annotations or {}) if obj.metadata else {}
            owner = notes.get(naming.ANNOTATION_OWNER)
            if owner is not None and (user is None or owner == user):
                found.append(f"{kind.__name__}/{obj.metadata.name if obj.metadata else ''}")
    return found


async def orphans(kube: AsyncClient) -> list[str]:
    """``Kind/name`` of every service and ingress made for a pod (an ownerReference to it) that
    no longer exists."""
    uids = {p.metadata.uid async for p in kube.list(Pod) if p.metadata}
    found = []
    for kind in (Service, Ingress):
        async for obj in kube.list(kind):
            for ref in obj.metadata.ownerReferences or []:
                if ref.kind == "Pod" and ref.uid not in uids:
                    found.append(f"{kind.__name__}/{obj.metadata.name}")
    return found


def env_of(pod: Pod) -> dict[str, dict[str, str | None]]:
    """Each container's env as {name: value} (None for a valueFrom entry). An empty value is
    "": a real apiserver stores `value: ""` as no value at all (omitempty)."""
    assert pod.spec is not None
    return {
        c.name: {e.name: e.value if e.value is not None or e.valueFrom else "" for e in c.env or []}
        for c in pod.spec.containers
    }


async def hold(kube: AsyncClient, name: str) -> None:
    """Put the HOLD finalizer on pod ``name``: deleted, it stays Terminating until released."""
    patch = {"metadata": {"finalizers": [HOLD]}}
    await kube.patch(Pod, name, patch, patch_type=PatchType.MERGE)


async def release(kube: AsyncClient, name: str) -> None:
    """Take the finalizers off pod ``name`` (as the controller behind one would)."""
    patch = {"metadata": {"finalizers": None}}
    await kube.patch(Pod, name, patch, patch_type=PatchType.MERGE)


# ---------------------------------------------------------------------- nothing left behind


async def assert_nothing_made(stack: Stack, kube: AsyncClient) -> None:
    """Nothing (half-)made: no pod at all, nothing the daemon made for one, and no creation or
    deletion in flight. For tests after which no pod should exist."""
    assert await names_of(kube, Pod) == []
    assert await leftovers(kube) == []
    assert stack.daemon.creating == {}
    assert stack.daemon.deleting == {}


async def assert_accounted(api: Any, kube: AsyncClient, user: str) -> None:
    """Nothing orphaned, while pods may exist: get_pods lists exactly ``user``'s pods in the
    cluster, and every object made for a pod belongs to a pod that still exists."""
    pods = await cluster_pods(kube, user)
    assert set(await listed(api, user)) == set(pods)
    assert await orphans(kube) == []


async def assert_none_left(api: Any, kube: AsyncClient, user: str) -> None:
    """Nothing of ``user`` is left, after its pods were deleted: no pod in the cluster, none in
    get_pods, nothing orphaned."""
    assert await cluster_pods(kube, user) == {}
    assert await listed(api, user) == {}
    await assert_accounted(api, kube, user)


# ---------------------------------------------------------------------- waiting


async def wait_pod(
    kube: AsyncClient, name: str, predicate: Callable[[str, Pod], bool]
) -> tuple[str, Pod]:
    """The first watch event (type, pod) of pod ``name`` that satisfies ``predicate``; the
    caller bounds the time."""
    async with aclosing(kube.watch(Pod, fields={"metadata.name": name})) as events:
        async for kind, pod in events:
            if predicate(kind, pod):
                return kind, pod
    raise AssertionError(f"the watch of pod {name} ended")


async def wait_terminating(kube: AsyncClient, name: str) -> Pod:
    """Pod ``name`` once it has a deletionTimestamp; the caller bounds the time."""
    _, pod = await wait_pod(kube, name, lambda _, p: p.metadata.deletionTimestamp is not None)
    return pod


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
