"""A Deployment's defaults (replicas, strategy, the pod template's spec defaults only) and its
validation (the selector matches the template's labels, the template is a valid pod).
"""

from __future__ import annotations

from ..status import Cause, invalid, required
from .common import Obj, as_dict
from .pods import default_pod_spec, validate_pod


def default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", "25%")
                rolling.setdefault("maxSurge", "25%")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])
    obj["status"] = {}


def validate_deployment(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    selector = as_dict(as_dict(spec.get("selector")).get("matchLabels"))
    template = as_dict(spec.get("template"))
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    if not spec.get("selector"):
        causes.append(required("spec.selector"))
    elif not selector or any(labels.get(key) != value for key, value in selector.items()):
        shown = (
            "map[string]string{"
            + ", ".join(f'"{key}":"{value}"' for key, value in sorted(labels.items()))
            + "}"
        )
        causes.append(
            Cause(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {shown}: `selector` does not match template `labels`",
            )
        )
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    for cause in validate_pod({"spec": template.get("spec")}):
        cause.field = "spec.template." + cause.field
        causes.append(cause)
    return causes
