"""What the daemon's flows share: the flows in flight, the pod index, and the daemon's means.

The creation flow (creation.py), the deletion flow (deletion.py) and the read side (reads.py)
each import this module and nothing of each other, except that a failed creation hands its pod
to a deletion. :class:`Shared` is the one place their common state lives, so that none of them
has to reach into another to learn whether a pod is being created or deleted, who owns it, or
whether the daemon is stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pluggy
import trio
from lightkube.resources.core_v1 import Pod

from ..config import Settings
from ..hooks import Caller, Context, PodContext, PodDeleter
from ..kube import Kube
from . import podstate
from .cache import ClusterCache
from .errors import RequestError
from .filing import Filing
from .metrics import Metrics
from .progress import Progress, ProgressBook

log = logging.getLogger("userpods.daemon")


@dataclass
class Flow:
    """A creation or deletion in flight; ``done`` is set with its outcome."""

    pod_name: str
    user_id: str
    uid: str
    done: trio.Event = field(default_factory=trio.Event)
    ok: bool = False
    reason: str = ""
    step: str = ""
    cancel_scope: trio.CancelScope | None = None
    code: str = ""  # the failure's short name (a metrics label)
    started: float | None = None  # trio time of the request, for flows started by one
    # Deletions: set once Kubernetes has accepted the DELETE (``accepted``), or the flow ended
    # without it: what a delete_pod reply waits for.
    requested: trio.Event = field(default_factory=trio.Event)
    accepted: bool = False
    progress: Progress | None = None  # creations: their log, for the progress stream

    def finish(self, ok: bool, reason: str = "", code: str = "") -> None:
        if not self.done.is_set():
            self.ok, self.reason, self.code = ok, reason, code
            self.done.set()

    def tags(self, reason: str = "") -> dict[str, str]:
        """The fields JSON logs carry for the flow's lines."""
        return {"user": self.user_id, "pod": self.pod_name, "reason": reason}


class PodIndex:
    """Pods by IP, kept in step with the pod cache (a cache listener).

    An IP can be reported by more than one pod: a finished or terminating pod keeps showing
    the address its network has already given to a new pod. ``by_ip`` keeps them all, and
    :meth:`holder` answers only for an unambiguous live holder.
    """

    def __init__(self) -> None:
        self.by_ip = Filing()
        self.awaiting_ip: set[str] = set()  # live pods without an IP yet

    def __call__(self, name: str, old: Pod | None, new: Pod | None) -> None:
        if old is not None:
            ip = old.status.podIP if old.status else None
            if ip:
                self.by_ip.discard(ip, name)
        self.awaiting_ip.discard(name)
        if new is not None:
            ip = new.status.podIP if new.status else None
            if ip:
                self.by_ip.add(ip, name)
            elif podstate.is_live(new):
                self.awaiting_ip.add(name)

    def holder(self, ip: str, pods: dict[str, Pod]) -> Pod | None:
        """The one live pod with this IP (None if none, or if it is ambiguous)."""
        live = [pods[n] for n in self.by_ip.names(ip) if n in pods and podstate.is_live(pods[n])]
        return live[0] if len(live) == 1 else None


