"""A Service's defaults (type, session affinity, IP families, port protocols and target
ports), its validation, and the cluster IP an update may not change.
"""

from __future__ import annotations

from ..names import check_dns1123_label, check_label_value, check_qualified_name
from ..status import Cause, duplicate, forbidden, invalid, required, unsupported
from .common import PROTOCOLS, Obj, as_dict, as_list


def default_service(obj: Obj) -> None:
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
    for port in as_list(spec.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj["status"] = {"loadBalancer": {}}


def validate_service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    stype = spec.get("type")
    if stype not in types:
        causes.append(unsupported("spec.type", stype, types))
    headless = spec.get("clusterIP") == "None"
    ports = as_list(spec.get("ports"))
    if not ports and not headless and stype != "ExternalName":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        port = as_dict(port)
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


def service_update(new: Obj, old: Obj) -> list[Cause]:
    """A cluster IP, once set, stays."""
    new_ip = as_dict(new.get("spec")).get("clusterIP")
    old_ip = as_dict(old.get("spec")).get("clusterIP")
    if new_ip and old_ip and new_ip != old_ip:
        return [invalid("spec.clusterIPs[0]", new_ip, "may not change once set")]
    return []
