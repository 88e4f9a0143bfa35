"""Building the loopback control plane's binaries from the Go modules pinned in
tools/controlplane/go.mod (part of tools/controlplane.py).

The binaries land in .cache/controlplane/<kubernetes version>/bin (git-ignored), with a stamp of
go.mod/go.sum, so a machine builds them once; $USERPODS_CONTROLPLANE_CACHE moves that directory
(a CI job in a fresh clone can keep it outside the clone). The build runs at the lowest
priority (nice 19) and on at most two packages at once (`go build -p 2`): other work shares
the machine's two cores. Go's own module and build caches stay where `go env` says.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "tools" / "controlplane"
CACHE = Path(os.environ.get("USERPODS_CONTROLPLANE_CACHE", ROOT / ".cache" / "controlplane"))
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok")
KUBE_PACKAGES = tuple(f"k8s.io/kubernetes/cmd/{name}" for name in BINARIES[:3])
ETCD_PACKAGE = "go.etcd.io/etcd/server/v3"
KWOK_PACKAGE = "sigs.k8s.io/kwok/cmd/kwok"
# KWOK's own API for exec and logs (kwok.x-k8s.io Exec, Logs): its CRDs, from the module.
KWOK_CRDS = ("kwok.x-k8s.io_execs.yaml", "kwok.x-k8s.io_logs.yaml")


class Failure(Exception):
    """Something that stops the tier; the message says what, and the exit code is 1."""


def kube_version() -> str:
    for line in (MODULE / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["require"] and parts[1:2] == ["k8s.io/kubernetes"]:
            return parts[2]
        if parts[:1] == ["k8s.io/kubernetes"]:
            return parts[1]
    raise Failure("tools/controlplane/go.mod does not pin k8s.io/kubernetes")


def bin_dir() -> Path:
    return CACHE / kube_version() / "bin"


def _ldflags(version: str) -> str:
    """The version stamp `make` would set, so /version and the components report it."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _stamp(version: str) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE / name).read_bytes())
    digest.update(_ldflags(version).encode())
    return digest.hexdigest()


def _du(path: Path) -> int:
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False)
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout else 0


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def build(force: bool = False) -> Path:
    """Build the five binaries into .cache/controlplane/<version>/bin, unless they are there
    from the same go.mod/go.sum already."""
    version = kube_version()
    target = bin_dir()
    stamp = _stamp(version)
    stamp_file = target / ".stamp"
    if (
        not force
        and stamp_file.is_file()
        and stamp_file.read_text() == stamp
        and all((target / b).is_file() for b in BINARIES)
        and all((target / "crds" / crd).is_file() for crd in KWOK_CRDS)
    ):
        print(f"controlplane: binaries for {version} present in {target}")
        return target
    go = shutil.which("go")
    if go is None:
        raise Failure("`go` is not on PATH: the control-plane tier builds its binaries with Go")
    env = dict(os.environ)
    caches = {
        name: Path(
            subprocess.run(
                [go, "env", name], capture_output=True, text=True, env=env, check=True
            ).stdout.strip()
        )
        for name in ("GOMODCACHE", "GOCACHE")
    }
    before = {name: _du(path) for name, path in caches.items()}
    partial = target.with_name("bin.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    low = ["nice", "-n", "19", go, "build", "-p", "2", "-trimpath"]
    steps = [
        [*low, "-ldflags", _ldflags(version), "-o", f"{partial}/", *KUBE_PACKAGES],
        [*low, "-ldflags", "-s -w", "-o", str(partial / "etcd"), ETCD_PACKAGE],
        [*low, "-ldflags", "-s -w", "-o", str(partial / "kwok"), KWOK_PACKAGE],
    ]
    started = time.monotonic()
    for step in steps:
        print("controlplane: " + " ".join(step), flush=True)
        done = subprocess.run(step, cwd=MODULE, env=env, check=False)
        if done.returncode != 0:
            raise Failure(f"build failed (exit {done.returncode}): {' '.join(step)}")
    kwok_dir = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (partial / "crds").mkdir()
    for crd in KWOK_CRDS:
        shutil.copy(Path(kwok_dir) / "kustomize" / "crd" / "bases" / crd, partial / "crds" / crd)
    minutes = (time.monotonic() - started) / 60
    (partial / ".stamp").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    sizes = ", ".join(
        f"{name} {_mib(_du(path))} (+{_mib(_du(path) - before[name])})"
        for name, path in caches.items()
    )
    print(
        f"controlplane: built {version} in {minutes:.1f} min; binaries {_mib(_du(target))}; {sizes}"
    )
    return target
