"""The baseline level of the Pod Security Standards, on a pod manifest as a plain dict.

The same controls, values and wording as the PodSecurity admission of Kubernetes 1.37 at
version "latest" (``k8s.io/pod-security-admission/policy``), so a refusal here reads like the
refusal the cluster would give, and a pod these checks let through is one a namespace labelled
``pod-security.kubernetes.io/enforce: baseline`` admits. Each violation also names the fields
that cause it (``spec.containers[1].securityContext.privileged``), which the admission does not.
"""

from __future__ import annotations

from typing import Any

from .pss_pod import (
    PROFILE_TYPES,
    Check,
    Pod,
    Violation,
    as_dict,
    as_list,
    containers_phrase,
    plural,
    quote,
    set_true,
    setters_phrase,
    text_of,
)

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_notsent_lowat",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_wmem",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


# ----------------------------------------------------------------------------- baseline


def app_armor_profile(pod: Pod) -> Violation | None:
    values: set[str] = set()
    fields: list[str] = []
    pod_bad = False
    profile = pod.context.get("appArmorProfile")
    if profile is not None and as_dict(profile).get("type") not in PROFILE_TYPES:
        pod_bad = True
        values.add(text_of(as_dict(profile).get("type")))
        fields.append("spec.securityContext.appArmorProfile.type")
    names = []
    for c in pod.containers:
        profile = c.context.get("appArmorProfile")
        if profile is not None and as_dict(profile).get("type") not in PROFILE_TYPES:
            names.append(c.name)
            values.add(text_of(as_dict(profile).get("type")))
            fields.append(f"{c.path}.securityContext.appArmorProfile.type")
    annotations = []
    notes = {
        str(key): text_of(value) for key, value in as_dict(pod.meta.get("annotations")).items()
    }
    for key, text in sorted(notes.items()):
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not (
            text in ("", "runtime/default") or text.startswith("localhost/")
        ):
            annotations.append(f'{key}="{text}"')
            fields.append(f"metadata.annotations[{key}]")
    if not fields:
        return None
    setters = setters_phrase(pod_bad, names)
    if annotations:
        words = plural("annotation", "annotations", len(annotations))
        setters = f"{setters} and {words}" if setters else words
    shown = sorted(values) + annotations
    return Violation(
        "appArmorProfile",
        plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(shown)),
        f"{setters} must not set AppArmor profile type to {quote(shown)}",
        tuple(fields),
    )


def capabilities_baseline(pod: Pod) -> Violation | None:
    names, added, fields = [], set(), []
    for c in pod.containers:
        bad = [
            str(cap)
            for cap in as_list(as_dict(c.context.get("capabilities")).get("add"))
            if str(cap) not in BASELINE_CAPABILITIES
        ]
        if bad:
            names.append(c.name)
            added.update(bad)
            fields.append(f"{c.path}.securityContext.capabilities.add")
    if not names:
        return None
    return Violation(
        "capabilities_baseline",
        "non-default capabilities",
        f"{containers_phrase(names)} must not include {quote(sorted(added))} in "
        "securityContext.capabilities.add",
        tuple(fields),
    )


def host_namespaces(pod: Pod) -> Violation | None:
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if set_true(pod.spec.get(key))]
    if not shared:
        return None
    return Violation(
        "hostNamespaces",
        "host namespaces",
        ", ".join(f"{key}=true" for key in shared),
        tuple(f"spec.{key}" for key in shared),
    )


def host_path_volumes(pod: Pod) -> Violation | None:
    names, fields = [], []
    for index, volume in enumerate(as_list(pod.spec.get("volumes"))):
        if as_dict(volume).get("hostPath") is not None:
            names.append(text_of(as_dict(volume).get("name")))
            fields.append(f"spec.volumes[{index}].hostPath")
    if not names:
        return None
    return Violation(
        "hostPathVolumes",
        "hostPath volumes",
        f"{plural('volume', 'volumes', len(names))} {quote(names)}",
        tuple(fields),
    )


def host_ports(pod: Pod) -> Violation | None:
    names, ports, fields = [], set(), []
    for c in pod.containers:
        bad = False
        for index, port in enumerate(as_list(c.body.get("ports"))):
            value = as_dict(port).get("hostPort")
            if value not in (None, 0):
                bad = True
                ports.add(text_of(value))
                fields.append(f"{c.path}.ports[{index}].hostPort")
        if bad:
            names.append(c.name)
    if not names:
        return None
    return Violation(
        "hostPorts",
        "hostPort",
        f"{containers_phrase(names)} {plural('uses', 'use', len(names))} "
        f"{plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
        tuple(fields),
    )


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HANDLERS = ("postStart", "preStop")


def host_probes_and_host_lifecycle(pod: Pod) -> Violation | None:
    names, hosts, fields = [], set(), []
    for c in pod.containers:
        handlers = [(probe, as_dict(c.body.get(probe))) for probe in PROBES]
        lifecycle = as_dict(c.body.get("lifecycle"))
        handlers += [(f"lifecycle.{h}", as_dict(lifecycle.get(h))) for h in HANDLERS]
        bad = False
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = text_of(as_dict(handler.get(action)).get("host"))
                if host:
                    bad = True
                    hosts.add(host)
                    fields.append(f"{c.path}.{where}.{action}.host")
        if bad:
            names.append(c.name)
    if not names:
        return None
    return Violation(
        "hostProbesAndHostLifecycle",
        "probe or lifecycle host",
        f"{containers_phrase(names)} {plural('uses', 'use', len(names))} "
        f"{plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{quote(sorted(hosts))}",
        tuple(fields),
    )


