"""The daemon: what the routes (app.py) call, wiring the flows that do the work.

:class:`Daemon` holds no behaviour of its own. It builds the state the flows share
(shared.py), the deletion flow (deletion.py), the creation flow (creation.py, which hands a
failed creation's pod to the deletion flow) and the metrics of their state, and passes each
call of the API on to the module whose work it is: ``create`` to creation.py, ``delete`` and
``delete_all`` to deletion.py, ``pod_infos``, ``podip_owner``, the ``watch_*`` answers and
the creations' progress to reads.py, ``resume``, ``startup`` and ``clean_unused`` to
upkeep.py. docs/architecture.md follows a request through them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pluggy
import trio
from lightkube.resources.core_v1 import Event

from ..config import Settings
from ..hooks import Caller
from ..kube import Kube
from . import reads, upkeep
from .cache import ClusterCache
from .creation import Creations
from .deletion import Deletions
from .metrics import Metrics
from .progress import EventFeed, Progress, Step
from .shared import Flow, PodIndex, Shared

__all__ = ["Daemon", "Flow", "PodIndex"]


class Daemon:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        cache: ClusterCache,
        pm: pluggy.PluginManager,
        nursery: trio.Nursery,
        http: httpx2.AsyncClient,
    ) -> None:
        self.metrics = Metrics()
        self.shared = Shared(settings, kube, cache, pm, nursery, http, self.metrics)
        self.deletions = Deletions(self.shared)
        self.shared.deleter = self.deletions.for_plugin  # plugins' ctx.delete_pod
        self.creations = Creations(self.shared, self.deletions)
        self.metrics.watch_state(
            creating=self.shared.creating, deleting=self.shared.deleting, kube=kube, cache=cache
        )
        self.settled = trio.Event()  # set once the work after start-up is done
        self.events: EventFeed | None = None  # the Events watch's handler, once it runs

    # ------------------------------------------------------------------ what routes read
    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def kube(self) -> Kube:
        return self.shared.kube

    @property
    def cache(self) -> ClusterCache:
        return self.shared.cache

    @property
    def creating(self) -> dict[str, Flow]:
        """Creations in flight, by pod name."""
        return self.shared.creating

    @property
    def deleting(self) -> dict[str, Flow]:
        """Deletions in flight, by pod name."""
        return self.shared.deleting

    @property
    def stopping(self) -> trio.Event:
        return self.shared.stopping

    @property
    def _waits(self) -> set[trio.CancelScope]:
        """The requests waiting now (their cancel scopes), for tests of shutdown."""
        return self.shared.waits

    # ------------------------------------------------------------------ the API's calls
    async def create(
        self, user_id: str, yaml_url: str, settings: dict[str, dict[str, str]], caller: Caller
    ) -> str:
        return await self.creations.create(user_id, yaml_url, settings, caller)

    async def delete(self, user_id: str, pod_name: str) -> None:
        await self.deletions.delete(user_id, pod_name)

    async def delete_all(self, user_id: str) -> bool:
        return await self.deletions.delete_all(user_id)

    async def watch_create(self, user_id: str, pod_name: str) -> bool:
        return await reads.watch_create(self.shared, user_id, pod_name)

    async def watch_delete(self, user_id: str, pod_name: str) -> bool:
        return await reads.watch_delete(self.shared, user_id, pod_name)

    def pod_infos(self, user_id: str) -> list[dict[str, Any]]:
        return reads.pod_infos(self.shared, user_id)

    async def podip_owner(self, text: str, *, wait: float = 4.5) -> str:
        return await reads.podip_owner(self.shared, text, wait=wait)

    def health_notes(self) -> dict[str, str]:
        return reads.health_notes(self.shared)

    def creation_progress(self, user_id: str, pod_name: str) -> Progress:
        return reads.creation_progress(self.shared, user_id, pod_name)

    def follow_progress(
        self, progress: Progress, start: int = 0
    ) -> AsyncIterator[tuple[int, Step] | None]:
        return reads.follow_progress(progress, self.shared, start)

    async def clean_unused(self) -> list[str]:
        return await upkeep.clean_unused(self.shared)

    # ------------------------------------------------------------------ lifetime
    def resume(self) -> None:
        """Pick up the flows a previous run left, from what the pods say (start-up)."""
        upkeep.resume(self.shared, self.creations, self.deletions)

    async def startup(self) -> None:
        await upkeep.startup(self.shared)

    async def watch_events(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The daemon's one watch on Kubernetes Events (pods' only, from now on), feeding
        the creations' progress logs; runs until cancelled, reports after its first list."""
        self.events = EventFeed(self.shared.progress)
        await self.kube.watch(
            Event,
            self.events,
            fields={"involvedObject.kind": "Pod"},
            from_now=True,
            task_status=task_status,
        )

    def begin_stopping(self) -> None:
        """The daemon is shutting down: requests that wait answer now."""
        self.shared.begin_stopping()
