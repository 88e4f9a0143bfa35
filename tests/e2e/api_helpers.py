"""Helpers for the REST API end-to-end tests (test_api, test_requests, test_ownership).

Images of served manifests: ``example/plain`` runs and is Ready at once (not in any
catalogue), ``example/slow-start`` never starts, ``example/slow-ready`` is Ready after 2 s
(see tests/e2e/conftest.py and src/userpods/sim/images.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, Service
from lightkube.resources.networking_v1 import Ingress

from tests.e2e.conftest import Stack
from userpods import naming

PLAIN = "example/plain"
SLOW_START = "example/slow-start"
SLOW_READY = "example/slow-ready"
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


def container(name: str, image: str = PLAIN, **env: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "image": image}
    if env:
        found["env"] = [{"name": key, "value": value} for key, value in env.items()]
    return found


def pod_manifest(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A v1 Pod manifest (one ``main`` container running ``example/plain`` by default)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": list(containers) or [container("main")], **spec},
    }


def assert_error(reply: httpx2.Response, status: int) -> str:
    """``reply`` is a JSON ``{"error": "..."}`` with ``status``; returns the message."""
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert reply.headers["content-type"].split(";")[0].strip() == "application/json", reply.headers
    body = reply.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body["error"], body
    return str(body["error"])


def assert_json(reply: httpx2.Response) -> Any:
    assert reply.status_code == 200, (reply.status_code, reply.text)
    assert reply.headers["content-type"].split(";")[0].strip() == "application/json"
    return reply.json()


async def create(
    api: Any, url: str, user: str, settings: dict[str, Any] | None = None, **kwargs: Any
) -> str:
    body = {"yaml_url": url, "user_id": user, "settings": settings or {}}
    reply = await api("/create_pod", body, **kwargs)
    found = assert_json(reply)
    assert set(found) == {"pod_name"}, found
    return str(found["pod_name"])


async def create_ready(api: Any, url: str, user: str, **kwargs: Any) -> str:
    name = await create(api, url, user, **kwargs)
    assert await watch_create(api, user, name)
    return name


async def watch_create(api: Any, user: str, name: str) -> bool:
    found = assert_json(await api("/watch_create_pod", {"user_id": user, "pod_name": name}))
    assert set(found) == {"ready"} and isinstance(found["ready"], bool), found
    return bool(found["ready"])


async def watch_delete(api: Any, user: str, name: str) -> bool:
    found = assert_json(await api("/watch_delete_pod", {"user_id": user, "pod_name": name}))
    assert set(found) == {"deleted"} and isinstance(found["deleted"], bool), found
    return bool(found["deleted"])


async def delete(api: Any, user: str, name: str) -> httpx2.Response:
    reply: httpx2.Response = await api("/delete_pod", {"user_id": user, "pod_name": name})
    return reply


async def delete_all(api: Any, user: str) -> bool:
    found = assert_json(await api("/delete_all_user", {"user_id": user}))
    assert set(found) == {"deleted"}, found
    return bool(found["deleted"])


async def get_pods(api: Any, user: str) -> list[dict[str, Any]]:
    pods = assert_json(await api("/get_pods", {"user_id": user}))
    assert isinstance(pods, list), pods
    for info in pods:
        assert set(info) >= PODINFO_FIELDS, info  # later issues may add fields
    return pods


async def pod_names(api: Any, user: str) -> set[str]:
    return {info["pod_name"] for info in await get_pods(api, user)}


async def cluster_pods(kube: AsyncClient) -> list[Pod]:
    return [pod async for pod in kube.list(Pod)]


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


async def assert_nothing_made(stack: Stack, kube: AsyncClient) -> None:
    """No pod, nothing made for one, no creation or deletion in flight: nothing (half-)made."""
    assert [p.metadata.name for p in await cluster_pods(kube) if p.metadata] == []
    assert await leftovers(kube) == []
    assert stack.daemon.creating == {}
    assert stack.daemon.deleting == {}


def env_of(pod: Pod) -> dict[str, dict[str, str | None]]:
    """Each container's env as {name: value} (None for a valueFrom entry)."""
    assert pod.spec is not None
    return {c.name: {e.name: e.value for e in c.env or []} for c in pod.spec.containers}


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


def base_name(manifest_name: str, user: str) -> str:
    return naming.pod_name_candidates(manifest_name, user)[0]
