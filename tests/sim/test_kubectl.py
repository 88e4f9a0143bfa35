"""The real kubectl against the simulated cluster: what a kubectl user sees must match a cluster.

Every test starts its own simulated cluster (the ``sim`` fixture) and drives the real kubectl
binary with ``trio.run_process`` (the cluster runs in the test's own trio loop). Expected values
are read from the pod manifests and the image catalogue, not hard-coded.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from tests.conftest import MANIFESTS
from userpods.sim import SimCluster

pytestmark = pytest.mark.kubectl

NS = "test"
TESTING = MANIFESTS / "testing-2023"
CALL_TIMEOUT = 25.0  # seconds for one kubectl call; the whole module stays far below

Obj = dict[str, Any]


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Run:
    """One finished kubectl invocation."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        command = " ".join(self.args)
        return f"kubectl {command} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


class Kubectl:
    """Runs the real kubectl against one simulated cluster, in namespace ``test``."""

    def __init__(self, binary: str, kubeconfig: Path, home: Path) -> None:
        self.base = [binary, f"--kubeconfig={kubeconfig}", f"--namespace={NS}"]
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

    async def run(self, *args: str, stdin: str = "") -> Run:
        with trio.fail_after(CALL_TIMEOUT):
            done = await trio.run_process(
                [*self.base, *args],
                stdin=stdin.encode(),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=self.env,
            )
        return Run(tuple(args), done.returncode, done.stdout.decode(), done.stderr.decode())

    async def ok(self, *args: str, stdin: str = "") -> str:
        """Run, assert success, return stdout."""
        result = await self.run(*args, stdin=stdin)
        assert result.code == 0, str(result)
        return result.out

    async def fails(self, *args: str, stdin: str = "") -> Run:
        result = await self.run(*args, stdin=stdin)
        assert result.code != 0, str(result)
        return result

    async def json(self, *args: str) -> Any:
        return json.loads(await self.ok(*args, "-o", "json"))

    async def open(self, *args: str) -> trio.Process:
        """Start kubectl in the background with its stdout piped (for ``--watch``)."""
        return await trio.lowlevel.open_process(
            [*self.base, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )


@pytest.fixture
def kubectl(sim: SimCluster, kubectl_path: str, tmp_path: Path) -> Kubectl:
    assert sim.kubeconfig_path is not None
    return Kubectl(kubectl_path, sim.kubeconfig_path, tmp_path)


class Lines:
    """Reads a process's output line by line, as it comes."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.seen: list[str] = []

    async def next(self) -> str:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some()
            if not chunk:
                raise EOFError(f"stream ended; lines so far: {self.seen}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.seen.append(line.decode())
        return self.seen[-1]

    async def until(self, *words: str) -> list[str]:
        """Read until a line whose leading columns are ``words``; return that line's columns."""
        while True:
            columns = (await self.next()).split()
            if columns[: len(words)] == list(words):
                return columns


def load(path: Path) -> Obj:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def pod_yaml(name: str, image: str, **labels: str) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }
    return yaml.safe_dump(pod)


def mount_errors(pod: Obj) -> list[str]:
    """The apiserver's errors for volume mounts that name no volume of the pod."""
    declared = {v["name"] for v in pod["spec"].get("volumes") or []}
    errors = []
    for field in ("containers", "initContainers"):
        for i, container in enumerate(pod["spec"].get(field) or []):
            for j, mount in enumerate(container.get("volumeMounts") or []):
                if mount["name"] not in declared:
                    errors.append(
                        f'spec.{field}[{i}].volumeMounts[{j}].name: Not found: "{mount["name"]}"'
                    )
    return errors


def invalid_message(kind: str, name: str, errors: list[str]) -> str:
    """kubectl's rendering of a 422: one cause on the line, several as a bullet list."""
    head = f'The {kind} "{name}" is invalid: '
    if len(errors) == 1:
        return head + errors[0]
    return "\n".join([head.rstrip(), *(f"* {e}" for e in errors)])


async def apply_manifests(kubectl: Kubectl, files: Iterable[Path]) -> dict[Path, Run]:
    """``kubectl apply -f`` each file (concurrently); the result of each."""
    results: dict[Path, Run] = {}

    async def one(path: Path) -> None:
        results[path] = await kubectl.run("apply", "-f", str(path))

    async with trio.open_nursery() as nursery:
        for path in files:
            nursery.start_soon(one, path)
    return results


