"""The apiserver's write semantics over the store: create, update, patch, delete.

Everything that a real apiserver does on a write, before and after storage, happens here:
name generation, defaulting, admission (namespace lifecycle, service accounts, the
pvc-/pv-protection finalizers, service IP and NodePort allocation), validation, optimistic
concurrency, status/spec separation between a resource and its ``/status`` subresource,
graceful pod deletion, finalizers and the garbage collector's deletion-propagation finalizers.
The HTTP layer and the in-process controllers both write through this one class, so a
controller's write looks to watchers exactly like a client's. The parts with rules of their
own are beside it, and this class calls them in the apiserver's order: ``wire`` (decoding),
``validation``, ``admission`` and ``serviceaccounts`` (admission), ``allocation`` (service
IPs and NodePorts) and ``deletion`` (options, preconditions, grace periods).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from . import kinds as k
from . import patch as patches
from .admission import check_owner_references, require_namespace
from .allocation import ServiceAllocator
from .deletion import DeleteOptions, check_preconditions, grace_period, policy_finalizers
from .names import random_suffix
from .rbac import Authorizer
from .serviceaccounts import admit_pod, namespace_contents
from .status import (
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    invalid_error,
    not_found_error,
    qualified,
)
from .store import Store, clone
from .timefmt import later, now, rfc3339
from .validation import apply_defaults, validate, validate_update
from .wire import decode, round_trip

Obj = dict[str, Any]
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
# The kinds whose registry strategy sets metadata.generation (others have none; measured).
GENERATION_KINDS = (k.POD, k.DEPLOYMENT, k.INGRESS, k.NETWORKPOLICY, k.ENDPOINTSLICE)


class Registry:
    """Write semantics of the simulated apiserver (see module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        service_cidr: str = "10.96.0.0/12",
        node_ports: tuple[int, int] = (30000, 32767),
    ) -> None:
        self.store = store
        self.authorizer = Authorizer(store)  # for admission checks of the caller's rights
        self.services = ServiceAllocator(service_cidr, node_ports)
        self.ca_bundle = ""  # the cluster CA (PEM), published in every namespace

    # ------------------------------------------------------------------ reads
    def get(self, kind: k.Kind, namespace: str, name: str) -> Obj:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            raise not_found_error(kind.plural, kind.group, name)
        return obj

    # ------------------------------------------------------------------ create
    def create(self, kind: k.Kind, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        obj = decode(kind, body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{random_suffix()}"
        name = str(meta.get("name") or "")
        try:
            require_namespace(self.store, kind, namespace, creating=True)
        except ApiError as exc:
            exc.message = exc.message.replace("{name}", name)
            if exc.code == 403 and exc.details is not None:
                exc.details["name"] = name
            raise
        for transient in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339()
        if kind in GENERATION_KINDS:
            meta["generation"] = 1
        apply_defaults(kind, obj)
        round_trip(kind, obj)
        causes = validate(kind, obj)
        if causes:
            raise invalid_error(kind.kind, kind.group, name, causes)
        check_owner_references(self.authorizer, kind, namespace, obj, None)
        if self.store.get(kind, namespace if kind.namespaced else "", name) is not None:
            raise already_exists(kind.plural, kind.group, name)
        self._admit_create(kind, obj)
        if dry_run:
            self._release(kind, obj)
            return obj
        stored = self.store.put(kind, obj, created=True)
        if kind is k.NAMESPACE:
            self._populate_namespace(name)
        return stored

    def _populate_namespace(self, namespace: str) -> None:
        """What controllers put in every new namespace (see serviceaccounts.py)."""
        for kind, name, body in namespace_contents(namespace, self.ca_bundle):
            if self.store.get(kind, namespace, name) is None:
                self.create(kind, namespace, body)

    def _admit_create(self, kind: k.Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        if kind is k.POD:
            admit_pod(self.store, obj)
        elif kind is k.PVC:
            _add_finalizer(meta, PVC_PROTECTION)
        elif kind is k.PV:
            _add_finalizer(meta, PV_PROTECTION)
        elif kind is k.SERVICE:
            self.services.allocate(obj, None)

    def _release(self, kind: k.Kind, obj: Obj) -> None:
        if kind is k.SERVICE:
            self.services.release(obj)

    # ------------------------------------------------------------------ update / patch
    def update(
        self,
        kind: k.Kind,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        old = self.get(kind, namespace, name)
        new = decode(kind, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the "
                f"name on the URL ({name})"
            )
        if kind.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        sent_rv = meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind.plural, kind.group, name)
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            error = conflict(kind.plural, kind.group, name)
            where = f"/registry/{kind.key}/{namespace}/{name}" if kind.namespaced else name
            error.message = (
                f'Operation cannot be fulfilled on {qualified(kind.plural, kind.group)} "{name}": '
                f"StorageError: invalid object, Code: 4, Key: {where}, ResourceVersion: 0, "
                f"AdditionalErrorMsg: Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old['metadata']['uid']}"
            )
            raise error
        if subresource is None:
            apply_defaults(kind, new)  # the apiserver defaults every object it decodes
        round_trip(kind, new)
        return self._store_update(kind, old, new, subresource=subresource, dry_run=dry_run)

    def patch(
        self,
        kind: k.Kind,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        old = self.get(kind, namespace, name)
        current = {"kind": kind.kind, "apiVersion": kind.api_version, **clone(old)}
        patched = patches.apply_patch(content_type, current, body, kind.kind)
        if not isinstance(patched, dict):
            raise bad_request("the patch produced something other than an object")
        meta = patched.setdefault("metadata", {})
        if meta.get("name") != name:
            raise bad_request("metadata.name cannot be changed by a patch")
        return self.update(kind, namespace, name, patched, subresource=subresource, dry_run=dry_run)

    def _store_update(
        self, kind: k.Kind, old: Obj, new: Obj, *, subresource: str | None, dry_run: bool
    ) -> Obj:
        meta = new["metadata"]
        old_meta = old["metadata"]
        if subresource == "status":
            # The status subresource writes status only.
            new = {**clone(old), "status": new.get("status", {})}
            meta = new["metadata"]
        elif subresource not in (None, "finalize"):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        else:
            if kind.has_status and "status" in old and kind not in (k.NAMESPACE,):
                new["status"] = clone(old["status"])
            elif kind is k.NAMESPACE:
                new["status"] = clone(old.get("status", {}))
                if subresource != "finalize":
                    new["spec"] = clone(old.get("spec", {}))
            for fixed in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "generation",
                "generateName",
            ):
                if fixed in old_meta:
                    meta[fixed] = old_meta[fixed]
                else:
                    meta.pop(fixed, None)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise invalid_error(
                        kind.kind,
                        kind.group,
                        meta["name"],
                        [
                            Cause(
                                "metadata.finalizers",
                                "FieldValueForbidden",
                                "Forbidden: no new finalizers can be added if the object is being "
                                "deleted, found new finalizers "
                                + str(sorted(added)).replace("'", '"'),
                            )
                        ],
                    )
            if "generation" in old_meta and _spec_of(new) != _spec_of(old):
                meta["generation"] = old_meta["generation"] + 1
        meta.pop("managedFields", None)
        causes = validate(kind, new) + validate_update(kind, new, old)
        if causes:
            raise invalid_error(kind.kind, kind.group, meta["name"], causes)
        if subresource is None:
            check_owner_references(self.authorizer, kind, _ns(kind, new), new, old)
        if kind is k.SERVICE and subresource is None:
            self.services.allocate(new, old)
        if dry_run:
            return new
        if _same_content(new, old):
            return old  # as etcd's GuaranteedUpdate: no write, no new resourceVersion, no event
        if kind is k.SERVICE and subresource is None:
            self.services.release(old, only_new=new)
        if self._ready_to_remove(kind, new):
            removed = self.store.remove(kind, _ns(kind, new), meta["name"])
            self._release(kind, new)
            assert removed is not None
            # The update's answer is the object as written (its finalizers gone, as measured);
            # watchers' DELETED carries the last stored state, as etcd's previous value.
            rv = removed["metadata"]["resourceVersion"]
            return {**new, "metadata": {**new["metadata"], "resourceVersion": rv}}
        return self.store.put(kind, new, created=False)

    @staticmethod
    def _ready_to_remove(kind: k.Kind, obj: Obj) -> bool:
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if kind is k.POD and meta.get("deletionGracePeriodSeconds", 0) > 0:
            return False  # the kubelet has not finished stopping it
        return not (kind is k.NAMESPACE and obj.get("spec", {}).get("finalizers"))

    def mutate(
        self,
        kind: k.Kind,
        namespace: str,
        name: str,
        change: Callable[[Obj], Any],
        *,
        subresource: str | None = None,
    ) -> Obj | None:
        """Read, change a copy, write back: how the in-process controllers update objects.

        ``change`` edits the copy in place; returning ``False`` skips the write. Returns the
        stored object, or ``None`` if it no longer exists.
        """
        old = self.store.get(kind, namespace, name)
        if old is None:
            return None
        new = clone(old)
        if change(new) is False or new == old:
            return old
        return self._store_update(kind, old, new, subresource=subresource, dry_run=False)

    # ------------------------------------------------------------------ delete
    def delete(
        self, kind: k.Kind, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> Obj:
        """Delete (or begin deleting) an object; returns its state after the call."""
        options = options or DeleteOptions()
        old = self.get(kind, namespace, name)
        meta = old["metadata"]
        check_preconditions(kind, name, meta, options.preconditions)
        new = clone(old)
        new_meta = new["metadata"]
        finalizers = policy_finalizers(options.propagation, meta)
        grace = grace_period(kind, old, options)
        if meta.get("deletionTimestamp"):
            current = meta.get("deletionGracePeriodSeconds", 0)
            if grace is None or grace >= current:
                return old  # already going; a longer grace period changes nothing
        if kind is k.NAMESPACE:
            new_meta["deletionTimestamp"] = rfc3339()
            new.setdefault("status", {})["phase"] = "Terminating"
            if options.dry_run:
                return new
            return self.store.put(kind, new, created=False)
        if grace:
            new_meta["deletionTimestamp"] = later(grace)
            new_meta["deletionGracePeriodSeconds"] = grace
            if kind is k.POD:
                new_meta["generation"] = int(meta.get("generation", 1)) + 1
        elif finalizers:
            new_meta.setdefault("deletionTimestamp", rfc3339())
            new_meta["deletionGracePeriodSeconds"] = 0
        new_meta["finalizers"] = finalizers
        if not finalizers:
            new_meta.pop("finalizers", None)
        if options.dry_run:
            return new
        if grace or finalizers:
            if new == old:
                return old
            return self.store.put(kind, new, created=False)
        if kind is k.POD and meta.get("deletionGracePeriodSeconds", 1) != 0:
            # As the apiserver: a pod's deletion (also one cut to 0, or of an unscheduled pod)
            # is written first (MODIFIED: deletionTimestamp, deletionGracePeriodSeconds 0, the
            # next generation), then the object is removed (DELETED), as measured.
            new_meta["deletionTimestamp"] = rfc3339()
            new_meta["deletionGracePeriodSeconds"] = 0
            new_meta["generation"] = int(meta.get("generation", 1)) + 1
            self.store.put(kind, new, created=False)
        removed = self.store.remove(kind, namespace, name)
        assert removed is not None
        self._release(kind, removed)
        return removed

    def remove_finalizer(self, kind: k.Kind, namespace: str, name: str, finalizer: str) -> None:
        def drop(obj: Obj) -> bool:
            finalizers = obj["metadata"].get("finalizers") or []
            if finalizer not in finalizers:
                return False
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            return True

        self.mutate(kind, namespace, name, drop)

    def now(self) -> str:
        return rfc3339(now())


def _same_content(new: Obj, old: Obj) -> bool:
    """Whether an update changes nothing but (maybe) the resourceVersion it was sent with."""

    def bare(obj: Obj) -> Obj:
        meta = {key: v for key, v in obj["metadata"].items() if key != "resourceVersion"}
        return {**obj, "metadata": meta}

    return bare(new) == bare(old)


def _spec_of(obj: Obj) -> Any:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def _ns(kind: k.Kind, obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", "")) if kind.namespaced else ""


def _add_finalizer(meta: Obj, finalizer: str) -> None:
    finalizers = meta.setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)
