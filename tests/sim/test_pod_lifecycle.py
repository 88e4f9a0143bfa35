"""Pod lifecycle as the scheduler and kubelet drive it, seen through lightkube."""

from __future__ import annotations

import contextlib
import ipaddress

import trio
from lightkube import AsyncClient
from lightkube.models.core_v1 import PersistentVolumeClaimVolumeSource, Volume
from lightkube.resources.core_v1 import Node, PersistentVolume, PersistentVolumeClaim, Pod

from .helpers import (
    condition,
    events_of,
    make_pod,
    wait_event,
    wait_for,
    wait_gone,
    waiting_reason,
)
from .test_controllers import claim, nfs_volume

CONDITIONS = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
]


def running_and_ready(pod: Pod) -> bool:
    if pod.status is None or pod.status.phase != "Running":
        return False
    ready = condition(pod, "Ready")
    return ready is not None and ready.status == "True"


async def test_running_pod_status(kube: AsyncClient) -> None:
    created = await kube.create(make_pod("life", "example/app:1.0"))
    assert created.status is not None
    assert created.status.phase == "Pending"
    pod = await wait_for(kube, Pod, "life", running_and_ready)
    status = pod.status
    assert status is not None
    assert pod.spec is not None
    node_name = pod.spec.nodeName
    assert node_name
    node = await kube.get(Node, node_name)
    assert node.spec is not None
    assert node.status is not None

    assert status.podIP is not None
    assert ipaddress.ip_address(status.podIP) in ipaddress.ip_network("10.244.0.0/16")
    assert ipaddress.ip_address(status.podIP) in ipaddress.ip_network(node.spec.podCIDR or "")
    assert [ip.ip for ip in status.podIPs or []] == [status.podIP]
    internal = [a.address for a in node.status.addresses or [] if a.type == "InternalIP"]
    assert status.hostIP == internal[0]
    assert [ip.ip for ip in status.hostIPs or []] == [status.hostIP]
    assert status.startTime is not None

    assert [c.type for c in status.conditions or []] == CONDITIONS
    for cond in status.conditions or []:
        assert cond.status == "True", cond
        assert cond.lastTransitionTime is not None

    (container,) = status.containerStatuses or []
    assert container.name == "main"
    assert container.ready is True
    assert container.started is True
    assert container.restartCount == 0
    assert container.image == "example/app:1.0"
    assert container.imageID
    assert (container.containerID or "").startswith("containerd://")
    assert container.state is not None
    assert container.state.running is not None
    assert container.state.running.startedAt is not None
    assert container.state.waiting is None

    reasons = [e.reason for e in await events_of(kube, "life")]
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert reason in reasons
    scheduled = await wait_event(kube, "life", "Scheduled")
    assert scheduled.message == f"Successfully assigned test/life to {node_name}"
    assert scheduled.type == "Normal"
    started = await wait_event(kube, "life", "Started")
    assert started.involvedObject.fieldPath == "spec.containers{main}"
    assert started.source is not None
    assert started.source.component == "kubelet"
    assert started.source.host == node_name


async def test_pod_with_missing_claim_waits_then_schedules(kube: AsyncClient) -> None:
    volumes = [
        Volume(name="vol", persistentVolumeClaim=PersistentVolumeClaimVolumeSource(claimName="x"))
    ]
    await kube.create(make_pod("needs-x", volumes=volumes))

    def unschedulable(pod: Pod) -> bool:
        cond = condition(pod, "PodScheduled") if pod.status else None
        return cond is not None and cond.status == "False"

    pending = await wait_for(kube, Pod, "needs-x", unschedulable)
    assert pending.status is not None
    assert pending.status.phase == "Pending"
    assert pending.spec is not None
    assert pending.spec.nodeName is None
    cond = condition(pending, "PodScheduled")
    message = '0/3 nodes are available: persistentvolumeclaim "x" not found.'
    assert (cond.reason, cond.message) == ("Unschedulable", message)
    event = await wait_event(kube, "needs-x", "FailedScheduling")
    assert (event.type, event.message) == ("Warning", message)
    assert event.source is not None
    assert event.source.component == "default-scheduler"

    await kube.create(nfs_volume("pv-x", "x"))
    await kube.create(claim("x", "pv-x"))
    await wait_for(kube, PersistentVolumeClaim, "x", lambda c: c.status.phase == "Bound")
    pod = await wait_for(kube, Pod, "needs-x", running_and_ready)
    assert pod.spec is not None
    assert pod.spec.nodeName
    assert condition(pod, "PodScheduled").status == "True"
    await wait_event(kube, "needs-x", "Scheduled")
    assert (await kube.get(PersistentVolume, "pv-x")).status.phase == "Bound"