def valid_testing_pods() -> dict[str, Obj]:
    """The testing-2023 pods that a real apiserver accepts, by name."""
    pods = [load(p) for p in sorted(TESTING.glob("*.yaml"))]
    valid = [p for p in pods if not mount_errors(p)]
    names = [p["metadata"]["name"] for p in valid]
    assert len(set(names)) == len(names), "valid manifests must not share a name"
    return dict(zip(names, valid, strict=True))


async def create_testing_pods(kubectl: Kubectl) -> dict[str, Obj]:
    valid = valid_testing_pods()
    files = [p for p in sorted(TESTING.glob("*.yaml")) if load(p)["metadata"]["name"] in valid]
    for path, result in (await apply_manifests(kubectl, files)).items():
        assert result.code == 0, f"{path.name}: {result}"
    return valid


def catalogue_entry(image: str) -> Obj:
    """The built-in image catalogue's entry for ``image`` (first glob that matches)."""
    text = resources.files("userpods.sim").joinpath("images.yaml").read_text()
    for entry in yaml.safe_load(text):
        if fnmatch.fnmatchcase(image, entry["match"]):
            assert isinstance(entry, dict)
            return entry
    return {}


def render(template: Any, pod_name: str, uid: str) -> str:
    if isinstance(template, dict):
        return str(template["repeat"]) * int(template["count"])
    return (
        str(template)
        .replace("{pod_name}", pod_name)
        .replace("{uid}", uid)
        .replace("{namespace}", NS)
    )


async def wait_ready(kubectl: Kubectl, *names: str) -> None:
    await kubectl.ok("wait", "--for=condition=Ready", "--timeout=20s", *(f"pod/{n}" for n in names))


# ----------------------------------------------------------------------------- 1. apply


async def test_apply_testing_manifests_rejects_undeclared_volumes(kubectl: Kubectl) -> None:
    files = sorted(TESTING.glob("*.yaml"))
    results = await apply_manifests(kubectl, files)
    created = set()
    rejected = 0
    for path in files:
        pod, result = load(path), results[path]
        name, errors = pod["metadata"]["name"], mount_errors(pod)
        if errors:
            rejected += 1
            assert result.code == 1, f"{path.name}: {result}"
            assert result.err.strip() == invalid_message("Pod", name, errors), path.name
            assert result.out == ""
        else:
            assert result.code == 0, f"{path.name}: {result}"
            assert result.out == f"pod/{name} created\n"
            created.add(name)
    assert rejected  # the manifests exercise both sides
    assert created
    listed = await kubectl.json("get", "pods")
    assert listed["kind"] == "List"
    assert {item["metadata"]["name"] for item in listed["items"]} == created
    assert {item["kind"] for item in listed["items"]} == {"Pod"}
    # Applying the accepted ones again changes nothing, but kubectl says "configured" for a
    # manifest with an env var `value: ""`: the apiserver drops the empty value (omitempty),
    # so kubectl's three-way patch puts it back each time (as on a real cluster, measured).
    accepted = [p for p in files if not mount_errors(load(p))]
    again = await apply_manifests(kubectl, accepted)

    def expected(path: Path) -> str:
        pod = load(path)
        empty = any(
            env.get("value") == ""
            for c in pod["spec"].get("containers", [])
            for env in c.get("env") or []
        )
        return f"pod/{pod['metadata']['name']} {'configured' if empty else 'unchanged'}\n"

    assert sorted(r.out for r in again.values()) == sorted(expected(p) for p in accepted)


# ----------------------------------------------------------------------------- 2. selectors


