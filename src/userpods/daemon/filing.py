"""Names filed under keys, held compactly: the cache's indexes and the pods by IP.

Nearly every key of these indexes holds one name (a pod's uid, the services made for a pod,
a pod's IP); a set costs 216 bytes, and at ten thousand pods the sets alone were some 6 MiB
of the daemon's memory. A key holds its one name as the string itself, and a set only while
it holds more than one.
"""

from __future__ import annotations

from collections.abc import Collection


class Filing:
    """A multimap of key -> names (no order), with a lone name held as itself."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: dict[str, str | set[str]] = {}

    def add(self, key: str, name: str) -> None:
        held = self._held.get(key)
        if held is None:
            self._held[key] = name
        elif isinstance(held, str):
            if held != name:
                self._held[key] = {held, name}
        else:
            held.add(name)

    def discard(self, key: str, name: str) -> None:
        held = self._held.get(key)
        if held is None:
            return
        if isinstance(held, str):
            if held == name:
                del self._held[key]
            return
        held.discard(name)
        if len(held) == 1:
            self._held[key] = next(iter(held))
        elif not held:
            del self._held[key]

    def names(self, key: str) -> Collection[str]:
        """The names filed under ``key`` (empty when none); do not change what is returned."""
        held = self._held.get(key)
        if held is None:
            return ()
        return (held,) if isinstance(held, str) else held

    def as_dict(self) -> dict[str, set[str]]:
        """Every key with its names (a copy, for tests and diagnostics)."""
        return {key: set(self.names(key)) for key in self._held}

    def __len__(self) -> int:
        return len(self._held)
