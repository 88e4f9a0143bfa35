"""An Event's validation: it lives in the namespace of the object it is about."""

from __future__ import annotations

from ..status import Cause, invalid
from .common import Obj, as_dict


def validate_event(obj: Obj) -> list[Cause]:
    involved = as_dict(obj.get("involvedObject"))
    ns = as_dict(obj.get("metadata")).get("namespace", "")
    if involved.get("namespace") and involved["namespace"] != ns:
        return [
            invalid(
                "involvedObject.namespace", involved["namespace"], "does not match event.namespace"
            )
        ]
    return []
