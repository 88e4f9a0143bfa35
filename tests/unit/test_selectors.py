"""Label and field selectors: parsing, every operator, and the 400s a real apiserver gives."""

from __future__ import annotations

import pytest

from userpods.sim import kinds as k
from userpods.sim.selectors import (
    Requirement,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from userpods.sim.status import ApiError

WEB = {"app": "web", "tier": "front"}
DB = {"app": "db"}
BARE: dict[str, str] = {}


def matching(selector: str) -> list[str]:
    parsed = parse_label_selector(selector)
    named = {"web": WEB, "db": DB, "bare": BARE}
    return [name for name, labels in named.items() if labels_match(parsed, labels)]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web"]),
        ("app==web", ["web"]),
        ("app!=web", ["db", "bare"]),  # != also matches objects without the key
        ("app in (web,db)", ["web", "db"]),
        ("app in (web, db)", ["web", "db"]),
        ("app notin (web)", ["db", "bare"]),  # notin also matches objects without the key
        ("app", ["web", "db"]),
        ("!app", ["bare"]),
        ("!tier", ["db", "bare"]),
        ("app,tier", ["web"]),
        ("app=web,tier=front", ["web"]),
        ("app in (web,db),!tier", ["db"]),
        ("app=", []),
        (" app = web ", ["web"]),
        ("", ["web", "db", "bare"]),
    ],
)
def test_label_selector_operators(selector: str, expected: list[str]) -> None:
    assert matching(selector) == expected


def test_label_selector_parse_results() -> None:
    assert parse_label_selector("a==b") == (Requirement("a", "=", frozenset({"b"})),)
    assert parse_label_selector("a!=b") == (Requirement("a", "!=", frozenset({"b"})),)
    assert parse_label_selector("a notin (x,y)") == (
        Requirement("a", "notin", frozenset({"x", "y"})),
    )
    assert parse_label_selector("!a") == (Requirement("a", "!"),)
    assert parse_label_selector("a") == (Requirement("a", "exists"),)
    assert parse_label_selector(None) == ()
    assert parse_label_selector("   ") == ()


def test_label_selector_with_prefixed_keys_and_empty_value() -> None:
    parsed = parse_label_selector("example.com/owner=alice,app.kubernetes.io/name")
    assert labels_match(parsed, {"example.com/owner": "alice", "app.kubernetes.io/name": "x"})
    assert not labels_match(parsed, {"example.com/owner": "alice"})
    assert labels_match(parse_label_selector("a="), {"a": ""})


def test_label_selector_matches_none_labels() -> None:
    assert labels_match(parse_label_selector("!a"), None)
    assert not labels_match(parse_label_selector("a"), None)


@pytest.mark.parametrize(
    "selector",
    [
        "a in ()",  # in/notin need at least one value
        "a notin ()",
        "a=b,",  # a trailing comma leaves an empty requirement
        "a b",
        "=b",
        "a in x",
        "a in (x y)",
        "!a=b",
        "a>1",
        "a=b c",
        "a=@b",
        "a in (x@y)",
        "-a=b",
    ],
)
def test_label_selector_parse_errors_are_400(selector: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_label_selector(selector)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message.startswith("unable to parse requirement: ")
    body = info.value.body()
    assert body["kind"] == "Status"
    assert body["code"] == 400


# ----------------------------------------------------------------------------- field selectors


@pytest.mark.parametrize(
    ("selector", "fields", "expected"),
    [
        ("metadata.name=p1", {"metadata.name": "p1"}, True),
        ("metadata.name==p1", {"metadata.name": "p1"}, True),
        ("metadata.name=p1", {"metadata.name": "p2"}, False),
        ("metadata.name!=p1", {"metadata.name": "p2"}, True),
        ("metadata.name!=p1", {"metadata.name": "p1"}, False),
        ("status.phase=Running,spec.nodeName=node-1", {"status.phase": "Running"}, False),
        (
            "status.phase=Running,spec.nodeName=node-1",
            {"status.phase": "Running", "spec.nodeName": "node-1"},
            True,
        ),
        ("spec.nodeName=", {"spec.nodeName": ""}, True),  # unscheduled pods
        ("spec.nodeName=", {}, True),
        ("spec.nodeName!=", {"spec.nodeName": "node-2"}, True),
        (" status.phase = Pending ", {"status.phase": "Pending"}, True),
    ],
)
def test_field_selector_operators(selector: str, fields: dict[str, str], expected: bool) -> None:
    parsed = parse_field_selector(selector, k.POD.supports_field)
    assert fields_match(parsed, fields) is expected


def test_field_selector_supported_fields_per_kind() -> None:
    for name in (
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ):
        assert parse_field_selector(f"{name}=x", k.POD.supports_field)
    for name in ("spec.clusterIP", "spec.type", "metadata.name"):
        assert parse_field_selector(f"{name}=x", k.SERVICE.supports_field)
    for name in (
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.fieldPath",
        "reason",
        "source",
        "type",
    ):
        assert parse_field_selector(f"{name}=x", k.EVENT.supports_field)
    assert parse_field_selector("metadata.namespace=x", k.PVC.supports_field)
    assert parse_field_selector(None, k.POD.supports_field) == ()
    assert parse_field_selector("", k.POD.supports_field) == ()


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (k.POD, "spec.containers"),
        (k.POD, "metadata.labels"),
        (k.SERVICE, "status.phase"),
        (k.PVC, "status.phase"),
        (k.PVC, "spec.volumeName"),
        (k.INGRESS, "spec.rules"),
        (k.EVENT, "message"),
    ],
)
def test_field_selector_rejects_unsupported_fields(kind: k.Kind, field: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_field_selector(f"{field}=x", kind.supports_field)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == f"field label not supported: {field}"


@pytest.mark.parametrize(
    "selector", ["status.phase", "status.phase in (Running)", "!status.phase", "=x"]
)
def test_field_selector_allows_only_equality_operators(selector: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_field_selector(selector, k.POD.supports_field)
    assert info.value.code == 400


def test_field_values_come_from_the_object() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "node-1", "restartPolicy": "Never"},
        "status": {"phase": "Running"},
    }
    assert k.POD.field_value(pod, "metadata.name") == "p"
    assert k.POD.field_value(pod, "metadata.namespace") == "ns"
    assert k.POD.field_value(pod, "spec.nodeName") == "node-1"
    assert k.POD.field_value(pod, "status.podIP") == ""
    node = {"metadata": {"name": "node-1", "namespace": "ignored"}}
    assert k.NODE.field_value(node, "metadata.namespace") == ""
