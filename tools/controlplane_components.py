"""The command lines of the loopback control plane's components (part of tools/controlplane.py).

Everything listens on 127.0.0.1 only, on ports chosen free at start. The choices that make it
a referee for the daemon are the issue's: RBAC (with the Node authorizer), the admission plugins
hardened clusters run (OwnerReferencesPermissionEnforcement among them), and the controllers a
pod-spawning backend meets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane_pki import Pki

SERVICE_CIDR = "10.96.0.0/12"
# The controllers a pod-spawning backend meets (the list), plus those without which
# its objects would hang: PVC/PV protection finalizers, the node lifecycle (it lifts the
# not-ready taint that admission puts on new nodes), root CA publishing, role aggregation.
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "endpointslice-controller",
    "node-lifecycle-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
)
# On top of the apiserver's default set (which has NamespaceLifecycle, ServiceAccount and
# PodSecurity already; naming them keeps them on whatever the defaults become).
ADMISSION = (
    "NamespaceLifecycle",
    "ServiceAccount",
    "PodSecurity",
    "OwnerReferencesPermissionEnforcement",
    "NodeRestriction",
)


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int


def etcd(binaries: Path, state: Path, ports: Ports) -> list[str]:
    client, peer = f"http://127.0.0.1:{ports.etcd}", f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binaries / "etcd"),
        "--name=controlplane",
        f"--data-dir={state / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=controlplane={peer}",
        "--unsafe-no-fsync",  # a throwaway store: durability buys nothing here
        "--quota-backend-bytes=1073741824",
        "--log-level=warn",
    ]


def apiserver(binaries: Path, state: Path, ports: Ports, pki: Pki) -> list[str]:
    return [
        str(binaries / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca}",
        f"--service-account-key-file={pki.path('sa.pub')}",
        f"--service-account-signing-key-file={pki.key('sa')}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        f"--enable-admission-plugins={','.join(ADMISSION)}",
        "--allow-privileged=true",
        # exec and logs go to the node's kubelet endpoint: KWOK's server, with a certificate
        # of this CA for 127.0.0.1 (verified), and this client certificate.
        f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
        f"--kubelet-certificate-authority={pki.ca}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--cert-dir={state / 'apiserver-certs'}",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager(
    binaries: Path, state: Path, ports: Ports, pki: Pki, kubeconfig: Path
) -> list[str]:
    return [
        str(binaries / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={state / 'kcm-certs'}",
        f"--controllers={','.join(CONTROLLERS)}",
        # Each controller under its own service account, with the bootstrap policy's rights.
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.key('sa')}",
        f"--root-ca-file={pki.ca}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--leader-elect=false",
        "--v=1",
    ]


def scheduler(binaries: Path, state: Path, ports: Ports, kubeconfig: Path) -> list[str]:
    return [
        str(binaries / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        f"--cert-dir={state / 'scheduler-certs'}",
        "--leader-elect=false",
        "--v=1",
    ]


def kwok(binaries: Path, kubeconfig: Path, config: Path) -> list[str]:
    return [str(binaries / "kwok"), f"--kubeconfig={kubeconfig}", f"--config={config}"]