async def test_get_pods_by_label_selector(kubectl: Kubectl) -> None:
    pods = await create_testing_pods(kubectl)

    def names(predicate: Any) -> list[str]:
        return sorted(
            f"pod/{n}" for n, p in pods.items() if predicate(p["metadata"].get("labels") or {})
        )

    async def get(selector: str) -> list[str]:
        return sorted((await kubectl.ok("get", "pods", "-l", selector, "-o", "name")).split())

    assert names(lambda lb: lb.get("app") == "ubuntu")  # the manifests have such a pod
    assert await get("app=ubuntu") == names(lambda lb: lb.get("app") == "ubuntu")
    assert await get("app!=ubuntu") == names(lambda lb: lb.get("app") != "ubuntu")
    assert await get("app") == names(lambda lb: "app" in lb)
    assert await get("!app") == names(lambda lb: "app" not in lb)
    assert await get("app in (ubuntu,nothing)") == names(lambda lb: lb.get("app") == "ubuntu")
    table = await kubectl.ok("get", "pods", "-l", "app=ubuntu")
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r.split()[0] for r in rows] == ["ubuntu"]
    empty = await kubectl.run("get", "pods", "-l", "app=nothing")
    assert (empty.code, empty.out, empty.err) == (0, "", f"No resources found in {NS} namespace.\n")
    everything = await kubectl.json("get", "pods")
    assert sorted(i["metadata"]["name"] for i in everything["items"]) == sorted(pods)


# ----------------------------------------------------------------------------- 3. watch


async def test_watch_sees_added_then_modified_then_deleted(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("early", "example/app"))
    proc = await kubectl.open("get", "pods", "--watch", "--output-watch-events")
    try:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        with trio.fail_after(10):
            # kubectl lists, prints, then watches from the list's resourceVersion: once the
            # listed pod shows, a pod created now must arrive through the watch.
            assert (await lines.next()).split()[:2] == ["EVENT", "NAME"]
            await lines.until("ADDED", "early")
            await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("late", "example/app"))
            added = await lines.until("ADDED", "late")
            assert added[2:4] == ["0/1", "Pending"]
            await lines.until("MODIFIED", "late")
            running = await lines.until("MODIFIED", "late", "1/1")
            assert running[3] == "Running"
            await kubectl.ok("delete", "pod", "late", "--wait=false")
            await lines.until("DELETED", "late")
    finally:
        proc.kill()  # a watch never ends by itself
        await proc.wait()
        if proc.stdout is not None:
            await proc.stdout.aclose()


# ----------------------------------------------------------------------------- 4. wait


async def test_wait_for_ready_and_timeout(kubectl: Kubectl) -> None:
    await apply_manifests(
        kubectl, [TESTING / "ubuntu_sciencedata.yaml", TESTING / "test_fail_start.yaml"]
    )
    results: dict[str, Run] = {}

    async def wait(name: str, limit: str) -> None:
        results[name] = await kubectl.run(
            "wait", "--for=condition=Ready", f"pod/{name}", f"--timeout={limit}"
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait, "ubuntu", "20s")
        nursery.start_soon(wait, "test-fail-start", "2s")
    assert results["ubuntu"].code == 0, str(results["ubuntu"])
    assert results["ubuntu"].out == "pod/ubuntu condition met\n"
    failed = results["test-fail-start"]
    assert failed.code != 0, str(failed)
    assert "timed out waiting for the condition on pods/test-fail-start" in failed.err
    phase = await kubectl.ok("get", "pod", "test-fail-start", "-o", "jsonpath={.status.phase}")
    assert phase == "Failed"


# ----------------------------------------------------------------------------- 5. exec


async def test_exec_reads_catalogue_files(kubectl: Kubectl) -> None:
    jupyter = load(TESTING / "jupyter_sciencedata.yaml")["spec"]["containers"][0]["image"]
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("jupyter", jupyter))
    await apply_manifests(
        kubectl, [TESTING / "test_long_key.yaml", TESTING / "ubuntu_sciencedata.yaml"]
    )
    await wait_ready(kubectl, "jupyter", "test-long-key", "ubuntu")
    pods = {p["metadata"]["name"]: p for p in (await kubectl.json("get", "pods"))["items"]}
    checked = 0
    for name in ("jupyter", "test-long-key", "ubuntu"):
        pod = pods[name]
        entry = catalogue_entry(pod["spec"]["containers"][0]["image"])
        assert entry.get("files"), name
        for path, template in entry["files"].items():
            out = await kubectl.ok("exec", name, "--", "cat", path)
            assert out == render(template, name, pod["metadata"]["uid"]), (name, path)
            checked += 1
    assert checked >= 5
    token = await kubectl.ok("exec", "jupyter", "--", "cat", "/tmp/appendURL")
    assert token == f"?token=jupyter-{pods['jupyter']['metadata']['uid']}"
    long_key = await kubectl.ok("exec", "test-long-key", "--", "cat", "/tmp/longkey")
    assert long_key == "x" * 10000

    missing = await kubectl.fails("exec", "ubuntu", "--", "no-such-command")
    assert "command not found" in missing.err
    assert "command terminated with exit code" in missing.err
    hostname = await kubectl.ok("exec", "ubuntu", "--", "sh", "-c", "echo $HOSTNAME")
    assert hostname == "ubuntu\n"
    no_file = await kubectl.fails("exec", "ubuntu", "--", "cat", "/tmp/nothing")
    assert "No such file or directory" in no_file.err
    assert no_file.code == 1


