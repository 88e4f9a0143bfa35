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
def lint(session: nox.Session) -> None:
    """ruff, plus the layering contracts of DESIGN.md (import-linter)."""
    session.install("ruff>=0.15", "import-linter>=2.1")
    session.install("-e", ".")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("lint-imports")


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
    """Benchmarks that print figures (never timed assertions)."""
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/sim_pods.py", *session.posargs)
    session.run("python", "benchmarks/daemon_pods.py")
