"""Images that fail (the built-in catalogue's test images) and a user catalogue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from lightkube import AsyncClient, KubeConfig
from lightkube.models.core_v1 import ConfigMapKeySelector, EnvVar, EnvVarSource
from lightkube.resources.core_v1 import ConfigMap, Pod

from tests.conftest import sim_options
from userpods.sim import SimCluster, serve_sim

from .helpers import (
    condition,
    container_state,
    events_of,
    make_pod,
    wait_event,
    wait_for,
    waiting_reason,
)


def phase_is(*phases: str) -> Callable[[Pod], bool]:
    return lambda pod: pod.status is not None and pod.status.phase in phases


async def test_pull_failure_goes_err_image_pull_then_back_off(kube: AsyncClient) -> None:
    image = "registry.example/does-not-exist:1"
    await kube.create(make_pod("nopull", image))
    reasons: list[str] = []

    def record(pod: Pod) -> bool:
        reason = waiting_reason(pod)
        if reason and (not reasons or reasons[-1] != reason):
            reasons.append(reason)
        return reason == "ImagePullBackOff"

    pod = await wait_for(kube, Pod, "nopull", record)
    assert reasons[-2:] == ["ErrImagePull", "ImagePullBackOff"]
    assert pod.status is not None
    assert pod.status.phase == "Pending"
    status = container_state(pod)
    assert status.ready is False
    assert status.restartCount == 0
    assert status.state.waiting.message == f'Back-off pulling image "{image}"'
    ready = condition(pod, "Ready")
    assert (ready.status, ready.reason) == ("False", "ContainersNotReady")
    assert ready.message == "containers with unready status: [main]"

    error = await wait_event(kube, "nopull", "Failed", lambda e: e.message == "Error: ErrImagePull")
    assert error.type == "Warning"
    assert error.involvedObject.fieldPath == "spec.containers{main}"
    messages = [e.message or "" for e in await events_of(kube, "nopull") if e.reason == "Failed"]
    assert any(m.startswith(f'Failed to pull image "{image}": ') for m in messages)
    back_off = await wait_event(kube, "nopull", "BackOff")
    assert back_off.message == f'Back-off pulling image "{image}"'


async def test_fail_pull_image_matches_too(kube: AsyncClient) -> None:
    await kube.create(make_pod("fp", "example/fail_pull:latest"))
    pod = await wait_for(kube, Pod, "fp", lambda p: waiting_reason(p) == "ErrImagePull")
    assert pod.status is not None
    assert pod.status.phase == "Pending"


async def test_exit_1_under_never_fails(kube: AsyncClient) -> None:
    await kube.create(make_pod("f1", "example/test_fail_start:1", restart_policy="Never"))
    pod = await wait_for(kube, Pod, "f1", phase_is("Failed", "Succeeded"))
    assert pod.status is not None
    assert pod.status.phase == "Failed"
    status = container_state(pod)
    terminated = status.state.terminated
    assert (terminated.reason, terminated.exitCode) == ("Error", 1)
    assert terminated.startedAt is not None
    assert terminated.finishedAt is not None
    assert status.ready is False
    assert status.restartCount == 0
    ready = condition(pod, "Ready")
    # The kubelet's reason for a Failed pod is PodFailed (PodCompleted is for Succeeded).
    assert (ready.status, ready.reason) == ("False", "PodFailed")
    assert condition(pod, "ContainersReady").reason == "PodFailed"
    # Terminal phases never change: a later status write keeps Failed.
    await kube.patch(Pod, "f1", {"metadata": {"labels": {"seen": "yes"}}})
    again = await kube.get(Pod, "f1")
    assert again.status is not None
    assert again.status.phase == "Failed"


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
async def test_exit_0_succeeds(kube: AsyncClient, policy: str) -> None:
    await kube.create(make_pod("ok", "example/test_finish_entrypoint:1", restart_policy=policy))
    pod = await wait_for(kube, Pod, "ok", phase_is("Failed", "Succeeded"))
    assert pod.status is not None
    assert pod.status.phase == "Succeeded"
    terminated = container_state(pod).state.terminated
    assert (terminated.reason, terminated.exitCode) == ("Completed", 0)
    ready = condition(pod, "Ready")
    assert (ready.status, ready.reason) == ("False", "PodCompleted")


@pytest.mark.parametrize(
    ("image", "policy"),
    [("example/test_fail_start:1", "Always"), ("example/crashloop:1", "OnFailure")],
)
async def test_exit_1_restarts_with_crash_loop_back_off(
    kube: AsyncClient, image: str, policy: str
) -> None:
    await kube.create(make_pod("loop", image, restart_policy=policy))

    def looping(pod: Pod) -> bool:
        status = container_state(pod)
        return (
            status is not None
            and status.restartCount >= 2
            and waiting_reason(pod) == "CrashLoopBackOff"
        )

    pod = await wait_for(kube, Pod, "loop", looping)
    assert pod.status is not None
    assert pod.status.phase == "Running"
    status = container_state(pod)
    last = status.lastState.terminated
    assert (last.reason, last.exitCode) == ("Error", 1)
    assert status.state.waiting.message.startswith("back-off ")
    assert status.ready is False
    back_off = await wait_event(kube, "loop", "BackOff")
    assert back_off.type == "Warning"
    assert (back_off.message or "").startswith("Back-off restarting failed container main in pod")


async def test_missing_config_map_key_then_created(kube: AsyncClient) -> None:
    env = [
        EnvVar(
            name="GREETING",
            valueFrom=EnvVarSource(configMapKeyRef=ConfigMapKeySelector(name="cfg", key="hello")),
        )
    ]
    await kube.create(make_pod("cfg-user", env=env))
    pod = await wait_for(
        kube, Pod, "cfg-user", lambda p: waiting_reason(p) == "CreateContainerConfigError"
    )
    assert pod.status is not None
    assert pod.status.phase == "Pending"
    assert container_state(pod).state.waiting.message == 'configmap "cfg" not found'
    event = await wait_event(kube, "cfg-user", "Failed")
    assert (event.type, event.message) == ("Warning", 'Error: configmap "cfg" not found')

    await kube.create(ConfigMap.from_dict({"metadata": {"name": "cfg"}, "data": {"other": "x"}}))
    await wait_for(
        kube,
        Pod,
        "cfg-user",
        lambda p: (
            waiting_reason(p) == "CreateContainerConfigError"
            and container_state(p).state.waiting.message
            == "couldn't find key hello in ConfigMap test/cfg"
        ),
    )
    await kube.patch(ConfigMap, "cfg", {"data": {"hello": "world"}})
    await wait_for(kube, Pod, "cfg-user", phase_is("Running"))
    result = await kube.exec("cfg-user", command=["printenv", "GREETING"], stdout=True, stderr=True)
    assert (result.stdout, result.exit_code) == ("world\n", 0)


async def test_user_catalogue_overrides_builtin(nursery: trio.Nursery, tmp_path: Path) -> None:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text(
        """
