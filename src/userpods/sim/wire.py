"""What a round trip through the Go types does to a stored object's JSON.

The apiserver decodes every body into its Go structs and encodes them back, so a field tagged
``omitempty`` that holds its zero value disappears (an env var's ``value: ""``), and a field
without the tag appears even when nobody sent it (an Event's ``eventTime: null``,
``reportingComponent: ""``). The simulated cluster keeps JSON, so it applies the same
normalisations, found by measuring against a real apiserver (tests/differential). ``decode``
is the first half: a request body checked and converted as the v1 decoder does.
"""

from __future__ import annotations

import base64
from typing import Any

from . import kinds as k
from .status import bad_request
from .store import clone

Obj = dict[str, Any]
# Event fields without omitempty: present (null / "") on every Event a real apiserver returns.
EVENT_FIELDS: dict[str, Any] = {
    "firstTimestamp": None,
    "lastTimestamp": None,
    "eventTime": None,
    "reportingComponent": "",
    "reportingInstance": "",
}


def _containers(spec: Any) -> list[Obj]:
    if not isinstance(spec, dict):
        return []
    found: list[Obj] = []
    for field in ("containers", "initContainers", "ephemeralContainers"):
        items = spec.get(field)
        if isinstance(items, list):
            found.extend(c for c in items if isinstance(c, dict))
    return found


def _pod_spec(spec: Any) -> None:
    for container in _containers(spec):
        for env in container.get("env") or []:
            if isinstance(env, dict) and env.get("value") == "":
                del env["value"]  # EnvVar.Value is `json:"value,omitempty"`


def round_trip(kind: k.Kind, obj: Obj) -> None:
    """Normalise ``obj`` (in place) as decoding and encoding it in Go would."""
    if kind is k.POD:
        _pod_spec(obj.get("spec"))
        for condition in (obj.get("status") or {}).get("conditions") or []:
            if isinstance(condition, dict):  # PodCondition's times have no omitempty
                condition.setdefault("lastProbeTime", None)
                condition.setdefault("lastTransitionTime", None)
    elif kind is k.DEPLOYMENT:
        template = (obj.get("spec") or {}).get("template")
        if isinstance(template, dict):
            _pod_spec(template.get("spec"))
    elif kind is k.EVENT:
        for field, zero in EVENT_FIELDS.items():
            obj.setdefault(field, zero)


def decode(kind: k.Kind, body: Any) -> Obj:
    """A request body as the object of ``kind`` it must be: its kind and apiVersion checked
    (400 in the apiserver's words), a Secret's write-only ``stringData`` merged into ``data``."""
    if not isinstance(body, dict):
        raise bad_request(f"the object provided is unrecognized (must be of type {kind.kind})")
    sent_kind, sent_version = body.get("kind"), body.get("apiVersion")
    if (sent_kind and sent_kind != kind.kind) or (
        sent_version and sent_version != kind.api_version
    ):
        raise bad_request(
            f"the API version in the data ({sent_version}) does not match the expected API "
            f"version ({kind.api_version})"
            if sent_version != kind.api_version
            else f'{sent_kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
            f"converting ({str(sent_version).split('/')[-1]}.{sent_kind}) to "
            f"({kind.group.split('.')[0] or 'core'}.{kind.kind}): unknown conversion"
        )
    obj = clone(body)
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request("metadata must be an object")
    if kind is k.SECRET and isinstance(obj.get("stringData"), dict):
        # As the v1 conversion: stringData is write-only, merged into data (it wins).
        data: Obj = obj["data"] if isinstance(obj.get("data"), dict) else {}
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    return obj
