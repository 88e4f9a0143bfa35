"""The plugin contract: every hook a deployment can implement, typed and documented.

Built-in steps (env settings, registry rewrite, storage, SSH, ingress, tokens) are plugins that
use exactly this contract; a deployment adds its own through the ``userpods`` entry-point group
and disables any by name (config ``disabledPlugins``). ``docs/hooks.md`` has a section per hook.

Async hooks run inside the pod's flow: under its cancel scope (the creation deadline, or the
deletion timeout), one plugin after another. They must be idempotent: after a daemon restart a
flow resumes from its start, so a step may run again for the same pod. Work that must go on
after its hook returns runs through :meth:`Context.spawn`; plugins count what they see on the
daemon's /metrics through ``Context.counters``.

The contract stands alone: it imports nothing of the daemon (an import-linter contract in
pyproject.toml holds it to that). What a plugin may use of the daemon is described here as
protocols (:class:`ClusterView`, :class:`Counters`, :class:`PodDeleter`) that the daemon's
parts satisfy.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy
import trio

if TYPE_CHECKING:
    from lightkube.resources.core_v1 import (
        PersistentVolume,
        PersistentVolumeClaim,
        Pod,
        Service,
    )
    from lightkube.resources.networking_v1 import Ingress

    from .config import Settings
    from .kube import Kube

PROJECT = "userpods"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class PodRejected(Exception):
    """Raised by ``userpods_prepare_pod``: the request is refused with this message (400)."""


class OverQuota(Exception):
    """Raised by ``userpods_admit_pod``: the pod would take its user over a limit. The request
    is refused with a 429 whose JSON names the ``limit``, what is ``allowed``, the user's
    ``usage`` now and the pod's ``request`` (quantities as text)."""

    def __init__(self, message: str, *, limit: str, allowed: str, usage: str, request: str):
        super().__init__(message)
        self.limit, self.allowed, self.usage, self.request = limit, allowed, usage, request

    def details(self) -> dict[str, str]:
        return {
            "limit": self.limit,
            "allowed": self.allowed,
            "usage": self.usage,
            "request": self.request,
        }


class StepFailed(Exception):
    """Raised by an async hook: the flow fails with this reason (creations are cleaned up)."""


@dataclass(frozen=True)
class Caller:
    """Who asked, by network address: the silo (home server) of the user.

    ``silo_ip`` is the caller's address (a loopback caller counts as ``testingHost``);
    ``data_ip`` is the same host on the data network (10.0.x.y becomes 10.2.x.y), where pods
    reach the user's files; ``hostname`` comes from ``hostnameList``, by either address (""
    if unknown).
    """

    silo_ip: str
    data_ip: str
    hostname: str


@dataclass
class CreateRequest:
    """A create_pod request, as ``userpods_prepare_pod`` sees it."""

    user_id: str
    yaml_url: str
    settings: dict[str, dict[str, str]]
    caller: Caller
    pod_name: str = ""


class Counters(Protocol):
    """Counters on the daemon's /metrics that a plugin may add to (``ctx.counters``)."""

    def count(self, name: str, documentation: str, /, **labels: str) -> None:
        """Add one to the counter ``name`` (shown as ``<name>_total``) for these label values.

        The counter is made at its first count; every count of it must give the same label
        names, and its name must not be one of the daemon's own series."""


T = TypeVar("T")


class KindView(Protocol[T]):
    """The cluster's objects of one kind as the daemon's cache knows them, by name.

    One list+watch per kind serves the whole daemon: read here instead of listing, and wait
    here instead of watching, so the API's load does not grow with the number of pods.
    """

    def get(self, name: str) -> T | None:
        """The object named ``name`` now (None if there is none)."""

    def values(self) -> list[T]:
        """Every object of the kind now (a copy: safe to iterate across awaits)."""

    async def wait_for(self, name: str, predicate: Callable[[T | None], bool]) -> T | None:
        """Wait until ``predicate(the object or None)`` holds and return what it held for.

        Wakes at each change of that object only; the caller's cancel scope is the deadline.
        """

    def changed(self, name: str | None = None) -> trio.Event:
        """An event set at the next change of ``name`` (of any object of the kind when None).

        For a task that waits on something across many objects (the nearest of their
        deadlines): take the event, then read, then wait on it, and no change is missed.
        """

    def indexed(self, index: str, key: str) -> list[T]:
        """The objects filed under ``key`` in ``index``, by name, without walking the kind.

        Pods: ``owner`` (the full user id, as ``naming.pod_owner`` reads it) and ``uid``;
        services and ingresses: ``pod`` (the name in their ``createdForPod`` label); volumes:
        ``owner`` (as ``naming.storage_owner`` reads it, whatever deployment they are for). A
        KeyError for an index the kind does not keep.
        """

    def listen(self, listener: Callable[[str, T | None, T | None], None]) -> Callable[[], None]:
        """Call ``listener(name, old, new)`` (None: absent) at each change from now on; returns
        what removes it. It runs inside the cache's update: quick, and never awaiting. For a
        task that follows many objects, so that it updates what it knows of one object at a
        time instead of rescanning all of them at each change."""

    def observe(self, obj: T) -> None:
        """Tell the cache of an object the plugin just wrote (the API's reply), so that reads
        see it at once instead of when the watch delivers it (read-your-writes). It changes
        nothing in the cluster, and never moves the cache back to an older version."""


