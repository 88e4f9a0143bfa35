"""The REST API described as OpenAPI 3.1 (``GET /openapi.json``), and docs/openapi.md from it.

One table, :data:`ROUTES`, says for each path what the routes of app.py read and answer:
the methods it takes (``x-methods``: every API route takes any method, as the original's
did), the operations described (``POST`` with the JSON body the frontend sends, and ``GET``
where the route reads query parameters or nothing), the success reply and each error status.
A test compares the document with the app's url_map (paths and methods), and the
schemathesis suite (tests/e2e/test_openapi.py) sends what the document allows and checks each
reply against it, so the description cannot drift from the code. ``python -m
userpods.daemon.openapi`` prints the markdown page (openapi_page.py renders docs/openapi.md;
a unit test checks it is current).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import naming
from .openapi_page import render_markdown

__all__ = ["ROUTES", "SCHEMAS", "document", "render_markdown"]

API_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PROBE_METHODS = ("GET", "HEAD")
VERSION = "0.1.0"

_USER_ID = {
    "type": "string",
    "pattern": naming.USER_ID_RE.pattern,
    "description": "the full user id (ownership is decided on it)",
    "examples": ["fror@dtu.dk"],
}
_POD_NAME = {"type": "string", "minLength": 1, "maxLength": 253}
_ERROR_TEXT = {"type": "string", "minLength": 1, "description": "what is wrong"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


SCHEMAS: dict[str, Any] = {
    "Error": {**_object({"error": _ERROR_TEXT}), "additionalProperties": True},
    "QuotaError": _object(
        {
            "error": _ERROR_TEXT,
            "limit": {"type": "string", "examples": ["requests.cpu", "pods"]},
            "allowed": {"type": "string", "description": "the user's limit (a quantity)"},
            "usage": {"type": "string", "description": "what the user's pods hold now"},
            "request": {"type": "string", "description": "what this pod asks for"},
        }
    ),
    "DeleteError": _object({"error": _ERROR_TEXT, "requested": {"const": False}}),
    "CleanError": _object(
        {"error": _ERROR_TEXT, "removed": {"type": "array", "items": {"type": "string"}}}
    ),
    "ProgressStep": _object(
        {
            "time": {"type": "string", "description": "RFC 3339 UTC, milliseconds"},
            "step": {
                "type": "string",
                "examples": ["accepted", "scheduled", "image pulled", "Ready", "done", "failed"],
            },
            "message": {"type": "string"},
        },
        {
            "reason": {
                "type": "string",
                "description": "the Kubernetes Event's reason, or the failure's short name",
            },
            "ready": {"type": "boolean", "description": "on the last step only: the outcome"},
        },
    ),
    "UserBody": _object({"user_id": _USER_ID}),
    "EmptyBody": {"type": "object", "description": "no fields (any JSON object)"},
    "PodBody": _object({"user_id": _USER_ID, "pod_name": _POD_NAME}),
    "CreateBody": _object(
        {"user_id": _USER_ID, "yaml_url": {"type": "string", "minLength": 1}},
        {
            "settings": {
                "type": ["object", "null"],
                "description": "container name -> {ENV_NAME: value} for env vars it declares",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
            }
        },
    ),
    "LogsBody": _object(
        {"user_id": _USER_ID, "pod_name": _POD_NAME},
        {
            "container": {"type": "string", "description": "the first container's by default"},
            "tail_lines": {"type": "integer", "minimum": 1},
        },
    ),
    "PodInfo": {
        **_object(
            {
                name: {"type": "string"}
                for name in (
                    "pod_name",
                    "container_name",
                    "image_name",
                    "pod_ip",
                    "node_ip",
                    "owner",
                    "age",
                    "status",
                    "url",
                    "ssh_url",
                )
            }
            | {
                "tokens": {"type": "object", "additionalProperties": {"type": "string"}},
                "k8s_pod_info": {"type": "object"},
            },
            {
                "failure": {"type": "string"},
                "expires": {
                    "type": "string",
                    "description": 'when the pod will be stopped (RFC 3339 UTC); "" if never',
                },
                "expires_reason": {"type": "string", "description": "why it will be stopped"},
                "progress": {
                    "type": "string",
                    "description": 'the latest step of a creation in flight ("step: message")',
                },
            },
        ),
        "additionalProperties": True,
        "description": "plugins may add fields (userpods_pod_info)",
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _flag(name: str) -> dict[str, Any]:
    return _object({name: {"type": "boolean"}}) | {"additionalProperties": False}


ERRORS = {
    400: "the body or a field is invalid, or the manifest is refused",
    404: "no such pod of the caller's",
    409: "all the names the pod may take are in use",
    413: "the body is over 1 MiB",
    429: "over a quota: names the limit, the usage and the request",
    431: "the request head is over 64 KiB",
    502: "Kubernetes refused the daemon",
    503: "Kubernetes unavailable, or the service restarting",
}
_BODY_ERRORS = (400, 413, 431)


@dataclass(frozen=True)
class Route:
    """One path of the API: what the document says of it."""

    summary: str
    ok: dict[str, Any]  # the 200 reply's schema (JSON), or {"text": description}
    errors: tuple[int, ...] = _BODY_ERRORS
    body: str = ""  # the JSON body's schema, for POST
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameters of GET
    get: bool = False  # GET without parameters is described too (no body needed)
    methods: tuple[str, ...] = API_METHODS
    error_schemas: dict[int, str] = field(default_factory=dict)
    tag: str = "pods"


ROUTES: dict[str, Route] = {
    "/get_pods": Route(
        "The user's pods, from the daemon's cache",
        {"type": "array", "items": _ref("PodInfo")},
        body="UserBody",
    ),
    "/create_pod": Route(
        "Create a pod from a whitelisted manifest; the rest of its creation goes on after",
        _object({"pod_name": {"type": "string"}}),
        (*_BODY_ERRORS, 409, 429, 502, 503),
        body="CreateBody",
        error_schemas={429: "QuotaError"},
    ),
    "/watch_create_pod": Route(
        "Wait until the pod's creation ends: whether it is ready",
        _flag("ready"),
        (*_BODY_ERRORS, 503),
        body="PodBody",
    ),
    "/get_create_pod_progress": Route(
        "The steps of the pod's creation so far (the last has ready when it has ended)",
        {"type": "array", "items": _ref("ProgressStep"), "minItems": 1},
        body="PodBody",
    ),
    "/create_pod_progress": Route(
        "The steps of the pod's creation as Server-Sent Events, until it ends",
        {"events": "one event a step: id (its index) and data (a ProgressStep)"},
        (400, 431),
        query={
            "user_id": {"schema": _USER_ID, "required": True},
            "pod_name": {"schema": _POD_NAME, "required": True},
        },
        methods=PROBE_METHODS,
    ),
    "/delete_pod": Route(
        "Ask for the pod's deletion",
        _object({"requested": {"const": True}}),
        (*_BODY_ERRORS, 404, 502, 503),
        body="PodBody",
        error_schemas={404: "DeleteError"},
    ),
    "/watch_delete_pod": Route(
        "Wait until the pod's deletion ends: whether it is gone",
        _flag("deleted"),
        (*_BODY_ERRORS, 503),
        body="PodBody",
    ),
    "/delete_all_user": Route(
        "Delete all the user's pods, then their storage",
        _flag("deleted"),
        (*_BODY_ERRORS, 502, 503),
        body="UserBody",
    ),
    "/clean_all_unused": Route(
        "Remove orphans (services, ingresses, storage, token files)",
        _object({"removed": {"type": "array", "items": {"type": "string"}}}),
        (*_BODY_ERRORS, 503),
        body="EmptyBody",
        get=True,
        error_schemas={503: "CleanError"},
        tag="maintenance",
    ),
    "/get_pod_logs": Route(
        "A container's log (its newest logMaxBytes)",
        {"text": "the log"},
        (*_BODY_ERRORS, 404, 502, 503),
        body="LogsBody",
        query={
            "user_id": {"schema": _USER_ID, "required": True},
            "pod_name": {"schema": _POD_NAME, "required": True},
            "container": {"schema": {"type": "string"}},
            "tail_lines": {"schema": {"type": "integer", "minimum": 1}},
        },
    ),
    "/get_podip_owner": Route(
        "The user id of the one live pod with this IP (plain text, empty if none)",
        {"text": "the owner's user id, or nothing"},
        (400, 431),
        query={"ip": {"schema": {"type": "string", "examples": ["10.128.0.2"]}, "required": True}},
    ),
    "/healthz": Route(
        "200 while the process serves",
        _object({"status": {"const": "ok"}}),
        (),
        get=True,
        methods=PROBE_METHODS,
        tag="operations",
    ),
    "/readyz": Route(
        "200 when every watched kind has synced and no watch is failing",
        _object(
            {"status": {"type": "string"}, "cache": {"type": "object"}},
            {
                "plugins": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "plugins' notes (userpods_health), e.g. idle-stop's state",
                }
            },
        ),
        (503,),
        get=True,
        methods=PROBE_METHODS,
        tag="operations",
    ),
    "/metrics": Route(
        "Prometheus metrics (text format)",
        {"text": "the Prometheus exposition"},
        (),
        get=True,
        methods=PROBE_METHODS,
        tag="operations",
    ),
    "/openapi.json": Route(
        "This document",
        {"type": "object"},
        (),
        get=True,
        methods=PROBE_METHODS,
        tag="operations",
    ),
}


def _reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    if "events" in schema:  # as OpenAPI 3.1 tools read an event stream: a schema per event
        event = _object(
            {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _ref("ProgressStep"),
                },
            },
            {"event": {"const": "message"}},
        )
        return {
            "description": schema["events"],
            "content": {"text/event-stream": {"schema": event}},
        }
    if "text" in schema:
        return {
            "description": description,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(path: str, route: Route, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _reply(route.ok.get("text", "success"), route.ok)}
    if "events" in route.ok:
        responses["204"] = {"description": "the stream ended before (Last-Event-ID): stop"}
    for status in sorted(route.errors):
        name = route.error_schemas.get(status, "Error")
        if path == "/readyz":
            responses[str(status)] = _reply("not ready: the state of each kind's cache", route.ok)
            continue
        responses[str(status)] = _reply(ERRORS[status], _ref(name))
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{method}{path.replace('/', '_').replace('.', '_')}",
        "tags": [route.tag],
        "responses": responses,
    }
    if method == "post":
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    elif route.query:
        operation["parameters"] = [
            {"name": name, "in": "query", **spec} for name, spec in route.query.items()
        ]
    return operation


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the daemon's API."""
    paths: dict[str, Any] = {}
    for path, route in ROUTES.items():
        item: dict[str, Any] = {"x-methods": list(route.methods)}
        if route.body:
            item["post"] = _operation(path, route, "post")
        if route.query or route.get:
            item["get"] = _operation(path, route, "get")
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "userpods",
            "version": VERSION,
            "description": (
                "Per-user pods on Kubernetes for the ScienceData frontend (docs/api.md). "
                "Every API route takes any method (x-methods), as the original backend did; "
                "POST with a JSON body is what the frontend sends, and the body is read as "
                'JSON whatever its Content-Type. Every error is JSON {"error": ...}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


if __name__ == "__main__":
    print(render_markdown(document()), end="")
