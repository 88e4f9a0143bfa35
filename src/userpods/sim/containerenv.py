"""A container's environment, resolved as the kubelet resolves it.

``env`` and ``envFrom`` from ConfigMaps and Secrets (optional or not), ``fieldRef`` of the
pod's own fields, ``$(VAR)`` references to earlier variables, and the variables every
container gets (``PATH``, ``HOSTNAME``, the kubernetes service). A reference to a missing
ConfigMap, Secret or key raises ``ConfigError``: the pod worker shows it as
``CreateContainerConfigError`` and tries again when they change.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from . import kinds as k
from .store import Store

Obj = dict[str, Any]


class ConfigError(Exception):
    """A container's env refers to a ConfigMap/Secret (or key) that does not exist."""


def container_env(store: Store, pod: Obj, spec: Obj, pod_ip: str, host_ip: str) -> dict[str, str]:
    """Resolve a container's env as the kubelet does; ``ConfigError`` for missing refs."""
    meta = pod.get("metadata", {})
    ns = meta.get("namespace", "")
    env: dict[str, str] = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": meta.get("name", ""),
        "HOME": "/root",
    }
    for source in spec.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _lookup(store, k.CONFIGMAP, ns, source["configMapRef"])
        else:
            data = _lookup(store, k.SECRET, ns, source.get("secretRef", {}))
        env.update({prefix + key: value for key, value in (data or {}).items()})
    for item in spec.get("env") or []:
        name = item.get("name", "")
        if "valueFrom" not in item:
            env[name] = _expand_refs(str(item.get("value", "")), env)
            continue
        value = _value_from(store, pod, item["valueFrom"], ns, pod_ip, host_ip)
        if value is not None:
            env[name] = value
    env.update(
        {
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
            "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        }
    )
    return env


def _lookup(store: Store, kind: k.Kind, ns: str, ref: Obj) -> dict[str, str] | None:
    obj = store.get(kind, ns, ref.get("name", ""))
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind.singular} "{ref.get("name", "")}" not found')
    if kind is k.SECRET:
        return {
            key: base64.b64decode(v).decode(errors="replace")
            for key, v in (obj.get("data") or {}).items()
        }
    return dict(obj.get("data") or {})


def _value_from(
    store: Store, pod: Obj, source: Obj, ns: str, pod_ip: str, host_ip: str
) -> str | None:
    if "fieldRef" in source:
        path = source["fieldRef"].get("fieldPath", "")
        meta = pod.get("metadata", {})
        simple = {
            "metadata.name": meta.get("name", ""),
            "metadata.namespace": ns,
            "metadata.uid": meta.get("uid", ""),
            "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
            "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
            "status.podIP": pod_ip,
            "status.hostIP": host_ip,
        }
        if path in simple:
            return str(simple[path])
        for prefix, bag in (
            ("metadata.labels", "labels"),
            ("metadata.annotations", "annotations"),
        ):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return str(meta.get(bag, {}).get(path[len(prefix) + 2 : -2], ""))
        return ""
    for key, kind in (("configMapKeyRef", k.CONFIGMAP), ("secretKeyRef", k.SECRET)):
        if key in source:
            ref = source[key]
            data = _lookup(store, kind, ns, ref)
            if data is None:
                return None
            if ref.get("key") not in data:
                if ref.get("optional"):
                    return None
                label = "ConfigMap" if kind is k.CONFIGMAP else "Secret"
                raise ConfigError(
                    f"couldn't find key {ref.get('key')} in {label} {ns}/{ref.get('name')}"
                )
            return data[ref["key"]]
    return ""


def _expand_refs(value: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` references to earlier variables, as in a container's env."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)
