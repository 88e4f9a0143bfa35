"""Lists and watches decoded straight into a caller's slim schema (a "wire type").

lightkube decodes every listed or watched object in full, into its models (a pod is some
12 KB of them), and the cache then keeps a fraction of it. With a wire type, a msgspec struct
that names only the fields kept (see :mod:`userpods.daemon.slim`), msgspec skips the rest of
each object as it parses: listing ten thousand pods costs the daemon half the time, and none
of the garbage a full decode leaves behind (which, freed between the objects that stay, held
the daemon's memory high after start). Requests are lightkube's own (``prepare_request``: its
URLs, its selectors, its authentication); only the decoding of the reply differs, so errors
are lightkube's ``ApiError`` as everywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import cache
from typing import Any

import msgspec
from lightkube import ApiError
from lightkube.core.selector import build_selector
from lightkube.models.meta_v1 import Status


class _ListMeta(msgspec.Struct):
    resourceVersion: str | None = None
    continue_: str | None = msgspec.field(name="continue", default=None)


class _Event(msgspec.Struct):
    type: str
    object: msgspec.Raw


@cache
def _page_decoder(wire: Any) -> msgspec.json.Decoder[Any]:
    page = msgspec.defstruct(
        f"{wire.__name__}List",
        [("metadata", _ListMeta | None, None), ("items", list[wire] | None, None)],
    )
    return msgspec.json.Decoder(page)


@cache
def _object_decoder(wire: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(wire)


_events = msgspec.json.Decoder(_Event)
_status = msgspec.json.Decoder(Status)


def _selectors(
    labels: dict[str, Any] | None, fields: dict[str, Any] | None
) -> dict[str, str | None]:
    return {
        "labelSelector": build_selector(labels) if labels else None,
        "fieldSelector": build_selector(fields, for_fields=True) if fields else None,
    }


async def list_pages(
    client: Any,
    res: type[Any],
    wire: Any,
    *,
    namespace: str | None,
    labels: dict[str, Any] | None,
    fields: dict[str, Any] | None,
    limit: int,
) -> AsyncGenerator[tuple[str, list[Any]], None]:
    """Each page of the list as (the collection's resourceVersion, its objects as ``wire``)."""
    generic = client._client
    params: dict[str, Any] = {"limit": limit, **_selectors(labels, fields)}
    decoder = _page_decoder(wire)
    while True:
        request = generic.prepare_request("list", res=res, namespace=namespace, params=params)
        response = await generic.send(generic.build_adapter_request(request))
        generic.raise_for_status(response)
        page = decoder.decode(response.content)
        meta = page.metadata or _ListMeta()
        yield meta.resourceVersion or "", page.items or []
        if not meta.continue_:
            return
        params = {**params, "continue": meta.continue_}


async def watch_events(
    client: Any,
    res: type[Any],
    wire: Any,
    *,
    namespace: str | None,
    labels: dict[str, Any] | None,
    fields: dict[str, Any] | None,
    resource_version: str,
    server_timeout: int,
) -> AsyncGenerator[tuple[str, Any], None]:
    """The watch's events as (type, object as ``wire``) until the server ends the stream;
    an ERROR event (410 for an expired version) raises its ``ApiError``."""
    generic = client._client
    params = {
        "timeoutSeconds": server_timeout,
        "resourceVersion": resource_version,
        **_selectors(labels, fields),
    }
    request = generic.prepare_request(
        "list", res=res, namespace=namespace, watch=True, params=params
    )
    request.timeout = generic._watch_timeout  # lightkube's own: no read timeout on a watch
    response = await generic.send(generic.build_adapter_request(request), stream=True)
    try:
        if response.is_error:
            await response.aread()
            generic.raise_for_status(response)
        decoder = _object_decoder(wire)
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = _events.decode(line)
            if event.type == "ERROR":
                raise ApiError(status=_status.decode(event.object))
            yield event.type, decoder.decode(event.object)
    finally:
        await response.aclose()
