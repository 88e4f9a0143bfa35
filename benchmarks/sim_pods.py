"""Benchmark of the simulated cluster: create N pods through lightkube and watch them to Ready.

Runs ``userpods sim`` as its own process (so its memory is measured alone), then from this
process creates pods with bounded concurrency while one watch follows them. Prints pods/s,
p50/p99 time from create request to Ready, create-call latency, deletion throughput and the
simulated cluster's peak RSS. Figures only: nothing here asserts a time.

    python benchmarks/sim_pods.py [--pods 1000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod

NAMESPACE = "bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[index]


def _status_mib(pid: int, field: str) -> float:
    """A memory figure of /proc/PID/status (``VmHWM``, ``VmRSS``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    return _status_mib(pid, "VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_ready(pod: Pod) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


async def start(argv: list[str], pattern: bytes) -> tuple[trio.Process, str]:
    """Start a process and wait for the line that says it serves; returns it and the match."""
    proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    seen = b""
    with trio.fail_after(60):
        while (found := re.search(pattern, seen)) is None:
            chunk = await proc.stdout.receive_some()
            if not chunk:
                raise SystemExit(f"{argv[2:4]} exited: {seen.decode()}")
            seen += chunk
    return proc, found.group(1).decode()


async def start_sim(
    kubeconfig: Path, nodes: int, *options: str, python_options: Sequence[str] = ()
) -> trio.Process:
    """``userpods sim`` in a process of its own, with namespace ``bench``; once it serves."""
    argv = [
        sys.executable,
        *python_options,
        "-m",
        "userpods",
        "sim",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--nodes",
        str(nodes),
        "--namespace",
        NAMESPACE,
        *options,
    ]
    proc, _ = await start(argv, rb"serving (https://\S+)")
    return proc


async def run(pods: int, concurrency: int) -> None:
    nodes = max(3, math.ceil(pods / 100) + 1)  # 110 pods per node, as a real kubelet
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp, "kubeconfig.yaml")
        proc = await start_sim(kubeconfig, nodes)
        try:
            await measure(proc.pid, kubeconfig, pods, concurrency, nodes)
        finally:
            proc.terminate()
            await proc.wait()


async def measure(pid: int, kubeconfig: Path, pods: int, concurrency: int, nodes: int) -> None:
    client = AsyncClient(KubeConfig.from_file(kubeconfig), namespace=NAMESPACE)
    created_at: dict[str, float] = {}
    ready_at: dict[str, float] = {}
    gone: set[str] = set()
    call_latency: list[float] = []
    all_ready, all_gone = trio.Event(), trio.Event()
    relists = [0]
    rss_idle = peak_rss_mib(pid)
    cpu_start = cpu_seconds(pid)

    def seen(kind: str, pod: Pod) -> bool:
        """Record one event; True once everything waited for has happened."""
        name = pod.metadata.name
        if kind == "DELETED":
            gone.add(name)
            if len(gone) == pods:
                all_gone.set()
                return True
        elif name not in ready_at and is_ready(pod):
            ready_at[name] = trio.current_time()
            if len(ready_at) == pods:
                all_ready.set()
        return False

    async def follow(task_status: trio.TaskStatus[None]) -> None:
        """List+watch, relisting when the watch falls behind the history (410), as any
        informer does."""
        started = False
        while True:
            listing = client.list(Pod)
            present = set()
            async for pod in listing:
                present.add(pod.metadata.name)
                seen("MODIFIED", pod)
            for name in set(created_at) - present:
                if seen("DELETED", Pod(metadata=ObjectMeta(name=name))):
                    return
            if not started:
                task_status.started()
                started = True
            stream = client.watch(Pod, resource_version=listing.resourceVersion)
            try:
                async with contextlib.aclosing(stream):
                    async for kind, pod in stream:
                        if seen(kind, pod):
                            return
            except ApiError as exc:
                if exc.status.code != 410:
                    raise
                relists[0] += 1

    async def create(i: int, limit: trio.CapacityLimiter) -> None:
        name = f"bench-{i:05d}"
        pod = Pod(
            metadata=ObjectMeta(name=name, labels={"app": "bench"}),
            spec=PodSpec(containers=[Container(name="main", image="example/app")]),
        )
        async with limit:
            start = trio.current_time()
            created_at[name] = start
            await client.create(pod)
            call_latency.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        await nursery.start(follow)
        limit = trio.CapacityLimiter(concurrency)
        begin = trio.current_time()
        async with trio.open_nursery() as creators:
            for i in range(pods):
                creators.start_soon(create, i, limit)
        created = trio.current_time()
        await all_ready.wait()
        finished = trio.current_time()
        rss_loaded = peak_rss_mib(pid)
        cpu_create = cpu_seconds(pid) - cpu_start
        delete_begin = trio.current_time()
        await client.deletecollection(Pod)
        await all_gone.wait()
        delete_end = trio.current_time()
    await client.close()
    to_ready = [ready_at[n] - created_at[n] for n in created_at]
    print(f"simulated cluster: {nodes} nodes; {pods} pods; client concurrency {concurrency}")
    print(
        f"create calls:      {pods / (created - begin):8.1f} pods/s  "
        f"(p50 {statistics.median(call_latency) * 1000:.1f} ms, "
        f"p99 {percentile(call_latency, 99) * 1000:.1f} ms per call)"
    )
    print(
        f"created -> Ready:  {pods / (finished - begin):8.1f} pods/s end to end "
        f"({finished - begin:.2f} s for all)"
    )
    print(
        f"time to Ready:     p50 {statistics.median(to_ready) * 1000:.0f} ms, "
        f"p99 {percentile(to_ready, 99) * 1000:.0f} ms, max {max(to_ready) * 1000:.0f} ms"
    )
    print(
        f"delete all:        {pods / (delete_end - delete_begin):8.1f} pods/s "
        f"(deletecollection to last DELETED: {delete_end - delete_begin:.2f} s)"
    )
    print(f"sim CPU time:      {cpu_create:.2f} s for create -> Ready")
    print(f"watch relists:     {relists[0]} (the watch fell behind the retained history)")
    print(f"sim peak RSS:      {rss_loaded:.0f} MiB with {pods} pods (idle {rss_idle:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    trio.run(run, args.pods, args.concurrency)


if __name__ == "__main__":
    main()
