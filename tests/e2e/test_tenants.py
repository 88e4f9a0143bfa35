"""Two deployments in one cluster: production in one namespace, testing in another, as the
original is deployed. PersistentVolumes are cluster-wide, so each daemon sees the other's; it
must touch only its own (decided on the namespace and full user id recorded on the volume),
and both must be able to serve the same user at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import trio
from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, PersistentVolume, PersistentVolumeClaim

from tests.e2e.conftest import Stack, daemon_settings, grant_daemon_rbac
from tests.e2e.helpers import (
    assert_json,
    create,
    delete_all,
    listed,
    manifest_url,
    watch_create,
)
from userpods import naming
from userpods.daemon.pluginhost import build_plugin_manager
from userpods.daemon.service import DaemonHandle, serve_daemon

OTHER_NAMESPACE = "pods-testing"
ANN = "ann@uni.dk"  # served by both deployments
BOB = "bob@uni.dk"  # only by the second


@asynccontextmanager
async def second_deployment(
    stack: Stack, tmp_path: Path
) -> AsyncIterator[tuple[DaemonHandle, Callable[..., Any]]]:
    """A second daemon, in its own namespace with its own service account and RBAC, on the
    stack's simulated cluster; yields it and an ``api`` for it."""
    sim = stack.sim
    admin = AsyncClient(stack.admin_kube_config())
    await admin.create(Namespace(metadata=ObjectMeta(name=OTHER_NAMESPACE)))
    await admin.close()
    token = grant_daemon_rbac(sim, OTHER_NAMESPACE, suffix=f"-{OTHER_NAMESPACE}")
    config = sim.kubeconfig(namespace=OTHER_NAMESPACE)
    config["users"][0]["user"] = {"token": token}
    state = tmp_path / "second"
    state.mkdir()
    settings = daemon_settings(state, stack.manifests, namespace=OTHER_NAMESPACE)
    pm = build_plugin_manager(settings)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: serve_daemon(
                settings,
                KubeConfig.from_dict(config),
                listen="127.0.0.1:0",
                pm=pm,
                stale_after=1.0,
                task_status=task_status,
            )
        )
        async with httpx2.AsyncClient(timeout=60) as client:

            async def call(path: str, json: Any = None) -> httpx2.Response:
                if json is None:
                    return await client.get(handle.url + path)
                return await client.post(handle.url + path, json=json)

            yield handle, call
        nursery.cancel_scope.cancel()


async def _volumes(kube: AsyncClient) -> dict[str, PersistentVolume]:
    return {v.metadata.name: v async for v in kube.list(PersistentVolume) if v.metadata}


def _of(volumes: dict[str, PersistentVolume], user: str, namespace: str) -> list[str]:
    found = []
    for name, volume in volumes.items():
        notes = volume.metadata.annotations or {} if volume.metadata else {}
        if notes.get(naming.ANNOTATION_OWNER) == user and (
            notes.get(naming.ANNOTATION_NAMESPACE) == namespace
        ):
            found.append(name)
    return found


async def test_two_deployments_share_a_cluster_and_a_user(
    stack: Stack, api: Any, kube: AsyncClient, tmp_path: Path
) -> None:
    first_ns = stack.settings.namespace
    url = manifest_url(stack, "caddy_sciencedata.yaml")  # storage, an ingress
    with trio.fail_after(20):
        ann_first = await create(api, url, ANN)
        assert await watch_create(api, ANN, ann_first) is True
    [first_volume] = _of(await _volumes(kube), ANN, first_ns)
    before = (await _volumes(kube))[first_volume]

    async with second_deployment(stack, tmp_path) as (second, other):
        with trio.fail_after(20):
            await second.daemon.settled.wait()  # its start-up clean-up has run
            # Its clean-up sees the first deployment's volume of a user it has no pods for,
            # and leaves it alone; the request answers at once, saying so.
            assert assert_json(await other("/clean_all_unused", {})) == {"removed": []}
        after = (await _volumes(kube))[first_volume]
        assert after.metadata.uid == before.metadata.uid
        assert after.metadata.deletionTimestamp is None
        assert after.status.phase == "Bound"

        # Both deployments serve ann at once, each with a volume of its own.
        with trio.fail_after(20):
            ann_second = await create(other, url, ANN)
            assert await watch_create(other, ANN, ann_second) is True
            bob = await create(other, url, BOB)
            assert await watch_create(other, BOB, bob) is True
        volumes = await _volumes(kube)
        [second_volume] = _of(volumes, ANN, OTHER_NAMESPACE)
        assert second_volume != first_volume
        assert volumes[second_volume].spec.claimRef.namespace == OTHER_NAMESPACE
        claim = naming.storage_claim_candidates(ANN)[0]
        [mine] = [c async for c in kube.list(PersistentVolumeClaim, namespace=first_ns)]
        [theirs] = [
            c
            async for c in kube.list(PersistentVolumeClaim, namespace=OTHER_NAMESPACE)
            if c.metadata.name == claim
        ]
        assert mine.spec.volumeName == first_volume
        assert theirs.spec.volumeName == second_volume
        assert set(await listed(api, ANN)) == {ann_first}
        assert set(await listed(other, ANN)) == {ann_second}

        # Each one's clean-up and deletions leave the other's things alone.
        assert assert_json(await api("/clean_all_unused", {})) == {"removed": []}
        with trio.fail_after(30):
            assert await delete_all(other, ANN) is True
            assert await delete_all(other, BOB) is True
        volumes = await _volumes(kube)
        assert _of(volumes, ANN, OTHER_NAMESPACE) == []
        assert _of(volumes, BOB, OTHER_NAMESPACE) == []
        assert volumes[first_volume].metadata.uid == before.metadata.uid
        assert volumes[first_volume].metadata.deletionTimestamp is None
        assert set(await listed(api, ANN)) == {ann_first}

    with trio.fail_after(30):
        assert await delete_all(api, ANN) is True
    assert _of(await _volumes(kube), ANN, first_ns) == []
