"""Entries for the pods the daemon makes: create, get, list with every selector form, the
patches it sends, status, logs, deletion with preconditions, their error cases, and watches
(history, selectors an object leaves, initial events, old resourceVersions).

Pods here never run: they name a scheduler that does not exist (``schedulerName: nobody``)
and carry a scheduling gate, as the daemon's do, so no controller writes them and watch
sequences are exact on both clusters.
"""

from __future__ import annotations

from typing import Any

from .model import JSON_PATCH, MERGE, Call, Ctx, Entry, Watch

PODS = "/api/v1/namespaces/{ns}/pods"
SVCS = "/api/v1/namespaces/{ns}/services"
PVCS = "/api/v1/namespaces/{ns}/persistentvolumeclaims"
EVENTS = "/api/v1/namespaces/{ns}/events"
INGS = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
LABELS = {"app.kubernetes.io/managed-by": "userpods", "user": "u1"}


def pod(name: str, **meta: Any) -> dict[str, Any]:
    """A pod as the daemon makes one (gate, labels, env with an empty value, a volume)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(LABELS), **meta},
        "spec": {
            "schedulerName": "nobody",
            "schedulingGates": [{"name": "userpods.dk/ready"}],
            "containers": [
                {
                    "name": "main",
                    "image": "example/jupyter:1",
                    "ports": [{"containerPort": 8888, "name": "http"}, {"containerPort": 22}],
                    "env": [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


def service(name: str, kind: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            "type": kind,
            "selector": {"user": "u1"},
            "ports": [
                {"name": "ssh", "port": 22, "targetPort": 2222},
                {"name": "http", "port": 80, "targetPort": 8888, "protocol": "TCP"},
            ],
        },
    }


def _bad(mutate: Any) -> Any:
    body = pod("pod-bad")
    mutate(body)
    return body


def _stale(kind_entry: str, update_entry: str, path_body: Any) -> Any:
    """A PUT body carrying the resourceVersion from before ``update_entry`` changed it."""

    def build(ctx: Ctx) -> Any:
        body = dict(ctx.body(update_entry))
        body["metadata"] = {**body["metadata"], "resourceVersion": ctx.rv(kind_entry)}
        return path_body(body)

    return build


def pods() -> list[Entry]:
    sa = "backend"
    return [
        Call("pod-list-before", "GET", PODS, who=sa),
        Call("pod-create", "POST", PODS, pod("pod-a"), who=sa),
        Call(
            "pod-create-generated",
            "POST",
            PODS,
            {**pod(""), "metadata": {"generateName": "pod-gen-", "labels": LABELS}},
            who=sa,
        ),
        Call("pod-create-dryrun", "POST", PODS, pod("pod-dry"), who=sa, query={"dryRun": "All"}),
        Call("pod-get-dryrun", "GET", PODS + "/pod-dry", who=sa),
        Call("pod-create-exists", "POST", PODS, pod("pod-a"), who=sa),
        Call("pod-get", "GET", PODS + "/pod-a", who=sa),
        Call("pod-get-missing", "GET", PODS + "/nope", who=sa),
        Call(
            "pod-create-bad-name",
            "POST",
            PODS,
            _bad(lambda b: b["metadata"].update(name="Bad_Name")),
            who=sa,
        ),
        Call(
            "pod-create-bad-label",
            "POST",
            PODS,
            _bad(lambda b: b["metadata"]["labels"].update(user="a@b.org")),
            who=sa,
        ),
        Call(
            "pod-create-long-label",
            "POST",
            PODS,
            _bad(lambda b: b["metadata"]["labels"].update(user="x" * 64)),
            who=sa,
        ),
        Call(
            "pod-create-no-containers",
            "POST",
            PODS,
            _bad(lambda b: b["spec"].update(containers=[])),
            who=sa,
        ),
        Call(
            "pod-create-no-image",
            "POST",
            PODS,
            _bad(lambda b: b["spec"]["containers"][0].pop("image")),
            who=sa,
        ),
        Call(
            "pod-create-dup-port-name",
            "POST",
            PODS,
            _bad(lambda b: b["spec"]["containers"][0]["ports"][1].update(name="http")),
            who=sa,
        ),
        Call("pod-create-bad-json", "POST", PODS, b'{"apiVersion": "v1", "kind": "Pod", ', who=sa),
        Call("pod-create-wrong-kind", "POST", PODS, service("pod-b"), who=sa),
        Call(
            "pod-create-ns-mismatch",
            "POST",
            PODS,
            _bad(lambda b: b["metadata"].update(namespace="other")),
            who=sa,
        ),
        Call(
            "pod-create-no-namespace",
            "POST",
            "/api/v1/namespaces/nope-ns/pods",
            pod("pod-x"),
            who="admin",
        ),
        Call(
            "pod-create-protobuf-garbage",
            "POST",
            PODS,
            b"k8s\x00\x0a\x00",
            "application/vnd.kubernetes.protobuf",
            who=sa,
        ),
        Call(
            "pod-create-b",
            "POST",
            PODS,
            {**pod("pod-b"), "metadata": {"name": "pod-b", "labels": {**LABELS, "user": "u2"}}},
            who=sa,
        ),
        Call(
            "pod-list-label-in",
            "GET",
            PODS,
            who=sa,
            query={"labelSelector": "app.kubernetes.io/managed-by=userpods,user in (u1,u3)"},
        ),
        Call(
            "pod-list-label-not", "GET", PODS, who=sa, query={"labelSelector": "user!=u1,!missing"}
        ),
        Call(
            "pod-list-label-exists",
            "GET",
            PODS,
            who=sa,
            query={"labelSelector": "user,user notin (u2)"},
        ),
        Call("pod-list-label-bad", "GET", PODS, who=sa, query={"labelSelector": "user in (u1"}),
        Call(
            "pod-list-field-name",
            "GET",
            PODS,
            who=sa,
            query={"fieldSelector": "metadata.name=pod-b"},
        ),
        Call(
            "pod-list-field-phase",
            "GET",
            PODS,
            who=sa,
            query={"fieldSelector": "status.phase=Pending,spec.nodeName="},
        ),
        Call(
            "pod-list-field-neq",
            "GET",
            PODS,
            who=sa,
            query={"fieldSelector": "metadata.name!=pod-a"},
        ),
        Call(
            "pod-list-field-bad", "GET", PODS, who=sa, query={"fieldSelector": "spec.containers=x"}
        ),
        Call(
            "pod-merge-annotations",
            "PATCH",
            PODS + "/pod-a",
            {"metadata": {"annotations": {"userpods.dk/state": "ready"}}},
            MERGE,
            who=sa,
        ),
        Call(
            "pod-merge-add-gate",
            "PATCH",
            PODS + "/pod-a",
            {"spec": {"schedulingGates": [{"name": "userpods.dk/ready"}, {"name": "more"}]}},
            MERGE,
            who=sa,
        ),
        Call(
            "pod-merge-gates-null",
            "PATCH",
            PODS + "/pod-a",
            {"spec": {"schedulingGates": None}},
            MERGE,
            who=sa,
        ),
        Call(
            "pod-merge-image",
            "PATCH",
            PODS + "/pod-a",
            {"spec": {"containers": [{"name": "main", "image": "example/jupyter:2"}]}},
            "application/strategic-merge-patch+json",
            who=sa,
        ),
        Call(
            "pod-strategic-env-forbidden",
            "PATCH",
            PODS + "/pod-a",
            {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]}]}},
            "application/strategic-merge-patch+json",
            who=sa,
        ),
        Call(
            "pod-json-patch-label",
            "PATCH",
            PODS + "/pod-a",
            [{"op": "add", "path": "/metadata/labels/extra", "value": "yes"}],
            JSON_PATCH,
            who=sa,
        ),
        Call(
            "pod-json-patch-test-fails",
            "PATCH",
            PODS + "/pod-a",
            [{"op": "test", "path": "/metadata/labels/extra", "value": "no"}],
            JSON_PATCH,
            who=sa,
        ),
        Call(
            "pod-json-patch-remove-missing",
            "PATCH",
            PODS + "/pod-a",
            [{"op": "remove", "path": "/metadata/labels/absent"}],
            JSON_PATCH,
            who=sa,
        ),
        Call(
            "pod-patch-unknown-type",
            "PATCH",
            PODS + "/pod-a",
            {"metadata": {}},
            "text/plain",
            who=sa,
        ),
        Call("pod-patch-missing", "PATCH", PODS + "/nope", {"metadata": {}}, MERGE, who=sa),
        Call(
            "pod-put-stale",
            "PUT",
            PODS + "/pod-a",
            _stale("pod-create", "pod-json-patch-label", lambda b: b),
            who="admin",
        ),
        Call(
            "pod-put-uid-mismatch",
            "PUT",
            PODS + "/pod-a",
            lambda c: {
                **c.body("pod-json-patch-label"),
                "metadata": {
                    **c.body("pod-json-patch-label")["metadata"],
                    "uid": c.uid("pod-create-b"),
                },
            },
            who="admin",
        ),
        Call(
            "pod-status-conditions",
            "PATCH",
            PODS + "/pod-a/status",
            {"status": {"conditions": [{"type": "Custom", "status": "True"}]}},
            "application/strategic-merge-patch+json",
        ),
        Call(
            "pod-status-conditions-merge",
            "PATCH",
            PODS + "/pod-a/status",
            {
                "status": {
                    "conditions": [
                        {"type": "Other", "status": "False"},
                        {"type": "Custom", "status": "False"},
                    ]
                }
            },
            "application/strategic-merge-patch+json",
        ),
        Call("pod-log-unscheduled", "GET", PODS + "/pod-a/log", who=sa),
        Call("pod-log-forbidden", "GET", PODS + "/pod-a/log", who="exec-both"),
        Call(
            "pod-delete-wrong-uid",
            "DELETE",
            PODS + "/pod-b",
            lambda c: {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": c.uid("pod-create")},
            },
            who=sa,
        ),
        Call(
            "pod-delete-stale-rv",
            "DELETE",
            PODS + "/pod-b",
            lambda c: {"preconditions": {"resourceVersion": "1"}},
            who=sa,
        ),
        Call(
            "pod-delete-uid",
            "DELETE",
            PODS + "/pod-b",
            lambda c: {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": c.uid("pod-create-b")},
            },
            who=sa,
        ),
        Call("pod-delete-gone", "DELETE", PODS + "/pod-b", who=sa),
        Call(
            "pod-delete-bad-policy",
            "DELETE",
            PODS + "/pod-a",
            query={"propagationPolicy": "Sideways"},
            who=sa,
        ),
        Call(  # with a body, the query's options are not read: a 409, not the 422 above
            "pod-delete-body-wins-over-query",
            "DELETE",
            PODS + "/pod-a",
            lambda c: {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"},
            },
            query={"propagationPolicy": "Sideways"},
            who=sa,
        ),
        Watch(
            "pod-watch-history",
            PODS,
            {"labelSelector": "app.kubernetes.io/managed-by=userpods"},
            since="pod-list-before",
            who=sa,
        ),
        Watch(
            "pod-watch-field",
            PODS,
            {"fieldSelector": "metadata.name=pod-b"},
            since="pod-list-before",
            who=sa,
        ),
        Watch(
            "pod-watch-leaves-selector",
            PODS,
            {"labelSelector": "extra!=yes"},
            since="pod-list-before",
            who=sa,
        ),
        Watch(
            "pod-watch-initial",
            PODS,
            {
                "sendInitialEvents": "true",
                "allowWatchBookmarks": "true",
                "resourceVersionMatch": "NotOlderThan",
                "fieldSelector": "metadata.name=pod-a",
            },
            who=sa,
        ),
        Watch(
            "pod-watch-now",
            PODS,
            {"resourceVersion": "0", "fieldSelector": "metadata.name=pod-a"},
            who=sa,
        ),
        Watch("pod-watch-old-rv", PODS, {"resourceVersion": "2"}, who=sa),
        Call("pod-list-send-initial", "GET", PODS, who=sa, query={"sendInitialEvents": "true"}),
    ]