async def test_graceful_deletion(kube: AsyncClient) -> None:
    await kube.create(make_pod("bye"))
    running = await wait_for(kube, Pod, "bye", running_and_ready)
    seen: list[tuple[str, Pod]] = []
    with trio.fail_after(5):
        async with contextlib.aclosing(
            kube.watch(
                Pod,
                fields={"metadata.name": "bye"},
                resource_version=running.metadata.resourceVersion,
            )
        ) as stream:
            await kube.delete(Pod, "bye")
            async for type_, pod in stream:
                seen.append((type_, pod))
                if type_ == "DELETED":
                    break
    first_type, first = seen[0]
    assert first_type == "MODIFIED"
    assert first.metadata.deletionTimestamp is not None
    assert first.metadata.deletionGracePeriodSeconds == 30
    assert first.status is not None
    assert first.status.phase == "Running"  # the kubelet has not stopped it yet
    assert [t for t, _ in seen[1:-1]] == ["MODIFIED"] * (len(seen) - 2)
    assert seen[-1][0] == "DELETED"
    # Since 1.27 the kubelet gives a pod it stopped for deletion a terminal phase first.
    final = seen[-1][1]
    assert final.status is not None
    assert final.status.phase == "Succeeded"
    assert final.metadata.deletionGracePeriodSeconds == 0
    terminated = (final.status.containerStatuses or [])[0].state.terminated
    assert terminated is not None
    assert terminated.finishedAt is not None
    killing = await wait_event(kube, "bye", "Killing")
    assert killing.message == "Stopping container main"
    assert killing.involvedObject.fieldPath == "spec.containers{main}"
    assert await wait_gone(kube, Pod, "bye") is None


async def test_deletion_with_explicit_grace_period(kube: AsyncClient) -> None:
    await kube.create(make_pod("quick"))
    running = await wait_for(kube, Pod, "quick", running_and_ready)
    await kube.delete(Pod, "quick", grace_period=5)
    graces: list[int | None] = []
    with trio.fail_after(5):
        async with contextlib.aclosing(
            kube.watch(
                Pod,
                fields={"metadata.name": "quick"},
                resource_version=running.metadata.resourceVersion,
            )
        ) as stream:
            async for type_, pod in stream:
                graces.append(pod.metadata.deletionGracePeriodSeconds)
                if type_ == "DELETED":
                    break
    # Marked with the requested grace period; the kubelet's final delete uses 0.
    assert graces[0] == 5
    assert graces[-1] == 0


async def test_pod_deleted_while_pulling_ends_failed(kube: AsyncClient) -> None:
    pod = make_pod("stuck", "example/fail_pull:1")
    assert pod.metadata is not None
    pod.metadata.finalizers = ["example.com/hold"]
    await kube.create(pod)
    await wait_for(kube, Pod, "stuck", lambda p: waiting_reason(p) == "ErrImagePull")
    await kube.delete(Pod, "stuck")
    stopped = await wait_for(
        kube, Pod, "stuck", lambda p: p.metadata.deletionGracePeriodSeconds == 0
    )
    assert stopped.status is not None
    assert stopped.status.phase == "Failed"
    await kube.patch(Pod, "stuck", {"metadata": {"finalizers": None}})
    await wait_gone(kube, Pod, "stuck")


async def test_unscheduled_pod_is_deleted_at_once(kube: AsyncClient) -> None:
    await kube.create(make_pod("never", unscheduled=True))
    await kube.delete(Pod, "never")
    assert await wait_gone(kube, Pod, "never") is None
