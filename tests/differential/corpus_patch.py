"""Entries for strategic merge patch (each list's own merge key, every directive), merge
patch and JSON patch, and OwnerReferencesPermissionEnforcement.

Merge keys are exercised on a Deployment (its pod template can change, a pod's spec cannot;
no deployment controller runs on either cluster, so nothing else writes it) and on a Service
(``spec.ports`` by ``port``: kubectl's ``apply`` of a changed Service sends such a patch).
"""

from __future__ import annotations

from typing import Any

from .corpus_api import PODS, SVCS, pod, service
from .model import MERGE, STRATEGIC, Call, Ctx, Entry

DEPLOYS = "/apis/apps/v1/namespaces/{ns}/deployments"
DEPLOY = DEPLOYS + "/dep-a"
SVC = SVCS + "/svc-a"


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dep-a", "finalizers": ["example.org/a", "example.org/b"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dep-a"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "dep-a"}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example/app:1",
                            "args": ["serve", "--port=8888"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [
                                {"containerPort": 8888, "name": "http"},
                                {"containerPort": 22, "name": "ssh"},
                            ],
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/data"},
                                {"name": "home", "mountPath": "/home"},
                            ],
                        },
                        {"name": "side", "image": "example/side:1"},
                    ],
                    "initContainers": [{"name": "init", "image": "example/init:1"}],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "home", "emptyDir": {}}],
                    "imagePullSecrets": [{"name": "reg1"}],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                },
            },
        },
    }


def _containers(*items: Any) -> Any:
    return {"spec": {"template": {"spec": {"containers": list(items)}}}}


def _pod_spec(**fields: Any) -> Any:
    return {"spec": {"template": {"spec": fields}}}


def _owned(name: str, block: bool | None) -> Any:
    def build(ctx: Ctx) -> Any:
        ref: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "pod-a",
            "uid": ctx.uid("pod-create"),
        }
        if block is not None:
            ref["blockOwnerDeletion"] = block
        body = pod(name)
        body["metadata"]["ownerReferences"] = [ref]
        return body

    return build


def _owner_patch(block: bool) -> Any:
    def build(ctx: Ctx) -> Any:
        ref = {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "svc-a",
            "uid": ctx.uid("svc-create"),
            "blockOwnerDeletion": block,
        }
        return {"metadata": {"ownerReferences": [ref]}}

    return build


