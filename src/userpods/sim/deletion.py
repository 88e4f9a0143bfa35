"""What a DELETE asks for and what the apiserver checks before it deletes.

The options come from a DeleteOptions body or, when there is none, from the query
(``gracePeriodSeconds``, ``propagationPolicy``, ``orphanDependents``); the checks are the
preconditions (uid, resourceVersion: 409 with the Kind in ``details.kind``, as measured) and
the propagation policy (422). The policy becomes a finalizer the garbage collector acts on:
``orphan`` or ``foregroundDeletion``. A pod's grace period is its own unless the request says
otherwise, and none for a pod that never ran or has ended. The registry does the writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import kinds as k
from .http import Request
from .status import ApiError, Cause, invalid_error

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    preconditions: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def delete_options(req: Request, body: Obj) -> DeleteOptions:
    """The options of a DELETE (or an eviction's ``deleteOptions``): from the body when the
    request has one, else from the query, never both. As kube-apiserver's delete handler:
    with a body, a ``propagationPolicy`` or ``gracePeriodSeconds`` in the query is ignored
    (measured: a foreground deletion asked for in the query of a DELETE with a precondition
    body is a background one)."""
    if req.body:
        grace = body.get("gracePeriodSeconds")
        policy = body.get("propagationPolicy")
        orphan = body.get("orphanDependents") is True
    else:
        grace = req.int_param("gracePeriodSeconds")
        policy = req.param("propagationPolicy")
        orphan = req.param("orphanDependents") in ("true", "1")
    if policy is None and orphan:
        policy = "Orphan"
    return DeleteOptions(
        grace_period=grace if isinstance(grace, int) else None,
        propagation=policy,
        preconditions=dict(body.get("preconditions") or {}),
    )


def check_preconditions(kind: k.Kind, name: str, meta: Obj, pre: dict[str, str]) -> None:
    """409 if the stored object is not the one the caller meant (another uid or version)."""
    if pre.get("uid") and pre["uid"] != meta["uid"]:
        raise _precondition(
            kind,
            name,
            f"the UID in the precondition ({pre['uid']}) does not match the UID in record "
            f"({meta['uid']}). The object might have been deleted and then recreated",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise _precondition(
            kind,
            name,
            f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not "
            f"match the ResourceVersion in record ({meta['resourceVersion']}). The object "
            "might have been modified",
        )


def policy_finalizers(policy: str | None, meta: Obj) -> list[str]:
    """The object's finalizers once the propagation policy is added (422 for an unknown one)."""
    finalizers = list(meta.get("finalizers") or [])
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise invalid_error(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            [
                Cause(
                    "propagationPolicy",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", '
                    '"Background", "Orphan", "nil"',
                )
            ],
        )
    if policy == "Orphan" and ORPHAN not in finalizers and not meta.get("deletionTimestamp"):
        finalizers.append(ORPHAN)
    if (
        policy == "Foreground"
        and FOREGROUND not in finalizers
        and not meta.get("deletionTimestamp")
    ):
        finalizers.append(FOREGROUND)
    return finalizers


def grace_period(kind: k.Kind, pod: Obj, options: DeleteOptions) -> int | None:
    """Seconds a pod gets to stop (None: not a pod; 0: unscheduled or already ended)."""
    if kind is not k.POD:
        return None
    if not pod.get("spec", {}).get("nodeName"):
        return 0
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if options.grace_period is not None:
        return max(0, options.grace_period)
    return int(pod["spec"].get("terminationGracePeriodSeconds", 30))


def _precondition(kind: k.Kind, name: str, detail: str) -> ApiError:
    """A failed DELETE precondition: details.kind is the Kind here, not the resource."""
    details: Obj = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind
    return ApiError(
        409, f'Operation cannot be fulfilled on {kind.kind} "{name}": {detail}', "Conflict", details
    )
