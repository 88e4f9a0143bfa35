"""Ownership over real HTTP: calls about another user's pod answer as for a pod that does not
exist, lists never show other users' pods, and user ids that the original confused (``a.b@c.dk``
and ``a@b.c.dk``), or that are long, get valid names of their own."""

from __future__ import annotations

import re
from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod, Service

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    SLOW_START,
    assert_error,
    assert_json,
    container,
    create,
    create_ready,
    delete,
    delete_all,
    get_pods,
    hold,
    listed,
    manifest_url,
    pod_manifest,
    release,
    wait_terminating,
    watch_create,
    watch_delete,
)
from userpods import naming

ALICE = "alice@dtu.dk"
BOB = "bob@ku.dk"
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def ubuntu(stack: Stack) -> str:
    return manifest_url(stack, "ubuntu_sciencedata.yaml")


async def test_watch_create_pod_ownership(stack: Stack, api: Any) -> None:
    name = await create_ready(api, ubuntu(stack), ALICE)
    slow = stack.manifests.put("slow.yaml", pod_manifest("slow", container("c", SLOW_START)))
    creating = await create(api, slow, ALICE)
    with trio.fail_after(2):  # none of these waits: they answer at once
        assert await watch_create(api, ALICE, name)
        assert not await watch_create(api, BOB, name)
        assert not await watch_create(api, BOB, creating)  # in flight, but not Bob's
        assert not await watch_create(api, ALICE, "ubuntu-nosuchpod")
        assert not await watch_create(api, ALICE, name + "-1")
        assert not await watch_create(api, BOB, "ubuntu-nosuchpod")
    with trio.fail_after(5):
        assert assert_json(await delete(api, ALICE, creating)) == {"requested": True}
        assert await watch_delete(api, ALICE, creating)
    assert not await watch_create(api, ALICE, creating)  # gone now
    assert await watch_create(api, ALICE, name)


async def test_watch_delete_pod_ownership(stack: Stack, api: Any, kube: AsyncClient) -> None:
    name = await create_ready(api, ubuntu(stack), ALICE)
    with trio.fail_after(2):
        assert not await watch_delete(api, ALICE, name)  # hers, and not being deleted
        assert await watch_delete(api, BOB, name)  # not Bob's: as if it did not exist
        assert await watch_delete(api, ALICE, "ubuntu-nosuchpod")
    assert set(await listed(api, ALICE)) == {name}  # asking deleted nothing
    # While her deletion is in flight (a finalizer holds the pod), Bob still gets the
    # answer for a pod that does not exist, at once.
    await hold(kube, name)
    assert assert_json(await delete(api, ALICE, name)) == {"requested": True}
    with trio.fail_after(5):
        await wait_terminating(kube, name)
    with trio.fail_after(2):
        assert await watch_delete(api, BOB, name)
        assert not await watch_create(api, BOB, name)
    await release(kube, name)
    with trio.fail_after(5):
        assert await watch_delete(api, ALICE, name)


