"""Making and removing the services and ingresses that belong to a pod.

They carry an owner reference to the pod, so Kubernetes removes them with it even while the
daemon is down; ``createdForPod`` names the pod, as the original labelled them. An object of
the same name left by an earlier pod (another uid) is removed before the new one is made.
"""

from __future__ import annotations

import logging
from typing import Any

from lightkube import ApiError
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.networking_v1 import Ingress

from userpods.hooks import Context, PodContext

from .common import (
    LABEL_CREATED_FOR_POD,
    adopted_for,
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
    cache = ctx.cache.services if kind is Service else ctx.cache.ingresses
    live = {p.metadata.uid for p in ctx.cache.pods.values() if p.metadata}
    for obj in cache.values():
        meta = obj.metadata
        labels = (meta.labels or {}) if meta else {}
        if meta is None or LABEL_CREATED_FOR_POD not in labels or meta.deletionTimestamp:
            continue
        if not (meta.name or "").endswith(suffix):
            continue
        uid = owner_uid(obj)
        if uid in live or (not uid and ctx.cache.pods.get(labels[LABEL_CREATED_FOR_POD])):
            continue
        log.info("removing %s %s: its pod is gone", kind.__name__, meta.name)
        if await ctx.kube.delete(kind, meta.name or "", uid=meta.uid):
            removed.append(f"{kind.__name__}/{meta.name}")


async def remove_adopted(ctx: PodContext, kind: type[Any], suffix: str = "") -> None:
    """Delete the objects of ``kind`` (named ``*<suffix>``) that the original backend made for
    the pod that is gone: they carry only its ``createdForPod`` label, no owner reference."""
    cache = ctx.cache.services if kind is Service else ctx.cache.ingresses
    for obj in cache.values():
        meta = obj.metadata
        if meta is None or not (meta.name or "").endswith(suffix) or meta.deletionTimestamp:
            continue
        if adopted_for(obj, ctx.pod_name):
            log.info(
                "removing %s %s made by the original for %s", kind.__name__, meta.name, ctx.pod_name
            )
            await ctx.kube.delete(kind, meta.name or "", uid=meta.uid)
