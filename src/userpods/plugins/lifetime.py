"""Maximum pod lifetimes: config ``maxLifetime``, shortened per pod by the manifest's
annotation ``sciencedata.dk/max-lifetime``.

A pod's age counts from its ``creationTimestamp``: Kubernetes keeps it, so a restarted daemon
holds every pod to the deadline it had (nothing of it is kept in the daemon). The annotation
may only shorten the configured lifetime: a longer one is clamped to ``maxLifetime`` (a user
cannot buy more time by writing a manifest), an invalid one refuses the create_pod with a 400
(the user learns of the mistake at once, not when the pod outlives what they meant). Without a
``maxLifetime`` (0, the default) only annotated pods have a lifetime.

One background task (started by ``userpods_startup``) sleeps until the nearest deadline of all
pods, woken early by any change of the pod cache (a pod made or gone, whose deadline may be
nearer). A pod past its deadline is deleted through the daemon's deletion flow
(``ctx.delete_pod``), exactly as a delete_pod request deletes it (its services, its storage
when it was the user's last pod), with the reason in the flow's log lines; each is counted on
/metrics as ``userpods_pods_expired_total{source}`` (``maxLifetime`` or ``annotation``).
get_pods shows each pod's deadline as ``expires`` (RFC 3339 UTC, "" for none) and the reason
as ``expires_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import trio
from lightkube.resources.core_v1 import Pod

from userpods.durations import format_duration, parse_duration
from userpods.hooks import Context, PodRejected, hookimpl

from .volumes import pod_owner

ANNOTATION = "sciencedata.dk/max-lifetime"
EXPIRED = "userpods_pods_expired"
EXPIRED_HELP = (
    "Pods deleted because their maximum lifetime passed (source: where it was set) "
    "or because they idled (source: idle)."
)
RETRY_AFTER = 30.0  # seconds before a deletion Kubernetes did not accept is asked for again


@dataclass(frozen=True)
class Lifetime:
    """How long a pod may live, and where that was set (``maxLifetime`` or ``annotation``)."""

    seconds: float
    source: str

    def reason(self) -> str:
        where = "maxLifetime" if self.source == "maxLifetime" else ANNOTATION
        return f"maximum lifetime {format_duration(self.seconds)} ({where})"


def annotated_seconds(value: Any) -> float:
    """The annotation's lifetime in seconds; ValueError if it is not a positive duration."""
    if not isinstance(value, str):
        raise ValueError(f'must be a duration as text, such as "8h" or "30m", not {value!r}')
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f'must be longer than zero, not "{value}"')
    return seconds


def lifetime(annotations: Mapping[str, str], default: float) -> Lifetime | None:
    """A pod's lifetime: the annotation's if it is shorter than ``default`` (seconds; 0: no
    limit), else the default; None when neither sets one. An invalid annotation (on a pod that
    did not come through create_pod) counts as absent."""
    asked: float | None = None
    if ANNOTATION in annotations:
        try:
            asked = annotated_seconds(annotations[ANNOTATION])
        except ValueError:
            asked = None
    if asked is not None and (default <= 0 or asked < default):
        return Lifetime(asked, "annotation")
    if default > 0:
        return Lifetime(default, "maxLifetime")
    return None


def expiry(pod: Pod, default: float) -> tuple[datetime, Lifetime] | None:
    """When the pod must be gone and why; None if never (or it has no creationTimestamp yet)."""
    meta = pod.metadata
    created = meta.creationTimestamp if meta is not None else None
    if meta is None or created is None:
        return None
    found = lifetime(meta.annotations or {}, default)
    if found is None:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created + timedelta(seconds=found.seconds), found


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@hookimpl
def userpods_prepare_pod(pod: dict[str, Any]) -> None:
    notes = (pod.get("metadata") or {}).get("annotations") or {}
    if ANNOTATION in notes:
        try:
            annotated_seconds(notes[ANNOTATION])
        except ValueError as exc:
            raise PodRejected(f"annotation {ANNOTATION}: {exc}") from None


@hookimpl
def userpods_pod_info(pod: Pod, info: dict[str, Any], ctx: Context) -> None:
    """``expires`` and ``expires_reason``; a plugin that set an earlier ``expires`` before
    this one (another reason to stop the pod) is left as it is."""
    info.setdefault("expires", "")
    info.setdefault("expires_reason", "")
    found = expiry(pod, ctx.settings.max_lifetime)
    if found is None:
        return
    moment, life = found
    text = rfc3339(moment)
    if not info["expires"] or text < info["expires"]:  # same format: text order is time order
        info["expires"], info["expires_reason"] = text, life.reason()


@hookimpl
def userpods_startup(ctx: Context) -> None:
    ctx.spawn("max-lifetime", partial(watch, ctx))


@dataclass
class _Asked:
    uid: str
    again: datetime  # when to ask again if the pod is still not being deleted


def due_pods(
    pods: list[Pod], default: float, now: datetime, asked: dict[str, _Asked]
) -> tuple[list[tuple[Pod, Lifetime]], datetime | None]:
    """The users' pods past their deadline and not yet asked to go (or whose ask is due
    again), and the nearest moment something else becomes due (None: nothing will)."""
    due: list[tuple[Pod, Lifetime]] = []
    nearest: datetime | None = None
    live: dict[str, str] = {}
    for pod in pods:
        meta = pod.metadata
        if meta is None or not meta.name or meta.deletionTimestamp is not None:
            continue  # already going: the deletion flow (or Kubernetes) sees it through
        if not pod_owner(pod):
            continue  # not a user's pod
        found = expiry(pod, default)
        if found is None:
            continue
        moment, life = found
        live[meta.name] = meta.uid or ""
        previous = asked.get(meta.name)
        if previous is not None and previous.uid == meta.uid and previous.again > now:
            moment = previous.again
        elif moment <= now:
            due.append((pod, life))
            continue
        nearest = moment if nearest is None else min(nearest, moment)
    for name in [n for n, a in asked.items() if live.get(n) != a.uid]:
        del asked[name]  # gone, going, or replaced by a pod of the same name
    return due, nearest


async def watch(ctx: Context) -> None:
    """Delete each pod at its deadline, for as long as the daemon runs (it cancels this task
    when it stops; the next start begins it again from the pods' creationTimestamps)."""
    asked: dict[str, _Asked] = {}
    while True:
        changed = ctx.cache.pods.changed()
        now = datetime.now(UTC)
        due, nearest = due_pods(ctx.cache.pods.values(), ctx.settings.max_lifetime, now, asked)
        for pod, life in due:
            assert pod.metadata is not None and pod.metadata.name
            name = pod.metadata.name
            asked[name] = _Asked(pod.metadata.uid or "", now + timedelta(seconds=RETRY_AFTER))
            ctx.spawn(f"expire {name}", partial(_expire, ctx, name, pod_owner(pod), life))
        if due:
            continue  # asked: take a fresh look (the retry moments are among the deadlines)
        if nearest is None:
            await changed.wait()
            continue
        with trio.move_on_after((nearest - now).total_seconds()):
            await changed.wait()


async def _expire(ctx: Context, name: str, user_id: str, life: Lifetime) -> None:
    reason = f"its {life.reason()} has passed"
    if await ctx.delete_pod(name, user_id, reason):
        ctx.counters.count(EXPIRED, EXPIRED_HELP, source=life.source)
    else:
        ctx.log.warning(
            "pod %s of %s outlived its %s and was not deleted (gone already, or refused)",
            name,
            user_id,
            life.reason(),
        )
