"""User storage: the user's NFS volume for mounts named ``sciencedata``, and ``local`` claims.

- ``userpods_prepare_pod``: a container mount named ``sciencedata`` that the manifest does
  not declare becomes the user's claim ``user-storage-<user string>``; ``local`` becomes the
  claim ``local-claim-<mountPath with / as ->`` (made by the operator); any other undeclared
  mount is refused (400).
- ``userpods_ensure_dependencies``: the user's volume and claim exist (the volume pre-bound to
  the claim, NFS server = the user's silo, path ``<nfsStorageRoot>/<user id>``, 10Gi,
  ReadWriteMany, Retain, class ``nfs``, mount options ``hard``, ``nfsvers=4.1``) and the claim
  is Bound. A volume left Released by an earlier claim is made available again.
- ``userpods_user_gone``: the user's claim and volume are deleted, and waited for.
- ``userpods_clean_unused``: storage of users without pods is deleted.

Objects carry the original's labels (name / user / domain / server) and the owner annotation.
Volumes are cluster-wide: which are this deployment's, and under which name a new one is made,
is :mod:`userpods.plugins.volumes`' job; storage of another user or another deployment is never
touched.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import trio
from lightkube.models.core_v1 import PersistentVolumeClaimSpec, VolumeResourceRequirements
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod

from userpods.config import Settings
from userpods.hooks import Context, CreateRequest, PodContext, PodRejected, StepFailed, hookimpl
from userpods.naming import STORAGE_PREFIX, pod_owner

from .common import ANNOTATION_OWNER
from .volumes import (
    SIZE,
    claim_name_for,
    claim_names,
    claim_owner,
    create_volume,
    find_claim,
    find_volume,
    rebind,
    volume_owner,
)

log = logging.getLogger(__name__)
PREFIX = STORAGE_PREFIX


def storage_name(pod: dict[str, Any] | Pod) -> str:
    """The claim name the daemon put into the pod for its user's storage ("" if none)."""
    if isinstance(pod, dict):
        volumes = pod.get("spec", {}).get("volumes") or []
        claims = [(v.get("persistentVolumeClaim") or {}).get("claimName", "") for v in volumes]
    else:
        claims = claim_names(pod)
    return next((c for c in claims if c.startswith(PREFIX)), "")


