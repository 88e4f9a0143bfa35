"""The EndpointSlice controller: the pods behind each Service, as ``discovery.k8s.io/v1``.

For every Service with a selector (not ExternalName) it keeps EndpointSlices labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``, owned by the
Service: one endpoint per selected pod that has an IP and is not Succeeded/Failed, with the
conditions ready (Ready and not terminating), serving (Ready) and terminating, its node and a
``targetRef``; ports are the Service's ports resolved against the pod (``targetPort`` by
number or by container port name). Pods whose resolved ports differ go to separate slices; a
Service that selects no pod keeps one empty placeholder slice. ``kubectl describe svc|ing``
reads these (the ``Endpoints:`` line, an ingress backend's addresses).
"""

from __future__ import annotations

import json
from typing import Any

from . import kinds as k
from .registry import Registry
from .selectors import Requirement
from .status import ApiError
from .store import Change

Obj = dict[str, Any]
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"


def _selector(service: Obj | None) -> dict[str, str]:
    selector: dict[str, str] = ((service or {}).get("spec") or {}).get("selector") or {}
    return selector


def _selects(service: Obj, labels: Any) -> bool:
    selector = service.get("spec", {}).get("selector") or {}
    labels = labels or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _facts(pod: Obj) -> tuple[Any, ...]:
    """What of a pod its endpoints show: a change elsewhere needs no sync."""
    meta, status = pod["metadata"], pod.get("status", {})
    return (
        meta.get("labels"),
        meta.get("deletionTimestamp"),
        status.get("podIP"),
        status.get("phase"),
        _is_ready(pod),
        pod.get("spec", {}).get("nodeName"),
        pod.get("spec", {}).get("containers"),
    )


def _is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _ports(service: Obj, pod: Obj) -> list[Obj]:
    """The Service's ports as this pod serves them (``podutil.FindPort``)."""
    ports = []
    for sp in service["spec"].get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        protocol = sp.get("protocol", "TCP")
        if isinstance(target, str) and not target.isdigit():
            number = next(
                (
                    p.get("containerPort")
                    for c in pod["spec"].get("containers") or []
                    for p in c.get("ports") or []
                    if p.get("name") == target and p.get("protocol", "TCP") == protocol
                ),
                None,
            )
            if number is None:
                continue
        else:
            number = int(target)
        ports.append({"name": sp.get("name", ""), "port": number, "protocol": protocol})
    return ports


