"""Idle stop (config ``idleStop``, off by default): pods whose CPU use stayed under
``cpuBelow`` for ``after`` are deleted through the daemon's deletion flow, as delete_pod
deletes them, and counted as ``userpods_pods_expired_total{source="idle"}``.

CPU comes from the ``metrics.k8s.io`` API (metrics-server on a real cluster) in **one** list of
the namespace's PodMetrics every ``every`` seconds, never a call per pod; only the users' pods
the cache knows (owner on the full user id, running, not being deleted) are judged, by name
and uid (userpods/idling.py keeps their clocks). When the API is absent (404), forbidden or
unavailable, idle stop is inactive until a later list succeeds, and /readyz says so in its
body (``userpods_health``) without turning red. get_pods shows the moment an idle pod will be
stopped as ``expires`` (with ``expires_reason``) when it is earlier than any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import httpx2
import trio
from lightkube import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Pod

from userpods import naming
from userpods.hooks import Context, hookimpl
from userpods.idling import IdleClock, IdleStop, pod_cpu
from userpods.kube import KubeUnavailable, status_code
from userpods.naming import pod_owner

from .lifetime import EXPIRED, EXPIRED_HELP, rfc3339

PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")
SOURCE = "idle"
_WHY_INACTIVE = {
    404: "the cluster serves no metrics.k8s.io API (install metrics-server)",
    403: "the daemon may not list metrics.k8s.io pods (see manifests/role.yaml)",
    503: "the metrics.k8s.io API is unavailable (is metrics-server running?)",
}


def _candidates(ctx: Context) -> dict[str, str]:
    """The pods idle stop may judge: the users' running pods not being deleted (name -> uid)."""
    found: dict[str, str] = {}
    for pod in ctx.cache.pods.values():
        meta, status = pod.metadata, pod.status
        if meta is None or not meta.name or meta.deletionTimestamp is not None:
            continue
        if not pod_owner(pod) or status is None or status.phase != "Running":
            continue
        found[meta.name] = meta.uid or ""
    return found


class IdleStopPlugin:
    """The plugin object: the pods' idle clocks and what /readyz says, for one daemon."""

    def __init__(self) -> None:
        self.clock: IdleClock | None = None
        self.state = "off"
        self.asked: set[tuple[str, str]] = set()  # (name, uid) whose deletion was asked for

    @hookimpl
    def userpods_startup(self, ctx: Context) -> None:
        settings: IdleStop = ctx.settings.idle_stop
        if not settings.enabled:
            self.state = "off"
            return
        self.clock = IdleClock(settings)
        self.state = "active: waiting for the first sample"
        ctx.spawn("idle-stop", partial(self.run, ctx))

    @hookimpl
    def userpods_health(self, ctx: Context) -> dict[str, str]:
        return {"idle-stop": self.state}

    @hookimpl
    def userpods_pod_info(self, pod: Pod, info: dict[str, Any], ctx: Context) -> None:
        """``expires`` when the pod idles, if earlier than what another plugin set."""
        info.setdefault("expires", "")
        info.setdefault("expires_reason", "")
        meta = pod.metadata
        if self.clock is None or meta is None or not meta.name:
            return
        moment = self.clock.stop_at(meta.name, meta.uid or "")
        if moment is None:
            return
        text = rfc3339(moment)
        if not info["expires"] or text < info["expires"]:
            since = rfc3339(self.clock.since[meta.name][1])
            info["expires"] = text
            info["expires_reason"] = f"idle: {self.clock.settings.describe()} (since {since})"

    async def run(self, ctx: Context) -> None:
        """One check every ``every`` seconds while the daemon runs (a restart starts the
        clocks again: a pod is stopped late, never early)."""
        assert self.clock is not None
        while True:
            await self.check(ctx, self.clock)
            await trio.sleep(self.clock.settings.every)

    async def check(self, ctx: Context, clock: IdleClock) -> None:
        try:
            listed = await ctx.kube.list(PodMetrics, labels={naming.LABEL_USER: None})
        except (ApiError, httpx2.HTTPStatusError, KubeUnavailable) as exc:
            # An absent API group answers a plain-text 404, which lightkube cannot read as
            # a Status: an HTTPStatusError, not an ApiError.
            code = status_code(exc)
            why = _WHY_INACTIVE.get(code or 0, f"reading metrics.k8s.io failed: {exc}")
            if not self.state.startswith("inactive"):
                ctx.log.warning("idle stop is inactive: %s", why)
            self.state = f"inactive: {why}; no pod is stopped for idling"
            return
        cpu: dict[str, Decimal] = {}
        for item in listed:
            found: dict[str, Any] = dict(item)  # a generic resource reads as its JSON
            name = (found.get("metadata") or {}).get("name")
            used = pod_cpu(found)
            if isinstance(name, str) and used is not None:
                cpu[name] = used
        now = datetime.now(UTC)
        pods = _candidates(ctx)
        due = clock.observe(pods, cpu, now)
        self.asked &= set(pods.items())
        self.state = (
            f"active: {clock.settings.describe()} stops a pod; last check {rfc3339(now)} "
            f"({len(cpu)} pods sampled, {len(clock.since)} idle)"
        )
        for name in due:
            key = (name, pods[name])
            pod = ctx.cache.pods.get(name)
            if key in self.asked or pod is None:
                continue
            self.asked.add(key)
            ctx.spawn(f"idle-stop {name}", partial(self._stop, ctx, name, pod_owner(pod)))

    async def _stop(self, ctx: Context, name: str, user_id: str) -> None:
        assert self.clock is not None
        reason = f"it was idle ({self.clock.settings.describe()})"
        if await ctx.delete_pod(name, user_id, reason):
            ctx.counters.count(EXPIRED, EXPIRED_HELP, source=SOURCE)
        else:
            ctx.log.warning(
                "idle pod %s of %s was not deleted (gone already, or refused)", name, user_id
            )
