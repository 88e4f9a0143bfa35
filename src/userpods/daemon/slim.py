"""What the cache keeps of each object: the fields the daemon and its plugins read.

A pod as the apiserver sends it is some 12 KB once decoded: its service-account volume, its
tolerations, every container's environment, mounts and security context, the images' digests,
the managed fields. The daemon reads none of that from the cache (it checks a manifest before
the pod exists, from the manifest), so with ten thousand pods cached, keeping it all would be
most of the daemon's memory. Each projection here keeps, of the object, what is listed and
drops the rest; strings that thousands of objects repeat (label and annotation keys, condition
types, node names) are interned so that each is held once.

Kept of a pod: all its metadata but ``managedFields``; of its spec the containers' and init
containers' name, image, ports, resources and restart policy, the node, the restart policy, the
scheduling gates, the pod-level resources and overhead, and the volumes that mount a claim (name
and claim only); all of its status but the containers' image digests, container ids, allocated
resources and mounts, the pod's IP lists (``podIP``/``hostIP`` stay), and the conditions other
than ``Ready`` and ``PodScheduled`` (which say whether it serves, and why it waits; only Ready's
time is kept, for how long it has served), and a container's last state unless it ended.
Of a service: its metadata, type and ports. Of ingresses, claims and volumes (a few per user):
everything but ``managedFields``. A plugin that needs more of a pod reads it from the API
(``ctx.kube.get``): see docs/hooks.md.

Pods and services, the kinds that number in thousands, are also decoded slim: ``WIRE_POD`` and
``WIRE_SERVICE`` are msgspec structs naming just the fields the projections read (built from
lightkube's models, so names, renames and types are theirs), which the watch loop decodes
lists and events into (:mod:`userpods.kubewire`), skipping the rest of the JSON as it parses.
The projections read attributes only, so they take either form: a lightkube model (what the
daemon's own writes return) or a wire struct.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import msgspec
from lightkube.models.core_v1 import (
    Container,
    ContainerStatus,
    PersistentVolumeClaimVolumeSource,
    PodCondition,
    PodSpec,
    PodStatus,
    ServiceSpec,
    Volume,
)
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Pod, Service

T = TypeVar("T")
_SHORT = 256  # strings longer than this are rarely repeated: not worth interning


def _text(value: str | None) -> str | None:
    return sys.intern(value) if value is not None and len(value) <= _SHORT else value


def _strings(found: dict[str, str] | None) -> dict[str, str] | None:
    if not found:
        return found
    return {sys.intern(k): _text(v) or "" for k, v in found.items()}


def wire_type(cls: type[Any], *, keep: tuple[str, ...] = (), **nested: Any) -> Any:
    """A struct msgspec decodes ``cls``'s JSON into: only the fields in ``keep`` (all but
    ``managedFields`` when empty) and those in ``nested`` (as the types given), with
    lightkube's names, renames, types and defaults; the JSON of any other field is skipped."""
    spec: list[Any] = []
    rename = {}
    for f in msgspec.structs.fields(cls):
        if (f.name not in keep if keep else f.name == "managedFields") and f.name not in nested:
            continue
        typ = nested.get(f.name, f.type)
        if f.default is not msgspec.NODEFAULT:
            spec.append((f.name, typ, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            spec.append((f.name, typ, msgspec.field(default_factory=f.default_factory)))
        else:
            spec.append((f.name, typ))  # required, as in lightkube's model
        rename[f.name] = f.encode_name
    return msgspec.defstruct(f"Wire{cls.__name__}", spec, kw_only=True, rename=rename)


_WIRE_META = wire_type(ObjectMeta)
_META_FIELDS = tuple(f.name for f in msgspec.structs.fields(_WIRE_META))


def meta(m: Any) -> ObjectMeta | None:
    """The metadata without ``managedFields``, its keys and short values interned (a pod's
    name recurs in its labels and in its services' labels, selector and owner reference; its
    uid in their owner references: each is held once)."""
    if m is None:
        return None
    kept = {name: getattr(m, name) for name in _META_FIELDS}
    owners = m.ownerReferences
    kept.update(
        name=_text(m.name),
        uid=_text(m.uid),
        labels=_strings(m.labels),
        annotations=_strings(m.annotations),
        namespace=_text(m.namespace),
        ownerReferences=[_owner(o) for o in owners] if owners else owners,
    )
    return ObjectMeta(**kept)


def _owner(o: OwnerReference) -> OwnerReference:
    return msgspec.structs.replace(
        o,
        apiVersion=sys.intern(o.apiVersion),
        kind=sys.intern(o.kind),
        name=sys.intern(o.name),
        uid=sys.intern(o.uid),
    )


def _container(c: Any) -> Container:
    return Container(
        name=sys.intern(c.name),
        image=_text(c.image),
        ports=c.ports,
        resources=c.resources,
        restartPolicy=c.restartPolicy,
    )


def _claim_volume(v: Any) -> Volume:
    claim = v.persistentVolumeClaim
    assert claim is not None
    return Volume(
        name=v.name,
        persistentVolumeClaim=PersistentVolumeClaimVolumeSource(
            claimName=claim.claimName, readOnly=claim.readOnly
        ),
    )


def _spec(spec: Any) -> PodSpec | None:
    if spec is None:
        return None
    claims = [_claim_volume(v) for v in spec.volumes or [] if v.persistentVolumeClaim]
    return PodSpec(
        containers=[_container(c) for c in spec.containers or []],
        initContainers=[_container(c) for c in spec.initContainers]
        if spec.initContainers
        else None,
        nodeName=_text(spec.nodeName),
        restartPolicy=_text(spec.restartPolicy),
        schedulingGates=spec.schedulingGates,
        resources=spec.resources,
        overhead=spec.overhead,
        volumes=claims or None,
    )


def _container_status(cs: Any) -> ContainerStatus:
    return ContainerStatus(
        image=_text(cs.image) or "",
        imageID="",
        name=sys.intern(cs.name),
        ready=cs.ready,
        restartCount=cs.restartCount,
        lastState=cs.lastState if cs.lastState and cs.lastState.terminated else None,
        started=cs.started,
        state=cs.state,
    )


KEPT_CONDITIONS = frozenset({"Ready", "PodScheduled"})


def _condition(c: Any) -> PodCondition:
    return PodCondition(
        type=sys.intern(c.type),
        status=sys.intern(c.status),
        reason=_text(c.reason),
        message=c.message,
        lastTransitionTime=c.lastTransitionTime if c.type == "Ready" else None,
    )


def _status(status: Any) -> PodStatus | None:
    if status is None:
        return None

    def each(found: list[Any] | None) -> list[ContainerStatus] | None:
        return [_container_status(cs) for cs in found] if found else found

    return PodStatus(
        phase=_text(status.phase),
        conditions=[_condition(c) for c in status.conditions or [] if c.type in KEPT_CONDITIONS]
        or None,
        containerStatuses=each(status.containerStatuses),
        initContainerStatuses=each(status.initContainerStatuses),
        hostIP=_text(status.hostIP),
        podIP=status.podIP,
        startTime=status.startTime,
        reason=status.reason,
        message=status.message,
    )


def pod(p: Any) -> Pod:
    """What the cache keeps of a pod (see the module docstring)."""
    return Pod(
        apiVersion=p.apiVersion,
        kind=p.kind,
        metadata=meta(p.metadata),
        spec=_spec(p.spec),
        status=_status(p.status),
    )


def _meta_only(obj: Any) -> Any:
    return msgspec.structs.replace(obj, metadata=meta(obj.metadata))


def service(s: Any) -> Service:
    """What the cache keeps of a service (see the module docstring)."""
    spec = s.spec
    kept = ServiceSpec(type=_text(spec.type), ports=spec.ports) if spec is not None else None
    return Service(apiVersion=s.apiVersion, kind=s.kind, metadata=meta(s.metadata), spec=kept)


ingress = claim = volume = _meta_only


# What the projections above read, as wire structs (see the module docstring).
_WIRE_CONTAINER = wire_type(
    Container, keep=("name", "image", "ports", "resources", "restartPolicy")
)
_WIRE_CONTAINER_STATUS = wire_type(
    ContainerStatus,
    keep=("image", "name", "ready", "restartCount", "lastState", "started", "state"),
)
_WIRE_CONDITION = wire_type(
    PodCondition, keep=("type", "status", "reason", "message", "lastTransitionTime")
)
_WIRE_VOLUME = wire_type(Volume, keep=("name", "persistentVolumeClaim"))
_WIRE_SPEC = wire_type(
    PodSpec,
    keep=("nodeName", "restartPolicy", "schedulingGates", "resources", "overhead"),
    containers=list[_WIRE_CONTAINER],  # type: ignore[valid-type]
    initContainers=list[_WIRE_CONTAINER] | None,  # type: ignore[valid-type]
    volumes=list[_WIRE_VOLUME] | None,  # type: ignore[valid-type]
)
_WIRE_STATUS = wire_type(
    PodStatus,
    keep=("phase", "hostIP", "podIP", "startTime", "reason", "message"),
    conditions=list[_WIRE_CONDITION] | None,  # type: ignore[valid-type]
    containerStatuses=list[_WIRE_CONTAINER_STATUS] | None,  # type: ignore[valid-type]
    initContainerStatuses=list[_WIRE_CONTAINER_STATUS] | None,  # type: ignore[valid-type]
)
WIRE_POD = wire_type(
    Pod,
    keep=("apiVersion", "kind"),
    metadata=_WIRE_META | None,
    spec=_WIRE_SPEC | None,
    status=_WIRE_STATUS | None,
)
WIRE_SERVICE = wire_type(
    Service,
    keep=("apiVersion", "kind"),
    metadata=_WIRE_META | None,
    spec=wire_type(ServiceSpec, keep=("type", "ports")) | None,
)