- match: "*does-not-exist*"
  logs: "found after all\\n"
  files:
    /etc/greeting: "hello {pod_name} in {namespace}"
- match: "*slowpoke*"
  start_delay: 0.01
  ready_delay: 0.01
  exit: {code: 3, after: 0.05}
"""
    )
    sim: SimCluster = await nursery.start(serve_sim, sim_options(tmp_path, images=catalogue))
    client = AsyncClient(KubeConfig.from_dict(sim.kubeconfig(namespace="test")), namespace="test")
    try:
        await client.create(make_pod("found", "example/does-not-exist:1"))
        await client.create(make_pod("three", "example/slowpoke:1", restart_policy="Never"))
        await client.create(make_pod("still-fails", "example/fail_pull:1"))
        await wait_for(client, Pod, "found", phase_is("Running"))
        result = await client.exec("found", command=["cat", "/etc/greeting"], stdout=True)
        assert (result.stdout, result.exit_code) == ("hello found in test", 0)
        lines = [line async for line in client.log("found")]
        assert lines == ["found after all\n"]
        three = await wait_for(client, Pod, "three", phase_is("Failed", "Succeeded"))
        assert three.status is not None
        assert three.status.phase == "Failed"
        assert container_state(three).state.terminated.exitCode == 3
        # Entries the user catalogue does not override still apply.
        await wait_for(client, Pod, "still-fails", lambda p: waiting_reason(p) == "ErrImagePull")
    finally:
        await client.close()
