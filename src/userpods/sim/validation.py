"""Defaulting and validation of objects, per kind, as the apiserver applies them.

``apply_defaults`` fills what a real apiserver fills on create (restartPolicy, grace period,
imagePullPolicy, service defaults, ...). ``validate`` returns the field causes of a 422; an empty
list means valid. ``validate_update`` adds the rules that only apply between an old and a new
object (immutable fields).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from . import kinds as k
from .names import (
    check_dns1035_label,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_env_var_name,
    check_label_value,
    check_qualified_name,
    parse_quantity,
)
from .status import (
    Cause,
    duplicate,
    forbidden,
    invalid,
    not_found,
    required,
    too_long,
    unsupported,
)
from .store import clone
from .timefmt import rfc3339

Obj = dict[str, Any]
ANNOTATIONS_LIMIT = 262144
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
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


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# ----------------------------------------------------------------------------- defaults


def apply_defaults(kind: k.Kind, obj: Obj) -> None:
    """Fill the fields a real apiserver defaults on create (in place)."""
    defaulter = _DEFAULTERS.get(kind.key)
    if defaulter:
        defaulter(obj)


def _default_container(c: Obj) -> None:
    image = str(c.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    untagged = ":" not in tag and "@" not in image
    c.setdefault(
        "imagePullPolicy", "Always" if untagged or tag.endswith(":latest") else "IfNotPresent"
    )
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    resources = _dict(c.get("resources"))
    # Limits without requests: requests default to the limits (as the apiserver does).
    if resources.get("limits") and "requests" not in resources:
        resources["requests"] = dict(resources["limits"])
    for port in _list(c.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in _list(c.get("env")):
        if isinstance(env, dict) and "valueFrom" in env:
            ref = _dict(_dict(env["valueFrom"]).get("fieldRef"))
            if ref:
                ref.setdefault("apiVersion", "v1")


def _default_pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    _default_pod_spec(spec)
    # These are a pod's own (SetDefaults_Pod and admission), not a pod template's.
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    if "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault(
        "tolerations",
        [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    )
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
    if spec.get("schedulingGates"):
        # The apiserver marks a gated pod at once; the scheduler ignores it until ungated.
        obj["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(),
            }
        ]


def _default_pod_spec(spec: Obj) -> None:
    """What SetDefaults_PodSpec fills, in a pod and in a pod template alike."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in _list(spec.get("containers")) + _list(spec.get("initContainers")):
        if isinstance(c, dict):
            _default_container(c)
    for vol in _list(spec.get("volumes")):
        if isinstance(vol, dict):
            for source in ("secret", "configMap"):
                if isinstance(vol.get(source), dict):
                    vol[source].setdefault("defaultMode", 420)
            if isinstance(vol.get("hostPath"), dict):
                vol["hostPath"].setdefault("type", "")


