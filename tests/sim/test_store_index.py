"""The store's indexes: a selected list through them equals a full scan filtered by the
selectors, whatever sequence of writes came before; lists stay ordered by namespace and name."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from userpods.sim import kinds as k
from userpods.sim.selectors import (
    FieldRequirement,
    Requirement,
    fields_match,
    labels_match,
)
from userpods.sim.store import Store

NAMESPACES = ("a", "b")
NAMES = ("p1", "p2", "p3", "p4")
KEYS = ("app", "user", "tier")
VALUES = ("x", "y", "z")
NODES = ("", "node-1", "node-2")

labels_st = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
write_st = st.tuples(
    st.sampled_from(("put", "remove")),
    st.sampled_from(NAMESPACES),
    st.sampled_from(NAMES),
    labels_st,
    st.sampled_from(NODES),
)
requirement_st = st.one_of(
    st.builds(
        Requirement,
        st.sampled_from(KEYS),
        st.sampled_from(("=", "!=", "in", "notin")),
        st.frozensets(st.sampled_from(VALUES), min_size=1, max_size=2),
    ),
    st.builds(Requirement, st.sampled_from(KEYS), st.sampled_from(("exists", "!"))),
)
field_st = st.one_of(
    st.builds(FieldRequirement, st.just("spec.nodeName"), st.sampled_from(NODES), st.booleans()),
    st.builds(FieldRequirement, st.just("metadata.name"), st.sampled_from(NAMES), st.booleans()),
    st.builds(
        FieldRequirement, st.just("metadata.namespace"), st.sampled_from(NAMESPACES), st.booleans()
    ),
    st.builds(
        FieldRequirement, st.just("status.phase"), st.sampled_from(("", "Running")), st.booleans()
    ),
)


def pod(namespace: str, name: str, labels: dict[str, str], node: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    status = {"phase": "Running"} if node else {}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{namespace}/{name}",
            "labels": labels,
        },
        "spec": spec,
        "status": status,
    }


def full_scan(store: Store, namespace: str | None, labels: Any, fields: Any) -> list[Any]:
    return [
        obj
        for obj in store.list(k.POD, namespace)
        if labels_match(labels, obj["metadata"].get("labels"))
        and fields_match(fields, {f.field: k.POD.field_value(obj, f.field) for f in fields})
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(write_st, max_size=30),
    st.lists(
        st.tuples(
            st.sampled_from((None, *NAMESPACES)),
            st.lists(requirement_st, max_size=3).map(tuple),
            st.lists(field_st, max_size=2).map(tuple),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_indexed_select_equals_a_full_scan(writes: list[Any], queries: list[Any]) -> None:
    store = Store()
    live: dict[tuple[str, str], dict[str, Any]] = {}
    for i, (op, ns, name, labels, node) in enumerate(writes):
        if op == "put":
            obj = pod(ns, name, labels, node)
            store.put(k.POD, obj, created=(ns, name) not in live)
            live[(ns, name)] = obj
        else:
            store.remove(k.POD, ns, name)
            live.pop((ns, name), None)
        if i % 7 == 3:  # a query in between: field indexes built midway are kept in step
            assert store.select(
                k.POD, None, (), (FieldRequirement("spec.nodeName", "", False),)
            ) == (full_scan(store, None, (), (FieldRequirement("spec.nodeName", "", False),)))
    assert [
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list(k.POD)
    ] == sorted(live)
    for ns in NAMESPACES:
        assert store.list(k.POD, ns) == [live[key] for key in sorted(live) if key[0] == ns]
    for namespace, labels, fields in queries:
        assert store.select(k.POD, namespace, labels, fields) == full_scan(
            store, namespace, labels, fields
        )
