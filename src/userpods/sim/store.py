"""The simulated cluster's database: objects, the global resourceVersion, and watch history.

Like etcd behind the apiserver's watch cache: every write bumps one global counter, which
becomes the object's ``metadata.resourceVersion``, and appends one event to a bounded history.
Watches replay the history from a resourceVersion; a version older than the history is
"expired" (410). Stored objects are never mutated after they are stored (writers store a new
dict), so readers and events can share them without copying.

Reads cost what they return, not what the store holds: keys are kept sorted as they are
written (a list is a walk, not a sort), per namespace too, and :meth:`Store.select` finds
the objects of a label or field selector through indexes (label key=value pairs always;
each selectable field once it is first asked for) before filtering them exactly as the
apiserver does.
"""

from __future__ import annotations

import bisect
import builtins
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from .jsonbytes import dumps
from .kinds import Kind
from .selectors import FieldSelector, Selector, fields_match, labels_match
from .sharing import Sharing
from .status import expired

Obj = dict[str, Any]
T = TypeVar("T")
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds


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
            self._encoded = dumps(with_type(self.kind, self.obj))
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
        self._objects: dict[str, dict[Key, Obj]] = {}
        self._history: builtins.list[Change] = []
        self._oldest_rv = 1  # changes after this RV are all still in the history
        self._changed = trio.Event()
        self.uids: dict[str, tuple[Kind, str, str]] = {}
        self._index = _Indexes()
        self.sharing = Sharing()  # what stored objects have in common is kept once

    # ------------------------------------------------------------------ reads
    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        return self._objects.get(kind.key, {}).get((namespace, name))

    def list(self, kind: Kind, namespace: str | None = None) -> builtins.list[Obj]:
        """The objects of a kind (in one namespace, or all), ordered by namespace and name."""
        bucket = self._objects.get(kind.key, {})
        if namespace is None:
            return [bucket[key] for key in self._index.order.get(kind.key, ())]
        names = self._index.ns_order.get(kind.key, {}).get(namespace, ())
        return [bucket[(namespace, name)] for name in names]

    def select(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Selector = (),
        fields: FieldSelector = (),
    ) -> builtins.list[Obj]:
        """``list`` narrowed to a label and a field selector: what a selected list returns.

        The candidates come from an index when a selector has an equality (``k=v``,
        ``k in (...)``, ``field=value``); every candidate is then matched in full.
        """
        bucket = self._objects.get(kind.key, {})
        keys = self._index.candidates(kind, bucket, namespace, labels, fields)
        if keys is None:
            objs = self.list(kind, namespace)
        else:
            objs = [
                bucket[key]
                for key in sorted(keys)
                if key in bucket and (namespace is None or key[0] == namespace)
            ]
        return [
            obj
            for obj in objs
            if (not labels or labels_match(labels, obj["metadata"].get("labels")))
            and (
                not fields
                or fields_match(fields, {f.field: kind.field_value(obj, f.field) for f in fields})
            )
        ]

    def count(self, kind: Kind) -> int:
        return len(self._objects.get(kind.key, {}))

    # ------------------------------------------------------------------ writes
    def put(self, kind: Kind, obj: Obj, *, created: bool) -> Obj:
        """Store ``obj`` (a fresh dict the caller gives up) as the new state; return it.

        What is stored (and returned) is an equal copy made of shared parts (``sharing.py``);
        ``obj`` gets the new resourceVersion too.
        """
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        bucket = self._objects.setdefault(kind.key, {})
        old = bucket.get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        obj = self.sharing.share(obj, old)
        meta = obj["metadata"]
        bucket[key] = obj
        self._index.update(kind, key, old, obj)
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
        self._index.update(kind, key, old, None)
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


