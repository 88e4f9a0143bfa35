"""The simulated kube-apiserver as an ASGI application.

Routing follows the real URL layout (``/api/v1/namespaces/{ns}/{resource}/{name}/{sub}``,
``/apis/{group}/{version}/...``); requests are authenticated by bearer token (401 without one),
counted by verb and resource, subjected to injected faults, and then served from the
registry (writes) and store (reads, watches). Lists and watches answer as a ``Table`` when the
client asks for one (kubectl does). ``/_sim/`` is the control endpoint for tests: counters and
fault settings.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from . import discovery
from . import kinds as k
from .admission import CALLER
from .faults import Counters, Faults, FaultSettings
from .http import (
    JSON,
    Receive,
    Request,
    Scope,
    Send,
    dumps,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from .patch import JSON_PATCH, MERGE, STRATEGIC, unsupported_patch
from .podio import exec_target, serve_exec, serve_log
from .rbac import ANONYMOUS, Authorizer, Identity, service_account
from .registry import DeleteOptions, Registry, bind_pod
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .status import ApiError, bad_request, forbidden, invalid_error, success_status
from .store import Store, with_type
from .tables import to_table
from .watch import WatchStream

if TYPE_CHECKING:
    from .kubelet import Kubelet

Obj = dict[str, Any]
_CORE = re.compile(
    r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
_GROUP = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
ISSUER = "https://kubernetes.default.svc.cluster.local"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, "application/apply-patch+yaml")
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz", "/version/"}
NOT_FOUND = ApiError(404, "the server could not find the requested resource", "NotFound", {})
# A test's hook, awaited with ("before" | "after", the caller's user name, verb, resource,
# object name) around each API request that is served: tests stop a client at an exact point of
# its work with it (an ApiError raised "before" answers the request with that error instead).
RequestHook = Callable[[str, str, str, str, str], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    kind: k.Kind
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> str:
        return f"{self.kind.plural}/{self.subresource}" if self.subresource else self.kind.plural


@dataclass
class ServerOptions:
    bookmark_interval: float = 60.0  # seconds between BOOKMARK events on a quiet watch
    max_follow_seconds: float = 3600.0  # longest ``logs -f`` stream


def wants_table(req: Request) -> str | None:
    """The ``includeObject`` mode if the client asked for a Table, else None."""
    accept = req.headers.get("accept", "")
    for part in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in part.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return req.param("includeObject") or "Metadata"
    return None


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
    ) -> None:
        self.store = store
        self.registry = registry
        self.kubelet = kubelet
        self.tokens = tokens  # bearer token -> who presents it
        self.authorizer = Authorizer(store)
        self.faults_changed = trio.Event()  # set when the fault settings change
        self.faults = faults or Faults()
        self.counters = Counters()
        self.options = options or ServerOptions()
        self.default_history = store.history_limit
        self.request_hooks: list[RequestHook] = []

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await serve_exec(self, scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # ------------------------------------------------------------------ plumbing
    def authenticate(self, req: Request) -> Identity:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        who = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if not header:
            who = ANONYMOUS  # anonymous requests are allowed in, then refused by RBAC (403)
        if who is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        req.user = who.name
        req.extra["identity"] = who
        CALLER.set(who)  # for admission plugins that check the caller's rights
        return who

    def authorize(self, req: Request, verb: str, route: Route) -> None:
        """RBAC: a 403 unless a role bound to the caller allows this (see rbac.py)."""
        who = req.extra.get("identity") or self.authenticate(req)
        namespace = route.namespace or ""
        if route.kind is k.NAMESPACE:
            namespace = route.name or ""  # a namespace's requests are in that namespace
        self.authorizer.check(who, verb, route.kind, route.resource, namespace, route.name or "")

    def count(self, verb: str, resource: str) -> None:
        self.counters.requests[(verb, resource)] += 1

    async def inject_faults(self, verb: str, resource: str) -> None:
        settings = self.faults.settings
        if settings.latency:
            await trio.sleep(settings.latency)
        code = self.faults.error_for(verb, resource)
        if code is None:
            return
        self.counters.injected[code] += 1
        if code == 429:
            raise ApiError(
                429,
                "the server has received too many requests and has asked us to try again later",
                "TooManyRequests",
                {"retryAfterSeconds": settings.retry_after},
                {"retry-after": str(settings.retry_after)},
            )
        if code == 503:
            raise ApiError(
                503, "the server is currently unable to handle the request", "ServiceUnavailable"
            )
        raise ApiError(500, "Internal error occurred: injected fault", "InternalError")

    def route(self, path: str) -> Route | None:
        m = _CORE.match(path)
        group, version = "", "v1"
        if m is None:
            m = _GROUP.match(path)
            if m is None:
                return None
            group, version = m.group("group"), m.group("version")
        ns, res, name, sub = m.group("ns"), m.group("res"), m.group("name"), m.group("sub")
        if ns is not None and res in ("status", "finalize") and name is None and not group:
            return Route(k.NAMESPACE, None, ns, res)  # /api/v1/namespaces/{name}/{sub}
        kind = k.find_kind(group, version, res)
        if kind is None:
            return None
        if ns is not None and not kind.namespaced:
            return None
        if sub is not None and sub not in kind.subresources:
            return None
        return Route(kind, ns, name, sub)

    async def send_text(self, send: Send, data: bytes) -> None:
        await send_bytes(send, 200, data, "text/plain")

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
            who = self.authenticate(req)
            if who is ANONYMOUS and (req.path.startswith("/_sim/") or not self.route(req.path)):
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
                await self._control(req, send)
                return
            document = self._discovery(req.path)
            if document is not None:
                await send_json(send, 200, document)
                return
            route = self.route(req.path)
            if route is None:
                if not discovery.known_path(req.path):
                    # Outside every served group the apiserver's mux answers, in plain text.
                    await send_bytes(send, 404, b"404 page not found\n", "text/plain")
                    return
                raise NOT_FOUND
            verb = self._verb(req, route)
            self.count(verb, route.resource)
            self.authorize(req, verb, route)
            await self.inject_faults(verb, route.resource)
            for hook in self.request_hooks:
                await hook("before", req.user, verb, route.resource, route.name or "")
            if req.method in ("POST", "PUT", "PATCH", "DELETE"):
                req.body = await read_body(receive)
            await self._dispatch(req, route, verb, receive, send)
            for hook in self.request_hooks:
                await hook("after", req.user, verb, route.resource, route.name or "")
        except ApiError as error:
            await send_error(send, error)

    def _discovery(self, path: str) -> Any:
        path = path.rstrip("/") or "/"
        if path == "/api":
            return discovery.api_versions()
        if path == "/apis":
            return discovery.api_group_list()
        if path == "/api/v1":
            return discovery.resource_list("", "v1")
        if path == "/openapi/v3":
            return discovery.openapi_index()
        if path.startswith("/openapi/v3/"):
            doc = discovery.openapi_document(path[len("/openapi/v3/") :])
            if doc is None:
                raise NOT_FOUND
            return doc
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "apis":
            group = discovery.api_group(parts[2])
            if group is None:
                raise NOT_FOUND
            return group
        if len(parts) == 4 and parts[1] == "apis":
            resources = discovery.resource_list(parts[2], parts[3])
            if resources is None:
                raise NOT_FOUND
            return resources
        return None

    @staticmethod
    def _verb(req: Request, route: Route) -> str:
        method = req.method
        if method == "GET":
            if route.name is None:
                return "watch" if req.flag("watch") else "list"
            return "get"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({method})",
            "MethodNotAllowed",
        )

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
        dry_run = req.param("dryRun") == "All"
        if route.subresource == "log":
            await serve_log(self, req, ns, route.name or "", receive, send)
            return
        if route.subresource == "exec":
            exec_target(self, ns, route.name or "", req)
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
        matches = self._matcher(req, kind)
        if route.name is not None:
            raise NOT_FOUND
        if verb == "watch":
            stream = WatchStream(self, req, kind, route.namespace, matches, wants_table(req))
            await stream.serve(receive, send)
            return
        if req.param("sendInitialEvents") is not None:
            raise invalid_error(
                "ListOptions",
                "meta.k8s.io",
                "",
                [forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")],
            )
        items = [obj for obj in self.store.list(kind, route.namespace) if matches(obj)]
        rv = str(self.store.rv)
        include = wants_table(req)
        if include is not None:
            await send_json(send, 200, to_table(kind, items, resource_version=rv, include=include))
            return
        body = (
            b'{"kind":"'
            + f"{kind.kind}List".encode()
            + b'","apiVersion":"'
            + kind.api_version.encode()
            + b'","metadata":{"resourceVersion":"'
            + rv.encode()
            + b'"},"items":['
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
            bind_pod(self.registry, ns, name, target)
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
            options = _delete_options(req, (body or {}).get("deleteOptions") or {})
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
            await send_json(send, 201, self.issue_token(ns, name, body))
        else:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                "MethodNotAllowed",
            )

    def issue_token(self, namespace: str, name: str, body: Any) -> Obj:
        """A TokenRequest for a service account: a bearer token this server accepts."""
        import secrets

        sa = self.registry.get(k.SERVICEACCOUNT, namespace, name)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = service_account(namespace, name)
        spec = dict((body or {}).get("spec") or {})
        spec.setdefault("audiences", [ISSUER])  # the API's own audience, as a real one
        spec.setdefault("expirationSeconds", 3600)
        spec.setdefault("boundObjectRef", None)
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": sa["metadata"]["uid"],
                "creationTimestamp": sa["metadata"]["creationTimestamp"],
            },
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": self.registry.now()},
        }

    async def _delete(self, req: Request, route: Route, ns: str, dry_run: bool, send: Send) -> None:
        kind = route.kind
        name = route.name or ""
        body = req.json_body() if req.body else {}
        options = _delete_options(req, body if isinstance(body, dict) else {})
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
        options = _delete_options(req, body if isinstance(body, dict) else {})
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

    # ------------------------------------------------------------------ control endpoint
    async def _control(self, req: Request, send: Send) -> None:
        path = req.path.rstrip("/")
        if path == "/_sim/stats" and req.method == "GET":
            await send_json(send, 200, self.counters.snapshot())
        elif path == "/_sim/stats/reset" and req.method == "POST":
            self.counters.reset()
            await send_json(send, 200, self.counters.snapshot())
        elif path == "/_sim/faults" and req.method == "GET":
            await send_json(send, 200, self.fault_settings())
        elif path == "/_sim/faults" and req.method in ("PUT", "PATCH"):
            data = req.json_body() if req.body else {}
            if not isinstance(data, dict):
                raise bad_request("fault settings must be a JSON object")
            base = self.faults.settings if req.method == "PATCH" else None
            try:
                settings = FaultSettings.from_dict(data, base)
            except (TypeError, ValueError) as exc:
                raise bad_request(str(exc)) from exc
            self.apply_faults(settings)
            await send_json(send, 200, self.fault_settings())
        else:
            raise NOT_FOUND

    def apply_faults(self, settings: FaultSettings) -> None:
        self.faults.update(settings)
        self.faults_changed.set()
        self.faults_changed = trio.Event()
        self.store.set_history_limit(settings.history_limit or self.default_history)

    def fault_settings(self) -> Obj:
        from dataclasses import asdict

        return asdict(self.faults.settings)


def _delete_options(req: Request, body: Obj) -> DeleteOptions:
    grace = req.int_param("gracePeriodSeconds")
    if grace is None and isinstance(body.get("gracePeriodSeconds"), int):
        grace = body["gracePeriodSeconds"]
    policy = req.param("propagationPolicy") or body.get("propagationPolicy")
    orphan = req.param("orphanDependents")
    if policy is None and (orphan in ("true", "1") or body.get("orphanDependents") is True):
        policy = "Orphan"
    return DeleteOptions(
        grace_period=grace, propagation=policy, preconditions=dict(body.get("preconditions") or {})
    )
