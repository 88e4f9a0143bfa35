"""Taking over from the original: ScienceData switches by deleting the Go backend's Deployment
with users' pods and storage still in the cluster, and starting userpods in its place.

The simulated cluster is first filled the way the original fills it: pods labelled
user/domain/podName with none of our annotations, ``<pod>-ssh`` / ``<pod>-http`` services and a
``<pod>-ingress`` labelled ``createdForPod`` with no owner references, and per-user
``user-storage-<user string>`` PV/PVC pairs (labels name/user/domain/server) bound to running
pods; plus another namespace's storage, which must stay untouched.
"""

from __future__ import annotations

from typing import Any

import trio
import yaml
from lightkube import AsyncClient, codecs
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, Service
from lightkube.resources.networking_v1 import Ingress

from tests.conftest import MANIFESTS
from tests.e2e.conftest import NAMESPACE, SILO, TEST_LABEL, Stack
from tests.e2e.helpers import (
    assert_json,
    create,
    delete,
    leftovers,
    listed,
    manifest_url,
    names_of,
    orphans,
    vanishes,
    wait_pod,
    watch_create,
    watch_delete,
)

USER, NAME, DOMAIN = "fror@dtu.dk", "fror", "dtu.dk"
POD = "ubuntu-caddy-fror-dtu-dk"  # the original's name for the caddy manifest of this user
STORAGE = "user-storage-fror-dtu-dk"
GONE = "user-storage-gone-dtu-dk"  # storage of a user whose pods are all gone
ELSEWHERE = "user-storage-bob-uni-dk"  # the testing deployment's, in another namespace
OTHER_NAMESPACE = f"{NAMESPACE}-testing"  # that deployment's (unique on a shared real cluster)


def _storage(name: str, user: str, domain: str, namespace: str) -> list[dict[str, Any]]:
    labels = {"name": name, "user": user, "domain": domain, "server": SILO}
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        # The test label lets a real cluster's teardown find the volume; the original's labels
        # are the ones that count.
        "metadata": {"name": name, "labels": {**labels, TEST_LABEL: NAMESPACE}},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "capacity": {"storage": "10Gi"},
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "nfs",
            "nfs": {"server": SILO, "path": f"/tank/storage/{user}@{domain}"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": namespace, "name": name},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "nfs",
            "volumeName": name,
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }
    return [volume, claim]


def _originals_pod(stack: Stack) -> dict[str, Any]:
    pod = yaml.safe_load((MANIFESTS / "testing-2023" / "caddy_sciencedata.yaml").read_text())
    meta, spec = pod["metadata"], pod["spec"]
    meta["name"] = POD
    meta["namespace"] = NAMESPACE
    meta["labels"] = {**meta["labels"], "user": NAME, "domain": DOMAIN, "podName": POD}
    meta["annotations"]["sciencedata.dk/copy-token"] = "ed25519HostKeyHash"
    main = spec["containers"][0]
    main["image"] = main["image"].replace("LOCALREGISTRY", stack.settings.local_registry_url)
    main["env"] += [
        {"name": "HOME_SERVER_IP", "value": "10.2.0.20"},
        {"name": "SD_UID", "value": USER},
    ]
    spec["volumes"] = [{"name": "sciencedata", "persistentVolumeClaim": {"claimName": STORAGE}}]
    return pod


def _labelled(kind: str, name: str, pod: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {"createdForPod": pod}}


def _originals_extras(stack: Stack, pod: str) -> list[dict[str, Any]]:
    host = f"{pod}.{stack.settings.ingress_domain}"
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _labelled("Service", f"{pod}-ssh", pod),
            "spec": {
                "type": "NodePort",
                "selector": {"podName": pod},
                "ports": [{"name": "ssh", "port": 22, "targetPort": 22}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _labelled("Service", f"{pod}-http", pod),
            "spec": {"selector": {"podName": pod}, "ports": [{"port": 80, "targetPort": 80}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _labelled("Ingress", f"{pod}-ingress", pod),
            "spec": {
                "tls": [{"hosts": [host], "secretName": "user-pods-wildcard"}],
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {
                                            "name": f"{pod}-http",
                                            "port": {"number": 80},
                                        }
                                    },
                                }
                            ]
                        },
                    }
                ],
            },
        },
    ]


