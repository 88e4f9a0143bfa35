"""Issue 5: the daemon runs with exactly the rights manifests/ grants, exposes metrics, and
the deployment manifests apply to a cluster."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.rbac_authorization_v1 import ClusterRole, Role
from lightkube.types import PatchType

from tests.e2e.conftest import DAEMON_ACCOUNT, DEPLOY_DIR, NAMESPACE, Stack
from tests.e2e.helpers import (
    assert_error,
    create,
    get_pods,
    manifest_url,
    post_create,
    watch_create,
)

USER = "fror@dtu.dk"


async def drop_verb(kube: AsyncClient, resource: str, verb: str) -> None:
    role = await kube.get(Role, DAEMON_ACCOUNT)
    rules = [r.to_dict() for r in role.rules]
    for rule in rules:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    rules = [rule for rule in rules if rule["verbs"]]  # a rule needs at least one verb
    await kube.patch(Role, DAEMON_ACCOUNT, {"rules": rules}, patch_type=PatchType.MERGE)


async def test_the_daemon_runs_as_its_service_account(stack: Stack, api: Any) -> None:
    await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    counters = stack.sim.api.counters.snapshot()
    assert counters["requests"]["create"]["pods"] >= 1
    # The sim saw the service account's token, not the admin's.
    assert stack.daemon_token in stack.sim.api.tokens
    assert stack.sim.api.tokens[stack.daemon_token].name == (
        f"system:serviceaccount:{NAMESPACE}:{DAEMON_ACCOUNT}"
    )


async def test_a_verb_missing_from_the_role_fails_with_403(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await drop_verb(kube, "pods", "create")
    reply = await post_create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    error = assert_error(reply, 502)
    assert "forbidden" in error and 'cannot create resource "pods"' in error, error


async def test_a_missing_exec_right_leaves_the_tokens_out_and_says_why(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """As the original: the pod is kept without its tokens (see test_tokens.py); the log
    names the refusal, and /metrics counts the missing keys and the failed execs."""
    await drop_verb(kube, "pods/exec", "create")
    await stack.restart(tokenCopyTimeout="0.5s")
    name = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    with caplog.at_level(logging.WARNING), trio.fail_after(10):
        assert await watch_create(api, USER, name) is True
    [info] = await get_pods(api, USER)
    assert info["tokens"] == {}
    refusals = [r.getMessage() for r in caplog.records if "/tmp/rsaHostKeyHash" in r.getMessage()]
    assert len(refusals) == 1 and "403" in refusals[0], refusals
    metrics = (await api("/metrics")).text
    assert 'userpods_tokens_missing_total{key="rsaHostKeyHash"} 1.0' in metrics


async def test_a_missing_volume_right_fails_the_storage_step(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await kube.patch(
        ClusterRole,
        stack.cluster_role,
        {
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["persistentvolumes"],
                    "verbs": ["get", "list", "watch", "patch", "delete"],
                }
            ]
        },
        patch_type=PatchType.MERGE,
    )
    name = await create(api, manifest_url(stack, "caddy_sciencedata.yaml"), USER)
    with caplog.at_level(logging.WARNING, logger="userpods.daemon"), trio.fail_after(10):
        assert await watch_create(api, USER, name) is False
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert any(
        "step user-storage" in m and 'cannot create resource "persistentvolumes"' in m
        for m in failures
    ), failures


async def test_metrics_after_a_few_creations(stack: Stack, api: Any) -> None:
    files = ("ubuntu_sciencedata.yaml", "python_worker.yaml", "test_fail_start.yaml")
    names = [await create(api, manifest_url(stack, file), USER) for file in files]
    with trio.fail_after(10):
        outcomes = [await watch_create(api, USER, n) for n in names]
    assert outcomes == [True, True, False]
    await get_pods(api, USER)
    reply = await api("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.text

    def value(pattern: str) -> float:
        match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, flags=re.MULTILINE)
        assert match, pattern
        return float(match.group(1))

    assert value(r'userpods_creations_total\{outcome="ready",reason=""\}') == 2
    assert value(r'userpods_creations_total\{outcome="failed",reason="Terminated"\}') == 1
    assert value("userpods_creation_seconds_count") == 2
    assert 0 < value("userpods_creation_seconds_sum") < 20
    assert value(r'userpods_http_requests_total\{endpoint="/create_pod",status="200"\}') == 3
    assert value(r'userpods_http_requests_total\{endpoint="/get_pods",status="200"\}') >= 1
    assert value(r'userpods_flows_in_flight\{flow="create"\}') == 0
    assert value(r'userpods_kubernetes_requests_total\{outcome="ok",verb="create"\}') >= 3
    # the five kinds of the cache, and the pods' Events (creation progress)
    assert value(r'userpods_kubernetes_requests_total\{outcome="ok",verb="watch"\}') == 6
    for kind in ("Pod", "Service", "Ingress", "PersistentVolumeClaim", "PersistentVolume"):
        assert 0 <= value(rf'userpods_cache_age_seconds\{{kind="{kind}"\}}') < 60
        assert value(rf'userpods_watch_restarts_total\{{kind="{kind}"\}}') == 0
    # the process's own figures, for sizing the daemon (docs/operating.md, Capacity)
    assert value("process_resident_memory_bytes") > 10 * 2**20
    assert value("process_cpu_seconds_total") > 0


async def test_apply_k_deploys_to_the_cluster(
    stack: Stack, kubectl_path: str, tmp_path: Path
) -> None:
    config = tmp_path / "admin.kubeconfig"
    stack.sim.write_kubeconfig(config)
    env = {"KUBECONFIG": str(config), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    await trio.run_process(
        [kubectl_path, "apply", "-f", "-"],
        env=env,
        stdin=(b"apiVersion: v1\nkind: Namespace\nmetadata: {name: sciencedata}\n"),
        capture_stdout=True,
    )
    done = await trio.run_process(
        [kubectl_path, "apply", "-k", str(DEPLOY_DIR)],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    for made in (
        "serviceaccount/user-pods-backend",
        "role.rbac.authorization.k8s.io/",
        "clusterrole.rbac.authorization.k8s.io/",
        "rolebinding.rbac.authorization",
        "clusterrolebinding.rbac.authorization",
        "deployment.apps/user-pods-backend",
        "service/user-pods-backend",
        "ingress.networking.k8s.io/user-pods-backend",
    ):
        assert made in out, out
    again = await trio.run_process(
        [kubectl_path, "apply", "-k", str(DEPLOY_DIR)], env=env, capture_stdout=True, check=False
    )
    assert again.returncode == 0 and "unchanged" in again.stdout.decode()
