"""The daemon's happy path, end to end: create, watch, list, find by IP, delete."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_json,
    create,
    delete,
    get_pods,
    manifest_url,
    watch_create,
    watch_delete,
)

USER = "fror@dtu.dk"


async def test_create_watch_list_delete(stack: Stack, api: Any) -> None:
    name = await create(api, manifest_url(stack, "ubuntu_sciencedata.yaml"), USER)
    assert await watch_create(api, USER, name) is True
    pods = await get_pods(api, USER)
    assert [p["pod_name"] for p in pods] == [name]
    assert pods[0]["status"].startswith("Running:")
    owner = await api("/get_podip_owner", params={"ip": pods[0]["pod_ip"]})
    assert owner.text == USER
    assert assert_json(await delete(api, USER, name)) == {"requested": True}
    assert await watch_delete(api, USER, name) is True
    assert await get_pods(api, USER) == []
