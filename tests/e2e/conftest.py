"""End-to-end fixtures: the daemon over real HTTP against the simulated cluster over real HTTP.

``stack`` starts, in the test's trio run: a manifest server, the simulated cluster (namespace
``pods``, pod CIDR = the daemon's podSubnetCidr) and the daemon, configured with short
timeouts. ``api`` is an HTTP client for the daemon. ``Stack.restart()`` stops the daemon
abruptly (as a crash would: no cleanup runs) and starts a new one against the same cluster.

With ``USERPODS_CLUSTER_KUBECONFIG`` set (``nox -s cluster``), the same suite runs against that
real cluster instead, in the throwaway namespace ``USERPODS_CLUSTER_NAMESPACE``; tests that need
the simulated cluster's internals (fault injection, counters, its store) are skipped there.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import yaml
from lightkube import ApiError, AsyncClient, KubeConfig, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, PersistentVolume, ServiceAccountToken
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding

from tests.conftest import FAST, MANIFESTS
from tests.e2e.manifest_server import ManifestServer, serve_manifests
from userpods.config import Settings, build_settings
from userpods.daemon.pluginhost import build_plugin_manager
from userpods.daemon.service import DaemonHandle, serve_daemon
from userpods.naming import ANNOTATION_NAMESPACE
from userpods.sim import SimCluster, SimOptions, serve_sim
from userpods.sim.kinds import kind_by_name

CLUSTER = os.environ.get("USERPODS_CLUSTER_KUBECONFIG", "")  # a real cluster, if any
NAMESPACE = os.environ.get("USERPODS_CLUSTER_NAMESPACE", "pods") if CLUSTER else "pods"
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "manifests"
TEST_LABEL = "userpods.sciencedata.dk/test-namespace"  # on cluster-wide objects tests make
SILO = "10.0.0.20"  # testingHost: what a loopback caller stands for


def daemon_settings(tmp_path: Path, server: ManifestServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "namespace": NAMESPACE,
        "podCacheDir": str(tmp_path / "podcaches"),
        "whitelistManifestRegex": re.escape(server.url),
        "timeoutCreate": "15s",
        "timeoutDelete": "15s",
        "testingHost": SILO,
        "podSubnetCidr": os.environ.get("USERPODS_CLUSTER_POD_CIDR", "10.0.0.0/8")
        if CLUSTER
        else "10.128.0.0/15",
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
    the_sim: SimCluster | None
    settings: Settings
    admin_config: dict[str, Any] = field(default_factory=dict)
    handle: DaemonHandle | None = None
    extra_plugins: list[tuple[str, Any]] = field(default_factory=list)
    daemon_token: str = ""  # the service account's token, as in manifests/ (RBAC applies)
    shutdown: trio.Event | None = None  # set it to stop the daemon as SIGTERM does
    cluster_role: str = "user-pods-backend"  # its ClusterRole (suffixed on a real cluster)
    _scope: trio.CancelScope | None = None

    @property
    def url(self) -> str:
        assert self.handle is not None
        return self.handle.url

    @property
    def daemon(self) -> Any:
        assert self.handle is not None
        return self.handle.daemon

    @property
    def sim(self) -> SimCluster:
        """The simulated cluster; a test that needs it is skipped against a real cluster."""
        if self.the_sim is None:
            pytest.skip("needs the simulated cluster's internals")
        return self.the_sim

    def kube_config(self) -> KubeConfig:
        """The daemon's kubeconfig: the service account of manifests/, not the admin."""
        config = copy.deepcopy(self.admin_config)
        context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        context["context"]["namespace"] = NAMESPACE
        user = next(u for u in config["users"] if u["name"] == context["context"]["user"])
        if self.daemon_token:
            user["user"] = {"token": self.daemon_token}
        return KubeConfig.from_dict(config, fname=CLUSTER or None)

    def admin_kube_config(self) -> KubeConfig:
        """The cluster admin's kubeconfig, for tests that look at or arrange the cluster."""
        return KubeConfig.from_dict(self.admin_config, fname=CLUSTER or None)

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
                    shutdown=self.shutdown,
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
async def stack(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Stack]:
    manifests = await nursery.start(serve_manifests, MANIFESTS)
    settings = daemon_settings(tmp_path, manifests)
    if CLUSTER:
        manifests.unavailable_images = ("slow-start", "slow-ready", "chatty")  # _test_images
        async with real_cluster() as (admin_config, token):
            stack = Stack(
                nursery,
                tmp_path,
                manifests,
                None,
                settings,
                admin_config=admin_config,
                daemon_token=token,
                cluster_role=DAEMON_ACCOUNT + f"-{NAMESPACE}",
            )
            await stack.start()
            yield stack
            stack.crash()
        return
    sim = await nursery.start(
        serve_sim,
        SimOptions(
            namespaces=(NAMESPACE,),
            pod_cidr="10.128.0.0/15",
            timings=FAST,
            images=_test_images(tmp_path),
        ),
    )
    stack = Stack(
        nursery,
        tmp_path,
        manifests,
        sim,
        settings,
        admin_config=sim.kubeconfig(namespace=NAMESPACE),
    )
    stack.daemon_token = grant_daemon_rbac(sim, NAMESPACE)
    await stack.start()
    yield stack


