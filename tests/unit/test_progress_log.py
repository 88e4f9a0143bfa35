"""The creation progress log (daemon/progress.py): Events matched by uid and told once, Ready
filling in what the pod's status proves, the book's ownership and retention, and a reader
that follows a growing log (virtual time)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import trio
from hypothesis import given
from hypothesis import strategies as st
from lightkube.resources.core_v1 import Event, Pod

from userpods.daemon.progress import (
    EVENT_STEPS,
    WIRE_EVENT,
    EventFeed,
    Progress,
    ProgressBook,
)

USER = "fror@dtu.dk"


def event_body(
    uid: str, reason: str, message: str = "m", path: str = "", kind: str = "Pod"
) -> dict[str, Any]:
    return {
        "metadata": {"name": "e", "namespace": "pods", "resourceVersion": "7"},
        "involvedObject": {"kind": kind, "name": "p", "uid": uid, "fieldPath": path},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "node-1"},
        "count": 1,
    }


def event(uid: str, reason: str, message: str = "m", path: str = "", kind: str = "Pod") -> Any:
    """An Event as the daemon's watch decodes it (WIRE_EVENT)."""
    body = json.dumps(event_body(uid, reason, message, path, kind)).encode()
    return msgspec.json.decode(body, type=WIRE_EVENT)


def test_the_wire_event_holds_what_the_feed_reads_as_the_full_model_does() -> None:
    body = event_body("u1", "Started", "Started container main", "spec.containers{main}")
    full, slim = (
        Event.from_dict(body),
        event("u1", "Started", "Started container main", "spec.containers{main}"),
    )
    for read in (
        lambda e: (e.reason, e.message, e.metadata.resourceVersion),
        lambda e: (e.involvedObject.kind, e.involvedObject.uid, e.involvedObject.fieldPath),
    ):
        assert read(slim) == read(full)


def pod(node: str = "", running: tuple[str, ...] = ()) -> Pod:
    return Pod.from_dict(
        {
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {"nodeName": node or None, "containers": [{"name": "main", "image": "x"}]},
            "status": {
                "containerStatuses": [
                    {
                        "name": name,
                        "image": "x",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    }
                    for name in running
                ]
            },
        }
    )


def test_events_reach_the_creation_of_their_pod_uid_only() -> None:
    book = ProgressBook()
    mine = book.begin("p", USER, "u1")
    feed = EventFeed(book)
    feed.event("ADDED", event("u1", "Scheduled", "Successfully assigned pods/p to node-1"))
    feed.event("ADDED", event("u2", "Pulling"))  # another pod (a predecessor of the name)
    feed.event("ADDED", event("u1", "Pulling", kind="Node"))  # not a pod's
    feed.event("DELETED", event("u1", "Pulled"))  # an Event expiring says nothing new
    assert [(s.step, s.reason) for s in mine.steps] == [("scheduled", "Scheduled")]
    assert mine.steps[0].message == "Successfully assigned pods/p to node-1"


def test_an_event_repeated_or_bumped_is_told_once_per_container() -> None:
    log = Progress("p", USER, "u1")
    for _ in range(3):
        log.event("BackOff", "Back-off restarting failed container main", "spec.containers{main}")
    log.event("Started", "Started container a", "spec.containers{a}")
    log.event("Started", "Started container b", "spec.containers{b}")
    assert [s.step for s in log.steps] == ["back-off", "container started", "container started"]


def test_ready_fills_in_what_the_status_proves_and_no_more() -> None:
    early = Progress("p", USER, "u1")
    early.ready(pod("node-1", ("main",)))
    assert [s.step for s in early.steps] == ["scheduled", "container started", "Ready"]
    told = Progress("p", USER, "u1")
    told.event("Scheduled", "assigned", "")
    told.event("Started", "Started container main", "spec.containers{main}")
    told.ready(pod("node-1", ("main",)))
    told.event("Started", "late", "spec.containers{main}")  # the Event came after all
    assert [s.step for s in told.steps] == ["scheduled", "container started", "Ready"]


