"""Fetching a pod manifest: whitelisted, bounded in size and time, one v1 Pod.

The URL must match ``whitelistManifestRegex`` *at its start* before anything is fetched (the
original searched anywhere in the URL, so ``https://evil/?https://raw.githubusercontent...``
passed); redirects are followed only to URLs that match too. The body may not exceed
``manifestMaxBytes`` and the whole fetch may not take longer than ``manifestTimeout``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
import yaml
from lightkube.resources.core_v1 import Pod

MAX_REDIRECTS = 5
# libyaml when PyYAML was built with it: several times faster than the pure-Python loader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(Exception):
    """A manifest that cannot be used; the message is shown to the caller (400)."""


def whitelisted(url: str, pattern: re.Pattern[str]) -> bool:
    return pattern.match(url) is not None


async def fetch(
    url: str, pattern: re.Pattern[str], *, max_bytes: int, client: httpx2.AsyncClient
) -> bytes:
    """The manifest's bytes (see module docstring for the rules); the caller bounds the time."""
    if not whitelisted(url, pattern):
        raise ManifestError(f"yaml_url {url} does not match the manifest whitelist")
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    target = str(response.next_request.url) if response.next_request else ""
                    if not target or not whitelisted(target, pattern):
                        raise ManifestError(
                            f"the manifest server redirected to "
                            f"{target or 'nowhere'}, which is not whitelisted"
                        )
                    url = target
                    continue
                if response.status_code != 200:
                    raise ManifestError(
                        f"the manifest server answered {response.status_code} for {url}"
                    )
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ManifestError(f"the manifest is larger than {max_bytes} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise ManifestError(f"the manifest is larger than {max_bytes} bytes")
                return bytes(body)
        except httpx2.HTTPError as exc:
            raise ManifestError(
                f"could not fetch the manifest from {url}: {type(exc).__name__}"
            ) from exc
    raise ManifestError(f"too many redirects fetching {url}")


def parse_pod(text: bytes) -> dict[str, Any]:
    """One ``v1`` ``Pod`` with at least one named container, as a dict."""
    try:
        documents = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit
            raise ManifestError("the manifest is nested too deeply") from None
        raise ManifestError(f"the manifest is not valid YAML: {exc}") from exc
    except RecursionError:
        raise ManifestError("the manifest is nested too deeply") from None
    if len(documents) != 1:
        raise ManifestError(f"the manifest must hold exactly one object, not {len(documents)}")
    pod = documents[0]
    if not isinstance(pod, dict):
        raise ManifestError("the manifest must be a mapping")
    if pod.get("apiVersion") != "v1" or pod.get("kind") != "Pod":
        raise ManifestError(
            f"the manifest must be a v1 Pod, not {pod.get('apiVersion')}/{pod.get('kind')}"
        )
    meta = pod.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ManifestError("the manifest's pod needs metadata.name")
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if (
        not isinstance(containers, list)
        or not containers
        or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and c.get("name")
            for c in containers
        )
    ):
        raise ManifestError("the manifest's pod needs spec.containers, each with a name")
    for key in ("labels", "annotations"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise ManifestError(f"metadata.{key} must be a mapping")
    # Through the Pod model: a wrongly typed field is a 400 naming its path (not a crash in a
    # prepare step), and nulls (``env:`` with nothing under it) are dropped, so the prepare
    # steps see a well-formed spec. The status is ignored anyway.
    try:
        model = Pod.from_dict({k: v for k, v in pod.items() if k != "status"})
        normal: dict[str, Any] = model.to_dict()
    except Exception as exc:
        raise ManifestError(f"the manifest is not a valid pod: {exc}") from exc
    return normal
