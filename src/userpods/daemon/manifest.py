"""Fetching a pod manifest: whitelisted, bounded in size, time and expansion, one v1 Pod.

The URL is parsed and normalised first (:mod:`userpods.daemon.urls`: dot segments removed,
encoded dots and slashes, backslashes, userinfo, control and non-ASCII characters refused),
then the *normalised* URL must match ``whitelistManifestRegex`` at its start, and exactly that
URL is fetched. Matching the raw string let ``<whitelisted prefix>../other/p.yaml`` through:
the HTTP client removed the dot segment and fetched ``/other/p.yaml``; and searching anywhere
in the URL let ``https://evil/?https://raw.githubusercontent...`` through. A redirect's target
is resolved against the current URL and goes through the same normalisation and whitelist
before it is fetched. The body may not exceed ``manifestMaxBytes`` and the whole fetch may not
take longer than ``manifestTimeout`` (the caller bounds the time).

YAML aliases are allowed (manifests may share a block with an anchor), but the document's
size *with aliases expanded* is bounded on the parser's node graph, before any object is
built: a 51 KB manifest that refers to a 50,000-character anchor 1,000 times would otherwise
become a 50 MB pod in the daemon's memory and in the request to Kubernetes.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

import httpx2
import msgspec
import yaml
from lightkube.resources.core_v1 import Pod

from . import urls

MAX_REDIRECTS = 5
# What aliases may add to a manifest, in characters of scalars plus one per node: real
# manifests use no aliases at all (none of the ScienceData ones does), and a bomb adds megabytes.
MAX_ALIAS_EXPANSION = 256 * 1024
# libyaml when PyYAML was built with it: several times faster than the pure-Python loader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(Exception):
    """A manifest that cannot be used; the message is shown to the caller (400)."""


def whitelisted(url: str, pattern: re.Pattern[str]) -> bool:
    """Whether ``url`` (already normalised) matches the whitelist at its start."""
    return pattern.match(url) is not None


def checked_url(url: str, pattern: re.Pattern[str]) -> urls.ManifestURL:
    """``url`` normalised, if the normalised URL is whitelisted; else :class:`ManifestError`."""
    try:
        found = urls.normalise(url)
    except urls.URLRefused as exc:
        raise ManifestError(
            f"yaml_url {_shown(url)} is refused before the manifest whitelist is matched: {exc}"
        ) from None
    if not whitelisted(str(found), pattern):
        also = "" if str(found) == url else f" (normalised: {_shown(str(found))})"
        raise ManifestError(f"yaml_url {_shown(url)}{also} does not match the manifest whitelist")
    return found


def _redirect_target(
    current: urls.ManifestURL, location: str, pattern: re.Pattern[str]
) -> urls.ManifestURL:
    try:
        target = urls.resolve(current, location)
    except urls.URLRefused as exc:
        raise ManifestError(
            f"the manifest server redirected to {_shown(location)}, which is refused: {exc}"
        ) from None
    if not whitelisted(str(target), pattern):
        raise ManifestError(
            f"the manifest server redirected to {_shown(str(target))}, which is not whitelisted"
        )
    return target


async def fetch(
    url: str, pattern: re.Pattern[str], *, max_bytes: int, client: httpx2.AsyncClient
) -> bytes:
    """The manifest's bytes (see module docstring for the rules); the caller bounds the time."""
    current = checked_url(url, pattern)
    seen = {current}
    for _ in range(MAX_REDIRECTS + 1):
        request = client.build_request("GET", str(current))
        differs = urls.mismatch(current, request)
        if differs is not None:  # the client adds something of its own (a base URL, params)
            raise ManifestError(f"the manifest URL {_shown(str(current))} is refused: {differs}")
        try:
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect:
                    current = _redirect_target(current, response.headers["location"], pattern)
                    if current in seen:
                        raise ManifestError(
                            f"the manifest server redirected in a loop, back to {current}"
                        )
                    seen.add(current)
                    continue
                return await _read_body(response, current, max_bytes)
            finally:
                await response.aclose()
        except httpx2.HTTPError as exc:
            raise ManifestError(
                f"could not fetch the manifest from {current}: {type(exc).__name__}"
            ) from exc
    raise ManifestError(f"too many redirects fetching {_shown(url)}")


