"""The cache's slim projection (daemon/slim.py) keeps every field the daemon and the built-in
plugins read: each reading of a full pod equals that of its projection, for pods in the states
that matter (ready, crash-looping, unschedulable, failed, with claims, sidecars and quotas)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from lightkube.resources.core_v1 import Pod, Service

from tests.conftest import MANIFESTS as CORPUS
from userpods import naming
from userpods.daemon import podinfo, podstate, slim
from userpods.plugins import ssh, tokens, volumes
from userpods.plugins.common import made_for
from userpods.quotas import pod_amounts

BASE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "ubuntu-u-dtu-dk",
        "namespace": "sciencedata",
        "uid": "0b5c",
        "resourceVersion": "1167",
        "creationTimestamp": "2026-12-02T21:52:26Z",
        "labels": {"app": "ubuntu", "user": "u", "domain": "dtu.dk"},
        "annotations": {
            naming.ANNOTATION_OWNER: "u@dtu.dk",
            podstate.ANNOTATION_STATE: "creating",
            podstate.ANNOTATION_DEADLINE: "2026-12-02T21:57:26Z",
            tokens.ANNOTATION: "ed25519HostKeyHash,rsaHostKeyHash",
        },
        "managedFields": [{"manager": "userpods", "operation": "Update", "fieldsV1": {"f:x": {}}}],
    },
    "spec": {
        "initContainers": [
            {
                "name": "sidecar",
                "image": "log",
                "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            },
            {"name": "init", "image": "busybox", "resources": {"limits": {"cpu": "1"}}},
        ],
        "containers": [
            {
                "name": "ubuntu-jammy",
                "image": "ubuntu_jammy_sciencedata",
                "env": [{"name": "SSH_PUBLIC_KEY", "value": "ssh-ed25519 AAAA"}],
                "ports": [{"containerPort": 22, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi"}},
                "securityContext": {"capabilities": {"add": ["SYS_CHROOT"]}},
                "volumeMounts": [{"mountPath": "/root/data", "name": "sciencedata"}],
            }
        ],
        "overhead": {"cpu": "10m"},
        "nodeName": "node-1",
        "restartPolicy": "OnFailure",
        "schedulingGates": [{"name": "userpods.sciencedata.dk/dependencies"}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
        "volumes": [
            {
                "name": "sciencedata",
                "persistentVolumeClaim": {"claimName": "user-storage-u-dtu-dk"},
            },
            {"name": "tmp", "emptyDir": {}},
            {
                "name": "kube-api-access",
                "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
            },
        ],
    },
    "status": {
        "phase": "Running",
        "hostIP": "10.0.0.7",
        "podIP": "10.244.1.5",
        "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": "2026-12-02T21:52:27Z",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": "2026-12-02T21:52:26Z",
            },
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-02T21:52:29Z"},
        ],
        "containerStatuses": [
            {
                "name": "ubuntu-jammy",
                "image": "ubuntu_jammy_sciencedata",
                "imageID": "ubuntu@sha256:7908",
                "containerID": "containerd://a390",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": "2026-12-02T21:52:28Z"}},
            }
        ],
    },
}


def variant(**status: Any) -> dict[str, Any]:
    found = copy.deepcopy(BASE)
    found["status"].update(status)
    return found


CRASHING = variant(
    phase="Running",
    conditions=[{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
    containerStatuses=[
        {
            "name": "ubuntu-jammy",
            "image": "u",
            "imageID": "",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 3}},
        }
    ],
)
UNSCHEDULABLE = variant(
    phase="Pending",
    podIP=None,
    conditions=[
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient cpu.",
        }
    ],
    containerStatuses=None,
)
FAILED = variant(
    phase="Failed",
    containerStatuses=[
        {
            "name": "ubuntu-jammy",
            "image": "u",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
        }
    ],
)
GOING = copy.deepcopy(BASE)
GOING["metadata"]["deletionTimestamp"] = "2026-12-02T22:00:00Z"


def readings(pod: Pod) -> dict[str, Any]:
    manifest = pod.to_dict()
    return {
        "startup": podstate.startup(pod, "0b5c"),
        "summary": podstate.summary(pod),
        "owner": podstate.owner(pod),
        "state": podstate.creation_state(pod),
        "deadline": podstate.deadline(pod),
        "caller": podstate.caller(pod),
        "live": podstate.is_live(pod),
        "ready": podstate.is_ready(pod),
        "deleting": podstate.is_deleting(pod),
        "info": podinfo.base_info(pod),
        "ssh": ssh.wants_ssh(pod),
        "keys": tokens.token_keys(pod),
        "ready since": tokens.ready_since(pod) if podstate.is_ready(pod) else None,
        "claims": volumes._storage_claims(pod),
        "requests": pod_amounts(manifest, "requests"),
        "limits": pod_amounts(manifest, "limits"),
        "gates": [g.name for g in pod.spec.schedulingGates or []] if pod.spec else [],
    }


@pytest.mark.parametrize(
    "body",
    [BASE, CRASHING, UNSCHEDULABLE, FAILED, GOING],
    ids=["ready", "crashing", "unschedulable", "failed", "going"],
)
def test_every_reading_of_the_projection_equals_the_full_pods(body: dict[str, Any]) -> None:
    full: Pod = Pod.from_dict(body)  # type: ignore[assignment]
    assert readings(slim.pod(full)) == readings(full)


def test_the_projection_drops_what_nobody_reads() -> None:
    kept = slim.pod(Pod.from_dict(BASE))  # type: ignore[arg-type]
    assert kept.metadata is not None and kept.metadata.managedFields is None
    assert kept.spec is not None and kept.spec.tolerations is None
    assert [v.name for v in kept.spec.volumes or []] == ["sciencedata"]
    container = kept.spec.containers[0]
    assert container.env is None and container.volumeMounts is None
    assert container.securityContext is None
    assert kept.status is not None and kept.status.podIPs is None
    assert kept.status.containerStatuses and kept.status.containerStatuses[0].imageID == ""


def test_repeated_strings_are_held_once() -> None:
    one, two = (slim.pod(Pod.from_dict(copy.deepcopy(BASE))) for _ in range(2))  # type: ignore[arg-type]
    assert one.metadata and two.metadata and one.metadata.annotations and two.metadata.annotations
    keys = [
        next(k for k in m.annotations if k == naming.ANNOTATION_OWNER)
        for m in (one.metadata, two.metadata)
    ]
    assert keys[0] is keys[1]
    assert (
        one.metadata.annotations[naming.ANNOTATION_OWNER]
        is two.metadata.annotations[naming.ANNOTATION_OWNER]
    )


SERVICE: dict[str, Any] = {
    "metadata": {
        "name": "p-ssh",
        "uid": "s1",
        "labels": {naming.LABEL_CREATED_FOR_POD: "p"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "0b5c"}],
    },
    "spec": {
        "type": "NodePort",
        "clusterIP": "10.96.0.11",
        "ipFamilies": ["IPv4"],
        "selector": {"podName": "p"},
        "ports": [{"name": "ssh", "port": 22, "nodePort": 30022, "targetPort": 22}],
    },
    "status": {"loadBalancer": {}},
}


def test_a_service_keeps_its_ports_and_owner() -> None:
    full = Service.from_dict(SERVICE)
    pod: Pod = Pod.from_dict(BASE)  # type: ignore[assignment]
    pod.metadata.uid = "0b5c"  # type: ignore[union-attr]
    kept = slim.service(full)  # type: ignore[arg-type]
    assert made_for(kept, pod) and made_for(full, pod)
    assert kept.spec is not None and kept.spec.ports and kept.spec.ports[0].nodePort == 30022
    assert kept.spec.type == "NodePort" and kept.spec.selector is None
    assert kept.spec.clusterIP is None and kept.status is None


def _from_wire(wire: Any, body: dict[str, Any]) -> Any:
    return msgspec.json.decode(json.dumps(body).encode(), type=wire)


@pytest.mark.parametrize(
    "body",
    [BASE, CRASHING, UNSCHEDULABLE, FAILED, GOING],
    ids=["ready", "crashing", "unschedulable", "failed", "going"],
)
def test_a_pod_decoded_slim_projects_as_the_full_pod(body: dict[str, Any]) -> None:
    """The watch decodes pods into WIRE_POD (skipping what it does not name): the projection
    of that is the projection of the full model, field for field."""
    assert slim.pod(_from_wire(slim.WIRE_POD, body)) == slim.pod(Pod.from_dict(body))


def test_a_service_decoded_slim_projects_as_the_full_service() -> None:
    assert slim.service(_from_wire(slim.WIRE_SERVICE, SERVICE)) == slim.service(
        Service.from_dict(SERVICE)
    )


MANIFESTS = sorted(CORPUS.glob("*/*.yaml"))


def test_the_manifest_corpus_is_there() -> None:
    assert len(MANIFESTS) >= 50  # three eras of real manifests


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_manifests_decoded_slim_project_as_in_full(path: Path) -> None:
    """Every spec field the real manifests use, read through the wire type or in full, gives
    the same projection (with the status of a running pod around it)."""
    for body in yaml.safe_load_all(path.read_text()):
        if not isinstance(body, dict) or body.get("kind") != "Pod":
            continue
        body = {**body, "status": BASE["status"]}
        assert slim.pod(_from_wire(slim.WIRE_POD, body)) == slim.pod(Pod.from_dict(body))


def test_a_malformed_pod_fails_to_decode_as_in_full() -> None:
    """A required field missing (a container without a name) is an error either way, not a
    pod the cache would hold half-read."""
    body = copy.deepcopy(BASE)
    del body["spec"]["containers"][0]["name"]
    with pytest.raises(msgspec.ValidationError):
        _from_wire(slim.WIRE_POD, body)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(body).encode(), type=Pod)
