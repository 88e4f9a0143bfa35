"""The store's memory savings keep objects as they were: equal, same JSON, same versions.

Structural sharing (``sim/sharing.py``) and the compact selector index (``sim/store.py``)
must be invisible: what is stored equals what was put and encodes to the same JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from userpods.sim import kinds as k
from userpods.sim.selectors import Requirement
from userpods.sim.sharing import Sharing
from userpods.sim.store import Store


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels},
        "spec": {
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "tolerationSeconds": 300}],
            "containers": [{"name": "c", "image": "img", "ports": [{"containerPort": 22}]}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}]},
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values, json_values)
def test_shared_trees_equal_and_encode_the_same(first: Any, second: Any) -> None:
    sharing = Sharing(sweep_at=8)
    expected = [dumps(first), dumps(second)]
    a = sharing.share(first)
    b = sharing.share(second, a)
    assert [dumps(a), dumps(b)] == expected
    assert json.dumps(a) == json.dumps(first) and json.dumps(b) == json.dumps(second)


def test_values_equal_in_python_but_not_in_json_stay_apart() -> None:
    sharing = Sharing()
    parts = [{"x": 1}, {"x": True}, {"x": 1.0}, {"x": -0.0}, {"x": 0.0}, {"a": 1, "b": 2}]
    parts.append({"b": 2, "a": 1})
    shared = [sharing.share(part) for part in parts]
    assert [dumps(s) for s in shared] == [dumps(p) for p in parts]
    assert len({id(s) for s in shared}) == len(parts)


def test_identical_parts_of_different_objects_are_one_copy() -> None:
    store = Store()
    one = store.put(k.POD, pod("one", app="x"), created=True)
    two = store.put(k.POD, pod("two", app="x"), created=True)
    assert one["spec"] is two["spec"]
    assert one["status"]["conditions"] is two["status"]["conditions"]
    assert one["metadata"] is not two["metadata"]  # a uid makes it one object's own
    assert one["metadata"]["labels"] is two["metadata"]["labels"]


def test_keys_and_short_values_are_interned() -> None:
    store = Store()
    body = json.loads(json.dumps(pod("one")))  # JSON-decoded: fresh strings
    stored = store.put(k.POD, body, created=True)
    condition = stored["status"]["conditions"][0]
    for key in condition:
        assert key is sys.intern(key)
    assert condition["status"] is sys.intern("True")


def test_a_new_version_reuses_what_did_not_change() -> None:
    store = Store()
    first = store.put(k.POD, pod("one"), created=True)
    changed = json.loads(json.dumps(first))
    changed["status"]["phase"] = "Running"
    second = store.put(k.POD, changed, created=False)
    assert second["spec"] is first["spec"]
    assert second["metadata"]["labels"] is first["metadata"]["labels"]
    assert second["status"] != first["status"]
    versions = [int(obj["metadata"]["resourceVersion"]) for obj in (first, second)]
    assert versions[1] == versions[0] + 1
    changes = store.changes_since(1)
    assert [c.type for c in changes] == ["ADDED", "MODIFIED"]
    assert changes[-1].old is first and changes[-1].obj is second


def test_the_caller_s_object_is_left_alone() -> None:
    store = Store()
    body = pod("one")
    kept = body["spec"]
    stored = store.put(k.POD, body, created=True)
    kept["containers"].append({"name": "late"})  # the caller changing what it gave up
    assert len(stored["spec"]["containers"]) == 1


def test_sweep_drops_only_what_nobody_holds() -> None:
    sharing = Sharing(sweep_at=1_000_000)
    held = sharing.share({"a": [1, 2], "b": {"c": "d"}})
    sharing.share({"gone": [3]})
    sharing.sweep()
    again = sharing.share({"a": [1, 2], "b": {"c": "d"}})
    assert again == held and dumps(again) == dumps(held)
    sharing.sweep()
    sharing.sweep()
    assert len(sharing) <= 3  # the held parts (a, b, the dict) and nothing of "gone"


def test_selecting_through_the_compact_index() -> None:
    store = Store()
    for name in ("a", "b", "c"):
        store.put(k.POD, pod(name, app="x", own=name), created=True)
    select = store.select

    def names(*reqs: Requirement) -> list[str]:
        return [p["metadata"]["name"] for p in select(k.POD, "ns", labels=reqs)]

    assert names(Requirement("own", "=", frozenset(["b"]))) == ["b"]
    assert names(Requirement("app", "=", frozenset(["x"]))) == ["a", "b", "c"]
    assert names(Requirement("own", "in", frozenset(["a", "c"]))) == ["a", "c"]
    store.remove(k.POD, "ns", "b")
    assert names(Requirement("own", "=", frozenset(["b"]))) == []
    assert names(Requirement("app", "=", frozenset(["x"]))) == ["a", "c"]
    store.remove(k.POD, "ns", "a")
    assert names(Requirement("app", "=", frozenset(["x"]))) == ["c"]
    relabelled = pod("c", app="y", own="c")
    store.put(k.POD, relabelled, created=False)
    assert names(Requirement("app", "=", frozenset(["x"]))) == []
    assert names(Requirement("app", "=", frozenset(["y"]))) == ["c"]
