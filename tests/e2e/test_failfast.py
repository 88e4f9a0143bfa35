"""Fail fast, say why: a pod that cannot start ends its creation at once (not at timeoutCreate),
is cleaned up, and the daemon logs the reason; a pod that is merely slow is cleaned up at
timeoutCreate."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
from lightkube import AsyncClient

from tests.e2e.conftest import CLUSTER, Stack
from tests.e2e.helpers import (
    PLAIN,
    SLOW_START,
    assert_none_left,
    cluster_pods,
    container,
    create,
    pod_manifest,
    serve,
    watch_create,
    watch_delete,
)

USER = "failfast@dtu.dk"

# name -> (manifest, texts of which the logged reason must contain one)
FAILURES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "pull": (
        pod_manifest("pull", image="registry.test/does-not-exist:1", restart="Never"),
        ("ErrImagePull", "ImagePullBackOff"),
    ),
    "crashloop": (
        pod_manifest("crashloop", image="registry.test/crashloop:1", restart="Always"),
        ("CrashLoopBackOff",),
    ),
    "config": (
        pod_manifest(
            "config",
            container(
                "main", PLAIN, FROM_MISSING={"configMapKeyRef": {"name": "no-such-map", "key": "k"}}
            ),
            restart="Never",
        ),
        ("CreateContainerConfigError",),
    ),
    "unschedulable": (
        pod_manifest("unschedulable", restart="Never", nodeSelector={"gpu": "h100"}),
        ("Unschedulable",),
    ),
    "exit1": (
        pod_manifest("exit1", image="registry.test/test_fail_start:1", restart="Never"),
        ("exit code 1",),
    ),
    "exit0": (
        pod_manifest("exit0", image="registry.test/test_finish_entrypoint:1", restart="Never"),
        ("exit code 0",),
    ),
}


def _failure_logs(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "userpods.daemon" and r.levelno >= logging.WARNING and name in r.getMessage()
    ]


@pytest.mark.parametrize("case", sorted(FAILURES))
async def test_fails_fast_and_cleans_up(
    case: str, stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    if case == "config" and CLUSTER:
        pytest.skip("KWOK, the control-plane tier's kubelet, never looks at ConfigMaps")
    caplog.set_level(logging.WARNING, logger="userpods.daemon")
    doc, reasons = FAILURES[case]
    name = await create(api, serve(stack, doc), USER)
    assert stack.settings.timeout_create == 15
    with trio.fail_after(5):  # far below timeoutCreate (15 s)
        assert await watch_create(api, USER, name) is False
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)
    messages = _failure_logs(caplog, name)
    assert any(reason in m for m in messages for reason in reasons), messages


async def test_timeout_cleans_up(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A pod that is merely slow to start is deleted once timeoutCreate has passed."""
    await stack.restart(timeoutCreate="1s")
    caplog.set_level(logging.WARNING, logger="userpods.daemon")
    started = trio.current_time()
    url = serve(stack, pod_manifest("slow", image=SLOW_START, restart="Never"))
    name = await create(api, url, USER)
    assert name in await cluster_pods(kube, USER)
    with trio.fail_after(5):
        assert await watch_create(api, USER, name) is False
    assert trio.current_time() - started >= 0.9  # not before the timeout
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)
    messages = _failure_logs(caplog, name)
    assert any("within 1s" in m for m in messages), messages
