"""Kubernetes Events (core/v1) as the kubelet and controllers record them.

Repeats of the same event for the same object (same reason, message, type and field path)
are folded into one Event whose ``count`` and ``lastTimestamp`` grow, as client-go's event
correlator does; clients should match on ``reason``, not ``message``.

A recorder remembers which Event each repeatable key went to by the key's hash only: ten
thousand pods make fifty thousand Events, and a tuple of five strings per Event cost more than
a kilobyte per pod. A hash says where to look; the Event found there is then compared with
the key in full, so a collision (or an Event changed or replaced by a client) makes a new
Event rather than bumping the wrong one.
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
        self._seen: dict[int, str] = {}  # hash of (uid, field path, reason, ...) -> Event name

    def record(
        self, kind: k.Kind, obj: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        fold = (meta["uid"], field_path, reason, message, type_)
        key = hash(fold)
        stamp = rfc3339()
        existing = self._seen.get(key)
        if existing is not None:
            found = self.registry.store.get(k.EVENT, namespace, existing)
            if found is not None and _folds_into(found, *fold):

                def bump(event: Obj) -> None:
                    event["count"] = int(event.get("count", 1)) + 1
                    event["lastTimestamp"] = stamp

                self.registry.mutate(k.EVENT, namespace, existing, bump)
                return
            del self._seen[key]  # gone, or not what the key says: a new Event
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
        self._seen[key] = name


def _folds_into(
    event: Obj, uid: str, field_path: str, reason: str, message: str, type_: str
) -> bool:
    """Whether ``event`` is the one a repeat of (uid, field path, reason, message, type) folds
    into."""
    involved = event.get("involvedObject") or {}
    return (
        involved.get("uid") == uid
        and involved.get("fieldPath", "") == field_path
        and event.get("reason") == reason
        and event.get("message") == message
        and event.get("type") == type_
    )
