"""The cluster cache never moves an object backwards: a relist's snapshot is ordered against
the daemon's own writes by resourceVersion (the relist race of issue 8)."""

from __future__ import annotations

from lightkube.resources.core_v1 import Pod

from userpods.daemon.cache import KindCache


def pod(name: str, version: str, uid: str = "u1", phase: str = "Pending") -> Pod:
    return Pod.from_dict(
        {
            "metadata": {"name": name, "uid": uid, "resourceVersion": version},
            "status": {"phase": phase},
        }
    )


async def test_a_snapshot_older_than_a_create_keeps_the_created_object() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([], "10")
    cache.observe(pod("a", "12"))  # the daemon's create, answered while a list was read
    cache.replace([], "11")  # that list's snapshot predates the create
    assert cache.get("a") is not None


async def test_a_snapshot_does_not_undo_a_later_write() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([pod("a", "5")], "5")
    cache.observe(pod("a", "9", phase="Running"))
    cache.replace([pod("a", "5")], "8")
    found = cache.get("a")
    assert found is not None and found.status is not None
    assert found.status.phase == "Running"


async def test_a_later_snapshot_wins_and_removes_what_it_lacks() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([pod("a", "5"), pod("b", "6")], "6")
    cache.replace([pod("a", "7", phase="Running")], "8")  # b was deleted before 8
    assert cache.get("b") is None
    found = cache.get("a")
    assert found is not None and found.status is not None
    assert found.status.phase == "Running"


async def test_a_recreated_object_is_ordered_by_version_not_uid() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([pod("a", "5", uid="old")], "5")
    cache.observe(pod("a", "9", uid="new"))  # deleted and made again after the snapshot
    cache.replace([pod("a", "5", uid="old")], "7")
    found = cache.get("a")
    assert found is not None and found.metadata is not None
    assert found.metadata.uid == "new"


async def test_watch_events_older_than_the_cache_are_ignored() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([], "1")
    cache.observe(pod("a", "9", phase="Running"))
    cache.event("MODIFIED", pod("a", "4"))
    found = cache.get("a")
    assert found is not None and found.status is not None
    assert found.status.phase == "Running"
    cache.event("DELETED", pod("a", "10"))
    assert cache.get("a") is None


async def test_opaque_versions_trust_the_newest_report() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([pod("a", "x1")], "x1")
    cache.observe(pod("a", "x2", phase="Running"))
    found = cache.get("a")
    assert found is not None and found.status is not None
    assert found.status.phase == "Running"
    cache.replace([], "x3")  # a snapshot that cannot be ordered is taken as the truth
    assert cache.get("a") is None


async def test_a_deleted_object_of_another_uid_is_not_dropped() -> None:
    cache: KindCache[Pod] = KindCache(Pod)
    cache.replace([], "1")
    cache.observe(pod("a", "9", uid="new"))
    cache.observe_gone("a", "old")
    assert cache.get("a") is not None
