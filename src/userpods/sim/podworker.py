"""One pod on its node, from the sandbox to its removal: the kubelet's pod worker.

It sets up the "sandbox" (pod IP from the node's range, hostIP, startTime), then runs each
container as the image catalogue says: pull (or fail to: ErrImagePull, then ImagePullBackOff
with a doubling back-off), create and start, become ready, and perhaps exit; restarts follow
the restart policy with CrashLoopBackOff back-off. Missing ConfigMaps/Secrets behind env vars
give CreateContainerConfigError. Every transition is written to the pod's status (phase,
conditions, container states) and recorded as the kubelet's events. Deletion stops the
containers (Killing), writes the terminal phase and removes the pod with a zero grace period.

The worker uses its kubelet through ``Host`` (the kubelet hands itself in), so this module
does not import ``kubelet.py``, which creates the workers.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from typing import Any, Protocol

import trio

from . import kinds as k
from .conditions import set_condition
from .containerenv import ConfigError, container_env
from .containers import Container, KubeletTimings
from .deletion import DeleteOptions
from .events import EventRecorder
from .images import Catalogue
from .network import PodNetwork
from .registry import Registry
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
    """Runs one pod on its node until the pod is removed."""

    def __init__(self, kubelet: Host, pod: Obj) -> None:
        self.kubelet = kubelet
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.node = pod["spec"]["nodeName"]
        self.restart_policy = pod["spec"].get("restartPolicy", "Always")
        self.containers = [
            Container(c["name"], c, kubelet.catalogue.lookup(c.get("image", "")))
            for c in pod["spec"].get("containers", [])
        ]
        self.events = kubelet.recorder(self.node)
        self.pod_ip = ""
        self.host_ip = kubelet.node_ip(self.node)
        self.started_at = ""
        self.terminal = False
        self.delete_requested = trio.Event()
        self.config_changed = trio.Event()
        self.cancel_scope = trio.CancelScope()

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
        waiting = running = failed = 0
        for c in self.containers:
            if c.running:
                running += 1
            elif "terminated" in c.state:
                failed += c.state["terminated"].get("exitCode", 0) != 0
            elif c.last_state.get("terminated"):
                failed += 1
            else:
                waiting += 1
        if waiting:
            return "Pending"
        if running:
            return "Running"
        if self.delete_requested.is_set():
            # Stopped for deletion: terminal whatever the restart policy (kubelet >= 1.27).
            unknown = any(
                c.state.get("terminated", {}).get("reason") == "ContainerStatusUnknown"
                for c in self.containers
            )
            return "Failed" if failed or unknown else "Succeeded"
        if self.restart_policy == "Always":
            return "Running"
        if self.restart_policy == "OnFailure" and failed:
            return "Running"
        return "Failed" if failed else "Succeeded"

    def publish(self) -> None:
        """Write the pod's status from the containers' states (one MODIFIED event)."""
        phase = "Pending" if not self.started_at else self.phase()
        if phase in ("Succeeded", "Failed"):
            self.terminal = True
        unready = [c.name for c in self.containers if not c.ready]

        def write(pod: Obj) -> None:
            status = pod.setdefault("status", {})
            # Terminal phases never change.
            terminal = status.get("phase") in ("Succeeded", "Failed")
            current = status["phase"] if terminal else phase
            status["phase"] = current
            sandbox = "True" if self.pod_ip and current not in ("Succeeded", "Failed") else "False"
            set_condition(status, "PodReadyToStartContainers", sandbox)
            # The kubelet's reasons for terminal pods (pkg/kubelet/status/generate.go).
            ended = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(current, "")
            set_condition(
                status, "Initialized", "True", "PodCompleted" if current == "Succeeded" else ""
            )
            if ended:
                set_condition(status, "Ready", "False", ended)
                set_condition(status, "ContainersReady", "False", ended)
            elif unready:
                message = f"containers with unready status: [{' '.join(unready)}]"
                set_condition(status, "Ready", "False", "ContainersNotReady", message)
                set_condition(status, "ContainersReady", "False", "ContainersNotReady", message)
            else:
                set_condition(status, "Ready", "True")
                set_condition(status, "ContainersReady", "True")
            set_condition(status, "PodScheduled", "True")
            order = [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            ]
            status["conditions"].sort(
                key=lambda c: order.index(c["type"]) if c["type"] in order else len(order)
            )
            status.pop("reason", None)
            status.pop("message", None)
            status["hostIP"] = self.host_ip
            status["hostIPs"] = [{"ip": self.host_ip}]
            if self.pod_ip:
                status["podIP"] = self.pod_ip
                status["podIPs"] = [{"ip": self.pod_ip}]
            if self.started_at:
                status["startTime"] = self.started_at
            status["containerStatuses"] = [c.status() for c in self.containers]

        self.kubelet.registry.mutate(k.POD, self.namespace, self.name, write, subresource="status")

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        with self.cancel_scope:
            pod = self.pod()
            if pod is None:
                return
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                self.terminal = True
            deleting = bool(pod["metadata"].get("deletionTimestamp"))
            del pod  # this version of the pod would otherwise live as long as the worker
            if not self.terminal and not deleting:
                self.pod_ip = self.kubelet.network.allocate(self.node)
                self.started_at = rfc3339()
                self.publish()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._cancel_on_delete, nursery.cancel_scope)
                    async with trio.open_nursery() as containers:
                        for c in self.containers:
                            containers.start_soon(self._run_container, c)
                    nursery.cancel_scope.cancel()  # every container ended for good
            await self.delete_requested.wait()
            await self._stop()

    async def _cancel_on_delete(self, scope: trio.CancelScope) -> None:
        await self.delete_requested.wait()
        scope.cancel()

    async def _run_container(self, c: Container) -> None:
        attempt = 0
        while True:
            env = await self._resolve_env(c)
            pulled = await self._pull(c)
            if not pulled:
                continue
            attempt += 1
            c.env = env
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
                c.done.set()
                return
            # Restart: the first at once, then with a doubling back-off (CrashLoopBackOff).
            c.last_state = {"terminated": c.state["terminated"]}
            if attempt > 1:
                delay = self.kubelet.timings.backoff(attempt - 1)
                c.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {_go_duration(delay)} restarting failed container="
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
                c.image_id = f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
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
                self.config_changed = trio.Event()
                self.kubelet.config_waiters.add(self)  # woken by ConfigMap/Secret changes
                try:
                    with trio.move_on_after(self.kubelet.timings.config_retry):
                        await self.config_changed.wait()
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
        for c in self.containers:
            if c.running:
                c.state = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": c.state["running"]["startedAt"],
                        "finishedAt": rfc3339(),
                        "containerID": c.container_id,
                    }
                }
            elif "waiting" in c.state:
                c.state = {
                    "terminated": {
                        "exitCode": 137 if c.started else 0,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated",
                        "startedAt": None,
                        "finishedAt": None,
                    }
                }
            c.ready = False
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


def _go_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole >= 60:
        return f"{whole // 60}m{whole % 60}s"
    return f"{whole}s" if whole == seconds else f"{seconds:g}s"
