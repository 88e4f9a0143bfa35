"""Every endpoint's happy path and reply shape, over real HTTP against the simulated cluster.

get_pods, create_pod, watch_create_pod / watch_delete_pod (long-polls), delete_pod,
delete_all_user, clean_all_unused, get_podip_owner (including its wait for a just-created
pod's IP), /healthz, /readyz; and many users creating and deleting at once.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

import httpx2
import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Node, Pod

from tests.e2e.conftest import CLUSTER, Stack
from tests.e2e.helpers import (
    SLOW_READY,
    SLOW_START,
    assert_error,
    assert_json,
    assert_nothing_made,
    base_name,
    container,
    create,
    create_ready,
    delete,
    delete_all,
    get_pods,
    hold,
    leftovers,
    listed,
    manifest_url,
    names_of,
    pod_manifest,
    release,
    wait_pod,
    wait_terminating,
    watch_create,
    watch_delete,
)
from userpods import naming

USER = "fror@dtu.dk"
OTHER = "kaja@ku.dk"


def is_ready(pod: Pod) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


async def test_get_pods_reply_shape(stack: Stack, api: Any, kube: AsyncClient) -> None:
    assert await get_pods(api, USER) == []
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    name = await create_ready(api, url, USER)
    [info] = await get_pods(api, USER)
    pod = await kube.get(Pod, name)
    assert pod.status is not None and pod.status.startTime is not None
    assert info["pod_name"] == name == base_name("ubuntu", USER)
    assert info["container_name"] == "ubuntu-jammy"
    assert info["image_name"] == "registry.sciencedata.test:5000/ubuntu_jammy_sciencedata_testing"
    assert info["pod_ip"] == pod.status.podIP
    assert ipaddress.ip_address(info["pod_ip"]) in stack.settings.pod_subnet_cidr
    assert info["node_ip"] == pod.status.hostIP != ""
    assert info["owner"] == USER
    assert re.fullmatch(r"\d+:\d{1,2}:\d{1,2}", info["age"]), info["age"]
    start = pod.status.startTime.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["status"] == f"Running:{start}"
    assert isinstance(info["url"], str)
    assert isinstance(info["ssh_url"], str)
    assert isinstance(info["tokens"], dict)
    assert isinstance(info["k8s_pod_info"], dict)
    assert await get_pods(api, OTHER) == []


async def test_create_pod_reply_and_pod(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "python_worker.yaml")
    reply = await api("/create_pod", {"yaml_url": url, "user_id": USER, "settings": {}})
    assert assert_json(reply) == {"pod_name": base_name("worker", USER)}
    pod = await kube.get(Pod, base_name("worker", USER))
    assert pod.metadata is not None and pod.metadata.annotations is not None
    assert pod.metadata.annotations[naming.ANNOTATION_OWNER] == USER
    assert await watch_create(api, USER, base_name("worker", USER))
    # settings may be left out
    reply = await api("/create_pod", {"yaml_url": url, "user_id": USER})
    assert assert_json(reply) == {"pod_name": base_name("worker", USER) + "-1"}


async def test_watch_create_long_polls_until_ready(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    url = stack.manifests.put(
        "slow-ready.yaml", pod_manifest("slowready", container("c", SLOW_READY))
    )
    name = await create(api, url, USER)
    [info] = await get_pods(api, USER)
    assert info["status"] == "Creating"
    with trio.fail_after(10):
        assert await watch_create(api, USER, name)
    pod = await kube.get(Pod, name)
    assert is_ready(pod)  # the long-poll answered only once the pod was Ready
    [info] = await get_pods(api, USER)
    assert info["status"].startswith("Running:")
    assert await watch_create(api, USER, name)  # and keeps answering true


async def test_watch_create_answers_false_when_the_creation_fails(stack: Stack, api: Any) -> None:
    url = manifest_url(stack, "test_fail_start.yaml")
    name = await create(api, url, USER)
    with trio.fail_after(10):
        assert not await watch_create(api, USER, name)
        assert await watch_delete(api, USER, name)
    assert await get_pods(api, USER) == []
    assert not await watch_create(api, USER, name)


async def test_watch_create_answers_false_when_deleted_while_creating(
    stack: Stack, api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = stack.manifests.put("slow.yaml", pod_manifest("slow", container("c", SLOW_START)))
    name = await create(api, url, USER)
    answers: list[bool] = []
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            answers.append(await watch_create(api, USER, name))

        nursery.start_soon(watch)
        with caplog.at_level(logging.INFO, logger="userpods.daemon"), trio.fail_after(5):
            assert assert_json(await delete(api, USER, name)) == {"requested": True}
            assert await watch_delete(api, USER, name)
    assert answers == [False]
    # A deletion by the user is not a failed creation (no warning, no second deletion).
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "failed" in m], messages
    assert len([m for m in messages if m.startswith(f"deleting pod {name}")]) == 1


async def test_delete_and_watch_delete_long_poll(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    name = await create_ready(api, url, USER)
    # A finalizer holds the pod in Terminating, so the deletion stays in flight until we let go.
    await hold(kube, name)
    assert assert_json(await delete(api, USER, name)) == {"requested": True}
    answers: list[bool] = []
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            answers.append(await watch_delete(api, USER, name))

        nursery.start_soon(watch)
        with trio.fail_after(5):
            await wait_terminating(kube, name)
        [info] = await get_pods(api, USER)
        assert info["status"] == "Deleting"
        assert not await watch_create(api, USER, name)  # a pod being deleted is not ready
        # asking again while the deletion runs is fine
        assert assert_json(await delete(api, USER, name)) == {"requested": True}
        assert answers == []  # still long-polling
        await release(kube, name)
    assert answers == [True]
    assert await get_pods(api, USER) == []
    assert await names_of(kube, Pod) == []
    assert await watch_delete(api, USER, name)  # nothing in flight, no such pod: true


async def test_delete_all_user(stack: Stack, api: Any, kube: AsyncClient) -> None:
    ubuntu = manifest_url(stack, "ubuntu_sciencedata.yaml")
    slow = stack.manifests.put("slow.yaml", pod_manifest("slow", container("c", SLOW_START)))
    ready = await create_ready(api, ubuntu, USER)
    creating = await create(api, slow, USER)  # still creating: delete_all_user ends it too
    kept = await create_ready(api, ubuntu, OTHER)
    with trio.fail_after(10):
        assert await delete_all(api, USER)
    assert await get_pods(api, USER) == []
    assert await leftovers(kube, USER) == []
    left = await names_of(kube, Pod)
    assert left == [kept]
    assert ready not in left and creating not in left
    assert await watch_delete(api, USER, ready)
    assert not await watch_create(api, USER, creating)
    assert set(await listed(api, OTHER)) == {kept}
    assert await delete_all(api, USER)  # nothing left: still true
    assert await delete_all(api, "nobody-at-all")


async def test_clean_all_unused(stack: Stack, api: Any, kube: AsyncClient) -> None:
    assert assert_json(await api("/clean_all_unused", {})) == {"removed": []}
    name = await create_ready(api, manifest_url(stack, "python_worker.yaml"), USER)
    assert assert_json(await api("/clean_all_unused", {})) == {"removed": []}
    assert set(await listed(api, USER)) == {name}  # pods in use stay
    assert await watch_create(api, USER, name)
    # no body at all is fine too
    async with httpx2.AsyncClient() as client:
        reply = await client.post(stack.url + "/clean_all_unused")
    assert assert_json(reply) == {"removed": []}


async def test_get_podip_owner(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """The owner of a ready pod's IP; "" for an unused IP; a just-created pod's IP is waited
    for: the call is made before the pod has an IP and answers once it gets one."""
    assert stack.sim is not None  # the simulated cluster's IP layout (skipped on a real one)
    node = await kube.get(Node, "node-1")
    assert node.spec is not None and node.spec.podCIDR
    # The first pod on node-1 of a fresh cluster gets its range's first usable address.
    expected = str(ipaddress.ip_network(node.spec.podCIDR)[2])
    hold = "test.example/hold"  # our own scheduling gate keeps the pod without an IP
    url = stack.manifests.put(
        "pinned.yaml",
        pod_manifest(
            "pinned",
            container("c"),
            nodeSelector={"kubernetes.io/hostname": "node-1"},
            schedulingGates=[{"name": hold}],
        ),
    )
    answers: dict[str, str] = {}

    async def owner_of(ip: str) -> None:
        reply = await api("/get_podip_owner", params={"ip": ip})
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/plain")
        answers[ip] = reply.text

    unused = "10.129.200.7"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(owner_of, unused)  # waits its ~4.5 s, concurrently
            name = await create(api, url, USER)
            nursery.start_soon(owner_of, expected)

            def only_our_gate(_: str, pod: Pod) -> bool:
                gates = pod.spec.schedulingGates if pod.spec else None
                return [g.name for g in gates or []] == [hold]

            _, pod = await wait_pod(kube, name, only_our_gate)  # the daemon released its gate
            assert pod.status is None or not pod.status.podIP
            assert expected not in answers  # still waiting for the IP
            await kube.patch(Pod, name, {"spec": {"schedulingGates": None}})
            _, pod = await wait_pod(kube, name, lambda _, p: bool(p.status and p.status.podIP))
            assert pod.status is not None and pod.status.podIP == expected
    assert answers == {expected: USER, unused: ""}
    assert await watch_create(api, USER, name)
    # an IP the cache knows already answers at once
    with trio.fail_after(1):
        reply = await api("/get_podip_owner", params={"ip": expected})
    assert reply.text == USER


async def test_get_podip_owner_rejects_bad_ips(stack: Stack, api: Any) -> None:
    assert stack.sim is not None  # the IPs below assume the simulated cluster's pod CIDR
    for ip in ("abc", "10.128.0", "10.128.0.256", "10.128.0.2/32", "999.1.1.1", "-"):
        message = assert_error(await api("/get_podip_owner", params={"ip": ip}), 400)
        assert "not an IP address" in message, message
    for ip in ("10.0.0.20", "10.130.0.1", "127.0.0.1", "::1", "10.127.255.255"):
        message = assert_error(await api("/get_podip_owner", params={"ip": ip}), 400)
        assert "not in the pod network" in message, message
    assert_error(await api("/get_podip_owner"), 400)
    assert_error(await api("/get_podip_owner", params={"ip": ""}), 400)


async def test_healthz_and_readyz(stack: Stack, api: Any) -> None:
    assert assert_json(await api("/healthz")) == {"status": "ok"}
    ready = assert_json(await api("/readyz"))
    assert ready["status"] == "ready"
    assert isinstance(ready["cache"], dict) and ready["cache"]


async def test_many_users_at_once(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """15 users create 2 pods each at once; each sees exactly theirs; all delete at once."""
    ubuntu = manifest_url(stack, "ubuntu_sciencedata.yaml")
    worker = manifest_url(stack, "python_worker.yaml")
    users = [f"user{i}@uni{i % 4}.dk" for i in range(15)]
    made: dict[str, set[str]] = {user: set() for user in users}
    # 30 pods at once: a real control plane with KWOK's nodes takes 15-21 s for them (measured),
    # the simulated cluster about 2.
    bound = 60 if CLUSTER else 20

    async def make(user: str, url: str) -> None:
        made[user].add(await create_ready(api, url, user))

    with trio.fail_after(bound):
        async with trio.open_nursery() as nursery:
            for user in users:
                nursery.start_soon(make, user, ubuntu)
                nursery.start_soon(make, user, worker)
    for user in users:
        assert made[user] == {base_name("ubuntu", user), base_name("worker", user)}
        infos = await get_pods(api, user)
        assert {i["pod_name"] for i in infos} == made[user]
        assert {i["owner"] for i in infos} == {user}
        assert all(i["status"].startswith("Running:") for i in infos), infos
    assert len(await names_of(kube, Pod)) == 30
    results: dict[str, bool] = {}

    async def remove(user: str) -> None:
        results[user] = await delete_all(api, user)

    with trio.fail_after(bound):
        async with trio.open_nursery() as nursery:
            for user in users:
                nursery.start_soon(remove, user)
    assert results == dict.fromkeys(users, True)
    for user in users:
        assert await get_pods(api, user) == []
    await assert_nothing_made(stack, kube)
