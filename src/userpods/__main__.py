"""The ``userpods`` command line: ``userpods serve`` (the daemon) and ``userpods sim``.

This is the only module that wires the simulated cluster to anything else (``serve --sim``
runs both in one nursery); it turns SIGINT/SIGTERM into a clean shutdown and exit code 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import re
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from lightkube import KubeConfig

from .config import ConfigError, Settings, load_settings, warn_ignored_keys
from .daemon.service import serve_daemon
from .examples import manifest_names, serve_examples
from .kube import load_config
from .logs import configure_logging

if TYPE_CHECKING:
    from .sim import SimOptions

# The simulated cluster is imported where it is used: ``serve`` without ``--sim`` never loads
# it (some 11 MiB of a daemon's memory).


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
    p.add_argument(
        "--no-metrics-api",
        dest="metrics_api",
        action="store_false",
        help="serve no metrics.k8s.io API, as a cluster without metrics-server",
    )


def _sim_options(args: argparse.Namespace) -> SimOptions:
    from .sim import Catalogue, CatalogueError, FaultSettings, KubeletTimings, SimOptions

    try:
        data = json.loads(args.faults)
    except ValueError as exc:
        raise SystemExit(f"userpods sim: --faults: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SystemExit("userpods sim: --faults: must be a JSON object")
    try:
        faults = FaultSettings.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"userpods sim: --faults: {exc}") from exc
    if args.nodes < 1:
        raise SystemExit("userpods sim: --nodes must be at least 1")
    try:
        cidr = ipaddress.ip_network(args.pod_cidr, strict=False)
    except ValueError as exc:
        raise SystemExit(f"userpods sim: --pod-cidr: {exc}") from exc
    if cidr.version != 4:
        raise SystemExit("userpods sim: --pod-cidr: only IPv4 pod CIDRs are supported")
    if args.images is not None:
        if not args.images.is_file():
            raise SystemExit(f"userpods sim: --images: no such file: {args.images}")
        # Load it here, before trio.run: an error inside the run would surface as an
        # exception group traceback rather than one line naming the bad entry.
        try:
            Catalogue.from_file(args.images)
        except (CatalogueError, OSError, UnicodeDecodeError) as exc:
            raise SystemExit("userpods sim: --images: " + " ".join(str(exc).split())) from exc
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
        metrics_api=args.metrics_api,
    )


def _leaf(error: BaseException) -> BaseException:
    """The first exception inside (possibly nested) exception groups."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def _until_signalled(run: Callable[[trio.Event], Awaitable[None]]) -> None:
    """Run ``run(stop)``; SIGINT/SIGTERM set ``stop``, and ``run`` is expected to wind down."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def wait_for_signal() -> None:
                async for _ in signals:
                    stop.set()
                    return

            nursery.start_soon(wait_for_signal)
            await run(stop)
            nursery.cancel_scope.cancel()


async def _serve_sim(options: SimOptions, stop: trio.Event) -> None:
    from .sim import serve_sim

    async with trio.open_nursery() as nursery:
        cluster = await nursery.start(
            lambda task_status: serve_sim(options, shutdown=stop, task_status=task_status)
        )
        print(f"userpods sim: serving {cluster.url} (kubeconfig: {options.kubeconfig})", flush=True)
        print(f"  try: kubectl --kubeconfig {options.kubeconfig} get nodes", flush=True)
        await stop.wait()
        nursery.cancel_scope.deadline = trio.current_time() + 5
    print("userpods sim: stopped", flush=True)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the REST API (the daemon)",
        description="Serve the user-pods REST API until SIGINT/SIGTERM.",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="configuration file (YAML); every key can also be set as BACKEND_<KEY IN CAPITALS>",
    )
    p.add_argument(
        "--listen", help="HOST:PORT to listen on (default: 0.0.0.0:8080, 127.0.0.1:8080 with --sim)"
    )
    p.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig of the cluster (default: the in-cluster service account)",
    )
    p.add_argument(
        "--sim",
        action="store_true",
        help="run on an embedded simulated cluster, with example manifests served locally",
    )
    p.add_argument(
        "--sim-kubeconfig",
        type=Path,
        default=Path("sim-kubeconfig.yaml"),
        help="with --sim: where to write the simulated cluster's kubeconfig (default: %(default)s)",
    )
    p.add_argument(
        "--sim-images",
        type=Path,
        help="with --sim: an image catalogue (YAML) consulted before the built-in one",
    )


def _load_serve_settings(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        if not (args.sim and exc.key == "podCacheDir"):
            raise SystemExit(f"userpods serve: configuration: {exc}") from exc
        # The embedded cluster is throw-away: so is its token store.
        scratch = tempfile.mkdtemp(prefix="userpods-podcaches-")
        env = {**os.environ, "BACKEND_PODCACHEDIR": scratch}
        try:
            settings = load_settings(args.config, env=env)
        except ConfigError as again:
            raise SystemExit(f"userpods serve: configuration: {again}") from again
    return settings


def _listen(args: argparse.Namespace) -> str:
    listen = args.listen or ("127.0.0.1:8080" if args.sim else "0.0.0.0:8080")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"userpods serve: --listen must be HOST:PORT, not {listen!r}")
    return listen


def _kube_config(args: argparse.Namespace) -> KubeConfig | None:
    """The Kubernetes configuration of ``userpods serve`` (None with --sim: the simulated
    cluster makes its own); read before trio starts, so a bad file is a one-line message."""
    if args.sim:
        return None
    try:
        return load_config(args.kubeconfig)
    except Exception as exc:
        raise SystemExit(
            f"userpods serve: cannot load the Kubernetes configuration: {exc}"
        ) from exc


async def _serve_daemon(
    args: argparse.Namespace,
    settings: Settings,
    kube_config: KubeConfig | None,
    stop: trio.Event,
) -> None:
    listen = _listen(args)
    async with trio.open_nursery() as nursery:
        extra = ""
        if args.sim:
            from .sim import SimOptions, serve_sim

            examples = await nursery.start(serve_examples)
            options = SimOptions(
                port=0,
                kubeconfig=args.sim_kubeconfig,
                images=args.sim_images,
                namespaces=(settings.namespace,),
                pod_cidr=str(settings.pod_subnet_cidr),
            )
            cluster = await nursery.start(serve_sim, options)
            pattern = settings.whitelist_manifest_regex.pattern
            whitelist = re.compile(f"{re.escape(examples)}|{pattern}")
            settings = dataclasses.replace(settings, whitelist_manifest_regex=whitelist)
            kube_config = KubeConfig.from_dict(cluster.kubeconfig(namespace=settings.namespace))
            extra = _sim_hints(args, settings, cluster.url, examples)
        assert kube_config is not None
        async with trio.open_nursery() as daemon_nursery:
            handle = await daemon_nursery.start(
                partial(serve_daemon, settings, kube_config, listen=listen, shutdown=stop)
            )
            print(f"userpods: serving {handle.url} (namespace {settings.namespace})", flush=True)
            if extra:
                print(extra.replace("{url}", handle.url), flush=True)
        nursery.cancel_scope.cancel()  # the daemon has drained: stop the rest
    print("userpods: stopped", flush=True)


def _sim_hints(
    args: argparse.Namespace, settings: Settings, cluster_url: str, examples: str
) -> str:
    create = json.dumps(
        {"yaml_url": f"{examples}ubuntu_sciencedata.yaml", "user_id": "demo@sciencedata.dk"}
    )
    listing = json.dumps({"user_id": "demo@sciencedata.dk"})
    header = "-H 'Content-Type: application/json'"
    return "\n".join(
        [
            f"  on a simulated cluster at {cluster_url}",
            f"  kubectl --kubeconfig {args.sim_kubeconfig} -n {settings.namespace} get pods",
            f"  example manifests: {examples} ({', '.join(manifest_names())})",
            f"  try: curl -s -X POST {{url}}/create_pod {header} -d '{create}'",
            f"       curl -s -X POST {{url}}/get_pods {header} -d '{listing}'",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="userpods", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _sim_parser(sub)
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "serve":
        settings = _load_serve_settings(args)
        configure_logging(settings.log_format)
        warn_ignored_keys(settings)
        problem = ""
        try:
            kube_config = _kube_config(args)
            trio.run(_until_signalled, partial(_serve_daemon, args, settings, kube_config))
        except* OSError as group:
            problem = f"userpods serve: cannot serve on {_listen(args)}: {_leaf(group)}"
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return 0
    if args.command == "sim":
        from .sim import CatalogueError

        options = _sim_options(args)
        failure: tuple[str, int] | None = None
        # Errors arrive wrapped in (nested) exception groups from the nurseries.
        try:
            trio.run(_until_signalled, partial(_serve_sim, options))
        except* CatalogueError as group:
            failure = (f"userpods sim: {_leaf(group)}", 2)
        except* OSError as group:
            failure = (f"userpods sim: cannot serve on {args.host}:{args.port}: {_leaf(group)}", 1)
        if failure is not None:
            print(failure[0], file=sys.stderr)
            return failure[1]
        return 0
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
