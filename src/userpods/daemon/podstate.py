"""What a pod object says, read the same way everywhere: owner, creation state, start-up.

The creation state lives on the pod itself (annotations), so that a restarted daemon can tell
which creations were in flight and until when (Kubernetes is the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube.resources.core_v1 import Pod

from ..hooks import Caller
from ..naming import PREFIX, pod_owner

ANNOTATION_STATE = PREFIX + "state"  # creating | ready | failed
ANNOTATION_DEADLINE = PREFIX + "deadline"  # RFC 3339: when the creation must be done
ANNOTATION_FAILURE = PREFIX + "failure"  # why a creation failed
ANNOTATION_SILO_IP = PREFIX + "silo-ip"
ANNOTATION_DATA_IP = PREFIX + "data-ip"
ANNOTATION_SILO_HOSTNAME = PREFIX + "silo-hostname"
SCHEDULING_GATE = PREFIX + "dependencies"  # held until the pod's dependencies exist

CREATING, READY, FAILED = "creating", "ready", "failed"
# Container waiting reasons after which a pod will not start by itself.
FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
        "ErrImageNeverPull",
    }
)


def name_of(obj: Any) -> str:
    meta = getattr(obj, "metadata", None)
    return str(meta.name) if meta is not None and meta.name else ""


def pod_annotations(pod: Pod) -> dict[str, str]:
    return dict(pod.metadata.annotations or {}) if pod.metadata else {}


def owner(pod: Pod) -> str:
    """The full user id that owns the pod ("" if none): our annotation, or for pods made by
    the original backend, its user/domain labels."""
    return pod_owner(pod)


def creation_state(pod: Pod) -> str:
    return pod_annotations(pod).get(ANNOTATION_STATE, READY)


def deadline(pod: Pod) -> datetime | None:
    text = pod_annotations(pod).get(ANNOTATION_DEADLINE)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def caller(pod: Pod) -> Caller:
    notes = pod_annotations(pod)
    return Caller(
        notes.get(ANNOTATION_SILO_IP, ""),
        notes.get(ANNOTATION_DATA_IP, ""),
        notes.get(ANNOTATION_SILO_HOSTNAME, ""),
    )


def is_deleting(pod: Pod | None) -> bool:
    return (
        pod is not None
        and pod.metadata is not None
        and (pod.metadata.deletionTimestamp is not None)
    )


def is_live(pod: Pod) -> bool:
    """Neither finished nor being deleted: a pod that holds (or will hold) its IP."""
    if is_deleting(pod):
        return False
    return not (pod.status is not None and pod.status.phase in ("Succeeded", "Failed"))


def is_ready(pod: Pod | None) -> bool:
    if pod is None or pod.status is None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


@dataclass(frozen=True)
class Startup:
    """How a pod's start is going: ready, failed (with the reason), or neither yet."""

    ready: bool = False
    failure: str = ""
    code: str = ""  # a short, bounded name for the failure (a metrics label)


def startup(pod: Pod | None, uid: str) -> Startup:
    """Judge a starting pod: fail fast on anything after which it will not become Ready."""
    if pod is None or pod.metadata is None or pod.metadata.uid != uid:
        return Startup(failure="the pod was deleted while it was being created", code="Deleted")
    if is_deleting(pod):
        return Startup(failure="the pod is being deleted", code="Deleted")
    status = pod.status
    if status is None:
        return Startup()
    if status.phase in ("Succeeded", "Failed"):
        return Startup(
            failure=f"the pod ended ({status.phase}) before it was ready" + _terminated_detail(pod),
            code="Terminated",
        )
    for cond in status.conditions or []:
        if (
            cond.type == "PodScheduled"
            and cond.status == "False"
            and (cond.reason == "Unschedulable")
        ):
            return Startup(
                failure=f"Unschedulable: {cond.message or 'no node fits the pod'}",
                code="Unschedulable",
            )
    for cs in (status.initContainerStatuses or []) + (status.containerStatuses or []):
        state = cs.state
        if state is None:
            continue
        if state.waiting is not None and state.waiting.reason in FATAL_WAITING:
            detail = f": {state.waiting.message}" if state.waiting.message else ""
            last = cs.lastState.terminated if cs.lastState is not None else None
            if last is not None:  # a crash loop: how the container ended last time
                detail += f" (last ended: {last.reason or 'exited'}, exit code {last.exitCode})"
            return Startup(
                failure=f"container {cs.name}: {state.waiting.reason}{detail}",
                code=str(state.waiting.reason),
            )
        if (
            state.terminated is not None
            and not _is_init(pod, cs.name)
            and not _will_restart(pod, state.terminated.exitCode)
        ):
            term = state.terminated
            return Startup(
                failure=f"container {cs.name} terminated ({term.reason or 'exit'}, "
                f"exit code {term.exitCode})",
                code="Terminated",
            )
    return Startup(ready=is_ready(pod))


def _is_init(pod: Pod, name: str) -> bool:
    spec = pod.spec
    return spec is not None and any(c.name == name for c in spec.initContainers or [])


def _will_restart(pod: Pod, exit_code: int | None) -> bool:
    """Whether the kubelet restarts a container that ended: then the end is not final (a
    container that keeps ending shows CrashLoopBackOff, which fails the start)."""
    policy = (pod.spec.restartPolicy if pod.spec else None) or "Always"
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _terminated_detail(pod: Pod) -> str:
    for cs in (pod.status.containerStatuses or []) if pod.status else []:
        if cs.state and cs.state.terminated:
            term = cs.state.terminated
            return f": container {cs.name} {term.reason or 'exited'} (exit code {term.exitCode})"
    return ""


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summary(pod: Pod | None) -> str:
    """A short description of where a pod is, for timeout messages."""
    if pod is None or pod.status is None:
        return "no status yet"
    parts: list[str] = [f"phase {pod.status.phase}"]
    for cs in pod.status.containerStatuses or []:
        if cs.state and cs.state.waiting:
            parts.append(f"{cs.name} waiting: {cs.state.waiting.reason}")
        elif cs.state and cs.state.running:
            parts.append(f"{cs.name} running, {'ready' if cs.ready else 'not ready'}")
    for cond in pod.status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            parts.append(f"not scheduled: {cond.reason}")
    return ", ".join(parts)
