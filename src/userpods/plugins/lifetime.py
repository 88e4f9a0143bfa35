"""Maximum pod lifetimes: config ``maxLifetime``, shortened per pod by the manifest's
annotation ``sciencedata.dk/max-lifetime``.

A pod's age counts from its ``creationTimestamp``: Kubernetes keeps it, so a restarted daemon
holds every pod to the deadline it had (nothing of it is kept in the daemon). The annotation
may only shorten the configured lifetime: a longer one is clamped to ``maxLifetime`` (a user
cannot buy more time by writing a manifest), an invalid one refuses the create_pod with a 400
(the user learns of the mistake at once, not when the pod outlives what they meant). Without a
``maxLifetime`` (0, the default) only annotated pods have a lifetime.

One background task (started by ``userpods_startup``) sleeps until the nearest deadline of all
pods, woken early when a pod's deadline is added or moved (:class:`Deadlines`, fed by a listener
on the pod cache). A pod past its deadline is deleted through the daemon's deletion flow
(``ctx.delete_pod``), exactly as a delete_pod request deletes it (its services, its storage
when it was the user's last pod), with the reason in the flow's log lines; each is counted on
/metrics as ``userpods_pods_expired_total{source}`` (``maxLifetime`` or ``annotation``).
get_pods shows each pod's deadline as ``expires`` (RFC 3339 UTC, "" for none) and the reason
as ``expires_reason``.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import trio
from lightkube.resources.core_v1 import Pod

from userpods.durations import format_duration, parse_duration
from userpods.hooks import Context, PodRejected, hookimpl
from userpods.naming import pod_owner

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


class Deadlines:
    """The users' pods' deadlines, kept by a listener on the pod cache (each change updates
    one pod's entry: no walk over all pods, which with ten thousand of them at every change
    was most of the daemon's CPU), ordered in a heap.

    A pod asked to go is not asked again before ``RETRY_AFTER`` (its retry moment becomes its
    deadline); a successor of its name (another uid) is judged afresh; a pod that is gone or
    being deleted has no entry (the deletion flow, or Kubernetes, sees it through).
    """

    def __init__(self, default: float) -> None:
        self.default = default
        self.entries: dict[str, tuple[str, datetime, Lifetime]] = {}  # name: uid, moment, why
        self._heap: list[tuple[datetime, str, str]] = []  # stale items are skipped when met
        self._again: dict[str, tuple[str, datetime]] = {}  # asked: uid, when to ask again
        self.changed = trio.Event()  # set when an entry is added or moved

    def __call__(self, name: str, old: Pod | None, new: Pod | None) -> None:
        found = _deadline(new, self.default)
        if found is None:
            self.entries.pop(name, None)
            self._again.pop(name, None)
            return
        uid, moment, life = found
        again = self._again.get(name)
        if again is not None and again[0] != uid:
            del self._again[name]  # a successor of the name
        elif again is not None:
            moment = max(moment, again[1])
        self._put(name, (uid, moment, life))

    def _put(self, name: str, entry: tuple[str, datetime, Lifetime]) -> None:
        if self.entries.get(name) == entry:
            return
        self.entries[name] = entry
        heapq.heappush(self._heap, (entry[1], name, entry[0]))
        self.changed.set()
        self.changed = trio.Event()

    def _valid(self, item: tuple[datetime, str, str]) -> bool:
        moment, name, uid = item
        entry = self.entries.get(name)
        return entry is not None and entry[0] == uid and entry[1] == moment

    def nearest(self) -> datetime | None:
        """The nearest deadline (None: no pod has one)."""
        while self._heap and not self._valid(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due(self, now: datetime) -> list[tuple[str, str, Lifetime]]:
        """The pods (name, uid, lifetime) whose deadline has come: each is marked asked, with
        its retry moment as its next deadline."""
        found = []
        while (nearest := self.nearest()) is not None and nearest <= now:
            _, name, uid = heapq.heappop(self._heap)
            life = self.entries[name][2]
            found.append((name, uid, life))
            again = now + timedelta(seconds=RETRY_AFTER)
            self._again[name] = (uid, again)
            self._put(name, (uid, again, life))
        return found


def _deadline(pod: Pod | None, default: float) -> tuple[str, datetime, Lifetime] | None:
    """A user's pod's uid, deadline and lifetime; None if it has none, is gone or going."""
    meta = pod.metadata if pod is not None else None
    if pod is None or meta is None or not meta.name or meta.deletionTimestamp is not None:
        return None
    if not pod_owner(pod):
        return None  # not a user's pod
    found = expiry(pod, default)
    return (meta.uid or "", *found) if found is not None else None


async def watch(ctx: Context) -> None:
    """Delete each pod at its deadline, for as long as the daemon runs (it cancels this task
    when it stops; the next start begins it again from the pods' creationTimestamps)."""
    deadlines = Deadlines(ctx.settings.max_lifetime)
    pods = ctx.cache.pods
    stop_listening = pods.listen(deadlines)
    try:
        for pod in pods.values():
            deadlines((pod.metadata.name if pod.metadata else None) or "", None, pod)
        while True:
            changed = deadlines.changed
            now = datetime.now(UTC)
            for name, _uid, life in deadlines.due(now):
                held = pods.get(name)
                user_id = pod_owner(held) if held is not None else ""
                ctx.spawn(f"expire {name}", partial(_expire, ctx, name, user_id, life))
            nearest = deadlines.nearest()
            if nearest is None:
                await changed.wait()
                continue
            with trio.move_on_after((nearest - now).total_seconds()):
                await changed.wait()
    finally:
        stop_listening()


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
