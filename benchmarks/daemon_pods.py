"""Benchmark of the daemon: many users creating pods through the REST API, end to end.

Runs the simulated cluster and the daemon as processes of their own (so each one's CPU and
memory are measured alone) and drives the daemon over HTTP from here: N creations of the
ubuntu manifest (SSH service, two tokens copied through exec) spread over users, each followed
by watch_create_pod; then get_pods for every user; then delete_all_user for every user.
Prints throughput, latencies, Kubernetes requests per pod, and both processes' CPU time and
peak RSS. Figures only: nothing here asserts a time.

    python benchmarks/daemon_pods.py [--pods 300] [--users 50] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import httpx2
import trio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_pods import cpu_seconds, peak_rss_mib, percentile, start, start_sim

from userpods.examples import serve_examples

NAMESPACE = "bench"

# USERPODS_BENCH_PROFILE=DIR: run both processes under cProfile, writing DIR/{daemon,sim}.prof.
PROFILE = os.environ.get("USERPODS_BENCH_PROFILE", "")


def profiled(name: str) -> list[str]:
    return ["-m", "cProfile", "-o", f"{PROFILE}/{name}.prof"] if PROFILE else []


async def run(pods: int, users: int, concurrency: int) -> None:
    nodes = max(3, math.ceil(pods / 100) + 1)
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp, "kubeconfig.yaml")
        (Path(tmp) / "podcaches").mkdir()
        async with trio.open_nursery() as nursery:
            examples = await nursery.start(serve_examples)
            sim = await start_sim(
                kubeconfig, nodes, "--pod-cidr", "10.128.0.0/15", python_options=profiled("sim")
            )
            config = trio.Path(tmp, "config.yaml")
            await config.write_text(
                yaml.safe_dump(
                    {
                        "namespace": NAMESPACE,
                        "podCacheDir": str(Path(tmp) / "podcaches"),
                        "whitelistManifestRegex": re.escape(examples),
                        "timeoutCreate": "5m",
                        "timeoutDelete": "5m",
                        "ingressDomain": "pods.bench.test",
                    }
                )
            )
            daemon, url = await start(
                [
                    sys.executable,
                    *profiled("daemon"),
                    "-m",
                    "userpods",
                    "serve",
                    "--config",
                    str(config),
                    "--kubeconfig",
                    str(kubeconfig),
                    "--listen",
                    "127.0.0.1:0",
                ],
                rb"userpods: serving (http://\S+)",
            )
            try:
                await measure(
                    url, examples, sim.pid, daemon.pid, kubeconfig, pods, users, concurrency, nodes
                )
            finally:
                for proc in (daemon, sim):
                    proc.terminate()
                    await proc.wait()
            nursery.cancel_scope.cancel()


async def sim_stats(kubeconfig: Path) -> dict[str, object]:
    config = yaml.safe_load(await trio.Path(kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    async with httpx2.AsyncClient(verify=False) as client:
        reply = await client.get(
            f"{server}/_sim/stats", headers={"authorization": f"Bearer {token}"}
        )
        stats: dict[str, object] = reply.json()
        return stats


def request_total(stats: dict[str, object]) -> int:
    requests = stats["requests"]
    assert isinstance(requests, dict)
    return sum(sum(by_resource.values()) for by_resource in requests.values())


async def measure(
    url: str,
    examples: str,
    sim_pid: int,
    daemon_pid: int,
    kubeconfig: Path,
    pods: int,
    users: int,
    concurrency: int,
    nodes: int,
) -> None:
    manifest = f"{examples}ubuntu_sciencedata.yaml"
    ready_after: list[float] = []
    call_latency: list[float] = []
    failures = 0
    limit = trio.CapacityLimiter(concurrency)
    before = await sim_stats(kubeconfig)
    cpu = (cpu_seconds(sim_pid), cpu_seconds(daemon_pid))
    async with httpx2.AsyncClient(base_url=url, timeout=600) as http:

        async def create(i: int) -> None:
            nonlocal failures
            user = f"bench{i % users}@sciencedata.dk"
            async with limit:
                start = trio.current_time()
                reply = await http.post("/create_pod", json={"yaml_url": manifest, "user_id": user})
                call_latency.append(trio.current_time() - start)
            name = reply.json()["pod_name"]
            done = await http.post("/watch_create_pod", json={"user_id": user, "pod_name": name})
            if done.json()["ready"]:
                ready_after.append(trio.current_time() - start)
            else:
                failures += 1

        begin = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(pods):
                nursery.start_soon(create, i)
        created = trio.current_time() - begin
        cpu_create = (cpu_seconds(sim_pid) - cpu[0], cpu_seconds(daemon_pid) - cpu[1])
        after = await sim_stats(kubeconfig)
        listing: list[float] = []
        for _ in range(3):
            for u in range(users):
                start = trio.current_time()
                reply = await http.post("/get_pods", json={"user_id": f"bench{u}@sciencedata.dk"})
                listing.append(trio.current_time() - start)
        listed = sum(len(json.loads(reply.content)) for _ in [0])
        begin = trio.current_time()

        async def remove(u: int) -> None:
            await http.post("/delete_all_user", json={"user_id": f"bench{u}@sciencedata.dk"})

        async with trio.open_nursery() as nursery:
            for u in range(users):
                nursery.start_soon(remove, u)
        removed = trio.current_time() - begin
    per_pod = (request_total(after) - request_total(before)) / pods
    print(
        f"simulated cluster: {nodes} nodes; daemon: {pods} pods for {users} users, "
        f"client concurrency {concurrency}"
    )
    print(
        f"create_pod calls:  p50 {statistics.median(call_latency) * 1000:.0f} ms, "
        f"p99 {percentile(call_latency, 99) * 1000:.0f} ms"
    )
    print(
        f"request -> Ready:  {pods / created:6.1f} pods/s end to end ({created:.1f} s for all; "
        f"{failures} failed); p50 {statistics.median(ready_after) * 1000:.0f} ms, "
        f"p99 {percentile(ready_after, 99) * 1000:.0f} ms (SSH service and 2 tokens each)"
    )
    print(
        f"Kubernetes calls:  {per_pod:.1f} per pod created (sim's counters; watches: one per kind)"
    )
    print(
        f"get_pods:          p50 {statistics.median(listing) * 1000:.1f} ms, "
        f"p99 {percentile(listing, 99) * 1000:.1f} ms with {pods // users} pods per user "
        f"({listed} in the last reply)"
    )
    print(f"delete_all_user:   {pods / removed:6.1f} pods/s ({removed:.1f} s for all users)")
    print(
        f"CPU during create: daemon {cpu_create[1]:.1f} s, simulated cluster {cpu_create[0]:.1f} s"
    )
    print(
        f"peak RSS:          daemon {peak_rss_mib(daemon_pid):.0f} MiB, simulated cluster "
        f"{peak_rss_mib(sim_pid):.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    trio.run(run, args.pods, args.users, args.concurrency)


if __name__ == "__main__":
    main()
