"""What the resource plugins share: owner references, the labels the original put on objects
made for a pod, and the "leftover of an earlier pod" check."""

from __future__ import annotations

from typing import Any

from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Pod

from userpods.hooks import PodContext, StepFailed
from userpods.naming import ANNOTATION_OWNER, LABEL_CREATED_FOR_POD, LABEL_POD_NAME

__all__ = ["ANNOTATION_OWNER", "LABEL_CREATED_FOR_POD"]


def ready_pod(ctx: PodContext) -> Pod:
    """The pod as the cache has it; a step cannot go on without it."""
    pod = ctx.pod
    if pod is None or pod.metadata is None or not pod.metadata.uid:
        raise StepFailed("the pod is gone")
    return pod


def owned_meta(pod: Pod, name: str, ctx: PodContext) -> ObjectMeta:
    """Metadata for an object made for ``pod``: Kubernetes removes it with the pod."""
    assert pod.metadata is not None
    labels = {LABEL_CREATED_FOR_POD: pod.metadata.name or ""}
    for key in ("user", "domain"):
        if key in (pod.metadata.labels or {}):
            labels[key] = (pod.metadata.labels or {})[key]
    return ObjectMeta(
        name=name,
        namespace=ctx.settings.namespace,
        labels=labels,
        annotations={ANNOTATION_OWNER: ctx.user_id},
        ownerReferences=[
            OwnerReference(
                apiVersion="v1",
                kind="Pod",
                name=pod.metadata.name or "",
                uid=pod.metadata.uid or "",
                blockOwnerDeletion=True,
            )
        ],
    )


def owner_uid(obj: Any) -> str:
    """The uid of the pod an object was made for ("" if none)."""
    refs = (obj.metadata.ownerReferences or []) if obj is not None and obj.metadata else []
    return next((r.uid for r in refs if r.kind == "Pod"), "")


def made_for(obj: Any, pod: Pod) -> bool:
    """Whether ``obj`` was made for ``pod``: its owner reference names the pod's uid, or, for
    a pod of the original backend (which made objects with no owner reference), its
    ``createdForPod`` label names the pod. For the daemon's own pods only the owner reference
    counts: a labelled leftover of the name is an earlier pod's."""
    if obj is None or pod.metadata is None or obj.metadata is None:
        return False
    uid = owner_uid(obj)
    if uid:
        return uid == pod.metadata.uid
    if ANNOTATION_OWNER in (pod.metadata.annotations or {}):
        return False
    labels = obj.metadata.labels or {}
    return bool(pod.metadata.name) and labels.get(LABEL_CREATED_FOR_POD) == pod.metadata.name


def pod_selector(pod: Pod) -> dict[str, str]:
    """Selects exactly this pod: its podName label, which the daemon sets to its name."""
    assert pod.metadata is not None
    return {LABEL_POD_NAME: pod.metadata.name or ""}
