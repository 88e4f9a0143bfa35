"""The read side: get_pods, get_podip_owner and the watch_* answers, from memory.

Nothing here calls the Kubernetes API: a read is answered from the cache, the pod index and
the flows in flight (:class:`~userpods.daemon.shared.Shared`), so reads cost the cluster
nothing however often the frontend polls. Ownership fails closed: a watch for a pod the caller
does not own answers as for a pod that does not exist.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import trio

from . import podstate
from .errors import RequestError
from .pluginhost import call_sync_hook
from .podinfo import base_info
from .progress import Progress, Step
from .shared import Shared

KEEPALIVE = 15.0  # seconds of quiet after which a progress stream says it is still there


def pod_infos(shared: Shared, user_id: str) -> list[dict[str, Any]]:
    """The user's get_pods entries, as the ``pod_info`` hooks complete them."""
    ctx = shared.context()
    infos = []
    for pod in shared.pods_of(user_id):
        info = base_info(pod, shared.flow_status(pod))
        creation = shared.creating.get(podstate.name_of(pod))
        latest = creation.progress.latest if creation and creation.progress else None
        info["progress"] = f"{latest.step}: {latest.message}" if latest else ""
        call_sync_hook(shared.pm, "userpods_pod_info", pod=pod, info=info, ctx=ctx)
        infos.append(info)
    return infos


async def podip_owner(shared: Shared, text: str, *, wait: float = 4.5) -> str:
    """Who owns the live pod with this IP ("" if nobody, or if it is ambiguous); waits up to
    ``wait`` seconds while some pod still awaits its address (it may be the one asked for)."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise RequestError(400, f"{text!r} is not an IP address") from None
    subnet = shared.settings.pod_subnet_cidr
    if ip not in subnet:
        raise RequestError(400, f"{ip} is not in the pod network {subnet}")
    address = str(ip)
    pods = shared.cache.pods
    with trio.move_on_after(wait):
        while True:
            changed = pods.changed()
            pod = shared.index.holder(address, pods.objects)
            if pod is not None:
                return podstate.owner(pod)
            if not shared.index.awaiting_ip:
                return ""  # no pod is still waiting for an address: none will get it
            await changed.wait()
    return ""


async def watch_create(shared: Shared, user_id: str, pod_name: str) -> bool:
    """Whether the user's pod became ready: the creation's outcome, once it ends."""
    flow = shared.creating.get(pod_name)
    if flow is not None:
        if flow.user_id != user_id:
            return False
        return await shared.outcome(flow)
    return _settled_ready(shared, user_id, pod_name)


def _settled_ready(shared: Shared, user_id: str, pod_name: str) -> bool:
    """With no creation in flight: the user's pod exists, was created successfully and is
    not being deleted."""
    pod = shared.owned(user_id, pod_name)
    return (
        pod is not None
        and not podstate.is_deleting(pod)
        and pod_name not in shared.deleting
        and podstate.creation_state(pod) == podstate.READY
    )


async def watch_delete(shared: Shared, user_id: str, pod_name: str) -> bool:
    """Whether the user's pod is gone with its cleanup done: the deletion's outcome."""
    flow = shared.deleting.get(pod_name)
    if flow is not None:
        if flow.user_id != user_id:
            return True
        return await shared.outcome(flow)
    return shared.owned(user_id, pod_name) is None


def health_notes(shared: Shared) -> dict[str, str]:
    """The plugins' notes for /readyz's body (``userpods_health``), merged."""
    notes: dict[str, str] = {}
    for found in call_sync_hook(shared.pm, "userpods_health", ctx=shared.context()):
        notes.update(found or {})
    return notes


def creation_progress(shared: Shared, user_id: str, pod_name: str) -> Progress:
    """The log of the user's creation of the pod: the one kept, or a stand-in of one line
    (ready, for the user's ready pod whose log a restart lost; otherwise the same answer for
    a pod that does not exist and for another user's, as watch_create_pod gives)."""
    found = shared.progress.find(pod_name, user_id)
    if found is not None:
        return found
    stand_in = Progress(pod_name, user_id, "")
    if _settled_ready(shared, user_id, pod_name):
        stand_in.add("done", "the pod is ready (the log of its creation was not kept)", ready=True)
    else:
        stand_in.add("failed", "no creation of this pod is known", ready=False)
    return stand_in


async def follow_progress(
    progress: Progress, shared: Shared, start: int = 0, keepalive: float = KEEPALIVE
) -> AsyncIterator[tuple[int, Step] | None]:
    """The log's steps from index ``start`` on, as they come, until the last one (or until
    the daemon begins to stop: the reader reconnects); None after ``keepalive`` seconds of
    quiet. No cancel scope is held across a ``yield``: the consumer runs between them."""
    index = start
    while True:
        while index < len(progress.steps):
            yield index, progress.steps[index]
            index += 1
        if progress.ended:
            return
        changed = progress.changed()
        with shared.until_stopping() as stop, trio.move_on_after(keepalive) as quiet:
            await changed.wait()
        if stop.cancelled_caught:
            return
        if quiet.cancelled_caught:
            yield None
