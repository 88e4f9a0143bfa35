"""Defence in depth for manifests (issue 8): a whitelisted manifest that would own the node is
refused by the pod-security plugin with a JSON 400 naming the fields, before anything is made
in the cluster; ``podSecurity`` moves the line; the namespace of manifests/ enforces it too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Namespace, PersistentVolume, PersistentVolumeClaim

from tests.e2e.conftest import CLUSTER, DEPLOY_DIR, Stack
from tests.e2e.helpers import (
    assert_error,
    assert_nothing_made,
    container,
    create_ready,
    delete,
    get_pods,
    manifest_url,
    names_of,
    pod_manifest,
    post_create,
    serve,
    watch_delete,
)

USER = "ann@uni.dk"
STORAGE = [{"name": "sciencedata", "mountPath": "/mnt/sciencedata"}]  # would make a PV and PVC


def with_storage(name: str, **context: Any) -> dict[str, Any]:
    """A container that mounts the user's storage, with securityContext ``context``."""
    found = container(name)
    found["volumeMounts"] = STORAGE
    if context:
        found["securityContext"] = context
    return found


DANGEROUS = {  # name -> (manifest, what the refusal must say: fields and wording)
    "host-root": (
        pod_manifest(
            "host-root",
            {**container("main"), "volumeMounts": [*STORAGE, {"name": "root", "mountPath": "/h"}]},
            volumes=[{"name": "root", "hostPath": {"path": "/"}}],
        ),
        ["spec.volumes[0].hostPath", 'hostPath volumes (volume "root")'],
    ),
    "sys-admin": (
        pod_manifest(
            "sys-admin",
            container("helper"),
            with_storage("x", privileged=True, capabilities={"add": ["SYS_ADMIN"]}),
        ),
        [
            "spec.containers[1].securityContext.privileged",
            "spec.containers[1].securityContext.capabilities.add",
            'privileged (container "x" must not set securityContext.privileged=true)',
            'container "x" must not include "SYS_ADMIN"',
        ],
    ),
    "host-namespaces": (
        pod_manifest("host-namespaces", with_storage("main"), hostNetwork=True, hostPID=True),
        ["spec.hostNetwork", "spec.hostPID", "host namespaces (hostNetwork=true, hostPID=true)"],
    ),
}


async def assert_refused(api: Any, url: str, level: str, words: list[str]) -> str:
    text = assert_error(await post_create(api, url, USER), 400)
    assert f'violates PodSecurity "{level}:latest"' in text, text
    for word in words:
        assert word in text, (word, text)
    return text


@pytest.mark.parametrize("name", sorted(DANGEROUS))
async def test_baseline_refuses_a_manifest_that_would_own_the_node(
    name: str, stack: Stack, api: Any, kube: AsyncClient
) -> None:
    manifest, words = DANGEROUS[name]
    await assert_refused(api, serve(stack, manifest), "baseline", words)
    await assert_nothing_made(stack, kube)
    assert await names_of(kube, PersistentVolume) == []
    assert await names_of(kube, PersistentVolumeClaim) == []
    assert await get_pods(api, USER) == []


async def test_privileged_lets_them_through(stack: Stack, api: Any, kube: AsyncClient) -> None:
    if CLUSTER:
        pytest.skip("would run privileged pods with the host's namespaces and / on a real node")
    urls = {name: serve(stack, manifest) for name, (manifest, _) in DANGEROUS.items()}
    await stack.restart(podSecurity="privileged")
    with trio.fail_after(30):
        for url in urls.values():
            pod = await create_ready(api, url, USER)
            assert (await delete(api, USER, pod)).status_code == 200
            assert await watch_delete(api, USER, pod) is True


async def test_restricted_refuses_what_baseline_accepts(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    plain = serve(stack, pod_manifest("plain", with_storage("main")))
    hardened = serve(
        stack,
        pod_manifest(
            "hardened",
            with_storage("main", allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]}),
            securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        ),
    )
    with trio.fail_after(30):
        pod = await create_ready(api, plain, USER)
        await delete(api, USER, pod)
        assert await watch_delete(api, USER, pod) is True
    await stack.restart(podSecurity="restricted")
    text = await assert_refused(
        api,
        plain,
        "restricted",
        [
            'allowPrivilegeEscalation != false (container "main" must set',
            'pod or container "main" must set securityContext.runAsNonRoot=true',
            "spec.containers[0].securityContext.allowPrivilegeEscalation",
            "spec.containers[0].securityContext.capabilities.drop",
            "spec.containers[0].securityContext.seccompProfile.type",
        ],
    )
    assert "persistentVolumeClaim" not in text  # the storage the daemon adds is a claim: allowed
    await assert_nothing_made(stack, kube)
    with trio.fail_after(30):  # a manifest that opts in to everything passes, storage and all
        pod = await create_ready(api, hardened, USER)
        assert await names_of(kube, PersistentVolumeClaim) != []
        await delete(api, USER, pod)
        assert await watch_delete(api, USER, pod) is True


async def test_the_real_manifests_at_the_default_level(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """current-2026 manifests add NET_ADMIN: refused under baseline; the 2023 ones pass."""
    current = manifest_url(stack, "ubuntu_noble.yaml", "current-2026")
    await assert_refused(
        api,
        current,
        "baseline",
        [
            'non-default capabilities (container "ubuntu-noble" must not include "NET_ADMIN"',
            "spec.containers[0].securityContext.capabilities.add",
        ],
    )
    await assert_nothing_made(stack, kube)
    with trio.fail_after(30):
        pod = await create_ready(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
        await delete(api, USER, pod)
        assert await watch_delete(api, USER, pod) is True
        await stack.restart(podSecurity="privileged")
        pod = await create_ready(api, current, USER)
        await delete(api, USER, pod)
        assert await watch_delete(api, USER, pod) is True


async def test_the_deployed_namespace_carries_the_level(
    stack: Stack, kubectl_path: str, tmp_path: Path, kube: AsyncClient
) -> None:
    config = tmp_path / "admin.kubeconfig"
    stack.sim.write_kubeconfig(config)
    env = {"KUBECONFIG": str(config), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = await trio.run_process(
        [kubectl_path, "apply", "-k", str(DEPLOY_DIR)],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "namespace/sciencedata created" in done.stdout.decode()
    namespace = await kube.get(Namespace, "sciencedata")
    labels = namespace.metadata.labels if namespace.metadata else None
    assert labels is not None
    assert labels["pod-security.kubernetes.io/enforce"] == stack.settings.pod_security
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
