"""Processes of the loopback control plane and the HTTP it needs to see them come up (part
of tools/controlplane.py).

Each component runs in its own session, logging to <state>/logs/<name>.log, its pid recorded
in <state>/pids.json so that `down` from another process finds and stops it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane_build import Failure


@dataclass
class Component:
    name: str
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _ours(pid: int, state: Path) -> bool:
    """Whether the pid is still one of the components (a pid may be reused after a crash):
    each names a file in the state directory on its command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(state) in cmdline


class Processes:
    """The components started in a state directory, recorded in <state>/pids.json so that
    `down` from another process finds them."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.record = state / "pids.json"
        self.started: list[Component] = []
        self.logs = state / "logs"

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # a ^C to the caller reaches them only through `down`
            )
        self.started.append(Component(name, proc.pid))
        self.record.write_text(json.dumps([c.__dict__ for c in self.started]))

    def check(self) -> None:
        for c in self.started:
            if not alive(c.pid):
                tail = (self.logs / f"{c.name}.log").read_text(errors="replace")[-3000:]
                raise Failure(f"{c.name} exited; the end of its log:\n{tail}")


def down(state: Path, grace: float = 20.0) -> None:
    """SIGTERM the components in the reverse order of their start, each given ``grace``
    seconds to exit before SIGKILL."""
    record = state / "pids.json"
    if not record.is_file():
        print(f"controlplane: nothing running in {state}")
        return
    for entry in reversed(json.loads(record.read_text())):
        pid, name = int(entry["pid"]), entry["name"]
        if not (alive(pid) and _ours(pid, state)):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            print(f"controlplane: {name} did not stop in {grace:g}s: SIGKILL", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
        else:
            print(f"controlplane: {name} stopped")
    record.unlink()


# ---------------------------------------------------------------- talking to the apiserver


class Api:
    def __init__(self, url: str, ca: Path, cert: Path, key: Path) -> None:
        self.url = url
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as reply:
                text = reply.read().decode()
                status = reply.status
        except urllib.error.HTTPError as err:
            text, status = err.read().decode(errors="replace"), err.code
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def create(self, path: str, obj: dict[str, Any]) -> None:
        status, body = self.call("POST", path, obj)
        if status != 201:
            raise Failure(f"creating {obj['metadata']['name']}: {status} {body}")

    def crds_established(self, names: set[str]) -> bool:
        status, body = self.call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        established = {
            crd["metadata"]["name"]
            for crd in body.get("items", [])
            if _condition(crd, "Established")
        }
        return status == 200 and names <= established

    def nodes_ready(self, count: int) -> bool:
        """All ``count`` nodes Ready and without the node.kubernetes.io taints (not-ready,
        unreachable) that keep pods off them."""
        status, body = self.call("GET", "/api/v1/nodes")
        ready = [
            node
            for node in body.get("items", [])
            if _condition(node, "Ready")
            and not any(
                t["key"].startswith("node.kubernetes.io/") for t in node["spec"].get("taints") or []
            )
        ]
        return status == 200 and len(ready) == count


def _condition(obj: dict[str, Any], kind: str) -> bool:
    return any(
        c["type"] == kind and c["status"] == "True"
        for c in (obj.get("status") or {}).get("conditions") or []  # null while being made
    )


def healthz(port: int) -> bool:
    """A component's own /healthz (its serving certificate is self-signed: loopback only)."""
    insecure = ssl._create_unverified_context()
    url = f"https://127.0.0.1:{port}/healthz"
    with urllib.request.urlopen(url, context=insecure, timeout=2) as reply:
        return bool(reply.status == 200)


def wait(what: str, ready: Callable[[], bool], procs: Processes, deadline: float) -> None:
    """Poll ``ready()`` (there is no event to wait on from outside the processes) until it is
    true, failing at once if a component dies, and at the deadline."""
    while True:
        procs.check()
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, ssl.SSLError):
            pass
        if time.monotonic() > deadline:
            raise Failure(f"timed out waiting for {what}; logs in {procs.logs}")
        time.sleep(0.2)


def etcd_healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
        return bool(json.loads(reply.read()).get("health") == "true")
