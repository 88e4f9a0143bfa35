"""How the Kubernetes API's errors read: the HTTP status of a failure, and its Retry-After."""

from __future__ import annotations

import contextlib

import httpx2
from lightkube import ApiError


def status_code(error: BaseException) -> int | None:
    if isinstance(error, ApiError):
        return int(error.status.code or 0)
    if isinstance(error, httpx2.HTTPStatusError):
        return error.response.status_code
    return None


def retry_after(error: BaseException) -> float | None:
    # An ApiError lightkube builds from a Status read off a stream (exec's error channel) is
    # an HTTPStatusError with no response.
    response = (
        getattr(error, "response", None) if isinstance(error, httpx2.HTTPStatusError) else None
    )
    if response is not None:
        value = response.headers.get("retry-after") or ""
        with contextlib.suppress(ValueError):
            return float(value)
    return None
