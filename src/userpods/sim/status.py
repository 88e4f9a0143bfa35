"""Kubernetes ``metav1.Status`` errors, shaped exactly as a real apiserver sends them.

Clients match on these bodies (lightkube raises ``ApiError`` only for an
``application/json`` Status; kubectl prints ``message``), so the wording follows the
apiserver's, including its quirk that ``details.kind`` is the resource (plural) for
404/409/403 but the Kind for 422.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Cause:
    """One field error of a 422, rendered as the apiserver renders ``field.Error``."""

    field: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def required(path: str) -> Cause:
    return Cause(path, "FieldValueRequired", "Required value")


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, "FieldValueInvalid", f"Invalid value: {_go_repr(value)}: {detail}")


def unsupported(path: str, value: Any, supported: list[str]) -> Cause:
    options = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        path, "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: {options}'
    )


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, "FieldValueForbidden", f"Forbidden: {detail}")


def too_long(path: str, limit: int) -> Cause:
    return Cause(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, "FieldValueDuplicate", f"Duplicate value: {_go_repr(value)}")


def not_found(path: str, value: Any) -> Cause:
    return Cause(path, "FieldValueNotFound", f"Not found: {_go_repr(value)}")


def _go_repr(value: Any) -> str:
    """How Go's ``%#v``-ish field errors print a value: strings quoted, bools lower-case."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class ApiError(Exception):
    """An error answer of the simulated apiserver; ``body()`` is the Status it sends."""

    code: int
    message: str
    reason: str = ""
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bare: bool = False  # no reason at all (the apiserver's answer to some internal errors)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if not self.reason:
            self.reason = REASONS.get(self.code, "Unknown")

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if not self.bare:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found_error(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified(plural, group)} "{name}" not found',
        "NotFound",
        _details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        "AlreadyExists",
        _details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        "Conflict",
        _details(name, group, plural),
    )


def invalid_error(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    summary = str(causes[0]) if len(causes) == 1 else "[" + ", ".join(str(c) for c in causes) + "]"
    details = _details(name, group, kind)
    if not name:
        del details["name"]  # the apiserver leaves it out for nameless objects
    details["causes"] = [c.as_dict() for c in causes]
    return ApiError(
        422,
        f'{kind}{"." + group if group else ""} "{name}" is invalid: {summary}',
        "Invalid",
        details,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def forbidden_error(message: str, plural: str = "", group: str = "", name: str = "") -> ApiError:
    details = _details(name, group, plural) if plural else None
    return ApiError(403, message, "Forbidden", details)


def expired(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def success_status(name: str, plural: str, group: str, uid: str) -> dict[str, Any]:
    """The body of a DELETE for kinds that answer with a Status rather than the object."""
    details = _details(name, group, plural)
    details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
