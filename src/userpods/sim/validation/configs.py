"""ConfigMaps and Secrets: a secret's default type, string values, the size limit, and the
keys each secret type must hold.
"""

from __future__ import annotations

from ..status import Cause, invalid, required, too_long
from .common import Obj, as_dict


def default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


def validate_configmap(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for section in ("data", "binaryData"):
        for key, value in as_dict(obj.get(section)).items():
            if not isinstance(value, str):
                causes.append(invalid(f"{section}[{key}]", value, "must be a string"))
    total = sum(len(str(v)) for v in as_dict(obj.get("data")).values())
    if total > 1048576:
        causes.append(too_long("data", 1048576))
    return causes


# Secret types whose data must hold these keys (as ValidateSecret).
SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
}


def validate_secret(obj: Obj) -> list[Cause]:
    causes = validate_configmap(obj)
    data = as_dict(obj.get("data"))
    for key in SECRET_KEYS.get(str(obj.get("type", "")), ()):
        if key not in data:
            causes.append(required(f"data[{key}]"))
    return causes
