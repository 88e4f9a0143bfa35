"""The protection controllers: lift ``kubernetes.io/pvc-protection`` once no running pod uses
a claim, and ``kubernetes.io/pv-protection`` once a volume is no longer Bound.
"""

from __future__ import annotations

from typing import Any

from .. import kinds as k
from ..registry import PV_PROTECTION, PVC_PROTECTION, Registry
from ..store import Change

Obj = dict[str, Any]


class ProtectionController:
    kinds = (k.PV, k.PVC, k.POD)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self._claims: set[tuple[str, str]] = set()  # deleting claims still protected
        self._volumes: set[str] = set()  # deleting volumes still protected

    def handle(self, change: Change) -> None:
        meta = change.obj["metadata"]
        protected = change.type != "DELETED" and bool(meta.get("deletionTimestamp"))
        if change.kind is k.PVC:
            key = (meta["namespace"], meta["name"])
            if protected and PVC_PROTECTION in (meta.get("finalizers") or []):
                self._claims.add(key)
            else:
                self._claims.discard(key)
        elif change.kind is k.PV:
            if protected and PV_PROTECTION in (meta.get("finalizers") or []):
                self._volumes.add(meta["name"])
            else:
                self._volumes.discard(meta["name"])
        self._release()

    def resync(self) -> None:
        self._claims = {
            (c["metadata"]["namespace"], c["metadata"]["name"])
            for c in self.store.list(k.PVC)
            if c["metadata"].get("deletionTimestamp")
            and PVC_PROTECTION in (c["metadata"].get("finalizers") or [])
        }
        self._volumes = {
            v["metadata"]["name"]
            for v in self.store.list(k.PV)
            if v["metadata"].get("deletionTimestamp")
            and PV_PROTECTION in (v["metadata"].get("finalizers") or [])
        }
        self._release()

    def _release(self) -> None:
        for ns, name in sorted(self._claims):
            if not self._in_use(ns, name):
                self._claims.discard((ns, name))
                self.registry.remove_finalizer(k.PVC, ns, name, PVC_PROTECTION)
        for name in sorted(self._volumes):
            pv = self.store.get(k.PV, "", name)
            if pv is None or pv.get("status", {}).get("phase") != "Bound":
                self._volumes.discard(name)
                self.registry.remove_finalizer(k.PV, "", name, PV_PROTECTION)

    def _in_use(self, namespace: str, claim: str) -> bool:
        for pod in self.store.list(k.POD, namespace):
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if not pod["spec"].get("nodeName"):
                continue  # as the real controller: only scheduled pods use a claim
            for vol in pod["spec"].get("volumes") or []:
                if (vol.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                    return True
        return False
