"""Idle stop's bookkeeping (userpods/idling.py): the configuration, reading a PodMetrics, and
the clocks: idle from the first low sample, reset by a busy one, kept through a gap, and
started again for a successor of the same name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from userpods.idling import IdleClock, IdleStop, parse_idle_stop, pod_cpu

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = IdleStop(after=60.0, cpu_below=Decimal("0.05"), every=10.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_configuration() -> None:
    assert not parse_idle_stop(None).enabled
    found = parse_idle_stop({"after": "2h", "cpuBelow": "20m", "every": "30s"})
    assert (found.after, found.cpu_below, found.every) == (7200.0, Decimal("0.020"), 30.0)
    assert found.describe() == "CPU below 20m for 2h"
    assert parse_idle_stop({"after": "30m"}).cpu_below == Decimal("0.01")
    assert parse_idle_stop(found.as_config()) == found  # what config.describe writes
    assert IdleStop().as_config() is None


@pytest.mark.parametrize(
    "value",
    [
        {"cpuBelow": "10m"},  # no after
        {"after": "0s"},
        {"after": "soon"},
        {"after": True},
        {"after": "1h", "cpuBelow": "0"},
        {"after": "1h", "cpuBelow": "lots"},
        {"after": "1h", "every": "-1s"},
        {"after": "1h", "threshold": "10m"},
        ["after", "1h"],
    ],
)
def test_bad_configurations_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"after|cpuBelow|every|mapping|duration"):
        parse_idle_stop(value)


def test_pod_cpu_sums_containers_and_refuses_what_it_cannot_read() -> None:
    two = {"containers": [{"usage": {"cpu": "499999398n"}}, {"usage": {"cpu": "2m"}}]}
    assert pod_cpu(two) == Decimal("0.501999398")
    for broken in (
        {},
        {"containers": []},
        {"containers": "x"},
        {"containers": [{"usage": {"memory": "1Mi"}}]},
        {"containers": [{"usage": {"cpu": "-1"}}]},
        {"containers": [{"usage": {"cpu": ["1"]}}]},
        {"containers": [7]},
    ):
        assert pod_cpu(broken) is None, broken


def test_idle_from_the_first_low_sample_and_reset_by_a_busy_one() -> None:
    clock = IdleClock(SETTINGS)
    pods = {"p": "u1"}
    assert clock.observe(pods, {"p": Decimal("0.001")}, at(0)) == []
    assert clock.stop_at("p", "u1") == at(60)
    assert clock.observe(pods, {"p": Decimal("0.9")}, at(30)) == []  # busy: reset
    assert clock.stop_at("p", "u1") is None
    assert clock.observe(pods, {"p": Decimal("0.001")}, at(40)) == []
    assert clock.observe(pods, {}, at(70)) == []  # a gap: neither starts nor resets
    assert clock.observe(pods, {"p": Decimal("0.001")}, at(100)) == ["p"]


def test_a_successor_of_the_same_name_starts_from_zero() -> None:
    clock = IdleClock(SETTINGS)
    clock.observe({"p": "u1"}, {"p": Decimal(0)}, at(0))
    assert clock.observe({"p": "u2"}, {"p": Decimal(0)}, at(61)) == []
    assert clock.stop_at("p", "u1") is None and clock.stop_at("p", "u2") == at(121)
    assert clock.observe({}, {"p": Decimal(0)}, at(200)) == []  # gone: forgotten
    assert clock.since == {}


@given(
    st.lists(
        st.one_of(st.none(), st.decimals(min_value=0, max_value=2, places=3)),
        min_size=1,
        max_size=40,
    )
)
def test_stopped_only_after_a_whole_idle_stretch(samples: list[Decimal | None]) -> None:
    """Samples every 10 s (None: a gap): the pod is due exactly when the time since the
    first low sample after the last busy one is at least ``after``."""
    clock = IdleClock(SETTINGS)
    start: float | None = None
    for i, used in enumerate(samples):
        now = i * 10.0
        due = clock.observe({"p": "u"}, {} if used is None else {"p": used}, at(now))
        if used is not None:
            if used >= SETTINGS.cpu_below:
                start = None
            elif start is None:
                start = now
        assert due == (["p"] if start is not None and now - start >= 60 else [])
