"""The cluster cache never moves an object backwards: a relist's snapshot is ordered against
the daemon's own writes by resourceVersion (the relist race of issue 8)."""

from __future__ import annotations

from lightkube.resources.core_v1 import Pod

from userpods import naming
from userpods.daemon import slim
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


def owned(name: str, owner: str, uid: str, version: str = "1") -> Pod:
    return Pod.from_dict(
        {
            "metadata": {
                "name": name,
                "uid": uid,
                "resourceVersion": version,
                "annotations": {naming.ANNOTATION_OWNER: owner},
            }
        }
    )


def indexed_cache() -> KindCache[Pod]:
    return KindCache(Pod, indexes={"owner": naming.pod_owner, "uid": lambda p: p.metadata.uid})


async def test_indexes_follow_every_change() -> None:
    cache = indexed_cache()
    cache.replace([owned("a", "u1@x", "1"), owned("b", "u1@x", "2"), owned("c", "u2@x", "3")], "3")
    assert [p.metadata.name for p in cache.indexed("owner", "u1@x")] == ["a", "b"]
    cache.observe(owned("b", "u2@x", "4", version="4"))  # b is another user's now
    assert [p.metadata.name for p in cache.indexed("owner", "u1@x")] == ["a"]
    assert [p.metadata.name for p in cache.indexed("owner", "u2@x")] == ["b", "c"]
    cache.event("DELETED", owned("a", "u1@x", "1", version="5"))
    assert cache.indexed("owner", "u1@x") == [] and cache.indexed("uid", "1") == []
    cache.replace([owned("c", "u2@x", "3")], "6")  # b went while the watch was down
    assert [p.metadata.name for p in cache.indexed("owner", "u2@x")] == ["c"]
    assert [p.metadata.uid for p in cache.indexed("uid", "3")] == ["3"]


async def test_a_listener_hears_each_change_until_removed() -> None:
    cache = indexed_cache()
    heard: list[tuple[str, str | None, str | None]] = []

    def listener(name: str, old: Pod | None, new: Pod | None) -> None:
        heard.append((name, old and old.metadata.uid, new and new.metadata.uid))

    stop = cache.listen(listener)
    cache.observe(owned("a", "u", "1"))
    cache.observe(owned("a", "u", "2", version="2"))
    cache.observe_gone("a", "2")
    stop()
    cache.observe(owned("b", "u", "3", version="3"))
    assert heard == [("a", None, "1"), ("a", "1", "2"), ("a", "2", None)]


async def test_what_the_cache_keeps_is_the_projection() -> None:
    cache: KindCache[Pod] = KindCache(Pod, project=slim.pod)
    full = Pod.from_dict(
        {
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "1", "managedFields": [{}]},
            "spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}]},
        }
    )
    cache.observe(full)
    kept = cache.get("a")
    assert kept is not None and kept.metadata.managedFields is None
    assert kept.spec.containers[0].name == "c" and kept.spec.containers[0].env is None
