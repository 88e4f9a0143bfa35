"""Defaulting and validation of objects, per kind, as the apiserver applies them.

``apply_defaults`` fills what a real apiserver fills on create (restartPolicy, grace period,
imagePullPolicy, service defaults, ...). ``validate`` returns the field causes of a 422; an empty
list means valid. ``validate_update`` adds the rules that only apply between an old and a new
object (immutable fields). Each kind's rules live in a module of their own (``pods``,
``services``, ``ingresses``, ``volumes``, ``configs``, ``roles``, ``deployments``,
``namespaces``, ``events``); ``common`` holds what they share (metadata, quantities). This
module only chooses which of them a kind gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import kinds as k
from ..status import Cause
from .common import as_dict, validate_metadata
from .configs import default_secret, validate_configmap, validate_secret
from .deployments import default_deployment, validate_deployment
from .events import validate_event
from .ingresses import default_ingress, validate_ingress
from .namespaces import default_namespace
from .pods import default_pod, pod_update, validate_pod
from .roles import binding_update, validate_binding, validate_rules
from .services import default_service, service_update, validate_service
from .volumes import default_pv, default_pvc, pv_update, pvc_update, validate_pv, validate_pvc

Obj = dict[str, Any]

_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    k.DEPLOYMENT.key: default_deployment,
    k.POD.key: default_pod,
    k.SERVICE.key: default_service,
    k.PV.key: default_pv,
    k.PVC.key: default_pvc,
    k.NAMESPACE.key: default_namespace,
    k.SECRET.key: default_secret,
    k.INGRESS.key: default_ingress,
}

_VALIDATORS: dict[str, Callable[[Obj], list[Cause]]] = {
    k.ROLE.key: lambda obj: validate_rules(obj, cluster=False),
    k.CLUSTERROLE.key: lambda obj: validate_rules(obj, cluster=True),
    k.ROLEBINDING.key: lambda obj: validate_binding(obj, cluster=False),
    k.CLUSTERROLEBINDING.key: lambda obj: validate_binding(obj, cluster=True),
    k.DEPLOYMENT.key: validate_deployment,
    k.POD.key: validate_pod,
    k.SERVICE.key: validate_service,
    k.INGRESS.key: validate_ingress,
    k.PV.key: validate_pv,
    k.PVC.key: validate_pvc,
    k.EVENT.key: validate_event,
    k.CONFIGMAP.key: validate_configmap,
    k.SECRET.key: validate_secret,
}

_UPDATE_RULES: dict[str, Callable[[Obj, Obj], list[Cause]]] = {
    k.ROLEBINDING.key: binding_update,
    k.CLUSTERROLEBINDING.key: binding_update,
    k.POD.key: pod_update,
    k.PVC.key: pvc_update,
    k.SERVICE.key: service_update,
    k.PV.key: pv_update,
}


def apply_defaults(kind: k.Kind, obj: Obj) -> None:
    """Fill the fields a real apiserver defaults on create (in place)."""
    defaulter = _DEFAULTERS.get(kind.key)
    if defaulter:
        defaulter(obj)


def validate(kind: k.Kind, obj: Obj) -> list[Cause]:
    """Every field cause of ``obj`` (an empty list: valid)."""
    causes = validate_metadata(kind, as_dict(obj.get("metadata")))
    checker = _VALIDATORS.get(kind.key)
    if checker:
        causes.extend(checker(obj))
    return causes


def validate_update(kind: k.Kind, new: Obj, old: Obj) -> list[Cause]:
    """Rules between the stored object and its replacement (immutable fields)."""
    rule = _UPDATE_RULES.get(kind.key)
    return rule(new, old) if rule else []


__all__ = ["apply_defaults", "validate", "validate_update"]
