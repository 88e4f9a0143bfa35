"""The apiserver's write semantics over the store: create, update, patch, delete.

Everything that a real apiserver does on a write, before and after storage, happens here:
name generation, defaulting, admission (namespace lifecycle, service accounts, the
pvc-/pv-protection finalizers, service IP and NodePort allocation), validation, optimistic
concurrency, status/spec separation between a resource and its ``/status`` subresource,
graceful pod deletion, finalizers and the garbage collector's deletion-propagation finalizers.
The HTTP layer and the in-process controllers both write through this one class, so a
controller's write looks to watchers exactly like a client's.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import kinds as k
from . import patch as patches
from .admission import check_owner_references
from .rbac import Authorizer
from .status import (
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    forbidden_error,
    invalid,
    invalid_error,
    not_found_error,
    qualified,
)
from .store import Store, clone
from .timefmt import later, now, rfc3339
from .validation import apply_defaults, validate, validate_update
from .wire import round_trip

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA = "kube-root-ca.crt"
_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"
# The kinds whose registry strategy sets metadata.generation (others have none; measured).
GENERATION_KINDS = (k.POD, k.DEPLOYMENT, k.INGRESS, k.NETWORKPOLICY, k.ENDPOINTSLICE)


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    preconditions: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def random_suffix(length: int = 5) -> str:
    return "".join(random.choices(_NAME_SUFFIX, k=length))


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
        self._service_net = ipaddress.ip_network(service_cidr)
        self._service_ips: set[str] = set()
        self._next_ip = 10  # .1 is the kubernetes service, as in a real cluster
        self._node_port_range = node_ports
        self._node_ports: set[int] = set()
        self.ca_bundle = ""  # the cluster CA (PEM), published in every namespace

    # ------------------------------------------------------------------ reads
    def get(self, kind: k.Kind, namespace: str, name: str) -> Obj:
        obj = self.store.get(kind, namespace, name)
        if obj is None:
            raise not_found_error(kind.plural, kind.group, name)
        return obj

    def _require_namespace(self, kind: k.Kind, namespace: str, *, creating: bool) -> None:
        if not kind.namespaced:
            return
        ns = self.store.get(k.NAMESPACE, "", namespace)
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

    # ------------------------------------------------------------------ create
    def create(self, kind: k.Kind, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        obj = self._decode(kind, body)
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
            self._require_namespace(kind, namespace, creating=True)
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

    def _decode(self, kind: k.Kind, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {kind.kind})")
        sent_kind, sent_version = body.get("kind"), body.get("apiVersion")
        if (sent_kind and sent_kind != kind.kind) or (
            sent_version and sent_version != kind.api_version
        ):
            raise bad_request(
                f"the API version in the data ({sent_version}) does not match the expected API "
                f"version ({kind.api_version})"
                if sent_version != kind.api_version
                else f'{sent_kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                f"converting ({str(sent_version).split('/')[-1]}.{sent_kind}) to "
                f"({kind.group.split('.')[0] or 'core'}.{kind.kind}): unknown conversion"
            )
        obj = clone(body)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        if not isinstance(obj.get("metadata", {}), dict):
            raise bad_request("metadata must be an object")
        if kind is k.SECRET and isinstance(obj.get("stringData"), dict):
            # As the v1 conversion: stringData is write-only, merged into data (it wins).
            data: Obj = obj["data"] if isinstance(obj.get("data"), dict) else {}
            for key, value in obj.pop("stringData").items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        return obj

    def _populate_namespace(self, namespace: str) -> None:
        """What controllers put in every new namespace: the default service account and the
        cluster CA bundle that service-account token volumes mount."""
        if self.store.get(k.SERVICEACCOUNT, namespace, "default") is None:
            self.create(k.SERVICEACCOUNT, namespace, {"metadata": {"name": "default"}})
        if self.store.get(k.CONFIGMAP, namespace, ROOT_CA) is None:
            self.create(
                k.CONFIGMAP,
                namespace,
                {
                    "metadata": {
                        "name": ROOT_CA,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used to "
                            "verify the kube-apiserver when using internal endpoints such as the "
                            "internal service IP or kubernetes.default.svc. No other usage is "
                            "guaranteed across distributions of Kubernetes clusters."
                        },
                    },
                    "data": {"ca.crt": self.ca_bundle},
                },
            )

    def _admit_create(self, kind: k.Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        if kind is k.POD:
            self._admit_pod(obj)
        elif kind is k.PVC:
            _add_finalizer(meta, PVC_PROTECTION)
        elif kind is k.PV:
            _add_finalizer(meta, PV_PROTECTION)
        elif kind is k.SERVICE:
            self._allocate_service(obj, None)

    def _admit_pod(self, pod: Obj) -> None:
        spec = pod["spec"]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        sa = spec["serviceAccountName"]
        if self.store.get(k.SERVICEACCOUNT, ns, sa) is None:
            raise forbidden_error(
                f'pods "{name}" is forbidden: error looking up service account {ns}/{sa}: '
                f'serviceaccount "{sa}" not found',
                "pods",
                "",
                name,
            )
        if spec.get("automountServiceAccountToken") is False:
            return
        volume = f"kube-api-access-{random_suffix()}"
        spec.setdefault("volumes", []).append(
            {
                "name": volume,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        )
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            mounts = c.setdefault("volumeMounts", [])
            if not any(m.get("mountPath") == SERVICE_ACCOUNT_MOUNT for m in mounts):
                mounts.append(
                    {"name": volume, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT}
                )

    # ------------------------------------------------------------------ services
    def _allocate_service(self, svc: Obj, old: Obj | None) -> None:
        spec = svc["spec"]
        causes: list[Cause] = []
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            wanted = spec.get("clusterIP") or (old or {}).get("spec", {}).get("clusterIP")
            ip = self._take_ip(wanted, causes) if old is None else wanted
            if ip:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("nodePort") for p in (old or {}).get("spec", {}).get("ports", [])}
            for i, port in enumerate(spec.get("ports", [])):
                wanted_port = port.get("nodePort")
                if wanted_port and wanted_port in old_ports:
                    continue
                port["nodePort"] = self._take_node_port(wanted_port, i, causes)
        if causes:
            self._release(k.SERVICE, svc, only_new=old)
            raise invalid_error("Service", "", svc["metadata"]["name"], causes)

    def _take_ip(self, wanted: str | None, causes: list[Cause]) -> str | None:
        if wanted:
            try:
                address = ipaddress.ip_address(wanted)
            except ValueError:
                causes.append(
                    invalid(
                        "spec.clusterIPs[0]",
                        wanted,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )
                )
                return None
            if address not in self._service_net:
                causes.append(
                    invalid(
                        "spec.clusterIPs",
                        [wanted],
                        f"failed to allocate IP {wanted}: the provided IP "
                        f"({wanted}) is not in the valid range. The range of valid "
                        f"IPs is {self._service_net}",
                    )
                )
                return None
            if wanted in self._service_ips:
                causes.append(
                    invalid(
                        "spec.clusterIPs",
                        [wanted],
                        f"failed to allocate IP {wanted}: provided IP is already allocated",
                    )
                )
                return None
            self._service_ips.add(wanted)
            return wanted
        size = self._service_net.num_addresses
        for _ in range(size):
            candidate = str(self._service_net[self._next_ip % (size - 1) or 1])
            self._next_ip += 1
            if candidate not in self._service_ips:
                self._service_ips.add(candidate)
                return candidate
        causes.append(invalid("spec.clusterIPs", [], "range is full"))
        return None

    def _take_node_port(self, wanted: int | None, index: int, causes: list[Cause]) -> int | None:
        low, high = self._node_port_range
        path = f"spec.ports[{index}].nodePort"
        if wanted:
            if not low <= wanted <= high:
                causes.append(
                    invalid(
                        path,
                        wanted,
                        f"provided port is not in the valid range. "
                        f"The range of valid ports is {low}-{high}",
                    )
                )
                return wanted
            if wanted in self._node_ports:
                causes.append(invalid(path, wanted, "provided port is already allocated"))
                return wanted
            self._node_ports.add(wanted)
            return wanted
        free = [p for p in range(low, high + 1) if p not in self._node_ports]
        if not free:
            causes.append(invalid(path, 0, "range is full"))
            return None
        port = random.choice(free)
        self._node_ports.add(port)
        return port

    def _release(self, kind: k.Kind, obj: Obj, only_new: Obj | None = None) -> None:
        """Free a service's IP and NodePorts (only those not held by ``only_new``'s old self)."""
        if kind is not k.SERVICE:
            return
        kept_ip = (only_new or {}).get("spec", {}).get("clusterIP")
        kept_ports = {p.get("nodePort") for p in (only_new or {}).get("spec", {}).get("ports", [])}
        ip = obj.get("spec", {}).get("clusterIP")
        if ip and ip != kept_ip:
            self._service_ips.discard(ip)
        for port in obj.get("spec", {}).get("ports", []):
            if port.get("nodePort") not in kept_ports:
                self._node_ports.discard(port.get("nodePort"))

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
        new = self._decode(kind, body)
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
            self._allocate_service(new, old)
        if dry_run:
            return new
        if _same_content(new, old):
            return old  # as etcd's GuaranteedUpdate: no write, no new resourceVersion, no event
        if kind is k.SERVICE and subresource is None:
            self._release(k.SERVICE, old, only_new=new)
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
        pre = options.preconditions
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise _precondition(
                kind,
                name,
                f"the UID in the precondition ({pre['uid']}) does not match the UID in record "
                f"({meta['uid']}). The object might have been deleted and then recreated",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise _precondition(
                kind,
                name,
                f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not "
                f"match the ResourceVersion in record ({meta['resourceVersion']}). The object "
                "might have been modified",
            )
        new = clone(old)
        new_meta = new["metadata"]
        finalizers = list(new_meta.get("finalizers") or [])
        policy = options.propagation
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise invalid_error(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "propagationPolicy",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{policy}": supported values: "Foreground", '
                        '"Background", "Orphan", "nil"',
                    )
                ],
            )
        if policy == "Orphan" and ORPHAN not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(ORPHAN)
        if (
            policy == "Foreground"
            and FOREGROUND not in finalizers
            and not meta.get("deletionTimestamp")
        ):
            finalizers.append(FOREGROUND)
        grace = self._grace_period(kind, old, options)
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

    @staticmethod
    def _grace_period(kind: k.Kind, pod: Obj, options: DeleteOptions) -> int | None:
        if kind is not k.POD:
            return None
        if not pod.get("spec", {}).get("nodeName"):
            return 0
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if options.grace_period is not None:
            return max(0, options.grace_period)
        return int(pod["spec"].get("terminationGracePeriodSeconds", 30))

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


def _precondition(kind: k.Kind, name: str, detail: str) -> ApiError:
    """A failed DELETE precondition: details.kind is the Kind here, not the resource."""
    details: Obj = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind
    return ApiError(
        409, f'Operation cannot be fulfilled on {kind.kind} "{name}": {detail}', "Conflict", details
    )


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


def _set_condition(
    status: Obj, ctype: str, value: str, reason: str = "", message: str = ""
) -> None:
    """Set a pod condition, keeping lastTransitionTime when the status does not change."""
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == ctype:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = rfc3339()
            cond["status"] = value
            for key, text in (("reason", reason), ("message", message)):
                if text:
                    cond[key] = text
                else:
                    cond.pop(key, None)
            return
    new: Obj = {
        "type": ctype,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(),
    }
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    conditions.append(new)


set_condition = _set_condition


def bind_pod(registry: Registry, namespace: str, name: str, node: str) -> Obj:
    """What ``POST pods/{name}/binding`` does: set ``spec.nodeName`` and PodScheduled."""
    pod = registry.get(k.POD, namespace, name)
    if pod["spec"].get("nodeName"):
        raise ApiError(
            409,
            f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
            "Conflict",
            {"name": name, "kind": "pods"},
        )
    if pod["metadata"].get("deletionTimestamp"):
        raise ApiError(
            409,
            f"pod {name} is being deleted, cannot be assigned to a host",
            "Conflict",
            {"name": name, "kind": "pods"},
        )
    new = clone(pod)
    new["spec"]["nodeName"] = node
    _set_condition(new.setdefault("status", {}), "PodScheduled", "True")
    return registry.store.put(k.POD, new, created=False)
