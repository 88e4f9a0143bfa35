"""The daemon as a real child process (``userpods serve``), for tests that need what only a
process has: signals (SIGKILL, SIGTERM), an exit code, and its own memory (peak RSS).

``process_files`` stops the stack's in-process daemon and writes the config, kubeconfig and log
file for processes like it, against the same simulated cluster; ``serve_process`` runs one and
yields it with its URL; ``api_of`` is an ``api`` (as the conftest fixture) for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import trio
import yaml

from tests.e2e.conftest import NAMESPACE, Stack
from userpods.config import describe

SERVING = re.compile(rb"userpods: serving (http://\S+)")


@asynccontextmanager
async def serve_process(
    config: Path, kubeconfig: Path, log: Path, **backend_env: str
) -> AsyncIterator[tuple[trio.Process, str]]:
    """``userpods serve`` as a child process; yields it and its URL once it serves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    env.update({f"BACKEND_{key.upper()}": value for key, value in backend_env.items()})
    command = [sys.executable, "-m", "userpods", "serve", "--config", str(config)]
    command += ["--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0"]
    with log.open("ab") as err:
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, stderr=err, env=env
        )
    try:
        assert process.stdout is not None
        seen = b""
        with trio.fail_after(20):
            while (found := SERVING.search(seen)) is None:
                chunk = await process.stdout.receive_some()
                if not chunk:
                    errors = await trio.Path(log).read_text()
                    raise AssertionError(f"userpods serve exited: {seen!r}\n{errors}")
                seen += chunk
        yield process, found.group(1).decode()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


@asynccontextmanager
async def api_of(base: str) -> AsyncIterator[Callable[..., Awaitable[httpx2.Response]]]:
    """An ``api`` (as the fixture) for the daemon process at ``base``. Its client is closed on
    exit: an idle keep-alive connection would hold a SIGTERM shutdown for the whole grace
    period (hypercorn waits for it)."""
    async with httpx2.AsyncClient(timeout=30) as http:

        async def call(path: str, body: Any) -> httpx2.Response:
            return await http.post(base + path, json=body)

        yield call


def process_files(stack: Stack, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The config, kubeconfig and log file of ``userpods serve`` processes like the stack's
    daemon (which is stopped: only the processes serve)."""
    stack.crash()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(describe(stack.settings)))
    kubeconfig = tmp_path / "kubeconfig.yaml"
    stack.sim.write_kubeconfig(kubeconfig, namespace=NAMESPACE)
    return config, kubeconfig, tmp_path / "userpods.log"


def peak_rss_kib(process: trio.Process) -> int:
    """The process's peak resident set size so far (``VmHWM``, in KiB; Linux only)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    assert found is not None, status
    return int(found.group(1))
