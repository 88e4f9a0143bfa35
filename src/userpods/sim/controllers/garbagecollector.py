"""The garbage collector: deletes dependents whose owners are all gone (background), deletes
dependents before the owner (``foregroundDeletion``), or strips owner references
(``orphan``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import kinds as k
from ..deletion import FOREGROUND, ORPHAN, DeleteOptions
from ..registry import Registry
from ..status import ApiError
from ..store import Change

Obj = dict[str, Any]
Dependent = tuple[k.Kind, str, str]


def _members(entry: Dependent | set[Dependent] | None) -> Collection[Dependent]:
    if entry is None:
        return ()
    return entry if isinstance(entry, set) else (entry,)


class GarbageCollector:
    """Owner references, honoured whatever the daemon does (see module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self.kinds = k.KINDS
        # owner uid -> dependents (kind, namespace, name): the one dependent most owners have
        # (a pod's service), a set only for more (a set per owner cost ten thousand of them).
        self._dependents: dict[str, Dependent | set[Dependent]] = {}

    def _of(self, uid: str) -> Collection[Dependent]:
        return _members(self._dependents.get(uid))

    def _index(self, kind: k.Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            dependent = (kind, meta.get("namespace", ""), meta["name"])
            entry = self._dependents.get(ref["uid"])
            if entry is None:
                self._dependents[ref["uid"]] = dependent
            elif isinstance(entry, set):
                entry.add(dependent)
            elif entry != dependent:
                self._dependents[ref["uid"]] = {entry, dependent}

    def _unindex(self, kind: k.Kind, obj: Obj) -> None:
        """A dependent is gone: its owners no longer list it (the index stays its size)."""
        meta = obj["metadata"]
        for ref in meta.get("ownerReferences") or []:
            dependent = (kind, meta.get("namespace", ""), meta["name"])
            entry = self._dependents.get(ref["uid"])
            if entry is None:
                continue
            if isinstance(entry, set):
                entry.discard(dependent)
                if len(entry) == 1:
                    self._dependents[ref["uid"]] = next(iter(entry))
                elif not entry:
                    del self._dependents[ref["uid"]]
            elif entry == dependent:
                del self._dependents[ref["uid"]]

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
                _members(self._dependents.pop(meta["uid"], None)),
                key=lambda d: (d[0].key, d[1], d[2]),
            ):
                dependent = self.store.get(kind, ns, name)
                if dependent is not None:
                    self._check_dependent(kind, dependent)
            self._release_owners(change.kind, change.obj)
            self._unindex(change.kind, change.obj)
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
            for dk, ns, name in self._of(uid)
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
                    has_own = any(self.store.get(*d) is not None for d in self._of(dmeta["uid"]))
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
