"""Benchmark at scale: the daemon and the simulated cluster with thousands of pods present.

For each size (``--sizes``, default 1,000 and 10,000 pods), in one run:

1. the simulated cluster (``simserver.py``, a process of its own) is seeded with ``size`` pods
   of ``size / 10`` users, as the daemon leaves them (labels, annotations, SSH services, a
   bound volume and claim per user, token files), all Ready;
2. the simulated cluster alone: ``--creations`` pods made with the minimal calls a creation
   needs (create pod, wait Ready, create its SSH service, two execs to read tokens) straight
   against it at ``--concurrency``, then deleted (deletecollection);
3. the daemon is started on the seeded pods: time from process start until /readyz answers
   200, the exec calls it made meanwhile (0: the tokens are on disk), its RSS;
4. reads: get_pods for random users against a labelled list per request straight to the
   cluster (what the original did), get_podip_owner for random pod IPs, and /healthz (the
   round trip of a request that does nothing: the floor under every read);
5. ``--creations`` creations through the REST API (create_pod + watch_create_pod, ubuntu
   manifest: SSH service and two tokens), with the daemon's CPU per creation and the
   Kubernetes requests per creation from the cluster's counters (by verb and resource);
   then delete_all_user for those users.

Prints one table: a row per figure, a column per size, and the issue's target. Figures only:
nothing here asserts a time.

    python benchmarks/scale.py [--sizes 1000,10000] [--creations 300] [--concurrency 32]
                               [--profile DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx2
import trio
import yaml
from lightkube import KubeConfig
from lightkube.models.core_v1 import Container, ContainerPort, PodSpec, ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod, Service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_pods import cpu_seconds, is_ready, peak_rss_mib, percentile, rss_mib
from simserver import IMAGE, TOKEN_KEYS, seed_user

from userpods.examples import serve_examples
from userpods.kube import open_kube

NAMESPACE = "bench"
HERE = Path(__file__).resolve().parent
Figures = dict[str, str]

# (row, target) in the order printed; rows a size did not measure show "-".
ROWS: list[tuple[str, str]] = [
    ("seeded pods (users)", ""),
    ("seeding time", ""),
    ("sim RSS, seeded", "<= 250 MiB at 10,000"),
    ("direct creations/s (sim alone)", ">= 0.8x the 1,000 figure"),
    ("  direct: create pod call p50/p99", ""),
    ("  direct: create -> Ready p50/p99", ""),
    ("  direct: sim CPU per creation", ""),
    ("  direct: delete all (pods/s)", ""),
    ("daemon start to ready", "<= 1.5 s at 10,000"),
    ("exec calls at start", "0"),
    ("daemon RSS, all cached", "<= 120 MiB at 10,000"),
    ("get_pods p50/p99 (random users)", "p99 <= 3 ms"),
    ("labelled list per request p50/p99", ""),
    ("  ratio list / get_pods (p50, p99)", ">= 20x"),
    ("  HTTP floor: /healthz p50/p99", ""),
    ("get_podip_owner p50/p99", "from an index"),
    ("REST creations/s (create+watch)", ""),
    ("  ratio REST / direct", ">= 0.85x"),
    ("  create_pod call p50/p99", ""),
    ("  request -> Ready p50/p99", ""),
    ("  failed creations", "0"),
    ("daemon CPU per creation", "<= 10 ms"),
    ("sim CPU per creation (REST)", ""),
    ("API calls per creation", "<= 5"),
    ("  by verb and resource", ""),
    ("get_pods, creating users", ""),
    ("delete_all_user (pods/s)", ""),
    ("peak RSS daemon / sim", ""),
]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p50_p99(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:.1f} / {percentile(values, 99) * 1000:.1f} ms"


def open_log(path: Path) -> BinaryIO:
    return path.open("wb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_process(
    argv: list[str], pattern: bytes, limit: float
) -> tuple[trio.Process, list[str]]:
    """Start a process and wait for the line matching ``pattern``; returns it and all lines."""
    proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    seen = b""
    with trio.fail_after(limit):
        while re.search(pattern, seen) is None:
            chunk = await proc.stdout.receive_some()
            if not chunk:
                raise SystemExit(f"{argv[1:3]} exited: {seen.decode()}")
            seen += chunk
    return proc, seen.decode().splitlines()


class Sim:
    """The simulated cluster's process, and plain HTTP to it (counters, direct lists)."""

    def __init__(self, proc: trio.Process, kubeconfig: Path) -> None:
        self.proc = proc
        self.kubeconfig = kubeconfig
        config = yaml.safe_load(kubeconfig.read_text())
        self.server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        self.http = httpx2.AsyncClient(
            base_url=self.server,
            verify=False,
            headers={"authorization": f"Bearer {token}"},
            timeout=120,
        )

    async def stats(self) -> Counter[str]:
        reply = await self.http.get("/_sim/stats")
        counts: Counter[str] = Counter()
        for verb, by_resource in reply.json()["requests"].items():
            for resource, n in by_resource.items():
                counts[f"{verb} {resource}"] += n
        return counts

    async def pods(self, selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        reply = await self.http.get(f"/api/v1/namespaces/{NAMESPACE}/pods", params=params)
        items: list[dict[str, Any]] = reply.json()["items"]
        return items


def execs(counts: Counter[str]) -> int:
    return sum(n for key, n in counts.items() if key.endswith("/exec"))


async def direct_creations(sim: Sim, figures: Figures, creations: int, concurrency: int) -> float:
    """The minimal calls of a creation straight against the cluster; returns pods/s."""
    config = KubeConfig.from_file(sim.kubeconfig)
    ready: dict[str, trio.Event] = {f"direct-{i:05d}": trio.Event() for i in range(creations)}
    gone: set[str] = set()
    all_gone = trio.Event()
    call_latency: list[float] = []
    to_ready: list[float] = []
    async with open_kube(config, NAMESPACE) as kube:
        client = kube.client

        async def follow(task_status: trio.TaskStatus[None]) -> None:
            listing = client.list(Pod, labels={"app": "direct"})
            async for _ in listing:
                pass
            task_status.started()
            stream = client.watch(
                Pod, labels={"app": "direct"}, resource_version=listing.resourceVersion
            )
            async with contextlib.aclosing(stream):
                async for kind, pod in stream:
                    name = pod.metadata.name
                    if kind == "DELETED":
                        gone.add(name)
                        if len(gone) == creations:
                            all_gone.set()
                            return
                    elif name in ready and is_ready(pod):
                        ready[name].set()

        async def create(name: str, limit: trio.CapacityLimiter) -> None:
            async with limit:
                begin = trio.current_time()
                await kube.create(
                    Pod(
                        metadata=ObjectMeta(name=name, labels={"app": "direct", "podName": name}),
                        spec=PodSpec(
                            containers=[
                                Container(
                                    name="main",
                                    image=IMAGE,
                                    ports=[ContainerPort(containerPort=22)],
                                )
                            ],
                            restartPolicy="Never",
                        ),
                    )
                )
                call_latency.append(trio.current_time() - begin)
                await ready[name].wait()
                to_ready.append(trio.current_time() - begin)
                await kube.create(
                    Service(
                        metadata=ObjectMeta(name=f"{name}-ssh", labels={"app": "direct"}),
                        spec=ServiceSpec(
                            type="NodePort",
                            selector={"podName": name},
                            ports=[ServicePort(name="ssh", port=22, targetPort=22)],
                        ),
                    )
                )
                for key in TOKEN_KEYS:
                    await kube.exec(name, ["head", "-c", "4096", f"/tmp/{key}"])

        async with trio.open_nursery() as nursery:
            await nursery.start(follow)
            async with trio.open_nursery() as warm:  # open the connections before timing
                for _ in range(concurrency):
                    warm.start_soon(kube.get, Service, "kubernetes")
            limit = trio.CapacityLimiter(concurrency)
            cpu = cpu_seconds(sim.proc.pid)
            begin = trio.current_time()
            async with trio.open_nursery() as creators:
                for name in ready:
                    creators.start_soon(create, name, limit)
            took = trio.current_time() - begin
            sim_cpu = cpu_seconds(sim.proc.pid) - cpu
            begin = trio.current_time()
            await sim.http.delete(
                f"/api/v1/namespaces/{NAMESPACE}/pods", params={"labelSelector": "app=direct"}
            )
            await all_gone.wait()
            deleted = trio.current_time() - begin
    rate = creations / took
    figures["direct creations/s (sim alone)"] = f"{rate:.1f} ({took:.1f} s for {creations})"
    figures["  direct: create pod call p50/p99"] = p50_p99(call_latency)
    figures["  direct: create -> Ready p50/p99"] = p50_p99(to_ready)
    figures["  direct: sim CPU per creation"] = ms(sim_cpu / creations)
    figures["  direct: delete all (pods/s)"] = f"{creations / deleted:.1f}"
    return rate


async def wait_ready(url: str, deadline: float) -> float:
    """Poll /readyz until it answers 200; returns the trio time it did."""
    async with httpx2.AsyncClient(base_url=url, timeout=5) as http:
        with trio.fail_after(deadline):
            while True:
                with contextlib.suppress(httpx2.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return trio.current_time()
                await trio.sleep(0.01)


async def timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        begin = trio.current_time()
        await call()
        out.append(trio.current_time() - begin)
    return out


async def reads(sim: Sim, http: httpx2.AsyncClient, figures: Figures, users: int) -> None:
    rng = random.Random(13)
    picks = [seed_user(rng.randrange(users)) for _ in range(500)]
    listed: list[int] = []

    async def get_pods(user: str) -> None:
        reply = await http.post("/get_pods", json={"user_id": user})
        listed.append(len(reply.json()))

    async def label_list(user: str) -> None:
        name, _, domain = user.partition("@")
        await sim.pods(f"user={name},domain={domain}")

    floor = await timed([lambda: http.get("/healthz") for _ in range(500)])
    cached = await timed([lambda u=u: get_pods(u) for u in picks])
    direct = await timed([lambda u=u: label_list(u) for u in picks[:200]])
    figures["get_pods p50/p99 (random users)"] = (
        p50_p99(cached) + f" ({statistics.median(listed):.0f} pods each)"
    )
    figures["labelled list per request p50/p99"] = p50_p99(direct)
    # The round trip of a request that does nothing (the same client, server and app): what
    # no cache can take off get_pods.
    figures["  HTTP floor: /healthz p50/p99"] = p50_p99(floor)
    figures["  ratio list / get_pods (p50, p99)"] = (
        f"{statistics.median(direct) / statistics.median(cached):.1f}x, "
        f"{percentile(direct, 99) / percentile(cached, 99):.1f}x"
    )
    ips = [p["status"]["podIP"] for p in await sim.pods() if p.get("status", {}).get("podIP")]
    owners: list[str] = []

    async def owner(ip: str) -> None:
        reply = await http.get("/get_podip_owner", params={"ip": ip})
        owners.append(reply.text)

    owner_times = await timed([lambda ip=ip: owner(ip) for ip in rng.choices(ips, k=500)])
    found = sum(1 for o in owners if o)
    figures["get_podip_owner p50/p99"] = p50_p99(owner_times) + f" ({found}/500 found)"


async def rest_creations(
    sim: Sim,
    daemon: trio.Process,
    http: httpx2.AsyncClient,
    manifest: str,
    figures: Figures,
    creations: int,
    concurrency: int,
    direct_rate: float,
) -> None:
    users = 50
    ready_after: list[float] = []
    call_latency: list[float] = []
    failures = 0
    limit = trio.CapacityLimiter(concurrency)

    async def create(i: int) -> None:
        nonlocal failures
        user = f"bench{i % users}@sciencedata.dk"
        async with limit:
            begin = trio.current_time()
            reply = await http.post("/create_pod", json={"yaml_url": manifest, "user_id": user})
            call_latency.append(trio.current_time() - begin)
            name = reply.json()["pod_name"]
            done = await http.post("/watch_create_pod", json={"user_id": user, "pod_name": name})
            if done.json()["ready"]:
                ready_after.append(trio.current_time() - begin)
            else:
                failures += 1

    before = await sim.stats()
    cpu = (cpu_seconds(daemon.pid), cpu_seconds(sim.proc.pid))
    begin = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(creations):
            nursery.start_soon(create, i)
    took = trio.current_time() - begin
    daemon_cpu = cpu_seconds(daemon.pid) - cpu[0]
    sim_cpu = cpu_seconds(sim.proc.pid) - cpu[1]
    calls = (await sim.stats()) - before
    calls.pop("get _sim", None)
    rate = creations / took
    figures["REST creations/s (create+watch)"] = f"{rate:.1f} ({took:.1f} s for {creations})"
    figures["  ratio REST / direct"] = f"{rate / direct_rate:.2f}x"
    figures["  create_pod call p50/p99"] = p50_p99(call_latency)
    figures["  request -> Ready p50/p99"] = p50_p99(ready_after)
    figures["  failed creations"] = str(failures)
    figures["daemon CPU per creation"] = ms(daemon_cpu / creations)
    figures["sim CPU per creation (REST)"] = ms(sim_cpu / creations)
    figures["API calls per creation"] = f"{sum(calls.values()) / creations:.2f}"
    figures["  by verb and resource"] = ", ".join(
        f"{key} {n / creations:.2f}" for key, n in sorted(calls.items())
    )
    listing = await timed(
        [
            lambda u=u: http.post("/get_pods", json={"user_id": f"bench{u}@sciencedata.dk"})
            for u in range(users)
            for _ in range(3)
        ]
    )
    figures["get_pods, creating users"] = p50_p99(listing) + f" ({creations // users} pods each)"
    begin = trio.current_time()
    async with trio.open_nursery() as nursery:
        for u in range(users):
            nursery.start_soon(
                lambda u=u: http.post(
                    "/delete_all_user", json={"user_id": f"bench{u}@sciencedata.dk"}
                )
            )
    figures["delete_all_user (pods/s)"] = f"{creations / (trio.current_time() - begin):.1f}"


async def run_size(size: int, args: argparse.Namespace, examples: str) -> Figures:
    figures: Figures = {}
    users = max(1, size // 10)
    nodes = math.ceil((size + 2 * args.creations) / 100) + 1
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        kubeconfig = Path(tmp, "kubeconfig.yaml")
        caches = Path(tmp, "podcaches")
        await trio.Path(caches).mkdir()
        sim_argv = [
            sys.executable,
            str(HERE / "simserver.py"),
            "--kubeconfig",
            str(kubeconfig),
            "--nodes",
            str(nodes),
            "--namespace",
            NAMESPACE,
            "--users",
            str(users),
            "--pods-per-user",
            "10",
            "--pod-cache-dir",
            str(caches),
            *(["--profile", str(Path(args.profile, f"sim-{size}.prof"))] if args.profile else []),
        ]
        print(f"[{size}] seeding {size} pods on {nodes} nodes ...", file=sys.stderr, flush=True)
        proc, lines = await start_process(sim_argv, rb"serving (https://\S+)", limit=1800)
        sim = Sim(proc, kubeconfig)
        daemon: trio.Process | None = None
        try:
            seeded = next(line for line in lines if line.startswith("seeded"))
            figures["seeded pods (users)"] = f"{size} ({users})"
            figures["seeding time"] = seeded.split(" in ")[1]
            figures["sim RSS, seeded"] = f"{rss_mib(proc.pid):.0f} MiB"
            print(f"[{size}] direct creations ...", file=sys.stderr, flush=True)
            direct_rate = await direct_creations(sim, figures, args.creations, args.concurrency)
            if args.profile:
                return figures  # the cluster's profile covers the direct creations only
            config = Path(tmp, "config.yaml")
            await trio.Path(config).write_text(
                yaml.safe_dump(
                    {
                        "namespace": NAMESPACE,
                        "podCacheDir": str(caches),
                        "whitelistManifestRegex": re.escape(examples),
                        "timeoutCreate": "5m",
                        "timeoutDelete": "5m",
                        "ingressDomain": "pods.bench.test",
                    }
                )
            )
            url = f"http://127.0.0.1:{free_port()}"
            print(f"[{size}] daemon ...", file=sys.stderr, flush=True)
            before = await sim.stats()
            log = stack.enter_context(open_log(Path(tmp, "daemon.log")))
            profile = (
                Path(args.profile_daemon, f"daemon-{size}.prof") if args.profile_daemon else None
            )
            begin = trio.current_time()
            daemon = await trio.lowlevel.open_process(
                [
                    sys.executable,
                    *(["-m", "cProfile", "-o", str(profile)] if profile else []),
                    "-m",
                    "userpods",
                    "serve",
                    "--config",
                    str(config),
                    "--kubeconfig",
                    str(kubeconfig),
                    "--listen",
                    url.removeprefix("http://"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            ready_at = await wait_ready(url, 300)
            figures["daemon start to ready"] = f"{ready_at - begin:.2f} s"
            await trio.sleep(2)  # start-up work that may follow readiness (none expected)
            figures["exec calls at start"] = str(execs((await sim.stats()) - before))
            figures["daemon RSS, all cached"] = f"{rss_mib(daemon.pid):.0f} MiB"
            async with httpx2.AsyncClient(base_url=url, timeout=600) as http:
                await reads(sim, http, figures, users)
                print(f"[{size}] REST creations ...", file=sys.stderr, flush=True)
                await rest_creations(
                    sim,
                    daemon,
                    http,
                    f"{examples}ubuntu_sciencedata.yaml",
                    figures,
                    args.creations,
                    args.concurrency,
                    direct_rate,
                )
            figures["peak RSS daemon / sim"] = (
                f"{peak_rss_mib(daemon.pid):.0f} / {peak_rss_mib(proc.pid):.0f} MiB"
            )
        finally:
            await sim.http.aclose()
            for p in (daemon, proc):
                if p is not None:
                    p.terminate()
                    await p.wait()
    return figures


def print_table(sizes: list[int], results: list[Figures], direct_ratio: str) -> None:
    headers = ["figure", *(f"{s:,} pods" for s in sizes), "target"]
    rows = [
        [name, *(r.get(name, "-") for r in results), target]
        for name, target in ROWS
        if name != "  by verb and resource"
    ]
    rows.insert(4, ["  ratio at largest / smallest", *([""] * (len(sizes) - 1)), direct_ratio, ""])
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    for size, figures in zip(sizes, results, strict=True):
        print(
            f"API calls per creation at {size:,} pods: {figures.get('  by verb and resource', '-')}"
        )


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        examples = await nursery.start(serve_examples)
        for size in sizes:
            results.append(await run_size(size, args, examples))
            for name, value in results[-1].items():  # as it goes, in case a size is cut short
                print(f"[{size}] {name.strip()}: {value}", file=sys.stderr, flush=True)
        nursery.cancel_scope.cancel()
    rates = [float(r["direct creations/s (sim alone)"].split()[0]) for r in results]
    ratio = f"{rates[-1] / rates[0]:.2f}x" if len(rates) > 1 else "-"
    print(
        f"userpods at scale: sizes {args.sizes}, {args.creations} creations each way, "
        f"concurrency {args.concurrency}; {time.monotonic() - started:.0f} s in all"
    )
    print_table(sizes, results, ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="pods seeded, comma-separated")
    parser.add_argument("--creations", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="profile the simulated cluster during the direct creations (DIR/sim-SIZE.prof) "
        "and stop after them",
    )
    parser.add_argument(
        "--profile-daemon",
        metavar="DIR",
        help="run the daemon under cProfile (DIR/daemon-SIZE.prof: start, reads, creations)",
    )
    args = parser.parse_args()
    trio.run(main_async, args)


if __name__ == "__main__":
    main()
