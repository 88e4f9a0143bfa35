"""The resource kinds the simulated apiserver serves, and what is particular to each.

A :class:`Kind` says where a kind lives (group, version, plural, scope), what discovery tells
about it, which fields its field selector indexes, how its names are checked, and whether a
DELETE answers with the object or with a Status. Validation and defaulting live in
the ``validation`` package (a module per kind); table printing in ``tables.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .names import check_dns1123_label, check_dns1123_subdomain

Obj = dict[str, Any]
FieldGetter = Callable[[Obj], str]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _path(obj: Obj, *keys: str) -> str:
    cur: Any = obj
    for key in keys:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(key)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _getter(*keys: str) -> FieldGetter:
    return lambda obj: _path(obj, *keys)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: each kind is one object
class Kind:
    """One served resource: its place in the API and its per-kind rules."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    name_check: Callable[[str], list[str]] = check_dns1123_subdomain
    subresources: tuple[str, ...] = ()
    fields: Mapping[str, FieldGetter] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    delete_returns_status: bool = False
    has_status: bool = False
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> str:
        """A store key unique across groups: ``pods``, ``ingresses.networking.k8s.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def field_value(self, obj: Obj, name: str) -> str:
        meta = obj.get("metadata", {})
        if name == "metadata.name":
            return str(meta.get("name", ""))
        if name == "metadata.namespace":
            return str(meta.get("namespace", "")) if self.namespaced else ""
        getter = self.fields.get(name)
        return getter(obj) if getter else ""

    def supports_field(self, name: str) -> bool:
        return name in ("metadata.name", "metadata.namespace") or name in self.fields


_POD_FIELDS = {
    "spec.nodeName": _getter("spec", "nodeName"),
    "spec.restartPolicy": _getter("spec", "restartPolicy"),
    "spec.schedulerName": _getter("spec", "schedulerName"),
    "spec.serviceAccountName": _getter("spec", "serviceAccountName"),
    "spec.hostNetwork": lambda o: _path(o, "spec", "hostNetwork") or "false",
    "status.phase": _getter("status", "phase"),
    "status.podIP": _getter("status", "podIP"),
    "status.nominatedNodeName": _getter("status", "nominatedNodeName"),
}
_EVENT_FIELDS = {
    **{
        f"involvedObject.{k}": _getter("involvedObject", k)
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
    "reason": _getter("reason"),
    "reportingComponent": _getter("reportingComponent"),
    "source": _getter("source", "component"),
    "type": _getter("type"),
}

POD = Kind(
    "",
    "v1",
    "pods",
    "Pod",
    True,
    ("po",),
    subresources=("status", "log", "exec", "binding", "eviction"),
    fields=_POD_FIELDS,
    categories=("all",),
    has_status=True,
)
SERVICE = Kind(
    "",
    "v1",
    "services",
    "Service",
    True,
    ("svc",),
    check_dns1123_label,  # a real v1.37 apiserver accepts "1-svc" (measured)
    subresources=("status",),
    categories=("all",),
    has_status=True,
    fields={"spec.clusterIP": _getter("spec", "clusterIP"), "spec.type": _getter("spec", "type")},
)
PVC = Kind(
    "",
    "v1",
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    True,
    ("pvc",),
    subresources=("status",),
    has_status=True,
)
PV = Kind(
    "",
    "v1",
    "persistentvolumes",
    "PersistentVolume",
    False,
    ("pv",),
    subresources=("status",),
    has_status=True,
)
EVENT = Kind("", "v1", "events", "Event", True, ("ev",), fields=_EVENT_FIELDS)
NAMESPACE = Kind(
    "",
    "v1",
    "namespaces",
    "Namespace",
    False,
    ("ns",),
    check_dns1123_label,
    subresources=("status", "finalize"),
    has_status=True,
    fields={"status.phase": _getter("status", "phase")},
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
NODE = Kind(
    "",
    "v1",
    "nodes",
    "Node",
    False,
    ("no",),
    subresources=("status",),
    has_status=True,
    fields={"spec.unschedulable": lambda o: _path(o, "spec", "unschedulable") or "false"},
)
CONFIGMAP = Kind("", "v1", "configmaps", "ConfigMap", True, ("cm",))
SECRET = Kind("", "v1", "secrets", "Secret", True, fields={"type": _getter("type")})
SERVICEACCOUNT = Kind(
    "", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), subresources=("token",)
)
INGRESS = Kind(
    "networking.k8s.io",
    "v1",
    "ingresses",
    "Ingress",
    True,
    ("ing",),
    subresources=("status",),
    delete_returns_status=True,
    has_status=True,
)
ENDPOINTSLICE = Kind(
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    "EndpointSlice",
    True,
    delete_returns_status=True,
)

_RBAC = "rbac.authorization.k8s.io"
ROLE = Kind(_RBAC, "v1", "roles", "Role", True)
CLUSTERROLE = Kind(_RBAC, "v1", "clusterroles", "ClusterRole", False)
ROLEBINDING = Kind(_RBAC, "v1", "rolebindings", "RoleBinding", True)
CLUSTERROLEBINDING = Kind(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False)
# Stored and validated, not run: no controller makes ReplicaSets or pods from it.
DEPLOYMENT = Kind(
    "apps",
    "v1",
    "deployments",
    "Deployment",
    True,
    ("deploy",),
    subresources=("status",),
    categories=("all",),
    delete_returns_status=True,
    has_status=True,
)
NETWORKPOLICY = Kind(
    "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)
)

KINDS: tuple[Kind, ...] = (
    POD,
    SERVICE,
    PVC,
    PV,
    EVENT,
    NAMESPACE,
    NODE,
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    INGRESS,
    ENDPOINTSLICE,
    ROLE,
    CLUSTERROLE,
    ROLEBINDING,
    CLUSTERROLEBINDING,
    DEPLOYMENT,
    NETWORKPOLICY,
)


def find_kind(group: str, version: str, plural: str) -> Kind | None:
    for kind in KINDS:
        if kind.group == group and kind.version == version and kind.plural == plural:
            return kind
    return None


def kind_by_name(api_version: str, kind_name: str) -> Kind | None:
    for kind in KINDS:
        if kind.api_version == api_version and kind.kind == kind_name:
            return kind
    return None


def group_versions() -> dict[str, list[Kind]]:
    """Kinds grouped by API group ("" is the core group)."""
    groups: dict[str, list[Kind]] = {}
    for kind in KINDS:
        groups.setdefault(kind.group, []).append(kind)
    return groups
