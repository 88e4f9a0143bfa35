"""Defaulting and validation, per kind, with the apiserver's field paths and wording."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from userpods.sim import kinds as k
from userpods.sim.validation import apply_defaults, validate, validate_update

Obj = dict[str, Any]


def errors(kind: k.Kind, obj: Obj) -> list[str]:
    """The rendered causes of creating ``obj`` (after the create-time defaults)."""
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    return [str(c) for c in validate(kind, obj)]


def pod(**spec: Any) -> Obj:
    spec.setdefault("containers", [{"name": "main", "image": "app:1"}])
    return {"metadata": {"name": "p"}, "spec": spec}


def service(name: str = "s", **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": spec}


def backend(name: str = "svc", number: int = 80) -> Obj:
    return {"service": {"name": name, "port": {"number": number}}}


# ----------------------------------------------------------------------------- metadata


def test_metadata_name_required_and_checked() -> None:
    assert errors(k.POD, {"metadata": {}, "spec": pod()["spec"]}) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    (only,) = errors(k.POD, {**pod(), "metadata": {"name": "Bad_Name"}})
    assert only.startswith(
        'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'
    )


def test_labels_are_validated() -> None:
    bad = pod()
    bad["metadata"]["labels"] = {"owner": "alice@example.com", "ok": "x" * 63}
    (only,) = errors(k.POD, bad)
    assert only.startswith('metadata.labels: Invalid value: "alice@example.com": a valid label')
    bad["metadata"]["labels"] = {"ok": "x" * 64}
    assert errors(k.POD, bad) == [
        f'metadata.labels: Invalid value: "{"x" * 64}": must be no more than 63 bytes'
    ]
    bad["metadata"]["labels"] = {"/bad": "x"}
    assert errors(k.POD, bad) == [
        'metadata.labels: Invalid value: "/bad": prefix part must be non-empty'
    ]


def test_annotations_total_size() -> None:
    big = pod()
    big["metadata"]["annotations"] = {"a": "x" * 262144}
    assert errors(k.POD, big) == ["metadata.annotations: Too long: must have at most 262144 bytes"]
    big["metadata"]["annotations"] = {"a": "x" * 262143}
    assert errors(k.POD, big) == []


# ----------------------------------------------------------------------------- pods


def test_pod_defaults() -> None:
    obj = pod(
        containers=[
            {"name": "a", "image": "app"},
            {"name": "b", "image": "app:latest"},
            {"name": "c", "image": "registry:5000/app:1.2"},
            {"name": "d", "image": "registry:5000/app"},
        ]
    )
    apply_defaults(k.POD, obj)
    spec = obj["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert [c["imagePullPolicy"] for c in spec["containers"]] == [
        "Always",
        "Always",
        "IfNotPresent",
        "Always",
    ]
    assert obj["status"]["phase"] == "Pending"


def test_a_good_pod_is_valid() -> None:
    assert errors(k.POD, pod()) == []


def test_pod_without_containers() -> None:
    assert errors(k.POD, pod(containers=[])) == ["spec.containers: Required value"]
    no_spec = {"metadata": {"name": "p"}}
    apply_defaults(k.POD, no_spec)
    assert [str(c) for c in validate(k.POD, no_spec)] == ["spec.containers: Required value"]


def test_duplicate_container_names() -> None:
    obj = pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])
    assert errors(k.POD, obj) == ['spec.containers[1].name: Duplicate value: "a"']
    obj = pod(
        initContainers=[{"name": "a", "image": "x"}], containers=[{"name": "a", "image": "y"}]
    )
    assert errors(k.POD, obj) == ['spec.containers[0].name: Duplicate value: "a"']


def test_container_name_and_image_required() -> None:
    assert errors(k.POD, pod(containers=[{"image": "x"}])) == [
        "spec.containers[0].name: Required value"
    ]
    assert errors(k.POD, pod(containers=[{"name": "a"}])) == [
        "spec.containers[0].image: Required value"
    ]
    (only,) = errors(k.POD, pod(containers=[{"name": "Main", "image": "x"}]))
    assert only.startswith('spec.containers[0].name: Invalid value: "Main": a lowercase RFC 1123')


def test_bad_restart_policy() -> None:
    assert errors(k.POD, pod(restartPolicy="Sometimes")) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "OnFailure", "Never"'
    ]


def test_bad_pull_policy_and_grace_period() -> None:
    obj = pod(containers=[{"name": "a", "image": "x", "imagePullPolicy": "Sometimes"}])
    assert errors(k.POD, obj) == [
        'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "IfNotPresent", "Never"'
    ]
    assert errors(k.POD, pod(terminationGracePeriodSeconds=-1)) == [
        "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_volume_mounts_need_volumes() -> None:
    obj = pod(
        containers=[
            {
                "name": "a",
                "image": "x",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "nope"}],
            }
        ],
        volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}],
    )
    assert errors(k.POD, obj) == [
        'spec.containers[0].volumeMounts[1].name: Not found: "nope"',
        "spec.containers[0].volumeMounts[1].mountPath: Required value",
    ]
    no_source = pod(volumes=[{"name": "v"}])
    assert errors(k.POD, no_source) == [
        "spec.volumes[0]: Required value: must specify a volume type"
    ]


def test_container_resources_are_quantities() -> None:
    obj = pod(
        containers=[
            {"name": "a", "image": "x", "resources": {"limits": {"memory": "1GB", "cpu": "500m"}}}
        ]
    )
    # Requests default to the limits, so the bad value is reported for both.
    found = errors(k.POD, obj)
    assert [e.split(":")[0] for e in found] == [
        "spec.containers[0].resources.limits[memory]",
        "spec.containers[0].resources.requests[memory]",
    ]
    assert found[0].startswith('spec.containers[0].resources.limits[memory]: Invalid value: "1GB"')


# ----------------------------------------------------------------------------- services


def test_a_good_service_is_valid_and_defaulted() -> None:
    obj = service(ports=[{"port": 22}], selector={"app": "x"})
    assert errors(k.SERVICE, obj) == []
    apply_defaults(k.SERVICE, obj)
    assert obj["spec"]["type"] == "ClusterIP"
    assert obj["spec"]["ports"] == [{"port": 22, "protocol": "TCP", "targetPort": 22}]


def test_service_ports_required() -> None:
    assert errors(k.SERVICE, service()) == ["spec.ports: Required value"]
    assert errors(k.SERVICE, service(clusterIP="None")) == []  # headless
    assert errors(k.SERVICE, service(type="ExternalName", externalName="a.example")) == []


@pytest.mark.parametrize("port", [0, 65536, -1, "80"])
def test_service_port_range(port: object) -> None:
    found = errors(k.SERVICE, service(ports=[{"port": port, "targetPort": 8080}]))
    assert found == [
        f"spec.ports[0].port: Invalid value: {port}: must be between 1 and 65535, inclusive"
        if not isinstance(port, str)
        else f'spec.ports[0].port: Invalid value: "{port}": must be between 1 and 65535, inclusive'
    ]


def test_service_port_names_required_when_several() -> None:
    assert errors(k.SERVICE, service(ports=[{"port": 80}, {"port": 443}])) == [
        "spec.ports[0].name: Required value",
        "spec.ports[1].name: Required value",
    ]
    named = service(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 443}])
    assert errors(k.SERVICE, named) == ['spec.ports[1].name: Duplicate value: "http"']


def test_node_port_on_cluster_ip_is_forbidden() -> None:
    assert errors(k.SERVICE, service(ports=[{"port": 80, "nodePort": 30080}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]
    node_port = service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert errors(k.SERVICE, node_port) == []


def test_service_names_are_dns1123_labels() -> None:
    # A real v1.37 apiserver accepts a leading digit (measured by tests/differential).
    assert errors(k.SERVICE, service(name="1abc", ports=[{"port": 80}])) == []
    (only,) = errors(k.SERVICE, service(name="a.b", ports=[{"port": 80}]))
    assert only.startswith('metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label')
    long_name = "a" * 60 + "-ssh"  # a valid pod name, too long for a service
    assert errors(k.SERVICE, service(name=long_name, ports=[{"port": 22}])) == [
        f'metadata.name: Invalid value: "{long_name}": must be no more than 63 characters'
    ]


def test_service_type_unsupported() -> None:
    assert errors(k.SERVICE, service(type="Magic", ports=[{"port": 1}])) == [
        'spec.type: Unsupported value: "Magic": supported values: '
        '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
    ]


# ----------------------------------------------------------------------------- ingresses


def ingress(**path: Any) -> Obj:
    path.setdefault("backend", backend())
    return {
        "metadata": {"name": "i"},
        "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [path]}}]},
    }


def test_a_good_ingress_is_valid() -> None:
    assert errors(k.INGRESS, ingress(path="/", pathType="Prefix")) == []
    assert errors(k.INGRESS, ingress(pathType="ImplementationSpecific")) == []


def test_ingress_path_type_required() -> None:
    assert errors(k.INGRESS, ingress(path="/")) == [
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    ]
    assert errors(k.INGRESS, ingress(path="/", pathType="Glob")) == [
        'spec.rules[0].http.paths[0].pathType: Unsupported value: "Glob": supported values: '
        '"Exact", "ImplementationSpecific", "Prefix"'
    ]
    assert errors(k.INGRESS, ingress(path="x", pathType="Prefix")) == [
        'spec.rules[0].http.paths[0].path: Invalid value: "x": must be an absolute path'
    ]


def test_ingress_rules_or_default_backend_required() -> None:
    (only,) = errors(k.INGRESS, {"metadata": {"name": "i"}, "spec": {}})
    assert only.endswith("either `defaultBackend` or `rules` must be specified")
    default = {"metadata": {"name": "i"}, "spec": {"defaultBackend": backend()}}
    assert errors(k.INGRESS, default) == []


def test_ingress_hosts_and_backends() -> None:
    obj = ingress(path="/", pathType="Prefix")
    obj["spec"]["rules"][0]["host"] = "10.0.0.1"
    assert errors(k.INGRESS, obj) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'
    ]
    obj["spec"]["rules"][0]["host"] = "*.example.com"
    assert errors(k.INGRESS, obj) == []
    obj["spec"]["rules"][0]["host"] = "a.*.com"
    (only,) = errors(k.INGRESS, obj)
    assert only.startswith('spec.rules[0].host: Invalid value: "a.*.com": a wildcard DNS-1123')
    both = ingress(
        path="/",
        pathType="Prefix",
        backend={"service": {"name": "s", "port": {"name": "http", "number": 80}}},
    )
    (only,) = errors(k.INGRESS, both)
    assert only.endswith("cannot set both port name & port number")
    neither = ingress(path="/", pathType="Prefix", backend={"service": {"name": "s"}})
    (only,) = errors(k.INGRESS, neither)
    assert only.endswith("port name or number is required")
    bad_name = ingress(path="/", pathType="Prefix", backend=backend(name="1svc"))
    (only,) = errors(k.INGRESS, bad_name)
    assert only.startswith(
        'spec.rules[0].http.paths[0].backend.service.name: Invalid value: "1svc": a DNS-1035'
    )


# ----------------------------------------------------------------------------- volumes


def test_pv_required_fields() -> None:
    assert errors(k.PV, {"metadata": {"name": "v"}, "spec": {}}) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.capacity: Required value",
        "spec: Required value: must specify a volume type",
    ]
    good = {
        "metadata": {"name": "v"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "capacity": {"storage": "10Gi"},
            "nfs": {"server": "nfs.example", "path": "/export"},
        },
    }
    assert errors(k.PV, good) == []
    two_sources = copy.deepcopy(good)
    two_sources["spec"]["hostPath"] = {"path": "/x"}
    assert errors(k.PV, two_sources) == [
        "spec.nfs: Forbidden: may not specify more than 1 volume type"
    ]
    no_storage = copy.deepcopy(good)
    no_storage["spec"]["capacity"] = {"cpu": "1"}
    assert errors(k.PV, no_storage) == ["spec.capacity[storage]: Required value"]
    bad_mode = copy.deepcopy(good)
    bad_mode["spec"]["accessModes"] = ["ReadWriteSometimes"]
    (only,) = errors(k.PV, bad_mode)
    assert only.startswith('spec.accessModes: Unsupported value: "ReadWriteSometimes"')
    obj = copy.deepcopy(good)
    apply_defaults(k.PV, obj)
    assert obj["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def test_pvc_required_fields() -> None:
    assert errors(k.PVC, {"metadata": {"name": "c"}, "spec": {}}) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    good = {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert errors(k.PVC, good) == []
    bad_quantity = copy.deepcopy(good)
    bad_quantity["spec"]["resources"]["requests"]["storage"] = "1 GB"
    (only,) = errors(k.PVC, bad_quantity)
    assert only.startswith('spec.resources.requests[storage]: Invalid value: "1 GB"')


def test_pvc_spec_is_immutable_except_volume_name() -> None:
    old = {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    bound = copy.deepcopy(old)
    bound["spec"]["volumeName"] = "pv-1"
    assert validate_update(k.PVC, bound, old) == []
    changed = copy.deepcopy(old)
    changed["spec"]["accessModes"] = ["ReadWriteMany"]
    (only,) = validate_update(k.PVC, changed, old)
    assert str(only).startswith("spec: Forbidden: spec is immutable after creation")


def test_pod_updates_may_change_only_some_fields() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "app:2"
    new["spec"]["activeDeadlineSeconds"] = 5
    assert validate_update(k.POD, new, old) == []
    new["spec"]["restartPolicy"] = "Never"
    (only,) = validate_update(k.POD, new, old)
    assert str(only).startswith("spec: Forbidden: pod updates may not change fields other than")


def test_non_string_names_do_not_crash_validation() -> None:
    """A number where a name belongs must give causes, not a TypeError (a bare 500)."""
    assert errors(k.POD, pod(volumes=[{"name": 5, "emptyDir": {}}])) == []
    assert errors(k.SERVICE, service(ports=[{"name": 5, "port": 80}])) == []
    bad = ingress(
        path="/", pathType="Prefix", backend={"service": {"name": 7, "port": {"number": 80}}}
    )
    (only,) = errors(k.INGRESS, bad)
    assert only.startswith("spec.rules[0].http.paths[0].backend.service.name: Invalid value: 7:")
