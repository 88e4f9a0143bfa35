"""Creation progress: what happened so far in each creation, for the progress stream.

Every creation keeps an ordered log of steps (:class:`Progress`): the daemon's own (accepted,
each plugin step done, Ready, done or failed) and the kubelet's and scheduler's, read from the
pod's Kubernetes Events (Scheduled, Pulling, Pulled, Created, Started, FailedScheduling, Failed,
BackOff). All Events come through **one** watch for the daemon's namespace (:class:`EventFeed`,
a watch handler that starts from now: Events are a log, not a state) and are matched to the
creation by the pod's uid, so the number of watches stays constant however many creations run.

Events and the pod's status arrive on different watches, in no guaranteed order between them.
So that a log reads in the order things happened, Ready fills in what its pod's status already
proves (scheduled on a node, containers started) when their Events are still on the way, and
an Event for a step the log already has is not repeated. Logs of ended creations are kept
(the last :data:`KEEP_ENDED`) so a stream opened late replays them.

A pod created without a scheduling gate (its dependencies exist) may be scheduled before the
create call's reply tells the daemon its uid: the Events of pods without a log are held a
moment (the last :data:`EARLY_KEPT` pods' first few) and told once the log begins.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Pod

from .slim import wire_type

KEEP_ENDED = 1000  # logs of ended creations kept for late readers (a few KiB each)
EARLY_KEPT = 256  # pods whose Events came before their log began, held for it
EARLY_EVENTS = 16  # of those Events, per pod

# Kubernetes Event reasons and the step each one is in a creation's log.
EVENT_STEPS = {
    "Scheduled": "scheduled",
    "FailedScheduling": "unschedulable",
    "Pulling": "pulling image",
    "Pulled": "image pulled",
    "Created": "container created",
    "Started": "container started",
    "Failed": "warning",
    "BackOff": "back-off",
    "Unhealthy": "warning",
    "FailedMount": "warning",
    "FailedAttachVolume": "warning",
}


# The Events of a pod's start: told before Ready or not at all.
START_REASONS = frozenset({"Scheduled", "Pulling", "Pulled", "Created", "Started"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Step:
    """One line of a creation's log; ``ready`` is set on the last one only."""

    time: str
    step: str
    message: str
    reason: str = ""  # the Kubernetes Event's reason, or the failure's short name
    ready: bool | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"time": self.time, "step": self.step, "message": self.message}
        if self.reason:
            found["reason"] = self.reason
        if self.ready is not None:
            found["ready"] = self.ready
        return found