class ClusterView(Protocol):
    """What a plugin sees of the cluster (``ctx.cache``): the kinds the daemon watches, in
    the daemon's namespace (PersistentVolumes: cluster-wide)."""

    @property
    def pods(self) -> KindView[Pod]: ...

    @property
    def services(self) -> KindView[Service]: ...

    @property
    def ingresses(self) -> KindView[Ingress]: ...

    @property
    def claims(self) -> KindView[PersistentVolumeClaim]: ...

    @property
    def volumes(self) -> KindView[PersistentVolume]: ...


class PodDeleter(Protocol):
    """The daemon's deletion flow, as a plugin may ask for it (``ctx.delete_pod``)."""

    async def __call__(self, pod_name: str, user_id: str, reason: str) -> bool:
        """Delete the user's pod as delete_pod does; whether Kubernetes accepted the delete."""
        ...


class _Uncounted:
    """The counters of a context outside a daemon (a tool, a unit test): counts go nowhere."""

    def count(self, name: str, documentation: str, /, **labels: str) -> None:
        return None


@dataclass
class Context:
    """What every async hook can use: configuration, the API, the cache, a state directory,
    counters on /metrics, and a way to run work in the background."""

    settings: Settings
    kube: Kube
    cache: ClusterView
    state_dir: Path  # podCacheDir: where plugins keep per-pod files (one file per pod)
    log: logging.Logger | logging.LoggerAdapter[Any]
    user_locks: dict[str, trio.Lock] = field(default_factory=dict)
    background: trio.Nursery | None = None  # the daemon's nursery, for spawn()
    counters: Counters = field(default_factory=_Uncounted)
    deleter: PodDeleter | None = None  # the daemon's deletion flow, for delete_pod()

    async def delete_pod(self, pod_name: str, user_id: str, reason: str) -> bool:
        """Delete ``user_id``'s pod ``pod_name`` through the daemon's deletion flow, exactly as
        a delete_pod request does (a creation in flight is ended, the ``pod_gone`` and
        ``user_gone`` steps clean up after it), with ``reason`` in the daemon's log lines.

        Returns once Kubernetes has accepted the delete: True, or also when a deletion of the
        pod was already under way. False when the user has no such pod (it is gone already) or
        the delete was not accepted (logged by the flow). Not for hooks that run inside a pod's
        own flow; for background tasks (``spawn``) that decide a pod must go.
        """
        deleter = self.deleter
        if deleter is None:
            raise RuntimeError("no deletion flow: this context is not a daemon's")
        return await deleter(pod_name, user_id, reason)

    def spawn(self, name: str, task: Callable[[], Awaitable[None]]) -> None:
        """Start ``task()`` beside the flows (in the daemon's nursery) and return at once.

        For work a hook starts that its flow should not wait for, such as looking for a file a
        pod writes late. The task bounds itself: a deadline, and an end once what it works for
        is gone (a pod: watch ``cache.pods``). The daemon cancels it when it stops and nothing
        resumes it: work that must survive a restart is picked up in ``userpods_startup``. An
        exception ends only the task, logged with its traceback.
        """
        nursery = self.background
        if nursery is None:
            raise RuntimeError("no background nursery: this context is not a daemon's")
        log = self.log

        async def guarded() -> None:
            try:
                await task()
            except Exception:
                log.exception("background task %s failed", name)

        nursery.start_soon(guarded, name=name)

    def user_lock(self, user_id: str) -> trio.Lock:
        """The lock a user's creations hold while ensuring dependencies, and their cleanup
        while removing the user's things (not reentrant: hooks that already run under it,
        ``userpods_ensure_dependencies`` and ``userpods_user_gone``, must not take it)."""
        lock = self.user_locks.get(user_id)
        if lock is None:
            lock = self.user_locks[user_id] = trio.Lock()
        return lock