async def test_exec_refused_for_completed_pod_and_unknown_container(kubectl: Kubectl) -> None:
    await apply_manifests(kubectl, [TESTING / "test_finish_entrypoint.yaml"])
    with trio.fail_after(10):
        await kubectl.ok(
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            "pod/test-finish-entrypoint",
            "--timeout=10s",
        )
    done = await kubectl.fails("exec", "test-finish-entrypoint", "--", "true")
    assert "cannot exec into a container in a completed pod; current phase is Succeeded" in (
        done.err
    )
    await apply_manifests(kubectl, [TESTING / "ubuntu_sciencedata.yaml"])
    await wait_ready(kubectl, "ubuntu")
    wrong = await kubectl.fails("exec", "ubuntu", "-c", "nope", "--", "true")
    assert "container nope is not valid for pod ubuntu" in wrong.err


# ----------------------------------------------------------------------------- 6. logs


async def test_logs_print_catalogue_text(kubectl: Kubectl) -> None:
    files = [TESTING / f for f in ("ubuntu_sciencedata.yaml", "test_fail_start.yaml")]
    await apply_manifests(kubectl, files)
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("nopull", "example/does-not-exist:1"))
    await wait_ready(kubectl, "ubuntu")
    await kubectl.ok(
        "wait", "--for=jsonpath={.status.phase}=Failed", "pod/test-fail-start", "--timeout=10s"
    )
    for path in files:
        pod = load(path)
        name, image = pod["metadata"]["name"], pod["spec"]["containers"][0]["image"]
        expected = render(catalogue_entry(image)["logs"], name, "")
        assert expected
        assert await kubectl.ok("logs", name) == expected
        assert await kubectl.ok("logs", name, "--tail=1") == expected.splitlines(True)[-1]
    stamped = await kubectl.ok("logs", "ubuntu", "--timestamps")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z .*\n", stamped), stamped
    previous = await kubectl.fails("logs", "ubuntu", "--previous")
    assert previous.err == (
        'Error from server (BadRequest): previous terminated container "ubuntu-jammy" in pod '
        '"ubuntu" not found\n'
    )
    with trio.fail_after(10):
        while True:
            waiting = await kubectl.fails("logs", "nopull")
            if "ContainerCreating" not in waiting.err:
                break
    assert waiting.err in {
        'Error from server (BadRequest): container "main" in pod "nopull" is waiting to start: '
        f"{why}\n"
        for why in ("image can't be pulled", "trying and failing to pull image")
    }


# ----------------------------------------------------------------------------- 7. delete


async def test_delete_pod_waits_until_gone(kubectl: Kubectl, sim: SimCluster) -> None:
    await apply_manifests(kubectl, [TESTING / "ubuntu_sciencedata.yaml"])
    await wait_ready(kubectl, "ubuntu")
    out = await kubectl.ok("delete", "pod", "ubuntu")
    assert out.startswith('pod "ubuntu" deleted')
    gone = await kubectl.run("get", "pod", "ubuntu")
    assert (gone.code, gone.out) == (1, "")
    assert gone.err == 'Error from server (NotFound): pods "ubuntu" not found\n'
    killing = await kubectl.ok(
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=ubuntu,reason=Killing",
        "-o",
        "jsonpath={.items[*].message}",
    )
    assert killing == "Stopping container ubuntu-jammy"


# ----------------------------------------------------------------------------- 8. svc/pvc/pv/ing

