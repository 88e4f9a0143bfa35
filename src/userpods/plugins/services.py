"""Making and removing the services and ingresses that belong to a pod.

They carry an owner reference to the pod, so Kubernetes removes them with it even while the
daemon is down; ``createdForPod`` names the pod, as the original labelled them. An object of
the same name left by an earlier pod (another uid) is removed before the new one is made.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from lightkube import ApiError
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.networking_v1 import Ingress

from userpods.hooks import Context, PodContext

from .common import (
    LABEL_CREATED_FOR_POD,
    made_for,
    owned_meta,
    owner_uid,
    pod_selector,
)

log = logging.getLogger(__name__)


async def _ensure(ctx: Context, cache: Any, kind: type[Any], pod: Pod, obj: Any) -> Any:
    name = obj.metadata.name
    existing = cache.get(name)
    if existing is not None and made_for(existing, pod):
        return existing
    if existing is not None:
        log.info("removing %s %s left by an earlier pod", kind.__name__, name)
        uid = existing.metadata.uid
        await ctx.kube.delete(kind, name, uid=uid)
        await cache.wait_for(name, lambda o: o is None or o.metadata.uid != uid)
    try:
        created = await ctx.kube.create(obj)
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        created = await ctx.kube.get(kind, name)  # made on an attempt whose reply was lost
        if created is None or not made_for(created, pod):
            raise
    cache.observe(created)
    return created


async def ensure_service(
    ctx: PodContext, pod: Pod, name: str, type_: str, port_name: str, port: int
) -> Service:
    """A service ``name`` of ``type_`` that sends ``port`` (TCP) to the same port of ``pod``."""
    service = Service(
        metadata=owned_meta(pod, name, ctx),
        spec=ServiceSpec(
            type=type_,
            selector=pod_selector(pod),
            ports=[ServicePort(name=port_name, port=port, targetPort=port, protocol="TCP")],
        ),
    )
    made: Service = await _ensure(ctx, ctx.cache.services, Service, pod, service)
    return made


async def ensure_ingress(ctx: Context, pod: Pod, ingress: Ingress) -> Ingress:
    made: Ingress = await _ensure(ctx, ctx.cache.ingresses, Ingress, pod, ingress)
    return made


async def remove_orphans(
    ctx: Context, kind: type[Any], removed: list[str], suffix: str = ""
) -> None:
    """Delete objects of ``kind`` (named ``*<suffix>``) made for pods that no longer exist;
    their ``Kind/name`` goes to ``removed``."""
    for obj in _made_for_gone_pods(ctx, kind, suffix):
        meta = obj.metadata
        made_by = "the daemon" if owner_uid(obj) else "the original"
        log.info("removing %s %s made by %s: its pod is gone", kind.__name__, meta.name, made_by)
        if await ctx.kube.delete(kind, meta.name or "", uid=meta.uid):
            removed.append(f"{kind.__name__}/{meta.name}")


def _made_for_gone_pods(
    ctx: Context, kind: type[Any], suffix: str, pod_name: str = ""
) -> list[Any]:
    """The objects of ``kind`` (named ``*<suffix>``; made for ``pod_name``, if given) whose pod
    no longer exists: by owner reference, or by ``createdForPod`` for the original's."""
    cache = _cache_of(ctx, kind)
    pods = ctx.cache.pods
    found = []
    for obj in cache.indexed("pod", pod_name) if pod_name else cache.values():
        meta = obj.metadata
        labels = (meta.labels or {}) if meta else {}
        if meta is None or LABEL_CREATED_FOR_POD not in labels or meta.deletionTimestamp:
            continue
        if not (meta.name or "").endswith(suffix):
            continue
        if pod_name and labels[LABEL_CREATED_FOR_POD] != pod_name:
            continue
        uid = owner_uid(obj)
        if (uid and pods.indexed("uid", uid)) or (
            not uid and pods.get(labels[LABEL_CREATED_FOR_POD])
        ):
            continue
        found.append(obj)
    return found


def _cache_of(ctx: Context, kind: type[Any]) -> Any:
    return ctx.cache.services if kind is Service else ctx.cache.ingresses


# How long the deletion flow lets the garbage collector remove a gone pod's own objects
# before it deletes them itself (seconds). A real collector takes a moment, more under load.
GC_PATIENCE = 5.0


async def remove_for_gone_pod(ctx: PodContext, kind: type[Any], suffix: str = "") -> None:
    """Make sure nothing of ``kind`` (named ``*<suffix>``) made for the pod that is gone stays,
    so that a pod reported gone has left nothing behind and its name is free for a new pod.

    The original's objects carry only a ``createdForPod`` label, no owner reference: they are
    deleted. The daemon's own are the garbage collector's (their owner reference is to the
    pod): they are waited for, and deleted only if the collector has not removed them within
    ``GC_PATIENCE`` (a cluster whose collector is slow or stopped)."""
    cache = _cache_of(ctx, kind)
    mine = []
    for obj in _made_for_gone_pods(ctx, kind, suffix, ctx.pod_name):
        name, uid = obj.metadata.name, obj.metadata.uid
        if owner_uid(obj):
            mine.append((name, uid))
            continue
        log.info("removing %s %s made by the original for %s", kind.__name__, name, ctx.pod_name)
        await ctx.kube.delete(kind, name, uid=uid)
    with trio.move_on_after(GC_PATIENCE):
        for name, uid in mine:
            await cache.wait_for(name, lambda o, uid=uid: o is None or o.metadata.uid != uid)
    for name, uid in mine:
        current = cache.get(name)
        if current is not None and current.metadata.uid == uid:
            log.info("removing %s %s: the garbage collector has not", kind.__name__, name)
            await ctx.kube.delete(kind, name, uid=uid)