async def _read_body(response: httpx2.Response, url: urls.ManifestURL, max_bytes: int) -> bytes:
    if response.status_code != 200:
        raise ManifestError(f"the manifest server answered {response.status_code} for {url}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ManifestError(f"the manifest is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise ManifestError(f"the manifest is larger than {max_bytes} bytes")
    return bytes(body)


def _shown(url: str, limit: int = 200) -> str:
    """``url`` for a message: quoted, ASCII (escapes for the rest), at most ``limit`` long."""
    return ascii(url[:limit]) + ("..." if len(url) > limit else "")


class _Parsed:
    """The latest manifests parsed, by the SHA-256 of their bytes, as the JSON of the pod.

    Every creation fetches its manifest anew (an edit on the manifest server counts at once),
    but the frontend creates from a handful of manifests: parsing (YAML, the alias bound, the
    Pod model) was a tenth of the daemon's CPU per creation. The same bytes always parse to
    the same pod, so the parse is kept; each caller gets a fresh copy to edit. Only pods up to
    ``LARGEST`` bytes of JSON are kept, ``SIZE`` of them, so the memory stays bounded."""

    SIZE = 64
    LARGEST = 64 * 1024

    def __init__(self) -> None:
        self._held: OrderedDict[bytes, bytes] = OrderedDict()

    def get(self, text: bytes) -> dict[str, Any]:
        key = hashlib.sha256(text).digest()
        held = self._held.get(key)
        if held is not None:
            self._held.move_to_end(key)
            pod: dict[str, Any] = msgspec.json.decode(held)
            return pod
        pod = _parse_pod(text)
        try:
            encoded = msgspec.json.encode(pod)
        except UnicodeEncodeError:  # a lone surrogate from a YAML escape: not kept
            return pod
        if len(encoded) <= self.LARGEST:
            self._held[key] = encoded
            if len(self._held) > self.SIZE:
                self._held.popitem(last=False)
        return pod


_parsed = _Parsed()


def parse_pod(text: bytes) -> dict[str, Any]:
    """One ``v1`` ``Pod`` with at least one named container, as a dict (a fresh one)."""
    return _parsed.get(text)


def _parse_pod(text: bytes) -> dict[str, Any]:
    try:
        documents = [d for d in _load_bounded(text) if d is not None]
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


def _load_bounded(text: bytes) -> list[Any]:
    """The YAML documents in ``text``, built only once their node graphs are known to stay
    within :data:`MAX_ALIAS_EXPANSION` of the text's size with every alias expanded.

    The parser shares one node among an anchor and its aliases, so the graph is as small as
    the text; it is the objects built from it (and everything serialised from them) that
    grow. Sizes are counted on the graph, each node once, before anything is built."""
    loader = _LOADER(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node said there is one
            nodes.append(node)
        budget = len(text) + MAX_ALIAS_EXPANSION
        expanded = _expanded_size(nodes, budget)
        if expanded > budget:
            raise ManifestError(
                f"the manifest's aliases expand it to more than {budget} characters "
                f"(it has {len(text)}); write the repeated parts out, or drop them"
            )
        return [loader.construct_document(node) for node in nodes]
    finally:
        loader.dispose()


def _expanded_size(roots: list[yaml.Node], budget: int) -> int:
    """The characters of all scalars plus one per node, with aliases expanded, counted
    without expanding them (each distinct node's size is computed once); stops counting
    past ``budget``. An alias inside its own anchor (a cycle) is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle
    total = 0
    for root in roots:
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            key = id(node)
            if key in sizes:
                continue
            if isinstance(node, yaml.ScalarNode):
                sizes[key] = 1 + len(node.value)
                continue
            children = _children(node)
            if not children_done:
                if key in open_nodes:
                    raise ManifestError("the manifest has an alias inside its own anchor")
                open_nodes.add(key)
                stack.append((node, True))
                for child in children:
                    if id(child) in open_nodes:
                        raise ManifestError("the manifest has an alias inside its own anchor")
                    if id(child) not in sizes:
                        stack.append((child, False))
                continue
            open_nodes.discard(key)
            sizes[key] = min(budget + 1, 1 + sum(sizes[id(child)] for child in children))
        total = min(budget + 1, total + sizes[id(root)])
    return total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value)