class UserStorage:
    # ------------------------------------------------------------------ prepare
    @hookimpl
    def userpods_prepare_pod(
        self, pod: dict[str, Any], request: CreateRequest, settings: Settings, ctx: Context
    ) -> None:
        spec = pod.setdefault("spec", {})
        declared = {v.get("name") for v in spec.get("volumes") or []}
        added: list[dict[str, Any]] = []
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            for mount in container.get("volumeMounts") or []:
                name = mount.get("name")
                if name in declared:
                    continue
                if name == "sciencedata":
                    if not request.caller.silo_ip:
                        raise PodRejected(
                            "cannot tell which silo (home server) this request comes from, "
                            "and the pod mounts the user's storage, which is served by it"
                        )
                    claim = claim_name_for(ctx, request.user_id)
                    if not claim:
                        raise PodRejected("every name for the user's storage is taken by others")
                elif name == "local":
                    claim = "local-claim-" + str(mount.get("mountPath", "")).replace("/", "-")
                else:
                    raise PodRejected(
                        f"container {container.get('name')} mounts volume {name}, "
                        "which the manifest does not declare (only sciencedata and "
                        "local are provided)"
                    )
                added.append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
                declared.add(name)
        if added:
            spec["volumes"] = list(spec.get("volumes") or []) + added

    # ------------------------------------------------------------------ ensure
    @hookimpl
    def userpods_dependencies_ready(self, pod: Pod, ctx: Context) -> bool:
        """The pod's storage is ready when every claim it mounts is Bound and not going (a pod
        let through to a claim still binding would be Unschedulable at once, which fails its
        creation), and its user's claim is Bound to the user's volume and in use by another
        live pod of the user (what ``userpods_ensure_dependencies`` would then leave as is)."""
        for claim_name in claim_names(pod):
            mounted = ctx.cache.claims.get(claim_name)
            if not _bound(mounted) or mounted is None or mounted.metadata is None:
                return False
            if mounted.metadata.deletionTimestamp:
                return False
        name = storage_name(pod)
        if not name:
            return True
        user_id = pod_owner(pod)
        claim = ctx.cache.claims.get(name)
        if claim is None or not _bound(claim) or claim_owner(claim) != user_id:
            return False
        # Only while another live pod of the user mounts it: then Kubernetes' pvc-protection
        # keeps the claim, whatever happens meanwhile. A claim nobody uses may have been deleted
        # a moment ago, and a cache that has not heard of it yet would let the pod through to a
        # claim that is gone.
        if not any(
            name in claim_names(other) and _holds_claims(other)
            for other in ctx.cache.pods.indexed("owner", user_id)
        ):
            return False
        if claim.metadata is None or claim.metadata.deletionTimestamp:
            return False
        volume = find_volume(ctx, user_id, name)
        return (
            volume is not None
            and volume.metadata is not None
            and not volume.metadata.deletionTimestamp
            and volume.status is not None
            and volume.status.phase == "Bound"
        )

    @hookimpl
    async def userpods_ensure_dependencies(self, ctx: PodContext) -> None:
        pod = ctx.pod
        name = storage_name(pod) if pod is not None else ""
        if not name:
            return
        claim = await self._usable_claim(ctx, name)
        volume = await self._ensure_volume(ctx, name)
        if claim is None:
            await self._make_claim(ctx, name, volume)
        await ctx.cache.claims.wait_for(name, _bound)

    def _labels(self, ctx: PodContext, name: str) -> dict[str, str]:
        pod = ctx.pod
        labels = dict(pod.metadata.labels or {}) if pod and pod.metadata else {}
        return {
            "name": name,
            "user": labels.get("user", ""),
            "domain": labels.get("domain", ""),
            "server": ctx.caller.silo_ip,
        }

    async def _usable_claim(self, ctx: PodContext, name: str) -> PersistentVolumeClaim | None:
        """The user's claim if it exists and is not going; None when it must be made."""
        claim = ctx.cache.claims.get(name)
        if claim is None:
            return None
        owner = claim_owner(claim)
        if owner and owner != ctx.user_id:
            raise StepFailed(f"claim {name} belongs to another user")
        if claim.metadata and claim.metadata.deletionTimestamp:
            await ctx.cache.claims.wait_for(name, lambda o: o is None)
            return None
        return claim

    async def _ensure_volume(self, ctx: PodContext, claim_name: str) -> str:
        """The name of the user's volume, made (or made bindable again) if need be."""
        volume = find_volume(ctx, ctx.user_id, claim_name)
        if volume is not None and volume.metadata and volume.metadata.deletionTimestamp:
            name = volume.metadata.name or ""
            await ctx.cache.volumes.wait_for(name, lambda o: o is None)
            volume = find_volume(ctx, ctx.user_id, claim_name)
        if volume is None or volume.metadata is None:
            return await create_volume(ctx, claim_name, self._labels(ctx, claim_name))
        await rebind(ctx, volume, claim_name)
        return volume.metadata.name or ""

    async def _make_claim(self, ctx: PodContext, name: str, volume: str) -> None:
        created = await ctx.kube.create(
            PersistentVolumeClaim(
                metadata=ObjectMeta(
                    name=name,
                    namespace=ctx.settings.namespace,
                    labels=self._labels(ctx, name),
                    annotations={ANNOTATION_OWNER: ctx.user_id},
                ),
                spec=PersistentVolumeClaimSpec(
                    accessModes=["ReadWriteMany"],
                    storageClassName="nfs",
                    volumeName=volume,
                    resources=VolumeResourceRequirements(requests={"storage": SIZE}),
                ),
            ),
            request_id=str(uuid.uuid4()),
        )
        ctx.cache.claims.observe(created)

    # ------------------------------------------------------------------ cleanup
    @hookimpl
    async def userpods_user_gone(self, user_id: str, ctx: PodContext) -> None:
        await delete_storage(ctx, user_id)

    @hookimpl
    async def userpods_clean_unused(self, ctx: Context, removed: list[str]) -> None:
        namespace = ctx.settings.namespace
        owners = {claim_owner(c) for c in ctx.cache.claims.values()} | {
            volume_owner(v, namespace) for v in ctx.cache.volumes.values()
        }
        for owner in sorted(o for o in owners if o):
            if _has_pods(ctx, owner):
                continue  # still in use
            async with ctx.user_lock(owner):
                if _has_pods(ctx, owner):
                    continue  # a pod came meanwhile
                log.info("removing the unused storage of %s", owner)
                removed.extend(await delete_storage(ctx, owner, wait=False))


def _has_pods(ctx: Context, user_id: str) -> bool:
    """Whether the user has a pod: ours (owner annotation) or the original's (labels)."""
    return bool(ctx.cache.pods.indexed("owner", user_id))


def _holds_claims(pod: Pod) -> bool:
    """Not being deleted and not finished: a pod that holds its claims."""
    phase = pod.status.phase if pod.status else None
    return (
        pod.metadata is not None
        and not pod.metadata.deletionTimestamp
        and phase
        not in (
            "Succeeded",
            "Failed",
        )
    )


def _bound(claim: PersistentVolumeClaim | None) -> bool:
    return claim is not None and claim.status is not None and claim.status.phase == "Bound"


async def delete_storage(ctx: Context, user_id: str, *, wait: bool = True) -> list[str]:
    """Delete this deployment's claim and volume of ``user_id`` (and, with ``wait``, wait until
    both are gone); the ``Kind/name`` of what was deleted."""
    name = find_claim(ctx, user_id)
    volume = find_volume(ctx, user_id, name)  # before the claim goes: it names the volume
    deleted = []
    claim = ctx.cache.claims.get(name)
    targets: list[tuple[Any, Any, Any, bool]] = []
    if claim is not None and claim_owner(claim) == user_id:
        targets.append((PersistentVolumeClaim, ctx.cache.claims, claim, True))
    if volume is not None:
        targets.append((PersistentVolume, ctx.cache.volumes, volume, False))
    for kind, cache, obj, namespaced in targets:
        meta = obj.metadata
        if not meta.deletionTimestamp:
            await ctx.kube.delete(kind, meta.name, uid=meta.uid, namespaced=namespaced)
            deleted.append(f"{kind.__name__}/{meta.name}")
        if wait:
            uid = meta.uid
            await cache.wait_for(meta.name, lambda o, uid=uid: o is None or o.metadata.uid != uid)
    await trio.lowlevel.checkpoint()
    return deleted
