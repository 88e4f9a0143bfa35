"""The rules a create_pod request follows, and bad input, over real HTTP.

Rules kept from the original: the user id regex, settings env, the mandatory env from the
caller's address, the manifest whitelist, defaultRestartPolicy, LOCALREGISTRY, pod names and
labels. Bad input: every malformed request or unusable manifest gets a JSON ``{"error": ...}``
with a 4xx and leaves nothing behind.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote

import httpx2
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, Pod

from tests.e2e.conftest import SILO, Stack
from tests.e2e.helpers import (
    SLOW_START,
    assert_error,
    assert_json,
    assert_nothing_made,
    base_name,
    container,
    create,
    delete,
    delete_all,
    env_of,
    get_pods,
    manifest_url,
    names_of,
    pod_manifest,
    post_create,
    serve,
    watch_create,
    watch_delete,
)
from userpods import naming

USER = "fror@dtu.dk"
POST_ENDPOINTS = (
    "/get_pods",
    "/create_pod",
    "/watch_create_pod",
    "/delete_pod",
    "/watch_delete_pod",
    "/delete_all_user",
    "/clean_all_unused",
)
MANDATORY = ("HOME_SERVER_IP", "HOME_SERVER_HOSTNAME", "SD_UID")


# ---------------------------------------------------------------------- rules


async def test_bad_user_ids_are_rejected(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    bad = [
        "",
        "x",  # the regex needs two characters
        "Fror@dtu.dk",
        "-fror@dtu.dk",
        "fror@dtu.dk-",
        "fror@dtu.dk.",
        "@dtu.dk",
        "fror@",
        "fror@@dtu.dk",
        "a@b@c.dk",
        "fror dtu",
        "fror/../x",
        "frør@dtu.dk",
        "fror@dtu.dk\n",
    ]
    for user in bad:
        for path, body in (
            ("/get_pods", {}),
            ("/create_pod", {"yaml_url": url, "settings": {}}),
            ("/watch_create_pod", {"pod_name": "ubuntu-x"}),
            ("/delete_pod", {"pod_name": "ubuntu-x"}),
            ("/watch_delete_pod", {"pod_name": "ubuntu-x"}),
            ("/delete_all_user", {}),
        ):
            message = assert_error(await api(path, {**body, "user_id": user}), 400)
            assert "user_id" in message, (path, user, message)
    assert stack.manifests.requests == 0  # rejected before anything was fetched
    await assert_nothing_made(stack, kube)


async def test_settings_overwrite_only_declared_env(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    url = stack.manifests.put(
        "two.yaml",
        pod_manifest(
            "two",
            container("first", FOO="manifest", KEEP="kept"),
            container("second", BAR="manifest"),
            container("third"),
        ),
    )
    settings = {
        "first": {"FOO": "set", "BAR": "not declared here", "NEW": "not declared"},
        "second": {"BAR": "set", "FOO": "not declared here"},
        "third": {"ANYTHING": "not declared"},
    }
    name = await create(api, url, USER, settings)
    env = env_of(await kube.get(Pod, name))
    mandatory = {
        "HOME_SERVER_IP": "10.2.0.20",
        "HOME_SERVER_HOSTNAME": "silo7.sciencedata.dk",
        "SD_UID": USER,
    }
    assert env == {
        "first": {"FOO": "set", "KEEP": "kept", **mandatory},
        "second": {"BAR": "set", **mandatory},
        "third": mandatory,
    }
    assert await watch_create(api, USER, name)


async def test_settings_replace_a_value_from(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """A declared variable taken from a missing ConfigMap is replaced by the setting (else the
    pod could not start)."""
    main = container("main", TOKEN={"configMapKeyRef": {"name": "absent", "key": "k"}})
    url = stack.manifests.put("valuefrom.yaml", pod_manifest("valuefrom", main))
    name = await create(api, url, USER, {"main": {"TOKEN": "from-settings"}})
    pod = await kube.get(Pod, name)
    assert pod.spec is not None and pod.spec.containers[0].env is not None
    [token] = [e for e in pod.spec.containers[0].env if e.name == "TOKEN"]
    assert token.value == "from-settings" and token.valueFrom is None
    assert await watch_create(api, USER, name)


async def test_real_manifest_settings_and_mandatory_env(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    url = manifest_url(stack, "python_worker.yaml")
    settings = {
        "worker": {
            "PYTHON_SCRIPT": "print('hi')",
            "SSH_PUBLIC_KEY": "ssh-ed25519 AAAA test",
            "SD_UID": "someone-else",  # mandatory: overwritten
            "HOME_SERVER_IP": "1.2.3.4",  # not declared, and mandatory anyway
            "UNDECLARED": "x",
        }
    }
    name = await create(api, url, USER, settings)
    env = env_of(await kube.get(Pod, name))["worker"]
    assert env == {
        "HOME_SERVER": "10.2.0.20",  # the first backend's name for HOME_SERVER_IP
        "SD_UID": USER,
        "ENVIRONMENT_FILE": "",
        "SSH_PUBLIC_KEY": "ssh-ed25519 AAAA test",
        "STAY_ALIVE_AFTER": "",
        "PYTHON_SCRIPT": "print('hi')",
        "HOME_SERVER_IP": "10.2.0.20",
        "HOME_SERVER_HOSTNAME": "silo7.sciencedata.dk",
    }


async def test_mandatory_env_follows_the_caller(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = stack.manifests.put(
        "callers.yaml",
        pod_manifest(
            "callers", container("main", HOME_SERVER_IP="preset", HOME_SERVER_HOSTNAME="preset")
        ),
    )
    silos = [*stack.settings.hostname_list]
    listed_by_data_address = {"hostname": "silo9.sciencedata.dk", "address": "10.2.0.99"}
    await stack.restart(hostnameList=[*(s.__dict__ for s in silos), listed_by_data_address])
    cases = [
        ({}, "10.2.0.20", "silo7.sciencedata.dk"),  # loopback: testingHost
        ({"X-Forwarded-For": "10.0.0.14"}, "10.2.0.14", "silo1.sciencedata.dk"),
        ({"X-Forwarded-For": "10.0.0.14, 127.0.0.1"}, "10.2.0.14", "silo1.sciencedata.dk"),
        # hostnameList by the silo's address, then by its data-network address (the original)
        ({"X-Forwarded-For": "10.0.0.99"}, "10.2.0.99", "silo9.sciencedata.dk"),
        # an unknown silo: HOME_SERVER_HOSTNAME is not set (the manifest's own value stays)
        ({"X-Forwarded-For": "10.0.3.99"}, "10.2.3.99", "preset"),
    ]
    for i, (headers, ip, hostname) in enumerate(cases):
        user = f"caller{i}@dtu.dk"
        name = await create(api, url, user, headers=headers)
        env = env_of(await kube.get(Pod, name))["main"]
        assert env == {"HOME_SERVER_IP": ip, "HOME_SERVER_HOSTNAME": hostname, "SD_UID": user}, (
            headers
        )
    plain = serve(stack, pod_manifest("undeclared", container("main")))
    name = await create(api, plain, "caller9@dtu.dk", headers={"X-Forwarded-For": "10.0.3.99"})
    env = env_of(await kube.get(Pod, name))["main"]
    assert env == {"HOME_SERVER_IP": "10.2.3.99", "SD_UID": "caller9@dtu.dk"}


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """X-Forwarded-For names the caller only when the peer is a trusted proxy: from anyone
    else, a forged ``8.8.8.8`` cannot point the user's storage at another NFS server."""
    url = manifest_url(stack, "caddy_sciencedata.yaml")  # mounts the user's storage
    await stack.restart(trustedProxies=["192.0.2.0/24"])  # loopback (the tests) is not trusted
    name = await create(api, url, "forged@dtu.dk", headers={"X-Forwarded-For": "8.8.8.8"})
    pod = await kube.get(Pod, name)
    assert env_of(pod)["ubuntu-caddy"]["HOME_SERVER_IP"] == "10.2.0.20"  # loopback: testingHost
    with trio.fail_after(10):
        assert await watch_create(api, "forged@dtu.dk", name) is True
    volumes = [v async for v in kube.list(PersistentVolume)]
    assert [v.spec.nfs.server for v in volumes] == [SILO]

    await stack.restart(trustedProxies=None)  # the default trusts loopback (the tests)
    name = await create(api, url, "ported@dtu.dk", headers={"X-Forwarded-For": "10.0.0.14:41234"})
    pod = await kube.get(Pod, name)
    assert env_of(pod)["ubuntu-caddy"]["HOME_SERVER_IP"] == "10.2.0.14"


