"""Errors the API answers with a status code and a JSON ``{"error": ...}`` body."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A request that cannot be served as asked: ``status`` (4xx, or 5xx for real server
    faults) and a message for the caller; ``extra`` fields keep the original's reply shape."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}
