"""The scheduler: binds pending pods to nodes, or says why it cannot.

A pod is schedulable when every PersistentVolumeClaim it mounts exists, is not being deleted
and is Bound, and some node matches its ``nodeSelector`` and has room for its resource
requests (cpu, memory, pods, extended resources such as ``nvidia.com/gpu``). Otherwise it stays
Pending with PodScheduled=False / Unschedulable and a FailedScheduling event, and is retried
whenever claims, volumes, nodes or other pods change.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from . import kinds as k
from .conditions import bind_pod, set_condition
from .events import EventRecorder
from .names import parse_quantity
from .registry import Registry
from .store import Change

Obj = dict[str, Any]
PodKey = tuple[str, str]
SCHEDULER = "default-scheduler"


def pod_requests(pod: Obj) -> Counter[str]:
    total: Counter[str] = Counter()
    for c in pod.get("spec", {}).get("containers", []):
        resources = c.get("resources") or {}
        requests = resources.get("requests") or resources.get("limits") or {}
        for name, value in requests.items():
            try:
                total[name] += parse_quantity(value)  # type: ignore[assignment]
            except ValueError:
                continue
    total["pods"] += 1
    return total


def _is_terminal(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


class Scheduler:
    kinds = (k.POD, k.PVC, k.PV, k.NODE)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self.events = EventRecorder(registry, SCHEDULER)
        self._pending: set[PodKey] = set()
        self._placed: dict[PodKey, tuple[str, Counter[str]]] = {}
        self._requests: dict[tuple[tuple[str, Any], ...], Counter[str]] = {}  # shared, unchanged
        self._used: dict[str, Counter[str]] = {}
        self._reported: dict[PodKey, str] = {}

    # --------------------------------------------------------------- bookkeeping
    def _track(self, pod: Obj | None, key: PodKey) -> None:
        """Keep node usage and the pending set in step with one pod's latest state."""
        node = pod["spec"].get("nodeName") if pod else None
        active = pod is not None and not _is_terminal(pod)
        if key in self._placed and (not active or not node):
            old_node, requests = self._placed.pop(key)
            self._used[old_node] -= requests
        if pod is not None and active and node and key not in self._placed:
            requests = pod_requests(pod)
            # Never changed once placed: pods asking the same (most ask nothing) share one.
            requests = self._requests.setdefault(tuple(sorted(requests.items())), requests)
            self._placed[key] = (node, requests)
            self._used.setdefault(node, Counter()).update(requests)
        wants_node = (
            pod is not None
            and not node
            and not pod["metadata"].get("deletionTimestamp")
            and pod["spec"].get("schedulerName") == SCHEDULER
            and not pod["spec"].get("schedulingGates")
        )
        if wants_node:
            self._pending.add(key)
        else:
            self._pending.discard(key)
            self._reported.pop(key, None)

    def handle(self, change: Change) -> None:
        if change.kind is k.POD:
            key = (change.namespace, change.obj["metadata"]["name"])
            was_placed = key in self._placed
            self._track(None if change.type == "DELETED" else change.obj, key)
            if was_placed and key not in self._placed:
                self._schedule_all()  # capacity was freed
            elif key in self._pending and key not in self._reported:
                self._schedule(key)
            return
        self._schedule_all()

    def resync(self) -> None:
        self._placed.clear()
        self._used.clear()
        self._pending.clear()
        for pod in self.store.list(k.POD):
            self._track(pod, (pod["metadata"]["namespace"], pod["metadata"]["name"]))
        self._schedule_all()

    # --------------------------------------------------------------- scheduling
    def _schedule_all(self) -> None:
        for key in sorted(self._pending):
            self._schedule(key)

    def _schedule(self, key: PodKey) -> None:
        pod = self.store.get(k.POD, *key)
        if pod is None:
            self._pending.discard(key)
            return
        nodes = [n for n in self.store.list(k.NODE) if not n.get("spec", {}).get("unschedulable")]
        reason = self._claim_problem(pod)
        chosen = None
        if reason is None:
            chosen, reason = self._pick_node(pod, nodes)
        if chosen is not None:
            bound = bind_pod(self.registry.store, key[0], key[1], chosen)
            self._track(bound, key)
            self.events.record(
                k.POD,
                bound,
                "Normal",
                "Scheduled",
                f"Successfully assigned {key[0]}/{key[1]} to {chosen}",
            )
            return
        message = f"0/{len(nodes)} nodes are available: {reason}."
        if self._reported.get(key) == message:
            return
        self._reported[key] = message

        def unschedulable(obj: Obj) -> None:
            set_condition(
                obj.setdefault("status", {}), "PodScheduled", "False", "Unschedulable", message
            )

        updated = self.registry.mutate(k.POD, key[0], key[1], unschedulable, subresource="status")
        if updated is not None:
            self.events.record(k.POD, updated, "Warning", "FailedScheduling", message)

    def _claim_problem(self, pod: Obj) -> str | None:
        ns = pod["metadata"]["namespace"]
        for vol in pod["spec"].get("volumes") or []:
            claim_name = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim_name:
                continue
            claim = self.store.get(k.PVC, ns, claim_name)
            if claim is None:
                return f'persistentvolumeclaim "{claim_name}" not found'
            if claim["metadata"].get("deletionTimestamp"):
                return f'persistentvolumeclaim "{claim_name}" is being deleted'
            if claim.get("status", {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return None

    def _pick_node(self, pod: Obj, nodes: list[Obj]) -> tuple[str | None, str]:
        selector = pod["spec"].get("nodeSelector") or {}
        requests = pod_requests(pod)
        misses: Counter[str] = Counter()
        fitting: list[tuple[Any, str]] = []
        for node in nodes:
            name = node["metadata"]["name"]
            labels = node["metadata"].get("labels", {})
            if any(labels.get(key) != value for key, value in selector.items()):
                misses["didn't match Pod's node affinity/selector"] += 1
                continue
            allocatable = node.get("status", {}).get("allocatable", {})
            used = self._used.get(name, Counter())
            short = [
                res
                for res, amount in requests.items()
                if amount and used[res] + amount > _quantity(allocatable.get(res, "0"))
            ]
            if short:
                for res in short:
                    misses[f"Insufficient {res}" if res != "pods" else "Too many pods"] += 1
                continue
            fitting.append((used["pods"], name))
        if fitting:
            return min(fitting)[1], ""
        if not nodes:
            return None, "no nodes available to schedule pods"
        parts = []
        for text, count in sorted(misses.items()):
            parts.append(
                f"{count} {text}"
                if text.startswith("Insufficient") or text.startswith("Too")
                else f"{count} node(s) {text}"
            )
        return None, ", ".join(parts)


def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(0)
