"""Kubernetes Events (core/v1) as the kubelet and controllers record them.

Repeats of the same event for the same object (same reason, message, type and field path)
are folded into one Event whose ``count`` and ``lastTimestamp`` grow, as client-go's event
correlator does; clients should match on ``reason``, not ``message``.
"""

from __future__ import annotations

import time
from typing import Any

from . import kinds as k
from .registry import Registry
from .status import ApiError
from .timefmt import rfc3339

Obj = dict[str, Any]


class EventRecorder:
    """Records events for one component (``kubelet`` on a host, ``default-scheduler``, ...)."""

    def __init__(self, registry: Registry, component: str, host: str = "") -> None:
        self.registry = registry
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, ...], tuple[str, str]] = {}  # key -> (namespace, name)

    def record(
        self, kind: k.Kind, obj: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta["uid"], field_path, reason, message, type_)
        stamp = rfc3339()
        existing = self._seen.get(key)
        if existing and self.registry.store.get(k.EVENT, *existing) is not None:

            def bump(event: Obj) -> None:
                event["count"] = int(event.get("count", 1)) + 1
                event["lastTimestamp"] = stamp

            self.registry.mutate(k.EVENT, existing[0], existing[1], bump)
            return
        name = f"{meta['name']}.{time.time_ns():x}"
        involved: Obj = {
            "kind": kind.kind,
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": kind.api_version,
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if not kind.namespaced:
            involved.pop("namespace")
        if field_path:
            involved["fieldPath"] = field_path
        source: Obj = {"component": self.component}
        if self.host:
            source["host"] = self.host
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        try:
            self.registry.create(k.EVENT, namespace, event)
        except ApiError:
            # e.g. a terminating namespace: client-go's recorder logs "Server rejected event
            # (will not retry!)" and carries on; so does this one.
            return
        self._seen[key] = (namespace, name)
