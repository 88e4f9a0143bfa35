"""One pod on its node, from the sandbox to its removal: the kubelet's pod worker.

It sets up the "sandbox" (pod IP from the node's range, hostIP, startTime), then runs each
container as the image catalogue says: pull (or fail to: ErrImagePull, then ImagePullBackOff
with a doubling back-off), create and start, become ready, and perhaps exit; restarts follow
the restart policy with CrashLoopBackOff back-off. Missing ConfigMaps/Secrets behind env vars
give CreateContainerConfigError. Every transition is written to the pod's status (phase,
conditions, container states) and recorded as the kubelet's events. Deletion stops the
containers (Killing), writes the terminal phase and removes the pod with a zero grace period.

A worker whose pod has *settled* (every container either runs until it is stopped, or has
ended for good) has nothing left to wait for but a delete request, so it does not wait: its
task ends and only the worker object stays (``idle``), with the containers' states that exec,
logs and the Killing path read. A trio task tree (nurseries, cancel scopes, frames) costs
about ten kilobytes, which for ten thousand running pods was a quarter of the simulated
cluster's memory. The kubelet starts a task again (:meth:`PodWorker.finish`) when the pod's
deletion is requested: what the pod then goes through (Killing, the terminal status, removal)
is what a task still waiting would have done. Containers that will exit, restart or are
backing off keep their task, sleeping until the catalogue's next transition.

The worker uses its kubelet through ``Host`` (the kubelet hands itself in), so this module
does not import ``kubelet.py``, which creates the workers.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import sys
from typing import Any, Protocol

import trio

from . import kinds as k
from .containerenv import ConfigError, container_env
from .containers import Container, KubeletTimings
from .deletion import DeleteOptions
from .events import EventRecorder
from .images import Catalogue
from .network import PodNetwork
from .podstatus import TERMINAL, go_duration, pod_phase, stop_containers, write_status
from .registry import Registry
from .sharing import MAX_INTERNED
from .status import ApiError
from .store import Store
from .timefmt import rfc3339

Obj = dict[str, Any]


class Host(Protocol):
    """What a pod worker uses of the kubelet that runs it."""

    registry: Registry
    store: Store
    catalogue: Catalogue
    network: PodNetwork
    timings: KubeletTimings
    pulled: dict[str, set[str]]  # node -> images it has pulled
    config_waiters: set[Any]  # the workers waiting for a ConfigMap or Secret to appear

    def recorder(self, node: str) -> EventRecorder: ...

    def node_ip(self, node: str) -> str: ...


class PodWorker:
    """Runs one pod on its node until the pod is removed.

    Slotted, and holding trio objects only while a task runs the pod: ten thousand of them
    stay in memory as long as their pods (see the module docstring).
    """

    __slots__ = (
        "_delete_event",
        "cancel_scope",
        "config_changed",
        "containers",
        "deleting",
        "events",
        "host_ip",
        "idle",
        "kubelet",
        "name",
        "namespace",
        "node",
        "pod_ip",
        "restart_policy",
        "started_at",
        "terminal",
        "uid",
    )

    def __init__(self, kubelet: Host, pod: Obj) -> None:
        self.kubelet = kubelet
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.uid: str = pod["metadata"]["uid"]
        self.node: str = pod["spec"]["nodeName"]
        self.restart_policy: str = pod["spec"].get("restartPolicy", "Always")
        self.containers = [
            Container(c["name"], c, kubelet.catalogue.lookup(c.get("image", "")))
            for c in pod["spec"].get("containers", [])
        ]
        self.events = kubelet.recorder(self.node)
        self.pod_ip = ""
        self.host_ip = kubelet.node_ip(self.node)
        self.started_at = ""
        self.terminal = False
        self.deleting = False  # the pod's deletion was requested
        self.idle = False  # no task runs the pod: it waits for nothing but a delete request
        # The scope of the task that runs the pod (the kubelet cancels it once the pod is gone).
        self.cancel_scope: trio.CancelScope | None = trio.CancelScope()
        # Set by the kubelet when a ConfigMap or Secret changes, while in config_waiters.
        self.config_changed: trio.Event | None = None
        self._delete_event: trio.Event | None = None  # set on delete, while containers run

    def request_delete(self) -> bool:
        """Note that the pod's deletion was requested (again: no-op).

        True when the worker was idle: the caller must then run :meth:`finish` in a task.
        """
        if self.deleting:
            return False
        self.deleting = True
        if self._delete_event is not None:
            self._delete_event.set()
        if not self.idle:
            return False
        self.idle = False
        self.cancel_scope = trio.CancelScope()  # a scope is entered once: one per task
        return True

    def cancel(self) -> None:
        """The pod is gone: stop whatever task runs it."""
        if self.cancel_scope is not None:
            self.cancel_scope.cancel()

    # ------------------------------------------------------------------ helpers
    def pod(self) -> Obj | None:
        pod = self.kubelet.store.get(k.POD, self.namespace, self.name)
        return pod if pod is not None and pod["metadata"]["uid"] == self.uid else None

    def record(self, type_: str, reason: str, message: str, container: str = "") -> None:
        pod = self.pod()
        if pod is not None:
            path = f"spec.containers{{{container}}}" if container else ""
            self.events.record(k.POD, pod, type_, reason, message, path)

    def phase(self) -> str:
        return pod_phase(self.containers, self.restart_policy, deleting=self.deleting)

    def publish(self) -> None:
        """Write the pod's status from the containers' states (one MODIFIED event)."""
        phase = "Pending" if not self.started_at else self.phase()
        if phase in TERMINAL:
            self.terminal = True

        def write(pod: Obj) -> None:
            write_status(
                pod.setdefault("status", {}),
                phase=phase,
                containers=self.containers,
                pod_ip=self.pod_ip,
                host_ip=self.host_ip,
                started_at=self.started_at,
            )

        stored = self.kubelet.registry.mutate(
            k.POD, self.namespace, self.name, write, subresource="status"
        )
        # Hold the stored (shared, never changed) copies of the states, not a second one each.
        statuses = ((stored or {}).get("status") or {}).get("containerStatuses") or []
        for c, status in zip(self.containers, statuses, strict=False):
            if status.get("state") == c.state and status.get("lastState") == c.last_state:
                c.state, c.last_state = status["state"], status["lastState"]

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Start the pod and run it until it settles, or until it is deleted and removed."""
        assert self.cancel_scope is not None
        with self.cancel_scope:
            pod = self.pod()
            if pod is None:
                return
            if pod.get("status", {}).get("phase") in TERMINAL:
                self.terminal = True
            self.deleting = self.deleting or bool(pod["metadata"].get("deletionTimestamp"))
            del pod  # this version of the pod would otherwise live as long as the worker
            if not self.terminal and not self.deleting:
                self.pod_ip = self.kubelet.network.allocate(self.node)
                self.started_at = rfc3339()
                self.publish()
                self._delete_event = trio.Event()
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._cancel_on_delete, nursery.cancel_scope)
                        async with trio.open_nursery() as containers:
                            for c in self.containers:
                                containers.start_soon(self._run_container, c)
                        nursery.cancel_scope.cancel()  # every container settled
                finally:
                    self._delete_event = None
            if not self.deleting:
                # Settled: nothing changes until a delete request, which starts finish().
                self.idle = True
                self.cancel_scope = None
                return
            await self._stop()

    async def finish(self) -> None:
        """Stop and remove a pod whose worker was idle when its deletion was requested."""
        assert self.cancel_scope is not None
        with self.cancel_scope:
            await self._stop()

    async def _cancel_on_delete(self, scope: trio.CancelScope) -> None:
        assert self._delete_event is not None
        await self._delete_event.wait()
        scope.cancel()

    async def _run_container(self, c: Container) -> None:
        attempt = 0
        while True:
            env = await self._resolve_env(c)
            pulled = await self._pull(c)
            if not pulled:
                continue
            attempt += 1
            c.env = _interned(env)
            c.container_id = f"containerd://{secrets.token_hex(32)}"
            c.files, text = c.image.render(
                pod_name=self.name, namespace=self.namespace, uid=self.uid, env=env
            )
            if c.logs:
                c.previous_logs = c.logs
            c.logs = text
            self.record("Normal", "Created", f"Created container: {c.name}", c.name)
            self.record("Normal", "Started", f"Started container {c.name}", c.name)
            started = rfc3339()
            c.state = {"running": {"startedAt": started}}
            c.started = True
            self.publish()
            lifetime = c.image.exit.after if c.image.exit else math.inf
            if c.image.ready_delay < lifetime:
                await trio.sleep(c.image.ready_delay)
                c.ready = True
                self.publish()
                lifetime -= c.image.ready_delay
            if lifetime == math.inf:
                return  # runs until the pod is stopped: settled, nothing to wait for
            await trio.sleep(lifetime)
            assert c.image.exit is not None
            code = c.image.exit.code
            c.ready = False
            c.started = False
            c.state = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": rfc3339(),
                    "containerID": c.container_id,
                }
            }
            if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                self.publish()
                return
            # Restart: the first at once, then with a doubling back-off (CrashLoopBackOff).
            c.last_state = {"terminated": c.state["terminated"]}
            if attempt > 1:
                delay = self.kubelet.timings.backoff(attempt - 1)
                c.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {go_duration(delay)} restarting failed container="
                        f"{c.name} pod={self.name}_{self.namespace}({self.uid})",
                    }
                }
                self.publish()
                self.record(
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container "
                    f"{c.name} in pod {self.name}_{self.namespace}({self.uid})",
                    c.name,
                )
                await trio.sleep(delay)
            else:
                self.publish()
                await trio.lowlevel.checkpoint()
            c.restart_count += 1

    async def _pull(self, c: Container) -> bool:
        """Pull the image (start_delay), or fail and back off; True once it may start."""
        image = c.spec.get("image", "")
        attempts = 0
        while True:
            attempts += 1
            node_has_it = image in self.kubelet.pulled.get(self.node, set())
            if node_has_it and c.spec.get("imagePullPolicy") != "Always":
                await trio.sleep(c.image.start_delay)
                self.record(
                    "Normal",
                    "Pulled",
                    f'Container image "{image}" already present on '
                    "machine and can be accessed by the pod",
                    c.name,
                )
                return True
            self.record("Normal", "Pulling", f'Pulling image "{image}"', c.name)
            begin = trio.current_time()
            await trio.sleep(c.image.start_delay)
            if c.image.pull == "ok":
                took = f"{trio.current_time() - begin:.3f}s"
                digest = hashlib.sha256(image.encode()).hexdigest()
                c.image_id = sys.intern(f"{image}@sha256:{digest}")  # one per image, not per pod
                self.kubelet.pulled.setdefault(self.node, set()).add(image)
                self.record(
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{image}" in {took} '
                    f"({took} including waiting). Image size: 0 bytes.",
                    c.name,
                )
                return True
            detail = (
                f'failed to pull and unpack image "{image}": failed to resolve reference '
                f'"{image}": pull access denied, repository does not exist or may require '
                "authorization"
            )
            c.state = {"waiting": {"reason": "ErrImagePull", "message": detail}}
            self.publish()
            self.record("Warning", "Failed", f'Failed to pull image "{image}": {detail}', c.name)
            self.record("Warning", "Failed", "Error: ErrImagePull", c.name)
            delay = self.kubelet.timings.backoff(attempts)
            await trio.sleep(min(1.0, delay / 2))
            c.state = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            }
            self.publish()
            self.record("Normal", "BackOff", f'Back-off pulling image "{image}"', c.name)
            self.record("Warning", "Failed", "Error: ImagePullBackOff", c.name)
            await trio.sleep(delay)

    async def _resolve_env(self, c: Container) -> dict[str, str]:
        """The container's environment; waits (CreateContainerConfigError) for missing refs."""
        while True:
            pod = self.pod()
            try:
                return container_env(
                    self.kubelet.store, pod or {}, c.spec, self.pod_ip, self.host_ip
                )
            except ConfigError as exc:
                waiting = {"reason": "CreateContainerConfigError", "message": str(exc)}
                if c.state.get("waiting") != waiting:  # a new cause shows as a new message
                    c.state = {"waiting": waiting}
                    self.publish()
                    self.record("Warning", "Failed", f"Error: {exc}", c.name)
                changed = self.config_changed = trio.Event()
                self.kubelet.config_waiters.add(self)  # woken by ConfigMap/Secret changes
                try:
                    with trio.move_on_after(self.kubelet.timings.config_retry):
                        await changed.wait()
                finally:
                    self.kubelet.config_waiters.discard(self)

    async def _stop(self) -> None:
        """Stop the containers after a delete request, then remove the pod (grace 0)."""
        pod = self.pod()
        if pod is None:
            return
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        stopping = [c for c in self.containers if c.running]
        for c in stopping:
            self.record("Normal", "Killing", f"Stopping container {c.name}", c.name)
        if stopping:
            await trio.sleep(min(grace, max(c.image.stop_delay for c in stopping)))
        stop_containers(self.containers)
        if self.started_at and not self.terminal:
            self.publish()
        try:
            self.kubelet.registry.delete(
                k.POD,
                self.namespace,
                self.name,
                DeleteOptions(grace_period=0, preconditions={"uid": self.uid}),
            )
        except ApiError:
            pass  # already gone, or replaced by a new pod of the same name


def _interned(env: dict[str, str]) -> dict[str, str]:
    """The environment with its names and short values interned: most are every pod's."""
    return {
        sys.intern(name): sys.intern(value) if len(value) <= MAX_INTERNED else value
        for name, value in env.items()
    }
