"""Write semantics measured against a real v1.37 apiserver (tests/differential), guarded here
without one: Go's omitempty and zero values, which kinds carry a generation, defaults, error
wording, and what DELETE answers."""

from __future__ import annotations

from typing import Any

import httpx2

from userpods.sim import SimCluster

from .helpers import raw_client

NS = "/api/v1/namespaces/test"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "x:1", "env": [{"name": "E", "value": ""}]}
    return {
        "metadata": {"name": name},
        "spec": {"schedulerName": "nobody", "containers": [container], **spec},
    }


async def post(client: httpx2.AsyncClient, path: str, body: Any) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_go_round_trip_of_stored_objects(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        made = await post(client, f"{NS}/pods", pod("p"))
        assert made["spec"]["containers"][0]["env"] == [{"name": "E"}]  # value "" dropped
        assert made["metadata"]["generation"] == 1
        event = await post(
            client,
            f"{NS}/events",
            {"metadata": {"name": "e"}, "involvedObject": {"name": "p"}, "reason": "R"},
        )
        assert {k: event[k] for k in ("firstTimestamp", "lastTimestamp", "eventTime")} == {
            "firstTimestamp": None,
            "lastTimestamp": None,
            "eventTime": None,
        }
        assert event["reportingComponent"] == event["reportingInstance"] == ""
        svc = await post(
            client,
            f"{NS}/services",
            {"metadata": {"name": "1-svc"}, "spec": {"ports": [{"port": 1}]}},
        )
        assert "generation" not in svc["metadata"]  # only some kinds have one
        pv = await post(
            client,
            "/api/v1/persistentvolumes",
            {
                "metadata": {"name": "pv"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/d"},
                },
            },
        )
        assert pv["spec"]["hostPath"]["type"] == ""
        assert pv["status"]["lastPhaseTransitionTime"]
        conditions = await client.patch(
            f"{NS}/pods/p/status",
            json={"status": {"conditions": [{"type": "Custom", "status": "True"}]}},
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        custom = conditions.json()["status"]["conditions"][0]
        assert custom == {
            "type": "Custom",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": None,
        }


async def test_deployment_templates_get_pod_spec_defaults_only(sim: SimCluster) -> None:
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "strategy": {"rollingUpdate": {"maxSurge": 1}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod("t")["spec"]},
        },
    }
    async with raw_client(sim) as client:
        made = await post(client, "/apis/apps/v1/namespaces/test/deployments", deployment)
        spec = made["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Always"
        for pods_own in (
            "enableServiceLinks",
            "priority",
            "preemptionPolicy",
            "serviceAccountName",
            "tolerations",
        ):
            assert pods_own not in spec, pods_own
        assert made["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
        }
        gone = await client.delete("/apis/apps/v1/namespaces/test/deployments/d")
        assert gone.json()["kind"] == "Status"


async def test_error_bodies(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        made = await post(client, f"{NS}/pods", pod("p"))
        dup = pod("q")
        dup["spec"]["containers"][0]["ports"] = [
            {"containerPort": 1, "name": "a"},
            {"containerPort": 2, "name": "a"},
        ]
        duplicate = await client.post(f"{NS}/pods", json=dup)
        assert (
            duplicate.json()["message"]
            == 'Pod "q" is invalid: spec.containers[0].ports[1].name: Duplicate value: "a"'
        )
        tls = await client.post(
            f"{NS}/secrets", json={"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}
        )
        assert (
            tls.json()["message"] == 'Secret "s" is invalid: [data[tls.crt]: Required value, '
            "data[tls.key]: Required value]"
        )
        stale = await client.request(
            "DELETE", f"{NS}/pods/p", json={"preconditions": {"resourceVersion": "1"}}
        )
        assert stale.status_code == 409
        assert stale.json()["message"].startswith(
            'Operation cannot be fulfilled on Pod "p": the ResourceVersion in the precondition (1) '
            "does not match the ResourceVersion in record ("
        )
        assert stale.json()["details"] == {"name": "p", "kind": "Pod"}
        other = "00000000-0000-0000-0000-000000000000"
        wrong = await client.request(
            "DELETE", f"{NS}/pods/p", json={"preconditions": {"uid": other}}
        )
        assert wrong.json()["message"] == (
            f'Operation cannot be fulfilled on Pod "p": the UID in the precondition ({other}) does '
            f"not match the UID in record ({made['metadata']['uid']}). The object might have been "
            "deleted and then recreated"
        )
        policy = await client.delete(f"{NS}/pods/p", params={"propagationPolicy": "Sideways"})
        assert policy.json()["message"].startswith('DeleteOptions.meta.k8s.io "" is invalid: ')
        assert "name" not in policy.json()["details"]
        # With a DeleteOptions body the query's options are not read (the body wins, whole).
        body_wins = await client.request(
            "DELETE",
            f"{NS}/pods/p",
            params={"propagationPolicy": "Sideways"},
            json={"preconditions": {"uid": other}},
        )
        assert body_wins.status_code == 409, body_wins.text
        test_op = await client.patch(
            f"{NS}/pods/p", json=[{"op": "test", "path": "/x", "value": 1}], headers=JSON_PATCH
        )
        assert (test_op.status_code, test_op.json()["message"], test_op.json()["details"]) == (
            422,
            "the server rejected our request due to an error in our request",
            {},
        )
        text = await client.patch(
            f"{NS}/pods/p", content=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert (text.status_code, text.json()["message"]) == (415, "415: Unsupported Media Type")
        bad = await client.post(f"{NS}/pods", content=b'{"kind": ')
        assert bad.json()["message"].startswith(
            "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; "
            "json parse error: "
        )
        initial = await client.get(f"{NS}/pods", params={"sendInitialEvents": "true"})
        assert initial.json()["details"]["group"] == "meta.k8s.io"


async def test_deleting_unscheduled_pods_and_collections(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        await post(client, f"{NS}/pods", pod("p"))
        gone = (await client.delete(f"{NS}/pods/p")).json()
        # Written first (deletionTimestamp, grace 0, the next generation), then removed.
        assert gone["metadata"]["deletionGracePeriodSeconds"] == 0
        assert gone["metadata"]["generation"] == 2
        await post(client, f"{NS}/pods", pod("q"))
        listed = (await client.delete(f"{NS}/pods")).json()
        # deletecollection answers with the items as they were listed.
        assert [
            (i["metadata"]["name"], "deletionTimestamp" in i["metadata"]) for i in listed["items"]
        ] == [("q", False)]
        held = await post(
            client, f"{NS}/configmaps", {"metadata": {"name": "h", "finalizers": ["x/y"]}}
        )
        assert held["metadata"]["finalizers"] == ["x/y"]
        await client.delete(f"{NS}/configmaps/h")
        released = await client.patch(
            f"{NS}/configmaps/h", json={"metadata": {"finalizers": None}}, headers=MERGE
        )
        assert "finalizers" not in released.json()["metadata"]  # the object as last written
        assert (await client.get(f"{NS}/configmaps/h")).status_code == 404


async def test_logs_and_tokens(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        token = await post(client, f"{NS}/serviceaccounts/default/token", {"spec": {}})
        assert token["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
        assert token["spec"]["boundObjectRef"] is None
        assert token["metadata"]["uid"]