def _qos_class(spec: Obj) -> str:
    containers = [c for c in _list(spec.get("containers")) if isinstance(c, dict)]
    reqs = [_dict(_dict(c.get("resources")).get("requests")) for c in containers]
    lims = [_dict(_dict(c.get("resources")).get("limits")) for c in containers]
    if not any(reqs) and not any(lims):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(reqs, lims, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _default_service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in _list(spec.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj["status"] = {"loadBalancer": {}}


def _default_pv(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
        if isinstance(spec.get("hostPath"), dict):
            spec["hostPath"].setdefault("type", "")
    obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": rfc3339()}


def _default_pvc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    obj["status"] = {"phase": "Pending"}


def _default_namespace(obj: Obj) -> None:
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")


def _default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


def _default_ingress(obj: Obj) -> None:
    obj["status"] = {"loadBalancer": {}}


def _default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _default_pod_spec(template["spec"])
    obj["status"] = {}


_DEFAULTERS = {
    k.DEPLOYMENT.key: _default_deployment,
    k.POD.key: _default_pod,
    k.SERVICE.key: _default_service,
    k.PV.key: _default_pv,
    k.PVC.key: _default_pvc,
    k.NAMESPACE.key: _default_namespace,
    k.SECRET.key: _default_secret,
    k.INGRESS.key: _default_ingress,
}


# ----------------------------------------------------------------------------- validation


def validate(kind: k.Kind, obj: Obj) -> list[Cause]:
    """Every field cause of ``obj`` (an empty list: valid)."""
    causes = validate_metadata(kind, _dict(obj.get("metadata")))
    checker = _VALIDATORS.get(kind.key)
    if checker:
        causes.extend(checker(obj))
    return causes


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
    for i, ref in enumerate(_list(meta.get("ownerReferences"))):
        ref = _dict(ref)
        for fld in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(fld):
                path = f"metadata.ownerReferences[{i}].{fld}"
                causes.append(
                    Cause(path, "FieldValueInvalid", f'Invalid value: "": {fld} must not be empty')
                )
    return causes


def _check_quantities(path: str, values: Any) -> list[Cause]:
    causes = []
    for name, value in _dict(values).items():
        try:
            parse_quantity(value)
        except ValueError as exc:
            causes.append(invalid(f"{path}[{name}]", value, str(exc)))
    return causes


def _validate_container(path: str, c: Obj, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    name = c.get("name")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes.extend(invalid(f"{path}.name", name, e) for e in check_dns1123_label(str(name)))
    if not c.get("image") or not str(c.get("image")).strip():
        causes.append(required(f"{path}.image"))
    policy = c.get("imagePullPolicy")
    if policy not in PULL_POLICIES:
        causes.append(unsupported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    seen_ports: set[tuple[int, str]] = set()
    port_names: set[str] = set()
    for i, port in enumerate(_list(c.get("ports"))):
        ppath = f"{path}.ports[{i}]"
        port = _dict(port)
        if port.get("name"):
            if port["name"] in port_names:
                causes.append(duplicate(f"{ppath}.name", port["name"]))
            port_names.add(port["name"])
        number = port.get("containerPort")
        if number is None:
            causes.append(required(f"{ppath}.containerPort"))
        elif not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            causes.append(
                invalid(f"{ppath}.containerPort", number, "must be between 1 and 65535, inclusive")
            )
        proto = port.get("protocol", "TCP")
        if proto not in PROTOCOLS:
            causes.append(unsupported(f"{ppath}.protocol", proto, PROTOCOLS))
        if isinstance(number, int):
            if (number, proto) in seen_ports:
                causes.append(duplicate(f"{ppath}", f"{number}/{proto}"))
            seen_ports.add((number, proto))
    env_names: set[str] = set()
    for i, env in enumerate(_list(c.get("env"))):
        env = _dict(env)
        ename = env.get("name")
        if not ename:
            causes.append(required(f"{path}.env[{i}].name"))
            continue
        causes.extend(
            invalid(f"{path}.env[{i}].name", ename, e) for e in check_env_var_name(str(ename))
        )
        if "value" in env and "valueFrom" in env and env["value"]:
            causes.append(
                invalid(
                    f"{path}.env[{i}].valueFrom",
                    "",
                    "may not be specified when `value` is not empty",
                )
            )
        env_names.add(str(ename))
    mount_paths: set[str] = set()
    for i, mount in enumerate(_list(c.get("volumeMounts"))):
        mpath = f"{path}.volumeMounts[{i}]"
        mount = _dict(mount)
        vname = mount.get("name")
        if not vname:
            causes.append(required(f"{mpath}.name"))
        elif vname not in volumes:
            causes.append(not_found(f"{mpath}.name", vname))
        mount_path = mount.get("mountPath")
        if not mount_path:
            causes.append(required(f"{mpath}.mountPath"))
        elif mount_path in mount_paths:
            causes.append(invalid(f"{mpath}.mountPath", mount_path, "must be unique"))
        else:
            mount_paths.add(str(mount_path))
    resources = _dict(c.get("resources"))
    causes.extend(_check_quantities(f"{path}.resources.limits", resources.get("limits")))
    causes.extend(_check_quantities(f"{path}.resources.requests", resources.get("requests")))
    return causes


def _validate_pod(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    volumes: set[str] = set()
    for i, vol in enumerate(_list(spec.get("volumes"))):
        vol = _dict(vol)
        vname = vol.get("name")
        vpath = f"spec.volumes[{i}]"
        if not vname:
            causes.append(required(f"{vpath}.name"))
        else:
            causes.extend(
                invalid(f"{vpath}.name", vname, e) for e in check_dns1123_label(str(vname))
            )
            if vname in volumes:
                causes.append(duplicate(f"{vpath}.name", vname))
            volumes.add(vname)
        sources = [s for s in VOLUME_SOURCES if s in vol]
        if not sources:
            causes.append(
                Cause(vpath, "FieldValueRequired", "Required value: must specify a volume type")
            )
        elif len(sources) > 1:
            causes.append(
                forbidden(f"{vpath}.{sources[1]}", "may not specify more than 1 volume type")
            )
        claim = _dict(vol.get("persistentVolumeClaim"))
        if "persistentVolumeClaim" in vol and not claim.get("claimName"):
            causes.append(required(f"{vpath}.persistentVolumeClaim.claimName"))
    containers = _list(spec.get("containers"))
    if not containers:
        causes.append(required("spec.containers"))
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(_list(spec.get(group))):
            c = _dict(c)
            causes.extend(_validate_container(f"spec.{group}[{i}]", c, volumes))
            cname = c.get("name")
            if cname in names:
                causes.append(duplicate(f"spec.{group}[{i}].name", cname))
            if isinstance(cname, str):
                names.add(cname)
    policy = spec.get("restartPolicy")
    if policy not in RESTART_POLICIES:
        causes.append(unsupported("spec.restartPolicy", policy, RESTART_POLICIES))
    grace = spec.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or grace < 0:
        causes.append(
            invalid(
                "spec.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"
            )
        )
    gate_names: set[str] = set()
    for i, gate in enumerate(_list(spec.get("schedulingGates"))):
        gate_name = str(_dict(gate).get("name") or "")
        path = f"spec.schedulingGates[{i}].name"
        if not gate_name:
            causes.append(required(path))
            continue
        causes.extend(invalid(path, gate_name, e) for e in check_qualified_name(gate_name))
        if gate_name in gate_names:
            causes.append(duplicate(path, gate_name))
        gate_names.add(gate_name)
    if gate_names and spec.get("nodeName"):
        causes.append(
            forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")
        )
    for i, secret in enumerate(_list(spec.get("imagePullSecrets"))):
        if not _dict(secret).get("name"):
            causes.append(required(f"spec.imagePullSecrets[{i}].name"))
    if spec.get("nodeName"):
        causes.extend(
            invalid("spec.nodeName", spec["nodeName"], e)
            for e in check_dns1123_subdomain(str(spec["nodeName"]))
        )
    return causes


def _validate_service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    stype = spec.get("type")
    if stype not in types:
        causes.append(unsupported("spec.type", stype, types))
    headless = spec.get("clusterIP") == "None"
    ports = _list(spec.get("ports"))
    if not ports and not headless and stype != "ExternalName":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        port = _dict(port)
        pname = port.get("name")
        if len(ports) > 1 and not pname:
            causes.append(required(f"{path}.name"))
        elif pname:
            causes.extend(
                invalid(f"{path}.name", pname, e) for e in check_dns1123_label(str(pname))
            )
            if pname in names:
                causes.append(duplicate(f"{path}.name", pname))
            names.add(pname)
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65536:
            causes.append(invalid(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        if port.get("protocol") not in PROTOCOLS:
            causes.append(unsupported(f"{path}.protocol", port.get("protocol"), PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, int) and not 0 < target < 65536:
            causes.append(
                invalid(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive")
            )
        if port.get("nodePort") and stype == "ClusterIP":
            causes.append(
                forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'")
            )
    selector = spec.get("selector")
    if isinstance(selector, dict):
        for key, value in selector.items():
            causes.extend(invalid("spec.selector", key, e) for e in check_qualified_name(key))
            causes.extend(invalid("spec.selector", value, e) for e in check_label_value(str(value)))
    return causes


def _validate_ingress_backend(path: str, backend: Obj) -> list[Cause]:
    causes: list[Cause] = []
    service = backend.get("service")
    if service is None and backend.get("resource") is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = _dict(service)
    sname = service.get("name")
    if not sname:
        causes.append(required(f"{path}.service.name"))
    else:
        causes.extend(
            invalid(f"{path}.service.name", sname, e) for e in check_dns1035_label(str(sname))
        )
    port = _dict(service.get("port"))
    if "name" in port and "number" in port:
        causes.append(
            invalid(f"{path}.service.port", port, "cannot set both port name & port number")
        )
    elif "name" not in port and "number" not in port:
        causes.append(invalid(f"{path}.service.port", port, "port name or number is required"))
    elif "number" in port:
        number = port["number"]
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                invalid(
                    f"{path}.service.port.number", number, "must be between 1 and 65535, inclusive"
                )
            )
    return causes


def _check_host(path: str, host: str) -> list[Cause]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [invalid(path, host, "must be a DNS name, not an IP address")]
    bare = host[2:] if host.startswith("*.") else host
    if "*" in bare:
        return [
            invalid(
                path,
                host,
                "a wildcard DNS-1123 subdomain must start with '*.', "
                "followed by a valid DNS subdomain, which must consist of lower case "
                "alphanumeric characters, '-' or '.' and end with an alphanumeric "
                "character (e.g. '*.example.com', regex used for validation is "
                r"'\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    return [invalid(path, host, e) for e in check_dns1123_subdomain(bare)]


def _validate_ingress(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    rules = _list(spec.get("rules"))
    if not rules and not spec.get("defaultBackend"):
        causes.append(invalid("spec", spec, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend"):
        causes.extend(
            _validate_ingress_backend("spec.defaultBackend", _dict(spec["defaultBackend"]))
        )
    path_types = ["Exact", "ImplementationSpecific", "Prefix"]
    for i, rule in enumerate(rules):
        rule = _dict(rule)
        rpath = f"spec.rules[{i}]"
        if rule.get("host"):
            causes.extend(_check_host(f"{rpath}.host", str(rule["host"])))
        http = rule.get("http")
        if http is None:
            continue
        paths = _list(_dict(http).get("paths"))
        if not paths:
            causes.append(required(f"{rpath}.http.paths"))
        for j, p in enumerate(paths):
            p = _dict(p)
            ppath = f"{rpath}.http.paths[{j}]"
            ptype = p.get("pathType")
            if ptype is None:
                causes.append(
                    Cause(
                        f"{ppath}.pathType",
                        "FieldValueRequired",
                        "Required value: pathType must be specified",
                    )
                )
            elif ptype not in path_types:
                causes.append(unsupported(f"{ppath}.pathType", ptype, path_types))
            route = p.get("path")
            if ptype in ("Exact", "Prefix") and not str(route or "").startswith("/"):
                causes.append(invalid(f"{ppath}.path", route or "", "must be an absolute path"))
            causes.extend(_validate_ingress_backend(f"{ppath}.backend", _dict(p.get("backend"))))
    for i, tls in enumerate(_list(spec.get("tls"))):
        for j, host in enumerate(_list(_dict(tls).get("hosts"))):
            causes.extend(_check_host(f"spec.tls[{i}].hosts[{j}]", str(host)))
    return causes


def _check_access_modes(path: str, modes: Any) -> list[Cause]:
    modes = _list(modes)
    if not modes:
        return [
            Cause(path, "FieldValueRequired", "Required value: at least 1 access mode is required")
        ]
    return [unsupported(path, m, ACCESS_MODES) for m in modes if m not in ACCESS_MODES]


def _validate_pv(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _check_access_modes("spec.accessModes", spec.get("accessModes"))
    capacity = _dict(spec.get("capacity"))
    if not capacity:
        causes.append(required("spec.capacity"))
    elif "storage" not in capacity:
        causes.append(required("spec.capacity[storage]"))
    causes.extend(_check_quantities("spec.capacity", capacity))
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


def _validate_pvc(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes = _check_access_modes("spec.accessModes", spec.get("accessModes"))
    requests = _dict(_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        causes.append(required("spec.resources[storage]"))
    causes.extend(_check_quantities("spec.resources.requests", requests))
    return causes


def _validate_event(obj: Obj) -> list[Cause]:
    involved = _dict(obj.get("involvedObject"))
    ns = _dict(obj.get("metadata")).get("namespace", "")
    if involved.get("namespace") and involved["namespace"] != ns:
        return [
            invalid(
                "involvedObject.namespace", involved["namespace"], "does not match event.namespace"
            )
        ]
    return []


def _validate_configmap(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for section in ("data", "binaryData"):
        for key, value in _dict(obj.get(section)).items():
            if not isinstance(value, str):
                causes.append(invalid(f"{section}[{key}]", value, "must be a string"))
    total = sum(len(str(v)) for v in _dict(obj.get("data")).values())
    if total > 1048576:
        causes.append(too_long("data", 1048576))
    return causes


# Secret types whose data must hold these keys (as ValidateSecret).
SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
}


def _validate_secret(obj: Obj) -> list[Cause]:
    causes = _validate_configmap(obj)
    data = _dict(obj.get("data"))
    for key in SECRET_KEYS.get(str(obj.get("type", "")), ()):
        if key not in data:
            causes.append(required(f"data[{key}]"))
    return causes


def _validate_rules(obj: Obj, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(_list(obj.get("rules"))):
        rule = _dict(rule)
        path = f"rules[{i}]"
        if not _list(rule.get("verbs")):
            causes.append(
                Cause(
                    f"{path}.verbs",
                    "FieldValueRequired",
                    "Required value: verbs must contain at least one value",
                )
            )
        if cluster and rule.get("nonResourceURLs"):
            if rule.get("resources") or rule.get("apiGroups"):
                causes.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        rule["nonResourceURLs"],
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not _list(rule.get("apiGroups")):
            causes.append(
                Cause(
                    f"{path}.apiGroups",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one api group",
                )
            )
        if not _list(rule.get("resources")):
            causes.append(
                Cause(
                    f"{path}.resources",
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one resource",
                )
            )
    return causes


def _validate_binding(obj: Obj, cluster: bool) -> list[Cause]:
    causes: list[Cause] = []
    ref = _dict(obj.get("roleRef"))
    kinds = ["ClusterRole"] if cluster else ["ClusterRole", "Role"]
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        causes.append(
            unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"])
        )
    if ref.get("kind") not in kinds:
        causes.append(unsupported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    for i, subject in enumerate(_list(obj.get("subjects"))):
        subject = _dict(subject)
        path = f"subjects[{i}]"
        kind = subject.get("kind")
        if kind not in ("Group", "ServiceAccount", "User"):
            causes.append(
                unsupported(f"{path}.kind", kind or "", ["Group", "ServiceAccount", "User"])
            )
        if not subject.get("name"):
            causes.append(required(f"{path}.name"))
        if kind == "ServiceAccount" and cluster and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    return causes


def _validate_deployment(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    selector = _dict(_dict(spec.get("selector")).get("matchLabels"))
    template = _dict(spec.get("template"))
    labels = _dict(_dict(template.get("metadata")).get("labels"))
    if not spec.get("selector"):
        causes.append(required("spec.selector"))
    elif not selector or any(labels.get(key) != value for key, value in selector.items()):
        shown = (
            "map[string]string{"
            + ", ".join(f'"{key}":"{value}"' for key, value in sorted(labels.items()))
            + "}"
        )
        causes.append(
            Cause(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {shown}: `selector` does not match template `labels`",
            )
        )
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    for cause in _validate_pod({"spec": template.get("spec")}):
        cause.field = "spec.template." + cause.field
        causes.append(cause)
    return causes


_VALIDATORS = {
    k.ROLE.key: lambda obj: _validate_rules(obj, cluster=False),
    k.CLUSTERROLE.key: lambda obj: _validate_rules(obj, cluster=True),
    k.ROLEBINDING.key: lambda obj: _validate_binding(obj, cluster=False),
    k.CLUSTERROLEBINDING.key: lambda obj: _validate_binding(obj, cluster=True),
    k.DEPLOYMENT.key: _validate_deployment,
    k.POD.key: _validate_pod,
    k.SERVICE.key: _validate_service,
    k.INGRESS.key: _validate_ingress,
    k.PV.key: _validate_pv,
    k.PVC.key: _validate_pvc,
    k.EVENT.key: _validate_event,
    k.CONFIGMAP.key: _validate_configmap,
    k.SECRET.key: _validate_secret,
}


# ----------------------------------------------------------------------------- updates

_POD_MUTABLE = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)


def _pod_spec_without_mutable(spec: Obj) -> Obj:
    spec = clone(spec)
    for key in _POD_MUTABLE:
        spec.pop(key, None)
    for c in _list(spec.get("containers")) + _list(spec.get("initContainers")):
        if isinstance(c, dict):
            c.pop("image", None)
    return spec


def validate_update(kind: k.Kind, new: Obj, old: Obj) -> list[Cause]:
    """Rules between the stored object and its replacement (immutable fields)."""
    causes: list[Cause] = []
    if kind in (k.ROLEBINDING, k.CLUSTERROLEBINDING) and new.get("roleRef") != old.get("roleRef"):
        causes.append(invalid("roleRef", str(new.get("roleRef")), "cannot change roleRef"))
    if kind is k.POD:
        old_gates = [g.get("name") for g in _list(_dict(old.get("spec")).get("schedulingGates"))]
        for i, gate in enumerate(_list(_dict(new.get("spec")).get("schedulingGates"))):
            if _dict(gate).get("name") not in old_gates:
                causes.append(
                    forbidden(
                        f"spec.schedulingGates[{i}].name",
                        "only deletion is allowed, but "
                        f"found new scheduling gate '{_dict(gate).get('name')}'",
                    )
                )
    if kind is k.POD:
        if _pod_spec_without_mutable(_dict(new.get("spec"))) != _pod_spec_without_mutable(
            _dict(old.get("spec"))
        ):
            causes.append(
                forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                    "`spec.tolerations` (only additions to existing tolerations),"
                    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                    "previously negative)",
                )
            )
    elif kind is k.PVC:
        new_spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
        comparable_new = {key: v for key, v in new_spec.items() if key != "resources"}
        comparable_old = {key: v for key, v in old_spec.items() if key != "resources"}
        if not old_spec.get("volumeName"):
            comparable_new.pop("volumeName", None)
            comparable_old.pop("volumeName", None)
        if comparable_new != comparable_old:
            causes.append(
                forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and "
                    "volumeAttributesClassName for bound claims",
                )
            )
    elif kind is k.SERVICE:
        new_ip = _dict(new.get("spec")).get("clusterIP")
        old_ip = _dict(old.get("spec")).get("clusterIP")
        if new_ip and old_ip and new_ip != old_ip:
            causes.append(invalid("spec.clusterIPs[0]", new_ip, "may not change once set"))
    elif kind is k.PV:
        new_src = {s: _dict(new.get("spec")).get(s) for s in VOLUME_SOURCES}
        old_src = {s: _dict(old.get("spec")).get(s) for s in VOLUME_SOURCES}
        if new_src != old_src:
            causes.append(
                forbidden(
                    "spec.persistentvolumesource",
                    "spec.persistentvolumesource is immutable after creation",
                )
            )
    return causes
