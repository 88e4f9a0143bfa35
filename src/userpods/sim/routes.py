"""Where a request goes: the apiserver's URL layout, its verbs, and the discovery documents.

Routing follows the real URL layout (``/api/v1/namespaces/{ns}/{resource}/{name}/{sub}``,
``/apis/{group}/{version}/...``) to a :class:`Route`: the kind, the namespace, the name and the
subresource. The verb is the HTTP method read as RBAC reads it (a GET of a collection with
``watch`` is a watch). Discovery (``/api``, ``/apis``, ``/openapi/v3``) answers documents, not
objects. All of it is pure: no state, nothing served. The kinds of extension apiservers
(``aggregated``: the metrics API, when the cluster has it) are routed and discovered beside the
built-in ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import discovery
from . import kinds as k
from .http import Request
from .status import ApiError

_CORE = re.compile(
    r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
_GROUP = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
    r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz", "/version/"}
NOT_FOUND = ApiError(404, "the server could not find the requested resource", "NotFound", {})


@dataclass(frozen=True)
class Route:
    kind: k.Kind
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> str:
        return f"{self.kind.plural}/{self.subresource}" if self.subresource else self.kind.plural

    @property
    def counted_as(self) -> str:
        """The resource as counters, injected faults and request hooks name it: as RBAC does,
        but qualified by its group for an aggregated kind, whose plural (metrics.k8s.io's
        ``pods``) would be taken for the built-in resource of that name."""
        if self.kind in k.KINDS:
            return self.resource
        return f"{self.resource}.{self.kind.group}"


def parse_route(path: str, aggregated: Sequence[k.Kind] = ()) -> Route | None:
    """The resource a path names, or None if it names none this server serves."""
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
    kind = k.find_kind(group, version, res) or next(
        (kd for kd in aggregated if (kd.group, kd.version, kd.plural) == (group, version, res)),
        None,
    )
    if kind is None:
        return None
    if ns is not None and not kind.namespaced:
        return None
    if sub is not None and sub not in kind.subresources:
        return None
    return Route(kind, ns, name, sub)


def verb_of(req: Request, route: Route) -> str:
    """The request's verb as RBAC and the counters name it."""
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


def wants_table(req: Request) -> str | None:
    """The ``includeObject`` mode if the client asked for a Table, else None."""
    accept = req.headers.get("accept", "")
    for part in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in part.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return req.param("includeObject") or "Metadata"
    return None


def discovery_document(path: str, aggregated: Sequence[k.Kind] = ()) -> Any:
    """The discovery or OpenAPI document at ``path`` (None: not a discovery path)."""
    path = path.rstrip("/") or "/"
    if path == "/api":
        return discovery.api_versions()
    if path == "/apis":
        return discovery.api_group_list(aggregated)
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
        group = discovery.api_group(parts[2], aggregated)
        if group is None:
            raise NOT_FOUND
        return group
    if len(parts) == 4 and parts[1] == "apis":
        resources = discovery.resource_list(parts[2], parts[3], aggregated)
        if resources is None:
            raise NOT_FOUND
        return resources
    return None