@dataclass
class Progress:
    """One creation's log; :meth:`changed` is set at each new step, for readers that follow it."""

    pod_name: str
    user_id: str
    uid: str
    steps: list[Step] = field(default_factory=list)
    ended: bool = False
    _seen: set[tuple[str, str]] = field(default_factory=set)  # (reason, field path) of Events
    _current: str = ""  # the plugin step running now
    _ready: bool = False
    _changed: trio.Event = field(default_factory=trio.Event)

    def changed(self) -> trio.Event:
        """Set at the next step."""
        return self._changed

    @property
    def latest(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def add(self, step: str, message: str, reason: str = "", ready: bool | None = None) -> None:
        if self.ended:
            return
        self.steps.append(Step(_now(), step, message, reason, ready))
        if ready is not None:
            self.ended = True
        self._changed.set()
        self._changed = trio.Event()

    def plugin_step(self, name: str) -> None:
        """The creation moved on to plugin step ``name`` ("" once a phase's steps are done):
        the one before it is done."""
        if self._current:
            self.add(self._current, f"{self._current} done")
        self._current = name

    def event(self, reason: str, message: str, field_path: str) -> None:
        """A Kubernetes Event about the pod (each reason and container once). Once the pod
        is Ready, an Event of its start that arrives late is old news: it is dropped, not
        told out of order. An Event without a field path (some kubelets write none) counts
        for every container."""
        if self._ready and reason in START_REASONS:
            return
        key = (reason, field_path)
        if key in self._seen or (reason, "") in self._seen:
            return
        if not field_path and any(seen == reason for seen, _ in self._seen):
            return
        self._seen.add(key)
        self.add(EVENT_STEPS.get(reason, "event"), message, reason)

    def ready(self, pod: Pod | None) -> None:
        """The pod is Ready: first what its status proves and no Event said yet."""
        spec, status = (pod.spec, pod.status) if pod is not None else (None, None)
        if spec is not None and spec.nodeName and ("Scheduled", "") not in self._seen:
            self._seen.add(("Scheduled", ""))
            self.add("scheduled", f"assigned to {spec.nodeName}", "Scheduled")
        for cs in (status.containerStatuses or []) if status is not None else []:
            path = f"spec.containers{{{cs.name}}}"
            running = cs.state is not None and cs.state.running is not None
            if running and not {("Started", path), ("Started", "")} & self._seen:
                self._seen.add(("Started", path))
                self.add("container started", f"Started container {cs.name}", "Started")
        self._ready = True
        self.add("Ready", "the pod is Ready")


class ProgressBook:
    """The logs of creations in flight and of the last :data:`KEEP_ENDED` ended ones."""

    def __init__(self, keep_ended: int = KEEP_ENDED) -> None:
        self.keep_ended = keep_ended
        self.live: dict[str, Progress] = {}  # by pod uid (Events name the uid)
        self.live_by_name: dict[str, Progress] = {}
        self.ended: OrderedDict[str, Progress] = OrderedDict()  # by pod name, oldest first
        self.early: OrderedDict[str, list[tuple[str, str, str]]] = OrderedDict()  # by pod uid

    def begin(self, pod_name: str, user_id: str, uid: str) -> Progress:
        progress = Progress(pod_name, user_id, uid)
        self.live[uid] = self.live_by_name[pod_name] = progress
        self.ended.pop(pod_name, None)
        return progress

    def hold(self, uid: str, reason: str, message: str, field_path: str) -> None:
        """An Event of a pod without a log (yet): kept for :meth:`catch_up`."""
        held = self.early.setdefault(uid, [])
        self.early.move_to_end(uid)
        if len(held) < EARLY_EVENTS:
            held.append((reason, message, field_path))
        while len(self.early) > EARLY_KEPT:
            self.early.popitem(last=False)

    def catch_up(self, progress: Progress) -> None:
        """Tell the log the Events its pod had before the log began."""
        for reason, message, field_path in self.early.pop(progress.uid, []):
            progress.event(reason, message, field_path)

    def end(self, progress: Progress) -> None:
        """The creation ended (its last step is written, or it stops with the daemon)."""
        self.live.pop(progress.uid, None)
        if self.live_by_name.get(progress.pod_name) is progress:
            del self.live_by_name[progress.pod_name]
        if not progress.ended:
            return  # the daemon stops: the flow resumes at the next start, with a new log
        self.ended[progress.pod_name] = progress
        self.ended.move_to_end(progress.pod_name)
        while len(self.ended) > self.keep_ended:
            self.ended.popitem(last=False)

    def find(self, pod_name: str, user_id: str) -> Progress | None:
        """The log of the user's latest creation of ``pod_name`` (None for anyone else's)."""
        found = self.live_by_name.get(pod_name) or self.ended.get(pod_name)
        return found if found is not None and found.user_id == user_id else None


# What the feed reads of an Event (a creation brings half a dozen): decoded just that.
WIRE_EVENT = wire_type(
    Event,
    keep=("reason", "message"),
    metadata=wire_type(ObjectMeta, keep=("name", "resourceVersion")) | None,
    involvedObject=wire_type(ObjectReference, keep=("kind", "uid", "fieldPath")),
)


class EventFeed:
    """The watch handler of the daemon's one Events watch: each pod Event to its creation."""

    project = None  # a watch from now lists nothing to keep
    wire = WIRE_EVENT

    def __init__(self, book: ProgressBook) -> None:
        self.book = book
        self.failing = False

    def replace(self, objects: list[Any], resource_version: str) -> None:
        self.failing = False  # a watch from now: nothing to replace

    def event(self, kind: str, obj: Any) -> None:
        involved = obj.involvedObject
        if kind == "DELETED" or involved is None or involved.kind != "Pod":
            return
        uid, told = (
            involved.uid or "",
            (obj.reason or "", obj.message or "", involved.fieldPath or ""),
        )
        progress = self.book.live.get(uid)
        if progress is not None:
            progress.event(*told)
        elif uid:
            self.book.hold(uid, *told)

    def failed(self, error: BaseException) -> None:
        self.failing = True
