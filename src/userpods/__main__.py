"""The ``userpods`` command line: ``userpods sim`` (and, later, ``userpods serve``).

This is the only module that wires the simulated cluster to anything else; it turns
SIGINT/SIGTERM into a clean shutdown and exit code 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from .sim import CatalogueError, FaultSettings, KubeletTimings, SimOptions, serve_sim


def _sim_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="serve the simulated Kubernetes cluster over HTTPS",
        description="Serve the simulated Kubernetes cluster (apiserver, scheduler, "
        "kubelet, controllers) until SIGINT/SIGTERM.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=6443,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path("sim-kubeconfig.yaml"),
        help="where to write the kubeconfig once the server is up (default: %(default)s)",
    )
    p.add_argument(
        "--images", type=Path, help="an image catalogue (YAML) consulted before the built-in one"
    )
    p.add_argument(
        "--pod-cidr", default="10.244.0.0/16", help="pod IP range (default: %(default)s)"
    )
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default: %(default)s)")
    p.add_argument(
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        help="create this namespace at start (repeatable)",
    )
    p.add_argument(
        "--backoff",
        type=float,
        default=10.0,
        help="kubelet back-off base in seconds "
        "for image pulls and crash loops (default: %(default)s, as a real kubelet)",
    )
    p.add_argument(
        "--faults",
        default="{}",
        help="fault settings as JSON, e.g. "
        '\'{"error_rate": 0.1, "latency": 0.05}\' (see /_sim/faults)',
    )


def _sim_options(args: argparse.Namespace) -> SimOptions:
    try:
        faults = FaultSettings.from_dict(json.loads(args.faults))
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"userpods sim: --faults: {exc}") from exc
    if args.nodes < 1:
        raise SystemExit("userpods sim: --nodes must be at least 1")
    if args.images is not None and not args.images.is_file():
        raise SystemExit(f"userpods sim: --images: no such file: {args.images}")
    return SimOptions(
        host=args.host,
        port=args.port,
        kubeconfig=args.kubeconfig,
        images=args.images,
        pod_cidr=args.pod_cidr,
        nodes=args.nodes,
        namespaces=tuple(args.namespaces),
        faults=faults,
        timings=KubeletTimings(backoff_base=args.backoff),
    )


async def _run_until_signalled(options: SimOptions) -> None:
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def wait_for_signal() -> None:
                async for _ in signals:
                    stop.set()
                    return

            nursery.start_soon(wait_for_signal)
            cluster = await nursery.start(
                lambda task_status: serve_sim(options, shutdown=stop, task_status=task_status)
            )
            print(
                f"userpods sim: serving {cluster.url} (kubeconfig: {options.kubeconfig})",
                flush=True,
            )
            print(f"  try: kubectl --kubeconfig {options.kubeconfig} get nodes", flush=True)
            await stop.wait()
            nursery.cancel_scope.deadline = trio.current_time() + 5
    print("userpods sim: stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="userpods", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "sim":
        options = _sim_options(args)
        try:
            trio.run(_run_until_signalled, options)
        except CatalogueError as exc:
            print(f"userpods sim: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"userpods sim: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        return 0
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
