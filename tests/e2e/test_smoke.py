"""The daemon's happy path, end to end: create, watch, list, find by IP, delete."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Stack

USER = "fror@dtu.dk"


async def test_create_watch_list_delete(stack: Stack, api: Any) -> None:
    url = stack.manifests.manifest("testing-2023", "ubuntu_sciencedata.yaml")
    reply = await api("/create_pod", {"yaml_url": url, "user_id": USER, "settings": {}})
    assert reply.status_code == 200, reply.text
    name = reply.json()["pod_name"]
    assert (await api("/watch_create_pod", {"user_id": USER, "pod_name": name})).json() == {
        "ready": True
    }
    pods = (await api("/get_pods", {"user_id": USER})).json()
    assert [p["pod_name"] for p in pods] == [name]
    assert pods[0]["status"].startswith("Running:")
    owner = await api("/get_podip_owner", params={"ip": pods[0]["pod_ip"]})
    assert owner.text == USER
    assert (await api("/delete_pod", {"user_id": USER, "pod_name": name})).json() == {
        "requested": True
    }
    assert (await api("/watch_delete_pod", {"user_id": USER, "pod_name": name})).json() == {
        "deleted": True
    }
    assert (await api("/get_pods", {"user_id": USER})).json() == []
