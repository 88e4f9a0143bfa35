"""Who is calling: the silo behind a request, from its network address.

The caller's address is the first ``X-Forwarded-For`` value (the daemon runs behind an
ingress), else the peer address. A loopback caller is a test and stands for ``testingHost``.
The pods reach the silo on the data network: ``10.0.x.y`` becomes ``10.2.x.y``.
"""

from __future__ import annotations

import ipaddress

from ..config import Settings
from ..hooks import Caller


def caller_address(forwarded_for: str | None, peer: str | None) -> str:
    if forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first
    return peer or ""


def data_network_ip(silo_ip: str) -> str:
    return "10.2." + silo_ip[len("10.0.") :] if silo_ip.startswith("10.0.") else silo_ip


def identify(address: str, settings: Settings) -> Caller:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        ip = None
    if ip is None:
        silo_ip = ""  # not an address: the silo is unknown
    elif ip.is_loopback:
        silo_ip = settings.testing_host
    else:
        silo_ip = str(ip)
    return Caller(
        silo_ip=silo_ip, data_ip=data_network_ip(silo_ip), hostname=settings.silo_hostname(silo_ip)
    )
