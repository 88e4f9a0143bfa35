"""A real Kubernetes control plane on loopback, built here from pinned Go modules.

    python tools/controlplane.py build           # once per machine (cached under .cache/)
    python tools/controlplane.py up [--nodes 3]  # start; writes <state>/admin.kubeconfig
    python tools/controlplane.py down            # SIGTERM every component, then wait
    python tools/controlplane.py run -- CMD...   # up, run CMD with KUBECONFIG set, down

Why: every claim the project makes about Kubernetes was checked only against its own simulated
cluster. kube-apiserver, kube-controller-manager and kube-scheduler (k8s.io/kubernetes), etcd
and KWOK (fake nodes and kubelets) are the referee. They are built from the Go modules pinned in
tools/controlplane/go.mod, so the version is the same on every machine; no source of theirs is
kept in the repository. The build runs at the lowest priority on at most two packages at once,
as other work shares the machine's two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from controlplane_build import BINARIES, CACHE, Failure, bin_dir, build
from controlplane_procs import Api, Processes, alive, down, etcd_healthy, free_port, healthz, wait

DEFAULT_STATE = CACHE / "run"
POD_CIDR = "10.244.0.0/16"
KWOK_CRDS = {"execs.kwok.x-k8s.io", "logs.kwok.x-k8s.io"}


def up(state: Path, nodes: int, pod_cidr: str, timeout: float) -> None:
    """Start etcd, the apiserver, the controller manager, the scheduler, KWOK with its nodes
    and the exec agent; return once the apiserver is ready, the nodes are Ready and the
    controllers answer."""
    # These need the project's dependencies (trustme, pyyaml, the simulated cluster's catalogue).
    import controlplane_components as cmd
    import controlplane_exec as exec_
    import controlplane_kwok as kwok
    import controlplane_pki as pki_

    binaries = bin_dir()
    missing = [b for b in BINARIES if not (binaries / b).is_file()]
    if missing:
        raise Failure(f"not built: {', '.join(missing)} (run `python tools/controlplane.py build`)")
    record = state / "pids.json"
    if record.is_file() and any(alive(int(e["pid"])) for e in json.loads(record.read_text())):
        raise Failure(f"a control plane is already running in {state}: `down` it first")
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    started = time.monotonic()
    deadline = started + timeout
    pki = pki_.write_pki(state / "pki")
    ports = cmd.Ports(*(free_port() for _ in range(6)))
    url = f"https://127.0.0.1:{ports.apiserver}"
    procs = Processes(state)
    try:
        procs.start("etcd", cmd.etcd(binaries, state, ports))
        wait("etcd", lambda: etcd_healthy(ports.etcd), procs, deadline)
        procs.start("kube-apiserver", cmd.apiserver(binaries, state, ports, pki))
        api = Api(url, pki.ca, pki.cert("admin"), pki.key("admin"))
        wait(
            "the apiserver's /readyz", lambda: api.call("GET", "/readyz")[0] == 200, procs, deadline
        )
        ready_at = time.monotonic()
        configs = {
            stem: pki_.write_kubeconfig(state / f"{stem}.kubeconfig", pki, url, stem)
            for stem in ("admin", "kube-controller-manager", "kube-scheduler", "kwok")
        }
        for node in kwok.nodes(nodes, pod_cidr):
            api.create("/api/v1/nodes", node)
        for crd in kwok.crds(binaries / "crds"):
            api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        procs.start(
            "kube-controller-manager",
            cmd.controller_manager(binaries, state, ports, pki, configs["kube-controller-manager"]),
        )
        procs.start(
            "kube-scheduler", cmd.scheduler(binaries, state, ports, configs["kube-scheduler"])
        )
        wait("KWOK's CRDs", lambda: api.crds_established(KWOK_CRDS), procs, deadline)
        config = kwok.write_config(
            state / "kwok.yaml",
            server_port=ports.kwok,
            cert=pki.cert("kwok-server"),
            key=pki.key("kwok-server"),
            cidr=pod_cidr,
        )
        stubs = exec_.write_stubs(state / "exec-bin")
        procs.start(
            "kwok",
            cmd.kwok(binaries, configs["kwok"], config),
            # KWOK runs exec's commands from its own PATH: the catalogue's shell comes first.
            env={"KWOK_WORKDIR": str(state / "kwok"), "PATH": f"{stubs}:{os.environ['PATH']}"},
        )
        agent = [sys.executable, str(Path(exec_.__file__).resolve()), "agent"]
        procs.start(
            "kwok-exec-agent",
            [*agent, f"--kubeconfig={configs['kwok']}", f"--data={state / 'pods'}"],
        )
        wait(
            "KWOK's nodes to be Ready and untainted",
            lambda: api.nodes_ready(nodes),
            procs,
            deadline,
        )
        wait(
            "the service-account controller (default/default)",
            lambda: api.call("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            procs,
            deadline,
        )
        wait("the controller manager", lambda: healthz(ports.controller_manager), procs, deadline)
        wait("the scheduler", lambda: healthz(ports.scheduler), procs, deadline)
    except BaseException:
        down(state)
        raise
    total = time.monotonic() - started
    print(
        f"controlplane: up in {total:.1f} s (apiserver ready after {ready_at - started:.1f} s), "
        f"{nodes} KWOK nodes; KUBECONFIG={configs['admin']}"
    )


def run(state: Path, nodes: int, pod_cidr: str, timeout: float, command: list[str]) -> int:
    """Run ``command`` with the control plane up and KUBECONFIG pointing at it; always tear
    it down afterwards (also on SIGTERM, as CI's time limit sends)."""
    if not command:
        raise Failure("run: no command given (run -- CMD ARGS...)")

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    up(state, nodes, pod_cidr, timeout)
    try:
        env = {
            **os.environ,
            "KUBECONFIG": str(state / "admin.kubeconfig"),
            "USERPODS_CLUSTER_POD_CIDR": pod_cidr,
        }
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        down(state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("build", help="build the binaries (skipped when present)")
    b.add_argument("--force", action="store_true", help="rebuild even if present")
    for verb in ("up", "run"):
        p = sub.add_parser(verb)
        p.add_argument("--state", type=Path, default=DEFAULT_STATE)
        p.add_argument("--nodes", type=int, default=3)
        p.add_argument("--pod-cidr", default=POD_CIDR)
        p.add_argument("--timeout", type=float, default=180.0, help="seconds to come up")
        if verb == "run":
            p.add_argument("command", nargs=argparse.REMAINDER)
    d = sub.add_parser("down")
    d.add_argument("--state", type=Path, default=DEFAULT_STATE)
    sub.add_parser("bin-dir", help="print where the binaries are")
    args = parser.parse_args(argv)
    try:
        if args.verb == "build":
            build(force=args.force)
        elif args.verb == "up":
            up(args.state.resolve(), args.nodes, args.pod_cidr, args.timeout)
        elif args.verb == "run":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            return run(args.state.resolve(), args.nodes, args.pod_cidr, args.timeout, command)
        elif args.verb == "down":
            down(args.state.resolve())
        else:
            print(bin_dir())
    except Failure as exc:
        print(f"controlplane: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
