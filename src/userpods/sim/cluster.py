"""The simulated cluster, assembled: store, apiserver, scheduler, kubelet and controllers.

:func:`serve_sim` runs it all in one nursery and serves the apiserver over HTTPS with a CA of
its own, for ``nursery.start``: it reports a :class:`SimCluster` (URL, token, CA, kubeconfig)
once the server accepts connections.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import hypercorn.config
import hypercorn.trio
import trio
import trustme
import yaml

from . import kinds as k
from .apiserver import ApiServer, ServerOptions
from .containers import KubeletTimings
from .controllers.garbagecollector import GarbageCollector
from .controllers.namespaces import NamespaceController
from .controllers.protection import ProtectionController
from .controllers.volumebinder import VolumeBinder
from .endpoints import EndpointSliceController
from .faults import Faults, FaultSettings
from .images import Catalogue
from .kubelet import Kubelet
from .metrics import MetricsServer
from .network import PodNetwork
from .rbac import ADMIN
from .reactor import run_controller
from .registry import Registry
from .scheduler import Scheduler
from .store import Store
from .timefmt import rfc3339

Obj = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODE_CAPACITY = {
    "cpu": "16",
    "memory": "64Gi",
    "pods": "110",
    "ephemeral-storage": "500Gi",
    "nvidia.com/gpu": "4",
    "hugepages-2Mi": "0",
}


@dataclass
class SimOptions:
    """How to run the simulated cluster (each field: its unit, and why its default)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (tests); the URL is reported either way
    kubeconfig: Path | None = None  # written once the server accepts connections
    images: Path | None = None  # a catalogue consulted before the built-in one
    pod_cidr: str = "10.244.0.0/16"  # kubeadm/flannel's default
    # NodePorts handed out (kube-apiserver's --service-node-port-range; wider for benchmarks
    # that make more NodePort services than the default range holds).
    node_ports: tuple[int, int] = (30000, 32767)
    nodes: int = 3
    namespaces: Sequence[str] = ()  # created at start, besides the system namespaces
    token: str | None = None  # the admin bearer token; random when None
    history_limit: int = 5000  # watch history entries (events) kept for resuming
    faults: FaultSettings = field(default_factory=FaultSettings)
    timings: KubeletTimings = field(default_factory=KubeletTimings)
    bookmark_interval: float = 60.0  # seconds between watch BOOKMARKs, as the apiserver
    # The metrics API (metrics.k8s.io, as metrics-server serves it); False: a cluster without
    # metrics-server. ``SimCluster.api.metrics.enabled`` switches it while the cluster runs.
    metrics_api: bool = True


