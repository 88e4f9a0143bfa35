"""Prometheus metrics of the daemon, in a registry of its own (no global state).

Counted as things happen: HTTP requests by endpoint and status, creations by outcome and
failure reason, creation latency (request to Ready with the post-create steps done). Read at
scrape time from the daemon's state: creations and deletions in flight, Kubernetes API calls by
verb and outcome, each cache's age (seconds since the apiserver last told it anything) and its
watch restarts. Plugins add counters of their own through :meth:`Metrics.count` (the
``Counters`` of their context), such as ``userpods_tokens_missing_total``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..kube import Kube
from .cache import ClusterCache

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 300, float("inf"))


class _StateCollector(Collector):
    """Reads the daemon's state at scrape time: what it is given, never the daemon itself
    (the daemon imports this module, so this one does not import the daemon)."""

    def __init__(self, creating: Sized, deleting: Sized, kube: Kube, cache: ClusterCache) -> None:
        self.creating, self.deleting = creating, deleting
        self.kube, self.cache = kube, cache

    def collect(self) -> Iterator[Metric]:
        flights = GaugeMetricFamily(
            "userpods_flows_in_flight", "Creations and deletions in flight.", labels=["flow"]
        )
        flights.add_metric(["create"], len(self.creating))
        flights.add_metric(["delete"], len(self.deleting))
        yield flights
        calls = CounterMetricFamily(
            "userpods_kubernetes_requests",
            "Kubernetes API calls by verb and outcome (HTTP status, ok, or unreachable).",
            labels=["verb", "outcome"],
        )
        for (verb, outcome), count in sorted(self.kube.stats.calls.items()):
            calls.add_metric([verb, outcome], count)
        yield calls
        now = trio.current_time()
        age = GaugeMetricFamily(
            "userpods_cache_age_seconds",
            "Seconds since the apiserver last told the cache anything (list or watch event).",
            labels=["kind"],
        )
        restarts = CounterMetricFamily(
            "userpods_watch_restarts", "Watch failures, each followed by a relist.", labels=["kind"]
        )
        for cache in self.cache.kinds:
            kind = cache.kind.__name__
            if cache.last_seen is not None:
                age.add_metric([kind], now - cache.last_seen)
            restarts.add_metric([kind], cache.restarts)
        yield age
        yield restarts


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # process_resident_memory_bytes and process_cpu_seconds_total: what an operator reads
        # to size the daemon (memory per 1,000 pods, CPU per creation; docs/operating.md).
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "userpods_http_requests",
            "HTTP requests by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.creations = Counter(
            "userpods_creations",
            "Finished creations by outcome (ready or failed) and failure reason.",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self.creation_seconds = Histogram(
            "userpods_creation_seconds",
            "Seconds from the create_pod request to Ready with the post-create steps done.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._plugin_counters: dict[str, Counter] = {}

    def count(self, name: str, documentation: str, /, **labels: str) -> None:
        """A plugin's count (``userpods.hooks.Counters``): the counter is made at the first."""
        counter = self._plugin_counters.get(name)
        if counter is None:
            counter = Counter(name, documentation, sorted(labels), registry=self.registry)
            self._plugin_counters[name] = counter
        if labels:
            counter.labels(**labels).inc()
        else:
            counter.inc()

    def watch_state(
        self, *, creating: Sized, deleting: Sized, kube: Kube, cache: ClusterCache
    ) -> None:
        """Show the flows in flight (the daemon's collections of them, read at each scrape),
        the API calls and the caches' health."""
        self.registry.register(_StateCollector(creating, deleting, kube, cache))

    def creation_finished(self, ok: bool, reason: str, seconds: float | None) -> None:
        self.creations.labels("ready" if ok else "failed", "" if ok else reason).inc()
        if ok and seconds is not None:
            self.creation_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
