"""What the end-to-end tests of the resource plugins expect of a manifest, read from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from lightkube import AsyncClient
from lightkube.models.core_v1 import (
    NFSVolumeSource,
    ObjectReference,
    PersistentVolumeClaimSpec,
    PersistentVolumeSpec,
    VolumeResourceRequirements,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from tests.conftest import MANIFESTS
from tests.e2e.conftest import NAMESPACE, TEST_LABEL

# Images built to fail (the built-in catalogue: exit 1 / exit 0 at once).
FAILING = {"test_fail_start.yaml", "test_finish_entrypoint.yaml"}


@dataclass(frozen=True)
class Expected:
    file: str
    ssh: bool
    ingress_port: int | None
    tokens: tuple[str, ...]
    storage: bool
    ready: bool
    operator_claims: tuple[str, ...]


def expected(path: Path) -> Expected:
    pod = yaml.safe_load(path.read_text())
    meta, spec = pod["metadata"], pod["spec"]
    notes = meta.get("annotations") or {}
    containers = spec["containers"]
    declared = {v["name"] for v in spec.get("volumes") or []}
    mounts = [m for c in containers for m in c.get("volumeMounts") or []]
    claims = [
        (v.get("persistentVolumeClaim") or {}).get("claimName") for v in spec.get("volumes") or []
    ]
    local = [
        f"local-claim-{m['mountPath'].replace('/', '-')}"
        for m in mounts
        if m["name"] == "local" and "local" not in declared
    ]
    port = notes.get("sciencedata.dk/ingress-port")
    return Expected(
        file=path.name,
        ssh=any(p.get("containerPort") == 22 for c in containers for p in c.get("ports") or []),
        ingress_port=int(port) if port else None,
        tokens=tuple(
            k.strip() for k in notes.get("sciencedata.dk/copy-token", "").split(",") if k.strip()
        ),
        storage=any(m["name"] == "sciencedata" and "sciencedata" not in declared for m in mounts),
        ready=path.name not in FAILING,
        operator_claims=tuple(sorted({c for c in claims if c} | set(local))),
    )


def era_manifests(era: str) -> list[Path]:
    return sorted((MANIFESTS / era).glob("*.yaml"))


async def make_operator_claims(kube: AsyncClient, names: set[str]) -> None:
    """The claims an operator makes for manifests that mount shared software."""
    for name in sorted(names):
        volume = f"operator-{NAMESPACE}-{name}"  # volumes are cluster-wide
        await kube.create(
            PersistentVolume(
                metadata=ObjectMeta(name=volume, labels={TEST_LABEL: NAMESPACE}),
                spec=PersistentVolumeSpec(
                    accessModes=["ReadWriteMany"],
                    capacity={"storage": "1Gi"},
                    nfs=NFSVolumeSource(server="10.0.0.1", path=f"/software/{name}"),
                    claimRef=ObjectReference(namespace=NAMESPACE, name=name),
                ),
            )
        )
        await kube.create(
            PersistentVolumeClaim(
                metadata=ObjectMeta(name=name),
                spec=PersistentVolumeClaimSpec(
                    accessModes=["ReadWriteMany"],
                    volumeName=volume,
                    resources=VolumeResourceRequirements(requests={"storage": "1Gi"}),
                ),
            )
        )
