"""The simulated kube-apiserver as an ASGI application.

A request is routed (``routes.py``: the real URL layout, the verb, discovery), let in or not by
the front door (``frontdoor.py``: bearer tokens, RBAC, counters, injected faults, and the
``/_sim/`` control endpoint for tests), and then served here from the registry (writes) and the
store (reads), or handed on: watches to ``watch.py``, exec and logs to ``podio.py``, the metrics
API (an aggregated group, when the cluster has it) to ``metrics.py``. Lists and watches answer
as a ``Table`` when the client asks for one (kubectl does). This module is the
only one that imports those parts; it hands each what it needs, so none of them imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import discovery
from . import kinds as k
from .conditions import bind_pod
from .deletion import delete_options
from .faults import Faults, FaultSettings
from .frontdoor import FrontDoor
from .http import (
    JSON,
    Receive,
    Request,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from .jsonbytes import dumps
from .kubelet import Kubelet
from .metrics import KINDS as METRICS_KINDS
from .metrics import MetricsServer
from .paging import Pager
from .patch import JSON_PATCH, MERGE, STRATEGIC, unsupported_patch
from .podio import PodIO
from .rbac import ANONYMOUS, Identity
from .registry import Registry
from .routes import (
    NOT_FOUND,
    PUBLIC_PATHS,
    Route,
    discovery_document,
    parse_route,
    verb_of,
    wants_table,
)
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .status import ApiError, bad_request, success_status
from .store import Store, with_type
from .tables import to_table
from .watch import WatchStream

Obj = dict[str, Any]
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, "application/apply-patch+yaml")
# A test's hook, awaited with ("before" | "after", the caller's user name, verb, resource,
# object name) around each API request that is served: tests stop a client at an exact point of
# its work with it (an ApiError raised "before" answers the request with that error instead).
RequestHook = Callable[[str, str, str, str, str], Awaitable[None]]


@dataclass
class ServerOptions:
    bookmark_interval: float = 60.0  # seconds between BOOKMARK events on a quiet watch
    max_follow_seconds: float = 3600.0  # longest ``logs -f`` stream
    list_snapshot_ttl: float = 300.0  # how long a list's continue token stays valid (paging.py)
    list_snapshots: int = 256  # list snapshots kept at most for continue tokens


class ApiServer:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        kubelet: Kubelet,
        *,
        tokens: dict[str, Identity],
        faults: Faults | None = None,
        options: ServerOptions | None = None,
        metrics: MetricsServer | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.kubelet = kubelet
        self.options = options or ServerOptions()
        self.door = FrontDoor(registry, tokens=tokens, faults=faults)
        self.pods = PodIO(self.door, registry, kubelet, self.options.max_follow_seconds)
        self.request_hooks: list[RequestHook] = []
        self.pager = Pager(
            store, ttl=self.options.list_snapshot_ttl, capacity=self.options.list_snapshots
        )
        self.metrics = metrics  # metrics.k8s.io, served while ``metrics.enabled``
        # What tests and the CLI reach through the server: the door's own objects.
        self.tokens = self.door.tokens  # bearer token -> who presents it
        self.faults = self.door.faults
        self.counters = self.door.counters

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.pods.serve_exec(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # ------------------------------------------------------------------ the faces tests use
    def apply_faults(self, settings: FaultSettings) -> None:
        self.door.apply_faults(settings)

    def issue_token(self, namespace: str, name: str, body: Any) -> Obj:
        return self.door.issue_token(namespace, name, body)

    def aggregated(self) -> tuple[k.Kind, ...]:
        """The kinds of the extension apiservers registered now: metrics-server's, unless off."""
        return METRICS_KINDS if self.metrics is not None and self.metrics.enabled else ()

    # ------------------------------------------------------------------ HTTP
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        req = Request.from_scope(scope)
        try:
            if req.path in PUBLIC_PATHS:
                if req.path.startswith("/version"):
                    await send_json(send, 200, discovery.VERSION)
                else:
                    await send_bytes(send, 200, b"ok", "text/plain")
                return
            who = self.door.authenticate(req)
            aggregated = self.aggregated()
            route = parse_route(req.path, aggregated)
            if who is ANONYMOUS and (req.path.startswith("/_sim/") or not route):
                if req.path.startswith("/_sim/"):
                    raise ApiError(401, "Unauthorized", "Unauthorized")
                # Anonymous callers may read no discovery (only /version and health).
                raise ApiError(
                    403,
                    f'forbidden: User "{who.name}" cannot {req.method.lower()} path "{req.path}"',
                    "Forbidden",
                    {},
                )
            if req.path.startswith("/_sim/"):
                req.body = await read_body(receive)
                await self.door.control(req, send)
                return
            document = discovery_document(req.path, aggregated)
            if document is not None:
                await send_json(send, 200, document)
                return
            if route is None:
                if not discovery.known_path(req.path, aggregated):
                    # Outside every served group the apiserver's mux answers, in plain text.
                    await send_bytes(send, 404, b"404 page not found\n", "text/plain")
                    return
                raise NOT_FOUND
            verb = verb_of(req, route)
            self.door.count(verb, route.counted_as)
            self.door.authorize(req, verb, route)
            await self.door.inject_faults(verb, route.counted_as)
            for hook in self.request_hooks:
                await hook("before", req.user, verb, route.counted_as, route.name or "")
            if req.method in ("POST", "PUT", "PATCH", "DELETE"):
                req.body = await read_body(receive)
            await self._dispatch(req, route, verb, receive, send)
            for hook in self.request_hooks:
                await hook("after", req.user, verb, route.counted_as, route.name or "")
        except ApiError as error:
            await send_error(send, error)

    def _check_scope(self, route: Route, verb: str) -> str:
        """The namespace to act in; a namespaced kind needs one except to list/watch."""
        if route.kind.namespaced and route.namespace is None and verb not in ("list", "watch"):
            raise NOT_FOUND
        return route.namespace or ""

    async def _dispatch(
        self, req: Request, route: Route, verb: str, receive: Receive, send: Send
    ) -> None:
        kind = route.kind
        ns = self._check_scope(route, verb)
        if self.metrics is not None and kind in METRICS_KINDS:
            answer = self.metrics.serve(req, kind, ns, route.name, verb, wants_table(req))
            await send_json(send, 200, answer)
            return
        dry_run = req.param("dryRun") == "All"
        if route.subresource == "log":
            await self.pods.serve_log(req, ns, route.name or "", receive, send)
            return
        if route.subresource == "exec":
            self.pods.exec_target(ns, route.name or "", req)
            raise bad_request("Upgrade request required")
        if verb in ("list", "watch"):
            await self._list_or_watch(req, route, verb, receive, send)
        elif verb == "get":
            obj = self.registry.get(kind, ns, route.name or "")
            await self._send_object(req, kind, obj, 200, send)
        elif verb == "create":
            await self._create(req, route, ns, dry_run, send)
        elif verb == "update":
            obj = self.registry.update(
                kind,
                ns,
                route.name or "",
                req.json_body(),
                subresource=route.subresource,
                dry_run=dry_run,
            )
            await send_json(send, 200, with_type(kind, obj))
        elif verb == "patch":
            ctype = req.headers.get("content-type", "").split(";")[0].strip()
            if ctype not in PATCH_TYPES:
                raise unsupported_patch()
            obj = self.registry.patch(
                kind,
                ns,
                route.name or "",
                ctype,
                req.json_body(),
                subresource=route.subresource,
                dry_run=dry_run,
            )
            await send_json(send, 200, with_type(kind, obj))
        elif verb == "delete":
            await self._delete(req, route, ns, dry_run, send)
        else:
            await self._delete_collection(req, route, ns, dry_run, send)

    async def _send_object(
        self, req: Request, kind: k.Kind, obj: Obj, code: int, send: Send
    ) -> None:
        include = wants_table(req)
        if include is not None:
            await send_json(
                send,
                code,
                to_table(
                    kind,
                    [obj],
                    include=include,
                    resource_version=obj["metadata"]["resourceVersion"],
                ),
            )
        else:
            await send_json(send, code, with_type(kind, obj))

    def _matcher(self, req: Request, kind: k.Kind) -> Any:
        labels = parse_label_selector(req.param("labelSelector"))
        fields = parse_field_selector(req.param("fieldSelector"), kind.supports_field)

        def matches(obj: Obj) -> bool:
            if labels and not labels_match(labels, obj["metadata"].get("labels")):
                return False
            return not fields or fields_match(
                fields, {f.field: kind.field_value(obj, f.field) for f in fields}
            )

        return matches

    async def _list_or_watch(
        self, req: Request, route: Route, verb: str, receive: Receive, send: Send
    ) -> None:
        kind = route.kind
        if route.name is not None:
            self._matcher(req, kind)  # a bad selector is a 400 before the 404
            raise NOT_FOUND
        if verb == "watch":
            stream = WatchStream(
                self.door,
                self.store,
                self.options.bookmark_interval,
                req,
                kind,
                route.namespace,
                self._matcher(req, kind),
                wants_table(req),
            )
            await stream.serve(receive, send)
            return
        page = self.pager.page(req, kind, route.namespace, self._matcher)  # limit, continue
        items, rv = page.items, page.resource_version
        include = wants_table(req)
        if include is not None:
            table = to_table(kind, items, resource_version=rv, include=include)
            await send_json(send, 200, {**table, "metadata": page.metadata})
            return
        body = (
            b'{"kind":"'
            + f"{kind.kind}List".encode()
            + b'","apiVersion":"'
            + kind.api_version.encode()
            + b'","metadata":'
            + dumps(page.metadata)
            + b',"items":['
            + b",".join(dumps(i) for i in items)
            + b"]}"
        )
        await send_bytes(send, 200, body, JSON)

    async def _create(self, req: Request, route: Route, ns: str, dry_run: bool, send: Send) -> None:
        kind = route.kind
        body = req.json_body(kind.kind if route.subresource is None else "")
        if route.subresource is None:
            if route.name is not None:
                raise ApiError(
                    405,
                    "the server does not allow this method on the requested resource",
                    "MethodNotAllowed",
                )
            obj = self.registry.create(kind, ns, body, dry_run=dry_run)
            await send_json(send, 201, with_type(kind, obj))
            return
        name = route.name or ""
        if route.subresource == "binding":
            target = (body or {}).get("target", {}).get("name", "")
            bind_pod(self.store, ns, name, target)
            await send_json(
                send,
                201,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
            )
        elif route.subresource == "eviction":
            options = delete_options(req, (body or {}).get("deleteOptions") or {})
            self.registry.delete(kind, ns, name, options)
            await send_json(
                send,
                201,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
            )
        elif route.subresource == "token":
            await send_json(send, 201, self.door.issue_token(ns, name, body))
        else:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                "MethodNotAllowed",
            )

    async def _delete(self, req: Request, route: Route, ns: str, dry_run: bool, send: Send) -> None:
        kind = route.kind
        name = route.name or ""
        body = req.json_body() if req.body else {}
        options = delete_options(req, body if isinstance(body, dict) else {})
        options.dry_run = dry_run
        before = self.registry.get(kind, ns, name)
        obj = self.registry.delete(kind, ns, name, options)
        current = self.store.get(kind, ns, name)
        gone = current is None or current["metadata"]["uid"] != before["metadata"]["uid"]
        if gone and kind.delete_returns_status and not dry_run:
            await send_json(
                send, 200, success_status(name, kind.plural, kind.group, before["metadata"]["uid"])
            )
            return
        await send_json(send, 200, with_type(kind, obj))

    async def _delete_collection(
        self, req: Request, route: Route, ns: str, dry_run: bool, send: Send
    ) -> None:
        kind = route.kind
        matches = self._matcher(req, kind)
        body = req.json_body() if req.body else {}
        options = delete_options(req, body if isinstance(body, dict) else {})
        options.dry_run = dry_run
        deleted = []
        for obj in self.store.list(kind, ns or None):
            if matches(obj):
                try:
                    self.registry.delete(kind, ns, obj["metadata"]["name"], options)
                except ApiError:
                    continue
                deleted.append(obj)  # the items as they were listed (measured)
        await send_json(
            send,
            200,
            {
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            },
        )