@dataclass
class SimCluster:
    """A running simulated cluster, as :func:`serve_sim` reports it."""

    url: str
    token: str
    ca_pem: str
    store: Store
    registry: Registry
    api: ApiServer
    kubelet: Kubelet
    kubeconfig_path: Path | None = None

    def kubeconfig(self, namespace: str = "default") -> Obj:
        ca = base64.b64encode(self.ca_pem.encode()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "userpods-sim",
                    "cluster": {"server": self.url, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": "userpods-sim-admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "userpods-sim",
                    "context": {
                        "cluster": "userpods-sim",
                        "user": "userpods-sim-admin",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "userpods-sim",
        }

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> None:
        """Write atomically, readable only by the owner (it holds a credential)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(self.kubeconfig(namespace), fh, sort_keys=False)
        os.replace(tmp, path)


def _node(index: int, pod_range: str) -> Obj:
    name = f"node-{index + 1}"
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                **({"node-role.kubernetes.io/control-plane": ""} if index == 0 else {}),
            },
        },
        "spec": {"podCIDR": pod_range, "podCIDRs": [pod_range]},
        "status": {
            "capacity": dict(NODE_CAPACITY),
            "allocatable": dict(NODE_CAPACITY),
            "addresses": [
                {"type": "InternalIP", "address": f"172.18.0.{index + 2}"},
                {"type": "Hostname", "address": name},
            ],
            # The kubelet's node conditions, with the times it sets (describe node shows them).
            "conditions": [
                {
                    "type": ctype,
                    "status": value,
                    "lastHeartbeatTime": rfc3339(),
                    "lastTransitionTime": rfc3339(),
                    "reason": reason,
                    "message": message,
                }
                for ctype, value, reason, message in (
                    (
                        "MemoryPressure",
                        "False",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    (
                        "DiskPressure",
                        "False",
                        "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure",
                    ),
                    (
                        "PIDPressure",
                        "False",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                )
            ],
            "nodeInfo": {
                "machineID": f"{index + 1:032x}",
                "systemUUID": f"00000000-0000-0000-0000-{index + 1:012x}",
                "bootID": f"b0000000-0000-0000-0000-{index + 1:012x}",
                "kernelVersion": "6.12.0-userpods-sim",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.37.0",
                "containerRuntimeVersion": "containerd://2.1.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "userpods simulated node",
            },
        },
    }


def build(
    options: SimOptions, ca_pem: str
) -> tuple[Store, Registry, Kubelet, ApiServer, list[Any]]:
    """Everything but the network listener: the state and the controllers that act on it."""
    if options.nodes < 1:
        raise ValueError("the simulated cluster needs at least one node")
    store = Store(history_limit=options.history_limit)
    registry = Registry(store, node_ports=options.node_ports)
    registry.ca_bundle = ca_pem
    node_names = [f"node-{i + 1}" for i in range(options.nodes)]
    network = PodNetwork(options.pod_cidr, node_names)
    for name in SYSTEM_NAMESPACES + tuple(options.namespaces):
        if store.get(k.NAMESPACE, "", name) is None:
            registry.create(k.NAMESPACE, "", {"metadata": {"name": name}})
    for i, name in enumerate(node_names):
        registry.create(k.NODE, "", _node(i, str(network.node_ranges[name])))
    registry.create(
        k.SERVICE,
        "default",
        {
            "metadata": {
                "name": "kubernetes",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": "10.96.0.1",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        },
    )
    catalogue = Catalogue.from_file(options.images)
    kubelet = Kubelet(registry, catalogue, network, options.timings)
    token = options.token or secrets.token_urlsafe(32)
    metrics = MetricsServer(store, catalogue, enabled=options.metrics_api)
    api = ApiServer(
        store,
        registry,
        kubelet,
        tokens={token: ADMIN},
        faults=Faults(options.faults),
        options=ServerOptions(bookmark_interval=options.bookmark_interval),
        metrics=metrics,
    )
    api.apply_faults(options.faults)
    api.door.default_history = options.history_limit
    store.set_history_limit(options.faults.history_limit or options.history_limit)
    controllers = [
        Scheduler(registry),
        VolumeBinder(registry),
        ProtectionController(registry),
        GarbageCollector(registry),
        NamespaceController(registry),
        EndpointSliceController(registry),
        metrics,  # follows pods to time their containers
    ]
    return store, registry, kubelet, api, controllers


async def serve_sim(
    options: SimOptions | None = None,
    *,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[SimCluster] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the simulated cluster until cancelled (or until ``shutdown`` is set)."""
    options = options or SimOptions()
    ca = trustme.CA(organization_name="userpods simulated cluster")
    hosts = sorted(
        {
            "localhost",
            "127.0.0.1",
            "::1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            options.host,
        }
        - {"0.0.0.0", "::", ""}
    )
    cert = ca.issue_cert(*hosts)
    ca_pem = ca.cert_pem.bytes().decode()
    store, registry, kubelet, api, controllers = build(options, ca_pem)
    token = next(iter(api.tokens))
    stop = shutdown if shutdown is not None else trio.Event()
    with tempfile.TemporaryDirectory(prefix="userpods-sim-") as tmp:
        certfile, keyfile = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.cert_chain_pems[0].write_to_path(str(certfile))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(certfile), append=True)
        cert.private_key_pem.write_to_path(str(keyfile))
        config = hypercorn.config.Config()
        host = f"[{options.host}]" if ":" in options.host else options.host
        config.bind = [f"{host}:{options.port}"]
        config.certfile, config.keyfile = str(certfile), str(keyfile)
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")  # through our handlers
        config.graceful_timeout = 1.0
        config.keep_alive_timeout = 300.0
        async with trio.open_nursery() as nursery:
            for controller in controllers:
                await nursery.start(run_controller, store, controller)
            await nursery.start(kubelet.run)
            async with trio.open_nursery() as http:
                binds = await http.start(
                    partial(
                        hypercorn.trio.serve, cast(Any, api), config, shutdown_trigger=stop.wait
                    )
                )
                url = binds[0].replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")
                cluster = SimCluster(
                    url, token, ca_pem, store, registry, api, kubelet, options.kubeconfig
                )
                if options.kubeconfig is not None:
                    cluster.write_kubeconfig(options.kubeconfig)
                task_status.started(cluster)
            # hypercorn has returned (``stop`` was set and requests drained): stop the rest.
            nursery.cancel_scope.cancel()
