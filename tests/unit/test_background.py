"""The plugin contract's background work and counters (``Context.spawn``, ``ctx.counters``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from userpods.config import Settings
from userpods.daemon.metrics import Metrics
from userpods.hooks import Context


def context(nursery: trio.Nursery | None, tmp_path: Path) -> Context:
    none: Any = None
    return Context(
        Settings(pod_cache_dir=tmp_path),
        none,
        none,
        tmp_path,
        logging.getLogger("test.background"),
        background=nursery,
    )


async def test_a_failing_task_is_logged_and_ends_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failed, survivor_ran = trio.Event(), trio.Event()

    async def failing() -> None:
        failed.set()
        raise ValueError("boom")

    async def survivor() -> None:
        await failed.wait()
        await trio.lowlevel.checkpoint()  # still running after the failure: not cancelled
        survivor_ran.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            ctx = context(nursery, tmp_path)
            ctx.spawn("failing", failing)
            ctx.spawn("survivor", survivor)
    assert survivor_ran.is_set()
    [record] = [r for r in caplog.records if "background task failing failed" in r.getMessage()]
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_spawn_outside_a_daemon_says_so(tmp_path: Path) -> None:
    async def task() -> None:
        return None

    with pytest.raises(RuntimeError, match="no background nursery"):
        context(None, tmp_path).spawn("x", task)


def test_a_context_outside_a_daemon_counts_nowhere(tmp_path: Path) -> None:
    context(None, tmp_path).counters.count("userpods_x", "x", key="a")  # no error, no effect


def test_a_plugin_counter_is_made_at_its_first_count() -> None:
    metrics = Metrics()
    assert b"userpods_things_total" not in metrics.exposition()
    metrics.count("userpods_things", "Things seen.", key="a")
    metrics.count("userpods_things", "Things seen.", key="a")
    metrics.count("userpods_things", "Things seen.", key="b")
    metrics.count("userpods_plain", "No labels.")
    text = metrics.exposition().decode()
    assert 'userpods_things_total{key="a"} 2.0' in text
    assert 'userpods_things_total{key="b"} 1.0' in text
    assert "userpods_plain_total 1.0" in text
    with pytest.raises(ValueError, match="label names"):
        metrics.count("userpods_things", "Things seen.", other="c")  # other label names
