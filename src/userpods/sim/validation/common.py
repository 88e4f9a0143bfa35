"""What every kind's validation shares: metadata, quantities, the lists of protocols and
volume sources, and the tolerant accessors for bodies that may hold anything.
"""

from __future__ import annotations

from typing import Any

from .. import kinds as k
from ..names import check_label_value, check_qualified_name, parse_quantity
from ..status import Cause, invalid

Obj = dict[str, Any]
ANNOTATIONS_LIMIT = 262144
PROTOCOLS = ["SCTP", "TCP", "UDP"]
VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
    "local",
)


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def validate_metadata(kind: k.Kind, meta: Obj) -> list[Cause]:
    causes: list[Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(
            Cause(
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required",
            )
        )
    elif isinstance(name, str):
        causes.extend(invalid("metadata.name", name, e) for e in kind.name_check(name))
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            causes.extend(invalid("metadata.labels", key, e) for e in check_qualified_name(key))
            if not isinstance(value, str):
                causes.append(invalid("metadata.labels", value, "must be a string"))
                continue
            causes.extend(invalid("metadata.labels", value, e) for e in check_label_value(value))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        total = 0
        for key, value in annotations.items():
            causes.extend(
                invalid("metadata.annotations", key, e) for e in check_qualified_name(key.lower())
            )
            total += len(key) + len(str(value))
        if total > ANNOTATIONS_LIMIT:
            causes.append(
                Cause(
                    "metadata.annotations",
                    "FieldValueTooLong",
                    f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
                )
            )
    for i, ref in enumerate(as_list(meta.get("ownerReferences"))):
        ref = as_dict(ref)
        for fld in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(fld):
                path = f"metadata.ownerReferences[{i}].{fld}"
                causes.append(
                    Cause(path, "FieldValueInvalid", f'Invalid value: "": {fld} must not be empty')
                )
    return causes


def check_quantities(path: str, values: Any) -> list[Cause]:
    causes = []
    for name, value in as_dict(values).items():
        try:
            parse_quantity(value)
        except ValueError as exc:
            causes.append(invalid(f"{path}[{name}]", value, str(exc)))
    return causes
