"""Setup entries (compared like the rest): the run's namespace, service accounts with roles,
their tokens. Identities:

- ``backend``: the daemon's Role, read from ``manifests/role.yaml`` as deployed;
- ``owner-nodelete``: pods get/list/create/update/patch, no delete, no ``pods/finalizers``;
- ``owner-nofin``: the same with delete; ``owner-fin``: with delete and ``pods/finalizers``
  update (OwnerReferencesPermissionEnforcement);
- ``exec-create`` / ``exec-get`` / ``exec-both``: ``pods/exec`` with those verbs (what a
  websocket exec needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .model import Call, Ctx, Entry, WaitFor

ROLE_FILE = Path(__file__).resolve().parents[2] / "manifests" / "role.yaml"
POD_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
IDENTITIES: dict[str, list[dict[str, Any]]] = {
    "owner-nodelete": [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "create", "update", "patch"],
        }
    ],
    "owner-nofin": [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        }
    ],
    "owner-fin": [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods/finalizers"], "verbs": ["update"]},
    ],
    "exec-create": [POD_RULE, {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
    "exec-get": [POD_RULE, {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}],
    "exec-both": [
        POD_RULE,
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
    ],
}


def backend_role() -> dict[str, Any]:
    role: dict[str, Any] = yaml.safe_load(ROLE_FILE.read_text())
    return role


def _binding(sa: str, role: str) -> Any:
    def build(ctx: Ctx) -> Any:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ctx.ns}],
        }

    return build


def _identity(sa: str, role: dict[str, Any]) -> list[Entry]:
    sas = "/api/v1/namespaces/{ns}/serviceaccounts"
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    return [
        Call(f"setup-sa-{sa}", "POST", sas, {"metadata": {"name": sa}}),
        Call(f"setup-role-{sa}", "POST", f"{rbac}/roles", role),
        Call(
            f"setup-binding-{sa}",
            "POST",
            f"{rbac}/rolebindings",
            _binding(sa, role["metadata"]["name"]),
        ),
        Call(
            f"setup-token-{sa}",
            "POST",
            f"{sas}/{sa}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
            token_for=sa,
        ),
    ]


def setup() -> list[Entry]:
    entries: list[Entry] = [
        Call(
            "setup-namespace",
            "POST",
            "/api/v1/namespaces",
            lambda c: {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": c.ns, "labels": {"diff": "run"}},
            },
        ),
        WaitFor("setup-wait-default-sa", "/api/v1/namespaces/{ns}/serviceaccounts", "default"),
        WaitFor("setup-wait-root-ca", "/api/v1/namespaces/{ns}/configmaps", "kube-root-ca.crt"),
    ]
    entries += _identity("backend", backend_role())
    for sa, rules in IDENTITIES.items():
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"role-{sa}"},
            "rules": rules,
        }
        entries += _identity(sa, role)
    return entries