INFRA = """\
apiVersion: v1
kind: Service
metadata:
  name: ubuntu-ssh
spec:
  type: NodePort
  selector: {app: ubuntu}
  ports:
  - port: 22
    targetPort: 22
    protocol: TCP
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: sd-pv
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: test, name: sd-pvc}
  nfs: {server: 10.0.0.1, path: /export/sciencedata}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: sd-pvc
spec:
  accessModes: [ReadWriteMany]
  storageClassName: ""
  volumeName: sd-pv
  resources:
    requests: {storage: 10Gi}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ubuntu-web
spec:
  rules:
  - host: ubuntu.example.org
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: ubuntu-ssh
            port: {number: 22}
---
apiVersion: v1
kind: Pod
metadata:
  name: sd-user
  labels: {app: ubuntu}
spec:
  containers:
  - name: main
    image: LOCALREGISTRY/ubuntu_jammy_sciencedata_testing
    volumeMounts:
    - {name: sciencedata, mountPath: /mnt/sciencedata}
  volumes:
  - name: sciencedata
    persistentVolumeClaim: {claimName: sd-pvc}
"""


async def test_services_volumes_ingresses_and_events(kubectl: Kubectl, tmp_path: Path) -> None:
    infra = tmp_path / "infra.yaml"
    infra.write_text(INFRA)
    out = await kubectl.ok("apply", "-f", str(infra))
    assert out.splitlines() == [
        "service/ubuntu-ssh created",
        "persistentvolume/sd-pv created",
        "persistentvolumeclaim/sd-pvc created",
        "ingress.networking.k8s.io/ubuntu-web created",
        "pod/sd-user created",
    ]
    bound = await kubectl.ok(
        "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/sd-pvc", "--timeout=10s"
    )
    assert bound == "persistentvolumeclaim/sd-pvc condition met\n"
    await wait_ready(kubectl, "sd-user")

    table = await kubectl.ok("get", "svc,pvc,pv,ing,events")
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    svc = rows["service/ubuntu-ssh"]
    assert svc[1] == "NodePort"
    assert re.fullmatch(r"10\.96\.\d+\.\d+", svc[2])
    port = re.fullmatch(r"22:(\d+)/TCP", svc[4])
    assert port
    assert 30000 <= int(port.group(1)) <= 32767
    assert rows["persistentvolumeclaim/sd-pvc"][1:5] == ["Bound", "sd-pv", "10Gi", "RWX"]
    assert rows["persistentvolume/sd-pv"][1:6] == ["10Gi", "RWX", "Retain", "Bound", "test/sd-pvc"]
    assert rows["ingress.networking.k8s.io/ubuntu-web"][1:3] == ["<none>", "ubuntu.example.org"]
    assert "Successfully assigned test/sd-user to node-" in table
    node_port = await kubectl.ok(
        "get", "svc", "ubuntu-ssh", "-o", "jsonpath={.spec.ports[0].nodePort}"
    )
    assert node_port == port.group(1)

    claim = await kubectl.ok("describe", "pvc", "sd-pvc")
    assert re.search(r"^Status:\s+Bound$", claim, re.M)
    assert re.search(r"^Used By:\s+sd-user$", claim, re.M)
    volume = await kubectl.ok("describe", "pv", "sd-pv")
    assert re.search(r"^\s+Type:\s+NFS ", volume, re.M)
    assert re.search(r"^Claim:\s+test/sd-pvc$", volume, re.M)
    # The pod behind the service shows through its EndpointSlice.
    pod_ip = await kubectl.ok("get", "pod", "sd-user", "-o", "jsonpath={.status.podIP}")
    service = await kubectl.ok("describe", "svc", "ubuntu-ssh")
    assert re.search(rf"^NodePort:\s+<unset>\s+{port.group(1)}/TCP$", service, re.M)
    assert re.search(rf"^Endpoints:\s+{re.escape(pod_ip)}:22$", service, re.M), service
    ingress = await kubectl.ok("describe", "ing", "ubuntu-web")
    assert re.search(rf"^\s+/\s+ubuntu-ssh:22 \({re.escape(pod_ip)}:22\)$", ingress, re.M), ingress
    slices = await kubectl.ok(
        "get", "endpointslices", "-l", "kubernetes.io/service-name=ubuntu-ssh"
    )
    header, row = slices.splitlines()
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row.split()[0].startswith("ubuntu-ssh-")
    assert row.split()[1:4] == ["IPv4", "22", pod_ip]

    # delete -f removes everything (the claim waits for its pod, the volume for its claim).
    deleted = await kubectl.ok("delete", "-f", str(infra))
    assert len(deleted.splitlines()) == 5
    left = await kubectl.run("get", "svc,pvc,pv,ing,pods", "-o", "name")
    assert (left.code, left.out) == (0, "")


