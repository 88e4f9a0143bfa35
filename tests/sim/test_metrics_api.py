"""The metrics API (metrics.k8s.io/v1beta1) of the simulated cluster, as metrics-server serves it.

Through lightkube's generic resources (what a client without typed models uses) and raw HTTP:
the PodMetrics and NodeMetrics shapes, figures that follow the image catalogue's ``usage:``
phases over time, selectors, RBAC (with the daemon's Role from manifests/role.yaml), the 405 of
a watch, and a cluster without metrics-server (``SimOptions(metrics_api=False)``, or switched
off live). Metrics cannot be watched, so changes over time are awaited by polling with a
deadline, as a client of the real API must.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import yaml
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.core_v1 import Pod

from tests.conftest import sim_options
from userpods.quotas import parse_quantity
from userpods.sim import FaultSettings, SimCluster, serve_sim
from userpods.sim import kinds as k

from .helpers import make_pod, raw_client, wait_for
from .test_measured_rbac import account

PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")
NodeMetrics = create_global_resource("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes")
NS = "test"
API = "/apis/metrics.k8s.io/v1beta1"
PODS = f"{API}/namespaces/{NS}/pods"
ROLE = Path(__file__).resolve().parents[2] / "manifests" / "role.yaml"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
IMAGES = """
- match: "*phased*"
  usage:
    - {cpu: 700m, memory: 300Mi, for: 1.5}
    - {cpu: 3m, memory: 50Mi}
- match: "*relapse*"
  exit: {code: 1, after: 0.8}
  usage:
    - {cpu: 900m, for: 0.4}
    - {cpu: 1m}
