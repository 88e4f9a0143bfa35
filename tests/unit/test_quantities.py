"""Kubernetes quantities, a pod's effective requests and limits, and the ``quotas`` key."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from userpods.config import ConfigError, build_settings, describe
from userpods.quotas import format_quantity, limit_name, parse_quantity, pod_amounts


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", "2"),
        ("500m", "0.5"),
        ("1.5", "1.5"),
        (".5", "0.5"),
        ("1Ki", "1024"),
        ("1.5Gi", "1610612736"),
        ("128974848", "128974848"),
        ("129e6", "129000000"),
        ("129E6", "129000000"),
        ("4k", "4000"),
        ("1M", "1000000"),
        ("1G", "1000000000"),
        ("1E", "1000000000000000000"),
        ("100u", "0.0001"),
        ("5n", "0.000000005"),
        ("1e-3", "0.001"),
        (2, "2"),
        (0.25, "0.25"),
        ("+3", "3"),
    ],
)
def test_quantities_parse_exactly(text: Any, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "1 Gi", "1gi", "Gi", "1KiB", "-1", "1e", "abc", True, None])
def test_malformed_quantities_are_refused(text: Any) -> None:
    with pytest.raises(ValueError, match=r"quantity|negative"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("amount", "resource", "text"),
    [
        ("1.5", "cpu", "1500m"),
        ("2", "cpu", "2"),
        ("2048", "cpu", "2048"),
        ("536870912", "memory", "512Mi"),
        ("1000000", "memory", "1000000"),
        ("3", "nvidia.com/gpu", "3"),
    ],
)
def test_quantities_read_back(amount: str, resource: str, text: str) -> None:
    assert format_quantity(Decimal(amount), resource) == text


def test_limit_names() -> None:
    assert limit_name("pods") == "pods"
    assert limit_name("cpu") == "requests.cpu"
    assert limit_name("nvidia.com/gpu") == "requests.nvidia.com/gpu"
    assert limit_name("limits.memory") == "limits.memory"
    for bad in ("requests.pods", "limits.", "a b", 3):
        with pytest.raises(ValueError, match="limit"):
            limit_name(bad)


def _c(name: str, requests: dict[str, str] | None = None, **more: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if "limits" in more:
        resources["limits"] = more.pop("limits")
    return {"name": name, "image": "x", "resources": resources, **more}


def test_pod_requests_are_summed_over_containers_and_maxed_with_init_containers() -> None:
    pod = {
        "spec": {
            "containers": [_c("a", {"cpu": "500m", "memory": "1Gi"}), _c("b", {"cpu": "1"})],
            "initContainers": [_c("setup", {"cpu": "2", "memory": "512Mi"})],
        }
    }
    assert pod_amounts(pod, "requests") == {
        "cpu": Decimal(2),
        "memory": Decimal(1024**3),
    }


def test_sidecars_run_beside_the_containers_and_the_later_init_containers() -> None:
    pod = {
        "spec": {
            "initContainers": [
                _c("sidecar", {"cpu": "1"}, restartPolicy="Always"),
                _c("setup", {"cpu": "3"}),
            ],
            "containers": [_c("a", {"cpu": "1"})],
            "overhead": {"cpu": "100m"},
        }
    }
    # max(1 + 1 (sidecar), 3 + 1 (setup with the sidecar running)) + overhead
    assert pod_amounts(pod, "requests") == {"cpu": Decimal("4.1")}


def test_a_limit_without_a_request_is_the_request() -> None:
    pod = {"spec": {"containers": [_c("a", limits={"nvidia.com/gpu": "1", "cpu": "2"})]}}
    assert pod_amounts(pod, "requests") == {"nvidia.com/gpu": 1, "cpu": 2}
    assert pod_amounts(pod, "limits") == {"nvidia.com/gpu": 1, "cpu": 2}


def test_pod_level_resources_replace_the_sum() -> None:
    pod = {
        "spec": {
            "containers": [_c("a", {"cpu": "1", "memory": "1Gi"})],
            "resources": {"requests": {"cpu": "3"}},
        }
    }
    assert pod_amounts(pod, "requests") == {"cpu": 3, "memory": 1024**3}


def _settings(quotas: Any, tmp_path: Any) -> Any:
    return build_settings({"quotas": quotas}, env={}, pod_cache_dir=tmp_path)


def test_quotas_have_defaults_and_per_user_overrides(tmp_path: Any) -> None:
    settings = _settings(
        {
            "default": {"pods": 2, "cpu": "2", "limits.memory": "4Gi"},
            "users": {"big@dtu.dk": {"pods": 10, "requests.cpu": None}},
        },
        tmp_path,
    )
    assert settings.quotas.for_user("small@dtu.dk") == {
        "pods": 2,
        "requests.cpu": 2,
        "limits.memory": 4 * 1024**3,
    }
    assert settings.quotas.for_user("big@dtu.dk") == {"pods": 10, "limits.memory": 4 * 1024**3}
    assert describe(settings)["quotas"]["default"] == {
        "limits.memory": "4Gi",
        "pods": "2",
        "requests.cpu": "2",
    }
    assert not build_settings({}, env={}, pod_cache_dir=tmp_path).quotas


def test_quotas_from_the_environment(tmp_path: Any) -> None:
    env = {"BACKEND_QUOTAS": '{"default": {"nvidia.com/gpu": 1}}'}
    settings = build_settings({}, env=env, pod_cache_dir=tmp_path)
    assert settings.quotas.for_user("a@b.dk") == {"requests.nvidia.com/gpu": 1}


@pytest.mark.parametrize(
    "quotas",
    [
        {"default": {"pods": "1.5"}},
        {"default": {"cpu": "lots"}},
        {"default": {"pods": None}},
        {"default": {"cpu": 1, "requests.cpu": 2}},
        {"users": {"Not A User": {"pods": 1}}},
        {"defaults": {"pods": 1}},
        ["pods"],
    ],
)
def test_bad_quotas_stop_start_up(quotas: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=r"^quotas: "):
        _settings(quotas, tmp_path)
