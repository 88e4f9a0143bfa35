"""Development sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``demo``, ``bench``.

Arguments after ``--`` go to the underlying tool (pytest, the benchmark script, ``userpods``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit tests, simulated-cluster fidelity (with a real kubectl), e2e."""
    session.install("-e", ".[test]")
    # An operator's plugin, installed the way deployments install theirs (entry points).
    session.install("-e", "tests/plugin_example")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """The end-to-end suite against the real cluster in $KUBECONFIG (kind, k3s, the
    deployment's own), in a throwaway namespace that is removed afterwards.

    Set USERPODS_CLUSTER_POD_CIDR to the cluster's pod network. The cluster must run the
    images the test manifests name; tests that need the simulated cluster's internals skip.
    """
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig or not Path(kubeconfig).is_file():
        session.skip("no cluster: set KUBECONFIG to the kubeconfig of a real cluster")
    session.install("-e", ".[test]")
    session.install("-e", "tests/plugin_example")
    namespace = f"userpods-test-{secrets.token_hex(3)}"
    session.log(f"testing against {kubeconfig} in namespace {namespace}")
    session.run(
        "pytest",
        "tests/e2e",
        *session.posargs,
        env={"USERPODS_CLUSTER_KUBECONFIG": kubeconfig, "USERPODS_CLUSTER_NAMESPACE": namespace},
    )


@nox.session(python=PYTHON)
def controlplane(session: nox.Session) -> None:
    """The end-to-end suite against a real control plane on loopback: kube-apiserver,
    kube-controller-manager, kube-scheduler, etcd and KWOK's fake nodes, built here from the Go
    modules pinned in tools/controlplane/ (once per machine) by tools/controlplane.py.

    It fails, never skips, when the binaries cannot be built (no Go, a module not served): a
    tier that does not run must not look as if it passed.
    """
    session.install("-e", ".[test]")
    session.install("-e", "tests/plugin_example")
    script = "tools/controlplane.py"
    session.run("python", script, "build")
    state = Path(session.create_tmp()).resolve() / "controlplane"
    kubeconfig = state / "admin.kubeconfig"
    namespace = f"userpods-test-{secrets.token_hex(3)}"
    pod_cidr = "10.244.0.0/16"  # KWOK gives pods IPs from their node's slice of it
    session.log(f"testing against the control plane in {state}, namespace {namespace}")
    session.run(
        "python",
        script,
        "run",
        "--state",
        str(state),
        "--pod-cidr",
        pod_cidr,
        "--",
        "pytest",
        *(session.posargs or ["tests/e2e", "tests/differential"]),
        env={
            "USERPODS_CONTROLPLANE_KUBECONFIG": str(kubeconfig),  # the differential suite's
            "USERPODS_CLUSTER_KUBECONFIG": str(kubeconfig),
            "USERPODS_CLUSTER_NAMESPACE": namespace,
            "USERPODS_CLUSTER_POD_CIDR": pod_cidr,
        },
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, the layering contracts of DESIGN.md (import-linter) and no import cycle in src/."""
    session.install("ruff>=0.15", "import-linter>=2.1")
    session.install("-e", ".")
    paths = ("src", "tests", "benchmarks", "tools", "noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("lint-imports")
    # Any import cycle in src/ fails, and the cycle is printed (import-linter's graph, grimp).
    session.run("python", "tools/import_cycles.py", *IMPORT_CYCLES_ALLOWED)


# Cycles still tolerated (a stale allowance fails the check too): none. Add an
# ("--allow", PREFIX) pair only for a cycle someone is already breaking.
IMPORT_CYCLES_ALLOWED: tuple[str, ...] = ()


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("mypy>=1.15", "types-PyYAML")
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the service on the embedded simulated cluster (the README's first command)."""
    session.install("-e", ".")
    session.run("userpods", "serve", "--sim", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmark at scale (benchmarks/scale.py): one table of figures at 1,000 and 10,000
    pods, each with its target (never timed assertions). ``-- --sizes 200,1000`` for a quick
    run; benchmarks/sim_pods.py and daemon_pods.py remain for a small run of either alone."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/scale.py", *session.posargs)
