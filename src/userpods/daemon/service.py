"""Running the daemon: the cache, the flows and the HTTP server in one nursery.

:func:`serve_daemon` is a ``serve_*`` function for ``nursery.start``: it reports a
:class:`DaemonHandle` (with the URL it listens on) once the cache is synced, the interrupted
flows are resumed and the server accepts connections. Shutdown goes through ``shutdown`` (an
event): the HTTP server stops taking requests and lets in-flight ones finish within the grace
period, then the flows are cancelled; their state is on the pods, so the next start resumes
them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import httpx2
import hypercorn.config
import hypercorn.trio
import pluggy
import trio
from lightkube import KubeConfig

from ..config import Settings
from ..kube import Kube, RetryPolicy, open_kube
from .app import build_app
from .cache import ClusterCache
from .core import Daemon
from .edge import SERVER_HEAD_LIMIT, guard
from .pluginhost import build_plugin_manager, plugin_names

log = logging.getLogger("userpods.daemon")


@dataclass
class DaemonHandle:
    url: str
    daemon: Daemon
    kube: Kube


async def serve_daemon(
    settings: Settings,
    kube_config: KubeConfig,
    *,
    listen: str = "127.0.0.1:8080",
    pm: pluggy.PluginManager | None = None,
    shutdown: trio.Event | None = None,
    grace_period: float = 5.0,
    retry: RetryPolicy | None = None,
    stale_after: float = 10.0,
    task_status: trio.TaskStatus[DaemonHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the REST API until cancelled or until ``shutdown`` is set.

    ``stale_after``: seconds a failing watch may last before /readyz turns red.
    """
    pm = pm or build_plugin_manager(settings)
    stop = shutdown if shutdown is not None else trio.Event()
    async with (
        open_kube(kube_config, settings.namespace, retry) as kube,
        httpx2.AsyncClient(follow_redirects=False) as http,
        trio.open_nursery() as nursery,
    ):
        cache = ClusterCache(kube, stale_after=stale_after)
        await nursery.start(cache.run)
        daemon = Daemon(settings, kube, cache, pm, nursery, http)
        await nursery.start(daemon.watch_events)  # before resumed flows need it
        daemon.resume()
        nursery.start_soon(_clean_after_start, daemon)
        nursery.start_soon(_stop_waits_at_shutdown, daemon, stop)
        config = hypercorn.config.Config()
        config.bind = [listen]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")  # through our handlers
        config.graceful_timeout = grace_period
        # Heads up to SERVER_HEAD_LIMIT reach the app, which refuses those over MAX_HEAD with
        # a JSON 431 (edge.py); hypercorn's own 431 for larger ones has no body.
        config.h11_max_incomplete_size = SERVER_HEAD_LIMIT
        config.h2_max_header_list_size = SERVER_HEAD_LIMIT
        app = guard(cast(Any, build_app(daemon)))
        async with trio.open_nursery() as server:
            binds = await server.start(
                partial(hypercorn.trio.serve, cast(Any, app), config, shutdown_trigger=stop.wait)
            )
            url = binds[0]
            log.info(
                "userpods serving %s (namespace %s, plugins: %s)",
                url,
                settings.namespace,
                ", ".join(plugin_names(pm)),
            )
            task_status.started(DaemonHandle(url, daemon, kube))
        nursery.cancel_scope.cancel()  # the server has drained: stop the flows


async def _stop_waits_at_shutdown(daemon: Daemon, stop: trio.Event) -> None:
    """At shutdown, long requests (watch_*, delete_all_user, a manifest fetch) answer at once
    instead of being cut off without a reply when the grace period ends."""
    await stop.wait()
    daemon.begin_stopping()


async def _clean_after_start(daemon: Daemon) -> None:
    """Rebuild local state, then clean once: a crash may have left orphans (a pod gone while
    the daemon was down)."""
    try:
        await daemon.startup()
        await daemon.clean_unused()
    except Exception:
        log.exception("the work after start-up failed")
    finally:
        daemon.settled.set()
