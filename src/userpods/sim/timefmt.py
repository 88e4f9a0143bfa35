"""Timestamps as Kubernetes writes them, and kubectl's human-readable ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime | None = None) -> str:
    """``metav1.Time``: second precision, ``Z``."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(moment: datetime | None = None) -> str:
    """The timestamp kubelet log lines carry (nanosecond field, here microsecond precision)."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def later(seconds: float) -> str:
    return rfc3339(now() + timedelta(seconds=seconds))


def human_duration(delta: timedelta) -> str:
    """kubectl's ``duration.HumanDuration`` (the AGE column)."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    return human_duration(now() - parse(timestamp))
