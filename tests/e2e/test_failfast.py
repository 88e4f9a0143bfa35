"""Fail fast, say why: a pod that cannot start ends its creation at once (not at timeoutCreate),
is cleaned up, and the daemon logs the reason; a pod that is merely slow is cleaned up at
timeoutCreate."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from lightkube import AsyncClient

from tests.e2e.checks import (
    assert_accounted,
    cluster_pods,
    create,
    listed,
    pod_doc,
    watch_create,
    watch_delete,
)
from tests.e2e.conftest import Stack

USER = "failfast@dtu.dk"

# name -> (manifest, texts of which the logged reason must contain one)
FAILURES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "pull": (
        pod_doc("pull", "registry.test/does-not-exist:1"),
        ("ErrImagePull", "ImagePullBackOff"),
    ),
    "crashloop": (
        pod_doc("crashloop", "registry.test/crashloop:1", restart="Always"),
        ("CrashLoopBackOff",),
    ),
    "config": (
        pod_doc(
            "config",
            "registry.test/app:1",
            container={
                "env": [
                    {
                        "name": "FROM_MISSING",
                        "valueFrom": {"configMapKeyRef": {"name": "no-such-map", "key": "k"}},
                    }
                ]
            },
        ),
        ("CreateContainerConfigError",),
    ),
    "unschedulable": (
        pod_doc("unschedulable", "registry.test/app:1", spec={"nodeSelector": {"gpu": "h100"}}),
        ("Unschedulable",),
    ),
    "exit1": (pod_doc("exit1", "registry.test/test_fail_start:1"), ("exit code 1",)),
    "exit0": (pod_doc("exit0", "registry.test/test_finish_entrypoint:1"), ("exit code 0",)),
}


def _failure_logs(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "userpods.daemon" and r.levelno >= logging.WARNING and name in r.getMessage()
    ]


async def _assert_cleaned_up(api: Any, kube: AsyncClient, name: str) -> None:
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    assert await cluster_pods(kube, USER) == {}
    assert await listed(api, USER) == {}
    await assert_accounted(api, kube, USER)


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_fails_fast_and_cleans_up(
    case: str, stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="userpods.daemon")
    doc, reasons = FAILURES[case]
    name = await create(stack, api, USER, doc)
    assert stack.settings.timeout_create == 15
    with trio.fail_after(5):  # far below timeoutCreate (15 s)
        assert await watch_create(api, USER, name) is False
    await _assert_cleaned_up(api, kube, name)
    messages = _failure_logs(caplog, name)
    assert any(reason in m for m in messages for reason in reasons), messages


async def test_timeout_cleans_up(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A pod that is merely slow to start is deleted once timeoutCreate has passed."""
    await stack.restart(timeoutCreate="1s")
    caplog.set_level(logging.WARNING, logger="userpods.daemon")
    started = trio.current_time()
    name = await create(stack, api, USER, pod_doc("slow", "registry.test/slow-start:1"))
    assert name in await cluster_pods(kube, USER)
    with trio.fail_after(5):
        assert await watch_create(api, USER, name) is False
    assert trio.current_time() - started >= 0.9  # not before the timeout
    await _assert_cleaned_up(api, kube, name)
    messages = _failure_logs(caplog, name)
    assert any("within 1s" in m for m in messages), messages
