"""Issue 4 acceptance: every real manifest, with its storage, SSH, ingress and tokens.

Each manifest of each era is created for a user of its own (all at once), reaches its right
end state (Ready with its resources, or for the images built to fail a fast, clean failure),
and deleting it leaves no service, ingress, user PV/PVC or token file behind.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, Service
from lightkube.resources.networking_v1 import Ingress

from tests.e2e.conftest import SILO, Stack
from tests.e2e.helpers import (
    create,
    delete,
    get_pods,
    manifest_url,
    names_of,
    watch_create,
    watch_delete,
)
from tests.e2e.resources import Expected, era_manifests, expected, make_operator_claims
from userpods.naming import user_string


def user_for(era: str, index: int) -> str:
    return f"user{index}.{era.replace('-', '')}@sciencedata.dk"


async def check_ready_pod(
    stack: Stack, api: Any, kube: AsyncClient, user: str, name: str, want: Expected
) -> None:
    [info] = await get_pods(api, user)
    assert info["pod_name"] == name and info["owner"] == user
    assert info["status"].startswith("Running:"), info
    assert info["failure"] == ""
    domain = stack.settings.ingress_domain
    services = {
        s.metadata.name: s async for s in kube.list(Service, labels={"createdForPod": name})
    }
    if want.ssh:
        ssh = services.pop(f"{name}-ssh")
        assert ssh.spec.type == "NodePort"
        assert ssh.spec.selector == {"podName": name}
        port = ssh.spec.ports[0]
        assert (port.port, port.targetPort) == (22, 22)
        assert info["k8s_pod_info"] == {"sshPort": str(port.nodePort)}
        assert info["ssh_url"] == f"ssh://root@{domain}:{port.nodePort}"
    else:
        assert info["ssh_url"] == "" and "sshPort" not in info["k8s_pod_info"]
    if want.ingress_port:
        http = services.pop(f"{name}-http")
        assert http.spec.type == "ClusterIP"
        assert http.spec.ports[0].port == want.ingress_port
        ingress = await kube.get(Ingress, f"{name}-ingress")
        rule = ingress.spec.rules[0]
        assert rule.host == f"{name}.{domain}"
        path = rule.http.paths[0]
        assert (path.path, path.pathType) == ("/", "Prefix")
        assert path.backend.service.name == f"{name}-http"
        assert path.backend.service.port.number == want.ingress_port
        assert ingress.spec.tls[0].secretName == stack.settings.ingress_wildcard_secret
        assert ingress.spec.tls[0].hosts == [rule.host]
        assert info["url"] == f"https://{name}.{domain}"
    else:
        assert info["url"] == ""
    assert services == {}, "no other services are made for a pod"
    pod = await kube.get(Pod, name)
    made = [f"{name}-ssh"] * want.ssh + [f"{name}-http"] * bool(want.ingress_port)
    for service_name in made:
        refs = (await kube.get(Service, service_name)).metadata.ownerReferences
        assert [(r.kind, r.name, r.uid) for r in refs] == [("Pod", name, pod.metadata.uid)]
    assert sorted(info["tokens"]) == sorted(want.tokens)
    limit = stack.settings.token_byte_limit
    for key, value in info["tokens"].items():
        assert value and len(value.encode()) <= limit, key
    if "longkey" in info["tokens"]:
        assert info["tokens"]["longkey"] == "x" * limit  # 10000 bytes written, the limit read
    if want.tokens:
        assert (stack.settings.pod_cache_dir / name).is_file()
    storage = f"user-storage-{user_string(user)}"
    if want.storage:
        claim = await kube.get(PersistentVolumeClaim, storage)
        volume = await kube.get(PersistentVolume, storage)
        assert claim.status.phase == "Bound" and volume.status.phase == "Bound"
        assert claim.spec.volumeName == storage
        assert volume.spec.claimRef.name == storage
        assert volume.spec.nfs.server == SILO
        assert volume.spec.nfs.path == f"{stack.settings.nfs_storage_root}/{user}"
        assert volume.spec.capacity == {"storage": "10Gi"}
        assert volume.spec.accessModes == ["ReadWriteMany"]
        assert volume.spec.persistentVolumeReclaimPolicy == "Retain"
        assert volume.spec.storageClassName == "nfs"
        assert volume.spec.mountOptions == ["hard", "nfsvers=4.1"]
        name_part, _, domain_part = user.partition("@")
        assert volume.metadata.labels == {
            "name": storage,
            "user": name_part,
            "domain": domain_part,
            "server": SILO,
        }
        mounted = [
            v.persistentVolumeClaim.claimName for v in pod.spec.volumes if v.name == "sciencedata"
        ]
        assert mounted == [storage]


@pytest.mark.parametrize("era", ["testing-2023", "production-2023", "current-2026"])
async def test_every_manifest_reaches_its_end_state_and_leaves_nothing(
    era: str, stack: Stack, api: Any, kube: AsyncClient
) -> None:
    if era == "current-2026":  # each adds NET_ADMIN, which only podSecurity privileged admits
        await stack.restart(podSecurity="privileged")
    wanted = [expected(path) for path in era_manifests(era)]
    await make_operator_claims(kube, {c for w in wanted for c in w.operator_claims})
    operator_claims = await names_of(kube, PersistentVolumeClaim)
    operator_volumes = await names_of(kube, PersistentVolume)
    created: dict[str, tuple[str, str, Expected]] = {}
    outcomes: dict[str, bool] = {}

    async def run(index: int, want: Expected) -> None:
        user = user_for(era, index)
        name = await create(api, manifest_url(stack, want.file, era), user)
        created[want.file] = (user, name, want)
        outcomes[want.file] = await watch_create(api, user, name)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for index, want in enumerate(wanted):
                nursery.start_soon(run, index, want)
    assert outcomes == {w.file: w.ready for w in wanted}
    for user, name, want in created.values():
        if want.ready:
            await check_ready_pod(stack, api, kube, user, name, want)

    async def remove(user: str, name: str) -> None:
        await delete(api, user, name)
        assert await watch_delete(api, user, name) is True

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for user, name, want in created.values():
                if want.ready:
                    nursery.start_soon(remove, user, name)
    for user, _, _ in created.values():
        assert await get_pods(api, user) == []
    assert await names_of(kube, Pod) == []
    assert await names_of(kube, Service) == []
    assert await names_of(kube, Ingress) == []
    assert await names_of(kube, PersistentVolumeClaim) == operator_claims
    assert await names_of(kube, PersistentVolume) == operator_volumes
    assert list(stack.settings.pod_cache_dir.iterdir()) == []
