"""Settled pods: their worker's task ends (the worker goes idle) without the pod noticing.

A pod whose containers run until stopped, or have ended for good, has nothing to wait for
but its deletion; its worker keeps the containers' states and no trio task (``podworker.py``).
A delete must still go through Killing, the terminal status and removal. Events about one
object fold into one Event (``events.py``), whatever the recorder remembers them by.
"""

from __future__ import annotations

import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Event, Pod

from userpods.sim import SimCluster
from userpods.sim import kinds as k
from userpods.sim.deletion import DeleteOptions
from userpods.sim.podworker import PodWorker

from .helpers import make_pod, wait_event, wait_for, wait_gone


def ready(pod: Pod) -> bool:
    return any(
        c.type == "Ready" and c.status == "True"
        for c in (pod.status and pod.status.conditions) or []
    )


async def worker_of(sim: SimCluster, uid: str, *, idle: bool) -> PodWorker:
    """The pod's worker once it is (or is not) idle; checkpoints only, no timed waits."""
    with trio.fail_after(5):
        while True:
            worker = sim.kubelet.workers.get(uid)
            if worker is not None and worker.idle is idle:
                return worker
            await trio.lowlevel.checkpoint()


async def test_a_running_pod_s_worker_goes_idle_and_its_delete_still_kills(
    sim: SimCluster, kube: AsyncClient
) -> None:
    await kube.create(make_pod("settled"))
    pod = await wait_for(kube, Pod, "settled", ready)
    assert pod.metadata is not None and pod.metadata.uid
    uid = pod.metadata.uid
    worker = await worker_of(sim, uid, idle=True)
    assert worker.cancel_scope is None  # no task, no scope
    container = sim.kubelet.container(uid, "main")
    assert container is not None and container.running and container.ready
    assert (await kube.get(Pod, "settled")).status.phase == "Running"  # type: ignore[union-attr]

    since = pod.metadata.resourceVersion
    await kube.delete(Pod, "settled")
    final = await wait_gone(kube, Pod, "settled", since=since)
    assert final.status.phase == "Succeeded"
    assert final.metadata.deletionGracePeriodSeconds == 0
    terminated = final.status.containerStatuses[0].state.terminated
    assert terminated is not None and terminated.reason == "Completed"
    killing = await wait_event(kube, "settled", "Killing")
    assert killing.message == "Stopping container main"
    assert uid not in sim.kubelet.workers


async def test_a_pod_whose_containers_ended_goes_idle(sim: SimCluster, kube: AsyncClient) -> None:
    await kube.create(make_pod("done", "example/test_finish_entrypoint:1", restart_policy="Never"))
    pod = await wait_for(kube, Pod, "done", lambda p: p.status.phase == "Succeeded")  # type: ignore[union-attr]
    assert pod.metadata is not None and pod.metadata.uid
    await worker_of(sim, pod.metadata.uid, idle=True)
    await kube.delete(Pod, "done")
    await wait_gone(kube, Pod, "done", since=pod.metadata.resourceVersion)
    assert pod.metadata.uid not in sim.kubelet.workers


async def test_a_crash_looping_pod_keeps_its_task(sim: SimCluster, kube: AsyncClient) -> None:
    await kube.create(make_pod("loop", "example/crashloop:1", restart_policy="OnFailure"))
    pod = await wait_for(
        kube,
        Pod,
        "loop",
        lambda p: (
            bool(p.status and p.status.containerStatuses)
            and p.status.containerStatuses[0].restartCount >= 1
        ),  # type: ignore[index, union-attr]
    )
    assert pod.metadata is not None and pod.metadata.uid
    worker = sim.kubelet.workers[pod.metadata.uid]
    assert not worker.idle and worker.cancel_scope is not None
    await kube.delete(Pod, "loop")
    await wait_gone(kube, Pod, "loop", since=pod.metadata.resourceVersion)


def involved(name: str, uid: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "test", "uid": uid, "resourceVersion": "1"}}


def counts(sim: SimCluster, uid: str) -> list[tuple[str, str, int]]:
    return sorted(
        (e["reason"], e["message"], e["count"])
        for e in sim.store.list(k.EVENT, "test")
        if e["involvedObject"]["uid"] == uid
    )


async def test_repeated_events_fold_into_one(sim: SimCluster, kube: AsyncClient) -> None:
    recorder = sim.kubelet.recorder("node-1")
    pod = involved("folded", "uid-folded")
    path = "spec.containers{main}"
    for _ in range(3):
        recorder.record(k.POD, pod, "Warning", "BackOff", "Back-off restarting", path)
    recorder.record(k.POD, pod, "Warning", "BackOff", "another message", path)
    recorder.record(k.POD, pod, "Normal", "BackOff", "Back-off restarting", path)  # other type
    assert counts(sim, "uid-folded") == [
        ("BackOff", "Back-off restarting", 1),
        ("BackOff", "Back-off restarting", 3),
        ("BackOff", "another message", 1),
    ]
    events = [e async for e in kube.list(Event, fields={"involvedObject.name": "folded"})]
    assert sorted(e.count or 0 for e in events) == [1, 1, 3]


async def test_an_event_deleted_or_changed_is_not_bumped(sim: SimCluster) -> None:
    recorder = sim.kubelet.recorder("node-1")
    pod = involved("gone", "uid-gone")
    recorder.record(k.POD, pod, "Normal", "Pulled", "pulled it")
    (first,) = sim.store.list(k.EVENT, "test")
    sim.registry.delete(k.EVENT, "test", first["metadata"]["name"], DeleteOptions())
    recorder.record(k.POD, pod, "Normal", "Pulled", "pulled it")
    (second,) = sim.store.list(k.EVENT, "test")
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert second["count"] == 1

    def rename(event: dict[str, object]) -> None:
        event["reason"] = "Renamed"

    sim.registry.mutate(k.EVENT, "test", second["metadata"]["name"], rename)
    recorder.record(k.POD, pod, "Normal", "Pulled", "pulled it")
    assert counts(sim, "uid-gone") == [("Pulled", "pulled it", 1), ("Renamed", "pulled it", 1)]
    recorder.record(k.POD, pod, "Normal", "Pulled", "pulled it")
    assert counts(sim, "uid-gone") == [("Pulled", "pulled it", 2), ("Renamed", "pulled it", 1)]