class Shared:
    """The daemon's means (settings, the API, the cache, plugins, the nursery the flows run
    in) and the state its flows share: the creations and deletions in flight by pod name, the
    pod index, the users' locks, and whether the daemon is stopping."""

    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        cache: ClusterCache,
        pm: pluggy.PluginManager,
        nursery: trio.Nursery,
        http: httpx2.AsyncClient,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.cache = cache
        self.pm = pm
        self.nursery = nursery
        self.http = http
        self.metrics = metrics
        self.creating: dict[str, Flow] = {}
        self.deleting: dict[str, Flow] = {}
        self.index = PodIndex()
        self.progress = ProgressBook()  # creations' logs (progress.py)
        cache.pods.listeners.append(self.index)
        for pod in cache.pods.values():
            self.index(podstate.name_of(pod), None, pod)
        self.user_locks: dict[str, trio.Lock] = {}
        # Set when the daemon begins to shut down: long requests answer then, before the
        # HTTP server's grace period ends (their work resumes at the next start).
        self.stopping = trio.Event()
        self.waits: set[trio.CancelScope] = set()
        self.deleter: PodDeleter | None = None  # the deletion flow, for ctx.delete_pod (core.py)

    # ------------------------------------------------------------------ hook contexts
    def context(self) -> Context:
        return Context(
            self.settings,
            self.kube,
            self.cache,
            self.settings.pod_cache_dir,
            log,
            self.user_locks,
            background=self.nursery,
            counters=self.metrics,
            deleter=self.deleter,
        )

    def pod_context(self, pod_name: str, user_id: str, caller: Caller) -> PodContext:
        adapter = logging.LoggerAdapter(log, {"pod": pod_name, "user": user_id})
        return PodContext(
            self.settings,
            self.kube,
            self.cache,
            self.settings.pod_cache_dir,
            adapter,
            self.user_locks,
            background=self.nursery,
            counters=self.metrics,
            deleter=self.deleter,
            pod_name=pod_name,
            user_id=user_id,
            caller=caller,
        )

    def user_lock(self, user_id: str) -> trio.Lock:
        return self.context().user_lock(user_id)

    # ------------------------------------------------------------------ who has what
    def pods_of(self, user_id: str) -> list[Pod]:
        """The user's pods, from the cache (ownership on the full user id)."""
        return self.cache.pods.indexed("owner", user_id)

    def owned(self, user_id: str, pod_name: str) -> Pod | None:
        pod = self.cache.pods.get(pod_name)
        return pod if pod is not None and podstate.owner(pod) == user_id else None

    def flow_status(self, pod: Pod) -> str | None:
        name = podstate.name_of(pod)
        if name in self.deleting or podstate.is_deleting(pod):
            return "Deleting"
        if name in self.creating:
            return "Creating"
        return None

    def abort_creation(self, pod_name: str, reason: str) -> None:
        """End a creation in flight (its watchers get false): the pod is being deleted."""
        creation = self.creating.get(pod_name)
        if creation is not None:
            creation.finish(False, reason, "Deleted")
            if creation.cancel_scope is not None:
                creation.cancel_scope.cancel()

    async def set_state(self, name: str, state: str, failure: str = "") -> None:
        """Write the pod's creation state (and why it failed) on the pod, for a restart."""
        notes: dict[str, Any] = {podstate.ANNOTATION_STATE: state}
        if state != podstate.CREATING:
            notes[podstate.ANNOTATION_DEADLINE] = None
        if failure:
            notes[podstate.ANNOTATION_FAILURE] = failure[:1000]
        patched = await self.kube.patch(Pod, name, {"metadata": {"annotations": notes}})
        self.cache.pods.observe(patched)

    # ------------------------------------------------------------------ requests that wait
    async def outcome(self, flow: Flow) -> bool:
        """The flow's outcome once it ends; a 503 if the daemon begins to stop first."""
        with self.until_stopping():
            await flow.done.wait()
        if flow.done.is_set():
            return flow.ok
        raise RequestError(
            503,
            "the service is restarting; ask again in a moment (the work goes on after the restart)",
        )

    @contextmanager
    def until_stopping(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that :meth:`begin_stopping` cancels (a request's wait)."""
        with trio.CancelScope() as scope:
            if self.stopping.is_set():
                scope.cancel()
            self.waits.add(scope)
            try:
                yield scope
            finally:
                self.waits.discard(scope)

    def begin_stopping(self) -> None:
        """The daemon is shutting down: requests that wait answer now (a 503, or their
        result if it is known), within the HTTP server's grace period."""
        self.stopping.set()
        for scope in self.waits:
            scope.cancel()
