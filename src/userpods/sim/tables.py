"""Server-side printing: ``meta.k8s.io/v1`` Tables, which ``kubectl get`` asks for.

The columns follow the apiserver's printers for the kinds served here, so ``kubectl get pods``
shows READY / STATUS / RESTARTS / AGE as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import kinds as k
from .timefmt import age

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
Printer = tuple[list[Column], Callable[[Obj], list[Any]]]


def _name(obj: Obj) -> str:
    return str(obj["metadata"].get("name", ""))


def _age(obj: Obj) -> str:
    return age(obj["metadata"].get("creationTimestamp"))


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods`` (kubectl's ``printPod`` logic)."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase", "")
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            term = state["terminated"]
            reason = (
                f"Signal:{term['signal']}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif cs.get("ready") and "running" in state:
            has_running = True
    if reason == "Completed" and has_running:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions", [])
        )
        reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: Obj) -> list[Any]:
    status = pod.get("status", {})
    statuses = status.get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers", []))
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    last = [cs.get("lastState", {}).get("terminated", {}).get("finishedAt") for cs in statuses]
    last = [t for t in last if t]
    restart_text = f"{restarts} ({age(max(last))} ago)" if restarts and last else str(restarts)
    return [
        _name(pod),
        f"{ready}/{total}",
        pod_status_reason(pod),
        restart_text,
        _age(pod),
        status.get("podIP") or "<none>",
        pod.get("spec", {}).get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _ports(svc: Obj) -> str:
    parts = []
    for p in svc.get("spec", {}).get("ports", []):
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service_row(svc: Obj) -> list[Any]:
    spec = svc.get("spec", {})
    external = ",".join(spec.get("externalIPs", [])) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    selector = ",".join(f"{a}={b}" for a, b in sorted((spec.get("selector") or {}).items()))
    return [
        _name(svc),
        spec.get("type", ""),
        spec.get("clusterIP", ""),
        external,
        _ports(svc),
        _age(svc),
        selector or "<none>",
    ]


def _modes(modes: list[str]) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short.get(m, m) for m in modes)


def _pvc_row(pvc: Obj) -> list[Any]:
    spec, status = pvc.get("spec", {}), pvc.get("status", {})
    phase = "Terminating" if pvc["metadata"].get("deletionTimestamp") else status.get("phase", "")
    return [
        _name(pvc),
        phase,
        spec.get("volumeName", ""),
        status.get("capacity", {}).get("storage", ""),
        _modes(status.get("accessModes", [])),
        spec.get("storageClassName") or "<unset>",
        "<unset>",
        _age(pvc),
        spec.get("volumeMode", ""),
    ]


def _pv_row(pv: Obj) -> list[Any]:
    spec, status = pv.get("spec", {}), pv.get("status", {})
    claim = spec.get("claimRef") or {}
    claim_text = f"{claim.get('namespace')}/{claim.get('name')}" if claim else ""
    phase = "Terminating" if pv["metadata"].get("deletionTimestamp") else status.get("phase", "")
    return [
        _name(pv),
        spec.get("capacity", {}).get("storage", ""),
        _modes(spec.get("accessModes", [])),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        claim_text,
        spec.get("storageClassName") or "",
        "<unset>",
        status.get("reason", ""),
        _age(pv),
        spec.get("volumeMode", ""),
    ]


def _ingress_row(ing: Obj) -> list[Any]:
    spec = ing.get("spec", {})
    hosts = ",".join(r.get("host", "*") for r in spec.get("rules", [])) or "*"
    lb = ing.get("status", {}).get("loadBalancer", {}).get("ingress", [])
    address = ",".join(e.get("ip") or e.get("hostname", "") for e in lb)
    ports = "80, 443" if spec.get("tls") else "80"
    return [_name(ing), spec.get("ingressClassName") or "<none>", hosts, address, ports, _age(ing)]


def _event_row(ev: Obj) -> list[Any]:
    obj = ev.get("involvedObject", {})
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    return [
        age(last),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        ev.get("message", ""),
        _name(ev),
    ]


def _namespace_row(ns: Obj) -> list[Any]:
    return [_name(ns), ns.get("status", {}).get("phase", ""), _age(ns)]


def _node_row(node: Obj) -> list[Any]:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions", [])
    )
    roles = (
        ",".join(
            sorted(
                key.split("/", 1)[1]
                for key in node["metadata"].get("labels", {})
                if key.startswith("node-role.kubernetes.io/")
            )
        )
        or "<none>"
    )
    return [
        _name(node),
        "Ready" if ready else "NotReady",
        roles,
        _age(node),
        node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
    ]


def _data_row(obj: Obj) -> list[Any]:
    return [_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj)]


def _secret_row(obj: Obj) -> list[Any]:
    return [_name(obj), obj.get("type", ""), len(obj.get("data") or {}), _age(obj)]


def _sa_row(obj: Obj) -> list[Any]:
    return [_name(obj), len(obj.get("secrets") or []), _age(obj)]


def _at_most_three(items: list[str]) -> str:
    """kubectl's ``listWithMoreString``: three items, then ``+ N more...``."""
    text = ",".join(items[:3])
    if len(items) > 3:
        return f"{text} + {len(items) - 3} more..."
    return text or "<unset>"


