"""Strategic merge patch as measured on a real apiserver (tests/differential): each list's own
merge key, the apiserver's element order, and every directive; plus a Service patched over
HTTP, the case kubectl's ``apply`` of a changed Service sends."""

from __future__ import annotations

from typing import Any

import pytest

from userpods.sim import SimCluster
from userpods.sim.smp import strategic_merge_patch
from userpods.sim.status import ApiError

from .helpers import raw_client

SMP = {"Content-Type": "application/strategic-merge-patch+json"}


def deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "d", "finalizers": ["example.org/a", "example.org/b"]},
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "args": ["serve", "--port=1"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 8888}, {"containerPort": 22}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        },
                        {"name": "side"},
                    ],
                    "volumes": [{"name": "data"}, {"name": "home"}],
                    "tolerations": [{"key": "a"}],
                }
            },
        },
    }


def template(patch: dict[str, Any]) -> dict[str, Any]:
    result = strategic_merge_patch(
        deployment(), {"spec": {"template": {"spec": patch}}}, "Deployment"
    )
    spec: dict[str, Any] = result["spec"]["template"]["spec"]
    return spec


def test_merged_lists_put_the_patchs_items_first() -> None:
    main = template(
        {"containers": [{"name": "main", "env": [{"name": "C"}, {"name": "A", "value": "x"}]}]}
    )
    assert main["containers"][0]["env"] == [
        {"name": "C"},
        {"name": "A", "value": "x"},
        {"name": "B", "value": "2"},
    ]
    ports = template(
        {"containers": [{"name": "main", "ports": [{"containerPort": 22, "name": "s"}]}]}
    )
    assert ports["containers"][0]["ports"] == [
        {"containerPort": 8888},
        {"containerPort": 22, "name": "s"},
    ]
    mounts = template(
        {
            "containers": [
                {"name": "main", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}
            ]
        }
    )
    assert mounts["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/data", "readOnly": True}
    ]


def test_lists_without_a_strategy_are_replaced() -> None:
    assert template({"tolerations": [{"key": "b"}]})["tolerations"] == [{"key": "b"}]
    args = template({"containers": [{"name": "main", "args": ["x"]}]})
    assert args["containers"][0]["args"] == ["x"]


def test_directives() -> None:
    gone = template({"containers": [{"name": "side", "$patch": "delete"}]})
    assert [c["name"] for c in gone["containers"]] == ["main"]
    only = template({"volumes": [{"name": "v"}, {"$patch": "replace"}]})
    assert only["volumes"] == [{"name": "v"}]
    ordered = template(
        {
            "$setElementOrder/volumes": [{"name": "home"}, {"name": "data"}],
            "volumes": [{"name": "data", "x": 1}],
        }
    )
    assert ordered["volumes"] == [{"name": "home"}, {"name": "data", "x": 1}]
    base = deployment()
    retained = strategic_merge_patch(
        base, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, "Deployment"
    )
    assert retained["spec"]["strategy"] == {"type": "Recreate"}
    emptied = strategic_merge_patch(
        base, {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}}, "Deployment"
    )
    assert emptied["spec"]["strategy"]["rollingUpdate"] == {}  # an empty map, then defaulted
    sets = strategic_merge_patch(
        base, {"metadata": {"finalizers": ["example.org/c", "example.org/a"]}}, "Deployment"
    )
    assert sets["metadata"]["finalizers"] == ["example.org/c", "example.org/a", "example.org/b"]
    less = strategic_merge_patch(
        base, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.org/a"]}}, "Deployment"
    )
    assert less["metadata"]["finalizers"] == ["example.org/b"]


def test_bad_directives_are_the_apiservers_errors() -> None:
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(deployment(), {"spec": {"$patch": "explode"}}, "Deployment")
    assert info.value.code == 500
    assert info.value.message == "unknown patch type: explode in map: map[$patch:explode]"
    assert "reason" not in info.value.body()
    with pytest.raises(ApiError) as info:
        strategic_merge_patch(
            deployment(), {"spec": {"$retainKeys": ["type"], "paused": True}}, "Deployment"
        )
    assert info.value.code == 400


async def test_service_ports_merge_by_port(sim: SimCluster) -> None:
    service = {
        "metadata": {"name": "svc"},
        "spec": {
            "ports": [{"name": "ssh", "port": 22, "targetPort": 2222}, {"name": "http", "port": 80}]
        },
    }
    path = "/api/v1/namespaces/test/services"
    async with raw_client(sim) as client:
        assert (await client.post(path, json=service)).status_code == 201
        changed = await client.patch(
            f"{path}/svc", json={"spec": {"ports": [{"port": 80, "targetPort": 9999}]}}, headers=SMP
        )
        assert changed.status_code == 200, changed.text
        ports = changed.json()["spec"]["ports"]
        assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
            ("ssh", 22, 2222),
            ("http", 80, 9999),
        ]
        added = await client.patch(
            f"{path}/svc", json={"spec": {"ports": [{"name": "tls", "port": 443}]}}, headers=SMP
        )
        assert [p["port"] for p in added.json()["spec"]["ports"]] == [443, 22, 80]
