"""Images from the local registry: ``LOCALREGISTRY`` in an image becomes ``localRegistryURL``,
and then the pod gets ``localRegistrySecret`` as an image pull secret (if configured).

With no ``localRegistryURL`` configured, ``LOCALREGISTRY/`` is dropped (the image comes from
the default registry, without the local registry's secret) rather than leaving an image name
that starts with ``/``, which no container runtime accepts.
"""

from __future__ import annotations

from typing import Any

from userpods.config import Settings
from userpods.hooks import CreateRequest, hookimpl

PLACEHOLDER = "LOCALREGISTRY"


@hookimpl
def userpods_prepare_pod(pod: dict[str, Any], request: CreateRequest, settings: Settings) -> None:
    spec = pod.setdefault("spec", {})
    rewritten = False
    url = settings.local_registry_url.rstrip("/")
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        image = container.get("image", "")
        if PLACEHOLDER not in image:
            continue
        if url:
            container["image"] = image.replace(PLACEHOLDER, url, 1)
            rewritten = True
        else:
            container["image"] = image.replace(PLACEHOLDER + "/", "", 1).replace(PLACEHOLDER, "")
    secret = settings.local_registry_secret
    if rewritten and secret:
        secrets = spec.setdefault("imagePullSecrets", [])
        if not any(s.get("name") == secret for s in secrets):
            secrets.append({"name": secret})