def privileged(pod: Pod) -> Violation | None:
    bad = [c for c in pod.containers if set_true(c.context.get("privileged"))]
    if not bad:
        return None
    return Violation(
        "privileged",
        "privileged",
        f"{containers_phrase([c.name for c in bad])} must not set securityContext.privileged=true",
        tuple(f"{c.path}.securityContext.privileged" for c in bad),
    )


def proc_mount(pod: Pod, check: str) -> Violation | None:
    names, values, fields = [], set(), []
    for c in pod.containers:
        value = c.context.get("procMount")
        if value is not None and value != "Default":
            names.append(c.name)
            values.add(text_of(value))
            fields.append(f"{c.path}.securityContext.procMount")
    if not names:
        return None
    return Violation(
        check,
        "procMount",
        f"{containers_phrase(names)} must not set securityContext.procMount to "
        + quote(sorted(values)),
        tuple(fields),
    )


def proc_mount_baseline(pod: Pod) -> Violation | None:
    return None if pod.user_namespace else proc_mount(pod, "procMount")


def se_linux_options(pod: Pod) -> Violation | None:
    types: set[str] = set()
    user = role = False
    fields: list[str] = []

    def bad(options: dict[str, Any], path: str) -> bool:
        nonlocal user, role
        found = False
        kind = text_of(options.get("type"))
        if kind not in SELINUX_TYPES:
            types.add(kind)
            fields.append(f"{path}.seLinuxOptions.type")
            found = True
        for key in ("user", "role"):
            if text_of(options.get(key)):
                user, role = user or key == "user", role or key == "role"
                fields.append(f"{path}.seLinuxOptions.{key}")
                found = True
        return found

    pod_bad = pod.context.get("seLinuxOptions") is not None and bad(
        as_dict(pod.context["seLinuxOptions"]), "spec.securityContext"
    )
    names = [
        c.name
        for c in pod.containers
        if c.context.get("seLinuxOptions") is not None
        and bad(as_dict(c.context["seLinuxOptions"]), f"{c.path}.securityContext")
    ]
    if not fields:
        return None
    data = [f"{plural('type', 'types', len(types))} {quote(sorted(types))}"] if types else []
    data += ["user may not be set"] if user else []
    data += ["role may not be set"] if role else []
    return Violation(
        "seLinuxOptions",
        "seLinuxOptions",
        f"{setters_phrase(pod_bad, names)} set forbidden securityContext.seLinuxOptions: "
        + "; ".join(data),
        tuple(fields),
    )


def seccomp(pod: Pod, check: str, *, required: bool) -> Violation | None:
    values: set[str] = set()
    fields: list[str] = []
    pod_bad = pod_set = False
    profile = pod.context.get("seccompProfile")
    if profile is not None:
        kind = as_dict(profile).get("type")
        if kind in PROFILE_TYPES:
            pod_set = True
        else:
            pod_bad = True
            values.add(text_of(kind))
            fields.append("spec.securityContext.seccompProfile.type")
    explicit, implicit = [], []
    for c in pod.containers:
        profile = c.context.get("seccompProfile")
        path = f"{c.path}.securityContext.seccompProfile.type"
        if profile is not None:
            kind = as_dict(profile).get("type")
            if kind not in PROFILE_TYPES:
                explicit.append(c.name)
                values.add(text_of(kind))
                fields.append(path)
        elif required and not pod_set:
            implicit.append((c.name, path))
    if pod_bad or explicit:
        return Violation(
            check,
            "seccompProfile",
            f"{setters_phrase(pod_bad, explicit)} must not set securityContext.seccompProfile.type "
            f"to {quote(sorted(values))}",
            tuple(fields),
        )
    if implicit:
        return Violation(
            check,
            "seccompProfile",
            f"pod or {containers_phrase([n for n, _ in implicit])} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
            tuple(p for _, p in implicit),
        )
    return None


def seccomp_profile_baseline(pod: Pod) -> Violation | None:
    return seccomp(pod, "seccompProfile_baseline", required=False)


def sysctls(pod: Pod) -> Violation | None:
    names, fields = [], []
    for index, sysctl in enumerate(as_list(pod.context.get("sysctls"))):
        name = text_of(as_dict(sysctl).get("name"))
        if name not in SAFE_SYSCTLS:
            names.append(name)
            fields.append(f"spec.securityContext.sysctls[{index}].name")
    if not names:
        return None
    return Violation("sysctls", "forbidden sysctls", ", ".join(names), tuple(fields))


def windows_host_process(pod: Pod) -> Violation | None:
    def host_process(context: dict[str, Any]) -> bool:
        return set_true(as_dict(context.get("windowsOptions")).get("hostProcess"))

    pod_bad = host_process(pod.context)
    bad = [c for c in pod.containers if host_process(c.context)]
    if not pod_bad and not bad:
        return None
    fields = ["spec.securityContext.windowsOptions.hostProcess"] if pod_bad else []
    fields += [f"{c.path}.securityContext.windowsOptions.hostProcess" for c in bad]
    return Violation(
        "windowsHostProcess",
        "hostProcess",
        f"{setters_phrase(pod_bad, [c.name for c in bad])} must not set "
        "securityContext.windowsOptions.hostProcess=true",
        tuple(fields),
    )


BASELINE: dict[str, Check] = {
    "appArmorProfile": app_armor_profile,
    "capabilities_baseline": capabilities_baseline,
    "hostNamespaces": host_namespaces,
    "hostPathVolumes": host_path_volumes,
    "hostPorts": host_ports,
    "hostProbesAndHostLifecycle": host_probes_and_host_lifecycle,
    "privileged": privileged,
    "procMount": proc_mount_baseline,
    "seLinuxOptions": se_linux_options,
    "seccompProfile_baseline": seccomp_profile_baseline,
    "sysctls": sysctls,
    "windowsHostProcess": windows_host_process,
}
