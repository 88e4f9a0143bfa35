"""Entries for the real kubectl's typed commands (they send protobuf), ``kubectl apply`` of a
changed Service (a strategic merge patch with ``$setElementOrder``), the websocket exec
handshake under each RBAC grant, and the run's cleanup.
"""

from __future__ import annotations

import json
from typing import Any

import trustme

from .corpus_api import PODS
from .model import Call, Ctx, Entry, Kubectl, Upgrade

_CA = trustme.CA()
_CERT = _CA.issue_cert("*.u.example.org")
_CERT_FILES: dict[str, str] = {}


def tls_files(ctx: Ctx) -> tuple[str, str]:
    """A certificate and key for ``create secret tls`` (kubectl checks the pair)."""
    if not _CERT_FILES:
        import tempfile

        folder = tempfile.mkdtemp(prefix="diff-tls-")
        _CERT_FILES["crt"] = f"{folder}/tls.crt"
        _CERT_FILES["key"] = f"{folder}/tls.key"
        _CERT.cert_chain_pems[0].write_to_path(_CERT_FILES["crt"])
        _CERT.private_key_pem.write_to_path(_CERT_FILES["key"])
    return _CERT_FILES["crt"], _CERT_FILES["key"]


def _svc(ports: list[dict[str, Any]]) -> Any:
    def build(ctx: Ctx) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "svc-apply", "namespace": ctx.ns},
                "spec": {"selector": {"app": "x"}, "ports": ports},
            }
        )

    return build


def kubectl() -> list[Entry]:
    secrets = "/api/v1/namespaces/{ns}/secrets"
    return [
        Kubectl(
            "kubectl-create-namespace",
            lambda c: ["create", "namespace", f"{c.ns}-k"],
            get=lambda c: f"/api/v1/namespaces/{c.ns}-k",
        ),
        Kubectl(
            "kubectl-create-secret-generic",
            lambda c: [
                "-n",
                c.ns,
                "create",
                "secret",
                "generic",
                "gen",
                "--from-literal=user=u1",
                "--from-literal=empty=",
            ],
            get=secrets + "/gen",
        ),
        Kubectl(
            "kubectl-create-secret-tls",
            lambda c: [
                "-n",
                c.ns,
                "create",
                "secret",
                "tls",
                "wildcard",
                f"--cert={tls_files(c)[0]}",
                f"--key={tls_files(c)[1]}",
            ],
            get=secrets + "/wildcard",
        ),
        Kubectl(
            "kubectl-create-secret-docker-registry",
            lambda c: [
                "-n",
                c.ns,
                "create",
                "secret",
                "docker-registry",
                "registry",
                "--docker-server=registry.example.org",
                "--docker-username=u",
                "--docker-password=p",
                "--docker-email=u@example.org",
            ],
            get=secrets + "/registry",
        ),
        Kubectl(
            "kubectl-create-configmap",
            lambda c: [
                "-n",
                c.ns,
                "create",
                "configmap",
                "settings",
                "--from-literal=a=1",
                "--from-literal=b=two",
            ],
            get="/api/v1/namespaces/{ns}/configmaps/settings",
        ),
        Kubectl(
            "kubectl-create-configmap-exists",
            lambda c: ["-n", c.ns, "create", "configmap", "settings", "--from-literal=a=1"],
        ),
        Kubectl(
            "kubectl-apply-service",
            ["apply", "-f", "-"],
            _svc([{"name": "ssh", "port": 22, "targetPort": 2222}, {"name": "http", "port": 80}]),
            get="/api/v1/namespaces/{ns}/services/svc-apply",
        ),
        Kubectl(
            "kubectl-apply-service-changed",
            ["apply", "-f", "-"],
            _svc(
                [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443}]
            ),
            get="/api/v1/namespaces/{ns}/services/svc-apply",
        ),
        Kubectl(
            "kubectl-delete-namespace",
            lambda c: ["delete", "namespace", f"{c.ns}-k", "--wait=false"],
        ),
    ]


HOLD_PATH = "/api/v1/namespaces/{ns}/configmaps"
EXEC = PODS + "/pod-a/exec"
EXEC_QUERY = (("command", "cat"), ("command", "/tmp/token"), ("stdout", "true"), ("stderr", "true"))


def execs() -> list[Entry]:
    entries: list[Entry] = [
        Upgrade(f"exec-upgrade-{who}", EXEC, EXEC_QUERY, who)
        for who in ("admin", "backend", "exec-create", "exec-get", "exec-both")
    ]
    entries += [
        Upgrade("exec-upgrade-no-streams", EXEC, (("command", "true"),), "exec-both"),
        Upgrade("exec-upgrade-missing-pod", PODS + "/nope/exec", EXEC_QUERY, "exec-both"),
        Call("exec-post-no-upgrade", "POST", EXEC, query=dict(EXEC_QUERY[2:]), who="exec-both"),
    ]
    return entries


def cleanup() -> list[Entry]:
    return [
        Call("pods-deletecollection", "DELETE", PODS, query={"labelSelector": "user=u1"}),
        # A finalizer on a ConfigMap holds the namespace in Terminating on both clusters.
        Call(
            "configmap-hold",
            "POST",
            HOLD_PATH,
            {"metadata": {"name": "hold", "finalizers": ["example.org/hold"]}},
        ),
        Call("namespace-delete", "DELETE", "/api/v1/namespaces/{ns}"),
        Call(
            "namespace-create-terminating",
            "POST",
            PODS,
            {"metadata": {"name": "late"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        ),
        Call("namespace-get-terminating", "GET", "/api/v1/namespaces/{ns}"),
        Call("configmap-delete-held", "DELETE", HOLD_PATH + "/hold"),
        Call(
            "configmap-release",
            "PATCH",
            HOLD_PATH + "/hold",
            {"metadata": {"finalizers": None}},
            "application/merge-patch+json",
        ),
    ]