@dataclass
class PodContext(Context):
    """The pod a flow is about, and whose it is."""

    pod_name: str = ""
    user_id: str = ""
    caller: Caller = field(default_factory=lambda: Caller("", "", ""))
    step: str = ""  # the plugin running now (shown in logs and get_pods when it fails)

    @property
    def pod(self) -> Pod | None:
        """The pod as the cache knows it now."""
        return self.cache.pods.get(self.pod_name)


class Specs:
    """Hook specifications. Each has a section in docs/hooks.md."""

    @hookspec
    def userpods_prepare_pod(
        self, pod: dict[str, Any], request: CreateRequest, settings: Settings, ctx: Context
    ) -> None:
        """Edit the pod manifest (a plain dict) before it is created.

        Runs in the create_pod request; ``pod`` already has its final name, labels and
        annotations. ``ctx`` gives the cluster as the cache knows it (read it, never call the
        API here: this runs synchronously in the request). Raise :class:`PodRejected` to
        refuse the request with a 400.
        """

    @hookspec
    def userpods_admit_pod(self, pod: dict[str, Any], request: CreateRequest, ctx: Context) -> None:
        """Admit or refuse the pod as it will be created (after every ``prepare_pod`` hook).

        Runs in the create_pod request, before anything is created, under the user's admission
        lock: the user's other creations have their pods in ``ctx.cache`` already, and no other
        creation of the user can pass this check until this pod is in the cache too (or
        refused). Synchronous, from the cache only. Raise :class:`OverQuota` to refuse with a
        429, :class:`PodRejected` with a 400.
        """

    @hookspec
    def userpods_ensure_dependencies(self, ctx: PodContext) -> Awaitable[None] | None:
        """Make what the pod needs before it may be scheduled (e.g. the user's storage).

        The pod exists but is held back from scheduling until every implementation returns.
        Runs under the user's lock (see ``userpods_user_gone``).
        """

    @hookspec
    def userpods_dependencies_ready(self, pod: Pod, ctx: Context) -> bool | None:
        """Whether what this plugin's ``userpods_ensure_dependencies`` makes for ``pod`` is
        there and usable already (from the cache; synchronous, in the create_pod request).

        When every plugin that ensures dependencies answers True, the pod is created without
        the scheduling gate: the scheduler may place it at once, and releasing the gate costs
        no write. ``userpods_ensure_dependencies`` runs all the same (it finds nothing to do,
        or mends what went meanwhile). A plugin that does not implement this hook holds every
        pod back until its ``userpods_ensure_dependencies`` returns.
        """

    @hookspec
    def userpods_pod_ready(self, ctx: PodContext) -> Awaitable[None] | None:
        """Act once the pod is Ready: services, ingresses, tokens.

        The creation succeeds when every implementation has returned before the deadline.
        """

    @hookspec
    def userpods_pod_info(self, pod: Pod, info: dict[str, Any], ctx: Context) -> None:
        """Add to the pod's get_pods entry (``url``, ``ssh_url``, ``tokens``,
        ``k8s_pod_info``...). Synchronous and fast: it runs for every pod on every get_pods,
        from the cache and local files only, never calling the API."""

    @hookspec
    def userpods_pod_gone(self, ctx: PodContext) -> Awaitable[None] | None:
        """Clean up after a pod that is gone (deleted, or a failed creation)."""

    @hookspec
    def userpods_user_gone(self, user_id: str, ctx: PodContext) -> Awaitable[None] | None:
        """Clean up after a user whose last pod is gone (e.g. their storage).

        Runs under the user's lock, which creations also hold while ensuring dependencies,
        so a new pod cannot slip in between the check and the cleanup.
        """

    @hookspec
    def userpods_startup(self, ctx: Context) -> Awaitable[None] | None:
        """Rebuild local state once the daemon has started and synced its cache.

        For example, copy tokens again for ready pods whose stored copy was lost. Runs once per
        start, in the background, after the interrupted flows have been resumed.
        """

    @hookspec
    def userpods_health(self, ctx: Context) -> dict[str, str] | None:
        """Notes on the plugin's state for the body of /readyz, ``{name: text}`` (e.g. a
        feature that is inactive, and why); they never turn /readyz red."""

    @hookspec
    def userpods_clean_unused(self, ctx: Context, removed: list[str]) -> Awaitable[None] | None:
        """Remove orphans: whatever was made for pods or users that no longer exist.

        Append ``Kind/name`` to ``removed`` for each thing deleted (once Kubernetes has
        accepted the delete; there is no need to wait until it is gone): the clean_all_unused
        reply lists them. Runs for that request and once at start-up (a crash may have left
        orphans), within ``timeoutDelete`` for all plugins together. Touch only what is
        provably this deployment's.
        """


HOOK_NAMES = [name for name in vars(Specs) if name.startswith("userpods_")]
