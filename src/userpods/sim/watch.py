"""Watch streams: one JSON event per line, replayed from a resourceVersion, then live.

- resourceVersion unset or "0": a synthetic ADDED for every matching object, then changes;
  ``sendInitialEvents=true`` (with ``resourceVersionMatch=NotOlderThan``) does the same and
  ends the initial part with a BOOKMARK annotated ``k8s.io/initial-events-end``.
- resourceVersion=X: only changes after X; if X is older than the retained history the stream
  carries a single ERROR event with the 410 Expired Status (HTTP 200, as a real apiserver).
- Selectors see transitions: an object that starts matching arrives as ADDED, one that stops
  matching as DELETED.
- ``timeoutSeconds`` (default: 30-60 minutes, as the apiserver's minRequestTimeout) ends the
  stream cleanly; BOOKMARKs come every ``bookmark_interval`` seconds when allowed.

The apiserver hands a stream what it needs (the store, and the front door for the counters and
the fault settings); this module does not import the apiserver.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import trio

from . import kinds as k
from .frontdoor import FrontDoor
from .http import Receive, Request, Send, end_stream, start_stream, stream_chunk
from .jsonbytes import dumps
from .status import ApiError
from .store import Change, Store, clone, with_type
from .tables import to_table

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _event(type_: str, encoded: bytes) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + encoded + b"}\n"


# How a zero-valued object of a kind encodes (fields without omitempty), as measured.
ZERO_OBJECTS: dict[str, Obj] = {"pods": {"spec": {"containers": None}, "status": {}}}


class WatchStream:
    def __init__(
        self,
        door: FrontDoor,
        store: Store,
        bookmark_interval: float,
        req: Request,
        kind: k.Kind,
        namespace: str | None,
        matches: Matcher,
        table: str | None,
    ) -> None:
        self.door = door  # the counters, and the fault settings (watch_cut_after)
        self.store = store
        self.bookmark_interval = bookmark_interval
        self.req = req
        self.kind = kind
        self.namespace = namespace
        self.matches = matches
        self.table = table  # None, or the includeObject mode of a Table watch
        self._headers_sent = False

    def _in_scope(self, change: Change) -> bool:
        return change.kind is self.kind and (
            self.namespace is None or change.namespace == self.namespace
        )

    def _encode(self, obj: Obj, change: Change | None = None) -> bytes:
        if self.table is None:
            return change.encoded_object() if change else dumps(with_type(self.kind, obj))
        table = to_table(
            self.kind,
            [obj],
            resource_version=obj["metadata"]["resourceVersion"],
            include=self.table,
            headers=not self._headers_sent,
        )
        self._headers_sent = True
        return dumps(table)

    def _translate(self, change: Change) -> bytes | None:
        """The event a watcher with this scope and selector sees for ``change``, if any."""
        now_matches = change.type != "DELETED" and self.matches(change.obj)
        was_matching = change.old is not None and self.matches(change.old)
        if change.type == "ADDED":
            type_ = "ADDED" if now_matches else None
        elif change.type == "DELETED":
            type_ = "DELETED" if self.matches(change.obj) or was_matching else None
        elif now_matches:
            type_ = "MODIFIED" if was_matching else "ADDED"
        else:
            if not was_matching or change.old is None:
                return None
            # As the watch cache: the previous (last matching) content, at the change's RV.
            old = change.old
            left = {**old, "metadata": {**old["metadata"], "resourceVersion": str(change.rv)}}
            return _event("DELETED", self._encode(left))
        if type_ is None:
            return None
        return _event(type_, self._encode(change.obj, change))

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        body: Obj = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": meta}
        # A bookmark carries an otherwise empty object, encoded as Go encodes a zero one.
        body.update(clone(ZERO_OBJECTS.get(self.kind.key, {})))
        return _event("BOOKMARK", dumps(body))

    async def serve(self, receive: Receive, send: Send) -> None:
        req = self.req
        rv_param = req.param("resourceVersion") or ""
        send_initial = req.param("sendInitialEvents")
        initial_events = send_initial is not None and req.flag("sendInitialEvents")
        bookmarks = req.flag("allowWatchBookmarks")
        if initial_events and (
            req.param("resourceVersionMatch") != "NotOlderThan" or not bookmarks
        ):
            raise ApiError(
                422,
                'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch "
                "to NotOlderThan and allowWatchBookmarks to true",
                "Invalid",
            )
        if rv_param and not rv_param.isdigit():
            raise ApiError(
                400,
                f'resourceVersion: Invalid value: "{rv_param}": must be a non-negative integer',
                "BadRequest",
            )
        timeout = req.int_param("timeoutSeconds")
        # 0 (or unset) is the default: minRequestTimeout (30 min) times [1, 2), as the apiserver.
        limit = float(timeout) if timeout else random.uniform(1800, 3600)
        resource = self.kind.plural
        counters = self.door.counters
        counters.watches_open[resource] += 1
        counters.watches_started[resource] += 1
        try:
            await start_stream(send)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
                with trio.move_on_after(limit) as window:
                    nursery.start_soon(self._cut_when_faulted, window)
                    await self._stream(send, rv_param, initial_events, bookmarks)
                nursery.cancel_scope.cancel()
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                await end_stream(send)
        except OSError:
            pass  # the client went away
        finally:
            counters.watches_open[resource] -= 1

    async def _cut_when_faulted(self, window: trio.CancelScope) -> None:
        """Apply ``watch_cut_after`` to this stream, also when it is set while it runs."""
        started = trio.current_time()
        while True:
            changed = self.door.faults_changed
            cut = self.door.faults.settings.watch_cut_after
            if cut is not None:
                window.deadline = min(window.deadline, started + cut)
            await changed.wait()

    async def _stream(
        self, send: Send, rv_param: str, initial_events: bool, bookmarks: bool
    ) -> None:
        store = self.store
        if initial_events or rv_param in ("", "0"):
            rv = store.rv
            scoped = store.list(self.kind, self.namespace)
            for obj in scoped:
                if self.matches(obj):
                    await stream_chunk(send, _event("ADDED", self._encode(obj)))
            if initial_events:
                await stream_chunk(send, self._bookmark(rv, initial_end=True))
        else:
            rv = int(rv_param)
        interval = self.bookmark_interval
        next_bookmark = trio.current_time() + interval
        while True:
            changed = store.changed
            try:
                changes = store.changes_since(rv)
            except ApiError as exc:
                await stream_chunk(send, _event("ERROR", dumps(exc.body())))
                return
            if changes:
                rv = changes[-1].rv
                out = [e for c in changes if self._in_scope(c) and (e := self._translate(c))]
                if out:
                    await stream_chunk(send, b"".join(out))
                continue
            if bookmarks:
                with trio.move_on_at(next_bookmark):
                    await changed.wait()
                if trio.current_time() >= next_bookmark:
                    await stream_chunk(send, self._bookmark(rv))
                    next_bookmark = trio.current_time() + interval
            else:
                await changed.wait()


async def _cancel_on_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return
