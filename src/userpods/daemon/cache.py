"""The cluster cache: one list+watch per kind for the whole daemon.

Each :class:`KindCache` is fed by :meth:`userpods.kube.Kube.watch` and holds the kind's objects
by name. Reads (get_pods, get_podip_owner) are answered from here, never by a fresh list; a
flow that waits for "Ready" or "gone" waits on the cache (per-name events, so a change wakes
only the waiters of that object), so the number of open watches stays one per kind however many
pods are in flight. The daemon's own writes are fed in with :meth:`KindCache.observe`, so a read
after a write sees it even before the watch delivers it (read-your-writes). A cache whose watch
has been failing for longer than ``stale_after`` seconds is not fresh, which turns /readyz red.

With ten thousand pods, whatever runs per request or per change must not walk them all: each
kind keeps indexes (a pod's owner, its uid; the pod a service was made for), kept in step at
each change, and tells listeners of each change, so that a task which follows many objects (the
nearest of their deadlines) updates what it knows of one object instead of rescanning. What it
holds of each object is a slim projection (:mod:`.slim`): the fields the daemon and its plugins
read, not the whole object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import trio
from lightkube.resources.core_v1 import (
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Service,
)
from lightkube.resources.networking_v1 import Ingress

from .. import naming
from ..kube import Kube
from . import slim
from .filing import Filing

log = logging.getLogger(__name__)
T = TypeVar("T")
Listener = Callable[[str, Any, Any], None]  # name, old (or None), new (or None)
IndexKey = Callable[[Any], str]  # the key an object is filed under ("": not filed)


def _version(obj: Any) -> int | None:
    """An object's resourceVersion as a number, None when it is not one.

    Kubernetes calls resourceVersions opaque, but every apiserver backed by etcd (and the
    simulated cluster) hands out one global, increasing counter: comparing them is what lets
    the cache order a relist's snapshot against the daemon's own writes.
    """
    try:
        return int(obj.metadata.resourceVersion)
    except (AttributeError, TypeError, ValueError):
        return None


def _newer(candidate: Any, current: Any) -> bool:
    """Whether ``candidate`` is a later state of the object than ``current``."""
    if current is None:
        return True
    new, old = _version(candidate), _version(current)
    if new is not None and old is not None:
        return new >= old  # one global counter: holds across a uid change too
    # Opaque versions: trust the newest report; a different uid is a new object.
    return True


class KindCache(Generic[T]):
    """One kind's objects by name, kept current by the watch (see module docstring)."""

    def __init__(
        self,
        kind: type[T],
        *,
        namespaced: bool = True,
        stale_after: float = 10.0,
        indexes: Mapping[str, IndexKey] | None = None,
        project: Callable[[T], T] | None = None,
        wire: Any = None,
    ) -> None:
        self.kind = kind
        self.namespaced = namespaced
        self.stale_after = stale_after
        self.objects: dict[str, T] = {}
        self._keys = dict(indexes or {})
        self._indexes: dict[str, Filing] = {index: Filing() for index in self._keys}
        self.project = project  # what of an object is kept (None: all of it)
        self.wire = wire  # what the watch decodes objects into (None: lightkube's models)
        self.version = ""
        self.synced = trio.Event()
        self.listeners: list[Listener] = []
        self._failing_since: float | None = None
        self.last_seen: float | None = None  # when the apiserver last told us anything
        self.restarts = 0  # watch failures, each followed by a relist
        self._waiters: dict[str, trio.Event] = {}
        self._any_change = trio.Event()

    # --------------------------------------------------------------- reads
    def get(self, name: str) -> T | None:
        return self.objects.get(name)

    def values(self) -> list[T]:
        return list(self.objects.values())

    def indexed(self, index: str, key: str) -> list[T]:
        """The objects filed under ``key`` in ``index``, by name (KeyError: no such index)."""
        names = self._indexes[index].names(key)
        return [self.objects[name] for name in sorted(names)]

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(name, old, new)`` at each change from now on; returns its removal."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    @property
    def fresh(self) -> bool:
        if not self.synced.is_set():
            return False
        return self._failing_since is None or (
            trio.current_time() - self._failing_since < self.stale_after
        )

    @property
    def failing_for(self) -> float:
        """Seconds the watch has been failing (0 when healthy)."""
        if self._failing_since is None:
            return 0.0
        return trio.current_time() - self._failing_since

    # --------------------------------------------------------------- waiting
    def changed(self, name: str | None = None) -> trio.Event:
        """Set at the next change of ``name`` (of any object when None)."""
        if name is None:
            return self._any_change
        event = self._waiters.get(name)
        if event is None:
            event = self._waiters[name] = trio.Event()
        return event

    async def wait_for(self, name: str, predicate: Callable[[T | None], bool]) -> T | None:
        """Wait until ``predicate(object or None)`` holds; the caller sets the deadline."""
        while True:
            event = self.changed(name)
            obj = self.objects.get(name)
            if predicate(obj):
                return obj
            await event.wait()

    # --------------------------------------------------------------- updates
    def _file(self, name: str, obj: T, add: bool) -> None:
        for index, key_of in self._keys.items():
            key = key_of(obj)
            if not key:
                continue
            if add:
                self._indexes[index].add(key, name)
            else:
                self._indexes[index].discard(key, name)

    def _set(self, name: str, obj: T | None) -> None:
        old = self.objects.get(name)
        if obj is None:
            if old is None:
                return
            del self.objects[name]
        else:
            self.objects[name] = obj
        if self._keys:
            if old is not None:
                self._file(name, old, False)
            if obj is not None:
                self._file(name, obj, True)
        for listener in self.listeners:
            listener(name, old, obj)
        event = self._waiters.pop(name, None)
        if event is not None:
            event.set()
        self._any_change.set()
        self._any_change = trio.Event()

    def observe(self, obj: T) -> None:
        """Feed in an object the daemon just wrote (read-your-writes)."""
        name = obj.metadata.name  # type: ignore[attr-defined]
        if _newer(obj, self.objects.get(name)):
            self._set(name, self.project(obj) if self.project else obj)

    def observe_gone(self, name: str, uid: str) -> None:
        """The daemon saw ``name`` (with ``uid``) gone: drop it unless replaced."""
        current = self.objects.get(name)
        if current is not None and current.metadata.uid == uid:  # type: ignore[attr-defined]
            self._set(name, None)

    # WatchHandler (userpods.kube)
    def replace(self, objects: list[T], resource_version: str) -> None:
        """A fresh list: the state at ``resource_version``, which may predate the daemon's
        own latest writes (a create or delete whose reply came while the list was being read).
        The cache never moves an object backwards: what it holds at a later version than the
        snapshot stays (the watch that resumes from the snapshot brings its later history).
        Deletions need no such care: the cache learns of them only from the watch, which runs
        after the list, never during it."""
        try:
            snapshot: int | None = int(resource_version)
        except ValueError:
            snapshot = None
        fresh = {o.metadata.name: o for o in objects}  # type: ignore[attr-defined]
        # (the watch loop projects listed objects as they come: see ``slim``)
        for name, held in list(self.objects.items()):
            if name in fresh:
                continue
            version = _version(held)
            if snapshot is not None and version is not None and version > snapshot:
                continue  # written after the snapshot was taken: the list cannot know it
            self._set(name, None)
        for name, obj in fresh.items():
            current = self.objects.get(name)
            if current is not obj and _newer(obj, current):
                self._set(name, obj)
        self.version = resource_version
        self._healthy()
        self.synced.set()

    def _healthy(self) -> None:
        self._failing_since = None
        self.last_seen = trio.current_time()

    def event(self, kind: str, obj: T) -> None:
        self._healthy()
        meta = obj.metadata  # type: ignore[attr-defined]
        if kind == "DELETED":
            self.observe_gone(meta.name, meta.uid)
        elif kind in ("ADDED", "MODIFIED"):
            self.observe(obj)

    def failed(self, error: BaseException) -> None:
        self.restarts += 1
        if self._failing_since is None:
            self._failing_since = trio.current_time()


