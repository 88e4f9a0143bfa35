"""PersistentVolumes and PersistentVolumeClaims: defaults, validation (access modes, capacity,
the one volume source, NFS paths, reclaim policy, requests) and what an update may change.
"""

from __future__ import annotations

from typing import Any

from ..status import Cause, forbidden, invalid, required, unsupported
from ..timefmt import rfc3339
from .common import VOLUME_SOURCES, Obj, as_dict, as_list, check_quantities

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def default_pv(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
        if isinstance(spec.get("hostPath"), dict):
            spec["hostPath"].setdefault("type", "")
    obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": rfc3339()}


def default_pvc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    obj["status"] = {"phase": "Pending"}


def _check_access_modes(path: str, modes: Any) -> list[Cause]:
    modes = as_list(modes)
    if not modes:
        return [
            Cause(path, "FieldValueRequired", "Required value: at least 1 access mode is required")
        ]
    return [unsupported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]


def validate_pv(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _check_access_modes("spec.accessModes", spec.get("accessModes"))
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        causes.append(required("spec.capacity"))
    elif "storage" not in capacity:
        causes.append(required("spec.capacity[storage]"))
    causes.extend(check_quantities("spec.capacity", capacity))
    sources = [s for s in VOLUME_SOURCES if s in spec]
    if not sources:
        causes.append(
            Cause("spec", "FieldValueRequired", "Required value: must specify a volume type")
        )
    elif len(sources) > 1:
        causes.append(forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    nfs = spec.get("nfs")
    if isinstance(nfs, dict):
        if not nfs.get("server"):
            causes.append(required("spec.nfs.server"))
        if not nfs.get("path"):
            causes.append(required("spec.nfs.path"))
        elif not str(nfs["path"]).startswith("/"):
            causes.append(invalid("spec.nfs.path", nfs["path"], "must be an absolute path"))
    policies = ["Delete", "Recycle", "Retain"]
    if spec.get("persistentVolumeReclaimPolicy") not in policies:
        causes.append(
            unsupported(
                "spec.persistentVolumeReclaimPolicy",
                spec.get("persistentVolumeReclaimPolicy"),
                policies,
            )
        )
    return causes


def validate_pvc(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _check_access_modes("spec.accessModes", spec.get("accessModes"))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        causes.append(required("spec.resources[storage]"))
    causes.extend(check_quantities("spec.resources.requests", requests))
    return causes


def pvc_update(new: Obj, old: Obj) -> list[Cause]:
    """A claim's spec is immutable but for its requests (and a volumeName set when unbound)."""
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    comparable_new = {key: v for key, v in new_spec.items() if key != "resources"}
    comparable_old = {key: v for key, v in old_spec.items() if key != "resources"}
    if not old_spec.get("volumeName"):
        comparable_new.pop("volumeName", None)
        comparable_old.pop("volumeName", None)
    if comparable_new != comparable_old:
        return [
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims",
            )
        ]
    return []


def pv_update(new: Obj, old: Obj) -> list[Cause]:
    """A volume's source is immutable."""
    new_src = {s: as_dict(new.get("spec")).get(s) for s in VOLUME_SOURCES}
    old_src = {s: as_dict(old.get("spec")).get(s) for s in VOLUME_SOURCES}
    if new_src != old_src:
        return [
            forbidden(
                "spec.persistentvolumesource",
                "spec.persistentvolumesource is immutable after creation",
            )
        ]
    return []
