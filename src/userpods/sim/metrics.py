"""The resource metrics API, ``metrics.k8s.io/v1beta1``, as metrics-server serves it.

On a real cluster metrics-server is an extension apiserver behind an APIService: it scrapes the
kubelets and answers PodMetrics (per running container: CPU in nanocores, memory working set)
and NodeMetrics, for ``get`` and ``list`` only (a watch is a 405), behind the same RBAC as any
resource. Clients such as ``kubectl top`` and autoscalers read it; a cluster without it has no
such group in discovery and a plain 404 on its paths, and clients must cope with both.

Here the figures come from the image catalogue (``usage:`` phases, ``images.py``) as a function
of the time since each container started, on trio's clock as every delay of the simulated
cluster. To time the containers, this server follows the pods like a controller and notes when
each container ID is first seen running (a restart is a new ID, so its phases start again).
Only running containers are reported, and a pod only while one runs. Unlike the real one, a new
container's figures are there at once (metrics-server needs two scrapes, 10 s or more) and are
the current phase's, not an average over the window.

Each figure is offset by a constant per container (less than a microcore of CPU less, up to
60 KiB of memory more) so that it reads as metrics-server's do (``799999412n``, ``204860Ki``,
not ``800m``) while ``kubectl top``, which rounds CPU up and memory down, shows the
catalogue's own figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import trio

from . import kinds as k
from .http import Request
from .images import Catalogue
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .status import ApiError, not_found_error, qualified
from .store import Change, Store
from .timefmt import rfc3339

Obj = dict[str, Any]
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
NODE_METRICS = k.Kind(GROUP, VERSION, "nodes", "NodeMetrics", False, verbs=("get", "list"))
POD_METRICS = k.Kind(GROUP, VERSION, "pods", "PodMetrics", True, verbs=("get", "list"))
KINDS = (NODE_METRICS, POD_METRICS)  # discovery's order (by name)
WINDOW = "15.012s"  # about metrics-server's default --metric-resolution of 15 s
NODE_BASE_CPU = 120_000_000  # nanocores: the node's system daemons, besides its pods
NODE_BASE_MEMORY = 900 * 2**20

_DECIMAL = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def format_decimal(value: int, exponent: int) -> str:
    """``value`` x 10^``exponent`` as Go's ``Quantity`` writes a DecimalSI one: trailing zeros
    folded into the largest suffix that keeps the number whole (``500m``, ``1234567n``)."""
    if value == 0:
        return "0"
    while value % 10 == 0:
        value //= 10
        exponent += 1
    shift = exponent % 3
    value *= 10**shift
    exponent -= shift
    if exponent > 18:
        value *= 10 ** (exponent - 18)
        exponent = 18
    return f"{value}{_DECIMAL[exponent]}"


def format_cpu(nanocores: int) -> str:
    return format_decimal(nanocores, -9)


def format_memory(size: int) -> str:
    """Bytes as Go's BinarySI ``Quantity`` writes them (``40Mi``, ``40964Ki``; under 1024 as
    a decimal, ``1k``)."""
    if size < 1024:
        return format_decimal(size, 0)
    power = 0
    while size % 1024 == 0 and power < len(_BINARY) - 1:
        size //= 1024
        power += 1
    return f"{size}{_BINARY[power]}"


def _offsets(key: str) -> tuple[int, int]:
    """A container's constant offsets: nanocores less (1-999), bytes more (4-60 KiB)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return 1 + seed % 999, 4096 * (1 + seed // 999 % 15)


def _measured(key: str, cpu: int, memory: int) -> tuple[int, int]:
    less, more = _offsets(key)
    return (cpu - less if cpu >= 1000 else cpu), (memory + more if memory else 0)


def _running(pod: Obj) -> list[Obj]:
    return [
        s
        for s in (pod.get("status") or {}).get("containerStatuses") or []
        if "running" in (s.get("state") or {}) and s.get("containerID")
    ]


