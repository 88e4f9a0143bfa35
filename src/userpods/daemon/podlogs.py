"""A container's log for the frontend's log download (``get_pod_logs``).

Only the caller's own pods: another user's pod answers exactly as a pod that does not exist,
and every refusal is decided from the cache, before any API call. An accepted request makes
one pods/log call, whose newest ``logMaxBytes`` are kept (a log can be any size); a cut log
starts with a line that says so.
"""

from __future__ import annotations

from typing import Any

import httpx2
from lightkube import ApiError

from ..kube import Kube, KubeUnavailable, status_code
from . import podstate
from .cache import ClusterCache
from .errors import RequestError

CUT_NOTE = b"[... older lines left out: the log is longer than %d bytes]\n"


def log_request(source: dict[str, Any]) -> tuple[str | None, int | None]:
    """``container`` and ``tail_lines`` of a request (a JSON body or query parameters), checked."""
    container = source.get("container")
    if container in (None, ""):
        container = None
    elif not isinstance(container, str) or len(container) > 63:
        raise RequestError(400, "container must be a container name")
    tail = source.get("tail_lines")
    if tail in (None, ""):
        return container, None
    if isinstance(tail, str) and tail.strip().isdigit():
        tail = int(tail.strip())
    if isinstance(tail, bool) or not isinstance(tail, int) or not 0 <= tail <= 10**7:
        raise RequestError(400, "tail_lines must be a whole number from 0 to 10000000")
    return container, tail


async def pod_log(
    kube: Kube,
    cache: ClusterCache,
    user_id: str,
    pod_name: str,
    *,
    container: str | None,
    tail_lines: int | None,
    max_bytes: int,
) -> bytes:
    pod = cache.pods.get(pod_name)
    if pod is None or podstate.owner(pod) != user_id:
        raise RequestError(404, f"pod {pod_name} not found")
    names = [c.name for c in (pod.spec.containers if pod.spec else [])]
    if container is not None and container not in names:
        raise RequestError(
            400, f"pod {pod_name} has no container {container} (it has: {', '.join(names)})"
        )
    try:
        text, cut = await kube.log_tail(
            pod_name, max_bytes=max_bytes, container=container or names[0], tail_lines=tail_lines
        )
    except ApiError as exc:
        code = status_code(exc)
        message = exc.status.message or str(exc)
        if code == 404:
            raise RequestError(404, f"pod {pod_name} not found") from exc
        if code == 400:  # e.g. the container is still waiting to start
            raise RequestError(400, message) from exc
        raise RequestError(502, f"Kubernetes answered {code}: {message}") from exc
    except httpx2.HTTPStatusError as exc:
        raise RequestError(502, f"Kubernetes answered {status_code(exc)}") from exc
    except KubeUnavailable as exc:
        raise RequestError(503, f"Kubernetes is unavailable: {exc}") from exc
    return (CUT_NOTE % max_bytes) + text if cut else text
