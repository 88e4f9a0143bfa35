"""The trio-safe list+watch loop behind :meth:`userpods.kube.Kube.watch`.

lightkube's own watch retries only under asyncio, so the daemon runs its own loop: list, then
watch from the list's version, forever. On 410 (expired version) it relists at once; on other
errors it backs off (capped) and relists, since a list proves the connection works again (a
quiet resumed watch proves nothing) and repairs anything missed. A stream the server ends
normally resumes from the last version seen.

A watch ``from_now`` follows only what happens after it starts (Kubernetes Events, which are a
log rather than a state): its lists fetch one object, for the collection's version, and hand
the handler nothing of what exists already.

Lists come in pages of ``PAGE`` objects, each projected (``handler.project``) as it arrives, so
a list of ten thousand pods never holds them all in full at once. A handler with a wire type
(``handler.wire``) has its lists and watch events decoded into that instead of lightkube's full
models (:mod:`userpods.kubewire`). Decoding a page makes tens of
thousands of small objects, each of which would count towards the cyclic garbage collector's
next run: it is paused while a list is read (it found nothing to collect there but cost 85% of
the decoding time), and what was listed, which lives as long as the cache, is then moved out of
its sight (``gc.freeze``) instead of being walked again at every full collection.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, Protocol

import httpx2
import msgspec
import trio
from lightkube import ApiError

from . import kubewire
from .kubeerrors import retry_after, status_code

log = logging.getLogger("userpods.kube")
WATCH_SECONDS = 300  # how long the server keeps a watch open before the loop resumes it
PAGE = 500  # objects per list request (a real apiserver's own default page for kubectl)
_pausing = 0  # lists being read with the collector paused (they may overlap)
_was_enabled = False  # whether it ran before the first of them


class _Policy(Protocol):
    @property
    def call_timeout(self) -> float: ...

    def delay(self, attempt: int, retry_after: float | None = None) -> float: ...


class _Stats(Protocol):
    def add(self, verb: str, outcome: str) -> None: ...


class Door(Protocol):
    """What the loop needs of :class:`userpods.kube.Kube` (which calls it; no import back)."""

    @property
    def client(self) -> Any: ...

    @property
    def policy(self) -> _Policy: ...

    @property
    def stats(self) -> _Stats: ...


class WatchHandler(Protocol):
    """What :func:`watch` feeds: a full state after each (re)list, then events."""

    def replace(self, objects: list[Any], resource_version: str) -> None: ...

    def event(self, kind: str, obj: Any) -> None: ...

    def failed(self, error: BaseException) -> None: ...

    @property
    def project(self) -> Callable[[Any], Any] | None:
        """What of each listed object to keep (None: all of it)."""

    @property
    def wire(self) -> Any:
        """The msgspec struct to decode objects into (None: lightkube's full models); see
        :mod:`userpods.kubewire`. ``project`` then turns each into what is kept."""


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while lists are read (see the module docstring)."""
    global _pausing, _was_enabled
    if _pausing == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _pausing += 1
    try:
        yield
    finally:
        _pausing -= 1
        if _pausing == 0 and _was_enabled:
            # No collection first: with the collector paused, everything made since is young,
            # and collecting it would walk all of it (0.16 s at 10,000 pods). The cycles it
            # might find (a few of the HTTP client's, while a list was read) stay, frozen.
            gc.freeze()
            gc.enable()


async def _list(
    kube: Door,
    res: type[Any],
    namespace: str | None,
    labels: dict[str, Any] | None,
    fields: dict[str, Any] | None,
    from_now: bool,
    project: Callable[[Any], Any] | None,
    wire: Any,
) -> tuple[list[Any], str]:
    """The objects (none when ``from_now``) and the collection's resourceVersion."""
    api: Any = kube.client
    if wire is not None and not from_now:
        objects: list[Any] = []
        version = ""
        with trio.fail_after(kube.policy.call_timeout), _collector_paused():
            pages = kubewire.list_pages(
                api, res, wire, namespace=namespace, labels=labels, fields=fields, limit=PAGE
            )
            async with contextlib.aclosing(pages):
                async for page_version, items in pages:
                    version = page_version
                    objects.extend(map(project, items) if project else items)
        return objects, version
    listing = api.list(
        res, namespace=namespace, labels=labels, fields=fields, chunk_size=1 if from_now else PAGE
    )
    listed: list[Any] = []
    with trio.fail_after(kube.policy.call_timeout), _collector_paused():
        async with contextlib.aclosing(listing.__aiter__()) as items:
            async for obj in items:
                if from_now:
                    break  # the first page holds the version; the rest is history
                listed.append(project(obj) if project else obj)
    return listed, listing.resourceVersion or ""


async def watch(
    kube: Door,
    res: type[Any],
    handler: WatchHandler,
    *,
    namespace: str | None,
    labels: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    from_now: bool = False,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """List, then watch from the list's version, forever (see the module docstring).

    ``task_status`` reports after the first successful list, so a started cache is populated
    (a watch ``from_now`` reports after its first attempt, successful or not).
    """
    api: Any = kube.client
    version: str | None = None
    failures = 0
    started = False
    while True:
        try:
            if version is None:
                objects, version = await _list(
                    kube, res, namespace, labels, fields, from_now, handler.project, handler.wire
                )
                kube.stats.add("list", "ok")
                failures = 0  # a successful list proves the API healthy: no back-off left
                handler.replace(objects, version)
                if not started:
                    started = True
                    task_status.started()
            stream = _events(api, res, handler.wire, namespace, labels, fields, version)
            kube.stats.add("watch", "ok")
            async with contextlib.aclosing(stream) as events:
                async for kind, obj in events:
                    failures = 0
                    version = obj.metadata.resourceVersion or version
                    handler.event(kind, obj)
        except (ApiError, httpx2.HTTPError, trio.TooSlowError, OSError, msgspec.DecodeError) as exc:
            code = status_code(exc)
            kube.stats.add("watch", str(code) if code else "unreachable")
            handler.failed(exc)
            version = None
            if from_now and not started:
                # A log's watch is best effort: its failure must not hold back the start.
                started = True
                task_status.started()
            if code == 410:
                log.info("watch of %s expired; relisting", res.__name__)
                continue
            delay = kube.policy.delay(failures, retry_after(exc))
            failures += 1
            log.warning("watch of %s failed (%r); retrying in %.2fs", res.__name__, exc, delay)
            await trio.sleep(delay)


def _events(
    api: Any,
    res: type[Any],
    wire: Any,
    namespace: str | None,
    labels: dict[str, Any] | None,
    fields: dict[str, Any] | None,
    version: str,
) -> AsyncGenerator[tuple[str, Any], None]:
    """The watch from ``version``: lightkube's (which itself resumes a stream the server ends)
    or, with a wire type, one stream of slim objects (whose end the caller resumes from)."""
    if wire is None:
        stream: AsyncGenerator[tuple[str, Any], None] = api.watch(
            res,
            namespace=namespace,
            labels=labels,
            fields=fields,
            resource_version=version,
            server_timeout=WATCH_SECONDS,
        )
        return stream
    return kubewire.watch_events(
        api,
        res,
        wire,
        namespace=namespace,
        labels=labels,
        fields=fields,
        resource_version=version,
        server_timeout=WATCH_SECONDS,
    )
