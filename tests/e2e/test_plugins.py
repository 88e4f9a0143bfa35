"""Issue 4: the original's scenarios, failing steps, leftovers, clean-up, the token store
across restarts, and an operator's own plugin installed through the entry-point group."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod, Service
from lightkube.resources.networking_v1 import Ingress

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_error,
    assert_json,
    base_name,
    container,
    create,
    delete,
    delete_all,
    get_pods,
    hold,
    listed,
    manifest_url,
    names_of,
    pod_manifest,
    post_create,
    release,
    serve,
    vanishes,
    wait_terminating,
    watch_create,
    watch_delete,
)
from tests.e2e.resources import make_operator_claims
from userpods.hooks import Context, hookimpl
from userpods.naming import user_string

USER = "fror@dtu.dk"
OTHER = "registeredtest7"
STANDARD = [
    "ubuntu_sciencedata.yaml",
    "jupyter_sciencedata.yaml",
    "python_worker.yaml",
    "test_long_key.yaml",
    "http_hello_world.yaml",
    "caddy_sciencedata.yaml",
]


async def test_the_original_scenarios(stack: Stack, api: Any, kube: AsyncClient) -> None:
    await make_operator_claims(kube, {"jupyter-sciencedata-v1.0.0"})
    names_by_file: dict[str, list[str]] = {}
    statuses: list[str] = []
    for file in STANDARD:  # two pods per standard manifest for one user
        for _ in range(2):
            name = await create(api, manifest_url(stack, file), USER)
            names_by_file.setdefault(file, []).append(name)
            statuses += [p["status"] for p in await get_pods(api, USER) if p["pod_name"] == name]
    assert statuses == ["Creating"] * len(statuses) and len(statuses) == 12
    for file, pods in names_by_file.items():
        assert pods[1] == pods[0] + "-1", file
    with trio.fail_after(20):
        for pods in names_by_file.values():
            for name in pods:
                assert await watch_create(api, USER, name)
    infos = await listed(api, USER)
    assert sorted(infos) == sorted(n for pods in names_by_file.values() for n in pods)
    for name in names_by_file["ubuntu_sciencedata.yaml"]:
        assert set(infos[name]["tokens"]) == {"ed25519HostKeyHash", "rsaHostKeyHash"}
        assert infos[name]["ssh_url"].startswith("ssh://root@")
        assert infos[name]["k8s_pod_info"]["sshPort"].isdigit()
    for name in names_by_file["jupyter_sciencedata.yaml"]:
        assert infos[name]["tokens"]["appendURL"].startswith("?token=")
        assert infos[name]["url"] == f"https://{name}.{stack.settings.ingress_domain}"
    # Deleting a pod of another user fails, and the pod stays.
    victim = names_by_file["ubuntu_sciencedata.yaml"][0]
    reply = await delete(api, OTHER, victim)
    assert reply.status_code == 404 and reply.json()["requested"] is False
    assert await kube.get(Pod, victim)
    # delete_all_user leaves no pods, PV, PVC or cache file of that user.
    with trio.fail_after(30):
        assert await delete_all(api, USER) is True
    assert await get_pods(api, USER) == []
    storage = f"user-storage-{user_string(USER)}"
    assert storage not in await names_of(kube, PersistentVolumeClaim)
    assert storage not in await names_of(kube, PersistentVolume)
    assert await names_of(kube, Pod) == []
    assert list(stack.settings.pod_cache_dir.iterdir()) == []


async def test_a_failing_step_is_named_and_cleaned_up(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    quiet = pod_manifest(
        "quiet", {**container("main", "example/quiet"), "ports": [{"containerPort": 22}]}
    )
    # A key that is no file name in /tmp fails its step (a token file that is merely never
    # written does not: see test_tokens.py).
    quiet["metadata"]["annotations"] = {"sciencedata.dk/copy-token": "../etc/shadow"}
    name = await create(api, stack.manifests.put("bad-token-key.yaml", quiet), USER)
    # Hold the pod back from removal (as a slow node would) to see what get_pods shows.
    await hold(kube, name)
    with trio.fail_after(10):
        assert await watch_create(api, USER, name) is False
        await wait_terminating(kube, name)
    [info] = await get_pods(api, USER)
    assert info["status"] == "Deleting"
    assert info["failure"].startswith("step copy-tokens: sciencedata.dk/copy-token names an")
    await release(kube, name)
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    assert await names_of(kube, Service) == []  # the SSH service made before the failure is gone


async def test_leftovers_of_an_earlier_pod_are_replaced(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    name = base_name("ubuntu", USER)
    leftover = await kube.create(
        Service(
            metadata=ObjectMeta(name=f"{name}-ssh", labels={"createdForPod": name}),
            spec=ServiceSpec(
                type="NodePort",
                selector={"podName": name},
                ports=[ServicePort(port=22, targetPort=22)],
            ),
        )
    )
    assert await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER) == name
    with trio.fail_after(10):
        assert await watch_create(api, USER, name)
    service = await kube.get(Service, f"{name}-ssh")
    pod = await kube.get(Pod, name)
    assert service.metadata.uid != leftover.metadata.uid
    assert [r.uid for r in service.metadata.ownerReferences] == [pod.metadata.uid]


async def test_clean_all_unused_removes_orphans_only(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await make_operator_claims(kube, {"jupyter-sciencedata-v1.0.0"})
    keep = await create(
        api, manifest_url(stack, "jupyter_sciencedata.yaml", "production-2023"), USER
    )
    with trio.fail_after(10):
        assert await watch_create(api, USER, keep)
    # Orphans, as a crashed daemon or the original backend could leave them:
    ghost = "ubuntu-ghost"
    await kube.create(
        Service(
            metadata=ObjectMeta(name=f"{ghost}-ssh", labels={"createdForPod": ghost}),
            spec=ServiceSpec(
                type="NodePort", selector={"podName": ghost}, ports=[ServicePort(port=22)]
            ),
        )
    )
    await kube.create(
        Service(
            metadata=ObjectMeta(name="unrelated"), spec=ServiceSpec(ports=[ServicePort(port=80)])
        )
    )
    (stack.settings.pod_cache_dir / ghost).write_text(json.dumps({"uid": "x", "tokens": {}}))
    gone_user = "gone@sciencedata.dk"
    gone = await create(
        api, manifest_url(stack, "jupyter_sciencedata.yaml", "production-2023"), gone_user
    )
    with trio.fail_after(10):
        assert await watch_create(api, gone_user, gone)
    # The pod vanishes behind the daemon's back (deleted by someone else, daemon down...).
    stack.crash()
    await kube.delete(Pod, gone, grace_period=0)  # a forced delete: gone at once
    assert gone not in await names_of(kube, Pod)
    await stack.start()  # start-up runs a clean-up too: wait for it through the request
    with trio.fail_after(20):
        assert (await api("/clean_all_unused", {})).status_code == 200
    storage = f"user-storage-{user_string(gone_user)}"
    # Deleted: gone once Kubernetes' pvc-protection sees no pod using it (a moment on a real
    # control plane, whose controller learns of the forced pod deletion from its informer).
    assert await vanishes(kube, PersistentVolumeClaim, storage)
    assert await vanishes(kube, PersistentVolume, storage)
    assert f"{ghost}-ssh" not in await names_of(kube, Service)
    assert "unrelated" in await names_of(kube, Service)
    assert not (stack.settings.pod_cache_dir / ghost).exists()
    # What is in use stays.
    mine = f"user-storage-{user_string(USER)}"
    assert mine in await names_of(kube, PersistentVolumeClaim)
    assert f"{keep}-ingress" in await names_of(kube, Ingress)
    assert (stack.settings.pod_cache_dir / keep).exists()
    [info] = await get_pods(api, USER)
    assert info["tokens"] and info["url"]
    # The reply lists what it removed.
    await kube.create(
        Service(
            metadata=ObjectMeta(name="late-ghost-ssh", labels={"createdForPod": "late-ghost"}),
            spec=ServiceSpec(type="ClusterIP", ports=[ServicePort(port=22)]),
        )
    )
    with trio.fail_after(20):
        await stack.daemon.settled.wait()
        await stack.daemon.cache.services.wait_for("late-ghost-ssh", lambda s: s is not None)
        reply = assert_json(await api("/clean_all_unused", {}))
    assert reply == {"removed": ["Service/late-ghost-ssh"]}


async def test_tokens_survive_a_restart_without_exec(stack: Stack, api: Any) -> None:
    first = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    second = await create(api, manifest_url(stack, "python_worker.yaml"), USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, first) and await watch_create(api, USER, second)
    before = {p["pod_name"]: p["tokens"] for p in await get_pods(api, USER)}
    stack.crash()
    (stack.settings.pod_cache_dir / second).unlink()  # this pod's copy is lost
    stack.sim.api.counters.reset()
    await stack.start()
    with trio.fail_after(10):
        await stack.daemon.settled.wait()  # the start-up copy runs in the background
    after = {p["pod_name"]: p["tokens"] for p in await get_pods(api, USER)}
    assert after == before
    requests = stack.sim.api.counters.snapshot()["requests"]  # by verb: a websocket exec is a get
    execs = sum(by_resource.get("pods/exec", 0) for by_resource in requests.values())
    assert execs == 1  # only the pod without a stored copy, one exec for its two keys


async def test_an_operators_plugin_is_loaded_and_can_be_disabled(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(disabledPlugins=[])
    on = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, on)
    pod = await kube.get(Pod, on)
    assert pod.metadata.labels["example.sciencedata.dk/team"] == "science"
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["EXAMPLE_PLUGIN"] == "enabled"
    [info] = await get_pods(api, USER)
    assert info["greeting"] == f"hello {USER}"

    await stack.restart(disabledPlugins=["example"])
    off = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), OTHER)
    with trio.fail_after(10):
        assert await watch_create(api, OTHER, off)
    pod = await kube.get(Pod, off)
    assert "example.sciencedata.dk/team" not in (pod.metadata.labels or {})
    assert "EXAMPLE_PLUGIN" not in {e.name for e in pod.spec.containers[0].env}
    [info] = await get_pods(api, OTHER)
    assert "greeting" not in info


async def test_an_undeclared_mount_other_than_the_provided_ones_is_refused(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    mounting = {**container("main"), "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}
    url = serve(stack, pod_manifest("mystery", mounting))
    reply = await post_create(api, url, USER)
    message = assert_error(reply, 400)
    assert "mounts volume scratch" in message and "does not declare" in message
    assert await names_of(kube, Pod) == []


async def test_storage_left_released_by_an_earlier_claim_is_used_again(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    first = await create(api, manifest_url(stack, "caddy_sciencedata.yaml"), USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, first)
    storage = f"user-storage-{user_string(USER)}"
    volume = await kube.get(PersistentVolume, storage)
    # The pod and the claim go behind the daemon's back (an operator's clean-up, say) while
    # the volume stays (Retain): it is Released, still naming the old claim.
    await kube.delete(Pod, first, grace_period=0)
    await kube.delete(PersistentVolumeClaim, storage)
    await wait_volume_phase(kube, storage, "Released")
    second = await create(api, manifest_url(stack, "caddy_sciencedata.yaml"), USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, second)
    again = await kube.get(PersistentVolume, storage)
    claim = await kube.get(PersistentVolumeClaim, storage)
    assert again.metadata.uid == volume.metadata.uid  # the same volume, not a new one
    assert again.status.phase == "Bound" and again.spec.claimRef.uid == claim.metadata.uid


async def wait_volume_phase(kube: AsyncClient, name: str, phase: str) -> None:
    with trio.fail_after(10):
        async with contextlib.aclosing(
            kube.watch(PersistentVolume, fields={"metadata.name": name})
        ) as events:
            async for _, volume in events:
                if volume.status and volume.status.phase == phase:
                    return


async def test_ssh_url_names_the_node_without_an_ingress_domain(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    await stack.restart(ingressDomain="")
    name = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, name)
    [info] = await get_pods(api, USER)
    pod = await kube.get(Pod, name)
    port = info["k8s_pod_info"]["sshPort"]
    assert info["ssh_url"] == f"ssh://root@{pod.status.hostIP}:{port}"
    assert info["url"] == ""


class _StuckCleaner:
    """An operator's clean-up step that never ends (a finalizer nobody removes, say)."""

    @hookimpl
    async def userpods_clean_unused(self, ctx: Context, removed: list[str]) -> None:
        removed.append("Thing/first")
        await trio.sleep_forever()


async def test_clean_all_unused_is_bounded(stack: Stack, api: Any) -> None:
    """A clean-up that does not end answers within timeoutDelete: a JSON 503 that says why
    and lists what was removed so far."""
    stack.extra_plugins.append(("stuck-cleaner", _StuckCleaner()))
    await stack.restart(timeoutDelete="1s")
    with trio.fail_after(5):
        reply = await api("/clean_all_unused", {})
    message = assert_error(reply, 503)
    assert "did not finish within 1s" in message
    assert reply.json()["removed"] == ["Thing/first"]
