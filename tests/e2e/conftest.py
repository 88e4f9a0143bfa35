"""End-to-end fixtures: the daemon over real HTTP against the simulated cluster over real HTTP.

``stack`` starts, in the test's trio run: a manifest server, the simulated cluster (namespace
``pods``, pod CIDR = the daemon's podSubnetCidr) and the daemon, configured with short
timeouts. ``api`` is an HTTP client for the daemon. ``Stack.restart()`` stops the daemon
abruptly (as a crash would: no cleanup runs) and starts a new one against the same cluster.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import yaml
from lightkube import AsyncClient, KubeConfig

from tests.conftest import FAST, MANIFESTS
from tests.e2e.manifest_server import ManifestServer, serve_manifests
from userpods.config import Settings, build_settings
from userpods.daemon.pluginhost import build_plugin_manager
from userpods.daemon.service import DaemonHandle, serve_daemon
from userpods.sim import SimCluster, SimOptions, serve_sim
from userpods.sim.kinds import kind_by_name

NAMESPACE = "pods"
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "manifests"
SILO = "10.0.0.20"  # testingHost: what a loopback caller stands for


def daemon_settings(tmp_path: Path, server: ManifestServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "namespace": NAMESPACE,
        "podCacheDir": str(tmp_path / "podcaches"),
        "whitelistManifestRegex": re.escape(server.url),
        "timeoutCreate": "15s",
        "timeoutDelete": "15s",
        "testingHost": SILO,
        "podSubnetCidr": "10.128.0.0/15",
        "localRegistryURL": "registry.sciencedata.test:5000",
        "ingressDomain": "pods.sciencedata.test",
        "hostnameList": [
            {"hostname": "silo7.sciencedata.dk", "address": SILO},
            {"hostname": "silo1.sciencedata.dk", "address": "10.0.0.14"},
        ],
        "manifestTimeout": "2s",
        "manifestMaxBytes": 65536,
        # The example operator plugin (tests/plugin_example) is installed into the test
        # environment; only the tests about plugins switch it on.
        "disabledPlugins": ["example"],
    }
    values.update(overrides)
    (tmp_path / "podcaches").mkdir(exist_ok=True)
    return build_settings(values, env={})


@dataclass
class Stack:
    nursery: trio.Nursery
    tmp_path: Path
    manifests: ManifestServer
    sim: SimCluster
    settings: Settings
    handle: DaemonHandle | None = None
    extra_plugins: list[tuple[str, Any]] = field(default_factory=list)
    daemon_token: str = ""  # the service account's token, as in manifests/ (RBAC applies)
    _scope: trio.CancelScope | None = None

    @property
    def url(self) -> str:
        assert self.handle is not None
        return self.handle.url

    @property
    def daemon(self) -> Any:
        assert self.handle is not None
        return self.handle.daemon

    def kube_config(self) -> KubeConfig:
        """The daemon's kubeconfig: the service account of manifests/, not the admin."""
        config = self.sim.kubeconfig(namespace=NAMESPACE)
        if self.daemon_token:
            config["users"][0]["user"] = {"token": self.daemon_token}
        return KubeConfig.from_dict(config)

    def admin_kube_config(self) -> KubeConfig:
        """The cluster admin's kubeconfig, for tests that look at or arrange the cluster."""
        return KubeConfig.from_dict(self.sim.kubeconfig(namespace=NAMESPACE))

    async def start(self, **overrides: Any) -> DaemonHandle:
        if overrides:
            values = {k: v for k, v in overrides.items()}
            self.settings = daemon_settings(self.tmp_path, self.manifests, **values)
        pm = build_plugin_manager(self.settings, extra=self.extra_plugins)

        async def run(task_status: trio.TaskStatus[DaemonHandle]) -> None:
            with trio.CancelScope() as scope:
                self._scope = scope
                await serve_daemon(
                    self.settings,
                    self.kube_config(),
                    listen="127.0.0.1:0",
                    pm=pm,
                    stale_after=1.0,
                    task_status=task_status,
                )

        self.handle = await self.nursery.start(run)
        return self.handle

    def crash(self) -> None:
        """Stop the daemon at once: no request finishes, no flow cleans up."""
        assert self._scope is not None
        self._scope.cancel()
        self.handle = None

    async def restart(self, **overrides: Any) -> DaemonHandle:
        self.crash()
        await trio.lowlevel.checkpoint()
        return await self.start(**overrides)


@pytest.fixture
async def stack(nursery: trio.Nursery, tmp_path: Path) -> Stack:
    manifests = await nursery.start(serve_manifests, MANIFESTS)
    sim = await nursery.start(
        serve_sim,
        SimOptions(
            namespaces=(NAMESPACE,),
            pod_cidr="10.128.0.0/15",
            timings=FAST,
            images=_test_images(tmp_path),
        ),
    )
    stack = Stack(nursery, tmp_path, manifests, sim, daemon_settings(tmp_path, manifests))
    stack.daemon_token = grant_daemon_rbac(sim, NAMESPACE)
    await stack.start()
    return stack


RBAC_FILES = (
    "serviceaccount.yaml",
    "role.yaml",
    "rolebinding.yaml",
    "clusterrole.yaml",
    "clusterrolebinding.yaml",
)
DAEMON_ACCOUNT = "user-pods-backend"


def grant_daemon_rbac(sim: SimCluster, namespace: str) -> str:
    """Create the service account and RBAC of manifests/ in ``namespace`` (as kustomize would
    set it) and return a token of that account: the daemon runs with exactly those rights."""
    for file in RBAC_FILES:
        obj = yaml.safe_load((DEPLOY_DIR / file).read_text())
        kind = kind_by_name(obj["apiVersion"], obj["kind"])
        assert kind is not None, file
        if kind.namespaced:
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        sim.registry.create(kind, namespace if kind.namespaced else "", obj)
    token: str = sim.api.issue_token(namespace, DAEMON_ACCOUNT, {})["status"]["token"]
    return token


def _test_images(tmp_path: Path) -> Path:
    """Images only the end-to-end tests use (on top of the built-in catalogue)."""
    path = tmp_path / "images.yaml"
    path.write_text(
        "- match: '*slow-start*'\n  start_delay: 3600\n- match: '*slow-ready*'\n  ready_delay: 2\n"
    )
    return path


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Callable[..., Any]]:
    """``await api(path, json)`` posts to the daemon (GET when ``json`` is None)."""
    async with httpx2.AsyncClient(timeout=60) as client:

        async def call(path: str, json: Any = None, **kwargs: Any) -> httpx2.Response:
            if json is None and not kwargs.get("content"):
                return await client.get(stack.url + path, **kwargs)
            return await client.post(stack.url + path, json=json, **kwargs)

        yield call


@pytest.fixture
async def kube(stack: Stack) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(stack.admin_kube_config(), namespace=NAMESPACE)
    try:
        yield client
    finally:
        await client.close()