class ClusterCache:
    """The kinds the daemon and its plugins read: pods, services, ingresses, PVCs, PVs."""

    def __init__(self, kube: Kube, *, stale_after: float = 10.0) -> None:
        self.kube = kube
        self.pods: KindCache[Pod] = KindCache(
            Pod,
            stale_after=stale_after,
            indexes={"owner": naming.pod_owner, "uid": _uid},
            project=slim.pod,
            wire=slim.WIRE_POD,
        )
        made_for = {"pod": _made_for_pod}
        self.services: KindCache[Service] = KindCache(
            Service,
            stale_after=stale_after,
            indexes=made_for,
            project=slim.service,
            wire=slim.WIRE_SERVICE,
        )
        self.ingresses: KindCache[Ingress] = KindCache(
            Ingress, stale_after=stale_after, indexes=made_for, project=slim.ingress
        )
        self.claims: KindCache[PersistentVolumeClaim] = KindCache(
            PersistentVolumeClaim, stale_after=stale_after, project=slim.claim
        )
        self.volumes: KindCache[PersistentVolume] = KindCache(
            PersistentVolume,
            namespaced=False,
            stale_after=stale_after,
            indexes={"owner": naming.storage_owner},
            project=slim.volume,
        )

    @property
    def kinds(self) -> list[KindCache[Any]]:
        return [self.pods, self.services, self.ingresses, self.claims, self.volumes]

    @property
    def fresh(self) -> bool:
        return all(k.fresh for k in self.kinds)

    def health(self) -> dict[str, Any]:
        return {
            k.kind.__name__: {
                "synced": k.synced.is_set(),
                "fresh": k.fresh,
                "failing_for": round(k.failing_for, 1),
                "objects": len(k.objects),
            }
            for k in self.kinds
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every kind's watch; reports once all have listed for the first time. The first
        lists run side by side: the apiserver encodes one while the daemon decodes another."""
        async with trio.open_nursery() as nursery:
            for cache in self.kinds:
                nursery.start_soon(self._watch, cache)
            for cache in self.kinds:
                await cache.synced.wait()
            task_status.started()

    async def _watch(
        self,
        cache: KindCache[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.kube.watch(
            cache.kind, cache, namespaced=cache.namespaced, task_status=task_status
        )


def _uid(obj: Any) -> str:
    return (obj.metadata.uid if obj.metadata else None) or ""


def _made_for_pod(obj: Any) -> str:
    """The pod a service or ingress was made for (label ``createdForPod``), "" if none."""
    labels = (obj.metadata.labels if obj.metadata else None) or {}
    return str(labels.get(naming.LABEL_CREATED_FOR_POD, ""))
