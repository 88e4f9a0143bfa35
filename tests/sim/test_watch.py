"""Watch semantics through lightkube (and raw HTTP where lightkube hides the protocol).

Pods here are mostly "unscheduled" (a scheduler name nobody serves), so only the test writes
to them and watch sequences can be compared exactly.
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from lightkube import ApiError, AsyncClient
from lightkube import operators as op
from lightkube.resources.core_v1 import ConfigMap, Pod

from tests.conftest import sim_options
from userpods.sim import FaultSettings, SimCluster, serve_sim

from .helpers import make_pod, raw_client, raw_watch

Seen = list[tuple[str, str, str]]  # (type, name, resourceVersion)


async def _labels(kube: AsyncClient, name: str, **labels: str | None) -> Pod:
    return await kube.patch(Pod, name, {"metadata": {"labels": labels}})


async def _collect(
    kube: AsyncClient,
    count: int,
    seen: Seen,
    rv: str | None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    **kwargs: Any,
) -> None:
    """Watch pods from ``rv`` until ``count`` events have been seen."""
    async with contextlib.aclosing(kube.watch(Pod, resource_version=rv, **kwargs)) as stream:
        task_status.started()
        async for type_, pod in stream:
            seen.append((type_, pod.metadata.name, pod.metadata.resourceVersion))
            if len(seen) == count:
                return


async def test_list_then_watch_resumes_without_loss_or_repeat(kube: AsyncClient) -> None:
    for name in ("a", "b"):
        await kube.create(make_pod(name, unscheduled=True))
    listing = kube.list(Pod)
    names = [p.metadata.name async for p in listing]
    assert names == ["a", "b"]
    list_rv = listing.resourceVersion

    # Session 1: live, from the list's RV; the changes happen while it watches.
    first: Seen = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_collect, kube, 4, first, list_rv)
            await kube.create(make_pod("c", unscheduled=True))
            await _labels(kube, "a", app="x")
            await kube.delete(Pod, "b")
    # Deleting a pod is written first (MODIFIED: deletionTimestamp), then removed (DELETED),
    # also for an unscheduled one: as a real apiserver (measured by tests/differential).
    assert [(t, n) for t, n, _ in first] == [
        ("ADDED", "c"),
        ("MODIFIED", "a"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
    ]
    rvs = [int(rv) for _, _, rv in first]
    assert rvs == sorted(rvs)
    assert rvs[0] > int(list_rv)

    # Between the sessions, nobody watches.
    await kube.create(make_pod("d", unscheduled=True))
    await _labels(kube, "c", app="y")
    await kube.delete(Pod, "a")

    # Session 2: resume from the last RV seen; then one more write as an end marker.
    second: Seen = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(_collect, kube, 5, second, first[-1][2])
            await kube.create(make_pod("end", unscheduled=True))
    assert [(t, n) for t, n, _ in second] == [
        ("ADDED", "d"),
        ("MODIFIED", "c"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
        ("ADDED", "end"),
    ]
    all_rvs = [int(rv) for _, _, rv in first + second]
    assert all_rvs == sorted(set(all_rvs))  # strictly increasing: nothing repeated


async def test_deleted_event_carries_final_object_with_new_rv(kube: AsyncClient) -> None:
    created = await kube.create(make_pod("gone", unscheduled=True, labels={"app": "x"}))
    seen: Seen = []
    with trio.fail_after(5):
        async with contextlib.aclosing(
            kube.watch(Pod, resource_version=created.metadata.resourceVersion)
        ) as stream:
            await kube.delete(Pod, "gone")
            async for type_, pod in stream:
                seen.append((type_, pod.metadata.name, pod.metadata.resourceVersion))
                assert pod.metadata.uid == created.metadata.uid
                assert pod.metadata.labels == {"app": "x"}
                assert pod.metadata.deletionTimestamp is not None
                if type_ == "DELETED":
                    break
    assert [t for t, _, _ in seen] == ["MODIFIED", "DELETED"]
    assert int(seen[1][2]) > int(seen[0][2]) > int(created.metadata.resourceVersion)


@pytest.mark.parametrize("rv", ["0", None])
async def test_watch_from_zero_or_unset_starts_with_added(
    kube: AsyncClient, rv: str | None
) -> None:
    for name in ("x1", "x2", "x3"):
        await kube.create(make_pod(name, unscheduled=True))
    seen: Seen = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(_collect, kube, 4, seen, rv)
            await kube.create(make_pod("x4", unscheduled=True))
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "x1"),
        ("ADDED", "x2"),
        ("ADDED", "x3"),
        ("ADDED", "x4"),
    ]


async def test_label_selector_watch_sees_objects_enter_and_leave(kube: AsyncClient) -> None:
    await kube.create(make_pod("web", unscheduled=True, labels={"tier": "db"}))
    await kube.create(make_pod("other", unscheduled=True))
    seen: Seen = []
    objects: list[Pod] = []

    async def watch(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with contextlib.aclosing(kube.watch(Pod, labels={"tier": "web"})) as stream:
            task_status.started()
            async for type_, pod in stream:
                seen.append((type_, pod.metadata.name, pod.metadata.resourceVersion))
                objects.append(pod)
                if len(seen) == 6:
                    return

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(watch)
            await _labels(kube, "other", unrelated="1")  # never matches: no event
            await _labels(kube, "web", tier="web")  # starts matching: ADDED
            await _labels(kube, "web", extra="1")  # still matching: MODIFIED
            await _labels(kube, "web", tier="db")  # stops matching: DELETED
            await _labels(kube, "web", tier="web")  # ADDED again
            await kube.delete(Pod, "web")  # DELETED
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "web"),
        ("MODIFIED", "web"),
        ("DELETED", "web"),
        ("ADDED", "web"),
        ("MODIFIED", "web"),  # the deletion is written first
        ("DELETED", "web"),
    ]
    # As the apiserver's watch cache: an object that stops matching is sent as DELETED with
    # its last matching state, at the resourceVersion of the change that made it leave.
    left = objects[2]
    assert left.metadata.labels is not None
    assert left.metadata.labels["tier"] == "web"
    assert int(left.metadata.resourceVersion or 0) > int(objects[1].metadata.resourceVersion or 0)


async def test_selector_watch_with_set_operators(kube: AsyncClient) -> None:
    seen: Seen = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(
                    _collect,
                    kube,
                    4,
                    seen,
                    None,
                    labels={"app": op.in_(["a", "b"]), "skip": op.not_exists()},
                )
            )
            await kube.create(make_pod("p-a", unscheduled=True, labels={"app": "a"}))
            await kube.create(make_pod("p-c", unscheduled=True, labels={"app": "c"}))
            await kube.create(
                make_pod("p-b-skip", unscheduled=True, labels={"app": "b", "skip": "1"})
            )
            await _labels(kube, "p-b-skip", skip=None)  # removing the label: ADDED
            await kube.delete(Pod, "p-a")
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "p-a"),
        ("ADDED", "p-b-skip"),
        ("MODIFIED", "p-a"),
        ("DELETED", "p-a"),
    ]


async def test_field_selector_watch_follows_phase(kube: AsyncClient) -> None:
    """status.phase=Running: ADDED once running, DELETED once it fails (restartPolicy Never)."""
    seen: list[tuple[str, Pod]] = []
    with trio.fail_after(5):
        async with contextlib.aclosing(
            kube.watch(Pod, fields={"status.phase": "Running"})
        ) as stream:
            await kube.create(make_pod("crash", "example/crashloop:1", restart_policy="Never"))
            async for type_, pod in stream:
                seen.append((type_, pod))
                if type_ == "DELETED":
                    break
    assert seen[0][0] == "ADDED"
    assert all(t == "MODIFIED" for t, _ in seen[1:-1])
    assert seen[-1][0] == "DELETED"
    # The pod still exists, Failed: it left the selection, it was not deleted.
    pod = await kube.get(Pod, "crash")
    assert pod.status is not None
    assert pod.status.phase == "Failed"
    assert int(seen[-1][1].metadata.resourceVersion or 0) <= int(pod.metadata.resourceVersion or 0)
    last = seen[-1][1]
    assert last.status is not None
    assert last.status.phase == "Running"  # the last state that matched


async def test_field_selector_watch_on_name(kube: AsyncClient) -> None:
    seen: Seen = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(_collect, kube, 3, seen, None, fields={"metadata.name": "mine"})
            )
            await kube.create(make_pod("theirs", unscheduled=True))
            await kube.create(make_pod("mine", unscheduled=True))
            await kube.delete(Pod, "theirs")
            await kube.delete(Pod, "mine")
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "mine"),
        ("MODIFIED", "mine"),
        ("DELETED", "mine"),
    ]


async def test_expired_resource_version_raises_410(sim: SimCluster, kube: AsyncClient) -> None:
    await kube.create(ConfigMap.from_dict({"metadata": {"name": "old"}, "data": {"k": "v"}}))
    listing = kube.list(ConfigMap)
    _ = [cm async for cm in listing]
    old_rv = listing.resourceVersion
    sim.api.apply_faults(FaultSettings(history_limit=5))
    for i in range(12):
        await kube.patch(ConfigMap, "old", {"data": {"k": str(i)}})

    async def drain() -> None:
        async with contextlib.aclosing(kube.watch(ConfigMap, resource_version=old_rv)) as stream:
            async for _event in stream:
                pass

    with trio.fail_after(5), pytest.raises(ApiError) as info:
        await drain()
    assert info.value.status.code == 410
    assert info.value.status.reason == "Expired"
    assert (info.value.status.message or "").startswith(f"too old resource version: {old_rv} (")
    # A fresh list gives an RV that can be watched from again.
    listing = kube.list(ConfigMap)
    _ = [cm async for cm in listing]
    with trio.fail_after(5):
        async with contextlib.aclosing(
            kube.watch(ConfigMap, resource_version=listing.resourceVersion)
        ) as stream:
            await kube.patch(ConfigMap, "old", {"data": {"k": "after"}})
            async for type_, cm in stream:
                assert (type_, cm.data) == ("MODIFIED", {"k": "after"})
                break


async def test_expired_resource_version_via_control_endpoint(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        response = await client.patch("/_sim/faults", json={"history_limit": 5})
        assert response.status_code == 200
        assert response.json()["history_limit"] == 5
        listing = (await client.get("/api/v1/namespaces/test/configmaps")).json()
        rv = listing["metadata"]["resourceVersion"]
        for i in range(10):
            response = await client.post(
                "/api/v1/namespaces/test/configmaps", json={"metadata": {"name": f"cm{i}"}}
            )
            assert response.status_code == 201
        with trio.fail_after(5):
            events = [
                e
                async for e in raw_watch(
                    client, "/api/v1/namespaces/test/configmaps", {"resourceVersion": rv}
                )
            ]
    # HTTP 200 with one ERROR event carrying the 410 Status, then the stream ends.
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status"
    assert status["code"] == 410
    assert status["reason"] == "Expired"


async def test_timeout_seconds_ends_the_stream(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        start = trio.current_time()
        with trio.fail_after(4):
            events = [
                e
                async for e in raw_watch(
                    client, "/api/v1/namespaces/test/pods", {"timeoutSeconds": "1"}
                )
            ]
        elapsed = trio.current_time() - start
    assert events == []
    assert 0.9 <= elapsed < 3


async def test_timeout_seconds_zero_means_the_default(sim: SimCluster) -> None:
    """timeoutSeconds=0 is "unset" for the apiserver (the default timeout), not "now"."""
    async with raw_client(sim) as client:
        seen: list[dict[str, Any]] = []
        with trio.fail_after(4):
            async with contextlib.aclosing(
                raw_watch(client, "/api/v1/namespaces/test/configmaps", {"timeoutSeconds": "0"})
            ) as stream:
                async for event in stream:
                    seen.append(event)
                    if event["object"]["metadata"]["name"] == "kube-root-ca.crt":
                        await client.post(
                            "/api/v1/namespaces/test/configmaps",
                            json={"metadata": {"name": "later"}},
                        )
                    if event["object"]["metadata"]["name"] == "later":
                        break
    assert [e["type"] for e in seen] == ["ADDED", "ADDED"]


async def test_bookmarks_only_when_allowed(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim: SimCluster = await nursery.start(serve_sim, sim_options(tmp_path, bookmark_interval=0.1))
    async with raw_client(sim) as client:
        rv = (await client.get("/api/v1/namespaces/test/pods")).json()["metadata"][
            "resourceVersion"
        ]
        with trio.fail_after(3):
            async with contextlib.aclosing(
                raw_watch(
                    client,
                    "/api/v1/namespaces/test/pods",
                    {"resourceVersion": rv, "allowWatchBookmarks": "true"},
                )
            ) as stream:
                async for event in stream:
                    assert event["type"] == "BOOKMARK"
                    obj = event["object"]
                    assert obj["kind"] == "Pod"
                    assert obj["apiVersion"] == "v1"
                    assert int(obj["metadata"]["resourceVersion"]) >= int(rv)
                    break
        # Without allowWatchBookmarks: a write after several bookmark intervals is the first
        # event (this is the one place a test sleeps: to prove something does not happen).
        with trio.fail_after(3):
            async with (
                contextlib.aclosing(
                    raw_watch(client, "/api/v1/namespaces/test/pods", {"resourceVersion": rv})
                ) as stream,
                trio.open_nursery() as inner,
            ):

                async def write_later() -> None:
                    await trio.sleep(0.35)
                    pod = make_pod("late", unscheduled=True).to_dict()
                    await client.post("/api/v1/namespaces/test/pods", json=pod)

                inner.start_soon(write_later)
                async for event in stream:
                    assert event["type"] == "ADDED"
                    assert event["object"]["metadata"]["name"] == "late"
                    break


async def test_send_initial_events_ends_with_annotated_bookmark(
    sim: SimCluster, kube: AsyncClient
) -> None:
    for name in ("i1", "i2"):
        await kube.create(make_pod(name, unscheduled=True))
    async with raw_client(sim) as client:
        seen: list[dict[str, Any]] = []
        with trio.fail_after(5):
            async with contextlib.aclosing(
                raw_watch(
                    client,
                    "/api/v1/namespaces/test/pods",
                    {
                        "sendInitialEvents": "true",
                        "resourceVersionMatch": "NotOlderThan",
                        "allowWatchBookmarks": "true",
                    },
                )
            ) as stream:
                async for event in stream:
                    seen.append(event)
                    if event["type"] == "BOOKMARK":
                        await kube.create(make_pod("i3", unscheduled=True))
                    if event["object"]["metadata"].get("name") == "i3":
                        break
        assert [e["type"] for e in seen] == ["ADDED", "ADDED", "BOOKMARK", "ADDED"]
        assert [e["object"]["metadata"].get("name") for e in seen] == ["i1", "i2", None, "i3"]
        bookmark = seen[2]["object"]
        assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        initial_rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen[:2]]
        assert int(bookmark["metadata"]["resourceVersion"]) >= max(initial_rvs)

        # Without resourceVersionMatch=NotOlderThan the request is invalid (422), which makes
        # clients fall back to list+watch.
        response = await client.get(
            "/api/v1/namespaces/test/pods",
            params={"watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true"},
        )
        assert response.status_code == 422
        assert response.json()["reason"] == "Invalid"