def test_events_without_a_field_path_and_late_ones_are_not_doubled() -> None:
    """KWOK's kubelet writes no fieldPath, and its Started may come after Ready."""
    late = Progress("p", USER, "u1")
    late.ready(pod("node-1", ("main",)))
    late.event("Started", "Started container", "")
    late.event("Scheduled", "Successfully assigned pods/p to node-1", "")
    late.event("BackOff", "Back-off restarting failed container", "")
    assert [s.step for s in late.steps] == ["scheduled", "container started", "Ready", "back-off"]
    pathless = Progress("p", USER, "u1")
    pathless.event("Started", "Started container", "")
    pathless.event("Started", "Started container main", "spec.containers{main}")
    pathless.ready(pod("node-1", ("main",)))
    assert [s.step for s in pathless.steps] == ["container started", "scheduled", "Ready"]


def test_plugin_steps_are_done_when_the_next_begins() -> None:
    log = Progress("p", USER, "u1")
    for name in ("user-storage", "", "ssh-service", "copy-tokens", ""):
        log.plugin_step(name)
    assert [s.message for s in log.steps] == [
        "user-storage done",
        "ssh-service done",
        "copy-tokens done",
    ]


def test_the_last_step_ends_the_log() -> None:
    log = Progress("p", USER, "u1")
    log.add("failed", "ErrImagePull", "ErrImagePull", ready=False)
    log.add("done", "too late", ready=True)
    log.event("Pulled", "late", "")
    assert log.ended and [s.step for s in log.steps] == ["failed"]
    assert log.steps[0].as_json()["ready"] is False


def test_the_book_answers_only_the_owner_and_keeps_the_latest_ended() -> None:
    book = ProgressBook(keep_ended=2)
    logs = []
    for i in range(3):
        log = book.begin(f"p{i}", USER, f"u{i}")
        log.add("done", "ok", ready=True)
        book.end(log)
        logs.append(log)
    assert book.find("p0", USER) is None  # the oldest ended one is dropped
    assert book.find("p2", USER) is logs[2]
    assert book.find("p2", "fror@dtu.dk.evil") is None and book.find("p2", "FROR@dtu.dk") is None
    again = book.begin("p2", USER, "u9")  # the name taken again: the new creation answers
    assert book.find("p2", USER) is again and not book.ended.get("p2")


def test_a_creation_cut_off_by_a_stop_is_not_kept() -> None:
    book = ProgressBook()
    log = book.begin("p", USER, "u1")
    book.end(log)  # no last step: the daemon stopped, the flow resumes with a new log
    assert book.find("p", USER) is None and not book.live


async def test_a_reader_follows_the_log_until_its_last_step(autojump_clock: Any) -> None:
    log = Progress("p", USER, "u1")
    seen: list[str] = []

    async def read() -> None:
        index = 0
        while True:
            while index < len(log.steps):
                seen.append(log.steps[index].step)
                index += 1
            if log.ended:
                return
            await log.changed().wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        for step in ("accepted", "scheduled"):
            await trio.sleep(1)
            log.add(step, step)
        await trio.sleep(1)
        log.add("done", "ok", ready=True)
    assert seen == ["accepted", "scheduled", "done"]


@given(st.lists(st.sampled_from([*sorted(EVENT_STEPS), "Killing"]), max_size=30))
def test_any_event_sequence_gives_each_reason_once_in_arrival_order(reasons: list[str]) -> None:
    log = Progress("p", USER, "u1")
    for reason in reasons:
        log.event(reason, reason, "")
    first_seen = list(dict.fromkeys(reasons))
    assert [s.reason for s in log.steps] == first_seen
    assert [s.step for s in log.steps] == [EVENT_STEPS.get(r, "event") for r in first_seen]
