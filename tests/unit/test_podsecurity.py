"""The pod-security plugin: every Pod Security Standards control at every level, the fields it
names, pod/container inheritance, properties over generated pods, the real manifests' levels,
and that config, namespace label and plugin registration agree."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import MANIFESTS
from userpods.config import ConfigError, Settings, build_settings, load_settings
from userpods.daemon.cache import ClusterCache
from userpods.daemon.pluginhost import build_plugin_manager
from userpods.hooks import Caller, Context, CreateRequest, PodRejected, hookimpl
from userpods.plugins import builtin_plugins
from userpods.plugins.podsecurity import rejection
from userpods.plugins.pss_restricted import LEVELS, evaluate

ROOT = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


def restricted_pod() -> Obj:
    """A pod that passes every level: what each case below breaks one control of."""
    return {
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "app:1",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}],
        },
    }


def spec(pod: Obj) -> Obj:
    return pod["spec"]  # type: ignore[no-any-return]


def ctx(pod: Obj, index: int = 0, key: str = "containers") -> Obj:
    return spec(pod)[key][index].setdefault("securityContext", {})  # type: ignore[no-any-return]


def hardened(name: str, **context: Any) -> Obj:
    """A container that passes restricted (given the pod-level values), with ``context``."""
    base = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {"name": name, "image": "app:1", "securityContext": {**base, **context}}


def highest(pod: Obj) -> str:
    """The most restrictive level ``pod`` passes."""
    return [level for level in LEVELS if not evaluate(pod, level)][-1]


def message(pod: Obj, level: str) -> str:
    return rejection(level, evaluate(pod, level))


DROP = object()  # as a value in Case.changes: remove the field


@dataclass(frozen=True)
class Case:
    """``changes`` (dotted path -> value) made to the restricted pod; ``level``: the most
    restrictive level the changed pod still passes; ``fields`` and ``words``: what the refusal
    at the next level up must say."""

    id: str
    changes: dict[str, Any]
    level: str
    fields: tuple[str, ...] = ()
    words: str = ""

    def apply(self, pod: Obj) -> Obj:
        for path, value in self.changes.items():
            where: Any = pod
            keys = path.replace("]", "").replace("[", ".").split(".")
            for key in keys[:-1]:
                where = where[int(key)] if key.isdigit() else where.setdefault(key, {})
            if value is DROP:
                del where[keys[-1]]
            else:
                where[keys[-1]] = value
        return pod


C0 = "spec.containers[0]"
SC0 = f"{C0}.securityContext"
PSC = "spec.securityContext"
AA = "container.apparmor.security.beta.kubernetes.io/"
PVC = {"name": "data", "persistentVolumeClaim": {"claimName": "c"}}
P, B, R = LEVELS
# fmt: off
BASELINE_CASES = [
    Case("hostProcess pod", {f"{PSC}.windowsOptions.hostProcess": True}, P,
         (f"{PSC}.windowsOptions.hostProcess",),
         "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"),
    Case("hostProcess container", {f"{SC0}.windowsOptions.hostProcess": True}, P,
         (f"{SC0}.windowsOptions.hostProcess",),
         'container "main" must not set securityContext.windowsOptions.hostProcess=true'),
    Case("hostNetwork", {"spec.hostNetwork": True}, P, ("spec.hostNetwork",),
         "host namespaces (hostNetwork=true)"),
    Case("hostPID", {"spec.hostPID": True}, P, ("spec.hostPID",), "host namespaces (hostPID=true)"),
    Case("hostIPC", {"spec.hostIPC": True}, P, ("spec.hostIPC",), "host namespaces (hostIPC=true)"),
    Case("privileged", {f"{SC0}.privileged": True}, P, (f"{SC0}.privileged",),
         'privileged (container "main" must not set securityContext.privileged=true)'),
    Case("privileged init", {"spec.initContainers": [hardened("init", privileged=True)]}, P,
         ("spec.initContainers[0].securityContext.privileged",),
         'container "init" must not set securityContext.privileged=true'),
    Case("privileged ephemeral", {"spec.ephemeralContainers": [hardened("d", privileged=True)]},
         P, ("spec.ephemeralContainers[0].securityContext.privileged",),
         'container "d" must not set securityContext.privileged=true'),
    Case("privileged as text", {f"{SC0}.privileged": "true"}, P, (f"{SC0}.privileged",)),
    Case("SYS_ADMIN", {f"{SC0}.capabilities.add": ["SYS_ADMIN", "CHOWN"]}, P,
         (f"{SC0}.capabilities.add",),
         'non-default capabilities (container "main" must not include "SYS_ADMIN" in '
         "securityContext.capabilities.add)"),
    Case("NET_ADMIN", {f"{SC0}.capabilities.add": ["NET_ADMIN"]}, P,
         (f"{SC0}.capabilities.add",), '"NET_ADMIN"'),
    Case("hostPath", {"spec.volumes": [PVC, {"name": "root", "hostPath": {"path": "/"}}]}, P,
         ("spec.volumes[1].hostPath",), 'hostPath volumes (volume "root")'),
    Case("hostPort", {f"{C0}.ports": [{"containerPort": 80, "hostPort": 8080}]}, P,
         (f"{C0}.ports[0].hostPort",), 'hostPort (container "main" uses hostPort 8080)'),
    Case("probe host", {f"{C0}.livenessProbe": {"httpGet": {"port": 80, "host": "1.2.3.4"}}}, P,
         (f"{C0}.livenessProbe.httpGet.host",),
         'probe or lifecycle host (container "main" uses probe or lifecycle host "1.2.3.4")'),
    Case("lifecycle host", {f"{C0}.lifecycle.preStop": {"tcpSocket": {"port": 1, "host": "h"}}},
         P, (f"{C0}.lifecycle.preStop.tcpSocket.host",), '"h"'),
    Case("AppArmor annotation", {"metadata.annotations": {f"{AA}main": "unconfined"}}, P,
         (f"metadata.annotations[{AA}main]",),
         "forbidden AppArmor profile (annotation must not set AppArmor profile type to "
         f'"{AA}main="unconfined"")'),
    Case("AppArmor pod", {f"{PSC}.appArmorProfile": {"type": "Unconfined"}}, P,
         (f"{PSC}.appArmorProfile.type",),
         'pod must not set AppArmor profile type to "Unconfined"'),
    Case("AppArmor container", {f"{SC0}.appArmorProfile": {"type": "Unconfined"}}, P,
         (f"{SC0}.appArmorProfile.type",), 'container "main" must not set AppArmor'),
    Case("SELinux type", {f"{SC0}.seLinuxOptions": {"type": "spc_t"}}, P,
         (f"{SC0}.seLinuxOptions.type",),
         'seLinuxOptions (container "main" set forbidden securityContext.seLinuxOptions: type '
         '"spc_t")'),
    Case("SELinux user and role", {f"{PSC}.seLinuxOptions": {"user": "u", "role": "r"}}, P,
         (f"{PSC}.seLinuxOptions.user", f"{PSC}.seLinuxOptions.role"),
         "pod set forbidden securityContext.seLinuxOptions: user may not be set; role may not "
         "be set"),
    Case("procMount", {f"{SC0}.procMount": "Unmasked"}, P, (f"{SC0}.procMount",),
         'procMount (container "main" must not set securityContext.procMount to "Unmasked")'),
    Case("seccomp pod Unconfined", {f"{PSC}.seccompProfile": {"type": "Unconfined"}}, P,
         (f"{PSC}.seccompProfile.type",),
         'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
    Case("seccomp container Unconfined", {f"{SC0}.seccompProfile": {"type": "Unconfined"}}, P,
         (f"{SC0}.seccompProfile.type",), 'container "main" must not set'),
    Case("unsafe sysctl", {f"{PSC}.sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"},
                                              {"name": "kernel.msgmax", "value": "1"}]}, P,
         (f"{PSC}.sysctls[1].name",), "forbidden sysctls (kernel.msgmax)"),
]
RESTRICTED_CASES = [
    Case("nfs volume", {"spec.volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}, B,
         ("spec.volumes[0].nfs",),
         'restricted volume types (volume "n" uses restricted volume type "nfs")'),
    Case("gitRepo volume", {"spec.volumes": [PVC, {"name": "g", "gitRepo": {"repository": "r"}}]},
         B, ("spec.volumes[1].gitRepo",), '"gitRepo"'),
    Case("escalation allowed", {f"{SC0}.allowPrivilegeEscalation": True}, B,
         (f"{SC0}.allowPrivilegeEscalation",),
         'allowPrivilegeEscalation != false (container "main" must set '
         "securityContext.allowPrivilegeEscalation=false)"),
    Case("escalation unset", {f"{SC0}.allowPrivilegeEscalation": DROP}, B,
         (f"{SC0}.allowPrivilegeEscalation",)),
    Case("runAsNonRoot false on pod", {f"{PSC}.runAsNonRoot": False}, B, (f"{PSC}.runAsNonRoot",),
         "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"),
    Case("runAsNonRoot false on container", {f"{SC0}.runAsNonRoot": False}, B,
         (f"{SC0}.runAsNonRoot",),
         'container "main" must not set securityContext.runAsNonRoot=false'),
    Case("runAsNonRoot unset", {f"{PSC}.runAsNonRoot": DROP}, B, (f"{SC0}.runAsNonRoot",),
         'pod or container "main" must set securityContext.runAsNonRoot=true'),
    Case("runAsUser 0 on pod", {f"{PSC}.runAsUser": 0}, B, (f"{PSC}.runAsUser",),
         "runAsUser=0 (pod must not set runAsUser=0)"),
    Case("runAsUser 0 on container", {f"{SC0}.runAsUser": 0}, B, (f"{SC0}.runAsUser",),
         'container "main" must not set runAsUser=0'),
    Case("seccomp unset", {f"{PSC}.seccompProfile": DROP}, B, (f"{SC0}.seccompProfile.type",),
         'pod or container "main" must set securityContext.seccompProfile.type to '
         '"RuntimeDefault" or "Localhost"'),
    Case("baseline capability", {f"{SC0}.capabilities.add": ["SYS_CHROOT"]}, B,
         (f"{SC0}.capabilities.add",),
         'unrestricted capabilities (container "main" must not include "SYS_CHROOT" in '
         "securityContext.capabilities.add)"),
    Case("no drop ALL", {f"{SC0}.capabilities.drop": ["NET_RAW"]}, B,
         (f"{SC0}.capabilities.drop",),
         'container "main" must set securityContext.capabilities.drop=["ALL"]'),
    Case("procMount in a user namespace", {"spec.hostUsers": False, f"{SC0}.procMount": "Unmasked"},
         B, (f"{SC0}.procMount",), 'must not set securityContext.procMount to "Unmasked"'),
]
ALLOWED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
                   "persistentVolumeClaim", "projected", "secret"]
ALLOWED_CASES = [
    Case("NET_BIND_SERVICE", {f"{SC0}.capabilities.add": ["NET_BIND_SERVICE"]}, R),
    Case("Localhost seccomp", {f"{SC0}.seccompProfile": {"type": "Localhost"}}, R),
    Case("AppArmor allowed", {"metadata.annotations": {f"{AA}main": "localhost/p",
                                                       f"{AA}x": "runtime/default"},
                              f"{PSC}.appArmorProfile": {"type": "RuntimeDefault"}}, R),
    Case("sysctls of 1.37", {f"{PSC}.sysctls": [{"name": "net.ipv4.tcp_notsent_lowat"},
                                                {"name": "net.ipv4.ping_group_range"}]}, R),
    Case("SELinux container type", {f"{SC0}.seLinuxOptions": {"type": "container_engine_t"}}, R),
    Case("allowed volumes", {"spec.volumes": [{"name": str(n), k: {}}
                                              for n, k in enumerate(ALLOWED_VOLUMES)]
                                             + [{"name": "defaulted"}]}, R),
    Case("user namespace", {"spec.hostUsers": False, f"{PSC}.runAsNonRoot": DROP,
                            f"{PSC}.runAsUser": 0}, R),
    Case("windows", {"spec.os": {"name": "windows"}, f"{PSC}.seccompProfile": DROP,
                     f"{C0}.securityContext": {}}, R),
    Case("procMount Default, hostPort 0", {f"{SC0}.procMount": "Default",
                                           f"{C0}.ports": [{"containerPort": 80, "hostPort": 0}]},
         R),
    Case("false flags", {"spec.hostNetwork": False, f"{SC0}.privileged": False}, R),
]
# fmt: on
CASES = BASELINE_CASES + RESTRICTED_CASES + ALLOWED_CASES


def test_the_base_pod_passes_restricted() -> None:
    assert evaluate(restricted_pod(), "restricted") == []


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_control_at_each_level(case: Case, level: str) -> None:
    pod = case.apply(restricted_pod())
    expected_pass = LEVELS.index(level) <= LEVELS.index(case.level)
    assert (evaluate(pod, level) == []) == expected_pass, message(pod, level)
    if not expected_pass:
        text = message(pod, level)
        assert text.startswith(f'the pod violates PodSecurity "{level}:latest": '), text
        for field in case.fields:
            assert field in text, (field, text)
        if LEVELS.index(level) == LEVELS.index(case.level) + 1:  # four restricted checks
            assert case.words in text, text  # replace baseline ones, with their own words


def test_wording_and_order_are_the_admissions() -> None:
    pod = restricted_pod()
    spec(pod).update(hostNetwork=True, hostPID=True)
    spec(pod)["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    spec(pod)["containers"].insert(0, {"name": "x", "image": "i"})
    ctx(pod)["privileged"] = True
    ctx(pod)["capabilities"] = {"add": ["SYS_ADMIN"]}
    assert message(pod, "baseline") == (
        'the pod violates PodSecurity "baseline:latest": '
        'non-default capabilities (container "x" must not include "SYS_ADMIN" in '
        "securityContext.capabilities.add), "
        "host namespaces (hostNetwork=true, hostPID=true), "
        'hostPath volumes (volume "root"), '
        'privileged (container "x" must not set securityContext.privileged=true) '
        "(forbidden fields: spec.containers[0].securityContext.capabilities.add, "
        "spec.hostNetwork, spec.hostPID, spec.volumes[0].hostPath, "
        "spec.containers[0].securityContext.privileged)"
    )
    checks = [v.check for v in evaluate(pod, "restricted")]
    assert checks == [
        "hostNamespaces",
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "restrictedVolumes",
    ]  # runAsNonRoot and seccomp: the pod-level values cover the new container


def test_pod_level_settings_are_inherited_unless_a_container_overrides_them() -> None:
    pod = restricted_pod()
    spec(pod)["containers"].append(hardened("second"))
    spec(pod)["initContainers"] = [hardened("init")]
    assert evaluate(pod, "restricted") == []  # pod-level runAsNonRoot and seccomp cover all
    ctx(pod, 1)["runAsNonRoot"] = False
    ctx(pod, 0, "initContainers")["seccompProfile"] = {"type": "Unconfined"}
    text = message(pod, "restricted")
    assert 'container "second" must not set securityContext.runAsNonRoot=false' in text
    assert "spec.containers[1].securityContext.runAsNonRoot" in text
    assert "spec.containers[0].securityContext.runAsNonRoot" not in text
    assert 'container "init" must not set securityContext.seccompProfile.type' in text
    assert "spec.initContainers[0].securityContext.seccompProfile.type" in text


def test_without_a_pod_level_value_each_container_must_opt_in() -> None:
    pod = restricted_pod()
    del spec(pod)["securityContext"]
    spec(pod)["containers"].append(hardened("second", runAsNonRoot=True))
    ctx(pod, 1)["seccompProfile"] = {"type": "RuntimeDefault"}
    text = message(pod, "restricted")
    assert 'pod or container "main" must set securityContext.runAsNonRoot=true' in text
    assert 'pod or container "main" must set securityContext.seccompProfile.type' in text
    assert "spec.containers[1]" not in text
    ctx(pod)["runAsNonRoot"] = True
    ctx(pod)["seccompProfile"] = {"type": "RuntimeDefault"}
    assert evaluate(pod, "restricted") == []


def test_a_refusal_names_at_most_twenty_fields() -> None:
    pod = restricted_pod()
    spec(pod)["containers"] = [hardened(f"c{n}", privileged=True) for n in range(50)]
    text = message(pod, "baseline")
    assert "spec.containers[19].securityContext.privileged and 30 more)" in text
    assert "spec.containers[20].securityContext.privileged" not in text


def test_pod_level_runAsUser_0_fails_even_when_containers_override_it() -> None:
    pod = restricted_pod()
    spec(pod)["securityContext"]["runAsUser"] = 0
    ctx(pod)["runAsUser"] = 1000
    assert [v.fields for v in evaluate(pod, "restricted")] == [(f"{PSC}.runAsUser",)]


def test_the_daemons_own_deployment_passes_restricted() -> None:
    deployment = yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text())
    assert evaluate(deployment["spec"]["template"], "restricted") == []


# ----------------------------------------------------------------------------- properties

MAYBE_BOOL = st.sampled_from([None, True, False])
CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "privileged": MAYBE_BOOL,
        "allowPrivilegeEscalation": MAYBE_BOOL,
        "runAsNonRoot": MAYBE_BOOL,
        "runAsUser": st.sampled_from([None, 0, 1000]),
        "procMount": st.sampled_from([None, "Default", "Unmasked"]),
        "seccompProfile": st.sampled_from([{"type": t} for t in ("RuntimeDefault", "Unconfined")]),
        "capabilities": st.fixed_dictionaries(
            {},
            optional={
                "add": st.lists(st.sampled_from(["NET_BIND_SERVICE", "CHOWN", "NET_ADMIN"])),
                "drop": st.sampled_from([["ALL"], ["NET_RAW"], []]),
            },
        ),
    },
)
CONTAINER = st.builds(
    lambda name, context, host_port: {
        "name": name,
        "image": "i",
        "securityContext": context,
        "ports": [{"containerPort": 80, "hostPort": host_port}],
    },
    st.sampled_from(["a", "b", "c"]),
    CONTEXT,
    st.sampled_from([0, 0, 8080]),
)
VOLUME = st.sampled_from(
    [
        {"name": "e", "emptyDir": {}},
        {"name": "c", "persistentVolumeClaim": {"claimName": "x"}},
        {"name": "n", "nfs": {"server": "s", "path": "/"}},
        {"name": "h", "hostPath": {"path": "/"}},
    ]
)
PODS = st.builds(
    lambda containers, init, volumes, pod_context, host_users, host_network: {
        "metadata": {"name": "p"},
        "spec": {
            "containers": containers,
            "initContainers": init,
            "volumes": volumes,
            "securityContext": pod_context,
            "hostUsers": host_users,
            "hostNetwork": host_network,
        },
    },
    st.lists(CONTAINER, min_size=1, max_size=3),
    st.lists(CONTAINER, max_size=1),
    st.lists(VOLUME, max_size=2),
    CONTEXT.map(lambda c: {k: v for k, v in c.items() if k in POD_CONTEXT_KEYS}),
    st.sampled_from([None, True, False]),
    st.sampled_from([None, False, False, True]),
)
POD_CONTEXT_KEYS = {"runAsNonRoot", "runAsUser", "seccompProfile"}
BREAKERS = [  # a privileged setting and the field it must be refused for, on a passing pod
    (lambda p: spec(p).update(hostNetwork=True), "spec.hostNetwork"),
    (lambda p: spec(p).update(hostPID=True), "spec.hostPID"),
    (lambda p: ctx(p).update(privileged=True), f"{SC0}.privileged"),
    (lambda p: ctx(p).update(capabilities={"add": ["SYS_ADMIN"]}), f"{SC0}.capabilities.add"),
    (lambda p: ctx(p).update(seccompProfile={"type": "Unconfined"}), f"{SC0}.seccompProfile.type"),
    (
        lambda p: (
            spec(p).setdefault("volumes", []).insert(0, {"name": "r", "hostPath": {"path": "/"}})
        ),
        "spec.volumes[0].hostPath",
    ),
    (
        lambda p: spec(p)["containers"][0].update(ports=[{"containerPort": 1, "hostPort": 1}]),
        f"{C0}.ports[0].hostPort",
    ),
]


def fields(pod: Obj, level: str) -> set[str]:
    return {field for found in evaluate(pod, level) for field in found.fields}


@settings(max_examples=300, deadline=None)
@given(PODS)
def test_levels_nest(pod: Obj) -> None:
    """Each level refuses at least what the one below refuses, field for field."""
    assert evaluate(pod, "privileged") == []
    assert fields(pod, "baseline") <= fields(pod, "restricted")
    if not evaluate(pod, "restricted"):
        assert not evaluate(pod, "baseline")
    for found in evaluate(pod, "restricted"):
        assert found.fields, found  # every violation names a field


@settings(max_examples=300, deadline=None)
@given(PODS, st.sampled_from(BREAKERS))
def test_any_privileged_setting_fails_with_its_field_named(
    pod: Obj, breaker: tuple[Callable[[Obj], None], str]
) -> None:
    """Whatever else the pod gets right or wrong, the added setting is refused by name (and
    named in the message when it is the only thing wrong at baseline)."""
    mutate, field = breaker
    broken = copy.deepcopy(pod)
    mutate(broken)
    for level in ("baseline", "restricted"):
        assert field in fields(broken, level)
    if not evaluate(pod, "baseline"):
        assert field in message(broken, "baseline")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)
# fmt: off
KEYS = st.sampled_from([  # the keys the checks read, so that garbage reaches them
    "securityContext", "containers", "initContainers", "volumes", "hostNetwork", "hostUsers",
    "os", "ports", "hostPort", "capabilities", "add", "drop", "seccompProfile", "appArmorProfile",
    "seLinuxOptions", "type", "sysctls", "name", "livenessProbe", "lifecycle", "preStop",
    "httpGet", "tcpSocket", "host", "privileged", "runAsUser",
])
# fmt: on
SHAPED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.fixed_dictionaries({"metadata": JSON, "spec": SHAPED})))
def test_no_input_makes_the_checks_raise(manifest: Any) -> None:
    for level in LEVELS:
        rejection(level, evaluate(manifest, level))


# ----------------------------------------------------------------------------- real manifests

# The most restrictive level each ScienceData manifest passes: every current-2026 one adds
# NET_ADMIN (privileged only); the 2023 ones add AUDIT_WRITE / SYS_CHROOT at most and none opts
# in to runAsNonRoot, seccomp, drop ALL or allowPrivilegeEscalation=false (baseline).
PINNED = yaml.safe_load("""
privileged:
  current-2026: [adminer, batch_cli, batch_server, batch_worker, batch_worker_cuda,
    batch_worker_cuda_whisper, batch_worker_whisper, debian_ssh_rsync, jupyter_sciencedata,
    jupyter_sciencedata_genepattern, jupyter_sciencedata_mathematica, jupyter_sciencedata_matlab,
    jupyterlab_sciencedata, jupyterlab_sciencedata_llama, jupyterlab_sciencedata_pytorch,
    jupyterlab_sciencedata_tensorflow-2.15.0, jupyterlab_sciencedata_tensorflow-2.17.0,
    jupyterlab_sciencedata_unsloth, nextcloud-30, nextcloud-30_dev, nextcloud-33, ubuntu_focal,
    ubuntu_focal_caddy, ubuntu_focal_cvmfs, ubuntu_jammy, ubuntu_jammy_caddy, ubuntu_noble,
    ubuntu_noble_caddy, ubuntu_noble_cron, ubuntu_noble_immich, ubuntu_noble_jellyfin,
    ubuntu_noble_kavita, ubuntu_noble_lyrion, ubuntu_noble_mongodb, ubuntu_noble_openbooks,
    ubuntu_noble_postgresql, ubuntu_noble_versitygw]