class EndpointSliceController:
    """Keeps each Service's EndpointSlices (see module docstring).

    A pod's change syncs only the Services whose selector may select it (found through an
    index of selector pairs), and a sync reads only that Service's pods and slices (through
    the store's label index): its cost does not grow with the namespace's size.
    """

    kinds = (k.SERVICE, k.POD, k.ENDPOINTSLICE)

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        # (namespace, label key, value) -> names of the Services whose selector has the pair:
        # one name (a pod's own service selects its podName label), or a set of more.
        self._selecting: dict[tuple[str, str, str], str | set[str]] = {}

    def _index_service(self, ns: str, old: Obj | None, new: Obj | None) -> None:
        name = (new or old or {}).get("metadata", {}).get("name", "")
        for pair in _selector(old).items():
            key = (ns, *pair)
            names = self._selecting.get(key)
            if isinstance(names, set):
                names.discard(name)
                if len(names) == 1:
                    self._selecting[key] = next(iter(names))
                elif not names:
                    del self._selecting[key]
            elif names == name:
                del self._selecting[key]
        for pair in _selector(new).items():
            key = (ns, *pair)
            names = self._selecting.get(key)
            if names is None:
                self._selecting[key] = name
            elif isinstance(names, set):
                names.add(name)
            elif names != name:
                self._selecting[key] = {names, name}

    def _services_for(self, ns: str, *label_sets: Any) -> list[str]:
        """Names of the Services (sorted) whose selector selects any of these label sets."""
        names: set[str] = set()
        for labels in label_sets:
            for pair in (labels or {}).items():
                found = self._selecting.get((ns, *pair))
                if isinstance(found, set):
                    names |= found
                elif found is not None:
                    names.add(found)
        chosen = []
        for name in sorted(names):
            service = self.store.get(k.SERVICE, ns, name)
            if service is not None and any(_selects(service, labels) for labels in label_sets):
                chosen.append(name)
        return chosen

    def resync(self) -> None:
        self._selecting.clear()
        for service in self.store.list(k.SERVICE):
            self._index_service(service["metadata"]["namespace"], None, service)
        for service in self.store.list(k.SERVICE):
            self._sync(service["metadata"]["namespace"], service["metadata"]["name"])

    def handle(self, change: Change) -> None:
        ns = change.namespace
        if change.kind is k.SERVICE:
            self._index_service(ns, change.old, None if change.type == "DELETED" else change.obj)
            self._sync(ns, change.obj["metadata"]["name"])
        elif change.kind is k.ENDPOINTSLICE:
            labels = change.obj["metadata"].get("labels") or {}
            if labels.get(MANAGED_BY) == CONTROLLER and labels.get(SERVICE_NAME):
                self._sync(ns, labels[SERVICE_NAME])  # someone else changed ours: restore
        else:
            new = None if change.type == "DELETED" else change.obj
            if change.old is not None and new is not None and _facts(change.old) == _facts(new):
                return  # nothing an endpoint shows changed (most kubelet status writes)
            old_labels = (change.old or {}).get("metadata", {}).get("labels")
            for name in self._services_for(ns, change.obj["metadata"].get("labels"), old_labels):
                self._sync(ns, name)

    def _sync(self, ns: str, name: str) -> None:
        service = self.store.get(k.SERVICE, ns, name)
        existing = self.store.select(
            k.ENDPOINTSLICE,
            ns,
            labels=(
                Requirement(SERVICE_NAME, "=", frozenset([name])),
                Requirement(MANAGED_BY, "=", frozenset([CONTROLLER])),
            ),
        )
        wanted: dict[str, tuple[list[Obj], list[Obj]]] = {}  # ports (JSON) -> ports, endpoints
        managed = (
            service is not None
            and not service["metadata"].get("deletionTimestamp")
            and service["spec"].get("type") != "ExternalName"
            and bool(service["spec"].get("selector"))
        )
        if service is not None and managed:
            selector = tuple(
                Requirement(key, "=", frozenset([value]))
                for key, value in _selector(service).items()
            )
            for pod in self.store.select(k.POD, ns, labels=selector):
                status = pod.get("status", {})
                if (
                    not _selects(service, pod["metadata"].get("labels"))
                    or not status.get("podIP")
                    or status.get("phase") in ("Succeeded", "Failed")
                ):
                    continue
                ports = _ports(service, pod)
                key = json.dumps(ports, sort_keys=True)
                wanted.setdefault(key, (ports, []))[1].append(self._endpoint(pod))
            if not wanted:
                wanted["[]"] = ([], [])  # the placeholder slice
        for ports, endpoints in wanted.values():
            same = next((s for s in existing if s.get("ports", []) == ports), None)
            target = same or (existing[0] if existing else None)
            if target is None:
                assert service is not None
                self._create(service, ports, endpoints)
                continue
            existing.remove(target)

            def write(obj: Obj, ports: list[Obj] = ports, endpoints: list[Obj] = endpoints) -> None:
                obj["ports"] = ports
                obj["endpoints"] = endpoints

            self.registry.mutate(k.ENDPOINTSLICE, ns, target["metadata"]["name"], write)
        for stale in existing:
            try:
                self.registry.delete(k.ENDPOINTSLICE, ns, stale["metadata"]["name"])
            except ApiError:
                pass

    @staticmethod
    def _endpoint(pod: Obj) -> Obj:
        meta, status = pod["metadata"], pod.get("status", {})
        serving = _is_ready(pod)
        terminating = bool(meta.get("deletionTimestamp"))
        endpoint: Obj = {
            "addresses": [status["podIP"]],
            "conditions": {
                "ready": serving and not terminating,
                "serving": serving,
                "terminating": terminating,
            },
            "targetRef": {
                "kind": "Pod",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        return endpoint

    def _create(self, service: Obj, ports: list[Obj], endpoints: list[Obj]) -> None:
        meta = service["metadata"]
        labels = {
            **(meta.get("labels") or {}),
            SERVICE_NAME: meta["name"],
            MANAGED_BY: CONTROLLER,
        }
        body = {
            "metadata": {
                "generateName": f"{meta['name']}-",
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }
        try:
            self.registry.create(k.ENDPOINTSLICE, meta["namespace"], body)
        except ApiError:
            pass  # the namespace is going away
