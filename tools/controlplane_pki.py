"""The certificates, keys and kubeconfigs of the loopback control plane (tools/controlplane.py).

A real apiserver authenticates its clients by certificate and signs service-account tokens with
a key of its own, so every start makes a fresh CA, a serving certificate per server, a client
certificate per component (its user and groups are the certificate's CN and O, which is what
the apiserver's RBAC bootstrap policy grants rights to) and a service-account key pair. trustme
(a dependency of the project already) makes the CA and leaf certificates; its cryptography makes
the RSA key that signs service-account tokens.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Where the apiserver is reached in-cluster (its first service IP) and from here.
APISERVER_NAMES = (
    "localhost",
    "127.0.0.1",
    "::1",
    "10.96.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

# Client identities: file stem -> (user, group). The groups are the bootstrap policy's.
CLIENTS = {
    "admin": ("kubernetes-admin", "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", ""),
    "kube-scheduler": ("system:kube-scheduler", ""),
    # KWOK plays every node's kubelet: it patches pod and node status, deletes pods, writes
    # events and leases. One identity with full rights stands in for the node identities.
    "kwok": ("kwok-controller", "system:masters"),
    # The apiserver's identity towards kubelets (here KWOK's server) for exec and logs.
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}


@dataclass(frozen=True)
class Pki:
    """Paths of the files written by :func:`write_pki`."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca(self) -> Path:
        return self.path("ca.crt")

    def cert(self, stem: str) -> Path:
        return self.path(f"{stem}.crt")

    def key(self, stem: str) -> Path:
        return self.path(f"{stem}.key")


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def write_pki(directory: Path) -> Pki:
    """A fresh CA, serving certificates for the apiserver and KWOK, client certificates for
    every component, and the service-account signing key pair, all under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    ca = trustme.CA(organization_name="userpods loopback control plane")
    _write(pki.ca, ca.cert_pem.bytes())
    servers = {"apiserver": APISERVER_NAMES, "kwok-server": ("127.0.0.1", "localhost")}
    for stem, names in servers.items():
        leaf = ca.issue_cert(*names, common_name=stem)
        _write(pki.cert(stem), leaf.cert_chain_pems[0].bytes())
        _write(pki.key(stem), leaf.private_key_pem.bytes())
    for stem, (user, group) in CLIENTS.items():
        # An empty subjectAltName extension is malformed, so each names a dummy host too.
        leaf = ca.issue_cert(
            f"{stem}.client.invalid", common_name=user, organization_name=group or user
        )
        _write(pki.cert(stem), leaf.cert_chain_pems[0].bytes())
        _write(pki.key(stem), leaf.private_key_pem.bytes())
    signing = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(
        pki.key("sa"),
        signing.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write(
        pki.path("sa.pub"),
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return pki


def write_kubeconfig(path: Path, pki: Pki, server: str, stem: str) -> Path:
    """A kubeconfig for the client certificate ``stem``, with the CA and the key embedded, so
    the file alone is enough (JSON is YAML, so no YAML writer is needed)."""

    def data(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    user = CLIENTS[stem][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "controlplane",
                "cluster": {"server": server, "certificate-authority-data": data(pki.ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": data(pki.cert(stem)),
                    "client-key-data": data(pki.key(stem)),
                },
            }
        ],
        "contexts": [
            {"name": "controlplane", "context": {"cluster": "controlplane", "user": user}}
        ],
        "current-context": "controlplane",
        "preferences": {},
    }
    _write(path, json.dumps(config, indent=2).encode())
    return path
