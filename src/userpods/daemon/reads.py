"""The read side: get_pods, get_podip_owner and the watch_* answers, from memory.

Nothing here calls the Kubernetes API: a read is answered from the cache, the pod index and
the flows in flight (:class:`~userpods.daemon.shared.Shared`), so reads cost the cluster
nothing however often the frontend polls. Ownership fails closed: a watch for a pod the caller
does not own answers as for a pod that does not exist.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import trio

from . import podstate
from .errors import RequestError
from .pluginhost import call_sync_hook
from .podinfo import base_info
from .shared import Shared


def pod_infos(shared: Shared, user_id: str) -> list[dict[str, Any]]:
    """The user's get_pods entries, as the ``pod_info`` hooks complete them."""
    ctx = shared.context()
    infos = []
    for pod in shared.pods_of(user_id):
        info = base_info(pod, shared.flow_status(pod))
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