class _Indexes:
    """The store's orderings and selector indexes, kept in step with every write."""

    def __init__(self) -> None:
        self.order: dict[str, builtins.list[Key]] = {}  # kind -> sorted keys
        self.ns_order: dict[str, dict[str, builtins.list[str]]] = {}  # kind -> ns -> names
        self.labels: dict[str, dict[tuple[str, str], Entry]] = {}  # kind -> (k, v) -> keys
        # (kind, field) -> value -> keys; built when a selector first asks for the field.
        self.fields: dict[tuple[str, str], dict[str, Entry]] = {}

    def update(self, kind: Kind, key: Key, old: Obj | None, new: Obj | None) -> None:
        if old is None and new is not None:
            bisect.insort(self.order.setdefault(kind.key, []), key)
            bisect.insort(self.ns_order.setdefault(kind.key, {}).setdefault(key[0], []), key[1])
        elif new is None and old is not None:
            _discard_sorted(self.order.get(kind.key, []), key)
            names = self.ns_order.get(kind.key, {}).get(key[0], [])
            _discard_sorted(names, key[1])
            if not names:
                self.ns_order.get(kind.key, {}).pop(key[0], None)
        old_labels = _labels_of(old)
        new_labels = _labels_of(new)
        if old_labels != new_labels:
            index = self.labels.setdefault(kind.key, {})
            for pair in old_labels.items():
                if new_labels.get(pair[0]) != pair[1]:
                    _discard(index, pair, key)
            for pair in new_labels.items():
                if old_labels.get(pair[0]) != pair[1]:
                    _add(index, pair, key)
        for (kind_key, name), values in self.fields.items():
            if kind_key != kind.key:
                continue
            before = None if old is None else kind.field_value(old, name)
            after = None if new is None else kind.field_value(new, name)
            if before != after:
                if before is not None:
                    _discard(values, before, key)
                if after is not None:
                    _add(values, after, key)

    def candidates(
        self,
        kind: Kind,
        bucket: dict[Key, Obj],
        namespace: str | None,
        labels: Selector,
        fields: FieldSelector,
    ) -> set[Key] | None:
        """The keys an equality in the selectors narrows to (None: no such equality).

        Each equality names a few index sets (one per value of ``in``); only the smallest
        group is copied, so a selector term every object matches costs nothing.
        """
        groups: list[list[Collection[Key]]] = []
        for req in labels:
            if req.op in ("=", "in"):
                index = self.labels.get(kind.key, {})
                groups.append([_members(index.get((req.key, value))) for value in req.values])
        for freq in fields:
            if freq.negate or freq.field == "metadata.namespace":
                continue
            if freq.field == "metadata.name":
                spaces = [namespace] if namespace is not None else self._namespaces(kind)
                groups.append([{(ns, freq.value) for ns in spaces if (ns, freq.value) in bucket}])
            elif freq.field in kind.fields:
                values = self._field_index(kind, bucket, freq.field)
                groups.append([_members(values.get(freq.value))])
        if not groups:
            return None
        smallest = min(groups, key=lambda sets: sum(len(keys) for keys in sets))
        return _union(smallest)

    def _namespaces(self, kind: Kind) -> builtins.list[str]:
        return builtins.list(self.ns_order.get(kind.key, {}))

    def _field_index(self, kind: Kind, bucket: dict[Key, Obj], name: str) -> dict[str, Entry]:
        index = self.fields.get((kind.key, name))
        if index is None:
            index = {}
            for key, obj in bucket.items():
                _add(index, kind.field_value(obj, name), key)
            self.fields[(kind.key, name)] = index
        return index


# An index entry: the one key with that value (most label pairs, such as a pod's name label,
# are one object's), or a set of them: a set for each would cost ten times the key's size.
Entry = Key | set[Key]
_EMPTY: tuple[Key, ...] = ()


def _members(entry: Entry | None) -> Collection[Key]:
    if entry is None:
        return _EMPTY
    if isinstance(entry, tuple):
        return (entry,)
    return entry


def _labels_of(obj: Obj | None) -> dict[str, str]:
    if obj is None:
        return {}
    labels: dict[str, str] = obj["metadata"].get("labels") or {}
    return labels


def _add(index: dict[Any, Entry], value: Any, key: Key) -> None:
    entry = index.get(value)
    if entry is None:
        index[value] = key
    elif isinstance(entry, tuple):
        if entry != key:
            index[value] = {entry, key}
    else:
        entry.add(key)


def _discard(index: dict[Any, Entry], value: Any, key: Key) -> None:
    entry = index.get(value)
    if entry is None:
        return
    if isinstance(entry, tuple):
        if entry == key:
            del index[value]
        return
    entry.discard(key)
    if len(entry) == 1:
        index[value] = next(iter(entry))
    elif not entry:
        del index[value]


def _union(groups: Iterable[Collection[Key]]) -> set[Key]:
    out: set[Key] = set()
    for keys in groups:
        out.update(keys)
    return out


def _discard_sorted(items: builtins.list[Any], value: Any) -> None:
    at = bisect.bisect_left(items, value)
    if at < len(items) and items[at] == value:
        del items[at]
