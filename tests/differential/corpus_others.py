"""Entries for the daemon's other kinds: services, ingresses, claims, volumes, events,
secrets, namespaces; their selectors, error cases and a watch; RBAC refusals."""

from __future__ import annotations

from typing import Any

from .corpus_api import EVENTS, INGS, LABELS, PODS, PVCS, SVCS, service
from .model import MERGE, Call, Ctx, Entry, Watch

INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "ing-a", "labels": LABELS},
    "spec": {
        "rules": [
            {
                "host": "u1.example.org",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "svc-a", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ]
    },
}
PVC = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "claim-a", "labels": LABELS},
    "spec": {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "",
        "resources": {"requests": {"storage": "1Gi"}},
    },
}


def pv(ctx: Ctx) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{ctx.ns}-pv", "labels": {"run": ctx.ns}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/srv/data"},
            "claimRef": {"namespace": ctx.ns, "name": "claim-b"},
            "persistentVolumeReclaimPolicy": "Retain",
        },
    }


def event(ctx: Ctx) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "pod-a.1"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": ctx.ns,
            "name": "pod-a",
            "uid": ctx.uid("pod-create"),
        },
        "reason": "Spawned",
        "message": "made by the differential suite",
        "type": "Normal",
        "source": {"component": "userpods"},
        "count": 1,
    }


