"""Tokens: for each comma-separated key in ``sciencedata.dk/copy-token``, ``/tmp/<key>`` is
copied out of the pod's first container once it is Ready, and shown in get_pods.

- Reading goes through pods/exec (``head -c tokenByteLimit``, so a pod cannot make the daemon
  read an endless file; ``cat`` and a cut when ``head`` is missing), retried while the pod is
  still writing the file, for up to ``tokenCopyTimeout`` (10 s by default).
- Tokens are kept in ``podCacheDir/<pod name>`` (JSON with the pod's uid, written atomically),
  so a restarted daemon serves them without exec'ing into every pod; at start-up only ready
  pods without a stored copy are copied again.
- The file goes with the pod; ``clean_all_unused`` removes files of pods that no longer exist.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import trio
from lightkube import ApiError
from lightkube.resources.core_v1 import Pod

from userpods.hooks import Context, PodContext, StepFailed, hookimpl
from userpods.kube import KubeUnavailable

from .common import ready_pod

log = logging.getLogger(__name__)
ANNOTATION = "sciencedata.dk/copy-token"
ANNOTATION_STATE = "userpods.sciencedata.dk/state"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def token_keys(pod: Pod) -> list[str]:
    text = (pod.metadata.annotations or {}).get(ANNOTATION, "") if pod.metadata else ""
    return [k.strip() for k in text.split(",") if k.strip()]


class TokenStore:
    """One JSON file per pod under ``podCacheDir``, read through an in-memory copy."""

    def __init__(self) -> None:
        self._memory: dict[tuple[Path, str], dict[str, Any]] = {}

    def _path(self, directory: Path, pod_name: str) -> Path:
        return directory / pod_name

    def load(self, directory: Path, pod_name: str, uid: str) -> dict[str, str] | None:
        key = (directory, pod_name)
        record = self._memory.get(key)
        if record is None:
            try:
                record = json.loads(self._path(directory, pod_name).read_text())
            except (OSError, ValueError):
                return None
            if not isinstance(record, dict):
                return None
            self._memory[key] = record
        if record.get("uid") != uid or not isinstance(record.get("tokens"), dict):
            return None  # a file of an earlier pod with the same name
        return dict(record["tokens"])

    def save(self, directory: Path, pod_name: str, uid: str, tokens: dict[str, str]) -> None:
        record = {"uid": uid, "tokens": tokens}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{pod_name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._path(directory, pod_name))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._memory[(directory, pod_name)] = record

    def remove(self, directory: Path, pod_name: str) -> None:
        self._memory.pop((directory, pod_name), None)
        self._path(directory, pod_name).unlink(missing_ok=True)

    def names(self, directory: Path) -> list[str]:
        return sorted(
            p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
        )


class CopyTokens:
    def __init__(self) -> None:
        self.store = TokenStore()

    async def _read(self, ctx: Context, pod: Pod, key: str) -> str:
        """The content of /tmp/<key>, waiting while the pod writes it."""
        assert pod.metadata is not None and pod.spec is not None
        container = pod.spec.containers[0].name
        limit = ctx.settings.token_byte_limit
        path = f"/tmp/{key}"
        delay = 0.1
        problem = "not tried"
        patience = ctx.settings.token_copy_timeout
        with trio.move_on_after(patience):
            while True:
                try:
                    reply = await ctx.kube.exec(
                        pod.metadata.name or "",
                        ["head", "-c", str(limit), path],
                        container=container,
                    )
                    if reply.exit_code == 127:  # no head in this image
                        reply = await ctx.kube.exec(
                            pod.metadata.name or "", ["cat", path], container=container
                        )
                    if reply.exit_code == 0:
                        return str(reply.stdout or "")[:limit].strip()
                    problem = (reply.stderr or f"exit code {reply.exit_code}").strip()
                except (ApiError, KubeUnavailable) as exc:
                    problem = str(exc)
                await trio.sleep(delay)  # the pod may still be writing it: no event to wait on
                delay = min(delay * 2, 1.0)
        raise StepFailed(f"could not read {path} within {patience:g}s: {problem}")

    async def copy(self, ctx: Context, pod: Pod) -> None:
        keys = token_keys(pod)
        if not keys or pod.metadata is None:
            return
        for key in keys:
            if not _KEY.fullmatch(key):
                raise StepFailed(f"{ANNOTATION} names an invalid key {key!r}")
        tokens = {key: await self._read(ctx, pod, key) for key in keys}
        self.store.save(ctx.state_dir, pod.metadata.name or "", pod.metadata.uid or "", tokens)

    @hookimpl
    async def userpods_pod_ready(self, ctx: PodContext) -> None:
        await self.copy(ctx, ready_pod(ctx))

    @hookimpl
    def userpods_pod_info(self, pod: Pod, info: dict[str, Any], ctx: Context) -> None:
        if pod.metadata is None or not token_keys(pod):
            return
        tokens = self.store.load(ctx.state_dir, pod.metadata.name or "", pod.metadata.uid or "")
        if tokens is not None:
            info["tokens"] = tokens

    @hookimpl
    async def userpods_pod_gone(self, ctx: PodContext) -> None:
        current = ctx.pod  # a new pod may already have taken the name
        if current is None:
            self.store.remove(ctx.state_dir, ctx.pod_name)

    @hookimpl
    async def userpods_startup(self, ctx: Context) -> None:
        """Copy again only for ready pods that have no stored tokens."""
        for pod in ctx.cache.pods.values():
            meta = pod.metadata
            if meta is None or not token_keys(pod) or meta.deletionTimestamp:
                continue
            if (meta.annotations or {}).get(ANNOTATION_STATE, "ready") != "ready":
                continue  # creations in flight copy their own
            if self.store.load(ctx.state_dir, meta.name or "", meta.uid or "") is not None:
                continue
            try:
                await self.copy(ctx, pod)
            except StepFailed as exc:
                log.warning("could not copy the tokens of %s again: %s", meta.name, exc)

    @hookimpl
    async def userpods_clean_unused(self, ctx: Context, removed: list[str]) -> None:
        for name in self.store.names(ctx.state_dir):
            if ctx.cache.pods.get(name) is None:
                log.info("removing the token file of %s: the pod is gone", name)
                self.store.remove(ctx.state_dir, name)
                removed.append(f"token file/{name}")
