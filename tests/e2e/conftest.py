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
from lightkube import AsyncClient, KubeConfig

from tests.conftest import FAST, MANIFESTS
from tests.e2e.manifest_server import ManifestServer, serve_manifests
from userpods.config import Settings, build_settings
from userpods.daemon.pluginhost import build_plugin_manager
from userpods.daemon.service import DaemonHandle, serve_daemon
from userpods.sim import SimCluster, SimOptions, serve_sim

NAMESPACE = "pods"
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
    await stack.start()
    return stack


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
    client = AsyncClient(stack.kube_config(), namespace=NAMESPACE)
    try:
        yield client
    finally:
        await client.close()
