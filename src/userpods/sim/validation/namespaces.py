"""A Namespace's defaults: the kubernetes finalizer, phase Active and its name label."""

from __future__ import annotations

from .common import Obj


def default_namespace(obj: Obj) -> None:
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
