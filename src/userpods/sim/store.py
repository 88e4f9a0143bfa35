"""The simulated cluster's database: objects, the global resourceVersion, and watch history.

Like etcd behind the apiserver's watch cache: every write bumps one global counter, which
becomes the object's ``metadata.resourceVersion``, and appends one event to a bounded history.
Watches replay the history from a resourceVersion; a version older than the history is
"expired" (410). Stored objects are never mutated after they are stored (writers store a new
dict), so readers and events can share them without copying.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from .kinds import Kind
from .status import expired

Obj = dict[str, Any]
T = TypeVar("T")


@dataclass
class Change:
    """One write: what a watch event is made of."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    kind: Kind
    obj: Obj
    old: Obj | None = None
    _encoded: bytes | None = field(default=None, repr=False)

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    def encoded_object(self) -> bytes:
        """The object with kind/apiVersion, as JSON; computed once, shared by every watcher."""
        if self._encoded is None:
            self._encoded = json.dumps(
                with_type(self.kind, self.obj), separators=(",", ":")
            ).encode()
        return self._encoded


def clone(value: T) -> T:
    """A deep copy of JSON-like data (dicts, lists, scalars): what objects are made of here.

    Several times faster than ``copy.deepcopy``, which the simulated cluster would otherwise
    spend most of its time in (every write copies an object).
    """
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [clone(item) for item in value]  # type: ignore[return-value]
    return value


def with_type(kind: Kind, obj: Obj) -> Obj:
    """The object as served on its own: ``kind`` and ``apiVersion`` first."""
    return {"kind": kind.kind, "apiVersion": kind.api_version, **obj}


class Store:
    """Objects by kind and (namespace, name), with a replayable change history."""

    def __init__(self, history_limit: int = 5000) -> None:
        self.rv = 1
        self.history_limit = history_limit
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._history: builtins.list[Change] = []
        self._oldest_rv = 1  # changes after this RV are all still in the history
        self._changed = trio.Event()
        self.uids: dict[str, tuple[Kind, str, str]] = {}

    # ------------------------------------------------------------------ reads
    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        return self._objects.get(kind.key, {}).get((namespace, name))

    def list(self, kind: Kind, namespace: str | None = None) -> list[Obj]:
        bucket = self._objects.get(kind.key, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [bucket[k] for k in keys]

    def count(self, kind: Kind) -> int:
        return len(self._objects.get(kind.key, {}))

    # ------------------------------------------------------------------ writes
    def put(self, kind: Kind, obj: Obj, *, created: bool) -> Obj:
        """Store ``obj`` (a fresh dict the caller gives up) as the new state; return it."""
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        bucket = self._objects.setdefault(kind.key, {})
        old = bucket.get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        bucket[key] = obj
        self.uids[meta["uid"]] = (kind, key[0], key[1])
        self._record(Change(self.rv, "ADDED" if created else "MODIFIED", kind, obj, old))
        return obj

    def remove(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        """Remove the object; its final state carries a new resourceVersion (as DELETED does)."""
        bucket = self._objects.get(kind.key, {})
        key = (namespace if kind.namespaced else "", name)
        old = bucket.pop(key, None)
        if old is None:
            return None
        self.rv += 1
        final = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self.rv)}}
        self.uids.pop(old["metadata"]["uid"], None)
        self._record(Change(self.rv, "DELETED", kind, final, old))
        return final

    def _record(self, change: Change) -> None:
        self._history.append(change)
        excess = len(self._history) - self.history_limit
        if excess > 0:
            # Trim in batches so appends stay amortised O(1).
            cut = max(excess, self.history_limit // 4 or 1)
            cut = min(cut, len(self._history))
            self._oldest_rv = self._history[cut - 1].rv
            del self._history[:cut]
        self._changed.set()
        self._changed = trio.Event()

    def set_history_limit(self, limit: int) -> None:
        self.history_limit = max(1, limit)
        excess = len(self._history) - self.history_limit
        if excess > 0:
            self._oldest_rv = self._history[excess - 1].rv
            del self._history[:excess]

    # ------------------------------------------------------------------ watching
    @property
    def changed(self) -> trio.Event:
        """Set at the next write. Capture it before reading, then wait: no wake-up is lost."""
        return self._changed

    def changes_since(self, rv: int) -> builtins.list[Change]:
        """Every change after ``rv``; a 410 ``ApiError`` when the history no longer has them."""
        if rv < self._oldest_rv:
            raise expired(f"too old resource version: {rv} ({self._oldest_rv})")
        if not self._history or rv >= self._history[-1].rv:
            return []
        start = rv - self._history[0].rv + 1
        return self._history[max(start, 0) :]
