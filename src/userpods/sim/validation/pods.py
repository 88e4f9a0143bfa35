"""A pod's defaults (SetDefaults_Pod, SetDefaults_PodSpec, the container defaults and the QoS
class), its validation (volumes, containers, ports, env, mounts, scheduling gates) and the
fields an update may change. Deployments reuse the pod-spec parts for their template.
"""

from __future__ import annotations

from ..names import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_env_var_name,
    check_qualified_name,
)
from ..status import Cause, duplicate, forbidden, invalid, not_found, required, unsupported
from ..store import clone
from ..timefmt import rfc3339
from .common import PROTOCOLS, VOLUME_SOURCES, Obj, as_dict, as_list, check_quantities

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]


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
    resources = as_dict(c.get("resources"))
    # Limits without requests: requests default to the limits (as the apiserver does).
    if resources.get("limits") and "requests" not in resources:
        resources["requests"] = dict(resources["limits"])
    for port in as_list(c.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in as_list(c.get("env")):
        if isinstance(env, dict) and "valueFrom" in env:
            ref = as_dict(as_dict(env["valueFrom"]).get("fieldRef"))
            if ref:
                ref.setdefault("apiVersion", "v1")


def default_pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    default_pod_spec(spec)
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


def default_pod_spec(spec: Obj) -> None:
    """What SetDefaults_PodSpec fills, in a pod and in a pod template alike."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers")):
        if isinstance(c, dict):
            _default_container(c)
    for vol in as_list(spec.get("volumes")):
        if isinstance(vol, dict):
            for source in ("secret", "configMap"):
                if isinstance(vol.get(source), dict):
                    vol[source].setdefault("defaultMode", 420)
            if isinstance(vol.get("hostPath"), dict):
                vol["hostPath"].setdefault("type", "")


def _qos_class(spec: Obj) -> str:
    containers = [c for c in as_list(spec.get("containers")) if isinstance(c, dict)]
    reqs = [as_dict(as_dict(c.get("resources")).get("requests")) for c in containers]
    lims = [as_dict(as_dict(c.get("resources")).get("limits")) for c in containers]
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
    for i, port in enumerate(as_list(c.get("ports"))):
        ppath = f"{path}.ports[{i}]"
        port = as_dict(port)
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
    for i, env in enumerate(as_list(c.get("env"))):
        env = as_dict(env)
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
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        mpath = f"{path}.volumeMounts[{i}]"
        mount = as_dict(mount)
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
    resources = as_dict(c.get("resources"))
    causes.extend(check_quantities(f"{path}.resources.limits", resources.get("limits")))
    causes.extend(check_quantities(f"{path}.resources.requests", resources.get("requests")))
    return causes


def validate_pod(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    volumes: set[str] = set()
    for i, vol in enumerate(as_list(spec.get("volumes"))):
        vol = as_dict(vol)
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
        claim = as_dict(vol.get("persistentVolumeClaim"))
        if "persistentVolumeClaim" in vol and not claim.get("claimName"):
            causes.append(required(f"{vpath}.persistentVolumeClaim.claimName"))
    containers = as_list(spec.get("containers"))
    if not containers:
        causes.append(required("spec.containers"))
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(as_list(spec.get(group))):
            c = as_dict(c)
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
    for i, gate in enumerate(as_list(spec.get("schedulingGates"))):
        gate_name = str(as_dict(gate).get("name") or "")
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
    for i, secret in enumerate(as_list(spec.get("imagePullSecrets"))):
        if not as_dict(secret).get("name"):
            causes.append(required(f"spec.imagePullSecrets[{i}].name"))
    if spec.get("nodeName"):
        causes.extend(
            invalid("spec.nodeName", spec["nodeName"], e)
            for e in check_dns1123_subdomain(str(spec["nodeName"]))
        )
    return causes


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
    for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers")):
        if isinstance(c, dict):
            c.pop("image", None)
    return spec


def pod_update(new: Obj, old: Obj) -> list[Cause]:
    """A pod's scheduling gates may only be removed, and its spec changes only where allowed."""
    causes: list[Cause] = []
    old_gates = [g.get("name") for g in as_list(as_dict(old.get("spec")).get("schedulingGates"))]
    for i, gate in enumerate(as_list(as_dict(new.get("spec")).get("schedulingGates"))):
        if as_dict(gate).get("name") not in old_gates:
            causes.append(
                forbidden(
                    f"spec.schedulingGates[{i}].name",
                    "only deletion is allowed, but "
                    f"found new scheduling gate '{as_dict(gate).get('name')}'",
                )
            )
    if _pod_spec_without_mutable(as_dict(new.get("spec"))) != _pod_spec_without_mutable(
        as_dict(old.get("spec"))
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
    return causes
