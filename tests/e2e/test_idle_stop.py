"""Idle stop (config ``idleStop``, plugin ``idle-stop``): a pod whose CPU use (metrics.k8s.io,
one list per check) stayed under ``cpuBelow`` for ``after`` is deleted as delete_pod deletes it,
counted and shown beforehand in get_pods' ``expires``; a busy pod is kept; without the metrics
API idle stop is inactive and /readyz says so in its body while staying 200.

The simulated cluster's catalogue gives ``*cpu-idle*`` 1m of CPU and ``*cpu-busy*`` 800m.
The control-plane tier has no metrics-server: there only the "inactive" half runs.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod, Service

from tests.e2e.conftest import CLUSTER, Stack
from tests.e2e.helpers import (
    assert_json,
    container,
    create,
    eventually,
    listed,
    pod_manifest,
    serve,
    vanishes,
    watch_create,
)

USER = "idle@dtu.dk"
IDLE = {"after": "1500ms", "cpuBelow": "100m", "every": "200ms"}
needs_metrics = pytest.mark.skipif(
    bool(CLUSTER), reason="the control-plane tier serves no metrics.k8s.io API"
)


def manifest(name: str, image: str) -> dict[str, Any]:
    main = container("main", image)
    main["ports"] = [{"containerPort": 22, "protocol": "TCP"}]
    return pod_manifest(name, main, restart="Never")


def idle_stops(text: str) -> float:
    prefix = 'userpods_pods_expired_total{source="idle"} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0][len(prefix) :]) if found else 0.0


async def readyz_note(api: Any) -> str:
    body = assert_json(await api("/readyz"))
    return str(body["plugins"]["idle-stop"])


async def test_off_by_default(stack: Stack, api: Any) -> None:
    assert await readyz_note(api) == "off"


@needs_metrics
async def test_an_idle_pod_is_stopped_and_a_busy_one_kept(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(idleStop=IDLE)
    idle = await create(api, serve(stack, manifest("quiet", "example/cpu-idle")), USER)
    busy = await create(api, serve(stack, manifest("working", "example/cpu-busy")), USER)
    assert await watch_create(api, USER, idle) and await watch_create(api, USER, busy)
    services = {s.metadata.name for s in [s async for s in kube.list(Service)] if s.metadata}

    async def shows_its_stop() -> bool:
        info = (await listed(api, USER)).get(idle, {})
        return str(info.get("expires_reason", "")).startswith("idle: CPU below 100m for 1.5s")

    with trio.fail_after(10):
        await eventually(shows_its_stop)  # get_pods tells beforehand when, and why
        assert await vanishes(kube, Pod, idle, within=10)
    pods = await listed(api, USER)
    assert idle not in pods and busy in pods, pods
    assert pods[busy]["expires"] == "", pods[busy]  # busy: never idle, no stop ahead
    metrics = (await api("/metrics")).text
    assert idle_stops(metrics) == 1
    left = {s.metadata.name for s in [s async for s in kube.list(Service)] if s.metadata}
    assert any(idle in name for name in services) and not any(idle in n for n in left), left
    note = await readyz_note(api)
    assert note.startswith("active: CPU below 100m for 1.5s"), note
    # One list of PodMetrics per check, never a call per pod.
    requests = stack.sim.api.counters.snapshot()["requests"]
    assert requests["list"]["pods.metrics.k8s.io"] >= 1, requests
    assert "get" not in {v for v, kinds in requests.items() if "pods.metrics.k8s.io" in kinds}


async def test_without_the_metrics_api_it_is_inactive_and_readyz_stays_green(
    stack: Stack, api: Any
) -> None:
    if not CLUSTER:
        stack.sim.api.metrics.enabled = False  # as a cluster without metrics-server
    await stack.restart(idleStop=IDLE)

    async def inactive() -> bool:
        return (await readyz_note(api)).startswith("inactive")

    with trio.fail_after(10):
        await eventually(inactive)
    reply = await api("/readyz")
    assert reply.status_code == 200, reply.text
    note = reply.json()["plugins"]["idle-stop"]
    assert "metrics.k8s.io" in note and "no pod is stopped" in note, note
    if CLUSTER:
        return
    name = await create(api, serve(stack, manifest("spared", "example/cpu-idle")), USER)
    assert await watch_create(api, USER, name)
    stack.sim.api.metrics.enabled = True  # metrics-server installed: idle stop takes up

    async def active() -> bool:
        return (await readyz_note(api)).startswith("active: CPU below")

    with trio.fail_after(10):
        await eventually(active)
