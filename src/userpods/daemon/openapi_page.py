"""docs/openapi.md: the OpenAPI document of openapi.py as a page, path by path."""

from __future__ import annotations

import json
from typing import Any


def render_markdown(doc: dict[str, Any]) -> str:
    """docs/openapi.md: each path with its operations, bodies, parameters and replies."""
    lines = [
        "# The API as OpenAPI",
        "",
        "Generated from `GET /openapi.json` (`python -m userpods.daemon.openapi >"
        " docs/openapi.md`; a test checks it is current). [api.md](api.md) says what each"
        " call does.",
        "",
        doc["info"]["description"],
        "",
    ]
    for path, item in doc["paths"].items():
        lines += [f"## {path}", "", f"Methods taken: {', '.join(item['x-methods'])}.", ""]
        for method in ("post", "get"):
            if method not in item:
                continue
            operation = item[method]
            lines += [f"### {method.upper()} {path}", "", operation["summary"] + ".", ""]
            body = operation.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                lines += [
                    f"Body (JSON, `{ref}`): " + _fields(doc["components"]["schemas"][ref]),
                    "",
                ]
            for parameter in operation.get("parameters", []):
                need = "required" if parameter.get("required") else "optional"
                lines.append(f"- query `{parameter['name']}` ({need})")
            if operation.get("parameters"):
                lines.append("")
            lines += ["| status | reply |", "|---|---|"]
            for status, reply in operation["responses"].items():
                content = reply.get("content")
                if not content:
                    lines.append(f"| {status} | {reply['description']} |")
                    continue
                kind = next(iter(content))
                schema = content[kind]["schema"]
                shown = _shape(schema) if kind == "application/json" else kind
                lines.append(f"| {status} | {reply['description']}: `{shown}` |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in doc["components"]["schemas"].items():
        lines += [f"- `{name}`: {_shape(schema)}"]
    lines.append("")
    return "\n".join(lines)


def _fields(schema: dict[str, Any]) -> str:
    """An object schema's fields, one phrase each."""
    required = set(schema.get("required", ()))
    fields = [
        f"`{name}` ({'required' if name in required else 'optional'}, {_type(spec)})"
        for name, spec in schema.get("properties", {}).items()
    ]
    return ", ".join(fields) + "." if fields else schema.get("description", "") + "."


def _type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "any")
    text = "/".join(kind) if isinstance(kind, list) else str(kind)
    if "pattern" in spec:
        text += f" matching `{spec['pattern']}`"
    return text


def _shape(schema: dict[str, Any]) -> str:
    """A schema as the JSON it allows, in short: ``{"ready": boolean}``, ``[PodInfo]``."""
    if "$ref" in schema:
        return str(schema["$ref"].rsplit("/", 1)[1])
    if "const" in schema:
        return json.dumps(schema["const"])
    if schema.get("type") == "array":
        return f"[{_shape(schema.get('items', {}))}]"
    if "properties" in schema:
        inner = ", ".join(f'"{k}": {_shape(v)}' for k, v in schema["properties"].items())
        return "{" + inner + "}"
    kind = schema.get("type", "any")
    return "/".join(kind) if isinstance(kind, list) else str(kind)
