"""Admission plugins that guard every kind alike: NamespaceLifecycle and
OwnerReferencesPermissionEnforcement (the kind-specific ones live with their kind:
``serviceaccounts.py``, ``allocation.py``).

NamespaceLifecycle: nothing is created in a namespace that does not exist (404) or is being
terminated (403 with a ``NamespaceTerminating`` cause).

OwnerReferencesPermissionEnforcement decides who may set owner references (a validating
admission plugin, on in hardened clusters and in the loopback control plane the project
measures with).

Checked against a real apiserver (tests/differential), refusals are 403 Forbidden (not the
422 older notes said), worded as the plugin words them, Go's ``%v, %v`` of an empty reason and
a nil error included:

- on update, changing ``metadata.ownerReferences`` needs ``delete`` on the object
  (``cannot set an ownerRef on a resource you can't delete: , <nil>``); on create it does not;
- an owner reference that newly says ``blockOwnerDeletion: true`` needs ``update`` on the
  owner's ``<resource>/finalizers`` (``cannot set blockOwnerDeletion if an ownerReference
  refers to a resource you can't set finalizers on: , <nil>``).

The caller's identity comes from the request being served (a context variable the apiserver
sets); writes of the in-process controllers have none and are not checked.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from . import kinds as k
from .rbac import Authorizer, Identity
from .status import forbidden_error, not_found_error
from .store import Store

Obj = dict[str, Any]
CALLER: ContextVar[Identity | None] = ContextVar("userpods_sim_caller", default=None)
NO_DELETE = "cannot set an ownerRef on a resource you can't delete: , <nil>"
NO_FINALIZERS = (
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
    "finalizers on: , <nil>"
)


def _refs(obj: Obj | None) -> list[Obj]:
    if obj is None:
        return []
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict)]


def _owner_kind(ref: Obj) -> k.Kind | None:
    api_version = str(ref.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    for kind in k.KINDS:
        if kind.kind == ref.get("kind") and kind.group == group and kind.version == version:
            return kind
    return None


def check_owner_references(
    authorizer: Authorizer, kind: k.Kind, namespace: str, new: Obj, old: Obj | None
) -> None:
    """Raise the plugin's 403 unless the caller may set ``new``'s owner references."""
    who = CALLER.get()
    if who is None:
        return
    name = str(new["metadata"].get("name", ""))
    new_refs, old_refs = _refs(new), _refs(old)

    def refuse(why: str) -> None:
        subject = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        raise forbidden_error(
            f'{subject} "{name}" is forbidden: {why}', kind.plural, kind.group, name
        )

    changing = old is not None and new_refs != old_refs
    if changing and not authorizer.allowed(who, "delete", kind, kind.plural, namespace, name):
        refuse(NO_DELETE)
    blocking_before = {r.get("uid") for r in old_refs if r.get("blockOwnerDeletion") is True}
    for ref in new_refs:
        if ref.get("blockOwnerDeletion") is not True or ref.get("uid") in blocking_before:
            continue
        owner = _owner_kind(ref)
        if owner is None:
            refuse(
                "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for "
                f"APIVersion {ref.get('apiVersion')} Kind {ref.get('kind')}"
            )
            return
        scope = namespace if owner.namespaced else ""
        resource = f"{owner.plural}/finalizers"
        if not authorizer.allowed(who, "update", owner, resource, scope, str(ref.get("name", ""))):
            refuse(NO_FINALIZERS)


def require_namespace(store: Store, kind: k.Kind, namespace: str, *, creating: bool) -> None:
    """NamespaceLifecycle: the namespace a namespaced object goes in must exist (and, to create
    in it, not be terminating). ``{name}`` in the 403's message is the caller's to fill."""
    if not kind.namespaced:
        return
    ns = store.get(k.NAMESPACE, "", namespace)
    if ns is None:
        raise not_found_error("namespaces", "", namespace)
    if creating and ns["metadata"].get("deletionTimestamp"):
        error = forbidden_error(
            f'{kind.plural} "{{name}}" is forbidden: unable to create new content in '
            f"namespace {namespace} because it is being terminated",
            kind.plural,
            kind.group,
        )
        assert error.details is not None
        error.details["causes"] = [
            {
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }
        ]
        raise error
