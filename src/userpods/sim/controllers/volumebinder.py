"""The PersistentVolume controller's binder: binds volumes and claims (pre-bound pairs
first, then matching by class, access modes and size), and moves volumes through Available,
Bound and Released (or deletes them under the Delete reclaim policy).
"""

from __future__ import annotations

from typing import Any

from .. import kinds as k
from ..events import EventRecorder
from ..names import parse_quantity
from ..registry import Registry
from ..status import ApiError
from ..store import Change

Obj = dict[str, Any]
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"


def _quantity(value: Any) -> Any:
    try:
        return parse_quantity(value)
    except ValueError:
        return 0


class VolumeBinder:
    kinds = (k.PV, k.PVC)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self.events = EventRecorder(registry, "persistentvolume-controller")
        self._warned: set[tuple[str, str]] = set()

    def handle(self, change: Change) -> None:
        obj = change.obj
        if change.kind is k.PV:
            ref = obj["spec"].get("claimRef") or {}
            claim = (
                self.store.get(k.PVC, ref.get("namespace", ""), ref.get("name", ""))
                if ref
                else None
            )
            if change.type == "DELETED":
                if (
                    claim is not None
                    and claim["spec"].get("volumeName") == obj["metadata"]["name"]
                    and not claim["metadata"].get("deletionTimestamp")
                ):
                    self._set_claim_phase(claim, "Lost")
                return
            current = self.store.get(k.PV, "", obj["metadata"]["name"])
            if current is not None:
                self._sync_volume(current)
            if claim is not None and claim.get("status", {}).get("phase") != "Bound":
                self._sync_claim(claim)
            elif change.type == "ADDED" and not ref:
                self._sync_unbound_claims()  # a new volume may fit a waiting claim
            return
        ns, name = change.namespace, obj["metadata"]["name"]
        if change.type == "DELETED":
            for pv in self.store.list(k.PV):
                ref = pv["spec"].get("claimRef") or {}
                if ref.get("namespace") == ns and ref.get("name") == name:
                    self._sync_volume(pv)
            return
        current = self.store.get(k.PVC, ns, name)
        if current is not None and current.get("status", {}).get("phase") != "Bound":
            self._sync_claim(current)

    def _sync_unbound_claims(self) -> None:
        for pvc in self.store.list(k.PVC):
            if pvc.get("status", {}).get("phase") != "Bound":
                self._sync_claim(pvc)

    def resync(self) -> None:
        for pv in self.store.list(k.PV):
            self._sync_volume(pv)
        for pvc in self.store.list(k.PVC):
            if pvc.get("status", {}).get("phase") != "Bound":
                self._sync_claim(pvc)
            elif not pvc["metadata"].get("deletionTimestamp"):
                volume = self.store.get(k.PV, "", pvc["spec"].get("volumeName", ""))
                if volume is None:
                    self._set_claim_phase(pvc, "Lost")

    def _claim_of(self, pv: Obj) -> Obj | None:
        ref = pv["spec"].get("claimRef")
        if not ref:
            return None
        claim = self.store.get(k.PVC, ref.get("namespace", ""), ref.get("name", ""))
        if claim is None or (ref.get("uid") and ref["uid"] != claim["metadata"]["uid"]):
            return None
        return claim

    def _sync_volume(self, pv: Obj) -> None:
        ref = pv["spec"].get("claimRef")
        phase = pv.get("status", {}).get("phase")
        if not ref:
            wanted = "Available"
        elif self._claim_of(pv) is not None:
            return  # bound or about to be: the claim's sync decides
        elif ref.get("uid"):
            # The claim it was bound to is gone.
            policy = pv["spec"].get("persistentVolumeReclaimPolicy", "Retain")
            if policy == "Delete" and not pv["metadata"].get("deletionTimestamp"):
                try:
                    self.registry.delete(k.PV, "", pv["metadata"]["name"])
                except ApiError:
                    pass
                return
            if policy == "Recycle":
                self.registry.mutate(
                    k.PV, "", pv["metadata"]["name"], lambda o: o["spec"].pop("claimRef", None)
                )
                return
            wanted = "Released"
        else:
            wanted = "Available"  # pre-bound to a claim that does not exist yet
        if phase != wanted:
            self._set_volume_phase(pv["metadata"]["name"], wanted)

    def _set_volume_phase(self, name: str, phase: str) -> None:
        def write(obj: Obj) -> None:
            obj.setdefault("status", {})["phase"] = phase
            obj["status"]["lastPhaseTransitionTime"] = self.registry.now()

        self.registry.mutate(k.PV, "", name, write, subresource="status")

    def _set_claim_phase(self, pvc: Obj, phase: str) -> None:
        def write(obj: Obj) -> None:
            obj.setdefault("status", {})["phase"] = phase

        self.registry.mutate(
            k.PVC,
            pvc["metadata"]["namespace"],
            pvc["metadata"]["name"],
            write,
            subresource="status",
        )

    def _find_volume(self, pvc: Obj) -> tuple[Obj | None, bool]:
        """The volume for a claim, and whether the controller chose it."""
        name = pvc["spec"].get("volumeName")
        if name:
            return self.store.get(k.PV, "", name), False
        ns, claim_name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        volumes = self.store.list(k.PV)
        for pv in volumes:
            ref = pv["spec"].get("claimRef") or {}
            if (
                ref.get("namespace") == ns
                and ref.get("name") == claim_name
                and (not ref.get("uid") or ref["uid"] == pvc["metadata"]["uid"])
            ):
                return pv, True
        wanted_class = pvc["spec"].get("storageClassName") or ""
        wanted_modes = set(pvc["spec"].get("accessModes") or [])
        wanted_size = _quantity(
            pvc["spec"].get("resources", {}).get("requests", {}).get("storage", "0")
        )
        candidates = [
            pv
            for pv in volumes
            if not pv["spec"].get("claimRef")
            and not pv["metadata"].get("deletionTimestamp")
            and (pv["spec"].get("storageClassName") or "") == wanted_class
            and wanted_modes <= set(pv["spec"].get("accessModes") or [])
            and _quantity(pv["spec"].get("capacity", {}).get("storage", "0")) >= wanted_size
        ]
        candidates.sort(key=lambda pv: _quantity(pv["spec"]["capacity"]["storage"]))
        return (candidates[0] if candidates else None), True

    def _sync_claim(self, pvc: Obj) -> None:
        if pvc["metadata"].get("deletionTimestamp"):
            return
        pv, chosen = self._find_volume(pvc)
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        if pv is None:
            return
        ref = pv["spec"].get("claimRef") or {}
        if ref and (
            ref.get("namespace") != ns
            or ref.get("name") != name
            or (ref.get("uid") and ref["uid"] != pvc["metadata"]["uid"])
        ):
            if (ns, name) not in self._warned:
                self._warned.add((ns, name))
                self.events.record(
                    k.PVC,
                    pvc,
                    "Warning",
                    "FailedBinding",
                    f'volume "{pv["metadata"]["name"]}" already bound to a different claim.',
                )
            return
        claim_ref = {
            "kind": "PersistentVolumeClaim",
            "namespace": ns,
            "name": name,
            "uid": pvc["metadata"]["uid"],
            "apiVersion": "v1",
            "resourceVersion": pvc["metadata"]["resourceVersion"],
        }

        def bind_volume(obj: Obj) -> None:
            obj["spec"]["claimRef"] = claim_ref
            if chosen and not ref:
                obj["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"

        bound_pv = self.registry.mutate(k.PV, "", pv["metadata"]["name"], bind_volume)
        if bound_pv is None:
            return
        self._set_volume_phase(pv["metadata"]["name"], "Bound")

        def bind_claim(obj: Obj) -> None:
            obj["spec"]["volumeName"] = pv["metadata"]["name"]
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[BIND_COMPLETED] = "yes"
            if chosen:
                annotations[BOUND_BY_CONTROLLER] = "yes"

        self.registry.mutate(k.PVC, ns, name, bind_claim)

        def claim_status(obj: Obj) -> None:
            obj["status"] = {
                "phase": "Bound",
                "accessModes": list(bound_pv["spec"].get("accessModes", [])),
                "capacity": dict(bound_pv["spec"].get("capacity", {})),
            }

        self.registry.mutate(k.PVC, ns, name, claim_status, subresource="status")
