"""The kubelet of every simulated node: runs pods bound to a node through their lifecycle.

Each pod gets a worker task. It sets up the "sandbox" (pod IP from the node's range, hostIP,
startTime), then runs each container as the image catalogue says: pull (or fail to:
ErrImagePull, then ImagePullBackOff with a doubling back-off), create and start, become ready,
and perhaps exit; restarts follow the restart policy with CrashLoopBackOff back-off. Missing
ConfigMaps/Secrets behind env vars give CreateContainerConfigError. Every transition is written
to the pod's status (phase, conditions, container states) and recorded as the kubelet's events.
Deletion stops the containers (Killing), writes the terminal phase and removes the pod with a
zero grace period, as the real kubelet does after the grace period.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from . import kinds as k
from .events import EventRecorder
from .images import Catalogue, Image
from .network import PodNetwork
from .reactor import run_controller
from .registry import DeleteOptions, Registry, set_condition
from .status import ApiError
from .store import Change
from .timefmt import now, rfc3339

Obj = dict[str, Any]


@dataclass(frozen=True)
class KubeletTimings:
    """Back-off periods in seconds: a real kubelet's by default; tests shorten them."""

    backoff_base: float = 10.0
    backoff_max: float = 300.0
    config_retry: float = 2.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_base * 2 ** max(attempt - 1, 0), self.backoff_max))


class ConfigError(Exception):
    """A container's env refers to a ConfigMap/Secret (or key) that does not exist."""


@dataclass
class Container:
    """One container's simulated runtime state (what status and exec/log read)."""

    name: str
    spec: Obj
    image: Image
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    logs: str = ""
    previous_logs: str | None = None
    done: trio.Event = field(default_factory=trio.Event)  # set when it ends for good

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def waiting_reason(self) -> str:
        return str(self.state.get("waiting", {}).get("reason", ""))

    def status(self) -> Obj:
        status: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.spec.get("image", ""),
            "imageID": self.image_id,
            "started": self.started,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


class PodWorker:
    """Runs one pod on its node until the pod is removed."""

    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
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
            if not self.terminal and not pod["metadata"].get("deletionTimestamp"):
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
                return self.kubelet.container_env(pod or {}, c.spec, self.pod_ip, self.host_ip)
            except ConfigError as exc:
                waiting = {"reason": "CreateContainerConfigError", "message": str(exc)}
                if c.state.get("waiting") != waiting:  # a new cause shows as a new message
                    c.state = {"waiting": waiting}
                    self.publish()
                    self.record("Warning", "Failed", f"Error: {exc}", c.name)
                self.config_changed = trio.Event()
                with trio.move_on_after(self.kubelet.timings.config_retry):
                    await self.config_changed.wait()

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
            for worker in self.workers.values():
                worker.config_changed.set()
            return
        if change.type == "DELETED":
            uid: str = change.obj["metadata"]["uid"]
            if uid in self.workers:
                worker = self.workers.pop(uid)
                worker.cancel_scope.cancel()
                self.network.release(worker.pod_ip)
            return
        self._sync(change.obj)

    def _sync(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        node = pod["spec"].get("nodeName")
        if not node or self.store.get(k.NODE, "", node) is None:
            return
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            assert self._nursery is not None
            self._nursery.start_soon(worker.run)
        if pod["metadata"].get("deletionTimestamp"):
            worker.delete_requested.set()

    # ------------------------------------------------------------------ environment
    def container_env(self, pod: Obj, spec: Obj, pod_ip: str, host_ip: str) -> dict[str, str]:
        """Resolve a container's env as the kubelet does; ``ConfigError`` for missing refs."""
        meta = pod.get("metadata", {})
        ns = meta.get("namespace", "")
        env: dict[str, str] = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": meta.get("name", ""),
            "HOME": "/root",
        }
        for source in spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self._lookup(k.CONFIGMAP, ns, source["configMapRef"])
            else:
                data = self._lookup(k.SECRET, ns, source.get("secretRef", {}))
            env.update({prefix + key: value for key, value in (data or {}).items()})
        for item in spec.get("env") or []:
            name = item.get("name", "")
            if "valueFrom" not in item:
                env[name] = _expand_refs(str(item.get("value", "")), env)
                continue
            value = self._value_from(pod, item["valueFrom"], ns, pod_ip, host_ip)
            if value is not None:
                env[name] = value
        env.update(
            {
                "KUBERNETES_SERVICE_HOST": "10.96.0.1",
                "KUBERNETES_SERVICE_PORT": "443",
                "KUBERNETES_PORT": "tcp://10.96.0.1:443",
            }
        )
        return env

    def _lookup(self, kind: k.Kind, ns: str, ref: Obj) -> dict[str, str] | None:
        obj = self.store.get(kind, ns, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                return None
            raise ConfigError(f'{kind.singular} "{ref.get("name", "")}" not found')
        if kind is k.SECRET:
            return {
                key: base64.b64decode(v).decode(errors="replace")
                for key, v in (obj.get("data") or {}).items()
            }
        return dict(obj.get("data") or {})

    def _value_from(self, pod: Obj, source: Obj, ns: str, pod_ip: str, host_ip: str) -> str | None:
        if "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath", "")
            meta = pod.get("metadata", {})
            simple = {
                "metadata.name": meta.get("name", ""),
                "metadata.namespace": ns,
                "metadata.uid": meta.get("uid", ""),
                "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
                "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
                "status.podIP": pod_ip,
                "status.hostIP": host_ip,
            }
            if path in simple:
                return str(simple[path])
            for prefix, bag in (
                ("metadata.labels", "labels"),
                ("metadata.annotations", "annotations"),
            ):
                if path.startswith(prefix + "['") and path.endswith("']"):
                    return str(meta.get(bag, {}).get(path[len(prefix) + 2 : -2], ""))
            return ""
        for key, kind in (("configMapKeyRef", k.CONFIGMAP), ("secretKeyRef", k.SECRET)):
            if key in source:
                ref = source[key]
                data = self._lookup(kind, ns, ref)
                if data is None:
                    return None
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        return None
                    label = "ConfigMap" if kind is k.CONFIGMAP else "Secret"
                    raise ConfigError(
                        f"couldn't find key {ref.get('key')} in {label} {ns}/{ref.get('name')}"
                    )
                return data[ref["key"]]
        return ""


def _expand_refs(value: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` references to earlier variables, as in a container's env."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


__all__ = ["Container", "Kubelet", "KubeletTimings", "PodWorker", "now"]
