"""Label and field selectors on list, through lightkube (and raw HTTP for ``==``)."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube import operators as op
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Node, Pod, Service

from userpods.sim import SimCluster

from .helpers import make_pod, raw_client, wait_for

LABELLED = {
    "web-1": {"app": "web", "tier": "frontend"},
    "web-2": {"app": "web", "tier": "backend", "env": "prod"},
    "db-1": {"app": "db", "env": "prod"},
    "bare": {},
}


@pytest.fixture
async def labelled(kube: AsyncClient) -> None:
    """The pods of LABELLED (request it as an argument: pytest-trio does not wait for
    ``usefixtures`` async fixtures before the test starts)."""
    for name, labels in LABELLED.items():
        await kube.create(make_pod(name, unscheduled=True, labels=labels))


async def _names(kube: AsyncClient, **kwargs: Any) -> set[str]:
    return {p.metadata.name async for p in kube.list(Pod, **kwargs)}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web"}, {"web-1", "web-2"}),
        ({"app": op.equal("db")}, {"db-1"}),
        ({"app": op.not_equal("web")}, {"db-1", "bare"}),  # != matches objects without the key
        ({"tier": op.in_(["frontend", "backend"])}, {"web-1", "web-2"}),
        ({"env": op.not_in(["prod"])}, {"web-1", "bare"}),  # notin too
        ({"env": op.exists()}, {"web-2", "db-1"}),
        ({"env": op.not_exists()}, {"web-1", "bare"}),
        ({"app": "web", "env": "prod"}, {"web-2"}),  # comma is AND
        ({"app": op.in_(["web", "db"]), "tier": op.not_equal("backend")}, {"web-1", "db-1"}),
        ({"app": "nothing"}, set()),
    ],
)
async def test_label_selectors(
    kube: AsyncClient, labelled: None, labels: Any, expected: set[str]
) -> None:
    assert await _names(kube, labels=labels) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app==web", {"web-1", "web-2"}),
        ("app=web", {"web-1", "web-2"}),
        ("app!=web", {"db-1", "bare"}),
        ("env in (prod),app notin (db)", {"web-2"}),
        ("!env", {"web-1", "bare"}),
        ("env", {"web-2", "db-1"}),
        (" app = web , tier = frontend ", {"web-1"}),
    ],
)
async def test_label_selector_strings(
    sim: SimCluster, labelled: None, selector: str, expected: set[str]
) -> None:
    async with raw_client(sim) as client:
        response = await client.get(
            "/api/v1/namespaces/test/pods", params={"labelSelector": selector}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "PodList"
    assert {p["metadata"]["name"] for p in body["items"]} == expected
    assert all("kind" not in p for p in body["items"])


@pytest.mark.parametrize("selector", ["app=(x", "app in ()", "a b"])
async def test_bad_label_selector_is_400(sim: SimCluster, selector: str) -> None:
    async with raw_client(sim) as client:
        response = await client.get(
            "/api/v1/namespaces/test/pods", params={"labelSelector": selector}
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["reason"] == "BadRequest"


async def test_field_selectors_on_pods(kube: AsyncClient) -> None:
    await kube.create(make_pod("runner"))
    await kube.create(make_pod("waiter", unscheduled=True))
    running = await wait_for(
        kube, Pod, "runner", lambda p: p.status is not None and p.status.phase == "Running"
    )
    node = running.spec.nodeName if running.spec else None
    assert node

    assert await _names(kube, fields={"metadata.name": "runner"}) == {"runner"}
    assert await _names(kube, fields={"metadata.name": op.not_equal("runner")}) == {"waiter"}
    assert await _names(kube, fields={"status.phase": "Running"}) == {"runner"}
    assert await _names(kube, fields={"status.phase": "Pending"}) == {"waiter"}
    assert await _names(kube, fields={"spec.nodeName": node}) == {"runner"}
    # An empty value selects pods that have no node yet (how kubectl finds unscheduled pods).
    assert await _names(kube, fields={"spec.nodeName": ""}) == {"waiter"}
    assert await _names(kube, fields={"spec.nodeName": op.not_equal("")}) == {"runner"}
    assert (
        await _names(kube, fields={"status.phase": "Running", "metadata.name": "waiter"}) == set()
    )
    assert await _names(kube, fields={"metadata.namespace": "test"}) == {"runner", "waiter"}
    # Across namespaces, field selectors still apply.
    everywhere = {
        (p.metadata.namespace, p.metadata.name)
        async for p in kube.list(Pod, namespace="*", fields={"metadata.name": "runner"})
    }
    assert everywhere == {("test", "runner")}


@pytest.mark.parametrize(
    ("res", "field"),
    [(Pod, "spec.containers"), (Pod, "x"), (Node, "status.phase"), (Service, "spec.ports")],
)
async def test_unsupported_field_is_400(kube: AsyncClient, res: Any, field: str) -> None:
    with pytest.raises(ApiError) as info:
        _ = [o async for o in kube.list(res, fields={field: "1"})]
    assert info.value.status.code == 400
    assert info.value.status.reason == "BadRequest"
    assert info.value.status.message == f"field label not supported: {field}"


async def test_field_selectors_on_services_and_events(kube: AsyncClient) -> None:
    await kube.create(
        Service(
            metadata=ObjectMeta(name="np"),
            spec=ServiceSpec(type="NodePort", ports=[ServicePort(port=80)], selector={"a": "b"}),
        )
    )
    await kube.create(
        Service(
            metadata=ObjectMeta(name="cip"),
            spec=ServiceSpec(ports=[ServicePort(port=80)], selector={"a": "b"}),
        )
    )
    names = {s.metadata.name async for s in kube.list(Service, fields={"spec.type": "NodePort"})}
    assert names == {"np"}
    await kube.create(make_pod("ev"))
    await wait_for(kube, Pod, "ev", lambda p: p.status is not None and p.status.phase == "Running")
    events = [
        e
        async for e in kube.list(Event, fields={"involvedObject.name": "ev", "reason": "Scheduled"})
    ]
    assert len(events) == 1
    assert events[0].source is not None
    assert events[0].source.component == "default-scheduler"
    kubelet = [
        e.reason
        async for e in kube.list(Event, fields={"involvedObject.name": "ev", "source": "kubelet"})
    ]
    assert {"Pulling", "Pulled", "Created", "Started"} <= set(kubelet)
    assert "Scheduled" not in kubelet
