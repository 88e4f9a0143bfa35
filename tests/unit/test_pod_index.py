"""The daemon's pod index: IP holders without ambiguity (passwordless access)."""

from __future__ import annotations

from lightkube.models.core_v1 import PodStatus
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

from userpods.daemon.core import PodIndex
from userpods.naming import ANNOTATION_OWNER


def pod(
    name: str, owner: str, ip: str | None, phase: str = "Running", deleting: bool = False
) -> Pod:
    return Pod(
        metadata=ObjectMeta(
            name=name,
            uid=f"uid-{name}",
            annotations={ANNOTATION_OWNER: owner},
            deletionTimestamp="2026-01-01T00:00:00Z" if deleting else None,
        ),
        status=PodStatus(phase=phase, podIP=ip),
    )


def indexed(*pods: Pod) -> tuple[PodIndex, dict[str, Pod]]:
    index = PodIndex()
    for p in pods:
        index(p.metadata.name, None, p)
    return index, {p.metadata.name: p for p in pods}


def test_ips() -> None:
    index, pods = indexed(pod("a", "u1", "10.0.0.1"), pod("b", "u2", None, "Pending"))
    assert index.holder("10.0.0.1", pods) is pods["a"]
    assert index.holder("10.0.0.9", pods) is None
    assert index.awaiting_ip == {"b"}


def test_a_finished_pod_does_not_keep_its_address() -> None:
    index, pods = indexed(
        pod("old", "victim", "10.0.0.5", "Succeeded"), pod("new", "other", "10.0.0.5")
    )
    assert index.holder("10.0.0.5", pods) is pods["new"]


def test_only_finished_or_terminating_holders_answer_nobody() -> None:
    index, pods = indexed(
        pod("done", "u1", "10.0.0.6", "Failed"), pod("going", "u2", "10.0.0.7", deleting=True)
    )
    assert index.holder("10.0.0.6", pods) is None
    assert index.holder("10.0.0.7", pods) is None


def test_two_live_holders_are_ambiguous() -> None:
    index, pods = indexed(pod("x", "u1", "10.0.0.8"), pod("y", "u2", "10.0.0.8"))
    assert index.holder("10.0.0.8", pods) is None


def test_updates_move_and_forget() -> None:
    first = pod("a", "u1", None, "Pending")
    index, _ = indexed(first)
    running = pod("a", "u1", "10.0.0.3")
    index("a", first, running)
    assert index.awaiting_ip == set() and index.by_ip.as_dict() == {"10.0.0.3": {"a"}}
    index("a", running, None)
    assert index.by_ip.as_dict() == {} and index.awaiting_ip == set()
