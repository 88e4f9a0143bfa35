"""Idle stop: its configuration (``idleStop``) and the pure bookkeeping of which pods idle.

A pod is idle while the CPU its containers use together, as the ``metrics.k8s.io`` API reports
it (metrics-server on a real cluster), stays under ``cpuBelow``; a pod idle for ``after`` is
stopped. The bookkeeping is kept apart from the plugin that reads the API and deletes pods
(plugins/idle.py) so that it is tested without a cluster, with any sequence of samples.

Decisions, and why:

- a pod absent from a sample (not started yet, or metrics-server has no window for it) is
  neither idle nor busy: its clock neither starts nor resets, so a metrics gap never stops a
  pod early and never keeps an idle one forever;
- a pod is known by name *and uid*: a successor of the same name starts from zero;
- the clock lives in memory: a restart of the daemon starts every pod's idle time from zero
  (a pod is stopped late, never early), which costs no write per pod per check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .durations import format_duration, parse_duration
from .quotas import format_quantity, parse_quantity

DEFAULT_CPU_BELOW = Decimal("0.01")  # 10m: a shell waiting for input, a Jupyter kernel at rest
DEFAULT_EVERY = 60.0  # seconds between two lists of the metrics API


@dataclass(frozen=True)
class IdleStop:
    """``idleStop``: off (``after`` 0) unless configured."""

    after: float = 0.0  # seconds a pod must stay idle to be stopped; 0: idle stop is off
    cpu_below: Decimal = DEFAULT_CPU_BELOW  # cores; a pod using less is idle
    every: float = DEFAULT_EVERY  # seconds between checks (one list of the namespace each)

    @property
    def enabled(self) -> bool:
        return self.after > 0

    def as_config(self) -> dict[str, str] | None:
        """The ``idleStop`` value that gives these settings (None when off)."""
        if not self.enabled:
            return None
        return {
            "after": format_duration(self.after),
            "cpuBelow": format_quantity(self.cpu_below, "cpu"),
            "every": format_duration(self.every),
        }

    def describe(self) -> str:
        return (
            f"CPU below {format_quantity(self.cpu_below, 'cpu')} for {format_duration(self.after)}"
        )


def _duration(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{key} must be a duration such as 30m or 2h")
    seconds = parse_duration(str(value))
    if seconds <= 0:
        raise ValueError(f"{key} must be longer than zero")
    return seconds


def parse_idle_stop(value: Any) -> IdleStop:
    """The ``idleStop`` configuration value: ``{after: 2h, cpuBelow: 10m, every: 1m}``."""
    if value is None:
        return IdleStop()
    if not isinstance(value, dict) or set(value) - {"after", "cpuBelow", "every"}:
        raise ValueError("must be a mapping with after, cpuBelow and every")
    if "after" not in value:
        raise ValueError("after is required (how long a pod must idle to be stopped)")
    cpu = DEFAULT_CPU_BELOW
    if "cpuBelow" in value:
        try:
            cpu = parse_quantity(value["cpuBelow"])
        except ValueError as exc:
            raise ValueError(f"cpuBelow: {exc}") from None
        if cpu <= 0:
            raise ValueError("cpuBelow must be more than zero")
    every = _duration(value["every"], "every") if "every" in value else DEFAULT_EVERY
    return IdleStop(_duration(value["after"], "after"), cpu, every)


def pod_cpu(metrics: Mapping[str, Any]) -> Decimal | None:
    """A PodMetrics object's CPU use summed over its containers (cores); None when it has no
    container usage to read (or one that is not a quantity: a crafted or broken reply)."""
    total = Decimal(0)
    containers = metrics.get("containers")
    if not isinstance(containers, list) or not containers:
        return None
    for entry in containers:
        usage = entry.get("usage") if isinstance(entry, dict) else None
        if not isinstance(usage, dict) or "cpu" not in usage:
            return None
        try:
            total += parse_quantity(usage["cpu"])
        except ValueError:
            return None
    return total


@dataclass
class IdleClock:
    """Since when each pod (name and uid) has been idle, from the samples seen so far."""

    settings: IdleStop
    since: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def observe(
        self, pods: Mapping[str, str], cpu: Mapping[str, Decimal], now: datetime
    ) -> list[str]:
        """Take one sample: ``pods`` (name -> uid) are the pods that may be stopped, ``cpu``
        the use of those the metrics API reported. The names of pods idle for long enough."""
        for name in [n for n, (uid, _) in self.since.items() if pods.get(n) != uid]:
            del self.since[name]  # gone, going, or a successor of the same name
        for name, uid in pods.items():
            used = cpu.get(name)
            if used is None:
                continue  # no sample: the clock neither starts nor resets
            if used < self.settings.cpu_below:
                self.since.setdefault(name, (uid, now))
            else:
                self.since.pop(name, None)
        return sorted(name for name in self.since if self.due(name, now))

    def stop_at(self, name: str, uid: str) -> datetime | None:
        """When the pod will be stopped if it stays idle; None while it is not idle."""
        found = self.since.get(name)
        if found is None or found[0] != uid:
            return None
        return found[1] + timedelta(seconds=self.settings.after)

    def due(self, name: str, now: datetime) -> bool:
        found = self.since.get(name)
        return found is not None and now >= found[1] + timedelta(seconds=self.settings.after)
