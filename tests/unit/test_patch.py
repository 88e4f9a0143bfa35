"""JSON merge patch, strategic merge patch and JSON patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from userpods.sim.patch import (
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from userpods.sim.status import ApiError


def pod() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "p",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a/one", "a/two"],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "app:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80}],
                },
                {"name": "side", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "x", "operator": "Exists"}],
        },
    }


# ----------------------------------------------------------------------------- merge patch


def test_merge_patch_null_deletes_and_objects_merge() -> None:
    target = pod()
    before = copy.deepcopy(target)
    result = merge_patch(target, {"metadata": {"labels": {"tier": None, "new": "x"}}})
    assert result["metadata"]["labels"] == {"app": "web", "new": "x"}
    assert result["spec"] == before["spec"]
    assert target == before  # the target is not modified


def test_merge_patch_replaces_lists_and_scalars() -> None:
    result = merge_patch(pod(), {"spec": {"containers": [{"name": "only", "image": "x"}]}})
    assert result["spec"]["containers"] == [{"name": "only", "image": "x"}]
    assert merge_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert merge_patch({"a": 1}, {"a": None, "b": None}) == {}
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]
    assert merge_patch("x", {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}


# ----------------------------------------------------------------------------- strategic merge


def test_strategic_merges_containers_by_name() -> None:
    result = strategic_merge_patch(
        pod(), {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}
    )
    containers = result["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["image"] == "app:1"
    assert containers[1]["image"] == "side:2"


def test_strategic_appends_new_containers() -> None:
    result = strategic_merge_patch(
        pod(), {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}
    )
    # As the apiserver orders a merged list: the patch's items first, then the server's.
    assert [c["name"] for c in result["spec"]["containers"]] == ["debug", "main", "side"]


def test_strategic_merges_env_by_name() -> None:
    patch = {
        "spec": {
            "containers": [
                {"name": "main", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}
            ]
        }
    }
    env = strategic_merge_patch(pod(), patch)["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]


def test_strategic_patch_delete_directive() -> None:
    patch = {
        "spec": {
            "containers": [
                {"name": "side", "$patch": "delete"},
                {"name": "main", "env": [{"name": "A", "$patch": "delete"}]},
            ]
        }
    }
    result = strategic_merge_patch(pod(), patch)
    assert [c["name"] for c in result["spec"]["containers"]] == ["main"]
    assert result["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    # Deleting an element that is not there is not an error.
    same = strategic_merge_patch(pod(), {"spec": {"volumes": [{"name": "x", "$patch": "delete"}]}})
    assert same["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_strategic_patch_replace_directives() -> None:
    replaced = strategic_merge_patch(
        pod(),
        {"spec": {"containers": [{"name": "new", "image": "n"}, {"$patch": "replace"}]}},
    )
    assert replaced["spec"]["containers"] == [{"name": "new", "image": "n"}]
    labels = strategic_merge_patch(
        pod(), {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    )
    assert labels["metadata"]["labels"] == {"only": "this"}
    gone = strategic_merge_patch(pod(), {"metadata": {"labels": {"$patch": "delete"}}})
    assert gone["metadata"]["labels"] == {}  # as the apiserver: an empty map, not no field


def test_strategic_finalizers_are_a_set() -> None:
    result = strategic_merge_patch(pod(), {"metadata": {"finalizers": ["a/two", "a/three"]}})
    assert result["metadata"]["finalizers"] == ["a/one", "a/two", "a/three"]
    removed = strategic_merge_patch(
        pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/one"]}}
    )
    assert removed["metadata"]["finalizers"] == ["a/two"]
    # With no finalizers yet, the list is just set.
    fresh = strategic_merge_patch({"metadata": {}}, {"metadata": {"finalizers": ["x"]}})
    assert fresh["metadata"]["finalizers"] == ["x"]


def test_strategic_lists_without_merge_key_are_replaced() -> None:
    result = strategic_merge_patch(pod(), {"spec": {"tolerations": [{"key": "y"}]}})
    assert result["spec"]["tolerations"] == [{"key": "y"}]


def test_strategic_null_deletes_and_honours_order_directives() -> None:
    result = strategic_merge_patch(
        pod(),
        {
            "metadata": {"labels": {"tier": None}},
            "spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]},
        },
    )
    assert result["metadata"]["labels"] == {"app": "web"}
    assert [c["name"] for c in result["spec"]["containers"]] == ["side", "main"]


def test_strategic_ports_merge_by_container_port() -> None:
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 22}],
                }
            ]
        }
    }
    ports = strategic_merge_patch(pod(), patch)["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 80, "name": "http"}, {"containerPort": 22}]


def test_strategic_does_not_modify_the_target() -> None:
    target = pod()
    before = copy.deepcopy(target)
    strategic_merge_patch(
        target,
        {
            "metadata": {"finalizers": ["z"], "labels": {"app": None}},
            "spec": {"containers": [{"name": "main", "image": "x", "$patch": "delete"}]},
        },
    )
    assert target == before


# ----------------------------------------------------------------------------- JSON patch


def test_json_patch_add_remove_replace() -> None:
    doc = {"a": [1, 2], "b": 1, "c": {"d": 1}}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "add", "path": "/a/0", "value": 0},
            {"op": "remove", "path": "/b"},
            {"op": "replace", "path": "/c/d", "value": 2},
            {"op": "add", "path": "/e", "value": {"f": None}},
            {"op": "test", "path": "/a/1", "value": 1},
        ],
    )
    assert result == {"a": [0, 1, 2, 3], "c": {"d": 2}, "e": {"f": None}}
    assert doc == {"a": [1, 2], "b": 1, "c": {"d": 1}}


def test_json_patch_escaped_pointer_move_and_copy() -> None:
    doc = {"metadata": {"labels": {"example.com/app": "x", "a~b": "y"}}}
    result = json_patch(
        doc,
        [
            {"op": "remove", "path": "/metadata/labels/example.com~1app"},
            {"op": "copy", "from": "/metadata/labels/a~0b", "path": "/metadata/labels/c"},
            {"op": "move", "from": "/metadata/labels/a~0b", "path": "/metadata/labels/d"},
        ],
    )
    assert result == {"metadata": {"labels": {"c": "y", "d": "y"}}}


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/a", "value": 2}],  # test failure
        [{"op": "add", "path": "/a", "value": 5}, {"op": "test", "path": "/a", "value": 1}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/x/y", "value": 1}],
        [{"op": "remove", "path": "/l/5"}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "remove", "path": ""}],
    ],
)
def test_json_patch_failures_are_422(operations: list[dict[str, Any]]) -> None:
    doc = {"a": 1, "l": [1]}
    with pytest.raises(ApiError) as info:
        json_patch(doc, operations)
    assert info.value.code == 422
    assert info.value.message.startswith(
        "the server rejected our request due to an error in our request"
    )
    assert doc == {"a": 1, "l": [1]}


def test_json_patch_test_failure_message() -> None:
    with pytest.raises(ApiError) as info:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    # The apiserver's bare 422: no detail of which operation failed.
    assert info.value.code == 422
    assert info.value.message == "the server rejected our request due to an error in our request"


def test_json_patch_malformed_requests_are_400() -> None:
    with pytest.raises(ApiError) as info:
        json_patch({}, {"op": "add", "path": "/a", "value": 1})
    assert info.value.code == 400
    with pytest.raises(ApiError) as info:
        json_patch({}, [{"op": "add", "path": "a", "value": 1}])
    assert info.value.code == 400


def test_apply_patch_dispatches_on_content_type() -> None:
    target = {"spec": {"containers": [{"name": "a", "image": "1"}]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "2"}]}}
    assert len(apply_patch(STRATEGIC, target, patch)["spec"]["containers"]) == 2
    assert len(apply_patch(MERGE, target, patch)["spec"]["containers"]) == 1
    ops = [{"op": "replace", "path": "/spec/containers/0/image", "value": "3"}]
    assert apply_patch(JSON_PATCH, target, ops)["spec"]["containers"][0]["image"] == "3"
    with pytest.raises(ApiError) as info:
        apply_patch("application/apply-patch+yaml", target, patch)
    assert info.value.code == 415
    assert info.value.reason == "UnsupportedMediaType"
