"""The restricted level of the Pod Security Standards, and which checks each level runs.

Restricted is baseline plus the hardening controls below; four of them replace a weaker
baseline check (as ``OverrideCheckIDs`` do in the admission). Checks run in the admission's
order, baseline IDs sorted, then restricted IDs sorted, so several violations are listed as
the cluster would list them.
"""

from __future__ import annotations

from .pss_checks import BASELINE, proc_mount, seccomp
from .pss_pod import (
    Check,
    Pod,
    Violation,
    as_dict,
    as_list,
    containers_phrase,
    plural,
    quote,
    setters_phrase,
)

RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
LEVELS = ("privileged", "baseline", "restricted")  # from least to most restrictive


def allow_privilege_escalation(pod: Pod) -> Violation | None:
    if pod.windows:  # the field does not exist on Windows
        return None
    bad = [c for c in pod.containers if c.context.get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return Violation(
        "allowPrivilegeEscalation",
        "allowPrivilegeEscalation != false",
        f"{containers_phrase([c.name for c in bad])} must set "
        "securityContext.allowPrivilegeEscalation=false",
        tuple(f"{c.path}.securityContext.allowPrivilegeEscalation" for c in bad),
    )


def capabilities_restricted(pod: Pod) -> Violation | None:
    if pod.windows:
        return None
    no_drop, adding, added, fields = [], [], set(), []
    for c in pod.containers:
        capabilities = as_dict(c.context.get("capabilities"))
        if "ALL" not in [str(cap) for cap in as_list(capabilities.get("drop"))]:
            no_drop.append(c.name)
            fields.append(f"{c.path}.securityContext.capabilities.drop")
        bad = [str(cap) for cap in as_list(capabilities.get("add")) if cap != "NET_BIND_SERVICE"]
        if bad:
            adding.append(c.name)
            added.update(bad)
            fields.append(f"{c.path}.securityContext.capabilities.add")
    details = []
    if no_drop:
        details.append(
            f'{containers_phrase(no_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{containers_phrase(adding)} must not include {quote(sorted(added))} in "
            "securityContext.capabilities.add"
        )
    if not details:
        return None
    return Violation(
        "capabilities_restricted", "unrestricted capabilities", "; ".join(details), tuple(fields)
    )


def proc_mount_restricted(pod: Pod) -> Violation | None:
    return proc_mount(pod, "procMount_restricted")


def restricted_volumes(pod: Pod) -> Violation | None:
    names, kinds, fields = [], set(), []
    for index, volume in enumerate(as_list(pod.spec.get("volumes"))):
        volume = as_dict(volume)
        # Every key but the name is a volume source; none at all defaults to emptyDir.
        bad = sorted(
            str(key)
            for key, value in volume.items()
            if key != "name" and value is not None and key not in RESTRICTED_VOLUME_SOURCES
        )
        if bad:
            names.append(str(volume.get("name", "")))
            kinds.update(bad)
            fields += [f"spec.volumes[{index}].{key}" for key in bad]
    if not names:
        return None
    return Violation(
        "restrictedVolumes",
        "restricted volume types",
        f"{plural('volume', 'volumes', len(names))} {quote(names)} "
        f"{plural('uses', 'use', len(names))} "
        f"{plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{quote(sorted(kinds))}",
        tuple(fields),
    )


def run_as_non_root(pod: Pod) -> Violation | None:
    if pod.user_namespace:
        return None
    value = pod.context.get("runAsNonRoot")
    pod_bad, pod_set = value is not None and value is not True, value is True
    fields = ["spec.securityContext.runAsNonRoot"] if pod_bad else []
    explicit, implicit = [], []
    for c in pod.containers:
        path = f"{c.path}.securityContext.runAsNonRoot"
        value = c.context.get("runAsNonRoot")
        if value is not None and value is not True:
            explicit.append(c.name)
            fields.append(path)
        elif value is None and not pod_set:
            implicit.append((c.name, path))
    if pod_bad or explicit:
        return Violation(
            "runAsNonRoot",
            "runAsNonRoot != true",
            f"{setters_phrase(pod_bad, explicit)} must not set securityContext.runAsNonRoot=false",
            tuple(fields),
        )
    if implicit:
        return Violation(
            "runAsNonRoot",
            "runAsNonRoot != true",
            f"pod or {containers_phrase([n for n, _ in implicit])} must set "
            "securityContext.runAsNonRoot=true",
            tuple(p for _, p in implicit),
        )
    return None


def _is_root(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return float(str(value).strip()) == 0
    except ValueError:
        return False


def run_as_user(pod: Pod) -> Violation | None:
    if pod.user_namespace:
        return None
    pod_bad = _is_root(pod.context.get("runAsUser"))
    bad = [c for c in pod.containers if _is_root(c.context.get("runAsUser"))]
    if not pod_bad and not bad:
        return None
    fields = ["spec.securityContext.runAsUser"] if pod_bad else []
    fields += [f"{c.path}.securityContext.runAsUser" for c in bad]
    return Violation(
        "runAsUser",
        "runAsUser=0",
        f"{setters_phrase(pod_bad, [c.name for c in bad])} must not set runAsUser=0",
        tuple(fields),
    )


def seccomp_profile_restricted(pod: Pod) -> Violation | None:
    if pod.windows:
        return None
    return seccomp(pod, "seccompProfile_restricted", required=True)


RESTRICTED: dict[str, Check] = {
    "allowPrivilegeEscalation": allow_privilege_escalation,
    "capabilities_restricted": capabilities_restricted,
    "procMount_restricted": proc_mount_restricted,
    "restrictedVolumes": restricted_volumes,
    "runAsNonRoot": run_as_non_root,
    "runAsUser": run_as_user,
    "seccompProfile_restricted": seccomp_profile_restricted,
}
OVERRIDDEN = {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline", "procMount"}


def checks(level: str) -> list[Check]:
    """The checks ``level`` runs, in the admission's order."""
    if level == "privileged":
        return []
    if level == "baseline":
        return [BASELINE[key] for key in sorted(BASELINE)]
    if level != "restricted":
        raise ValueError(f"unknown Pod Security Standards level {level!r}")
    kept = [BASELINE[key] for key in sorted(BASELINE) if key not in OVERRIDDEN]
    return kept + [RESTRICTED[key] for key in sorted(RESTRICTED)]


def evaluate(manifest: object, level: str) -> list[Violation]:
    """Every control of ``level`` that the pod ``manifest`` (a plain dict) fails."""
    pod = Pod(manifest)
    return [found for check in checks(level) if (found := check(pod)) is not None]