# ----------------------------------------------------------------------------- 9. errors


async def test_errors_use_the_apiservers_wording(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(pod_yaml("twice", "example/app"))
    assert await kubectl.ok("create", "-f", str(manifest)) == "pod/twice created\n"
    again = await kubectl.run("create", "-f", str(manifest))
    assert again.code == 1
    assert again.err == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": '
        'pods "twice" already exists\n'
    )
    for args, message in [
        (("get", "pod", "nope"), 'pods "nope" not found'),
        (("get", "svc", "nope"), 'services "nope" not found'),
        (("get", "pvc", "nope"), 'persistentvolumeclaims "nope" not found'),
        (("get", "pv", "nope"), 'persistentvolumes "nope" not found'),
        (("get", "ing", "nope"), 'ingresses.networking.k8s.io "nope" not found'),
        (("delete", "pod", "nope"), 'pods "nope" not found'),
    ]:
        result = await kubectl.run(*args)
        assert (result.code, result.err) == (1, f"Error from server (NotFound): {message}\n"), str(
            result
        )

    logs = await kubectl.run("logs", "nope")  # kubectl words this one itself
    assert (logs.code, logs.err) == (
        1,
        f'error: error from server (NotFound): pods "nope" not found in namespace "{NS}"\n',
    )

    long_name = "jupyter-" + "x" * 52 + "-ssh"  # 64 characters
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": long_name},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 22}]},
    }
    result = await kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(service))
    assert result.code == 1
    assert result.err.strip() == (
        f'The Service "{long_name}" is invalid: metadata.name: Invalid value: "{long_name}": '
        "must be no more than 63 characters"
    )
    pod = yaml.safe_load(pod_yaml("emailed", "example/app", user="someone@example.org"))
    result = await kubectl.run("create", "-f", "-", stdin=yaml.safe_dump(pod))
    assert result.code == 1
    assert result.err.strip() == (
        'The Pod "emailed" is invalid: metadata.labels: Invalid value: "someone@example.org": '
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    )
    bad_field = await kubectl.fails("get", "pods", "--field-selector", "spec.image=x")
    assert bad_field.err.strip().endswith("field label not supported: spec.image")


# ----------------------------------------------------------------------------- 10. more


async def test_get_yaml_wide_and_describe(kubectl: Kubectl) -> None:
    await apply_manifests(
        kubectl, [TESTING / "ubuntu_sciencedata.yaml", TESTING / "test_fail_start.yaml"]
    )
    await wait_ready(kubectl, "ubuntu")
    await kubectl.ok(
        "wait", "--for=jsonpath={.status.phase}=Failed", "pod/test-fail-start", "--timeout=10s"
    )
    pod = yaml.safe_load(await kubectl.ok("get", "pod", "ubuntu", "-o", "yaml"))
    assert (pod["kind"], pod["apiVersion"], pod["metadata"]["name"]) == ("Pod", "v1", "ubuntu")
    assert pod["metadata"]["namespace"] == NS
    assert "kubectl.kubernetes.io/last-applied-configuration" in pod["metadata"]["annotations"]
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["containers"][0]["imagePullPolicy"] == "Always"  # untagged image
    assert spec["nodeName"].startswith("node-")
    status = pod["status"]
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }

    wide = (await kubectl.ok("get", "pod", "ubuntu", "-o", "wide")).splitlines()
    assert wide[0].split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    assert wide[1].split()[5:7] == [status["podIP"], spec["nodeName"]]

    text = await kubectl.ok("describe", "pod", "ubuntu")
    for pattern in (
        r"^Name:\s+ubuntu$",
        rf"^Namespace:\s+{NS}$",
        rf"^Node:\s+{spec['nodeName']}/{re.escape(status['hostIP'])}$",
        r"^Labels:\s+app=ubuntu$",
        r"^Status:\s+Running$",
        rf"^IP:\s+{re.escape(status['podIP'])}$",
        r"^\s+State:\s+Running$",
        r"^\s+Ready:\s+True$",
        r"^\s+Restart Count:\s+0$",
        r"^\s+USERNAME:\s+root$",
        r"^QoS Class:\s+BestEffort$",
        r"^\s+Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned test/ubuntu",
        r"^\s+Normal\s+Started\s+\S+\s+kubelet\s+.*Started container ubuntu-jammy$",
    ):
        assert re.search(pattern, text, re.M), f"{pattern!r} not in:\n{text}"

    failed = await kubectl.ok("describe", "pod", "test-fail-start")
    for pattern in (
        r"^Status:\s+Failed$",
        r"^\s+State:\s+Terminated$",
        r"^\s+Reason:\s+Error$",
        r"^\s+Exit Code:\s+1$",
        r"^\s+Ready:\s+False$",
    ):
        assert re.search(pattern, failed, re.M), f"{pattern!r} not in:\n{failed}"
    conditions = await kubectl.json("get", "pod", "test-fail-start")
    ready = {c["type"]: c for c in conditions["status"]["conditions"]}
    assert (ready["Ready"]["status"], ready["Ready"].get("reason")) == ("False", "PodFailed")
    assert ready["ContainersReady"].get("reason") == "PodFailed"