def patches() -> list[Entry]:
    def smp(name: str, body: Any, path: str = DEPLOY, who: str = "admin") -> Call:
        return Call(name, "PATCH", path, body, STRATEGIC, who=who)

    return [
        Call("dep-create", "POST", DEPLOYS, deployment()),
        smp(
            "smp-env-by-name",
            _containers(
                {
                    "name": "main",
                    "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "one"}],
                }
            ),
        ),
        smp(
            "smp-ports-by-containerport",
            _containers(
                {
                    "name": "main",
                    "ports": [{"containerPort": 22, "name": "sshd"}, {"containerPort": 9000}],
                }
            ),
        ),
        smp(
            "smp-mounts-by-mountpath",
            _containers(
                {
                    "name": "main",
                    "volumeMounts": [{"mountPath": "/data", "name": "home", "readOnly": True}],
                }
            ),
        ),
        smp("smp-args-replaced", _containers({"name": "main", "args": ["serve"]})),
        smp(
            "smp-init-by-name",
            _pod_spec(initContainers=[{"name": "init", "image": "example/init:2"}]),
        ),
        smp(
            "smp-volumes-by-name",
            _pod_spec(volumes=[{"name": "cache", "emptyDir": {"medium": "Memory"}}]),
        ),
        smp("smp-pull-secrets-by-name", _pod_spec(imagePullSecrets=[{"name": "reg2"}])),
        smp(
            "smp-tolerations-replaced", _pod_spec(tolerations=[{"key": "b", "operator": "Exists"}])
        ),
        smp("smp-delete-container", _containers({"name": "side", "$patch": "delete"})),
        smp(
            "smp-replace-list",
            _pod_spec(imagePullSecrets=[{"name": "reg3"}, {"$patch": "replace"}]),
        ),
        smp(
            "smp-replace-map",
            {"spec": {"template": {"metadata": {"labels": {"app": "dep-a", "$patch": "replace"}}}}},
        ),
        smp("smp-delete-map", {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}}),
        smp(
            "smp-retain-keys", {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
        ),
        smp(
            "smp-set-element-order",
            _pod_spec(
                **{
                    "$setElementOrder/volumes": [
                        {"name": "cache"},
                        {"name": "home"},
                        {"name": "data"},
                    ],
                    "volumes": [{"name": "home", "emptyDir": {"sizeLimit": "1Gi"}}],
                }
            ),
        ),
        smp("smp-finalizers-set", {"metadata": {"finalizers": ["example.org/c", "example.org/a"]}}),
        smp(
            "smp-delete-from-primitive",
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.org/b"]}},
        ),
        smp(
            "smp-owner-refs-by-uid",
            lambda c: {
                "metadata": {
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": "svc-a",
                            "uid": c.uid("svc-create"),
                        }
                    ]
                }
            },
        ),
        smp(
            "smp-owner-refs-merge",
            lambda c: {
                "metadata": {
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Pod",
                            "name": "pod-a",
                            "uid": c.uid("pod-create"),
                        },
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": "svc-a",
                            "uid": c.uid("svc-create"),
                            "controller": True,
                        },
                    ]
                }
            },
        ),
        smp("smp-unknown-directive", {"spec": {"$patch": "explode"}}),
        Call(
            "merge-finalizers-clear",
            "PATCH",
            DEPLOY,
            {"metadata": {"finalizers": None, "ownerReferences": None}},
            MERGE,
        ),
        Call("dep-delete", "DELETE", DEPLOY),
        smp("svc-smp-port-by-port", {"spec": {"ports": [{"port": 80, "targetPort": 9999}]}}, SVC),
        smp(
            "svc-smp-new-port",
            {"spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}},
            SVC,
        ),
        smp("svc-smp-delete-port", {"spec": {"ports": [{"port": 22, "$patch": "delete"}]}}, SVC),
        smp(
            "svc-smp-set-order",
            {
                "spec": {
                    "$setElementOrder/ports": [{"port": 443}, {"port": 80}],
                    "ports": [{"port": 443, "name": "tls"}],
                }
            },
            SVC,
        ),
        Call(
            "svc-merge-ports-replaced",
            "PATCH",
            SVC,
            {"spec": {"ports": [{"name": "http", "port": 8080, "targetPort": 8888}]}},
            MERGE,
        ),
        Call(
            "svc-put-stale",
            "PUT",
            SVC,
            lambda c: {
                **service("svc-a"),
                "metadata": {"name": "svc-a", "resourceVersion": c.rv("svc-create")},
            },
        ),
        Call("owner-create-block-nofin", "POST", PODS, _owned("pod-o1", True), who="owner-nofin"),
        Call("owner-create-block-fin", "POST", PODS, _owned("pod-o2", True), who="owner-fin"),
        Call("owner-create-noblock-nofin", "POST", PODS, _owned("pod-o3", None), who="owner-nofin"),
        Call("owner-create-nodelete", "POST", PODS, _owned("pod-o4", False), who="owner-nodelete"),
        Call("owner-create-plain-nodelete", "POST", PODS, pod("pod-o5"), who="owner-nodelete"),
        Call(
            "owner-patch-refs-nodelete",
            "PATCH",
            PODS + "/pod-o5",
            _owner_patch(False),
            MERGE,
            who="owner-nodelete",
        ),
        Call(
            "owner-patch-labels-nodelete",
            "PATCH",
            PODS + "/pod-o3",
            {"metadata": {"labels": {"x": "y"}}},
            MERGE,
            who="owner-nodelete",
        ),
        Call(
            "owner-patch-block-nofin",
            "PATCH",
            PODS + "/pod-o3",
            _owner_patch(True),
            MERGE,
            who="owner-nofin",
        ),
        Call(
            "owner-patch-block-fin",
            "PATCH",
            PODS + "/pod-o3",
            _owner_patch(True),
            MERGE,
            who="owner-fin",
        ),
        Call(
            "owner-patch-refs-kept-nodelete",
            "PATCH",
            PODS + "/pod-o3",
            {"metadata": {"annotations": {"a": "b"}}},
            MERGE,
            who="owner-nodelete",
        ),
    ]
