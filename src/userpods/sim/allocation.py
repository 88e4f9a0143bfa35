"""Service cluster IPs and NodePorts: the apiserver's allocators, as a Service is admitted.

A real apiserver allocates on create and on an update that changes a Service's type or ports,
refuses a taken or out-of-range address with a 422 (its wording, measured), and frees what a
deleted Service held. The allocator remembers what is taken; the registry calls it around
each write of a Service.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from .status import Cause, invalid, invalid_error

Obj = dict[str, Any]


class ServiceAllocator:
    """Which cluster IPs (from ``service_cidr``) and NodePorts (``node_ports``) are taken."""

    def __init__(self, service_cidr: str, node_ports: tuple[int, int]) -> None:
        self._service_net = ipaddress.ip_network(service_cidr)
        self._service_ips: set[str] = set()
        self._next_ip = 10  # .1 is the kubernetes service, as in a real cluster
        self._node_port_range = node_ports
        self._node_ports: set[int] = set()

    def allocate(self, svc: Obj, old: Obj | None) -> None:
        """Give ``svc`` its cluster IP and NodePorts (``old``: the stored Service, on update)."""
        spec = svc["spec"]
        causes: list[Cause] = []
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            wanted = spec.get("clusterIP") or (old or {}).get("spec", {}).get("clusterIP")
            ip = self._take_ip(wanted, causes) if old is None else wanted
            if ip:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("nodePort") for p in (old or {}).get("spec", {}).get("ports", [])}
            for i, port in enumerate(spec.get("ports", [])):
                wanted_port = port.get("nodePort")
                if wanted_port and wanted_port in old_ports:
                    continue
                port["nodePort"] = self._take_node_port(wanted_port, i, causes)
        if causes:
            self.release(svc, only_new=old)
            raise invalid_error("Service", "", svc["metadata"]["name"], causes)

    def _take_ip(self, wanted: str | None, causes: list[Cause]) -> str | None:
        if wanted:
            try:
                address = ipaddress.ip_address(wanted)
            except ValueError:
                causes.append(
                    invalid(
                        "spec.clusterIPs[0]",
                        wanted,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )
                )
                return None
            if address not in self._service_net:
                causes.append(
                    invalid(
                        "spec.clusterIPs",
                        [wanted],
                        f"failed to allocate IP {wanted}: the provided IP "
                        f"({wanted}) is not in the valid range. The range of valid "
                        f"IPs is {self._service_net}",
                    )
                )
                return None
            if wanted in self._service_ips:
                causes.append(
                    invalid(
                        "spec.clusterIPs",
                        [wanted],
                        f"failed to allocate IP {wanted}: provided IP is already allocated",
                    )
                )
                return None
            self._service_ips.add(wanted)
            return wanted
        size = self._service_net.num_addresses
        for _ in range(size):
            candidate = str(self._service_net[self._next_ip % (size - 1) or 1])
            self._next_ip += 1
            if candidate not in self._service_ips:
                self._service_ips.add(candidate)
                return candidate
        causes.append(invalid("spec.clusterIPs", [], "range is full"))
        return None

    def _take_node_port(self, wanted: int | None, index: int, causes: list[Cause]) -> int | None:
        low, high = self._node_port_range
        path = f"spec.ports[{index}].nodePort"
        if wanted:
            if not low <= wanted <= high:
                causes.append(
                    invalid(
                        path,
                        wanted,
                        f"provided port is not in the valid range. "
                        f"The range of valid ports is {low}-{high}",
                    )
                )
                return wanted
            if wanted in self._node_ports:
                causes.append(invalid(path, wanted, "provided port is already allocated"))
                return wanted
            self._node_ports.add(wanted)
            return wanted
        free = [p for p in range(low, high + 1) if p not in self._node_ports]
        if not free:
            causes.append(invalid(path, 0, "range is full"))
            return None
        port = random.choice(free)
        self._node_ports.add(port)
        return port

    def release(self, obj: Obj, only_new: Obj | None = None) -> None:
        """Free a service's IP and NodePorts (only those not held by ``only_new``'s old self)."""
        kept_ip = (only_new or {}).get("spec", {}).get("clusterIP")
        kept_ports = {p.get("nodePort") for p in (only_new or {}).get("spec", {}).get("ports", [])}
        ip = obj.get("spec", {}).get("clusterIP")
        if ip and ip != kept_ip:
            self._service_ips.discard(ip)
        for port in obj.get("spec", {}).get("ports", []):
            if port.get("nodePort") not in kept_ports:
                self._node_ports.discard(port.get("nodePort"))
