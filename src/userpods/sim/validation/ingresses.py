"""An Ingress's defaults and validation: rules, paths and path types, backends, and hosts
(DNS names or wildcards, never IP addresses).
"""

from __future__ import annotations

import ipaddress

from ..names import check_dns1035_label, check_dns1123_subdomain
from ..status import Cause, invalid, required, unsupported
from .common import Obj, as_dict, as_list


def default_ingress(obj: Obj) -> None:
    obj["status"] = {"loadBalancer": {}}


def _validate_ingress_backend(path: str, backend: Obj) -> list[Cause]:
    causes: list[Cause] = []
    service = backend.get("service")
    if service is None and backend.get("resource") is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = as_dict(service)
    sname = service.get("name")
    if not sname:
        causes.append(required(f"{path}.service.name"))
    else:
        causes.extend(
            invalid(f"{path}.service.name", sname, e) for e in check_dns1035_label(str(sname))
        )
    port = as_dict(service.get("port"))
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


def validate_ingress(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    rules = as_list(spec.get("rules"))
    if not rules and not spec.get("defaultBackend"):
        causes.append(invalid("spec", spec, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend"):
        causes.extend(
            _validate_ingress_backend("spec.defaultBackend", as_dict(spec["defaultBackend"]))
        )
    path_types = ["Exact", "ImplementationSpecific", "Prefix"]
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        rpath = f"spec.rules[{i}]"
        if rule.get("host"):
            causes.extend(_check_host(f"{rpath}.host", str(rule["host"])))
        http = rule.get("http")
        if http is None:
            continue
        paths = as_list(as_dict(http).get("paths"))
        if not paths:
            causes.append(required(f"{rpath}.http.paths"))
        for j, p in enumerate(paths):
            p = as_dict(p)
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
            causes.extend(_validate_ingress_backend(f"{ppath}.backend", as_dict(p.get("backend"))))
    for i, tls in enumerate(as_list(spec.get("tls"))):
        for j, host in enumerate(as_list(as_dict(tls).get("hosts"))):
            causes.extend(_check_host(f"spec.tls[{i}].hosts[{j}]", str(host)))
    return causes
