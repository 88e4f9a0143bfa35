"""lightkube's typed models decode every kind the simulated cluster serves.

lightkube decodes with msgspec into its generated models: a missing required field or a value
of the wrong JSON type fails the decode. Getting, listing and watching every kind, with pods
in each lifecycle state, checks the sim's objects against the Kubernetes schema.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.models.core_v1 import (
    PersistentVolumeClaimVolumeSource,
    ServicePort,
    ServiceSpec,
    Volume,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.networking_v1 import (
    HTTPIngressPath,
    HTTPIngressRuleValue,
    IngressBackend,
    IngressRule,
    IngressServiceBackend,
    IngressSpec,
    IngressTLS,
    ServiceBackendPort,
)
from lightkube.resources.core_v1 import (
    ConfigMap,
    Event,
    Namespace,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
    ServiceAccount,
)
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.resources.networking_v1 import Ingress

from .helpers import make_pod, wait_for, waiting_reason
from .test_controllers import claim, nfs_volume

NAMESPACED = (
    Pod,
    Service,
    PersistentVolumeClaim,
    Event,
    ConfigMap,
    Secret,
    ServiceAccount,
    Ingress,
    EndpointSlice,
)
CLUSTER = (PersistentVolume, Namespace, Node)


def phase(*phases: str) -> Any:
    return lambda obj: obj.status is not None and obj.status.phase in phases


async def _populate(kube: AsyncClient) -> None:
    """One of everything, pods in every state the kubelet produces."""
    await kube.create(make_pod("running", "example/jupyter:1"))
    await kube.create(make_pod("unscheduled", unscheduled=True))
    missing = [
        Volume(name="v", persistentVolumeClaim=PersistentVolumeClaimVolumeSource(claimName="no"))
    ]
    await kube.create(make_pod("unschedulable", volumes=missing))
    await kube.create(make_pod("failed", "example/test_fail_start:1", restart_policy="Never"))
    await kube.create(
        make_pod("succeeded", "example/test_finish_entrypoint:1", restart_policy="Never")
    )
    await kube.create(make_pod("nopull", "example/does-not-exist:1"))
    await kube.create(make_pod("crashing", "example/test_fail_start:1"))
    await kube.create(
        Pod.from_dict(
            {
                "metadata": {"name": "config"},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example/app:1",
                            "env": [
                                {
                                    "name": "X",
                                    "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}},
                                }
                            ],
                        }
                    ]
                },
            }
        )
    )
    terminating = make_pod("terminating")
    terminating.metadata.finalizers = ["example.com/hold"]
    await kube.create(terminating)

    await kube.create(
        Service(
            metadata=ObjectMeta(name="cip"),
            spec=ServiceSpec(ports=[ServicePort(port=80, name="http")], selector={"a": "b"}),
        )
    )
    await kube.create(
        Service(
            metadata=ObjectMeta(name="np"),
            spec=ServiceSpec(
                type="NodePort",
                ports=[ServicePort(port=22, name="ssh"), ServicePort(port=80, name="http")],
                selector={"a": "b"},
            ),
        )
    )
    await kube.create(
        Service(
            metadata=ObjectMeta(name="headless"),
            spec=ServiceSpec(clusterIP="None", ports=[ServicePort(port=80)], selector={"a": "b"}),
        )
    )
    await kube.create(nfs_volume("pv-bound", "bound"))
    await kube.create(claim("bound", "pv-bound"))
    await kube.create(nfs_volume("pv-waiting", "never-created"))
    await kube.create(claim("waiting", "pv-missing"))
    await kube.create(ConfigMap.from_dict({"metadata": {"name": "cm"}, "data": {"a": "b"}}))
    await kube.create(
        Secret.from_dict(
            {
                "metadata": {"name": "sec"},
                "data": {"k": base64.b64encode(b"v").decode()},
                "stringData": {"s": "plain"},
            }
        )
    )
    await kube.create(ServiceAccount(metadata=ObjectMeta(name="robot")))
    await kube.create(
        Ingress(
            metadata=ObjectMeta(name="ing", annotations={"kubernetes.io/ingress.class": "nginx"}),
            spec=IngressSpec(
                tls=[IngressTLS(hosts=["a.example.org"], secretName="tls")],
                rules=[
                    IngressRule(
                        host="a.example.org",
                        http=HTTPIngressRuleValue(
                            paths=[
                                HTTPIngressPath(
                                    path="/",
                                    pathType="Prefix",
                                    backend=IngressBackend(
                                        service=IngressServiceBackend(
                                            name="cip", port=ServiceBackendPort(number=80)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
        )
    )
    await kube.create(Namespace(metadata=ObjectMeta(name="leaving")))

    # Let every pod reach the state it is here for.
    await wait_for(kube, Pod, "running", phase("Running"))
    await wait_for(kube, Pod, "failed", phase("Failed"))
    await wait_for(kube, Pod, "succeeded", phase("Succeeded"))
    await wait_for(kube, Pod, "nopull", lambda p: waiting_reason(p) == "ImagePullBackOff")
    await wait_for(kube, Pod, "crashing", lambda p: waiting_reason(p) == "CrashLoopBackOff")
    await wait_for(kube, Pod, "config", lambda p: waiting_reason(p) == "CreateContainerConfigError")
    await wait_for(
        kube,
        Pod,
        "unschedulable",
        lambda p: any(c.type == "PodScheduled" for c in p.status.conditions or []),
    )
    await wait_for(kube, Pod, "terminating", phase("Running"))
    await kube.delete(Pod, "terminating")
    await wait_for(kube, Pod, "terminating", lambda p: p.metadata.deletionGracePeriodSeconds == 0)
    await wait_for(kube, PersistentVolumeClaim, "bound", phase("Bound"))
    await wait_for(kube, PersistentVolume, "pv-waiting", phase("Available"))
    # Released: a bound volume whose claim went away.
    await kube.create(nfs_volume("pv-released", "gone"))
    await kube.create(claim("gone", "pv-released"))
    await wait_for(kube, PersistentVolumeClaim, "gone", phase("Bound"))
    await kube.delete(PersistentVolumeClaim, "gone")
    await wait_for(kube, PersistentVolume, "pv-released", phase("Released"))
    # A namespace held in Terminating by an object with a finalizer.
    await kube.create(
        ConfigMap.from_dict({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
        namespace="leaving",
    )
    await kube.delete(Namespace, "leaving")
    await wait_for(kube, Namespace, "leaving", phase("Terminating"))


async def test_every_kind_decodes_with_lightkube_models(kube: AsyncClient) -> None:
    await _populate(kube)
    counts: dict[str, int] = {}
    for res in NAMESPACED + CLUSTER:
        kwargs: dict[str, Any] = {"namespace": "*"} if res in NAMESPACED else {}
        listed = [obj async for obj in kube.list(res, **kwargs)]
        assert listed, res
        counts[res.__name__] = len(listed)
        for obj in listed:
            namespace = obj.metadata.namespace
            got = await kube.get(res, obj.metadata.name, namespace=namespace)
            assert got.metadata.uid == obj.metadata.uid
            assert got.metadata.resourceVersion
            assert got.metadata.creationTimestamp is not None
            # The typed model round-trips into a dict with the same identity.
            assert got.to_dict()["metadata"]["name"] == obj.metadata.name
    assert counts["Pod"] >= 9
    assert counts["Node"] == 3
    pods = {p.metadata.name: p async for p in kube.list(Pod)}
    assert pods["terminating"].metadata.deletionTimestamp is not None
    secret = await kube.get(Secret, "sec")
    assert secret.data == {
        "k": base64.b64encode(b"v").decode(),
        "s": base64.b64encode(b"plain").decode(),
    }
    assert secret.stringData is None  # write-only: merged into data by the apiserver
    np = await kube.get(Service, "np")
    assert np.spec is not None
    assert all(30000 <= (p.nodePort or 0) <= 32767 for p in np.spec.ports or [])
    assert np.spec.clusterIP == (np.spec.clusterIPs or [""])[0]
    headless = await kube.get(Service, "headless")
    assert headless.spec is not None
    assert headless.spec.clusterIP == "None"


async def test_every_kind_decodes_from_watch_streams(kube: AsyncClient) -> None:
    await _populate(kube)
    for res in NAMESPACED + CLUSTER:
        kwargs: dict[str, Any] = {"namespace": "*"} if res in NAMESPACED else {}
        listing = kube.list(res, **kwargs)
        expected = {(o.metadata.namespace, o.metadata.name) async for o in listing}
        seen: set[tuple[str | None, str]] = set()
        with trio.fail_after(5):
            async with contextlib.aclosing(
                kube.watch(res, resource_version="0", **kwargs)
            ) as stream:
                async for type_, obj in stream:
                    assert type_ in ("ADDED", "MODIFIED", "DELETED")
                    seen.add((obj.metadata.namespace, obj.metadata.name))
                    if expected <= seen:
                        break
