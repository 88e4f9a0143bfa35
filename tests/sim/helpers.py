"""Helpers for the lightkube fidelity tests of the simulated cluster.

Waiting is always done by watching with a deadline, never by sleeping: :func:`wait_for`
watches one object (from RV unset, so the current state comes first as ADDED) until a
predicate holds; :func:`wait_gone` until it is deleted; :func:`wait_event` until an Event
with a given reason exists for an object. :func:`raw_client` and :func:`raw_watch` drive the
HTTP API directly for what lightkube does not expose (bookmarks, timeoutSeconds, ``==``).
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import httpx2
import trio
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import (
    Container,
    EnvVar,
    PodSpec,
    Volume,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Pod

from userpods.sim import SimCluster

T = TypeVar("T")
DEFAULT_DEADLINE = 5.0


def make_pod(
    name: str,
    image: str = "example/app:1",
    *,
    labels: Mapping[str, str] | None = None,
    unscheduled: bool = False,
    restart_policy: str | None = None,
    env: list[EnvVar] | None = None,
    volumes: list[Volume] | None = None,
    container: str = "main",
) -> Pod:
    """A one-container pod; ``unscheduled`` gives it a scheduler that does not exist, so it
    stays Pending untouched (no writes but the client's: watch sequences are exact)."""
    return Pod(
        metadata=ObjectMeta(name=name, labels=dict(labels) if labels else None),
        spec=PodSpec(
            containers=[Container(name=container, image=image, env=env)],
            schedulerName="nobody" if unscheduled else None,
            restartPolicy=restart_policy,
            volumes=volumes,
        ),
    )


async def wait_for(
    kube: AsyncClient,
    res: type[T],
    name: str,
    predicate: Callable[[T], bool],
    *,
    namespace: str | None = None,
    within: float = DEFAULT_DEADLINE,
) -> T:
    """Watch ``name`` until ``predicate(obj)`` holds; return that state of the object."""
    with trio.fail_after(within):
        async with contextlib.aclosing(
            kube.watch(res, namespace=namespace, fields={"metadata.name": name})
        ) as stream:
            async for type_, obj in stream:
                if type_ != "DELETED" and predicate(obj):
                    return obj
    raise AssertionError("the watch ended")  # pragma: no cover


async def wait_gone(
    kube: AsyncClient,
    res: type[Any],
    name: str,
    *,
    namespace: str | None = None,
    since: str | None = None,
    within: float = DEFAULT_DEADLINE,
) -> Any:
    """Wait until ``name`` no longer exists; return the DELETED event's object.

    With ``since`` (a resourceVersion from before the deletion) the watch replays history
    from there, so the DELETED event is found even if the object is gone already; without
    it, an object gone already gives None.
    """
    if since is None:
        try:
            got = await kube.get(res, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        since = got.metadata.resourceVersion
    with trio.fail_after(within):
        async with contextlib.aclosing(
            kube.watch(
                res,
                namespace=namespace,
                fields={"metadata.name": name},
                resource_version=since,
            )
        ) as stream:
            async for type_, obj in stream:
                if type_ == "DELETED":
                    return obj
    raise AssertionError("the watch ended")  # pragma: no cover


async def wait_event(
    kube: AsyncClient,
    involved_name: str,
    reason: str,
    predicate: Callable[[Event], bool] = lambda _e: True,
    *,
    within: float = DEFAULT_DEADLINE,
) -> Event:
    """Wait until an Event with ``reason`` about the object ``involved_name`` exists."""
    with trio.fail_after(within):
        async with contextlib.aclosing(
            kube.watch(Event, fields={"involvedObject.name": involved_name, "reason": reason})
        ) as stream:
            async for type_, event in stream:
                if type_ != "DELETED" and predicate(event):
                    return event
    raise AssertionError("the watch ended")  # pragma: no cover


async def events_of(kube: AsyncClient, involved_name: str) -> list[Event]:
    return [e async for e in kube.list(Event, fields={"involvedObject.name": involved_name})]


# ----------------------------------------------------------------------------- raw HTTP


def raw_client(sim: SimCluster) -> httpx2.AsyncClient:
    """An httpx2 client for the simulated apiserver (its CA, the admin token)."""
    context = ssl.create_default_context(cadata=sim.ca_pem)
    return httpx2.AsyncClient(
        base_url=sim.url,
        verify=context,
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=httpx2.Timeout(10.0),
    )


async def raw_watch(
    client: httpx2.AsyncClient, path: str, params: Mapping[str, str]
) -> AsyncIterator[dict[str, Any]]:
    """The events of a watch, decoded; the stream is checked to end every line with \\n."""
    query = {"watch": "true", **params}
    async with client.stream("GET", path, params=query) as response:
        assert response.status_code == 200, response.status_code
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)
        assert buffer.strip() == b"", f"unterminated event: {buffer!r}"


def condition(obj: Any, ctype: str) -> Any:
    """The condition of type ``ctype`` in a pod's status (None when absent)."""
    for cond in obj.status.conditions or []:
        if cond.type == ctype:
            return cond
    return None


def container_state(pod: Pod, index: int = 0) -> Any:
    statuses = pod.status.containerStatuses if pod.status else None
    if not statuses:
        return None
    return statuses[index]


def waiting_reason(pod: Pod) -> str | None:
    status = container_state(pod)
    if status is None or status.state is None or status.state.waiting is None:
        return None
    return str(status.state.waiting.reason)
