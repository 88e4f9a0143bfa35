"""RBAC objects: the rules of Roles and ClusterRoles, the roleRef and subjects of their
bindings, and the roleRef an update may not change.
"""

from __future__ import annotations

from ..status import Cause, invalid, required, unsupported
from .common import Obj, as_dict, as_list


def validate_rules(obj: Obj, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        rule = as_dict(rule)
        path = f"rules[{i}]"
        if not as_list(rule.get("verbs")):
            causes.append(
                Cause(
                    f"{path}.verbs",
                    "FieldValueRequired",
                    "Required value: verbs must contain at least one value",
                )
            )
        if cluster and rule.get("nonResourceURLs"):
            if rule.get("resources") or rule.get("apiGroups"):
                causes.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        rule["nonResourceURLs"],
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not as_list(rule.get("apiGroups")):
            causes.append(
                Cause(
                    f"{path}.apiGroups",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one api group",
                )
            )
        if not as_list(rule.get("resources")):
            causes.append(
                Cause(
                    f"{path}.resources",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one resource",
                )
            )
    return causes


def validate_binding(obj: Obj, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = as_dict(obj.get("roleRef"))
    kinds = ["ClusterRole"] if cluster else ["ClusterRole", "Role"]
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        causes.append(
            unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"])
        )
    if ref.get("kind") not in kinds:
        causes.append(unsupported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        subject = as_dict(subject)
        path = f"subjects[{i}]"
        kind = subject.get("kind")
        if kind not in ("Group", "ServiceAccount", "User"):
            causes.append(
                unsupported(f"{path}.kind", kind or "", ["Group", "ServiceAccount", "User"])
            )
        if not subject.get("name"):
            causes.append(required(f"{path}.name"))
        if kind == "ServiceAccount" and cluster and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    return causes


def binding_update(new: Obj, old: Obj) -> list[Cause]:
    """A binding's roleRef is immutable."""
    if new.get("roleRef") != old.get("roleRef"):
        return [invalid("roleRef", str(new.get("roleRef")), "cannot change roleRef")]
    return []