def others() -> list[Entry]:
    sa = "backend"
    return [
        Call("svc-create", "POST", SVCS, service("svc-a"), who=sa),
        Call("svc-create-nodeport", "POST", SVCS, service("svc-np", "NodePort"), who=sa),
        Call(
            "svc-create-headless",
            "POST",
            SVCS,
            {**service("svc-hl"), "spec": {**service("svc-hl")["spec"], "clusterIP": "None"}},
            who=sa,
        ),
        Call("svc-create-bad-name", "POST", SVCS, service("1-svc"), who=sa),
        Call("svc-create-long-name", "POST", SVCS, service("s" * 64), who=sa),
        Call(
            "svc-create-nodeport-clusterip",
            "POST",
            SVCS,
            {
                **service("svc-bad"),
                "spec": {**service("svc-bad")["spec"], "ports": [{"port": 22, "nodePort": 30022}]},
            },
            who=sa,
        ),
        Call(
            "svc-create-unnamed-ports",
            "POST",
            SVCS,
            {**service("svc-bad"), "spec": {"ports": [{"port": 22}, {"port": 80}]}},
            who=sa,
        ),
        Call("svc-create-exists", "POST", SVCS, service("svc-a"), who=sa),
        Call("svc-get", "GET", SVCS + "/svc-a", who=sa),
        Call("svc-list-field", "GET", SVCS, who=sa, query={"fieldSelector": "spec.type=NodePort"}),
        Call("svc-list-label", "GET", SVCS, who=sa, query={"labelSelector": "user=u1"}),
        Call(
            "svc-patch-forbidden",
            "PATCH",
            SVCS + "/svc-a",
            {"metadata": {"labels": {"x": "y"}}},
            MERGE,
            who=sa,
        ),
        Call(
            "svc-delete-wrong-uid",
            "DELETE",
            SVCS + "/svc-hl",
            lambda c: {"preconditions": {"uid": c.uid("svc-create")}},
            who=sa,
        ),
        Call(
            "svc-delete-uid",
            "DELETE",
            SVCS + "/svc-hl",
            lambda c: {"preconditions": {"uid": c.uid("svc-create-headless")}},
            who=sa,
        ),
        Call("ing-create", "POST", INGS, INGRESS, who=sa),
        Call(
            "ing-create-no-pathtype",
            "POST",
            INGS,
            {
                **INGRESS,
                "metadata": {"name": "ing-b"},
                "spec": {
                    "rules": [
                        {
                            "host": "b.example.org",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "backend": {
                                            "service": {"name": "svc-a", "port": {"number": 80}}
                                        },
                                    }
                                ]
                            },
                        }
                    ]
                },
            },
            who=sa,
        ),
        Call(
            "ing-create-ip-host",
            "POST",
            INGS,
            {**INGRESS, "metadata": {"name": "ing-c"}, "spec": {"rules": [{"host": "10.0.0.1"}]}},
            who=sa,
        ),
        Call("ing-get", "GET", INGS + "/ing-a", who=sa),
        Call("ing-get-missing", "GET", INGS + "/nope", who=sa),
        Call("ing-list-label", "GET", INGS, who=sa, query={"labelSelector": "user=u1"}),
        Call(
            "ing-delete",
            "DELETE",
            INGS + "/ing-a",
            lambda c: {"preconditions": {"uid": c.uid("ing-create")}},
            who=sa,
        ),
        Call("pvc-create", "POST", PVCS, PVC, who=sa),
        Call(
            "pvc-create-no-size",
            "POST",
            PVCS,
            {**PVC, "metadata": {"name": "claim-x"}, "spec": {"accessModes": ["ReadWriteOnce"]}},
            who=sa,
        ),
        Call("pvc-get-forbidden", "GET", PVCS + "/claim-a", who=sa),
        Call("pvc-list-label", "GET", PVCS, who=sa, query={"labelSelector": "user=u1"}),
        Call(
            "pvc-delete-uid",
            "DELETE",
            PVCS + "/claim-a",
            lambda c: {"preconditions": {"uid": c.uid("pvc-create")}},
            who=sa,
        ),
        Call("pv-create", "POST", "/api/v1/persistentvolumes", pv),
        Call(
            "pv-create-no-source",
            "POST",
            "/api/v1/persistentvolumes",
            lambda c: {
                **pv(c),
                "metadata": {"name": f"{c.ns}-pv2"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]},
            },
        ),
        Call(
            "pv-list-label",
            "GET",
            "/api/v1/persistentvolumes",
            query=lambda c: {"labelSelector": f"run={c.ns}"},
        ),
        Call("pv-forbidden", "GET", "/api/v1/persistentvolumes", who=sa),
        Call("pv-delete", "DELETE", lambda c: f"/api/v1/persistentvolumes/{c.ns}-pv"),
        Call("event-create", "POST", EVENTS, event),
        Call(
            "event-list-involved",
            "GET",
            EVENTS,
            query={"fieldSelector": "involvedObject.name=pod-a,reason=Spawned"},
        ),
        Call(
            "event-list-bad-field",
            "GET",
            EVENTS,
            query={"fieldSelector": "involvedObject.color=red"},
        ),
        Call(
            "secret-create-stringdata",
            "POST",
            "/api/v1/namespaces/{ns}/secrets",
            {"metadata": {"name": "sec-a"}, "stringData": {"k": "v"}, "type": "Opaque"},
        ),
        Call(
            "secret-create-tls-invalid",
            "POST",
            "/api/v1/namespaces/{ns}/secrets",
            {"metadata": {"name": "sec-b"}, "type": "kubernetes.io/tls", "data": {}},
        ),
        Call("secret-forbidden", "GET", "/api/v1/namespaces/{ns}/secrets", who=sa),
        Call("configmap-get-root-ca", "GET", "/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"),
        Call("namespace-get", "GET", "/api/v1/namespaces/{ns}"),
        Call(
            "namespace-list-label",
            "GET",
            "/api/v1/namespaces",
            query=lambda c: {"labelSelector": f"kubernetes.io/metadata.name={c.ns}"},
        ),
        Call("namespace-delete-forbidden", "DELETE", "/api/v1/namespaces/{ns}", who=sa),
        Call("other-namespace-forbidden", "GET", "/api/v1/namespaces/default/pods", who=sa),
        Call("anonymous-list", "GET", PODS, who="anonymous"),
        Call("unknown-resource", "GET", "/api/v1/namespaces/{ns}/gizmos"),
        Call("unknown-group", "GET", "/apis/gizmos.example.org/v1/gizmos"),
        Watch(
            "svc-watch-history", SVCS, {"labelSelector": "user=u1"}, since="pod-list-before", who=sa
        ),
        Watch(
            "svc-watch-forbidden",
            PVCS,
            {"labelSelector": "user=u1"},
            since="pod-list-before",
            who="exec-both",
        ),
    ]