def _endpointslice_row(obj: Obj) -> list[Any]:
    ports = [str(p.get("port", p.get("name") or "*")) for p in obj.get("ports") or []]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [
        _name(obj),
        obj.get("addressType", ""),
        _at_most_three(ports),
        _at_most_three(addresses),
        _age(obj),
    ]


_S, _I = "string", "integer"
PRINTERS: dict[str, Printer] = {
    k.POD.key: (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Status", _S, 0),
            ("Restarts", _S, 0),
            ("Age", _S, 0),
            ("IP", _S, 1),
            ("Node", _S, 1),
            ("Nominated Node", _S, 1),
            ("Readiness Gates", _S, 1),
        ],
        _pod_row,
    ),
    k.SERVICE.key: (
        [
            ("Name", _S, 0),
            ("Type", _S, 0),
            ("Cluster-IP", _S, 0),
            ("External-IP", _S, 0),
            ("Port(s)", _S, 0),
            ("Age", _S, 0),
            ("Selector", _S, 1),
        ],
        _service_row,
    ),
    k.PVC.key: (
        [
            ("Name", _S, 0),
            ("Status", _S, 0),
            ("Volume", _S, 0),
            ("Capacity", _S, 0),
            ("Access Modes", _S, 0),
            ("StorageClass", _S, 0),
            ("VolumeAttributesClass", _S, 0),
            ("Age", _S, 0),
            ("VolumeMode", _S, 1),
        ],
        _pvc_row,
    ),
    k.PV.key: (
        [
            ("Name", _S, 0),
            ("Capacity", _S, 0),
            ("Access Modes", _S, 0),
            ("Reclaim Policy", _S, 0),
            ("Status", _S, 0),
            ("Claim", _S, 0),
            ("StorageClass", _S, 0),
            ("VolumeAttributesClass", _S, 0),
            ("Reason", _S, 0),
            ("Age", _S, 0),
            ("VolumeMode", _S, 1),
        ],
        _pv_row,
    ),
    k.INGRESS.key: (
        [
            ("Name", _S, 0),
            ("Class", _S, 0),
            ("Hosts", _S, 0),
            ("Address", _S, 0),
            ("Ports", _S, 0),
            ("Age", _S, 0),
        ],
        _ingress_row,
    ),
    k.EVENT.key: (
        [
            ("Last Seen", _S, 0),
            ("Type", _S, 0),
            ("Reason", _S, 0),
            ("Object", _S, 0),
            ("Message", _S, 0),
            ("Name", _S, 1),
        ],
        _event_row,
    ),
    k.NAMESPACE.key: ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)], _namespace_row),
    k.NODE.key: (
        [("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0), ("Version", _S, 0)],
        _node_row,
    ),
    k.CONFIGMAP.key: ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _data_row),
    k.SECRET.key: (
        [("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
        _secret_row,
    ),
    k.SERVICEACCOUNT.key: ([("Name", _S, 0), ("Secrets", _I, 0), ("Age", _S, 0)], _sa_row),
    k.ENDPOINTSLICE.key: (
        [
            ("Name", _S, 0),
            ("AddressType", _S, 0),
            ("Ports", _S, 0),
            ("Endpoints", _S, 0),
            ("Age", _S, 0),
        ],
        _endpointslice_row,
    ),
}
_DEFAULT: Printer = ([("Name", _S, 0), ("Age", _S, 0)], lambda o: [_name(o), _age(o)])


def _row(kind: k.Kind, obj: Obj, include: str) -> dict[str, Any]:
    _, cells = PRINTERS.get(kind.key, _DEFAULT)
    row: dict[str, Any] = {"cells": cells(obj)}
    if include == "Object":
        row["object"] = {"kind": kind.kind, "apiVersion": kind.api_version, **obj}
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def to_table(
    kind: k.Kind,
    objects: list[Obj],
    *,
    resource_version: str = "",
    include: str = "Metadata",
    headers: bool = True,
) -> dict[str, Any]:
    """A Table of ``objects`` (``include``: None | Metadata | Object, as ``includeObject``)."""
    columns, _ = PRINTERS.get(kind.key, _DEFAULT)
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
    }
    if headers:
        table["columnDefinitions"] = [
            {
                "name": name,
                "type": typ,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": prio,
            }
            for name, typ, prio in columns
        ]
    table["rows"] = [_row(kind, obj, include) for obj in objects]
    return table
