"""Authorization facts measured against a real v1.37 apiserver (tests/differential), guarded
here without one: OwnerReferencesPermissionEnforcement, what a websocket exec needs, anonymous
requests, and namespaces' own requests being in their namespace."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from userpods.sim import SimCluster
from userpods.sim import kinds as k

from .helpers import raw_client

NS = "test"
PODS = f"/api/v1/namespaces/{NS}/pods"
WS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
}
MERGE = {"Content-Type": "application/merge-patch+json"}
POD_VERBS = ["get", "list", "create", "update", "patch"]


def rule(resource: str, *verbs: str) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": [resource], "verbs": list(verbs)}


@asynccontextmanager
async def account(
    sim: SimCluster, name: str, rules: list[dict[str, Any]]
) -> AsyncIterator[httpx2.AsyncClient]:
    """A client acting as service account ``name``, bound to a Role with ``rules``."""
    sim.registry.create(k.SERVICEACCOUNT, NS, {"metadata": {"name": name}})
    sim.registry.create(k.ROLE, NS, {"metadata": {"name": name}, "rules": rules})
    sim.registry.create(
        k.ROLEBINDING,
        NS,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}],
        },
    )
    token = sim.api.issue_token(NS, name, {})["status"]["token"]
    context = ssl.create_default_context(cadata=sim.ca_pem)
    async with httpx2.AsyncClient(
        base_url=sim.url, verify=context, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def pod(name: str, refs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if refs is not None:
        meta["ownerReferences"] = refs
    return {
        "metadata": meta,
        "spec": {"schedulerName": "nobody", "containers": [{"name": "c", "image": "x"}]},
    }


def owner_ref(owner: dict[str, Any], block: bool | None) -> dict[str, Any]:
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": owner["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


def forbidden(name: str, why: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods "{name}" is forbidden: {why}',
        "reason": "Forbidden",
        "details": {"name": name, "kind": "pods"},
        "code": 403,
    }


NO_FINALIZERS = (
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
    "finalizers on: , <nil>"
)
NO_DELETE = "cannot set an ownerRef on a resource you can't delete: , <nil>"


async def test_block_owner_deletion_needs_update_on_the_owners_finalizers(
    sim: SimCluster,
) -> None:
    owner = sim.registry.create(k.POD, NS, pod("owner"))
    async with account(sim, "nofin", [rule("pods", *POD_VERBS, "delete")]) as client:
        refused = await client.post(PODS, json=pod("o1", [owner_ref(owner, True)]))
        assert refused.status_code == 403
        assert refused.json() == forbidden("o1", NO_FINALIZERS)
        # Without blockOwnerDeletion an owner reference needs nothing more.
        assert (
            await client.post(PODS, json=pod("o2", [owner_ref(owner, None)]))
        ).status_code == 201
        patched = await client.patch(
            f"{PODS}/o2",
            json={"metadata": {"ownerReferences": [owner_ref(owner, True)]}},
            headers=MERGE,
        )
        assert patched.json() == forbidden("o2", NO_FINALIZERS)
    rules = [rule("pods", *POD_VERBS, "delete"), rule("pods/finalizers", "update")]
    async with account(sim, "fin", rules) as client:
        made = await client.post(PODS, json=pod("o3", [owner_ref(owner, True)]))
        assert made.status_code == 201, made.text


async def test_changing_owner_references_needs_delete_on_the_object(sim: SimCluster) -> None:
    owner = sim.registry.create(k.POD, NS, pod("owner"))
    async with account(sim, "nodelete", [rule("pods", *POD_VERBS)]) as client:
        # Creating with owner references needs no delete right (measured) ...
        created = await client.post(PODS, json=pod("o1", [owner_ref(owner, False)]))
        assert created.status_code == 201, created.text
        # ... and a change that keeps them neither; changing them does.
        kept = await client.patch(
            f"{PODS}/o1", json={"metadata": {"labels": {"a": "b"}}}, headers=MERGE
        )
        assert kept.status_code == 200
        changed = await client.patch(
            f"{PODS}/o1", json={"metadata": {"ownerReferences": None}}, headers=MERGE
        )
        assert changed.json() == forbidden("o1", NO_DELETE)


async def test_websocket_exec_needs_get_and_create(sim: SimCluster) -> None:
    sim.registry.create(k.POD, NS, pod("target"))
    exec_path = f"{PODS}/target/exec?command=true&stdout=true"
    expected = {
        "exec-create": (403, 'cannot get resource "pods/exec"'),
        "exec-get": (403, None),
        "exec-both": (400, "pod target does not have a host assigned"),
    }
    for name, verbs in (
        ("exec-create", ["create"]),
        ("exec-get", ["get"]),
        ("exec-both", ["get", "create"]),
    ):
        async with account(sim, name, [rule("pods/exec", *verbs)]) as client:
            response = await client.get(exec_path, headers=WS)
        code, text = expected[name]
        assert response.status_code == code, (name, response.text)
        if text is None:
            # The second check (create, for an upgrade) gives no reason at all.
            assert response.json()["message"] == 'pods "target" is forbidden: '
            assert response.json()["details"] == {"name": "target", "kind": "pods"}
        else:
            assert text in response.json()["message"], name


async def test_a_namespaces_own_requests_are_in_that_namespace(sim: SimCluster) -> None:
    async with account(sim, "reader", [rule("pods", "list")]) as client:
        response = await client.delete(f"/api/v1/namespaces/{NS}")
    assert response.json()["message"] == (
        f'namespaces "{NS}" is forbidden: User "system:serviceaccount:{NS}:reader" cannot '
        f'delete resource "namespaces" in API group "" in the namespace "{NS}"'
    )
    nsrule = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}
    async with account(sim, "nsreader", [nsrule]) as client:
        # A RoleBinding in the namespace grants requests about the namespace itself.
        assert (await client.get(f"/api/v1/namespaces/{NS}")).status_code == 200


async def test_paths_outside_the_served_groups_are_plain_text_404(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        outside = await client.get("/apis/gizmos.example.org/v1/gizmos")
        inside = await client.get(f"/api/v1/namespaces/{NS}/gizmos")
    assert outside.status_code == 404
    assert outside.headers["content-type"] == "text/plain"
    assert outside.text == "404 page not found\n"
    assert inside.json()["message"] == "the server could not find the requested resource"
