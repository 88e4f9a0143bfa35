"""Whose a PersistentVolume is, finding a user's volume, and making one under a free name.

PersistentVolumes are cluster-wide, while everything else the daemon makes lives in its
namespace: a testing deployment beside production sees production's volumes too, and both may
serve the same user at once. So a volume is this deployment's only when it says so on full
ids, never by its name: its owner annotation (the full user id) and its namespace annotation
(the deployment's namespace; a volume made before volumes recorded it counts by its claimRef's
namespace). A user's volume is found by that ownership (first through the user's claim, whose
``volumeName`` names it), and a new one takes the first name of
:func:`userpods.naming.volume_name_candidates` that nobody holds: the claim's own name when free,
else one made distinct per deployment. The original backend's storage (``user-storage-<user>``
claims and volumes with its labels and no annotations) counts as the deployment's own when its
claim is in the deployment's namespace: a deployment that replaces the original adopts it.
"""

from __future__ import annotations

import uuid
from typing import Any

from lightkube import ApiError
from lightkube.models.core_v1 import NFSVolumeSource, ObjectReference, PersistentVolumeSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume

from userpods.hooks import Context, PodContext, StepFailed
from userpods.naming import (
    ANNOTATION_NAMESPACE,
    ANNOTATION_OWNER,
    STORAGE_PREFIX,
    pod_owner,
    storage_claim_candidates,
    storage_owner,
    volume_name_candidates,
)

SIZE = "10Gi"


def notes_of(obj: Any) -> dict[str, str]:
    meta = getattr(obj, "metadata", None)
    return dict(meta.annotations or {}) if meta is not None else {}


def volume_owner(volume: PersistentVolume | None, namespace: str) -> str:
    """The user whose storage ``volume`` is for the deployment in ``namespace`` ("" when it
    is not that deployment's: another deployment's, an operator's)."""
    if volume is None:
        return ""
    notes = notes_of(volume)
    owner = storage_owner(volume)
    recorded = notes.get(ANNOTATION_NAMESPACE)
    if recorded is None:  # made before volumes recorded their namespace
        ref = volume.spec.claimRef if volume.spec else None
        recorded = ref.namespace if ref is not None else None
    return owner if recorded == namespace else ""


def claim_owner(claim: Any) -> str:
    """The user whose storage claim it is ("" for a claim that is nobody's storage)."""
    return storage_owner(claim) if claim is not None else ""


def find_claim(ctx: Context, user_id: str) -> str:
    """The name of the user's storage claim in the cache ("" if none): found by its owner,
    not recomputed, so it keeps its name for its lifetime (an older digest name, or the
    original's)."""
    held = sorted(
        (c.metadata.deletionTimestamp is not None, c.metadata.name or "")
        for c in ctx.cache.claims.values()
        if c.metadata and claim_owner(c) == user_id
    )
    return held[0][1] if held else ""


def claim_name_for(ctx: Context, user_id: str) -> str:
    """The claim a new pod of the user mounts: the user's claim, else the most readable name
    that nobody else holds ("" when every name is taken by others)."""
    found = find_claim(ctx, user_id)
    if found:
        return found
    # A claim another user's pod mounts is theirs even before it exists (just created).
    mounted = {
        claim: owner
        for pod in ctx.cache.pods.values()
        for claim in _storage_claims(pod)
        if (owner := pod_owner(pod)) != user_id
    }
    for name in storage_claim_candidates(user_id):
        holder = ctx.cache.claims.get(name)
        if name in mounted or (holder is not None and claim_owner(holder) != user_id):
            continue
        return name
    return ""


def claim_names(pod: Any) -> list[str]:
    """The claims a pod (a model, as the cache holds it) mounts, in its volumes' order."""
    volumes = (pod.spec.volumes or []) if pod.spec else []
    return [v.persistentVolumeClaim.claimName for v in volumes if v.persistentVolumeClaim]


def _storage_claims(pod: Any) -> list[str]:
    return [c for c in claim_names(pod) if c.startswith(STORAGE_PREFIX)]


def find_volume(ctx: Context, user_id: str, claim_name: str) -> PersistentVolume | None:
    """The user's volume in this deployment, from the cache: the one the user's claim names,
    else any volume this deployment holds for the user."""
    namespace = ctx.settings.namespace
    claim = ctx.cache.claims.get(claim_name)
    if claim is not None and claim_owner(claim) == user_id and claim.spec:
        named = ctx.cache.volumes.get(claim.spec.volumeName or "")
        if volume_owner(named, namespace) == user_id:
            return named
    held = [
        v
        for v in ctx.cache.volumes.indexed("owner", user_id)
        if volume_owner(v, namespace) == user_id
    ]
    held.sort(key=_going_last)
    return held[0] if held else None


def _going_last(volume: PersistentVolume) -> tuple[bool, str]:
    meta = volume.metadata
    return (meta is None or meta.deletionTimestamp is not None, (meta.name if meta else "") or "")


async def create_volume(ctx: PodContext, claim_name: str, labels: dict[str, str]) -> str:
    """Make the user's volume, pre-bound to ``claim_name``, under the first free name."""
    namespace = ctx.settings.namespace
    for name in volume_name_candidates(claim_name, ctx.user_id, namespace):
        existing = ctx.cache.volumes.get(name) or await ctx.kube.get(
            PersistentVolume, name, namespaced=False
        )
        if existing is not None:
            continue  # held by someone (another deployment, the original, an operator)
        volume = PersistentVolume(
            metadata=ObjectMeta(
                name=name,
                labels={**labels, "name": name},
                annotations={ANNOTATION_OWNER: ctx.user_id, ANNOTATION_NAMESPACE: namespace},
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
                    kind="PersistentVolumeClaim", namespace=namespace, name=claim_name
                ),
            ),
        )
        try:
            created = await ctx.kube.create(volume, request_id=str(uuid.uuid4()))
        except ApiError as exc:
            if exc.status.code == 409:
                continue  # taken meanwhile: by another deployment making its own
            raise
        ctx.cache.volumes.observe(created)
        return name
    raise StepFailed(f"no free name for the storage volume of {ctx.user_id}")


async def rebind(ctx: PodContext, volume: PersistentVolume, claim_name: str) -> None:
    """A volume left by an earlier claim (Released, or naming a claim that is gone) is
    pre-bound to the claim by name again."""
    ref = volume.spec.claimRef if volume.spec else None
    claim = ctx.cache.claims.get(claim_name)
    stale = (
        ref is not None
        and ref.uid
        and (claim is None or claim.metadata is None or claim.metadata.uid != ref.uid)
    )
    released = volume.status is not None and volume.status.phase == "Released"
    if not (released or stale or ref is None or ref.name != claim_name):
        return
    claim_ref = {
        "kind": "PersistentVolumeClaim",
        "namespace": ctx.settings.namespace,
        "name": claim_name,
        "uid": None,
        "resourceVersion": None,
    }
    name = volume.metadata.name if volume.metadata else ""
    patched = await ctx.kube.patch(
        PersistentVolume, name or "", {"spec": {"claimRef": claim_ref}}, namespaced=False
    )
    ctx.cache.volumes.observe(patched)
