"""Discovery and the minimal OpenAPI v3 documents that kubectl asks for.

kubectl resolves resource names through discovery (``/api``, ``/apis``, ``/api/v1``, ...), and
before ``create``/``apply`` it reads ``/openapi/v3`` to learn whether the server validates
(``fieldValidation`` on the PATCH operation of the kind's path, tagged with
``x-kubernetes-group-version-kind``). With that, it leaves validation to the server.

Groups served by extension apiservers (``aggregated``: metrics-server's ``metrics.k8s.io``,
registered as an APIService on a real cluster) are listed after the built-in ones, as the
aggregator orders them by priority; their resources have no singular name and no storage
version hash, being stored nowhere. They have no OpenAPI document here (kubectl needs none).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from .kinds import KINDS, Kind, group_versions

VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0-userpods-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "exec": ["create", "get"],
    "binding": ["create"],
    "eviction": ["create"],
    "finalize": ["update"],
    "token": ["create"],
}


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def api_group_list(aggregated: Sequence[Kind] = ()) -> dict[str, Any]:
    groups = []
    served = sorted(group_versions().items())
    for kd in aggregated:
        if all(kd.group != name for name, _ in served):
            served.append((kd.group, [kd]))
    for group, kinds in served:
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{kinds[0].version}", "version": kinds[0].version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str, aggregated: Sequence[Kind] = ()) -> dict[str, Any] | None:
    for entry in api_group_list(aggregated)["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def _aggregated_resource(kd: Kind) -> dict[str, Any]:
    return {
        "name": kd.plural,
        "singularName": "",
        "namespaced": kd.namespaced,
        "kind": kd.kind,
        "verbs": list(kd.verbs),
    }


def resource_list(
    group: str, version: str, aggregated: Sequence[Kind] = ()
) -> dict[str, Any] | None:
    kinds = [kd for kd in KINDS if kd.group == group and kd.version == version]
    extra = [kd for kd in aggregated if kd.group == group and kd.version == version]
    if not kinds and not extra:
        return None
    resources: list[dict[str, Any]] = [_aggregated_resource(kd) for kd in extra]
    for kd in kinds:
        entry: dict[str, Any] = {
            "name": kd.plural,
            "singularName": kd.singular,
            "namespaced": kd.namespaced,
            "kind": kd.kind,
            "verbs": list(kd.verbs),
        }
        if kd.short_names:
            entry["shortNames"] = list(kd.short_names)
        if kd.categories:
            entry["categories"] = list(kd.categories)
        entry["storageVersionHash"] = hashlib.sha256(kd.key.encode()).hexdigest()[:11]
        resources.append(entry)
        for sub in kd.subresources:
            resources.append(
                {
                    "name": f"{kd.plural}/{sub}",
                    "singularName": "",
                    "namespaced": kd.namespaced,
                    "kind": "Binding" if sub == "binding" else kd.kind,
                    "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
                }
            )
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


# ----------------------------------------------------------------------------- OpenAPI v3


def _doc_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_index() -> dict[str, Any]:
    paths = {}
    for group, kinds in group_versions().items():
        key = _doc_key(group, kinds[0].version)
        digest = hashlib.sha256(json.dumps(openapi_document(key)).encode()).hexdigest()[:16]
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.upper()}"}
    return {"paths": paths}


def _gvk(kd: Kind) -> dict[str, str]:
    return {"group": kd.group, "version": kd.version, "kind": kd.kind}


_PARAMS = {
    "fieldValidation": {
        "name": "fieldValidation",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
        "description": "fieldValidation instructs the server on how to handle objects in the "
        "request containing unknown or duplicate fields: Ignore, Warn or Strict.",
    },
    "dryRun": {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    "fieldManager": {
        "name": "fieldManager",
        "in": "query",
        "schema": {"type": "string", "uniqueItems": True},
    },
}


def _operation(kd: Kind, action: str, params: list[str]) -> dict[str, Any]:
    return {
        "operationId": f"{action}{kd.kind}",
        "parameters": [_PARAMS[p] for p in params],
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{_schema_name(kd)}"}
                    }
                },
            }
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(kd),
    }


def _schema_name(kd: Kind) -> str:
    prefix = f"io.k8s.api.{kd.group.split('.')[0] or 'core'}.{kd.version}"
    return f"{prefix}.{kd.kind}"


def openapi_document(key: str) -> dict[str, Any] | None:
    """The per-group-version document: paths with their GVKs, and open schemas per kind."""
    for group, kinds in group_versions().items():
        if _doc_key(group, kinds[0].version) != key:
            continue
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        for kd in kinds:
            base = (
                f"/{key}/namespaces/{{namespace}}/{kd.plural}"
                if kd.namespaced
                else f"/{key}/{kd.plural}"
            )
            paths[base] = {
                "get": _operation(kd, "list", []),
                "post": _operation(kd, "post", ["dryRun", "fieldManager", "fieldValidation"]),
            }
            paths[f"{base}/{{name}}"] = {
                "get": _operation(kd, "get", []),
                "put": _operation(kd, "put", ["dryRun", "fieldManager", "fieldValidation"]),
                "patch": _operation(kd, "patch", ["dryRun", "fieldManager", "fieldValidation"]),
                "delete": _operation(kd, "delete", ["dryRun"]),
            }
            schemas[_schema_name(kd)] = {
                "type": "object",
                "description": f"{kd.kind} (schema left open by the simulated cluster)",
                "x-kubernetes-group-version-kind": [_gvk(kd)],
                "additionalProperties": True,
            }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes (userpods sim)", "version": VERSION["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas},
        }
    return None


def known_path(path: str, aggregated: Sequence[Kind] = ()) -> bool:
    """Whether ``path`` lies under a served API group version (``/api/v1``, ``/apis/g/v``);
    outside them a real apiserver answers a plain-text 404, inside them a Status."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        return True
    return (
        len(parts) >= 3
        and parts[0] == "apis"
        and resource_list(parts[1], parts[2], aggregated) is not None
    )