async def _fill_as_the_original(stack: Stack, kube: AsyncClient) -> None:
    admin = AsyncClient(stack.admin_kube_config())
    try:
        await admin.create(
            codecs.from_dict(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": OTHER_NAMESPACE, "labels": {TEST_LABEL: NAMESPACE}},
                }
            )
        )
        objects = [
            *_storage(STORAGE, NAME, DOMAIN, NAMESPACE),
            *_storage(GONE, "gone", DOMAIN, NAMESPACE),
            *_storage(ELSEWHERE, "bob", "uni.dk", OTHER_NAMESPACE),
            _originals_pod(stack),
            *_originals_extras(stack, POD),
            *_originals_extras(stack, "ghost-gone-dtu-dk")[:1],  # its pod is long gone
        ]
        for obj in objects:
            namespace = obj["metadata"].get("namespace")
            await admin.create(codecs.from_dict(obj), namespace=namespace)
    finally:
        await admin.close()
    with trio.fail_after(10):
        await wait_pod(
            kube,
            POD,
            lambda _, p: any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or []
            ),
        )


async def test_taking_over_a_cluster_the_original_ran(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    stack.crash()  # the original ran the cluster until now
    await _fill_as_the_original(stack, kube)
    await stack.start()
    with trio.fail_after(20):
        await stack.daemon.settled.wait()  # start-up: tokens copied again, leftovers cleaned

    # The original's pod is listed with its SSH port, URLs and tokens.
    info = (await listed(api, USER))[POD]
    ssh = await kube.get(Service, f"{POD}-ssh")
    port = str(ssh.spec.ports[0].nodePort)
    assert info["k8s_pod_info"]["sshPort"] == port
    assert info["ssh_url"] == f"ssh://root@{stack.settings.ingress_domain}:{port}"
    assert info["url"] == f"https://{POD}.{stack.settings.ingress_domain}"
    assert set(info["tokens"]) == {"ed25519HostKeyHash"}
    assert info["status"].startswith("Running:")

    # The start-up clean-up took the original's leftovers in this namespace only.
    assert await vanishes(kube, PersistentVolume, GONE)
    assert "ghost-gone-dtu-dk-ssh" not in await names_of(kube, Service)
    assert ELSEWHERE in await names_of(kube, PersistentVolume)

    # A new pod of the user mounts the same storage: no second volume for the NFS path.
    with trio.fail_after(20):
        new = await create(api, manifest_url(stack, "caddy_sciencedata.yaml"), USER)
        assert await watch_create(api, USER, new)
    assert new == f"{POD}-1"
    pod = await kube.get(Pod, new)
    claims = [
        v.persistentVolumeClaim.claimName for v in pod.spec.volumes if v.persistentVolumeClaim
    ]
    assert STORAGE in claims
    volumes = [v async for v in kube.list(PersistentVolume) if v.spec.nfs.path.endswith(USER)]
    assert [v.metadata.name for v in volumes] == [STORAGE]

    # Deleting the original's pod removes its services and ingress (no owner references).
    assert_json(await delete(api, USER, POD))
    with trio.fail_after(20):
        assert await watch_delete(api, USER, POD) is True
    assert [
        n
        for n in await names_of(kube, Service)
        if n.startswith(f"{POD}-") and not n.startswith(new)
    ] == []
    assert f"{POD}-ingress" not in await names_of(kube, Ingress)
    assert STORAGE in await names_of(kube, PersistentVolumeClaim)  # still in use by the new one

    # The user's last pod gone: the adopted storage goes with it, as the daemon's own does.
    assert_json(await delete(api, USER, new))
    with trio.fail_after(20):
        assert await watch_delete(api, USER, new) is True
    assert STORAGE not in await names_of(kube, PersistentVolumeClaim)
    assert STORAGE not in await names_of(kube, PersistentVolume)
    assert await orphans(kube) == []
    assert await leftovers(kube, USER) == []
    elsewhere = await kube.get(PersistentVolume, ELSEWHERE)
    assert elsewhere.metadata.deletionTimestamp is None
