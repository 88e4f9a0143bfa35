"""lightkube's AsyncClient under trio against the simulated cluster: CRUD, selectors, exec."""

from __future__ import annotations

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Node, Pod


def make_pod(name: str, image: str = "example/app", **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, labels=labels or None),
        spec=PodSpec(containers=[Container(name="main", image=image)]),
    )


async def test_cluster_has_nodes_and_namespaces(kube: AsyncClient) -> None:
    nodes = [n.metadata.name async for n in kube.list(Node)]
    assert nodes == ["node-1", "node-2", "node-3"]
    names = {ns.metadata.name async for ns in kube.list(Namespace)}
    assert {"default", "kube-system", "test"} <= names


async def test_create_get_delete_pod(kube: AsyncClient) -> None:
    created = await kube.create(make_pod("p1", app="x"))
    assert created.metadata.uid
    assert created.spec.restartPolicy == "Always"
    assert created.status.phase == "Pending"
    got = await kube.get(Pod, "p1")
    assert got.metadata.uid == created.metadata.uid
    with pytest.raises(ApiError) as info:
        await kube.create(make_pod("p1"))
    assert info.value.status.code == 409
    assert info.value.status.reason == "AlreadyExists"
    await kube.delete(Pod, "p1", grace_period=0)
    with pytest.raises(ApiError) as info:
        await kube.get(Pod, "p1")
    assert info.value.status.code == 404
    assert info.value.status.message == 'pods "p1" not found'
