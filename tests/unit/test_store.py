"""The store: global resourceVersion, change history, 410 expiry."""

from __future__ import annotations

from typing import Any

import pytest

from userpods.sim import kinds as k
from userpods.sim.status import ApiError
from userpods.sim.store import Store, with_type


def obj(name: str, namespace: str = "ns", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"}, **extra}


def test_resource_version_increments_by_one_per_write() -> None:
    store = Store()
    start = store.rv
    a = store.put(k.POD, obj("a"), created=True)
    assert store.rv == start + 1
    assert a["metadata"]["resourceVersion"] == str(start + 1)
    store.put(k.SERVICE, obj("s"), created=True)  # one counter for every kind
    assert store.rv == start + 2
    b = store.put(k.POD, obj("a", spec={"x": 1}), created=False)
    assert b["metadata"]["resourceVersion"] == str(start + 3)
    final = store.remove(k.POD, "ns", "a")
    assert final is not None
    assert final["metadata"]["resourceVersion"] == str(start + 4)  # DELETED carries a new RV
    assert store.rv == start + 4
    assert store.remove(k.POD, "ns", "a") is None  # no write, no bump
    assert store.rv == start + 4


def test_reads() -> None:
    store = Store()
    store.put(k.POD, obj("b"), created=True)
    store.put(k.POD, obj("a"), created=True)
    store.put(k.POD, obj("c", namespace="other"), created=True)
    store.put(k.PV, obj("v", namespace=""), created=True)
    assert [o["metadata"]["name"] for o in store.list(k.POD)] == ["a", "b", "c"]
    assert [o["metadata"]["name"] for o in store.list(k.POD, "ns")] == ["a", "b"]
    got = store.get(k.POD, "other", "c")
    assert got is not None
    assert got["metadata"]["uid"] == "uid-c"
    assert store.get(k.POD, "ns", "c") is None
    assert store.get(k.PV, "", "v") is not None
    assert store.count(k.POD) == 3
    assert "uid-a" in store.uids
    store.remove(k.POD, "ns", "a")
    assert "uid-a" not in store.uids


def test_changes_since() -> None:
    store = Store()
    rv0 = store.rv
    store.put(k.POD, obj("a"), created=True)
    store.put(k.POD, obj("a", spec={}), created=False)
    store.remove(k.POD, "ns", "a")
    changes = store.changes_since(rv0)
    assert [(c.type, c.rv) for c in changes] == [
        ("ADDED", rv0 + 1),
        ("MODIFIED", rv0 + 2),
        ("DELETED", rv0 + 3),
    ]
    assert changes[1].old is changes[0].obj
    assert changes[2].namespace == "ns"
    assert [c.rv for c in store.changes_since(rv0 + 2)] == [rv0 + 3]
    assert store.changes_since(store.rv) == []
    assert store.changes_since(store.rv + 10) == []


def test_encoded_object_carries_kind_and_api_version() -> None:
    store = Store()
    store.put(k.INGRESS, obj("i"), created=True)
    (change,) = store.changes_since(1)
    assert change.encoded_object().startswith(
        b'{"kind":"Ingress","apiVersion":"networking.k8s.io/v1","metadata":'
    )
    assert with_type(k.POD, {"metadata": {}}) == {"kind": "Pod", "apiVersion": "v1", "metadata": {}}


def test_old_versions_expire_after_trimming() -> None:
    store = Store(history_limit=4)
    rv0 = store.rv
    for i in range(4):
        store.put(k.POD, obj(f"p{i}"), created=True)
    assert len(store.changes_since(rv0)) == 4  # still all retained
    store.put(k.POD, obj("p4"), created=True)  # one over the limit: the oldest goes
    with pytest.raises(ApiError) as info:
        store.changes_since(rv0)
    assert info.value.code == 410
    assert info.value.reason == "Expired"
    # As the watch cache: the number in brackets is the oldest RV one can still resume from.
    assert info.value.message == f"too old resource version: {rv0} ({rv0 + 1})"
    assert [c.rv for c in store.changes_since(rv0 + 1)] == [rv0 + 2, rv0 + 3, rv0 + 4, rv0 + 5]


def test_trimming_happens_in_batches() -> None:
    store = Store(history_limit=8)
    for i in range(9):
        store.put(k.POD, obj(f"p{i}"), created=True)
    # 9 writes over a limit of 8: a quarter of the limit (2) is cut at once.
    assert len(store.changes_since(store.rv - 7)) == 7
    with pytest.raises(ApiError):
        store.changes_since(store.rv - 8)


def test_history_limit_change() -> None:
    store = Store()
    rv0 = store.rv
    for i in range(10):
        store.put(k.POD, obj(f"p{i}"), created=True)
    assert len(store.changes_since(rv0)) == 10
    store.set_history_limit(3)
    assert store.history_limit == 3
    with pytest.raises(ApiError) as info:
        store.changes_since(rv0)
    assert info.value.code == 410
    assert [c.rv for c in store.changes_since(store.rv - 3)] == [
        store.rv - 2,
        store.rv - 1,
        store.rv,
    ]
    with pytest.raises(ApiError):
        store.changes_since(store.rv - 4)
    # Raising the limit again keeps what was dropped dropped, and new writes are kept.
    store.set_history_limit(100)
    for i in range(20):
        store.put(k.POD, obj(f"q{i}"), created=True)
    assert len(store.changes_since(store.rv - 23)) == 23
    store.set_history_limit(0)  # clamped to 1
    assert store.history_limit == 1


async def test_changed_event_is_set_by_the_next_write() -> None:
    store = Store()
    changed = store.changed
    assert not changed.is_set()
    store.put(k.POD, obj("a"), created=True)
    assert changed.is_set()
    assert not store.changed.is_set()  # a fresh event for the next write
