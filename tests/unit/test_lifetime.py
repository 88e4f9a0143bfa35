"""The pure logic of maximum lifetimes (plugins/lifetime.py): which lifetime a pod has, when it
is due, and what the watcher asks again; and the ``maxLifetime`` key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Pod

from userpods import naming
from userpods.config import ConfigError, build_settings, describe
from userpods.durations import format_duration
from userpods.hooks import PodRejected
from userpods.plugins import lifetime
from userpods.plugins.lifetime import ANNOTATION, Lifetime

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def pod(
    name: str = "p",
    note: str | None = None,
    *,
    owner: str = "u@dtu.dk",
    uid: str = "uid-1",
    created: datetime | None = CREATED,
    deleting: bool = False,
) -> Pod:
    notes = {naming.ANNOTATION_OWNER: owner} if owner else {}
    if note is not None:
        notes[ANNOTATION] = note
    meta: dict[str, Any] = {"name": name, "uid": uid, "annotations": notes}
    if created is not None:
        meta["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    if deleting:
        meta["deletionTimestamp"] = "2026-01-02T03:05:00Z"
    found: Pod = Pod.from_dict({"metadata": meta, "spec": {"containers": []}})  # type: ignore[assignment]
    return found


@pytest.mark.parametrize(
    ("note", "default", "want"),
    [
        (None, 0.0, None),
        (None, 60.0, Lifetime(60.0, "maxLifetime")),
        ("30s", 60.0, Lifetime(30.0, "annotation")),
        ("2m", 60.0, Lifetime(60.0, "maxLifetime")),  # longer: clamped
        ("1m", 60.0, Lifetime(60.0, "maxLifetime")),  # equal: the default's
        ("1h", 0.0, Lifetime(3600.0, "annotation")),  # no default: the annotation alone
        ("soon", 60.0, Lifetime(60.0, "maxLifetime")),  # invalid on a pod: ignored
        ("0s", 0.0, None),
    ],
)
def test_the_lifetime_of_a_pod(note: str | None, default: float, want: Lifetime | None) -> None:
    notes = {} if note is None else {ANNOTATION: note}
    assert lifetime.lifetime(notes, default) == want


@pytest.mark.parametrize("value", ["", "0", "0s", "-1m", "1d", "soon", 5, None])
def test_invalid_annotations_are_refused_at_prepare(value: Any) -> None:
    manifest = {"metadata": {"annotations": {ANNOTATION: value}}}
    with pytest.raises(PodRejected, match=ANNOTATION):
        lifetime.userpods_prepare_pod(manifest)


def test_valid_or_absent_annotations_pass_prepare() -> None:
    lifetime.userpods_prepare_pod({"metadata": {"annotations": {ANNOTATION: "1h30m"}}})
    lifetime.userpods_prepare_pod({"metadata": {}})
    lifetime.userpods_prepare_pod({})


def test_expiry_counts_from_the_creation_timestamp() -> None:
    found = lifetime.expiry(pod(note="90s"), 3600.0)
    assert found == (CREATED + timedelta(seconds=90), Lifetime(90.0, "annotation"))
    assert lifetime.expiry(pod(created=None), 3600.0) is None
    assert lifetime.expiry(pod(), 0.0) is None


def fed(default: float, *pods: Pod) -> lifetime.Deadlines:
    deadlines = lifetime.Deadlines(default)
    for p in pods:
        assert p.metadata is not None and p.metadata.name
        deadlines(p.metadata.name, None, p)
    return deadlines


def test_deadlines_due_and_the_nearest() -> None:
    now = CREATED + timedelta(seconds=100)
    deadlines = fed(
        0.0,
        pod("old", "60s", uid="a"),  # due
        pod("young", "200s", uid="b"),  # due at +200s
        pod("mine-not", "10s", owner="", uid="c"),  # no owner: not a user's pod
        pod("going", "10s", uid="d", deleting=True),  # already being deleted
        pod("forever", uid="e"),
    )
    assert sorted(deadlines.entries) == ["old", "young"]
    assert deadlines.nearest() == CREATED + timedelta(seconds=60)
    assert [(name, uid) for name, uid, _ in deadlines.due(now)] == [("old", "a")]
    # Once asked, a pod is not asked again until its retry moment, which counts as a deadline.
    retry = now + timedelta(seconds=lifetime.RETRY_AFTER)
    assert deadlines.nearest() == retry
    assert deadlines.due(now + timedelta(seconds=1)) == []
    deadlines("old", None, pod("old", "60s", uid="a"))  # a change of the pod keeps the retry
    assert deadlines.nearest() == retry
    assert [name for name, _, _ in deadlines.due(retry)] == ["old"]
    # A successor of the name (another uid) is judged afresh; gone pods are forgotten.
    deadlines("old", None, pod("old", "60s", uid="z"))
    assert [(name, uid) for name, uid, _ in deadlines.due(now)] == [("old", "z")]
    deadlines("young", None, None)
    deadlines("old", None, pod("old", "60s", uid="z", deleting=True))
    assert deadlines.entries == {} and deadlines.nearest() is None


def test_a_deadline_moved_sooner_wakes_the_watcher() -> None:
    deadlines = fed(0.0, pod("a", "1h", uid="a"))
    changed = deadlines.changed
    deadlines("b", None, pod("b", "60s", uid="b"))
    assert changed.is_set()
    assert deadlines.nearest() == CREATED + timedelta(seconds=60)
    quiet = deadlines.changed
    deadlines("b", None, pod("b", "60s", uid="b"))  # the same deadline: nothing to wake for
    assert not quiet.is_set()


class _Ctx:
    def __init__(self, default: float) -> None:
        self.settings = build_settings(
            {"maxLifetime": f"{default}s"}, env={}, pod_cache_dir=Path(".")
        )


def test_pod_info_shows_the_deadline_and_keeps_an_earlier_one() -> None:
    info: dict[str, Any] = {}
    lifetime.userpods_pod_info(pod(), info, _Ctx(0))  # type: ignore[arg-type]
    assert info == {"expires": "", "expires_reason": ""}
    info = {}
    lifetime.userpods_pod_info(pod(), info, _Ctx(3600))  # type: ignore[arg-type]
    assert info == {
        "expires": "2026-01-02T04:04:05Z",
        "expires_reason": "maximum lifetime 1h (maxLifetime)",
    }
    earlier = {"expires": "2026-01-02T03:10:00Z", "expires_reason": "idle"}
    lifetime.userpods_pod_info(pod(), earlier, _Ctx(3600))  # type: ignore[arg-type]
    assert earlier == {"expires": "2026-01-02T03:10:00Z", "expires_reason": "idle"}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (2, "2s"),
        (2.5, "2.5s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (5430, "1h30m30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "seconds"), [("", 0.0), ("0", 0.0), ("8h", 28800.0), (None, 0.0)]
)
def test_max_lifetime_key(value: Any, seconds: float, tmp_path: Path) -> None:
    settings = build_settings({"maxLifetime": value, "podCacheDir": str(tmp_path)}, env={})
    assert settings.max_lifetime == seconds
    assert describe(settings)["maxLifetime"] == seconds
    from_env = build_settings({"podCacheDir": str(tmp_path)}, env={"BACKEND_MAXLIFETIME": "5m"})
    assert from_env.max_lifetime == 300.0


def test_max_lifetime_key_refuses_what_is_not_a_duration() -> None:
    with pytest.raises(ConfigError, match="maxLifetime"):
        build_settings({"maxLifetime": "a day"}, env={}, pod_cache_dir=Path("."))
