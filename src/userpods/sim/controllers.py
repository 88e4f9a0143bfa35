"""The controller-manager's controllers that a pod-spawning backend meets.

- :class:`VolumeBinder`: binds PersistentVolumes and claims (pre-bound pairs first, then
  matching by class, access modes and size), and moves volumes through Available, Bound and
  Released (or deletes them under the Delete reclaim policy).
- :class:`ProtectionController`: lifts ``kubernetes.io/pvc-protection`` once no running pod
  uses a claim, and ``kubernetes.io/pv-protection`` once a volume is no longer Bound.
- :class:`GarbageCollector`: deletes dependents whose owners are all gone (background),
  deletes dependents before the owner (``foregroundDeletion``), or strips owner references
  (``orphan``).
- :class:`NamespaceController`: empties a terminating namespace, then removes it.
"""

from __future__ import annotations

from typing import Any

from . import kinds as k
from .events import EventRecorder
from .names import parse_quantity
from .registry import (
    FOREGROUND,
    ORPHAN,
    PV_PROTECTION,
    PVC_PROTECTION,
    DeleteOptions,
    Registry,
)
from .status import ApiError
from .store import Change

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


class GarbageCollector:
    """Owner references, honoured whatever the daemon does (see module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self.kinds = k.KINDS
        # owner uid -> dependents (kind, namespace, name)
        self._dependents: dict[str, set[tuple[k.Kind, str, str]]] = {}

    def _index(self, kind: k.Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            self._dependents.setdefault(ref["uid"], set()).add(
                (kind, meta.get("namespace", ""), meta["name"])
            )

    def resync(self) -> None:
        self._dependents.clear()
        for kind in k.KINDS:
            for obj in self.store.list(kind):
                self._index(kind, obj)
        for kind in k.KINDS:
            for obj in self.store.list(kind):
                self._check_dependent(kind, obj)
                self._process_owner(kind, obj)

    def handle(self, change: Change) -> None:
        meta = change.obj["metadata"]
        if change.type == "DELETED":
            for kind, ns, name in sorted(
                self._dependents.pop(meta["uid"], set()), key=lambda d: (d[0].key, d[1], d[2])
            ):
                dependent = self.store.get(kind, ns, name)
                if dependent is not None:
                    self._check_dependent(kind, dependent)
            self._release_owners(change.kind, change.obj)
            return
        self._index(change.kind, change.obj)
        self._check_dependent(change.kind, change.obj)
        self._process_owner(change.kind, change.obj)

    def _release_owners(self, kind: k.Kind, obj: Obj) -> None:
        """A dependent went away: owners waiting in foreground deletion may now go."""
        for ref in obj["metadata"].get("ownerReferences") or []:
            found = self.store.uids.get(ref["uid"])
            if found is None:
                continue
            owner_kind, ns, name = found
            owner = self.store.get(owner_kind, ns, name)
            if owner is not None:
                self._process_owner(owner_kind, owner)

    def _owner_exists(self, dependent: Obj, ref: Obj) -> bool:
        found = self.store.uids.get(ref.get("uid", ""))
        if found is None:
            return False
        owner_kind, ns, _ = found
        # A namespaced dependent's owner must live in its namespace (or be cluster-scoped).
        return not owner_kind.namespaced or ns == dependent["metadata"].get("namespace")

    def _check_dependent(self, kind: k.Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        if not refs or meta.get("deletionTimestamp"):
            return
        if any(self._owner_exists(obj, ref) for ref in refs):
            return
        try:
            self.registry.delete(
                kind,
                meta.get("namespace", ""),
                meta["name"],
                DeleteOptions(propagation="Background"),
            )
        except ApiError:
            pass

    def _process_owner(self, kind: k.Kind, owner: Obj) -> None:
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp"):
            return
        finalizers = meta.get("finalizers") or []
        uid = meta["uid"]
        live = [
            (dk, ns, name)
            for dk, ns, name in self._dependents.get(uid, set())
            if self.store.get(dk, ns, name) is not None
        ]
        if ORPHAN in finalizers:
            for dk, ns, name in live:
                self.registry.mutate(
                    dk,
                    ns,
                    name,
                    lambda o: _drop_owner_ref(o, uid),
                )
            self._dependents.pop(uid, None)
            self.registry.remove_finalizer(kind, meta.get("namespace", ""), meta["name"], ORPHAN)
        elif FOREGROUND in finalizers:
            # Only dependents whose reference has blockOwnerDeletion=true hold the owner back.
            still_there = False
            for dk, ns, name in live:
                dependent = self.store.get(dk, ns, name)
                if dependent is None:
                    continue
                dmeta = dependent["metadata"]
                still_there = still_there or any(
                    r.get("uid") == uid and r.get("blockOwnerDeletion")
                    for r in dmeta.get("ownerReferences") or []
                )
                if not dmeta.get("deletionTimestamp"):
                    # Foreground only for a dependent with dependents of its own.
                    has_own = any(
                        self.store.get(*d) is not None
                        for d in self._dependents.get(dmeta["uid"], set())
                    )
                    policy = "Foreground" if has_own else "Background"
                    try:
                        self.registry.delete(dk, ns, name, DeleteOptions(propagation=policy))
                    except ApiError:
                        pass
            if not still_there:
                self.registry.remove_finalizer(
                    kind, meta.get("namespace", ""), meta["name"], FOREGROUND
                )


def _drop_owner_ref(obj: Obj, uid: str) -> None:
    """Remove the reference to ``uid``; an emptied list goes away (as after the GC's patch)."""
    refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


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
