"""Who is calling: the silo behind a request, from its network address.

The caller's address is the peer's, unless the peer is a trusted proxy (``trustedProxies``:
the ingress controller in front of the daemon). Then ``X-Forwarded-For`` is read from its
end, where each proxy appends the address it got the request from, past the trusted proxies:
the first address that is not one is the caller. Anything to the left of it was written by
the caller and is not believed. A value that is not an address (``garbage``) ends the search
with no caller address at all. Values may carry a port (``10.0.0.20:41234``,
``[fe80::1]:80``), as the original's parser allowed.

A loopback caller is a test and stands for ``testingHost``. The pods reach the silo on the
data network: ``10.0.x.y`` becomes ``10.2.x.y``.
"""

from __future__ import annotations

import ipaddress
import re

from ..config import Settings
from ..hooks import Caller

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_V4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")
_V6_PORT = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?")


def parse_address(text: str | None) -> IPAddress | None:
    """An address as a peer or an ``X-Forwarded-For`` value gives it (with or without a
    port); None when it is not one."""
    text = (text or "").strip()
    for pattern in (_V4_PORT, _V6_PORT):
        found = pattern.fullmatch(text)
        if found:
            text = found.group(1)
            break
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def caller_address(forwarded_for: str | None, peer: str | None, settings: Settings) -> str:
    """The caller's address ("" when it cannot be told), by the rules of the module
    docstring."""
    address = parse_address(peer)
    if address is None:
        return ""
    if not forwarded_for:
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        if not settings.trusts_proxy(address):
            break  # the caller itself: what it wrote about others is not believed
        found = parse_address(hop)
        if found is None:
            return ""
        address = found
    return str(address)


def data_network_ip(silo_ip: str) -> str:
    return "10.2." + silo_ip[len("10.0.") :] if silo_ip.startswith("10.0.") else silo_ip


def identify(address: str, settings: Settings) -> Caller:
    ip = parse_address(address)
    if ip is None:
        silo_ip = ""  # not an address: the silo is unknown
    elif ip.is_loopback:
        silo_ip = settings.testing_host
    else:
        silo_ip = str(ip)
    data_ip = data_network_ip(silo_ip)
    # As the original: hostnameList by the silo's address, then by its data-network address.
    hostname = settings.silo_hostname(silo_ip) or settings.silo_hostname(data_ip)
    return Caller(silo_ip=silo_ip, data_ip=data_ip, hostname=hostname)
