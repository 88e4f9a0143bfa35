"""Exec and logs for KWOK's fake pods, from the simulated cluster's image catalogue.

KWOK answers ``pods/exec`` and ``pods/log`` for the pods on its nodes (the apiserver reaches it
as their kubelet), but only by running the command *on this machine* or serving a file *of this
machine*, chosen per pod by a namespaced ``Exec`` / ``Logs`` object of its own API
(kwok.x-k8s.io). No container filesystem exists, so two pieces bridge the gap:

- ``agent``: watches the pods on KWOK's nodes and gives each an ``Exec`` that names, in the
  command's environment, a file with the container's files and env, and a ``Logs`` that points
  at a file with the catalogue's log text for that container. Both are owned by the pod, so
  the garbage collector removes them with it.
- ``shell``: what KWOK runs. KWOK finds a command by name on its own PATH, which starts with
  <state>/exec-bin, where every command of the simulated cluster's tiny shell (cat, head, sh,
  ...) is a stub that runs ``shell``: it runs the same tiny shell the simulated cluster runs
  over the container's files, which the agent rendered from the catalogue (``{pod_name}``,
  ``{uid}`` ... filled in), so a token copy reads the same bytes from either tier.

Limits (KWOK's): a command that exits non-zero reaches the client as an
``InternalError`` status, not ``NonZeroExitCode`` with the code; a command given by absolute
path (``/bin/cat``) runs the machine's own program; logs are a file, so ``follow`` ends at once.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

COMMANDS = ("cat", "head", "echo", "printenv", "env", "true", "false", "test", "sh", "bash")
ENV_CONTAINER = "USERPODS_KWOK_CONTAINER"  # the file with the container's files and env
KWOK_API = "/apis/kwok.x-k8s.io/v1alpha1"


# ---------------------------------------------------------------- shell (run by KWOK)


def shell(argv: list[str]) -> int:
    """Run one command line the way the simulated cluster's exec does, over the container's
    files as the agent rendered them. Only the tiny shell's own module is loaded (by path, not
    through the userpods package), so that an exec costs a Python start and no more."""
    import importlib.util

    container = json.loads(Path(os.environ[ENV_CONTAINER]).read_text())
    package = importlib.util.find_spec("userpods")
    if package is None or not package.submodule_search_locations:
        print("the userpods package is not installed", file=sys.stderr)
        return 126
    path = Path(next(iter(package.submodule_search_locations))) / "sim" / "shell.py"
    spec = importlib.util.spec_from_file_location("userpods_tiny_shell", path)
    assert spec is not None and spec.loader is not None
    tiny = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tiny  # dataclasses look their module up
    spec.loader.exec_module(tiny)
    result = tiny.run(argv, container["files"], container["env"])
    sys.stdout.buffer.write(result.stdout)
    sys.stderr.buffer.write(result.stderr)
    code: int = result.code
    return code


def write_stubs(directory: Path) -> Path:
    """One executable per shell command, each running ``shell`` with its own name."""
    directory.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve()
    for name in COMMANDS:
        stub = directory / name
        stub.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{here}" shell {name} "$@"\n')
        stub.chmod(0o755)
    return directory


# ---------------------------------------------------------------- agent


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        import base64
        import tempfile

        config = json.loads(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.url = cluster["server"]
        folder = Path(tempfile.mkdtemp(prefix="kwok-exec-agent-"))
        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            path = folder / key
            path.write_bytes(base64.b64decode(cluster.get(key) or user.get(key)))
            files[key] = str(path)
        self.context = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self.context.load_cert_chain(files["client-certificate-data"], files["client-key-data"])

    def open(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        return urllib.request.urlopen(request, context=self.context, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            with self.open(method, path, body) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


def _owned(pod: dict[str, Any], kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": spec,
    }


def _cri_log(text: str, when: str) -> str:
    """The text in the CRI log format KWOK reads (the kubelet's: time, stream, tag, line)."""
    stamp = (when or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())).replace("Z", ".000000000Z")
    return "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())


def _put(kube: Kube, resource: str, obj: dict[str, Any]) -> None:
    """Create ``obj``, or replace the one of a previous pod of the same name."""
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    base = f"{KWOK_API}/namespaces/{ns}/{resource}"
    status, body = kube.call("POST", base, obj)
    if status == 409:
        status, old = kube.call("GET", f"{base}/{name}")
        if status == 200:
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            status, body = kube.call("PUT", f"{base}/{name}", obj)
    if status not in (200, 201, 404):  # 404: the namespace went meanwhile
        print(f"kwok-exec-agent: {resource} {ns}/{name}: {status} {body}", file=sys.stderr)


def provide(kube: Kube, pod: dict[str, Any], data: Path) -> None:
    """The Exec and Logs objects that make exec and logs of ``pod`` answer from the catalogue,
    and the files they read: each container's files and env (rendered once, here), and its
    log text in the CRI format KWOK reads."""
    from userpods.sim import images

    meta, spec = pod["metadata"], pod["spec"]
    catalogue = images.Catalogue()
    execs, logs = [], []
    for c in spec.get("containers", []):
        env = {e["name"]: e.get("value", "") for e in c.get("env") or [] if "valueFrom" not in e}
        files, text = catalogue.lookup(c.get("image", "")).render(
            pod_name=meta["name"], namespace=meta["namespace"], uid=meta["uid"], env=env
        )
        stem = data / meta["namespace"] / f"{meta['name']}_{meta['uid']}_{c['name']}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        contents = stem.with_suffix(".json")
        contents.write_text(json.dumps({"files": files, "env": env}))
        log = stem.with_suffix(".log")
        log.write_text(_cri_log(text, meta.get("creationTimestamp", "")))
        execs.append(
            {
                "containers": [c["name"]],
                "local": {"envs": [{"name": ENV_CONTAINER, "value": str(contents)}]},
            }
        )
        logs.append({"containers": [c["name"]], "logsFile": str(log), "follow": False})
    _put(kube, "execs", _owned(pod, "Exec", {"execs": execs}))
    _put(kube, "logs", _owned(pod, "Logs", {"logs": logs}))


def agent(kubeconfig: Path, data: Path) -> None:
    """List and watch pods, forever; every scheduled, live pod gets its Exec and Logs once."""
    kube = Kube(kubeconfig)
    done: set[str] = set()

    def handle(pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta["uid"] in done or not pod["spec"].get("nodeName"):
            return
        if meta.get("deletionTimestamp"):
            return
        provide(kube, pod, data)
        done.add(meta["uid"])

    while True:
        try:
            status, listed = kube.call("GET", "/api/v1/pods")
            if status != 200:
                raise OSError(f"list pods: {status}")
            for pod in listed["items"]:
                handle(pod)
            version = listed["metadata"]["resourceVersion"]
            path = f"/api/v1/pods?watch=1&resourceVersion={version}&timeoutSeconds=300"
            with kube.open("GET", path, timeout=330) as stream:
                for line in stream:
                    event = json.loads(line)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        handle(event["object"])
                    elif event["type"] == "ERROR":
                        break  # expired: list again
        except (OSError, ValueError, KeyError) as exc:
            print(f"kwok-exec-agent: {exc!r}; listing again", file=sys.stderr)
            time.sleep(1)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "shell":
        return shell(sys.argv[2:])
    parser = argparse.ArgumentParser(description="exec and logs for KWOK's pods")
    parser.add_argument("verb", choices=["agent"])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="where the pods' files go")
    args = parser.parse_args()
    agent(args.kubeconfig, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