class MetricsServer:
    """metrics-server's API over the store, with the container start times it notes."""

    kinds = (k.POD,)  # followed as a controller, to time the containers

    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.enabled = enabled  # False: as a cluster without metrics-server (can change live)
        self.clock = clock
        self._started: dict[str, dict[str, float]] = {}  # pod uid -> container ID -> time

    # ------------------------------------------------------------------ controller
    def resync(self) -> None:
        uids = set()
        for pod in self.store.list(k.POD):
            uids.add(pod["metadata"]["uid"])
            self._note(pod)
        self._started = {uid: ids for uid, ids in self._started.items() if uid in uids}

    def handle(self, change: Change) -> None:
        if change.type == "DELETED":
            self._started.pop(change.obj["metadata"]["uid"], None)
        else:
            self._note(change.obj)

    def _note(self, pod: Obj) -> dict[str, float]:
        """The start times of the pod's running containers, noting new ones as of now."""
        uid = pod["metadata"]["uid"]
        known = self._started.get(uid, {})
        now = self.clock()
        current = {s["containerID"]: known.get(s["containerID"], now) for s in _running(pod)}
        if current:
            self._started[uid] = current
        else:
            self._started.pop(uid, None)
        return current

    # ------------------------------------------------------------------ figures
    def _containers(self, pod: Obj, now: float) -> list[tuple[str, int, int]]:
        """(name, nanocores, bytes) of each running container, in the pod's order."""
        started = self._note(pod)
        images = {c.get("name"): c.get("image", "") for c in pod["spec"].get("containers", [])}
        meta = pod["metadata"]
        found = []
        for status in _running(pod):
            name = status["name"]
            usage = self.catalogue.lookup(images.get(name, "")).usage_at(
                now - started[status["containerID"]]
            )
            key = f"{meta['namespace']}/{meta['name']}/{name}"
            found.append((name, *_measured(key, usage.cpu, usage.memory)))
        return found

    def _pod_metrics(self, pod: Obj, now: float, stamp: str) -> tuple[Obj, int, int] | None:
        """The PodMetrics of a pod with running containers, and its totals (for tables)."""
        containers = self._containers(pod, now)
        if not containers:
            return None
        meta = pod["metadata"]
        metadata: Obj = {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": stamp,  # metrics-server's: the time of the answer
        }
        if meta.get("labels"):
            metadata["labels"] = meta["labels"]
        item = {
            "metadata": metadata,
            "timestamp": stamp,
            "window": WINDOW,
            "containers": [
                {"name": name, "usage": {"cpu": format_cpu(cpu), "memory": format_memory(mem)}}
                for name, cpu, mem in containers
            ],
        }
        return item, sum(c[1] for c in containers), sum(c[2] for c in containers)

    def _node_metrics(
        self, node: Obj, pods: list[Obj], now: float, stamp: str
    ) -> tuple[Obj, int, int]:
        """A node's NodeMetrics: its system's base use plus its pods' containers'."""
        name = node["metadata"]["name"]
        cpu, memory = _measured(name, NODE_BASE_CPU, NODE_BASE_MEMORY)
        for pod in pods:
            if pod["spec"].get("nodeName") == name:
                for _, pod_cpu, pod_memory in self._containers(pod, now):
                    cpu, memory = cpu + pod_cpu, memory + pod_memory
        metadata: Obj = {"name": name, "creationTimestamp": stamp}
        if node["metadata"].get("labels"):
            metadata["labels"] = node["metadata"]["labels"]
        usage = {"cpu": format_cpu(cpu), "memory": format_memory(memory)}
        item = {"metadata": metadata, "timestamp": stamp, "window": WINDOW, "usage": usage}
        return item, cpu, memory

    # ------------------------------------------------------------------ serving
    def serve(
        self,
        req: Request,
        kind: k.Kind,
        namespace: str,
        name: str | None,
        verb: str,
        table: str | None = None,
    ) -> Obj:
        """The answer to an authorized request (``table``: the Table's includeObject)."""
        if verb == "watch":
            raise ApiError(
                405,
                f'watch is not supported on resources of kind "{qualified(kind.plural, GROUP)}"',
                "MethodNotAllowed",
                {"group": GROUP, "kind": kind.plural},
            )
        if verb not in ("get", "list"):
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                "MethodNotAllowed",
            )
        source = k.POD if kind is POD_METRICS else k.NODE
        if name is not None:
            obj = self.store.get(source, namespace, name)
            if obj is None:
                raise not_found_error(source.plural, "", name)  # the pod lister's answer
            objects = [obj]
        else:
            labels = parse_label_selector(req.param("labelSelector"))
            fields = parse_field_selector(req.param("fieldSelector"), kind.supports_field)
            objects = [
                obj
                for obj in self.store.list(source, namespace or None)
                if labels_match(labels, obj["metadata"].get("labels"))
                and fields_match(fields, {f.field: kind.field_value(obj, f.field) for f in fields})
            ]
            objects.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        now, stamp = self.clock(), rfc3339()
        if kind is POD_METRICS:
            found = [self._pod_metrics(obj, now, stamp) for obj in objects]
        else:
            pods = self.store.list(k.POD)
            found = [self._node_metrics(obj, pods, now, stamp) for obj in objects]
        entries = [entry for entry in found if entry is not None]
        if name is not None and not entries:
            who = f"{namespace}/{name}" if namespace else name
            raise not_found_error(kind.singular, GROUP, who)  # podmetrics.metrics.k8s.io
        if table is not None:
            return _table(kind, entries, table)
        if name is not None:
            return {"kind": kind.kind, "apiVersion": kind.api_version, **entries[0][0]}
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {},
            "items": [item for item, _, _ in entries],
        }


def _table(kind: k.Kind, entries: list[tuple[Obj, int, int]], include: str) -> Obj:
    """metrics-server's Table: the name, the use summed over containers, the window."""
    columns = [("Name", "name", "Name of the resource"), ("cpu", "quantity", "")]
    columns += [("memory", "quantity", ""), ("Window", "duration", "")]
    rows = []
    for item, cpu, memory in entries:
        row: Obj = {
            "cells": [item["metadata"]["name"], format_cpu(cpu), format_memory(memory), WINDOW]
        }
        if include == "Object":
            row["object"] = {"kind": kind.kind, "apiVersion": kind.api_version, **item}
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": item["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {"name": n, "type": "string", "format": f, "description": d, "priority": 0}
            for n, f, d in columns
        ],
        "rows": rows,
    }
