"""Pod conditions, and binding a pod to a node: the writes the scheduler, the kubelet and the
``pods/binding`` subresource share."""

from __future__ import annotations

from typing import Any

from . import kinds as k
from .status import ApiError, not_found_error
from .store import Store, clone
from .timefmt import rfc3339

Obj = dict[str, Any]


def set_condition(status: Obj, ctype: str, value: str, reason: str = "", message: str = "") -> None:
    """Set a pod condition, keeping lastTransitionTime when the status does not change."""
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == ctype:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = rfc3339()
            cond["status"] = value
            for key, text in (("reason", reason), ("message", message)):
                if text:
                    cond[key] = text
                else:
                    cond.pop(key, None)
            return
    new: Obj = {
        "type": ctype,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(),
    }
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    conditions.append(new)


def bind_pod(store: Store, namespace: str, name: str, node: str) -> Obj:
    """What ``POST pods/{name}/binding`` does: set ``spec.nodeName`` and PodScheduled."""
    pod = store.get(k.POD, namespace, name)
    if pod is None:
        raise not_found_error("pods", "", name)
    if pod["spec"].get("nodeName"):
        raise ApiError(
            409,
            f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
            "Conflict",
            {"name": name, "kind": "pods"},
        )
    if pod["metadata"].get("deletionTimestamp"):
        raise ApiError(
            409,
            f"pod {name} is being deleted, cannot be assigned to a host",
            "Conflict",
            {"name": name, "kind": "pods"},
        )
    new = clone(pod)
    new["spec"]["nodeName"] = node
    set_condition(new.setdefault("status", {}), "PodScheduled", "True")
    return store.put(k.POD, new, created=False)