async def test_deleting_another_users_pod_fails_like_a_missing_pod(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    name = await create_ready(api, ubuntu(stack), ALICE)
    missing = "ubuntu-nosuchpod"
    theirs = await delete(api, BOB, name)
    absent = await delete(api, BOB, missing)
    assert_error(theirs, 404)
    assert theirs.status_code == absent.status_code
    assert theirs.headers["content-type"] == absent.headers["content-type"]
    assert theirs.text.replace(name, "NAME") == absent.text.replace(missing, "NAME")
    assert theirs.json() == {"error": f"pod {name} not found", "requested": False}
    # and it was not deleted
    pod = await kube.get(Pod, name)
    assert pod.metadata is not None and pod.metadata.deletionTimestamp is None
    assert await watch_create(api, ALICE, name)
    assert set(await listed(api, ALICE)) == {name}
    # the other calls about it answer as for a missing pod too
    for path in ("/watch_create_pod", "/watch_delete_pod"):
        theirs = await api(path, {"user_id": BOB, "pod_name": name})
        absent = await api(path, {"user_id": BOB, "pod_name": missing})
        assert (theirs.status_code, theirs.text) == (absent.status_code, absent.text)
    # Bob deleting all his pods leaves hers alone
    assert await delete_all(api, BOB)
    assert set(await listed(api, ALICE)) == {name}


async def test_get_pods_shows_only_the_callers_pods(stack: Stack, api: Any) -> None:
    worker = manifest_url(stack, "python_worker.yaml")
    alices = {await create_ready(api, ubuntu(stack), ALICE), await create_ready(api, worker, ALICE)}
    bobs = {await create_ready(api, ubuntu(stack), BOB)}
    assert set(await listed(api, ALICE)) == alices
    assert set(await listed(api, BOB)) == bobs
    assert {i["owner"] for i in await get_pods(api, ALICE)} == {ALICE}
    assert {i["owner"] for i in await get_pods(api, BOB)} == {BOB}
    for other in ("alice", "alice@dtu.d", "alice@dtu.dk.evil", "lice@dtu.dk", "bob@ku.dk0"):
        assert await get_pods(api, other) == [], other


async def test_user_ids_the_original_confused(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """``a.b@c.dk`` and ``a@b.c.dk`` (and ids that differ only in their punctuation, or share
    the labels ``user=fror``) get distinct pods; each sees and controls only their own."""
    users = ["a.b@c.dk", "a@b.c.dk", "a-b@c.dk", "a-b-c-dk", "a_b@c.dk", "fror", "fror@dtu.dk"]
    names: dict[str, str] = {}

    async def make(user: str) -> None:
        names[user] = await create_ready(api, ubuntu(stack), user)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for user in users:
                nursery.start_soon(make, user)
    assert len(set(names.values())) == len(users), names
    for user in users:
        assert set(await listed(api, user)) == {names[user]}, user
        pod = await kube.get(Pod, names[user])
        assert pod.metadata is not None and pod.metadata.annotations is not None
        assert pod.metadata.annotations[naming.ANNOTATION_OWNER] == user

    async def cross(user: str, other: str) -> None:
        assert not await watch_create(api, user, names[other])
        assert await watch_delete(api, user, names[other])
        assert_error(await delete(api, user, names[other]), 404)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for user in users:
                for other in users:
                    if other != user:
                        nursery.start_soon(cross, user, other)
    assert await delete_all(api, "a.b@c.dk")
    assert await get_pods(api, "a.b@c.dk") == []
    for user in users[1:]:
        assert set(await listed(api, user)) == {names[user]}, user


async def test_long_user_ids(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """Long user ids work; pod names, the services' names derived from them and the label
    values are valid; two ids sharing a long prefix get different names."""
    long_a = "a" * 40 + ".researcher@" + "department-of-physics.example.dk"
    long_b = "a" * 40 + ".researcher@" + "department-of-physics.example.dk.org"
    longest = "x" * 120 + "@" + "y" * 120 + ".dk"
    users = [long_a, long_b, longest]
    assert all(len(u) > 60 for u in users)
    names = [await create_ready(api, ubuntu(stack), user) for user in users]
    assert len(set(names)) == 3
    for user, name in zip(users, names, strict=True):
        assert len(name) <= 58 and DNS_1035.fullmatch(name), name
        for service in (f"{name}-ssh", f"{name}-http"):
            assert len(service) <= 63 and DNS_1035.fullmatch(service), service
        pod = await kube.get(Pod, name)
        assert pod.metadata is not None and pod.metadata.labels is not None
        for key, value in pod.metadata.labels.items():
            assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), (key, value)
        assert pod.metadata.annotations is not None
        assert pod.metadata.annotations[naming.ANNOTATION_OWNER] == user
        [info] = await get_pods(api, user)
        assert (info["pod_name"], info["owner"]) == (name, user)
        # a second pod of the same manifest for the same user: the -1 suffix still fits
        second = await create_ready(api, ubuntu(stack), user)
        assert second == f"{name}-1" and len(second) <= 58
    for service in [s async for s in kube.list(Service)]:  # made for them by plugins, if any
        assert service.metadata is not None and service.metadata.name is not None
        assert len(service.metadata.name) <= 63 and DNS_1035.fullmatch(service.metadata.name)
    with trio.fail_after(10):
        for user in users:
            assert await delete_all(api, user)
            assert await get_pods(api, user) == []
