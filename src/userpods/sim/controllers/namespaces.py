"""The namespace controller: empties a terminating namespace, then removes it."""

from __future__ import annotations

from typing import Any

from .. import kinds as k
from ..registry import Registry
from ..status import ApiError
from ..store import Change

Obj = dict[str, Any]


class NamespaceController:
    kinds = k.KINDS

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self._terminating: set[str] = set()

    def handle(self, change: Change) -> None:
        if change.kind is k.NAMESPACE:
            name = change.obj["metadata"]["name"]
            if change.type != "DELETED" and change.obj["metadata"].get("deletionTimestamp"):
                self._terminating.add(name)
            else:
                self._terminating.discard(name)
            if name in self._terminating:
                self._clean(name)
        elif change.type == "DELETED" and change.namespace in self._terminating:
            self._clean(change.namespace)

    def resync(self) -> None:
        self._terminating = {
            ns["metadata"]["name"]
            for ns in self.store.list(k.NAMESPACE)
            if ns["metadata"].get("deletionTimestamp")
        }
        for name in sorted(self._terminating):
            self._clean(name)

    def _clean(self, namespace: str) -> None:
        remaining = 0
        for kind in k.KINDS:
            if not kind.namespaced:
                continue
            for obj in self.store.list(kind, namespace):
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.registry.delete(kind, namespace, obj["metadata"]["name"])
                except ApiError:
                    pass
        if remaining == 0 or not any(
            self.store.list(kd, namespace) for kd in k.KINDS if kd.namespaced
        ):

            def finalize(obj: Obj) -> None:
                obj["spec"]["finalizers"] = []

            self.registry.mutate(k.NAMESPACE, "", namespace, finalize, subresource="finalize")