@asynccontextmanager
async def real_cluster() -> AsyncIterator[tuple[dict[str, Any], str]]:
    """A throwaway namespace in the real cluster, with the RBAC of manifests/ (cluster-scoped
    names suffixed with the namespace) and a token of its service account; removed after."""
    admin_config = yaml.safe_load(await trio.Path(CLUSTER).read_text())
    client = AsyncClient(KubeConfig.from_file(CLUSTER))
    suffix = f"-{NAMESPACE}"
    try:
        await client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))
        for obj in rbac_objects(NAMESPACE):
            if not obj.get("metadata", {}).get("namespace"):
                obj["metadata"]["name"] += suffix
                if obj.get("roleRef", {}).get("kind") == "ClusterRole":
                    obj["roleRef"]["name"] += suffix
            await client.create(codecs.from_dict(obj))
        request = ServiceAccountToken(
            metadata=ObjectMeta(name=DAEMON_ACCOUNT, namespace=NAMESPACE),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
        )
        made = await client.create(request, DAEMON_ACCOUNT, namespace=NAMESPACE)
        yield admin_config, made.status.token
    finally:
        with trio.CancelScope(shield=True), trio.fail_after(TEARDOWN_TIMEOUT):
            await _remove_test_objects(client, suffix)
            await client.close()


TEARDOWN_TIMEOUT = 120.0  # seconds for a real cluster to finalize a test's namespaces


async def _remove_test_objects(client: AsyncClient, suffix: str) -> None:
    """Delete what one test made in a real cluster and wait until its namespaces are gone, so
    the next test (same namespace name) starts on an empty one: the namespace, the RBAC, the
    namespaces and volumes a test labelled, and the volumes the daemon made for this namespace
    (its namespace annotation). The volumes go last: their claims go with the namespace."""
    volumes = [
        v.metadata.name
        async for v in client.list(PersistentVolume)
        if (v.metadata.labels or {}).get(TEST_LABEL) == NAMESPACE
        or (v.metadata.annotations or {}).get(ANNOTATION_NAMESPACE) == NAMESPACE
    ]
    namespaces = [NAMESPACE] + [
        n.metadata.name async for n in client.list(Namespace, labels={TEST_LABEL: NAMESPACE})
    ]
    for kind, name in (
        (ClusterRoleBinding, DAEMON_ACCOUNT + suffix),
        (ClusterRole, DAEMON_ACCOUNT + suffix),
        *((Namespace, namespace) for namespace in namespaces),
        *((PersistentVolume, volume) for volume in volumes),
    ):
        with contextlib.suppress(ApiError):
            await client.delete(kind, name)
    for kind, names in ((Namespace, namespaces), (PersistentVolume, volumes)):
        for name in names:
            await _wait_gone(client, kind, name)


async def _wait_gone(client: AsyncClient, kind: Any, name: str) -> None:
    """Until ``name`` is gone: a watch from the resourceVersion of a get that still finds it."""
    while True:
        try:
            obj = await client.get(kind, name)
        except ApiError as error:
            if error.status.code == 404:
                return
            raise
        version = obj.metadata.resourceVersion
        fields = {"metadata.name": name}
        async for event, _ in client.watch(kind, fields=fields, resource_version=version):
            if event == "DELETED":
                return


RBAC_FILES = (
    "serviceaccount.yaml",
    "role.yaml",
    "rolebinding.yaml",
    "clusterrole.yaml",
    "clusterrolebinding.yaml",
)
DAEMON_ACCOUNT = "user-pods-backend"


def rbac_objects(namespace: str) -> list[dict[str, Any]]:
    """The service account and RBAC of manifests/, in ``namespace`` as kustomize sets it."""
    objects = []
    for file in RBAC_FILES:
        obj = yaml.safe_load((DEPLOY_DIR / file).read_text())
        if obj["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        objects.append(obj)
    return objects


def grant_daemon_rbac(sim: SimCluster, namespace: str, suffix: str = "") -> str:
    """Create the service account and RBAC of manifests/ in the simulated cluster and return a
    token of that account: the daemon runs with exactly those rights. ``suffix`` goes on the
    cluster-scoped names (a second deployment in another namespace)."""
    for obj in rbac_objects(namespace):
        if suffix and not obj.get("metadata", {}).get("namespace"):
            obj["metadata"]["name"] += suffix
            if obj.get("roleRef", {}).get("kind") == "ClusterRole":
                obj["roleRef"]["name"] += suffix
        kind = kind_by_name(obj["apiVersion"], obj["kind"])
        assert kind is not None, obj["kind"]
        sim.registry.create(kind, namespace if kind.namespaced else "", obj)
    token: str = sim.api.issue_token(namespace, DAEMON_ACCOUNT, {})["status"]["token"]
    return token


def _test_images(tmp_path: Path) -> Path:
    """Images only the end-to-end tests use (on top of the built-in catalogue)."""
    path = tmp_path / "images.yaml"
    chatty = "".join(f"line {i:03d} of a long log\n" for i in range(100))
    path.write_text(
        yaml.safe_dump(
            [
                {"match": "*slow-start*", "start_delay": 3600},
                {"match": "*slow-ready*", "ready_delay": 2},
                {"match": "*chatty*", "logs": chatty},
            ]
        )
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