"""


def running(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase == "Running"


def cpu_of(metrics: Any, container: str = "main") -> Any:
    for entry in metrics["containers"]:
        if entry["name"] == container:
            return parse_quantity(entry["usage"]["cpu"])
    raise AssertionError(f"no container {container} in {metrics}")


async def poll(read: Callable[[], Any], until: Callable[[Any], bool], within: float) -> Any:
    """Read until ``until`` holds (the metrics API has no watch); fail after ``within`` s."""
    with trio.fail_after(within):
        while True:
            value = await read()
            if until(value):
                return value
            await trio.sleep(0.02)


async def start(kube: AsyncClient, name: str, image: str, **labels: str) -> None:
    await kube.create(make_pod(name, image, labels=labels or None))
    await wait_for(kube, Pod, name, running)


@pytest.fixture
async def sim(nursery: trio.Nursery, tmp_path: Path) -> SimCluster:
    catalogue = tmp_path / "images.yaml"
    catalogue.write_text(IMAGES)
    cluster: SimCluster = await nursery.start(serve_sim, sim_options(tmp_path, images=catalogue))
    return cluster


async def test_pod_metrics_have_metrics_servers_shape(sim: SimCluster, kube: AsyncClient) -> None:
    await start(kube, "busy", "example/cpu-busy:1", app="demo")
    async with raw_client(sim) as client:
        response = await client.get(f"{PODS}/busy")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["kind", "apiVersion", "metadata", "timestamp", "window", "containers"]
    assert (body["kind"], body["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
    meta = body["metadata"]
    assert list(meta) == ["name", "namespace", "creationTimestamp", "labels"]
    assert (meta["name"], meta["namespace"], meta["labels"]) == ("busy", NS, {"app": "demo"})
    assert RFC3339.fullmatch(meta["creationTimestamp"]) and RFC3339.fullmatch(body["timestamp"])
    assert body["window"] == "15.012s"
    [container] = body["containers"]
    assert container["name"] == "main"
    usage = container["usage"]
    assert list(usage) == ["cpu", "memory"]
    # Nanocores and KiB as metrics-server writes them; the catalogue's 800m and 200Mi, nearly.
    assert re.fullmatch(r"[1-9][0-9]*n", usage["cpu"]), usage
    assert re.fullmatch(r"[1-9][0-9]*Ki", usage["memory"]), usage
    assert 0 < 0.8 - float(parse_quantity(usage["cpu"])) < 1e-6
    assert 0 < int(parse_quantity(usage["memory"])) - 200 * 2**20 < 64 * 1024
    # The same through lightkube's generic resource.
    got = await kube.get(PodMetrics, "busy")
    assert got["containers"] == body["containers"]


async def test_lists_select_by_labels_and_name(sim: SimCluster, kube: AsyncClient) -> None:
    await start(kube, "one", "example/cpu-busy:1", tier="a")
    await start(kube, "two", "example/cpu-idle:1", tier="b")
    await kube.create(make_pod("never", "example/cpu-busy:1", unscheduled=True))
    names = [m.metadata.name async for m in kube.list(PodMetrics)]
    assert names == ["one", "two"]  # sorted; the unscheduled pod runs nothing: absent
    assert [m.metadata.name async for m in kube.list(PodMetrics, labels={"tier": "b"})] == ["two"]
    fields = {"metadata.name": "one"}
    assert [m.metadata.name async for m in kube.list(PodMetrics, fields=fields)] == ["one"]
    async with raw_client(sim) as client:
        listed = (await client.get(PODS, params={"labelSelector": "tier in (a,b),tier!=a"})).json()
        bad_field = await client.get(PODS, params={"fieldSelector": "spec.nodeName=node-1"})
        bad_label = await client.get(PODS, params={"labelSelector": "tier in (a"})
        without = await client.get(f"{PODS}/never")
        missing = await client.get(f"{PODS}/nope")
    assert list(listed) == ["kind", "apiVersion", "metadata", "items"]
    assert (listed["kind"], listed["metadata"]) == ("PodMetricsList", {})
    assert [i["metadata"]["name"] for i in listed["items"]] == ["two"]
    assert "kind" not in listed["items"][0]  # list items carry no kind, as the apiserver's
    assert (bad_field.status_code, bad_field.json()["message"]) == (
        400,
        "field label not supported: spec.nodeName",
    )
    assert bad_label.status_code == 400
    # A pod without running containers: metrics-server's own 404; no pod: the pod lister's.
    assert without.status_code == 404
    assert without.json()["message"] == f'podmetrics.metrics.k8s.io "{NS}/never" not found'
    assert without.json()["details"] == {
        "name": f"{NS}/never",
        "group": "metrics.k8s.io",
        "kind": "podmetrics",
    }
    assert missing.json()["message"] == 'pods "nope" not found'
    assert missing.json()["details"] == {"name": "nope", "kind": "pods"}


async def test_all_namespaces_and_nodes(sim: SimCluster, kube: AsyncClient) -> None:
    sim.registry.create(k.NAMESPACE, "", {"metadata": {"name": "other"}})
    await start(kube, "here", "example/cpu-busy:1")
    await kube.create(make_pod("there", "example/cpu-busy:1"), namespace="other")
    await wait_for(kube, Pod, "there", running, namespace="other")
    everywhere = [
        (m.metadata.namespace, m.metadata.name) async for m in kube.list(PodMetrics, namespace="*")
    ]
    assert everywhere == [("other", "there"), (NS, "here")]
    nodes = {m.metadata.name: m async for m in kube.list(NodeMetrics)}
    assert sorted(nodes) == ["node-1", "node-2", "node-3"]
    here = await kube.get(Pod, "here")
    assert here.spec is not None
    node = nodes[here.spec.nodeName]
    assert set(node) == {"metadata", "timestamp", "window", "usage"}
    assert node.metadata.labels["kubernetes.io/hostname"] == here.spec.nodeName
    # The node's own use (about 120m) plus its pods'.
    base = min(parse_quantity(n["usage"]["cpu"]) for n in nodes.values())
    assert parse_quantity(node["usage"]["cpu"]) >= base + parse_quantity("799m")
    assert (await kube.get(NodeMetrics, "node-2")).metadata.name == "node-2"
    with pytest.raises(ApiError) as missing:
        await kube.get(NodeMetrics, "node-9")
    assert missing.value.status.message == 'nodes "node-9" not found'


async def test_busy_then_idle_follows_the_phases(sim: SimCluster, kube: AsyncClient) -> None:
    created = trio.current_time()
    await start(kube, "phased", "example/phased:1")
    first = await kube.get(PodMetrics, "phased")
    assert cpu_of(first) > parse_quantity("699m")
    assert parse_quantity(first["containers"][0]["usage"]["memory"]) >= 300 * 2**20

    async def read() -> Any:
        return await kube.get(PodMetrics, "phased")

    idle = await poll(read, lambda m: cpu_of(m) < parse_quantity("10m"), within=10)
    assert trio.current_time() - created >= 1.5  # not before the busy phase could end
    assert cpu_of(idle) > parse_quantity("2m")  # the catalogue's 3m
    assert parse_quantity(idle["containers"][0]["usage"]["memory"]) < 51 * 2**20


async def test_a_restarted_container_starts_its_phases_again(
    sim: SimCluster, kube: AsyncClient
) -> None:
    await start(kube, "relapse", "example/relapse:1")

    async def read() -> Any:
        try:
            return await kube.get(PodMetrics, "relapse")
        except ApiError as error:  # between a crash and the restart nothing runs
            if error.status.code != 404:
                raise
            return None

    def busy(m: Any) -> bool:
        return m is not None and cpu_of(m) > parse_quantity("800m")

    def idle(m: Any) -> bool:
        return m is not None and cpu_of(m) < parse_quantity("2m")

    await poll(read, idle, within=10)
    await poll(read, busy, within=10)  # after the crash, the new container is busy again
    pod = await kube.get(Pod, "relapse")
    assert pod.status is not None and pod.status.containerStatuses is not None
    assert pod.status.containerStatuses[0].restartCount >= 1


async def test_a_finished_pod_has_no_metrics(kube: AsyncClient) -> None:
    pod = make_pod("done", "x/test_finish_entrypoint:1", restart_policy="Never")
    await kube.create(pod)
    await wait_for(
        kube, Pod, "done", lambda p: p.status is not None and p.status.phase == "Succeeded"
    )
    assert [m async for m in kube.list(PodMetrics)] == []


async def test_watch_and_writes_are_not_supported(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        watch = await client.get(PODS, params={"watch": "true"})
        create = await client.post(PODS, json={"metadata": {"name": "x"}})
        delete = await client.delete(f"{API}/nodes/node-1")
    assert watch.status_code == 405
    assert watch.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'watch is not supported on resources of kind "pods.metrics.k8s.io"',
        "reason": "MethodNotAllowed",
        "details": {"group": "metrics.k8s.io", "kind": "pods"},
        "code": 405,
    }
    assert (create.status_code, delete.status_code) == (405, 405)


async def test_discovery_lists_the_group(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        groups = (await client.get("/apis")).json()["groups"]
        group = (await client.get("/apis/metrics.k8s.io")).json()
        resources = (await client.get(API)).json()
    assert groups[-1]["name"] == "metrics.k8s.io"  # after the built-in groups (its priority)
    version = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    assert group["preferredVersion"] == version and group["versions"] == [version]
    assert resources == {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "metrics.k8s.io/v1beta1",
        "resources": [
            {
                "name": "nodes",
                "singularName": "",
                "namespaced": False,
                "kind": "NodeMetrics",
                "verbs": ["get", "list"],
            },
            {
                "name": "pods",
                "singularName": "",
                "namespaced": True,
                "kind": "PodMetrics",
                "verbs": ["get", "list"],
            },
        ],
    }


async def test_rbac_the_daemons_role_may_list_and_others_may_not(
    sim: SimCluster, kube: AsyncClient
) -> None:
    await start(kube, "busy", "example/cpu-busy:1")
    role = yaml.safe_load(ROLE.read_text())
    async with account(sim, "backend", role["rules"]) as client:
        assert (await client.get(PODS)).json()["items"][0]["metadata"]["name"] == "busy"
        assert (await client.get(f"{PODS}/busy")).status_code == 200
        nodes = await client.get(f"{API}/nodes")  # not in the daemon's Role
    assert nodes.status_code == 403
    core = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    async with account(sim, "reader", [core]) as client:
        refused = await client.get(PODS)
        watch = await client.get(PODS, params={"watch": "1"})
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f'pods.metrics.k8s.io is forbidden: User "system:serviceaccount:{NS}:reader" cannot '
        f'list resource "pods" in API group "metrics.k8s.io" in the namespace "{NS}"'
    )
    assert refused.json()["details"] == {"group": "metrics.k8s.io", "kind": "pods"}
    assert watch.status_code == 403  # authorization comes before the 405


async def test_counted_and_faulted_apart_from_core_pods(sim: SimCluster, kube: AsyncClient) -> None:
    await start(kube, "busy", "example/cpu-busy:1")
    sim.api.counters.reset()
    sim.api.apply_faults(FaultSettings(error_rate=1.0, resources=["pods.metrics.k8s.io"]))
    with pytest.raises(ApiError) as failed:
        await kube.get(PodMetrics, "busy")
    assert failed.value.status.code in (429, 500, 503)
    assert (await kube.get(Pod, "busy")).metadata is not None  # core pods unaffected
    sim.api.apply_faults(FaultSettings())
    [_] = [m async for m in kube.list(PodMetrics)]
    requests = sim.api.counters.snapshot()["requests"]
    assert requests["get"] == {"pods.metrics.k8s.io": 1, "pods": 1}
    assert requests["list"] == {"pods.metrics.k8s.io": 1}


async def test_table_for_kubectl_get(sim: SimCluster, kube: AsyncClient) -> None:
    await start(kube, "busy", "example/cpu-busy:1")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with raw_client(sim) as client:
        table = (await client.get(PODS, headers={"Accept": accept})).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    [row] = table["rows"]
    assert row["cells"][0] == "busy" and row["cells"][3] == "15.012s"
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_a_cluster_without_metrics_server(nursery: trio.Nursery, tmp_path: Path) -> None:
    sim: SimCluster = await nursery.start(serve_sim, sim_options(tmp_path, metrics_api=False))
    config = KubeConfig.from_dict(sim.kubeconfig(namespace=NS))
    async with raw_client(sim) as client:
        names = [g["name"] for g in (await client.get("/apis")).json()["groups"]]
        assert "metrics.k8s.io" not in names
        assert (await client.get(API)).status_code == 404
        listed = await client.get(PODS)
        assert listed.status_code == 404
        # Outside every served group: the apiserver's plain-text 404, not a Status.
        assert (listed.headers["content-type"], listed.text) == (
            "text/plain",
            "404 page not found\n",
        )
        kube = AsyncClient(config, namespace=NS)
        try:
            # lightkube cannot read that body as a Status: it raises httpx's error, not ApiError.
            with pytest.raises(httpx2.HTTPStatusError) as raised:
                [m async for m in kube.list(PodMetrics)]
            assert raised.value.response.status_code == 404
            # Registered live (metrics-server installed), then gone again.
            sim.api.metrics.enabled = True
            assert [m async for m in kube.list(PodMetrics)] == []
            assert "metrics.k8s.io" in [
                g["name"] for g in (await client.get("/apis")).json()["groups"]
            ]
            sim.api.metrics.enabled = False
            assert (await client.get(PODS)).status_code == 404
        finally:
            await kube.close()


@pytest.mark.kubectl
async def test_kubectl_top_shows_the_catalogues_figures(
    sim: SimCluster, kube: AsyncClient, kubectl_path: str, tmp_path: Path
) -> None:
    await start(kube, "busy", "example/cpu-busy:1")
    assert sim.kubeconfig_path is not None
    with trio.fail_after(25):
        done = await trio.run_process(
            [
                kubectl_path,
                f"--kubeconfig={sim.kubeconfig_path}",
                f"--namespace={NS}",
                "top",
                "pod",
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
    assert done.returncode == 0, done.stderr.decode()
    lines = [line.split() for line in done.stdout.decode().splitlines()]
    assert lines == [["NAME", "CPU(cores)", "MEMORY(bytes)"], ["busy", "800m", "200Mi"]]
