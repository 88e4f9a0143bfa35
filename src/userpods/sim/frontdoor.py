"""The apiserver's front door: who is calling, whether they may, and the faults tests inject.

Every API request passes here before it is served: authentication by bearer token (401 for a
wrong one; none at all is ``system:anonymous``, whom RBAC refuses), RBAC authorization
(``rbac.py``), the request counters and the injected faults (``faults.py``). The door also
issues service-account tokens (TokenRequest) and serves ``/_sim/``, the control endpoint for
tests: counters and fault settings. The apiserver, exec and watch streams all use one door,
which the apiserver hands them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import trio

from . import kinds as k
from .admission import CALLER
from .faults import Counters, Faults, FaultSettings
from .http import Request, Send, send_json
from .rbac import ANONYMOUS, Authorizer, Identity, service_account
from .registry import Registry
from .routes import NOT_FOUND, Route
from .status import ApiError, bad_request

Obj = dict[str, Any]
ISSUER = "https://kubernetes.default.svc.cluster.local"


class FrontDoor:
    def __init__(
        self,
        registry: Registry,
        *,
        tokens: dict[str, Identity],
        faults: Faults | None = None,
    ) -> None:
        self.registry = registry
        self.store = registry.store
        self.tokens = tokens  # bearer token -> who presents it
        self.authorizer = Authorizer(self.store)
        self.faults_changed = trio.Event()  # set when the fault settings change
        self.faults = faults or Faults()
        self.counters = Counters()
        self.default_history = self.store.history_limit

    # ------------------------------------------------------------------ who, and may they
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

    # ------------------------------------------------------------------ counters and faults
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

    def apply_faults(self, settings: FaultSettings) -> None:
        self.faults.update(settings)
        self.faults_changed.set()
        self.faults_changed = trio.Event()
        self.store.set_history_limit(settings.history_limit or self.default_history)

    def fault_settings(self) -> Obj:
        return asdict(self.faults.settings)

    # ------------------------------------------------------------------ control endpoint
    async def control(self, req: Request, send: Send) -> None:
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