baseline:
  production-2023: [caddy_sciencedata, jupyter_sciencedata, jupyter_sciencedata_mathematica,
    jupyter_sciencedata_matlab, ubuntu_sciencedata]
  testing-2023: [caddy_sciencedata, http_hello_world, jupyter_sciencedata,
    jupyter_sciencedata_mathematica, jupyter_sciencedata_matlab, jupyter_sciencedata_old,
    python_worker, test_fail_start, test_finish_entrypoint, test_long_key, ubuntu_sciencedata]
restricted: {}
""")
LOWEST_LEVEL = {
    f"{era}/{name}.yaml": level
    for level, eras in PINNED.items()
    for era, names in eras.items()
    for name in names
}


def test_every_real_manifest_has_a_pinned_level() -> None:
    on_disk = {f"{p.parent.name}/{p.name}" for p in MANIFESTS.glob("*/*.yaml")}
    assert on_disk == set(LOWEST_LEVEL)


@pytest.mark.parametrize("path", sorted(LOWEST_LEVEL))
def test_real_manifest_level(path: str) -> None:
    manifest = yaml.safe_load((MANIFESTS / path).read_text())
    assert highest(manifest) == LOWEST_LEVEL[path], message(manifest, "baseline")
    if LOWEST_LEVEL[path] == "privileged":
        assert [v.check for v in evaluate(manifest, "baseline")] == ["capabilities_baseline"]
        assert '"NET_ADMIN"' in message(manifest, "baseline")


# ----------------------------------------------------------------------------- wiring


def test_config_key_default_env_and_bad_values(tmp_path: Path) -> None:
    assert Settings().pod_security == "baseline"
    shipped = load_settings(ROOT / "config.yaml", env={"BACKEND_PODCACHEDIR": str(tmp_path)})
    assert shipped.pod_security == "baseline"
    values = {"podCacheDir": str(tmp_path)}
    assert build_settings({**values, "PodSecurity": "Restricted"}, env={}).pod_security == (
        "restricted"
    )
    env = {"BACKEND_PODSECURITY": "privileged"}
    assert build_settings(values, env=env).pod_security == "privileged"
    with pytest.raises(ConfigError) as info:
        build_settings({**values, "podSecurity": "strict"}, env={})
    assert info.value.key == "podSecurity"
    assert "privileged, baseline, restricted" in str(info.value)


def test_the_namespace_enforces_the_default_level() -> None:
    kustomization = yaml.safe_load((ROOT / "manifests" / "kustomization.yaml").read_text())
    namespace = yaml.safe_load((ROOT / "manifests" / "namespace.yaml").read_text())
    assert "namespace.yaml" in kustomization["resources"]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == kustomization["namespace"]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == Settings().pod_security
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"


REQUEST = CreateRequest("ann@uni.dk", "https://x/p.yaml", {}, Caller("10.0.0.20", "10.2.0.20", ""))


def prepare(pod: Obj, pm_settings: Settings, extra: list[tuple[str, Any]] | None = None) -> None:
    pm = build_plugin_manager(pm_settings, extra=extra or [], entry_points=False)
    cache = ClusterCache(None)  # type: ignore[arg-type]  # read only, and empty
    ctx = Context(pm_settings, None, cache, Path("."), logging.getLogger())  # type: ignore[arg-type]
    pm.hook.userpods_prepare_pod(pod=pod, request=REQUEST, settings=pm_settings, ctx=ctx)


def test_registered_last_and_can_be_disabled() -> None:
    assert "pod-security" in builtin_plugins()
    pm = build_plugin_manager(Settings(), entry_points=False)
    called = [i.plugin_name for i in reversed(pm.hook.userpods_prepare_pod.get_hookimpls())]
    assert called[-2:] == ["mandatory-env", "pod-security"], called
    off = build_plugin_manager(Settings(disabled_plugins=("pod-security",)), entry_points=False)
    assert off.get_plugin("pod-security") is None


def test_the_hook_judges_the_pod_as_the_other_steps_left_it() -> None:
    class AddsHostNetwork:
        @hookimpl
        def userpods_prepare_pod(
            self, pod: Obj, request: CreateRequest, settings: Settings
        ) -> None:
            pod["spec"]["hostNetwork"] = True

    pod = restricted_pod()
    spec(pod)["containers"][0]["volumeMounts"] = [{"name": "sciencedata", "mountPath": "/mnt"}]
    prepare(copy.deepcopy(pod), Settings(pod_security="restricted"))  # the added claim is fine
    with pytest.raises(PodRejected, match=r"host namespaces \(hostNetwork=true\)"):
        prepare(copy.deepcopy(pod), Settings(), extra=[("adds", AddsHostNetwork())])
    prepare(pod, Settings(pod_security="privileged"), extra=[("adds", AddsHostNetwork())])