async def test_an_unknown_caller_cannot_have_storage(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """A forwarded value that is not an address leaves the silo unknown: a pod that mounts the
    user's storage (served by the silo) is refused before anything is made."""
    url = manifest_url(stack, "caddy_sciencedata.yaml")
    reply = await post_create(api, url, USER, headers={"X-Forwarded-For": "garbage"})
    assert "which silo" in assert_error(reply, 400)
    assert await names_of(kube, Pod) == []
    assert await names_of(kube, PersistentVolume) == []


async def test_yaml_url_must_be_whitelisted_before_fetching(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    good = manifest_url(stack, "ubuntu_sciencedata.yaml")
    host_as_name = good.replace("127.0.0.1", "localhost")  # the same server, not whitelisted
    for url in (
        "https://raw.githubusercontent.com/deic-dk/pod_manifests/testing/ubuntu_sciencedata.yaml",
        host_as_name,
        f"{host_as_name}?{good}",
        f"http://evil.example/{good}",
        " " + good,
        "file:///etc/passwd",
    ):
        message = assert_error(await post_create(api, url, USER), 400)
        assert "whitelist" in message, message
    for url in (None, 42, "", ["x"]):
        body = {"yaml_url": url, "user_id": USER}
        assert "yaml_url" in assert_error(await api("/create_pod", body), 400)
    assert_error(await api("/create_pod", {"user_id": USER}), 400)
    assert stack.manifests.requests == 0
    await assert_nothing_made(stack, kube)


async def test_default_restart_policy_fills_a_missing_one_only(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    missing = stack.manifests.put("missing.yaml", pod_manifest("missing"))
    never = stack.manifests.put("never.yaml", pod_manifest("never", restart="Never"))
    name = await create(api, missing, USER)
    assert (await kube.get(Pod, name)).spec.restartPolicy == "Never"  # type: ignore[union-attr]
    await stack.restart(defaultRestartPolicy="OnFailure")
    name = await create(api, missing, "kaja@ku.dk")
    assert (await kube.get(Pod, name)).spec.restartPolicy == "OnFailure"  # type: ignore[union-attr]
    name = await create(api, never, "kaja@ku.dk")
    assert (await kube.get(Pod, name)).spec.restartPolicy == "Never"  # type: ignore[union-attr]


async def test_local_registry_rewrite_and_pull_secret(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    name = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    pod = await kube.get(Pod, name)
    assert pod.spec is not None
    assert pod.spec.containers[0].image == (
        "registry.sciencedata.test:5000/ubuntu_jammy_sciencedata_testing"
    )
    assert [s.name for s in pod.spec.imagePullSecrets or []] == ["docker-registry-auth"]
    mixed = pod_manifest(
        "mixed",
        container("local", "LOCALREGISTRY/plain"),
        container("public", "docker.io/library/plain"),
        initContainers=[{"name": "init", "image": "LOCALREGISTRY/init:1", "command": ["true"]}],
    )
    name = await create(api, stack.manifests.put("mixed.yaml", mixed), USER)
    pod = await kube.get(Pod, name)
    assert pod.spec is not None
    assert [c.image for c in pod.spec.containers] == [
        "registry.sciencedata.test:5000/plain",
        "docker.io/library/plain",
    ]
    assert [c.image for c in pod.spec.initContainers or []] == [
        "registry.sciencedata.test:5000/init:1"
    ]
    assert [s.name for s in pod.spec.imagePullSecrets or []] == ["docker-registry-auth"]
    name = await create(api, stack.manifests.put("public.yaml", pod_manifest("public")), USER)
    pod = await kube.get(Pod, name)
    assert pod.spec is not None and not pod.spec.imagePullSecrets


async def test_pod_names_take_suffixes_while_taken(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    base = base_name("ubuntu", USER)
    names = [await create(api, url, USER) for _ in range(3)]
    assert names == [base, f"{base}-1", f"{base}-2"]
    for name in names:
        assert await watch_create(api, USER, name)
    # a freed name is taken again
    assert_json(await delete(api, USER, base))
    assert await watch_delete(api, USER, base)
    assert await create(api, url, USER) == base
    # the same manifest for another user starts from the base name again
    assert await create(api, url, "registeredtest7") == "ubuntu-registeredtest7"


async def test_concurrent_creations_get_distinct_names(stack: Stack, api: Any) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    base = base_name("ubuntu", USER)
    names: list[str] = []

    async def make() -> None:
        names.append(await create(api, url, USER))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(make)
    assert sorted(names) == sorted([base] + [f"{base}-{i}" for i in range(1, 6)])
    for name in names:
        assert await watch_create(api, USER, name)


async def test_no_free_pod_name_is_a_409(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = stack.manifests.put("slow.yaml", pod_manifest("slow", container("c", SLOW_START)))
    base = base_name("slow", USER)
    names = [await create(api, url, USER) for _ in range(10)]
    assert names == [base] + [f"{base}-{i}" for i in range(1, 10)]
    assert "no free pod name" in assert_error(await post_create(api, url, USER), 409)
    assert len(await names_of(kube, Pod)) == 10
    with trio.fail_after(10):
        assert await delete_all(api, USER)


async def test_labels_and_owner_annotation(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    for user, labels in (
        (USER, {"user": "fror", "domain": "dtu.dk"}),
        ("registeredtest7", {"user": "registeredtest7", "domain": ""}),
        ("a_b.c@sub.uni.dk", {"user": "a_b.c", "domain": "sub.uni.dk"}),
    ):
        name = await create(api, url, user)
        pod = await kube.get(Pod, name)
        assert pod.metadata is not None and pod.metadata.labels is not None
        assert pod.metadata.labels == {"app": "ubuntu", **labels, "podName": name}
        assert pod.metadata.annotations is not None
        assert pod.metadata.annotations[naming.ANNOTATION_OWNER] == user
        # the manifest's own annotations are kept
        assert "sciencedata.dk/copy-token" in pod.metadata.annotations
        # and other tools can select the user's pods by the original's labels
        selected = [
            p.metadata.name
            async for p in kube.list(Pod, labels=labels)
            if p.metadata and p.metadata.name
        ]
        assert selected == [name]


async def test_two_pods_per_manifest_listed_as_creating(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    first = stack.manifests.put("first.yaml", pod_manifest("first", container("c", SLOW_START)))
    second = stack.manifests.put("second.yaml", pod_manifest("second", container("c", SLOW_START)))
    names = [await create(api, url, USER) for url in (first, first, second, second)]
    assert names == [
        base_name("first", USER),
        base_name("first", USER) + "-1",
        base_name("second", USER),
        base_name("second", USER) + "-1",
    ]
    infos = await get_pods(api, USER)
    assert sorted(i["pod_name"] for i in infos) == sorted(names)
    assert {i["status"] for i in infos} == {"Creating"}
    assert {i["owner"] for i in infos} == {USER}
    with trio.fail_after(10):
        assert await delete_all(api, USER)
    await assert_nothing_made(stack, kube)


# ---------------------------------------------------------------------- bad input


async def test_malformed_bodies(stack: Stack, api: Any, kube: AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    for path in POST_ENDPOINTS:
        for raw in (b"{not json", b'{"user_id": "fror@dtu.dk"', b"\xff\xfe", b"nul"):
            message = assert_error(await api(path, content=raw, headers=headers), 400)
            assert "JSON" in message, (path, raw, message)
        for body in ([], [{"user_id": USER}], "fror@dtu.dk", 42, True):
            message = assert_error(await api(path, body), 400)
            assert "JSON object" in message, (path, body, message)
        message = assert_error(await api(path, content=b"[" * 100_000, headers=headers), 400)
        assert "nested too deeply" in message, (path, message)
    assert stack.manifests.requests == 0
    await assert_nothing_made(stack, kube)


async def test_wrong_field_types(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    for path in POST_ENDPOINTS[:-1]:
        for user in (42, None, ["fror@dtu.dk"], {"id": "fror@dtu.dk"}, True):
            body = {"user_id": user, "yaml_url": url, "pod_name": "ubuntu-x"}
            assert "user_id" in assert_error(await api(path, body), 400), (path, user)
        body = {"yaml_url": url, "pod_name": "ubuntu-x"}
        assert "user_id" in assert_error(await api(path, body), 400), path
    for settings in (
        [],
        ["ubuntu-jammy"],
        "SSH_PUBLIC_KEY=x",
        42,
        {"ubuntu-jammy": "SSH_PUBLIC_KEY=x"},
        {"ubuntu-jammy": ["SSH_PUBLIC_KEY"]},
        {"ubuntu-jammy": {"SSH_PUBLIC_KEY": 42}},
        {"ubuntu-jammy": {"SSH_PUBLIC_KEY": None}},
        {"ubuntu-jammy": {"SSH_PUBLIC_KEY": True}},
        {"ubuntu-jammy": {"SSH_PUBLIC_KEY": {"value": "x"}}},
        {"ubuntu-jammy": {"SSH_PUBLIC_KEY": ["x"]}},
    ):
        body = {"yaml_url": url, "user_id": USER, "settings": settings}
        assert "settings" in assert_error(await api("/create_pod", body), 400), settings
    for path in ("/watch_create_pod", "/delete_pod", "/watch_delete_pod"):
        for name in (42, None, "", ["ubuntu-x"], {"name": "x"}):
            body = {"user_id": USER, "pod_name": name}
            assert "pod_name" in assert_error(await api(path, body), 400), (path, name)
        assert "pod_name" in assert_error(await api(path, {"user_id": USER}), 400), path
    # delete_pod keeps the original's reply field next to the error
    assert (await api("/delete_pod", {"user_id": USER, "pod_name": "x"})).json() == {
        "error": "pod x not found",
        "requested": False,
    }
    await assert_nothing_made(stack, kube)


async def test_unknown_containers_in_settings(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = manifest_url(stack, "ubuntu_sciencedata.yaml")
    settings = {"ubuntu-jammy": {"SSH_PUBLIC_KEY": "k"}, "jupyter": {"X": "y"}}
    message = assert_error(await post_create(api, url, USER, settings), 400)
    assert "jupyter" in message and "ubuntu-jammy" in message, message
    await assert_nothing_made(stack, kube)


POD_HEAD = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
ONE_CONTAINER = "spec: {containers: [{name: c, image: i}]}\n"


def with_container(**fields: str) -> str:
    extra = "".join(f", {key}: {value}" for key, value in fields.items())
    return f"{POD_HEAD}spec: {{containers: [{{name: c, image: i{extra}}}]}}\n"


# name -> (manifest text, what the error says)
NOT_PODS: dict[str, tuple[str, str]] = {
    "service": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n",
        "must be a v1 Pod, not v1/Service",
    ),
    "two-pods": (POD_HEAD + ONE_CONTAINER + "---\n" + POD_HEAD + ONE_CONTAINER, "exactly one"),
    "invalid-yaml": (POD_HEAD + "spec: {containers: [unclosed\n", "not valid YAML"),
    "tabs": ("apiVersion: v1\nkind:\tPod\n\tmetadata: x\n", "not valid YAML"),
    "binary": ("\x00\x01\x02", "not valid YAML"),
    "no-spec": (POD_HEAD, "spec.containers"),
    "no-containers": (POD_HEAD + "spec: {}\n", "spec.containers"),
    "empty-containers": (POD_HEAD + "spec: {containers: []}\n", "spec.containers"),
    "unnamed-container": (POD_HEAD + "spec: {containers: [{image: i}]}\n", "spec.containers"),
    "v2": ("apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n" + ONE_CONTAINER, "v2/Pod"),
    "deployment": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {}\n",
        "apps/v1/Deployment",
    ),
    "no-name": ("apiVersion: v1\nkind: Pod\nmetadata: {}\n" + ONE_CONTAINER, "metadata.name"),
    "list": ("- apiVersion: v1\n  kind: Pod\n", "must be a mapping"),
    "scalar": ("just some text\n", "must be a mapping"),
    "empty": ("", "exactly one object, not 0"),
    "labels-not-a-map": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: [x]}\n" + ONE_CONTAINER,
        "metadata.labels must be a mapping",
    ),
    "nested-too-deeply": (POD_HEAD + ONE_CONTAINER + "x: " + "[" * 2000 + "]" * 2000, "deeply"),
    # wrongly typed fields: named by their path, not a crash in a prepare step
    "env-not-a-list": (with_container(env="x"), "$.spec.containers[0].env"),
    "env-item-not-a-map": (with_container(env="[42]"), "$.spec.containers[0].env[0]"),
    "env-value-not-a-string": (
        with_container(env="[{name: A, value: [1]}]"),
        "$.spec.containers[0].env[0].value",
    ),
    "image-not-a-string": (
        POD_HEAD + "spec: {containers: [{name: c, image: 42}]}\n",
        "$.spec.containers[0].image",
    ),
    "mounts-not-a-list": (with_container(volumeMounts="x"), "$.spec.containers[0].volumeMounts"),
    "init-not-a-list": (
        POD_HEAD + "spec: {initContainers: x, containers: [{name: c, image: i}]}\n",
        "$.spec.initContainers",
    ),
    "volumes-not-a-list": (
        POD_HEAD + "spec: {volumes: x, containers: [{name: c, image: i}]}\n",
        "$.spec.volumes",
    ),
}


async def test_manifests_that_are_not_one_v1_pod(stack: Stack, api: Any, kube: AsyncClient) -> None:
    for name, (text, expected) in NOT_PODS.items():
        url = stack.manifests.put(name, text)
        message = assert_error(await post_create(api, url, USER), 400)
        assert expected in message, (name, message)
    await assert_nothing_made(stack, kube)


async def test_empty_fields_in_a_manifest_are_fine(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """``env:``, ``initContainers:`` or ``imagePullSecrets:`` with nothing under them (null)."""
    text = (
        POD_HEAD + "spec:\n  initContainers:\n  imagePullSecrets:\n  containers:\n"
        "  - name: c\n    image: LOCALREGISTRY/plain\n    env:\n"
    )
    name = await create(api, stack.manifests.put("nulls.yaml", text), USER)
    assert await watch_create(api, USER, name)
    pod = await kube.get(Pod, name)
    assert pod.spec is not None
    assert [s.name for s in pod.spec.imagePullSecrets or []] == ["docker-registry-auth"]
    assert set(env_of(pod)["c"]) == set(MANDATORY)


async def test_manifest_server_failures(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """Each failure of the manifest server is a 400 saying why; run at once so that the slow
    one's 2 s (manifestTimeout) is the test's whole wait."""
    base = stack.manifests.url
    good = stack.manifests.put("good.yaml", pod_manifest("good"))
    big = stack.manifests.put("big.yaml", "# padding\n" * 7000 + "apiVersion: v1\n")
    loop = good
    for _ in range(7):
        loop = f"{base}redirect?to={quote(loop, safe='')}"
    cases = {
        f"{base}status/404": "404",
        f"{base}status/500": "500",
        f"{base}status/204": "204",
        f"{base}nothing-here.yaml": "404",
        f"{base}slow": "longer than 2s",
        f"{base}big": "larger than 65536 bytes",
        big: "larger than 65536 bytes",
        f"{base}redirect?to={quote('https://evil.example/pod.yaml', safe='')}": "not whitelisted",
        f"{base}redirect?to={quote(good.replace('127.0.0.1', 'localhost'), safe='')}": (
            "not whitelisted"
        ),
        loop: "too many redirects",
    }
    messages: dict[str, str] = {}
    elapsed: dict[str, float] = {}

    async def attempt(url: str) -> None:
        started = trio.current_time()
        messages[url] = assert_error(await post_create(api, url, USER), 400)
        elapsed[url] = trio.current_time() - started

    with trio.fail_after(6):
        async with trio.open_nursery() as nursery:
            for url in cases:
                nursery.start_soon(attempt, url)
    for url, expected in cases.items():
        assert expected in messages[url], (url, messages[url])
    assert 1.9 < elapsed[f"{base}slow"] < 4
    await assert_nothing_made(stack, kube)
    # a redirect to a whitelisted URL is followed
    name = await create(api, f"{base}redirect?to={quote(good, safe='')}", USER)
    assert name == base_name("good", USER)
    assert await watch_create(api, USER, name)


async def test_unreachable_manifest_server(stack: Stack, api: Any, kube: AsyncClient) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await stack.restart(whitelistManifestRegex=r"http://127\.0\.0\.1:\d+/")
    with trio.fail_after(5):
        reply = await post_create(api, f"http://127.0.0.1:{port}/pod.yaml", USER)
        message = assert_error(reply, 400)
    assert "could not fetch the manifest" in message, message
    await assert_nothing_made(stack, kube)


async def test_manifest_kubernetes_rejects(stack: Stack, api: Any, kube: AsyncClient) -> None:
    url = stack.manifests.put("badname.yaml", pod_manifest("badname", container("Bad_Name")))
    message = assert_error(await post_create(api, url, USER), 400)
    assert message.startswith("Kubernetes rejected the pod:"), message
    assert "spec.containers[0].name" in message and "Bad_Name" in message, message
    await assert_nothing_made(stack, kube)


async def test_methods_paths_and_sizes(stack: Stack, api: Any, kube: AsyncClient) -> None:
    for path in POST_ENDPOINTS:
        if path != "/clean_all_unused":
            assert_error(await api(path), 400)  # a GET with no body: served, as the original
    async with httpx2.AsyncClient() as client:
        for path in ("/healthz", "/readyz"):
            assert_error(await client.post(stack.url + path, json={}), 405)
        assert_error(await client.put(stack.url + "/create_pod", json={}), 400)
        assert_error(await client.delete(stack.url + "/delete_pod"), 400)
        assert_error(await client.post(stack.url + "/no_such_endpoint", json={}), 404)
        assert_error(await client.get(stack.url + "/"), 404)
        assert_error(await client.get(stack.url + "/get_pods/extra"), 404)
        huge = {"user_id": USER, "padding": "x" * (2 * 1024 * 1024)}
        assert_error(await client.post(stack.url + "/get_pods", json=huge), 413)
    await assert_nothing_made(stack, kube)
    assert await get_pods(api, USER) == []


# ---------------------------------------------------------------------- the HTTP edge
# Regression tests for what the fuzz suite (tests/e2e/test_fuzz.py) found.


async def test_lone_surrogates_are_refused_at_parse_time(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """A lone surrogate (``"\\ud800"`` in JSON) is text nothing can encode: in a declared env
    value it crashed the creation (500 UnicodeEncodeError when the pod was sent). Any string
    of any body holding one is a 400 before any field is looked at."""
    url = stack.manifests.put("env.yaml", pod_manifest("env", container("main", FOO="x")))
    headers = {"Content-Type": "application/json"}
    cases = [
        {"yaml_url": url, "user_id": USER, "settings": {"main": {"FOO": "\ud800"}}},
        {"yaml_url": url, "user_id": USER, "settings": {"main": {"FOO": "ok \udfff ok"}}},
        {"yaml_url": url, "user_id": USER, "settings": {"main": {"\udc00": "x"}}},
        {"yaml_url": url, "user_id": USER, "extra": [[{"deep": "\ud83d"}]]},
        {"yaml_url": url + "\ud800", "user_id": USER},
        {"user_id": USER, "pod_name": "env-\ud800"},
    ]
    for path in POST_ENDPOINTS:
        for body in cases:
            raw = json.dumps(body).encode()  # \uXXXX escapes: valid JSON, not valid text
            message = assert_error(await api(path, content=raw, headers=headers), 400)
            assert "lone surrogate" in message, (path, body, message)
    # written as raw bytes (not UTF-8): json.loads decodes bytes with surrogatepass
    raw = json.dumps(cases[0], ensure_ascii=False).encode("utf-8", "surrogatepass")
    message = assert_error(await api("/create_pod", content=raw, headers=headers), 400)
    assert "lone surrogate" in message, message
    assert stack.manifests.requests == 0
    await assert_nothing_made(stack, kube)
    # a surrogate pair is a real character, and reaches the pod
    name = await create(api, url, USER, {"main": {"FOO": "\U0001f600"}})
    assert env_of(await kube.get(Pod, name))["main"]["FOO"] == "\U0001f600"


async def raw_exchange(stack: Stack, request: bytes) -> bytes:
    """Send ``request`` as is (httpx refuses URLs over 64 KiB) on a connection of its own;
    everything the server sent until it closed the connection."""
    host, port = stack.url.removeprefix("http://").rsplit(":", 1)
    received = b""
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        await stream.send_all(request)
        with trio.fail_after(10):
            while chunk := await stream.receive_some():
                received += chunk
    return received


async def test_oversized_heads_get_a_json_431(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """hypercorn answered a head over ~64 KB with a bare 431 (no body, not JSON); now the
    daemon refuses every head over 64 KiB with a JSON 431, and takes one just under it."""
    async with httpx2.AsyncClient() as client:
        for headers in (
            {"X-Padding": "a" * 70_000},
            {f"X-H{i}": "v" * 40 for i in range(2_000)},
            {"X-Padding": "a" * 900_000},
        ):
            reply = await client.post(
                stack.url + "/get_pods", json={"user_id": USER}, headers=headers
            )
            message = assert_error(reply, 431)
            assert "request head" in message, message
        reply = await client.post(
            stack.url + "/get_pods", json={"user_id": USER}, headers={"X-Padding": "a" * 60_000}
        )
        assert assert_json(reply) == []
    for target in (b"/get_pods?x=" + b"a" * 70_000, b"/" + b"a" * 70_000):
        request = b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target
        reply = await raw_exchange(stack, request)
        assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
        assert b"content-type: application/json" in reply, reply[:200]
        assert reply.endswith(b'more than the 65536 allowed"}'), reply[-200:]
    await assert_nothing_made(stack, kube)


async def test_every_route_takes_any_method_as_the_original(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """The original served each path for any method: GET /clean_all_unused (a plain curl)
    works, a JSON body sent form-encoded (curl -d) is read as JSON, and a GET with a JSON body
    is served; the service's own /healthz, /readyz, /metrics take GET only (a JSON 405)."""
    async with httpx2.AsyncClient() as client:
        assert assert_json(await client.get(stack.url + "/clean_all_unused")) == {"removed": []}
        form = {"content-type": "application/x-www-form-urlencoded"}
        body = json.dumps({"user_id": USER})
        for method in ("POST", "GET", "PUT", "OPTIONS", "DELETE", "PATCH"):
            reply = await client.request(
                method, stack.url + "/get_pods", content=body, headers=form
            )
            assert assert_json(reply) == [], method
        for path in POST_ENDPOINTS:  # no body: the same JSON 400 for any method
            for method in ("OPTIONS", "GET", "PUT"):
                reply = await client.request(method, stack.url + path)
                if path == "/clean_all_unused":
                    assert_json(reply)
                else:
                    assert_error(reply, 400)
        nobody = stack.settings.pod_subnet_cidr[-2]  # in the pod network, no pod's
        reply = await client.post(stack.url + f"/get_podip_owner?ip={nobody}")
        assert reply.status_code == 200 and reply.text == ""
        for path in ("/healthz", "/readyz", "/metrics"):
            for method in ("OPTIONS", "POST", "DELETE"):
                reply = await client.request(method, stack.url + path)
                assert_error(reply, 405)
                assert set(reply.headers["allow"].split(", ")) == {"GET", "HEAD"}, reply.headers
        assert_error(await client.options(stack.url + "/no_such_endpoint"), 404)


async def test_connections_asked_to_close_are_closed(stack: Stack) -> None:
    """quart-trio cancelled hypercorn's close of a connection inside the reply's last send, so
    a client that asked for ``Connection: close`` (or spoke HTTP/1.0) waited for the end of a
    reply that had come. The server closes such connections once it has answered."""
    for request in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        b"POST /get_pods HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    ):
        reply = await raw_exchange(stack, request)  # returns once the server has closed
        assert reply.startswith((b"HTTP/1.1 200", b"HTTP/1.1 400")), reply
        assert reply.endswith(b"}"), reply  # all of the JSON body came before the close
