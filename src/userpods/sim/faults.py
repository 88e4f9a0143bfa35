"""Fault injection and request counters, for tests of a client's resilience and economy.

Faults apply to API requests only (``/api``, ``/apis``), never to the control endpoint: a
fraction of them fail with one of the configured status codes, each is delayed by a latency,
watch streams are cut after some seconds, and the store's watch history can be shortened so
that resourceVersions expire. Counters record requests by verb and resource and the open and
started watches per resource, so tests can prove "one watch per kind" and "no list per read".
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUS_CODES = (429, 500, 503)


@dataclass
class FaultSettings:
    error_rate: float = 0.0  # fraction of matching API requests answered with an error
    error_codes: list[int] = field(default_factory=lambda: [429, 500, 503])
    verbs: list[str] = field(default_factory=list)  # only these verbs (empty: all)
    resources: list[str] = field(default_factory=list)  # only these resources (empty: all)
    latency: float = 0.0  # seconds added before each API request is answered
    watch_cut_after: float | None = None  # seconds after which watch streams are closed
    history_limit: int | None = None  # watch history length (None: the store's default)
    retry_after: int = 1  # Retry-After seconds on 429
    seed: int | None = None

    def validate(self) -> None:
        for name in ("verbs", "resources"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")
        for name in ("history_limit", "seed", "retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | None):
                raise ValueError(f"{name} must be an integer")
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise ValueError("retry_after must be an integer >= 0")
        if isinstance(self.error_rate, bool) or not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        codes = self.error_codes
        if (
            not isinstance(codes, list)
            or not codes
            or any(type(c) is not int or c not in STATUS_CODES for c in codes)
        ):
            raise ValueError(f"error_codes must be a non-empty subset of {list(STATUS_CODES)}")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")
        if self.watch_cut_after is not None and self.watch_cut_after <= 0:
            raise ValueError("watch_cut_after must be > 0 (or null)")
        if self.history_limit is not None and self.history_limit < 1:
            raise ValueError("history_limit must be >= 1 (or null)")

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: FaultSettings | None = None) -> FaultSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        merged = {**asdict(base or cls()), **data}
        settings = cls(**merged)
        settings.validate()
        return settings


class Faults:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings or FaultSettings()
        self._rng = random.Random(self.settings.seed)

    def update(self, settings: FaultSettings) -> None:
        self.settings = settings
        if settings.seed is not None:
            self._rng = random.Random(settings.seed)

    def error_for(self, verb: str, resource: str) -> int | None:
        s = self.settings
        if s.error_rate <= 0:
            return None
        if s.verbs and verb not in s.verbs:
            return None
        if s.resources and resource not in s.resources:
            return None
        if self._rng.random() >= s.error_rate:
            return None
        return self._rng.choice(s.error_codes)


@dataclass
class Counters:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    watches_open: Counter[str] = field(default_factory=Counter)
    watches_started: Counter[str] = field(default_factory=Counter)
    injected: Counter[int] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        requests: dict[str, dict[str, int]] = {}
        for (verb, resource), n in sorted(self.requests.items()):
            requests.setdefault(verb, {})[resource] = n
        return {
            "requests": requests,
            "watches": {"open": dict(self.watches_open), "started": dict(self.watches_started)},
            "injected_errors": {str(code): n for code, n in self.injected.items()},
        }

    def reset(self) -> None:
        self.requests.clear()
        self.watches_started.clear()
        self.injected.clear()
