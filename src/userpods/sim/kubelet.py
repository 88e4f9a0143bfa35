"""The kubelets of all nodes: one pod worker per pod bound to an existing node.

The kubelet follows pods (and the ConfigMaps and Secrets their env may refer to), starts a
worker (``podworker.py``) for each pod bound to one of its nodes, tells it when its pod is
being deleted (starting a task again for a worker that had gone idle once its pod settled)
or its config may have appeared, and forgets it when the pod is gone. Exec and
logs find a container's state through :meth:`Kubelet.container`.
"""

from __future__ import annotations

from typing import Any

import trio

from . import kinds as k
from .containers import Container, KubeletTimings
from .events import EventRecorder
from .images import Catalogue
from .network import PodNetwork
from .podworker import PodWorker
from .reactor import run_controller
from .registry import Registry
from .store import Change

Obj = dict[str, Any]


class Kubelet:
    """All nodes' kubelets: one worker per pod bound to a node."""

    kinds = (k.POD, k.CONFIGMAP, k.SECRET)

    def __init__(
        self,
        registry: Registry,
        catalogue: Catalogue,
        network: PodNetwork,
        timings: KubeletTimings | None = None,
    ) -> None:
        self.registry = registry
        self.store = registry.store
        self.catalogue = catalogue
        self.network = network
        self.timings = timings or KubeletTimings()
        self.workers: dict[str, PodWorker] = {}
        self.pulled: dict[str, set[str]] = {}
        self.config_waiters: set[PodWorker] = set()  # only they care about config changes
        self._recorders: dict[str, EventRecorder] = {}
        self._nursery: trio.Nursery | None = None

    def recorder(self, node: str) -> EventRecorder:
        if node not in self._recorders:
            self._recorders[node] = EventRecorder(self.registry, "kubelet", node)
        return self._recorders[node]

    def node_ip(self, node: str) -> str:
        obj = self.store.get(k.NODE, "", node) or {}
        for address in obj.get("status", {}).get("addresses", []):
            if address.get("type") == "InternalIP":
                return str(address["address"])
        return ""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(run_controller, self.store, self)
            task_status.started()

    def container(self, pod_uid: str, name: str) -> Container | None:
        worker = self.workers.get(pod_uid)
        if worker is None:
            return None
        return next((c for c in worker.containers if c.name == name), None)

    # ------------------------------------------------------------------ controller
    def resync(self) -> None:
        for pod in self.store.list(k.POD):
            self._sync(pod)

    def handle(self, change: Change) -> None:
        if change.kind is not k.POD:
            for worker in self.config_waiters:
                if worker.config_changed is not None:
                    worker.config_changed.set()
            return
        if change.type == "DELETED":
            uid: str = change.obj["metadata"]["uid"]
            if uid in self.workers:
                worker = self.workers.pop(uid)
                worker.cancel()
                self.network.release(worker.pod_ip)
            return
        self._sync(change.obj)

    def _sync(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        node = pod["spec"].get("nodeName")
        if not node or self.store.get(k.NODE, "", node) is None:
            return
        worker = self.workers.get(uid)
        assert self._nursery is not None
        if worker is None:
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            self._nursery.start_soon(worker.run)
        if pod["metadata"].get("deletionTimestamp") and worker.request_delete():
            # The worker was idle (its pod had settled): a task stops and removes the pod.
            self._nursery.start_soon(worker.finish)