async def test_label_annotate_and_patch(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("box", "example/app", app="box"))
    assert await kubectl.ok("label", "pod", "box", "tier=web") == "pod/box labeled\n"
    clash = await kubectl.fails("label", "pod", "box", "tier=db")
    assert "'tier' already has a value (web), and --overwrite is false" in clash.err
    await kubectl.ok("label", "pod", "box", "tier=db", "--overwrite")
    assert (await kubectl.ok("get", "pods", "-l", "tier=db", "-o", "name")) == "pod/box\n"
    assert await kubectl.ok("annotate", "pod", "box", "note=hello") == "pod/box annotated\n"
    merge = await kubectl.ok(
        "patch", "pod", "box", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
    )
    assert merge == "pod/box patched\n"
    await kubectl.ok("patch", "pod", "box", "-p", '{"metadata":{"labels":{"s":"2"}}}')
    await kubectl.ok(
        "patch",
        "pod",
        "box",
        "--type",
        "json",
        "-p",
        '[{"op":"add","path":"/metadata/labels/j","value":"3"}]',
    )
    await kubectl.ok("label", "pod", "box", "app-")
    meta = (await kubectl.json("get", "pod", "box"))["metadata"]
    assert meta["labels"] == {"tier": "db", "m": "1", "s": "2", "j": "3"}
    assert meta["annotations"]["note"] == "hello"
    unchanged = await kubectl.ok(
        "patch", "pod", "box", "--type", "merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
    )
    assert unchanged == "pod/box patched (no change)\n"
    bad = await kubectl.fails(
        "patch", "pod", "box", "--type", "merge", "-p", '{"metadata":{"labels":{"bad":"a@b"}}}'
    )
    assert 'The Pod "box" is invalid: metadata.labels: Invalid value: "a@b"' in bad.err


async def test_events_all_namespaces_and_discovery(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("one", "example/app"))
    await kubectl.ok("apply", "-f", "-", stdin=pod_yaml("two", "example/app"))
    await wait_ready(kubectl, "one", "two")
    events = await kubectl.json("get", "events", "--field-selector", "involvedObject.name=one")
    reasons = [e["reason"] for e in events["items"]]
    assert {e["involvedObject"]["name"] for e in events["items"]} == {"one"}
    assert reasons[0] == "Scheduled"
    assert {"Pulling", "Pulled", "Created", "Started"} <= set(reasons)
    table = await kubectl.ok("get", "events", "--field-selector", "involvedObject.name=two")
    assert table.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert all(" pod/two " in line for line in table.splitlines()[1:])

    everywhere = (await kubectl.ok("get", "pods", "-A")).splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert sorted(line.split()[:2][1] for line in everywhere[1:]) == ["one", "two"]
    running = await kubectl.ok(
        "get", "pods", "--field-selector", "status.phase=Running", "-o", "name"
    )
    assert running.split() == ["pod/one", "pod/two"]

    resources_table = (await kubectl.ok("api-resources")).splitlines()
    found: dict[str, list[str]] = {}
    for line in resources_table[1:]:  # the core group comes first: its "pods", not metrics'
        found.setdefault(line.split()[0], line.split())
    assert found["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert any(
        line.split()[1:] == ["metrics.k8s.io/v1beta1", "true", "PodMetrics"]
        for line in resources_table
        if line.startswith("pods ")
    )
    assert found["services"][1:] == ["svc", "v1", "true", "Service"]
    assert found["persistentvolumes"][1:] == ["pv", "v1", "false", "PersistentVolume"]
    assert found["ingresses"][1:] == ["ing", "networking.k8s.io/v1", "true", "Ingress"]
    nodes = (await kubectl.ok("get", "nodes")).splitlines()
    assert [line.split()[1] for line in nodes[1:]] == ["Ready"] * (len(nodes) - 1)
    node = await kubectl.ok("describe", "node", nodes[1].split()[0])
    assert re.search(r"^\s+Ready\s+True\s", node, re.M)
    assert re.search(r"^\s+MemoryPressure\s+False\s", node, re.M)
    assert "01 Jan 0001" not in node  # the conditions carry their times


