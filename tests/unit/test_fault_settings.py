"""Fault settings: validation, merging, and which requests a seeded Faults fails."""

from __future__ import annotations

from typing import Any

import pytest

from userpods.sim.faults import Counters, Faults, FaultSettings


def test_defaults_inject_nothing() -> None:
    faults = Faults()
    assert all(faults.error_for("list", "pods") is None for _ in range(100))


def test_from_dict_merges_over_a_base() -> None:
    base = FaultSettings.from_dict({"error_rate": 0.5, "latency": 0.1})
    merged = FaultSettings.from_dict({"latency": 0.2}, base)
    assert (merged.error_rate, merged.latency) == (0.5, 0.2)
    assert FaultSettings.from_dict({}) == FaultSettings()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"error_rate": 2}, "error_rate must be between 0 and 1"),
        ({"error_rate": -0.1}, "error_rate must be between 0 and 1"),
        ({"error_rate": True}, "error_rate must be between 0 and 1"),
        ({"error_codes": []}, "error_codes must be a non-empty subset of [429, 500, 503]"),
        ({"error_codes": [404]}, "error_codes must be a non-empty subset"),
        ({"error_codes": [429.0]}, "error_codes must be a non-empty subset"),
        ({"error_codes": 429}, "error_codes must be a non-empty subset"),
        ({"error_codes": "429"}, "error_codes must be a non-empty subset"),
        ({"latency": -1}, "latency must be >= 0"),
        ({"watch_cut_after": 0}, "watch_cut_after must be > 0"),
        ({"history_limit": 0}, "history_limit must be >= 1"),
        ({"history_limit": 2.5}, "history_limit must be an integer"),
        ({"history_limit": "5"}, "history_limit must be an integer"),
        ({"verbs": "list"}, "verbs must be a list of strings"),
        ({"resources": [1]}, "resources must be a list of strings"),
        ({"retry_after": -1}, "retry_after must be an integer >= 0"),
        ({"retry_after": None}, "retry_after must be an integer >= 0"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"error_rat": 0.5}, "unknown fault settings: ['error_rat']"),
    ],
)
def test_bad_settings_are_rejected(data: dict[str, Any], problem: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        FaultSettings.from_dict(data)
    assert problem in str(info.value)


def test_always_failing_with_one_code() -> None:
    faults = Faults(FaultSettings(error_rate=1.0, error_codes=[503]))
    assert {faults.error_for("get", "pods") for _ in range(20)} == {503}


def test_filters_by_verb_and_resource() -> None:
    faults = Faults(
        FaultSettings(error_rate=1.0, error_codes=[500], verbs=["list"], resources=["pods"])
    )
    assert faults.error_for("list", "pods") == 500
    assert faults.error_for("get", "pods") is None
    assert faults.error_for("list", "services") is None
    assert faults.error_for("list", "pods/log") is None


def test_seeded_faults_are_reproducible() -> None:
    settings = FaultSettings(error_rate=0.5, seed=42)
    a, b = Faults(settings), Faults(settings)
    run_a = [a.error_for("list", "pods") for _ in range(50)]
    run_b = [b.error_for("list", "pods") for _ in range(50)]
    assert run_a == run_b
    assert None in run_a
    assert {c for c in run_a if c is not None} <= {429, 500, 503}
    # update() with a seed restarts the sequence.
    a.update(settings)
    assert [a.error_for("list", "pods") for _ in range(50)] == run_a


def test_counters_snapshot_and_reset() -> None:
    counters = Counters()
    counters.requests[("list", "pods")] += 2
    counters.requests[("get", "pods")] += 1
    counters.requests[("list", "services")] += 1
    counters.watches_open["pods"] += 1
    counters.watches_started["pods"] += 1
    counters.injected[429] += 3
    assert counters.snapshot() == {
        "requests": {"get": {"pods": 1}, "list": {"pods": 2, "services": 1}},
        "watches": {"open": {"pods": 1}, "started": {"pods": 1}},
        "injected_errors": {"429": 3},
    }
    counters.reset()
    # Open watches are state, not history: a reset keeps them.
    assert counters.snapshot() == {
        "requests": {},
        "watches": {"open": {"pods": 1}, "started": {}},
        "injected_errors": {},
    }
