"""User storage: the user's NFS volume for mounts named ``sciencedata``, and ``local`` claims.

- ``userpods_prepare_pod``: a container mount named ``sciencedata`` that the manifest does
  not declare becomes the user's claim ``user-storage-<user string>``; ``local`` becomes the
  claim ``local-claim-<mountPath with / as ->`` (made by the operator); any other undeclared
  mount is refused (400).
- ``userpods_ensure_dependencies``: the user's PV and PVC exist (same name; the PV pre-bound
  to the claim, NFS server = the user's silo, path ``<nfsStorageRoot>/<user id>``, 10Gi,
  ReadWriteMany, Retain, class ``nfs``, mount options ``hard``, ``nfsvers=4.1``) and the claim
  is Bound. A volume left Released by an earlier claim is made available again.
- ``userpods_user_gone``: the user's claim and volume are deleted, and waited for.
- ``userpods_clean_unused``: storage of users without pods is deleted.

Objects carry the original's labels (name / user / domain / server) and the owner annotation;
storage of another user is never touched.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from lightkube.models.core_v1 import (
    NFSVolumeSource,
    ObjectReference,
    PersistentVolumeClaimSpec,
    PersistentVolumeSpec,
    VolumeResourceRequirements,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod

from userpods.config import Settings
from userpods.hooks import Context, CreateRequest, PodContext, PodRejected, StepFailed, hookimpl
from userpods.naming import user_string

from .common import ANNOTATION_OWNER

log = logging.getLogger(__name__)
PREFIX = "user-storage-"
SIZE = "10Gi"


def storage_name(pod: dict[str, Any] | Pod) -> str:
    """The claim name the daemon put into the pod for its user's storage ("" if none)."""
    if isinstance(pod, dict):
        volumes = pod.get("spec", {}).get("volumes") or []
        claims = [(v.get("persistentVolumeClaim") or {}).get("claimName", "") for v in volumes]
    else:
        volumes = (pod.spec.volumes or []) if pod.spec else []
        claims = [v.persistentVolumeClaim.claimName for v in volumes if v.persistentVolumeClaim]
    return next((c for c in claims if c.startswith(PREFIX)), "")


