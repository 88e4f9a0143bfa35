"""A simulated container's runtime state, and the kubelet's back-off timings.

What the pod worker changes as a container pulls, starts, runs and ends, and what the pod's
status, ``pods/exec`` and ``pods/log`` read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .images import Image

Obj = dict[str, Any]


@dataclass(frozen=True)
class KubeletTimings:
    """Back-off periods in seconds: a real kubelet's by default; tests shorten them."""

    backoff_base: float = 10.0
    backoff_max: float = 300.0
    config_retry: float = 2.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_base * 2 ** max(attempt - 1, 0), self.backoff_max))


@dataclass(slots=True)
class Container:
    """One container's simulated runtime state (what status and exec/log read).

    Slotted: it lives as long as its pod, and there may be ten thousand of them.
    """

    name: str
    spec: Obj
    image: Image
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    logs: str = ""
    previous_logs: str | None = None

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def waiting_reason(self) -> str:
        return str(self.state.get("waiting", {}).get("reason", ""))

    def status(self) -> Obj:
        status: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.spec.get("image", ""),
            "imageID": self.image_id,
            "started": self.started,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status
