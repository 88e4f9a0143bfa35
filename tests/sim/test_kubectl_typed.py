"""kubectl's typed commands, which send protobuf (``create namespace``, ``create secret
generic|tls|docker-registry``, ``create configmap``, ``create serviceaccount``): operators run
exactly these for the wildcard TLS secret and the registry secret. Before the simulated
cluster decoded protobuf they all failed with 415."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import trustme

from userpods.sim import SimCluster

from .test_kubectl import Kubectl

pytestmark = pytest.mark.kubectl


@pytest.fixture
def kubectl(sim: SimCluster, kubectl_path: str, tmp_path: Path) -> Kubectl:
    assert sim.kubeconfig_path is not None
    return Kubectl(kubectl_path, sim.kubeconfig_path, tmp_path)


async def test_typed_create_commands(kubectl: Kubectl, tmp_path: Path) -> None:
    assert await kubectl.ok("create", "namespace", "made") == "namespace/made created\n"
    namespace = await kubectl.json("get", "namespace", "made")
    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "made"}
    assert namespace["status"] == {"phase": "Active"}

    await kubectl.ok(
        "create", "secret", "generic", "gen", "--from-literal=user=u1", "--from-literal=empty="
    )
    generic = await kubectl.json("get", "secret", "gen")
    assert generic["type"] == "Opaque"
    assert generic["data"] == {"user": base64.b64encode(b"u1").decode(), "empty": ""}

    cert = trustme.CA().issue_cert("*.example.org")
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(crt))
    cert.private_key_pem.write_to_path(str(key))
    await kubectl.ok("create", "secret", "tls", "wildcard", f"--cert={crt}", f"--key={key}")
    tls = await kubectl.json("get", "secret", "wildcard")
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]) == crt.read_bytes()

    await kubectl.ok(
        "create",
        "secret",
        "docker-registry",
        "registry",
        "--docker-server=r.example.org",
        "--docker-username=u",
        "--docker-password=p",
    )
    registry = await kubectl.json("get", "secret", "registry")
    assert registry["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(registry["data"][".dockerconfigjson"]))
    assert config["auths"]["r.example.org"]["username"] == "u"

    await kubectl.ok("create", "configmap", "settings", "--from-literal=a=1")
    assert (await kubectl.json("get", "configmap", "settings"))["data"] == {"a": "1"}
    again = await kubectl.run("create", "configmap", "settings", "--from-literal=a=1")
    assert again.code == 1
    assert 'configmaps "settings" already exists' in again.err

    await kubectl.ok("create", "serviceaccount", "robot")
    assert (await kubectl.json("get", "serviceaccount", "robot"))["metadata"]["name"] == "robot"
