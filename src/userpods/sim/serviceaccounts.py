"""Service accounts, as the apiserver's admission and the controller-manager provide them.

- What every new namespace gets from the controllers: the ``default`` service account and the
  ``kube-root-ca.crt`` ConfigMap with the cluster CA (what token volumes mount).
- The ServiceAccount admission plugin: a pod's service account must exist (403 otherwise), and
  unless the pod opts out, a projected ``kube-api-access-*`` volume (token, CA, namespace) is
  added and mounted in every container at the well-known path.
"""

from __future__ import annotations

from typing import Any

from . import kinds as k
from .names import random_suffix
from .status import forbidden_error
from .store import Store

Obj = dict[str, Any]
SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA = "kube-root-ca.crt"


def namespace_contents(namespace: str, ca_bundle: str) -> list[tuple[k.Kind, str, Obj]]:
    """The objects controllers put in a new namespace: (kind, name, body to create)."""
    return [
        (k.SERVICEACCOUNT, "default", {"metadata": {"name": "default"}}),
        (
            k.CONFIGMAP,
            ROOT_CA,
            {
                "metadata": {
                    "name": ROOT_CA,
                    "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc. No other usage is "
                        "guaranteed across distributions of Kubernetes clusters."
                    },
                },
                "data": {"ca.crt": ca_bundle},
            },
        ),
    ]


def admit_pod(store: Store, pod: Obj) -> None:
    """Check the pod's service account and add its token volume (in place)."""
    spec = pod["spec"]
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    sa = spec["serviceAccountName"]
    if store.get(k.SERVICEACCOUNT, ns, sa) is None:
        raise forbidden_error(
            f'pods "{name}" is forbidden: error looking up service account {ns}/{sa}: '
            f'serviceaccount "{sa}" not found',
            "pods",
            "",
            name,
        )
    if spec.get("automountServiceAccountToken") is False:
        return
    volume = f"kube-api-access-{random_suffix()}"
    spec.setdefault("volumes", []).append(
        {
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == SERVICE_ACCOUNT_MOUNT for m in mounts):
            mounts.append({"name": volume, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT})
