"""What a round trip through the Go types does to a stored object's JSON.

The apiserver decodes every body into its Go structs and encodes them back, so a field tagged
``omitempty`` that holds its zero value disappears (an env var's ``value: ""``), and a field
without the tag appears even when nobody sent it (an Event's ``eventTime: null``,
``reportingComponent: ""``). The simulated cluster keeps JSON, so it applies the same
normalisations, found by measuring against a real apiserver (tests/differential).
"""

from __future__ import annotations

from typing import Any

from . import kinds as k

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
