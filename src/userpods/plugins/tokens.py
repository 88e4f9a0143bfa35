"""Tokens: for each comma-separated key in ``sciencedata.dk/copy-token``, ``/tmp/<key>`` is
copied out of the pod's first container once it is Ready, and shown in get_pods.

- Reading goes through pods/exec (``head -c tokenByteLimit``, so a pod cannot make the daemon
  read an endless file; ``cat`` and a cut when ``head`` is missing), one exec for all keys
  (token_reads.py). At creation the keys not read yet are read again while the pod may still
  be writing them, for ``tokenCopyTimeout`` together (10 s by default).
- A key still unreadable then does not fail the pod, as the original (which tried 10 x 1 s)
  did not: the tokens read are stored and shown, the key is left out, logged once (pod and
  key) and counted (``userpods_tokens_missing_total{key}``). A server may write its token late
  (Jupyter, on a slow start), so the key is looked for in the background until
  ``tokenRetryPeriod`` (5 min by default) after the pod became Ready; found, it is stored and
  shown (``userpods_tokens_copied_late_total{key}``); otherwise it stays out
  (``userpods_tokens_abandoned_total{key,reason}``: ``period``, or ``pod-gone``). That holds
  for an exec Kubernetes refuses too (the daemon lacking ``pods/exec``), as in the original:
  the warning says why, and the pod stays usable.
- Tokens are kept in ``podCacheDir/<pod name>`` (JSON with the pod's uid, written atomically),
  so a restarted daemon serves them without exec'ing into every pod. At start-up, ready pods
  without a stored copy are read again (once per key, as the original reloaded them), and so
  are the missing keys of pods still in their retry period, whose search then goes on.
- The file goes with the pod; ``clean_all_unused`` removes files of pods that no longer exist.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio
from lightkube.resources.core_v1 import Pod

from userpods.hooks import Context, PodContext, StepFailed, hookimpl
from userpods.naming import user_id_from_labels

from . import token_reads
from .common import ANNOTATION_OWNER, ready_pod

log = logging.getLogger(__name__)
ANNOTATION = "sciencedata.dk/copy-token"
ANNOTATION_STATE = "userpods.sciencedata.dk/state"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SEARCH_FIRST_INTERVAL = 1.0  # seconds between background reads: doubling, up to the next
SEARCH_MAX_INTERVAL = 10.0  # at most this late after the pod writes the file
STARTUP_CONCURRENCY = 8  # pods read at once at start-up


def token_keys(pod: Pod) -> list[str]:
    text = (pod.metadata.annotations or {}).get(ANNOTATION, "") if pod.metadata else ""
    return [k.strip() for k in text.split(",") if k.strip()]


def ready_since(pod: Pod) -> datetime:
    """When the pod last became Ready (now, if its status does not say)."""
    for condition in (pod.status.conditions or []) if pod.status else []:
        ready = condition.type == "Ready" and condition.status == "True"
        if ready and condition.lastTransitionTime is not None:
            return condition.lastTransitionTime
    return datetime.now(UTC)


def _is_live(pod: Pod | None, uid: str) -> bool:
    """Whether ``pod`` is the pod ``uid`` and not being deleted."""
    meta = pod.metadata if pod is not None else None
    return meta is not None and meta.uid == uid and not meta.deletionTimestamp


class TokenStore:
    """One JSON file per pod under ``podCacheDir``, read through an in-memory copy.

    The copy is compact (a tuple of the pod's uid and its (key, value) pairs, the uid and keys
    interned, shared with the cache's pods): at start every ready pod's file is read to see
    what is missing, and ten thousand records held as the parsed JSON were 8 MiB."""

    def __init__(self) -> None:
        self._memory: dict[Path, dict[str, tuple[str, tuple[tuple[str, Any], ...]]]] = {}

    def _path(self, directory: Path, pod_name: str) -> Path:
        return directory / pod_name

    def _keep(self, directory: Path, pod_name: str, uid: Any, tokens: dict[Any, Any]) -> None:
        pairs = tuple((sys.intern(k) if isinstance(k, str) else k, v) for k, v in tokens.items())
        kept = sys.intern(uid) if isinstance(uid, str) else uid
        self._memory.setdefault(directory, {})[pod_name] = (kept, pairs)

    def load(self, directory: Path, pod_name: str, uid: str) -> dict[str, str] | None:
        record = self._memory.get(directory, {}).get(pod_name)
        if record is None:
            try:
                found = json.loads(self._path(directory, pod_name).read_text())
            except (OSError, ValueError):
                return None
            if not isinstance(found, dict) or not isinstance(found.get("tokens"), dict):
                return None
            self._keep(directory, pod_name, found.get("uid"), found["tokens"])
            record = self._memory[directory][pod_name]
        if record[0] != uid:
            return None  # a file of an earlier pod with the same name
        return dict(record[1])

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
        self._keep(directory, pod_name, uid, tokens)

    def remove(self, directory: Path, pod_name: str) -> None:
        self._memory.get(directory, {}).pop(pod_name, None)
        self._path(directory, pod_name).unlink(missing_ok=True)

    def names(self, directory: Path) -> list[str]:
        return sorted(
            p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
        )


@dataclass(frozen=True)
class _Target:
    """The pod tokens are read from, as it was when the reading began."""

    name: str
    uid: str
    container: str
    owner: str

    @classmethod
    def of(cls, pod: Pod) -> _Target:
        assert pod.metadata is not None and pod.spec is not None
        notes = pod.metadata.annotations or {}
        return cls(
            pod.metadata.name or "",
            pod.metadata.uid or "",
            pod.spec.containers[0].name,
            notes.get(ANNOTATION_OWNER) or user_id_from_labels(pod.metadata.labels),
        )

    @property
    def tags(self) -> dict[str, str]:
        return {"pod": self.name, "user": self.owner}


class CopyTokens:
    def __init__(self) -> None:
        self.store = TokenStore()
        self._searching: dict[tuple[Path, str], str] = {}  # (dir, pod name) -> pod uid

    # ------------------------------------------------------------------ reading
    async def _read(
        self, ctx: Context, target: _Target, keys: list[str], into: dict[str, token_reads.Reading]
    ) -> None:
        limit = ctx.settings.token_byte_limit
        await token_reads.read_all(ctx.kube, target.name, target.container, keys, limit, into)

    async def _read_keys(
        self, ctx: Context, target: _Target, keys: list[str], patience: float
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Read every key (one exec for all: see token_reads), the missing ones again (the pod
        may still be writing them) until all are read or ``patience`` has passed (0: one try).
        Returns (tokens, why not per key)."""
        found: dict[str, str] = {}
        problems = dict.fromkeys(keys, "not tried")
        deadline = trio.current_time() + patience
        delay = 0.1
        with trio.move_on_at(deadline if patience > 0 else math.inf):
            while True:
                missing = [key for key in keys if key not in found]
                readings: dict[str, token_reads.Reading] = {}
                try:
                    await self._read(ctx, target, missing, readings)
                finally:  # what was read before a deadline counts
                    for key, (text, why) in readings.items():
                        if text is not None:
                            found[key] = text
                        else:
                            problems[key] = why
                if len(found) == len(keys) or trio.current_time() + delay >= deadline:
                    break
                await trio.sleep(delay)  # the pod may still be writing it: no event to wait on
                delay = min(delay * 2, 1.0)
        return found, {key: why for key, why in problems.items() if key not in found}

    # ------------------------------------------------------------------ copying
    async def copy(self, ctx: Context, pod: Pod, *, patience: float, keys: list[str]) -> None:
        """Read ``keys`` of ``pod``, store what was read along with what was stored before,
        and hand what is still missing to a background search (within its period)."""
        target = _Target.of(pod)
        found, problems = await self._read_keys(ctx, target, keys, patience)
        tokens = {**(self.store.load(ctx.state_dir, target.name, target.uid) or {}), **found}
        self.store.save(ctx.state_dir, target.name, target.uid, tokens)
        if not problems:
            return
        until = ready_since(pod) + timedelta(seconds=ctx.settings.token_retry_period)
        searching = until > datetime.now(UTC)
        after = f"{patience:g}s" if patience > 0 else "one try"
        for key, why in problems.items():
            ctx.counters.count(
                "userpods_tokens_missing",
                "Token files (by key) not readable when a pod became Ready: left out.",
                key=key,
            )
            log.warning(
                "pod %s: could not read token file /tmp/%s (%s: %s); left out%s",
                target.name,
                key,
                after,
                why,
                f", looking for it until {until:%H:%M:%S} UTC" if searching else "",
                extra=target.tags,
            )
        if searching:
            self._start_search(ctx, target, sorted(problems), until)
        else:
            self._abandon(ctx, target, sorted(problems), "period")

    def _start_search(
        self, ctx: Context, target: _Target, keys: list[str], until: datetime
    ) -> None:
        slot = (ctx.state_dir, target.name)
        if self._searching.get(slot) == target.uid:
            return  # already looking (a resumed creation and the start-up both asked)
        self._searching[slot] = target.uid

        async def search() -> None:
            try:
                await self._search(ctx, target, keys, until)
            finally:
                if self._searching.get(slot) == target.uid:
                    del self._searching[slot]

        ctx.spawn(f"copy-tokens {target.name}", search)

    async def _search(
        self, ctx: Context, target: _Target, keys: list[str], until: datetime
    ) -> None:
        """Look for ``keys`` in the pod until ``until`` or until the pod goes."""
        missing = list(keys)
        reason = "period"
        seconds = max(0.0, (until - datetime.now(UTC)).total_seconds())
        with trio.move_on_after(seconds):
            delay = SEARCH_FIRST_INTERVAL
            while missing:
                with trio.move_on_after(delay):
                    await ctx.cache.pods.wait_for(
                        target.name, lambda p: not _is_live(p, target.uid)
                    )
                    reason = "pod-gone"
                    break
                delay = min(delay * 2, SEARCH_MAX_INTERVAL)
                readings: dict[str, token_reads.Reading] = {}
                await self._read(ctx, target, missing, readings)
                for key, (text, _) in readings.items():
                    if text is not None and self._add(ctx, target, key, text):
                        missing.remove(key)
        self._abandon(ctx, target, missing, reason)

    def _abandon(self, ctx: Context, target: _Target, keys: list[str], reason: str) -> None:
        for key in keys:
            ctx.counters.count(
                "userpods_tokens_abandoned",
                "Missing token files (by key) no longer looked for: the retry period passed "
                "(period), or the pod went (pod-gone).",
                key=key,
                reason=reason,
            )
            if reason == "period":
                log.info(
                    "pod %s: token file /tmp/%s not written within tokenRetryPeriod: left out",
                    target.name,
                    key,
                    extra=target.tags,
                )

    def _add(self, ctx: Context, target: _Target, key: str, text: str) -> bool:
        """Store a token found late, if the pod is still there (no await: nothing can remove
        the pod's file in between)."""
        if not _is_live(ctx.cache.pods.get(target.name), target.uid):
            return False
        tokens = self.store.load(ctx.state_dir, target.name, target.uid) or {}
        self.store.save(ctx.state_dir, target.name, target.uid, {**tokens, key: text})
        ctx.counters.count(
            "userpods_tokens_copied_late",
            "Token files (by key) found by the background search after the pod became Ready.",
            key=key,
        )
        log.info("pod %s: copied token file /tmp/%s late", target.name, key, extra=target.tags)
        return True

    # ------------------------------------------------------------------ hooks
    @hookimpl
    async def userpods_pod_ready(self, ctx: PodContext) -> None:
        pod = ready_pod(ctx)
        keys = token_keys(pod)
        if not keys:
            return
        for key in keys:
            if not _KEY.fullmatch(key):
                raise StepFailed(f"{ANNOTATION} names an invalid key {key!r}")
        await self.copy(ctx, pod, patience=ctx.settings.token_copy_timeout, keys=keys)

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
        """Read again what is missing: every key of ready pods without a stored copy, and
        the missing keys of pods still in their retry period (whose search goes on)."""
        limiter = trio.CapacityLimiter(STARTUP_CONCURRENCY)

        async def restore(pod: Pod, keys: list[str]) -> None:
            async with limiter:
                await self.copy(ctx, pod, patience=0, keys=keys)

        async with trio.open_nursery() as nursery:
            for pod in ctx.cache.pods.values():
                keys = self._to_restore(ctx, pod)
                if keys:
                    nursery.start_soon(restore, pod, keys)

    def _to_restore(self, ctx: Context, pod: Pod) -> list[str]:
        meta = pod.metadata
        keys = [key for key in token_keys(pod) if _KEY.fullmatch(key)]
        if meta is None or not keys or meta.deletionTimestamp:
            return []
        if (meta.annotations or {}).get(ANNOTATION_STATE, "ready") != "ready":
            return []  # creations in flight copy their own
        stored = self.store.load(ctx.state_dir, meta.name or "", meta.uid or "")
        if stored is None:
            return keys  # the copy was lost
        missing = [key for key in keys if key not in stored]
        until = ready_since(pod) + timedelta(seconds=ctx.settings.token_retry_period)
        return missing if until > datetime.now(UTC) else []  # past it: left out for good

    @hookimpl
    async def userpods_clean_unused(self, ctx: Context, removed: list[str]) -> None:
        for name in self.store.names(ctx.state_dir):
            if ctx.cache.pods.get(name) is None:
                log.info("removing the token file of %s: the pod is gone", name)
                self.store.remove(ctx.state_dir, name)
                removed.append(f"token file/{name}")
