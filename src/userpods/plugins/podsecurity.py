"""``pod-security``: the Pod Security Standards, applied before anything is created.

The manifest whitelist says where a manifest may come from, not what it may do: a whitelisted
manifest with a hostPath ``/`` volume or a privileged container would own the node. This step
holds every pod to the level ``podSecurity`` names (``privileged``: no checks; ``baseline``, the
default; ``restricted``), as the cluster's PodSecurity admission at version "latest" would, and
refuses the create_pod request with a 400 naming the fields, before any object is made. The
namespace of manifests/ carries the same level as its ``enforce`` label, so the cluster refuses
such a pod too if this step is disabled or bypassed.

It runs after the other built-in steps (``trylast``, and registered after ``mandatory-env``) so
that it judges the pod as it will be created, with the volumes and env the daemon added.
"""

from __future__ import annotations

from typing import Any

from userpods.config import Settings
from userpods.hooks import CreateRequest, PodRejected, hookimpl

from .pss_pod import Violation
from .pss_restricted import evaluate

VERSION = "latest"  # the checks of Kubernetes 1.37
MOST_FIELDS = 20  # named in a refusal; a manifest of a thousand containers gets a short answer


def rejection(level: str, violations: list[Violation]) -> str:
    """The refusal, worded as the admission's (``violates PodSecurity "baseline:latest":
    host namespaces (hostNetwork=true), ...``), followed by the fields at fault."""
    fields = list(dict.fromkeys(field for found in violations for field in found.fields))
    shown = ", ".join(fields[:MOST_FIELDS])
    if len(fields) > MOST_FIELDS:
        shown += f" and {len(fields) - MOST_FIELDS} more"
    return (
        f'the pod violates PodSecurity "{level}:{VERSION}": '
        + ", ".join(str(found) for found in violations)
        + f" (forbidden fields: {shown})"
    )


@hookimpl(trylast=True)
def userpods_prepare_pod(pod: dict[str, Any], request: CreateRequest, settings: Settings) -> None:
    violations = evaluate(pod, settings.pod_security)
    if violations:
        raise PodRejected(rejection(settings.pod_security, violations))
