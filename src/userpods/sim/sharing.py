"""Structural sharing of stored objects: why ten thousand pods fit in the simulated cluster.

Stored objects are never mutated (see ``store.py``), so identical parts of them can be one
object in memory. Every object the store keeps goes through :meth:`Sharing.share` first:

- dict keys and short string values are interned (JSON decoding and string formatting make a
  fresh copy of ``"lastTransitionTime"``, ``"True"`` or a timestamp for every object);
- a dict or list whose content occurs elsewhere (a pod's tolerations, its service account
  volume, ``{"ip": "10.0.0.1"}``, an Event's ``source``) is replaced by the one copy kept in a
  table ("hash-consing", bottom-up, so equal parents share equal children by identity);
- what is unique to an object (its own ``metadata``, with its uid, and so the object itself)
  is not put in the table, where it would only cost memory; instead, where it equals the same
  place of the object's previous version, that version's copy is reused, so that the watch
  history's older versions and a controller's hold on one cost only what changed. A
  reference to an object holds its uid too (an Event's ``involvedObject``, owner references)
  but is shared like any other part: a pod's Events all name it the same way.

Equality here is stricter than Python's ``==``: ``1``, ``1.0`` and ``True`` are different
values, and so are dicts with the same items in another order, because they encode to
different JSON. The result is an equal tree (``==``) that encodes to the same JSON. The input
is not modified: the result is made of fresh containers or of shared ones, never of the
caller's (who may hold on to and change theirs).

Entries that share nothing are swept once the table has doubled since the last sweep
(see :meth:`Sharing.sweep`), so the table's size follows what is shared, in amortised
constant time per entry.
"""

from __future__ import annotations

import sys
from typing import Any

MAX_INTERNED = 128  # longer strings are messages, certificates, file contents: rarely repeated
OWN = "metadata"  # at the top of an object: what belongs to that object only
_SCALARS = (str, int, float, bool, type(None))
_intern = sys.intern


class _Node:
    """A table entry: a shared container, hashed and compared by strict content."""

    __slots__ = ("hash", "value")

    def __init__(self, value: Any, hash_: int) -> None:
        self.value = value
        self.hash = hash_

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Node):
            return NotImplemented
        a, b = self.value, other.value
        if type(a) is not type(b):
            return False
        if type(a) is dict:
            return same_dict(a, b)
        return same_list(a, b)


def _same_item(a: Any, b: Any) -> bool:
    """Strict equality of two values whose containers are already shared (by identity)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b) or kind is dict or kind is list:
        return False
    if kind is float:
        return repr(a) == repr(b)  # 0.0 and -0.0, nan
    return bool(a == b)


def same_dict(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    """Same keys in the same order, each value the same (see :func:`_same_item`)."""
    if len(a) != len(b):
        return False
    for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
        if ka != kb or not _same_item(va, vb):
            return False
    return True


def same_list(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(_same_item(x, y) for x, y in zip(a, b, strict=True))


class Sharing:
    """The table of shared containers (see module docstring)."""

    def __init__(self, sweep_at: int = 4096) -> None:
        self._table: dict[_Node, _Node] = {}
        self._min_sweep = sweep_at
        self._sweep_at = sweep_at

    def __len__(self) -> int:
        return len(self._table)

    def share(self, value: Any, previous: Any = None) -> Any:
        """An equal tree made of shared parts (``previous``: the object's last version)."""
        kind = type(value)
        if kind is dict:
            return self._dict(value, previous if type(previous) is dict else None, top=True)[0]
        if kind is list:
            return self._list(value, previous if type(previous) is list else None)[0]
        if kind is str and len(value) <= MAX_INTERNED:
            return _intern(value)
        return value

    def _dict(
        self, d: dict[Any, Any], old: dict[Any, Any] | None, top: bool = False, own: bool = False
    ) -> tuple[Any, bool]:
        """``top``: ``d`` is a whole object; ``own``: ``d`` is one's metadata (never shared)."""
        out: dict[Any, Any] = {}
        flat: list[Any] = []
        shared = not own
        for key, item in d.items():
            if type(key) is str:
                key = _intern(key)
            kind = type(item)
            if kind is str:
                if len(item) <= MAX_INTERNED:
                    item = _intern(item)
                flat.append(item)
            elif kind is dict or kind is list:
                prev = old.get(key) if old is not None else None
                if kind is dict:
                    prev = prev if type(prev) is dict else None
                    item, ok = self._dict(item, prev, own=top and key == OWN)
                else:
                    item, ok = self._list(item, prev if type(prev) is list else None)
                shared = shared and ok
                flat.append(id(item))
            elif kind in _SCALARS:
                flat.append(item)
            else:  # not JSON: kept as it is, and its holder unshared
                shared = False
            flat.append(key)
            out[key] = item
        if not shared:
            if old is not None and same_dict(out, old):
                return old, False
            return out, False
        return self._lookup(out, hash(tuple(flat))), True

    def _list(self, items: list[Any], old: list[Any] | None) -> tuple[Any, bool]:
        out: list[Any] = []
        flat: list[Any] = []
        shared = True
        for at, item in enumerate(items):
            kind = type(item)
            if kind is str:
                if len(item) <= MAX_INTERNED:
                    item = _intern(item)
                flat.append(item)
            elif kind is dict or kind is list:
                prev = old[at] if old is not None and at < len(old) else None
                if kind is dict:
                    item, ok = self._dict(item, prev if type(prev) is dict else None)
                else:
                    item, ok = self._list(item, prev if type(prev) is list else None)
                shared = shared and ok
                flat.append(id(item))
            elif kind in _SCALARS:
                flat.append(item)
            else:
                shared = False
            out.append(item)
        if not shared:
            if old is not None and same_list(out, old):
                return old, False
            return out, False
        return self._lookup(out, hash(tuple(flat))), True

    def _lookup(self, value: Any, hash_: int) -> Any:
        node = _Node(value, hash_)
        found = self._table.get(node)
        if found is not None:
            return found.value
        self._table[node] = node
        if len(self._table) >= self._sweep_at:
            self.sweep()
        return value

    def sweep(self) -> int:
        """Drop the entries that share nothing; returns how many went.

        An entry goes when only the table holds it, or a single holder: a unique part (a
        pod's status, its IP, an owner reference), seldom duplicated later. Most entries are
        such parts, so keeping them until a second sweep held a tenth of what ten thousand
        pods cost. A duplicate that comes after all (duplicates come close together: a user's
        pods, one second's timestamps) only misses this one copy: dropping is always safe,
        holders keep their copy, and a later equal part just starts a new entry.
        Newest first: a container enters the table after its children, so a parent goes
        before the children it was the last holder of, which then go in the same pass.
        """
        table = self._table
        nodes = list(table)
        dropped = 0
        for at in range(len(nodes) - 1, -1, -1):
            node = nodes[at]
            # getrefcount counts the node's own reference and its argument: 2 is nobody else.
            holders = sys.getrefcount(node.value) - 2
            if holders <= 1:
                del table[node]
                node.value = None  # the list still holds the node: let its children go now
                dropped += 1
        del nodes
        self._sweep_at = max(self._min_sweep, 2 * len(table))
        return dropped
