"""Pod IP allocation: each node gets a slice of the pod CIDR, as node IPAM does.

With room for it, node *i* gets the *i*-th /24 of the pod CIDR (the controller-manager's
default ``--node-cidr-mask-size``); a CIDR too small for that is shared by all nodes. The first
two addresses of a range (network and gateway) are never handed out.
"""

from __future__ import annotations

import ipaddress


class PodNetwork:
    def __init__(self, cidr: str, node_names: list[str]) -> None:
        self.cidr = ipaddress.ip_network(cidr, strict=False)
        if self.cidr.version != 4:
            raise ValueError("the simulated cluster supports IPv4 pod CIDRs only")
        mask = 24 if self.cidr.prefixlen <= 24 else self.cidr.prefixlen
        subnets = (
            self.cidr.subnets(new_prefix=mask) if mask > self.cidr.prefixlen else iter([self.cidr])
        )
        ranges: dict[str, ipaddress.IPv4Network] = {}
        available = (
            list(subnets) if self.cidr.num_addresses // 256 >= len(node_names) else [self.cidr]
        )
        for i, name in enumerate(node_names):
            ranges[name] = available[i % len(available)]
        self.node_ranges = ranges
        self._used: set[str] = set()
        self._cursor: dict[str, int] = dict.fromkeys(node_names, 2)

    def allocate(self, node: str) -> str:
        net = self.node_ranges[node]
        size = net.num_addresses
        for _ in range(size):
            offset = self._cursor[node]
            self._cursor[node] = offset + 1 if offset + 1 < size - 1 else 2
            candidate = str(net[offset])
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate
        raise RuntimeError(f"pod CIDR {net} of node {node} is exhausted")

    def release(self, ip: str | None) -> None:
        if ip:
            self._used.discard(ip)
