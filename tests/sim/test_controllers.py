"""The controllers behind the apiserver: garbage collector, volume binder, protection."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest
import trio
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import (
    NFSVolumeSource,
    ObjectReference,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource,
    PersistentVolumeSpec,
    ServicePort,
    ServiceSpec,
    Volume,
    VolumeResourceRequirements,
)
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import (
    ConfigMap,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Service,
)
from lightkube.types import CascadeType

from userpods.sim import SimCluster

from .helpers import make_pod, raw_client, wait_for, wait_gone

HOLD = "example.com/hold"


def owner_ref(owner: Any, *, block: bool | None = None) -> OwnerReference:
    return OwnerReference(
        apiVersion="v1",
        kind=type(owner).__name__,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        blockOwnerDeletion=block,
    )


def dependent_service(name: str, *refs: OwnerReference) -> Service:
    return Service(
        metadata=ObjectMeta(name=name, ownerReferences=list(refs)),
        spec=ServiceSpec(ports=[ServicePort(port=22)], selector={"app": name}),
    )


def dependent_configmap(
    name: str, *refs: OwnerReference, finalizers: list[str] | None = None
) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(name=name, ownerReferences=list(refs), finalizers=finalizers),
        data={"k": "v"},
    )


def terminating(obj: Any) -> bool:
    return obj.metadata.deletionTimestamp is not None


# ----------------------------------------------------------------------------- garbage collector


async def test_background_deletion_removes_dependents_after_owner(kube: AsyncClient) -> None:
    pod = make_pod("owner")
    pod.metadata.finalizers = [HOLD]  # keeps the owner Terminating until the test lets go
    await kube.create(pod)
    owner = await wait_for(
        kube, Pod, "owner", lambda p: p.status is not None and p.status.phase == "Running"
    )
    await kube.create(dependent_service("owner-ssh", owner_ref(owner)))
    await kube.delete(Pod, "owner")  # graceful: the kubelet stops it, the finalizer holds it
    stopped = await wait_for(
        kube, Pod, "owner", lambda p: p.metadata.deletionGracePeriodSeconds == 0
    )
    assert terminating(stopped)
    # An owner that is being deleted is still an owner: the dependent stays.
    still = await kube.get(Service, "owner-ssh")
    assert not terminating(still)

    released = await kube.patch(Pod, "owner", {"metadata": {"finalizers": None}})
    svc_final = await wait_gone(kube, Service, "owner-ssh", since=still.metadata.resourceVersion)
    assert int(svc_final.metadata.resourceVersion) > int(released.metadata.resourceVersion)


async def test_foreground_deletion_waits_for_blocking_dependents(kube: AsyncClient) -> None:
    owner = await kube.create(make_pod("fg-owner", unscheduled=True))
    await kube.create(
        dependent_configmap("fg-held", owner_ref(owner, block=True), finalizers=[HOLD])
    )
    await kube.create(dependent_service("fg-svc", owner_ref(owner, block=True)))

    await kube.delete(Pod, "fg-owner", cascade=CascadeType.FOREGROUND)
    marked = await kube.get(Pod, "fg-owner")
    assert terminating(marked)
    assert marked.metadata.finalizers == ["foregroundDeletion"]

    await wait_gone(kube, Service, "fg-svc")
    held = await wait_for(kube, ConfigMap, "fg-held", terminating)
    # A dependent without dependents of its own is deleted in the background: no
    # foregroundDeletion finalizer is added to it.
    assert held.metadata.finalizers == [HOLD]
    # The owner stays while a blocking dependent exists.
    still = await kube.get(Pod, "fg-owner")
    assert still.metadata.finalizers == ["foregroundDeletion"]

    # Dropping the last finalizer removes the dependent at once (the answer is its final
    # state); then the garbage collector lets the owner go.
    cm_final = await kube.patch(ConfigMap, "fg-held", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiError) as info:
        await kube.get(ConfigMap, "fg-held")
    assert info.value.status.code == 404
    owner_final = await wait_gone(kube, Pod, "fg-owner", since=still.metadata.resourceVersion)
    assert int(owner_final.metadata.resourceVersion) > int(cm_final.metadata.resourceVersion)


async def test_foreground_deletion_does_not_wait_for_non_blocking_dependents(
    kube: AsyncClient,
) -> None:
    """Only ownerReferences with blockOwnerDeletion=true hold the owner back."""
    owner = await kube.create(make_pod("nb-owner", unscheduled=True))
    await kube.create(dependent_configmap("nb-held", owner_ref(owner), finalizers=[HOLD]))
    await kube.delete(Pod, "nb-owner", cascade=CascadeType.FOREGROUND)
    await wait_gone(kube, Pod, "nb-owner")
    held = await wait_for(kube, ConfigMap, "nb-held", terminating)
    assert held.metadata.finalizers == [HOLD]
    await kube.patch(ConfigMap, "nb-held", {"metadata": {"finalizers": None}})
    await wait_gone(kube, ConfigMap, "nb-held")


async def test_orphan_deletion_strips_owner_references(sim: SimCluster, kube: AsyncClient) -> None:
    owner = await kube.create(make_pod("or-owner", unscheduled=True))
    other = await kube.create(make_pod("or-other", unscheduled=True))
    await kube.create(dependent_service("or-svc", owner_ref(owner)))
    await kube.create(dependent_configmap("or-cm", owner_ref(owner), owner_ref(other)))

    await kube.delete(Pod, "or-owner", cascade=CascadeType.ORPHAN)
    await wait_gone(kube, Pod, "or-owner")
    svc = await kube.get(Service, "or-svc")
    assert not terminating(svc)
    assert not svc.metadata.ownerReferences
    cm = await kube.get(ConfigMap, "or-cm")
    assert not terminating(cm)
    assert [r.uid for r in cm.metadata.ownerReferences or []] == [other.metadata.uid]
    # Like the real garbage collector's patch: an emptied list is dropped, not left as [].
    async with raw_client(sim) as client:
        raw = (await client.get("/api/v1/namespaces/test/services/or-svc")).json()
    assert "ownerReferences" not in raw["metadata"]
    # The dependents are now on their own: deleting the other owner keeps only those of it.
    await kube.delete(Pod, "or-other")
    await wait_gone(kube, ConfigMap, "or-cm")
    assert (await kube.get(Service, "or-svc")).metadata.name == "or-svc"


async def test_dangling_owner_reference_gets_dependent_deleted(kube: AsyncClient) -> None:
    ghost = OwnerReference(apiVersion="v1", kind="Pod", name="ghost", uid=str(uuid.uuid4()))
    created = await kube.create(dependent_service("orphaned", ghost))
    assert created.metadata.ownerReferences == [ghost]
    await wait_gone(kube, Service, "orphaned")


async def test_dependent_with_one_live_owner_survives(kube: AsyncClient) -> None:
    alive = await kube.create(make_pod("alive", unscheduled=True))
    ghost = OwnerReference(apiVersion="v1", kind="Pod", name="ghost", uid=str(uuid.uuid4()))
    await kube.create(dependent_configmap("two-owners", ghost, owner_ref(alive)))
    await kube.delete(Pod, "alive")
    await wait_gone(kube, ConfigMap, "two-owners")


# ----------------------------------------------------------------------------- volumes


def nfs_volume(name: str, claim: str, *, policy: str = "Retain") -> PersistentVolume:
    return PersistentVolume(
        metadata=ObjectMeta(name=name),
        spec=PersistentVolumeSpec(
            capacity={"storage": "10Gi"},
            accessModes=["ReadWriteMany"],
            persistentVolumeReclaimPolicy=policy,
            storageClassName="",
            nfs=NFSVolumeSource(server="10.0.0.5", path=f"/export/{claim}"),
            claimRef=ObjectReference(namespace="test", name=claim),
        ),
    )


def claim(name: str, volume: str) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        metadata=ObjectMeta(name=name),
        spec=PersistentVolumeClaimSpec(
            accessModes=["ReadWriteMany"],
            resources=VolumeResourceRequirements(requests={"storage": "1Gi"}),
            storageClassName="",
            volumeName=volume,
        ),
    )


def bound(obj: Any) -> bool:
    return obj.status is not None and obj.status.phase == "Bound"


async def bound_pair(kube: AsyncClient, pv: str, pvc: str) -> tuple[Any, Any]:
    await kube.create(nfs_volume(pv, pvc))
    await kube.create(claim(pvc, pv))
    volume = await wait_for(kube, PersistentVolume, pv, bound)
    claimed = await wait_for(kube, PersistentVolumeClaim, pvc, bound)
    return volume, claimed


async def test_prebound_pair_binds(kube: AsyncClient) -> None:
    volume = await kube.create(nfs_volume("pv-home", "home"))
    assert volume.metadata.finalizers == ["kubernetes.io/pv-protection"]
    await wait_for(
        kube,
        PersistentVolume,
        "pv-home",
        lambda v: v.status is not None and v.status.phase == "Available",
    )
    pvc = await kube.create(claim("home", "pv-home"))
    assert pvc.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    volume = await wait_for(kube, PersistentVolume, "pv-home", bound)
    ref = volume.spec.claimRef
    assert (ref.namespace, ref.name, ref.uid) == ("test", "home", pvc.metadata.uid)
    claimed = await wait_for(kube, PersistentVolumeClaim, "home", bound)
    annotations = claimed.metadata.annotations or {}
    assert annotations.get("pv.kubernetes.io/bind-completed") == "yes"
    assert claimed.spec.volumeName == "pv-home"
    assert claimed.status.capacity == {"storage": "10Gi"}
    assert claimed.status.accessModes == ["ReadWriteMany"]


async def test_pvc_protection_keeps_used_claim_until_pod_is_gone(kube: AsyncClient) -> None:
    await bound_pair(kube, "pv-data", "data")
    volumes = [
        Volume(
            name="data", persistentVolumeClaim=PersistentVolumeClaimVolumeSource(claimName="data")
        )
    ]
    await kube.create(make_pod("user", volumes=volumes))
    await wait_for(
        kube, Pod, "user", lambda p: p.status is not None and p.status.phase == "Running"
    )
    await kube.delete(PersistentVolumeClaim, "data")
    pvc = await kube.get(PersistentVolumeClaim, "data")
    assert terminating(pvc)
    assert pvc.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    assert pvc.status.phase == "Bound"

    await kube.delete(Pod, "user")
    since = pvc.metadata.resourceVersion
    pod_final = await wait_gone(kube, Pod, "user", since=since)
    pvc_final = await wait_gone(kube, PersistentVolumeClaim, "data", since=since)
    assert int(pvc_final.metadata.resourceVersion) > int(pod_final.metadata.resourceVersion)
    # Retain: the volume outlives its claim, Released, still pointing at the old claim.
    released = await wait_for(
        kube,
        PersistentVolume,
        "pv-data",
        lambda v: v.status is not None and v.status.phase == "Released",
    )
    assert released.spec.claimRef.name == "data"
    assert released.metadata.finalizers == ["kubernetes.io/pv-protection"]


async def test_claim_used_only_by_unscheduled_pod_is_not_protected(kube: AsyncClient) -> None:
    await bound_pair(kube, "pv-idle", "idle")
    volumes = [
        Volume(
            name="idle", persistentVolumeClaim=PersistentVolumeClaimVolumeSource(claimName="idle")
        )
    ]
    await kube.create(make_pod("waiting", unscheduled=True, volumes=volumes))
    await kube.delete(PersistentVolumeClaim, "idle")
    await wait_gone(kube, PersistentVolumeClaim, "idle")


async def test_pv_protection_lifted_once_not_bound(kube: AsyncClient) -> None:
    await bound_pair(kube, "pv-keep", "keep")
    await kube.delete(PersistentVolume, "pv-keep")
    pv = await kube.get(PersistentVolume, "pv-keep")
    assert terminating(pv)
    assert pv.metadata.finalizers == ["kubernetes.io/pv-protection"]
    assert pv.status.phase == "Bound"
    phases: list[str] = []
    async with contextlib.aclosing(
        kube.watch(
            PersistentVolume,
            fields={"metadata.name": "pv-keep"},
            resource_version=pv.metadata.resourceVersion,
        )
    ) as stream:
        await kube.delete(PersistentVolumeClaim, "keep")
        with trio.fail_after(5):
            async for type_, volume in stream:
                phases.append(volume.status.phase)
                if type_ == "DELETED":
                    break
    assert "Released" in phases
