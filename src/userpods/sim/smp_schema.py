"""The patch metadata strategic merge patch needs: for each Go type, which fields are lists
with a merge strategy (and their ``patchMergeKey``) and which nested fields have types with
such lists. Taken from the ``patchStrategy``/``patchMergeKey`` tags of k8s.io/api's and
apimachinery's ``types.go`` for the kinds the simulated cluster serves; a field not listed
here has no strategy (a list is replaced whole, a map merged key by key).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    strategy: str = ""  # "merge" or "" (replace)
    merge_key: str = ""  # for lists of objects under "merge"
    type: str | None = None  # the Go type of the field (or of the list's elements)


NONE = Field()


def _merge(key: str = "", of: str | None = None) -> Field:
    return Field("merge", key, of)


def _struct(name: str) -> Field:
    return Field("", "", name)


_CONDITIONS = _merge("type")
TYPES: dict[str, dict[str, Field]] = {
    "ObjectMeta": {"ownerReferences": _merge("uid"), "finalizers": _merge()},
    "Pod": {
        "metadata": _struct("ObjectMeta"),
        "spec": _struct("PodSpec"),
        "status": _struct("PodStatus"),
    },
    "PodTemplateSpec": {"metadata": _struct("ObjectMeta"), "spec": _struct("PodSpec")},
    "PodSpec": {
        "containers": _merge("name", "Container"),
        "initContainers": _merge("name", "Container"),
        "ephemeralContainers": _merge("name", "Container"),
        "volumes": _merge("name"),
        "imagePullSecrets": _merge("name"),
        "hostAliases": _merge("ip"),
        "topologySpreadConstraints": _merge("topologyKey"),
        "schedulingGates": _merge("name"),
        "resourceClaims": _merge("name"),
    },
    "Container": {
        "ports": _merge("containerPort"),
        "env": _merge("name"),
        "volumeMounts": _merge("mountPath"),
        "volumeDevices": _merge("devicePath"),
    },
    "PodStatus": {
        "conditions": _CONDITIONS,
        "hostIPs": _merge("ip"),
        "podIPs": _merge("ip"),
        "containerStatuses": _struct("ContainerStatus"),
        "initContainerStatuses": _struct("ContainerStatus"),
    },
    "ContainerStatus": {
        "volumeMounts": _merge("mountPath"),
        "allocatedResourcesStatus": _merge("name"),
    },
    "Service": {
        "metadata": _struct("ObjectMeta"),
        "spec": _struct("ServiceSpec"),
        "status": _struct("Conditioned"),
    },
    "ServiceSpec": {"ports": _merge("port")},
    "Conditioned": {"conditions": _CONDITIONS},
    "Deployment": {
        "metadata": _struct("ObjectMeta"),
        "spec": _struct("DeploymentSpec"),
        "status": _struct("Conditioned"),
    },
    "DeploymentSpec": {"template": _struct("PodTemplateSpec")},
    "Node": {
        "metadata": _struct("ObjectMeta"),
        "spec": _struct("NodeSpec"),
        "status": _struct("NodeStatus"),
    },
    "NodeSpec": {"podCIDRs": _merge()},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": _merge("type")},
    "Namespace": {"metadata": _struct("ObjectMeta"), "status": _struct("Conditioned")},
    "PersistentVolumeClaim": {"metadata": _struct("ObjectMeta"), "status": _struct("Conditioned")},
    "ServiceAccount": {"metadata": _struct("ObjectMeta"), "secrets": _merge("name")},
    "Object": {"metadata": _struct("ObjectMeta")},  # any other kind: metadata's lists only
}


def lookup(type_name: str | None, field: str) -> Field:
    if type_name is None:
        return NONE
    return TYPES.get(type_name, {}).get(field, NONE)


def root_type(kind: str) -> str:
    """The Go type name a kind's objects are patched as."""
    return kind if kind in TYPES else "Object"
