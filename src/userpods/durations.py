"""Durations as the original backend's configuration writes them (Go's ``time.Duration``).

A leaf module of its own because both the configuration (config.py: ``timeoutCreate``,
``maxLifetime``...) and plugins reading durations from pod annotations
(``sciencedata.dk/max-lifetime``) parse the same text, and must agree on what it means.
"""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go ``time.Duration`` string (``90s``, ``1m30s``, ``1h2m3.5s``, ``500ms``) in seconds.

    A bare number is taken as seconds.
    """
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f'invalid duration "{text}" (use e.g. 90s, 1m30s, 1h2m3s)')
    return total


def format_duration(seconds: float) -> str:
    """Seconds as the shortest Go-style text (``8h``, ``1h30m``, ``2.5s``), for messages."""
    if seconds <= 0:
        return "0s"
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole // 60 % 60, seconds - whole // 60 * 60
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if rest or not (hours or minutes):
        parts.append(f"{rest:g}s")
    return "".join(parts)