async def test_diff_apply_changes_and_replace(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "ubuntu.yaml"
    pod = load(TESTING / "ubuntu_sciencedata.yaml")
    manifest.write_text(yaml.safe_dump(pod))
    assert await kubectl.ok("apply", "-f", str(manifest)) == "pod/ubuntu created\n"
    same = await kubectl.run("diff", "-f", str(manifest))
    assert (same.code, same.out) == (0, "")
    pod["metadata"]["labels"]["tier"] = "web"
    manifest.write_text(yaml.safe_dump(pod))
    changed = await kubectl.run("diff", "-f", str(manifest))  # a server-side dry run
    assert changed.code == 1, str(changed)
    assert "+    tier: web" in changed.out
    assert await kubectl.ok("get", "pods", "-l", "tier=web", "-o", "name") == ""
    assert await kubectl.ok("apply", "-f", str(manifest)) == "pod/ubuntu configured\n"
    assert await kubectl.ok("get", "pods", "-l", "tier=web", "-o", "name") == "pod/ubuntu\n"

    # replace sends the manifest as is: the server defaults it, and a pod's spec is immutable.
    pod["metadata"]["labels"]["tier"] = "db"
    manifest.write_text(yaml.safe_dump(pod))
    immutable = await kubectl.fails("replace", "-f", str(manifest))
    assert immutable.err.startswith(
        'The Pod "ubuntu" is invalid: spec: Forbidden: pod updates may not change fields other '
        "than `spec.containers[*].image`"
    ), immutable.err
    live = tmp_path / "live.yaml"
    live.write_text(await kubectl.ok("get", "pod", "ubuntu", "-o", "yaml"))
    current = yaml.safe_load(live.read_text())
    current["metadata"]["labels"]["tier"] = "db"
    live.write_text(yaml.safe_dump(current))
    assert await kubectl.ok("replace", "-f", str(live)) == "pod/ubuntu replaced\n"
    stale = await kubectl.fails("replace", "-f", str(live))  # its resourceVersion is old now
    assert stale.err == (
        f'Error from server (Conflict): error when replacing "{live}": Operation cannot be '
        'fulfilled on pods "ubuntu": the object has been modified; please apply your changes '
        "to the latest version and try again\n"
    )
    await kubectl.ok("delete", "pod", "ubuntu", "--wait=false")
    await kubectl.ok("wait", "--for=delete", "pod/ubuntu", "--timeout=10s")


async def test_delete_namespace_with_a_running_pod(kubectl: Kubectl) -> None:
    namespace = "other"
    manifest = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    assert (
        await kubectl.ok("apply", "-f", "-", stdin=manifest) == f"namespace/{namespace} created\n"
    )
    other = ("--namespace", namespace)
    await kubectl.ok(*other, "apply", "-f", "-", stdin=pod_yaml("p1", "example/app"))
    await kubectl.ok(*other, "wait", "--for=condition=Ready", "pod/p1", "--timeout=10s")
    # The kubelet's Killing event cannot be written in a terminating namespace: dropped, as
    # client-go's recorder does, and the cluster carries on.
    out = await kubectl.ok("delete", "namespace", namespace)
    assert out.startswith(f'namespace "{namespace}" deleted')
    gone = await kubectl.run("get", "namespace", namespace)
    assert gone.err == f'Error from server (NotFound): namespaces "{namespace}" not found\n'
    names = (await kubectl.ok("get", "namespaces", "-o", "name")).split()
    assert f"namespace/{NS}" in names
    assert f"namespace/{namespace}" not in names
