"""The get_pods entry of a pod, as the original backend shaped it.

``age`` is hours:minutes:seconds since the pod started (unpadded, as the original printed it);
``status`` is ``<phase>:<startTime>``, or ``Creating`` / ``Deleting`` while a flow runs.
Plugins add ``url``, ``ssh_url``, ``tokens`` and ``k8s_pod_info`` through
``userpods_pod_info``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lightkube.resources.core_v1 import Pod

from .podstate import ANNOTATION_FAILURE, owner, pod_annotations


def age(started: datetime | None, now: datetime | None = None) -> str:
    if started is None:
        return "0:0:0"
    seconds = max(0, int(((now or datetime.now(UTC)) - started).total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60}:{seconds % 60}"


def base_info(pod: Pod, flow_status: str | None = None) -> dict[str, Any]:
    spec, status = pod.spec, pod.status
    first = spec.containers[0] if spec and spec.containers else None
    started = status.startTime if status else None
    start_text = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else ""
    phase = (status.phase if status else None) or "Pending"
    return {
        "pod_name": pod.metadata.name if pod.metadata else "",
        "container_name": first.name if first else "",
        "image_name": (first.image or "") if first else "",
        "pod_ip": (status.podIP or "") if status else "",
        "node_ip": (status.hostIP or "") if status else "",
        "owner": owner(pod),
        "age": age(started),
        "status": flow_status or f"{phase}:{start_text}",
        "url": "",
        "ssh_url": "",
        "tokens": {},
        "k8s_pod_info": {},
        "failure": pod_annotations(pod).get(ANNOTATION_FAILURE, ""),
    }
