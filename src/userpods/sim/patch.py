"""The PATCH flavours the apiserver accepts: JSON merge, strategic merge and JSON patch.

Strategic merge lives in ``smp.py`` (each list's own merge key, every directive); a JSON patch
that cannot be applied is the apiserver's bare 422.
"""

from __future__ import annotations

from typing import Any

from . import smp
from .smp_schema import root_type
from .status import ApiError, bad_request
from .store import clone

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = clone(target)
    for op in operations:
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(
                422, "the server rejected our request due to an error in our request", "Invalid", {}
            ) from exc
    return doc


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    parts = _pointer(op.get("path", ""))
    if kind == "test":
        if _resolve(doc, parts) != op.get("value"):
            raise ValueError(f"testing value {op.get('path')} failed")
        return doc
    if kind in ("move", "copy"):
        source = _pointer(op.get("from", ""))
        value = clone(_resolve(doc, source))
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op["from"]})
        return _apply_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        if kind in ("add", "replace"):
            return clone(op.get("value"))
        raise ValueError("cannot remove the whole document")
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), clone(op["value"]))
        else:
            parent[last] = clone(op["value"])
    elif kind == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    elif kind == "replace":
        if isinstance(parent, list):
            parent[int(last)] = clone(op["value"])
        else:
            _resolve(parent, [last])
            parent[last] = clone(op["value"])
    else:
        raise ValueError(f"unknown json patch operation {kind!r}")
    return doc


def strategic_merge_patch(target: Any, patch: Any, kind: str = "Pod") -> Any:
    """Strategic merge patch of an object of ``kind`` (see smp.py)."""
    return smp.strategic_merge_patch(target, patch, root_type(kind))


def apply_patch(content_type: str, target: Any, patch: Any, kind: str = "Pod") -> Any:
    """Apply a patch of ``content_type`` to an object of ``kind`` (its Go type name)."""
    if content_type == MERGE:
        return merge_patch(target, patch)
    if content_type == STRATEGIC:
        return strategic_merge_patch(target, patch, kind)
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    raise unsupported_patch()


def unsupported_patch() -> ApiError:
    return ApiError(415, "415: Unsupported Media Type", "UnsupportedMediaType", {})
