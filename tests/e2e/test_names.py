"""Readable names, collision-free: users see the pod name in their URL, so pods and storage
take the original's names (``<manifest>-<user id with @ and . as ->``) whenever those are
valid and nobody else holds them; a digest only for ids whose readable form is not a name, or
is taken by another user. Ownership is decided on the full user id, never on the name."""

from __future__ import annotations

from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod

from tests.conftest import MANIFESTS
from tests.e2e.conftest import Stack
from tests.e2e.helpers import create, delete_all, listed, manifest_url, names_of, watch_create
from tests.e2e.resources import expected
from userpods import naming

CADDY = "caddy_sciencedata.yaml"  # "ubuntu-caddy": the user's storage, SSH, an ingress


def _claim_of(pod: Pod) -> str:
    assert pod.spec is not None
    claims = [
        v.persistentVolumeClaim.claimName for v in pod.spec.volumes or [] if v.persistentVolumeClaim
    ]
    [claim] = [c for c in claims if c.startswith("user-storage-")]
    return claim


async def _volume_of(kube: AsyncClient, claim: str) -> str:
    found = await kube.get(PersistentVolumeClaim, claim)
    assert found.spec is not None and found.spec.volumeName
    return found.spec.volumeName


async def test_dotted_ids_get_the_originals_readable_names(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    assert expected(MANIFESTS / "testing-2023" / CADDY).storage
    url = manifest_url(stack, CADDY)
    with trio.fail_after(20):
        first = await create(api, url, "fror@dtu.dk")
        second = await create(api, url, "fror@dtu.dk")
        assert await watch_create(api, "fror@dtu.dk", first)
        assert await watch_create(api, "fror@dtu.dk", second)
    assert (first, second) == ("ubuntu-caddy-fror-dtu-dk", "ubuntu-caddy-fror-dtu-dk-1")
    claim = _claim_of(await kube.get(Pod, first))
    assert claim == "user-storage-fror-dtu-dk"  # the original's name, for PVC and PV
    assert await _volume_of(kube, claim) == claim
    plain = await create(api, url, "registeredtest7")
    assert plain == "ubuntu-caddy-registeredtest7"


async def test_ids_that_read_alike_never_share_a_pod_or_a_volume(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """a.b@c.dk and a@b.c.dk read alike (the original gave both a-b-c-dk): the first to come
    gets the readable names, the second the digest ones, and each sees only its own."""
    url = manifest_url(stack, CADDY)
    first, second = "a.b@c.dk", "a@b.c.dk"
    with trio.fail_after(20):
        mine = await create(api, url, first)
        theirs = await create(api, url, second)
        assert await watch_create(api, first, mine)
        assert await watch_create(api, second, theirs)
    assert mine == "ubuntu-caddy-a-b-c-dk"
    assert theirs == naming.pod_name_families("ubuntu-caddy", second)[-1][0]
    assert "--" in theirs
    claims = [_claim_of(await kube.get(Pod, name)) for name in (mine, theirs)]
    assert claims[0] == "user-storage-a-b-c-dk" and claims[1] != claims[0]
    volumes = [await _volume_of(kube, claim) for claim in claims]
    assert volumes[0] != volumes[1]
    for volume, user in zip(volumes, (first, second), strict=True):
        found = await kube.get(PersistentVolume, volume)
        assert found.metadata is not None and found.spec is not None and found.spec.nfs
        assert found.metadata.annotations[naming.ANNOTATION_OWNER] == user
        assert found.spec.nfs.path.endswith(f"/{user}")
    # Their next pods stay in their own families.
    again = await create(api, url, second)
    assert again == naming.pod_name_families("ubuntu-caddy", second)[-1][1]
    assert set(await listed(api, first)) == {mine}
    assert set(await listed(api, second)) == {theirs, again}
    with trio.fail_after(30):
        assert await delete_all(api, first) is True
        assert await delete_all(api, second) is True
    assert await names_of(kube, PersistentVolume) == []


async def test_a_long_id_gets_a_digest(stack: Stack, api: Any) -> None:
    user = "a-very-long-user-name-indeed@some.faculty.university.dk"
    name = await create(api, manifest_url(stack, CADDY), user)
    assert "--" in name and len(name) <= naming.POD_NAME_MAX
    assert name == naming.pod_name_families("ubuntu-caddy", user)[0][0]