class UserStorage:
    # ------------------------------------------------------------------ prepare
    @hookimpl
    def userpods_prepare_pod(
        self, pod: dict[str, Any], request: CreateRequest, settings: Settings
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
                    claim = PREFIX + user_string(request.user_id)
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
    async def userpods_ensure_dependencies(self, ctx: PodContext) -> None:
        pod = ctx.pod
        name = storage_name(pod) if pod is not None else ""
        if not name:
            return
        await self._ensure_volume(ctx, name)
        await self._ensure_claim(ctx, name)
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

    def _check_owner(self, obj: Any, ctx: PodContext, what: str) -> None:
        owner = (obj.metadata.annotations or {}).get(ANNOTATION_OWNER) if obj.metadata else None
        if owner is not None and owner != ctx.user_id:
            raise StepFailed(f"{what} {obj.metadata.name} belongs to another user")

    async def _usable(self, ctx: PodContext, cache: Any, obj: Any, what: str) -> Any:
        """``obj`` if it can be used for this user's storage; None when it must be made (it
        does not exist, or was being deleted and now is gone)."""
        if obj is None:
            return None
        self._check_owner(obj, ctx, what)
        if obj.metadata and obj.metadata.deletionTimestamp:
            name = obj.metadata.name
            await cache.wait_for(name, lambda o: o is None)
            return None
        return obj

    async def _ensure_volume(self, ctx: PodContext, name: str) -> None:
        # Not in the cache yet (just made elsewhere)? Ask: volumes are cluster-wide.
        found = ctx.cache.volumes.get(name) or await ctx.kube.get(
            PersistentVolume, name, namespaced=False
        )
        volume = await self._usable(ctx, ctx.cache.volumes, found, "volume")
        if volume is None:
            created = await ctx.kube.create(
                PersistentVolume(
                    metadata=ObjectMeta(
                        name=name,
                        labels=self._labels(ctx, name),
                        annotations={ANNOTATION_OWNER: ctx.user_id},
                    ),
                    spec=PersistentVolumeSpec(
                        accessModes=["ReadWriteMany"],
                        capacity={"storage": SIZE},
                        persistentVolumeReclaimPolicy="Retain",
                        storageClassName="nfs",
                        mountOptions=["hard", "nfsvers=4.1"],
                        nfs=NFSVolumeSource(
                            server=ctx.caller.silo_ip,
                            path=f"{ctx.settings.nfs_storage_root}/{ctx.user_id}",
                        ),
                        claimRef=ObjectReference(
                            kind="PersistentVolumeClaim",
                            namespace=ctx.settings.namespace,
                            name=name,
                        ),
                    ),
                )
            )
            ctx.cache.volumes.observe(created)
            return
        ref = volume.spec.claimRef if volume.spec else None
        claim = ctx.cache.claims.get(name)
        stale = (
            ref is not None
            and ref.uid
            and (claim is None or claim.metadata is None or claim.metadata.uid != ref.uid)
        )
        if (volume.status and volume.status.phase == "Released") or stale:
            # Left by an earlier claim: pre-bind it to the claim by name again.
            patched = await ctx.kube.patch(
                PersistentVolume,
                name,
                {
                    "spec": {
                        "claimRef": {
                            "kind": "PersistentVolumeClaim",
                            "namespace": ctx.settings.namespace,
                            "name": name,
                            "uid": None,
                            "resourceVersion": None,
                        }
                    }
                },
                namespaced=False,
            )
            ctx.cache.volumes.observe(patched)

    async def _ensure_claim(self, ctx: PodContext, name: str) -> None:
        claim = await self._usable(ctx, ctx.cache.claims, ctx.cache.claims.get(name), "claim")
        if claim is None:
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
                        volumeName=name,
                        resources=VolumeResourceRequirements(requests={"storage": SIZE}),
                    ),
                )
            )
            ctx.cache.claims.observe(created)

    # ------------------------------------------------------------------ cleanup
    @hookimpl
    async def userpods_user_gone(self, user_id: str, ctx: PodContext) -> None:
        await delete_storage(ctx, PREFIX + user_string(user_id), user_id)

    @hookimpl
    async def userpods_clean_unused(self, ctx: Context) -> None:
        owners_with_pods = {
            (p.metadata.annotations or {}).get(ANNOTATION_OWNER)
            for p in ctx.cache.pods.values()
            if p.metadata
        }
        names = {c.metadata.name for c in ctx.cache.claims.values() if c.metadata} | {
            v.metadata.name for v in ctx.cache.volumes.values() if v.metadata
        }
        for name in sorted(n for n in names if n and n.startswith(PREFIX)):
            obj = ctx.cache.claims.get(name) or ctx.cache.volumes.get(name)
            owner = (
                (obj.metadata.annotations or {}).get(ANNOTATION_OWNER)
                if obj and (obj.metadata)
                else None
            )
            if owner is None or owner in owners_with_pods:
                continue  # not ours (e.g. the original's), or still in use
            async with ctx.user_lock(owner):
                if any(
                    (p.metadata.annotations or {}).get(ANNOTATION_OWNER) == owner
                    for p in ctx.cache.pods.values()
                    if p.metadata
                ):
                    continue  # a pod came meanwhile
                log.info("removing unused storage %s of %s", name, owner)
                await delete_storage(ctx, name, owner)


def _bound(claim: PersistentVolumeClaim | None) -> bool:
    return claim is not None and claim.status is not None and claim.status.phase == "Bound"


async def delete_storage(ctx: Context, name: str, user_id: str) -> None:
    """Delete a user's claim, then its volume, and wait until both are gone."""
    for kind, cache, namespaced in (
        (PersistentVolumeClaim, ctx.cache.claims, True),
        (PersistentVolume, ctx.cache.volumes, False),
    ):
        obj = cache.get(name)
        if obj is None or obj.metadata is None:
            continue
        if (obj.metadata.annotations or {}).get(ANNOTATION_OWNER) != user_id:
            continue
        if not obj.metadata.deletionTimestamp:
            await ctx.kube.delete(kind, name, namespaced=namespaced)
        await cache.wait_for(name, lambda o: o is None)
    await trio.lowlevel.checkpoint()
