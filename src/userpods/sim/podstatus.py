"""A pod's status as its kubelet writes it, from the containers' simulated states.

Split out of the pod worker (``podworker.py``) so that the worker reads as a lifecycle: this
module only says what the status looks like for a given phase and set of containers, and how
containers end when their pod is stopped for deletion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .conditions import set_condition
from .containers import Container
from .timefmt import rfc3339

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")
CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def write_status(
    status: Obj,
    *,
    phase: str,
    containers: Sequence[Container],
    pod_ip: str,
    host_ip: str,
    started_at: str,
) -> None:
    """Update ``status`` (a copy the caller stores) in place, as the kubelet's status manager."""
    # Terminal phases never change.
    terminal = status.get("phase") in TERMINAL
    current = status["phase"] if terminal else phase
    status["phase"] = current
    sandbox = "True" if pod_ip and current not in TERMINAL else "False"
    set_condition(status, "PodReadyToStartContainers", sandbox)
    # The kubelet's reasons for terminal pods (pkg/kubelet/status/generate.go).
    ended = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(current, "")
    set_condition(status, "Initialized", "True", "PodCompleted" if current == "Succeeded" else "")
    unready = [c.name for c in containers if not c.ready]
    if ended:
        set_condition(status, "Ready", "False", ended)
        set_condition(status, "ContainersReady", "False", ended)
    elif unready:
        message = f"containers with unready status: [{' '.join(unready)}]"
        set_condition(status, "Ready", "False", "ContainersNotReady", message)
        set_condition(status, "ContainersReady", "False", "ContainersNotReady", message)
    else:
        set_condition(status, "Ready", "True")
        set_condition(status, "ContainersReady", "True")
    set_condition(status, "PodScheduled", "True")
    last = len(CONDITION_ORDER)
    status["conditions"].sort(
        key=lambda c: CONDITION_ORDER.index(c["type"]) if c["type"] in CONDITION_ORDER else last
    )
    status.pop("reason", None)
    status.pop("message", None)
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if started_at:
        status["startTime"] = started_at
    status["containerStatuses"] = [c.status() for c in containers]


def pod_phase(containers: Sequence[Container], restart_policy: str, *, deleting: bool) -> str:
    """The pod's phase from its containers' states (``deleting``: stopped for deletion)."""
    waiting = running = failed = 0
    for c in containers:
        if c.running:
            running += 1
        elif "terminated" in c.state:
            failed += c.state["terminated"].get("exitCode", 0) != 0
        elif c.last_state.get("terminated"):
            failed += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if deleting:
        # Stopped for deletion: terminal whatever the restart policy (kubelet >= 1.27).
        unknown = any(
            c.state.get("terminated", {}).get("reason") == "ContainerStatusUnknown"
            for c in containers
        )
        return "Failed" if failed or unknown else "Succeeded"
    if restart_policy == "Always":
        return "Running"
    if restart_policy == "OnFailure" and failed:
        return "Running"
    return "Failed" if failed else "Succeeded"


def stop_containers(containers: Sequence[Container]) -> None:
    """The containers' final states once their pod has been stopped for deletion."""
    for c in containers:
        if c.running:
            c.state = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": c.state["running"]["startedAt"],
                    "finishedAt": rfc3339(),
                    "containerID": c.container_id,
                }
            }
        elif "waiting" in c.state:
            c.state = {
                "terminated": {
                    "exitCode": 137 if c.started else 0,
                    "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "startedAt": None,
                    "finishedAt": None,
                }
            }
        c.ready = False


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration`` prints it (the kubelet's back-off messages)."""
    whole = int(seconds)
    if whole >= 60:
        return f"{whole // 60}m{whole % 60}s"
    return f"{whole}s" if whole == seconds else f"{seconds:g}s"
