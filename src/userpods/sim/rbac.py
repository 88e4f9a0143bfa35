"""Authentication identities and RBAC authorization, as the apiserver's RBAC authorizer does.

A request is allowed when a rule of a role bound to the caller matches its verb, API group,
resource (``pods``, ``pods/exec``, ``*``) and, for requests about one object, its name
(``resourceNames``). RoleBindings grant within their namespace (to a Role there or to a
ClusterRole); ClusterRoleBindings grant everywhere. Members of ``system:masters`` (the admin
token in the kubeconfig) may do everything. A refusal is the apiserver's 403 wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import kinds as k
from .status import ApiError, qualified
from .store import Store

Obj = dict[str, Any]


@dataclass(frozen=True)
class Identity:
    name: str
    groups: frozenset[str]


ADMIN = Identity("admin", frozenset({"system:masters", "system:authenticated"}))


def service_account(namespace: str, name: str) -> Identity:
    return Identity(
        f"system:serviceaccount:{namespace}:{name}",
        frozenset(
            {
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            }
        ),
    )


def _subject_matches(subject: Obj, who: Identity, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return who.name == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    if kind == "User":
        return who.name == subject.get("name")
    if kind == "Group":
        return subject.get("name") in who.groups
    return False


def _covers(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _rule_allows(rule: Obj, verb: str, group: str, resource: str, name: str) -> bool:
    if not _covers(rule.get("verbs"), verb) or not _covers(rule.get("apiGroups"), group):
        return False
    resources = rule.get("resources")
    _, _, sub = resource.partition("/")
    if not (
        _covers(resources, resource)
        or (isinstance(resources, list) and sub and f"*/{sub}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(name) and name in names)


def _scoped(kind: k.Kind) -> bool:
    """Whether requests of this kind carry a namespace: a namespace's own requests do (its
    name), so a RoleBinding in it grants them and a refusal names it (as the apiserver)."""
    return kind.namespaced or kind is k.NAMESPACE


ANONYMOUS = Identity("system:anonymous", frozenset({"system:unauthenticated"}))


class Authorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _rules(self, who: Identity, namespace: str) -> list[Obj]:
        rules: list[Obj] = []
        bindings = [(b, "") for b in self.store.list(k.CLUSTERROLEBINDING)]
        if namespace:
            bindings += [(b, namespace) for b in self.store.list(k.ROLEBINDING, namespace)]
        for binding, scope in bindings:
            if not any(_subject_matches(s, who, scope) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                role = self.store.get(k.CLUSTERROLE, "", ref.get("name", ""))
            elif ref.get("kind") == "Role" and scope:
                role = self.store.get(k.ROLE, scope, ref.get("name", ""))
            else:
                role = None
            if role is not None:
                rules.extend(r for r in role.get("rules") or [] if isinstance(r, dict))
        return rules

    def allowed(
        self, who: Identity, verb: str, kind: k.Kind, resource: str, namespace: str, name: str
    ) -> bool:
        if "system:masters" in who.groups:
            return True
        return any(
            _rule_allows(rule, verb, kind.group, resource, name)
            for rule in self._rules(who, namespace if _scoped(kind) else "")
        )

    def check(
        self, who: Identity, verb: str, kind: k.Kind, resource: str, namespace: str, name: str
    ) -> None:
        """Raise the apiserver's 403 unless ``who`` may do this."""
        if self.allowed(who, verb, kind, resource, namespace, name):
            return
        subject = qualified(kind.plural, kind.group)
        if name:
            subject = f'{subject} "{name}"'
        scope = (
            f'in the namespace "{namespace}"'
            if _scoped(kind) and namespace
            else "at the cluster scope"
        )
        details: Obj = {"name": name} if name else {}
        if kind.group:
            details["group"] = kind.group
        details["kind"] = kind.plural
        raise ApiError(
            403,
            f'{subject} is forbidden: User "{who.name}" cannot {verb} resource '
            f'"{resource}" in API group "{kind.group}" {scope}',
            "Forbidden",
            details,
        )
