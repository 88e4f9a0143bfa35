"""Who is calling: the caller's address from the peer and X-Forwarded-For, trusted only from
trusted proxies; the silo it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from userpods.config import Settings, build_settings
from userpods.daemon.callers import caller_address, identify, parse_address


def settings_of(**values: object) -> Settings:
    return build_settings(values, env={}, pod_cache_dir=Path("."))


DEFAULT = settings_of(podSubnetCidr="10.128.0.0/15", testingHost="10.0.0.20")
INGRESS = "10.128.4.7"  # the ingress controller, in the pod network


@pytest.mark.parametrize(
    ("forwarded", "peer", "caller"),
    [
        # The original's TestRemoteIP cases (server_test.go), from a trusted proxy.
        ("10.0.0.20:1234", INGRESS, "10.0.0.20"),
        ("1.2.3.4:1234", INGRESS, "1.2.3.4"),
        ("1.2.3.4", INGRESS, "1.2.3.4"),
        ("foobar", INGRESS, ""),
        ("[fe80::0]:1234", INGRESS, "fe80::"),
        ("fe80::0", INGRESS, "fe80::"),
        ("127.0.0.1:1234", INGRESS, "127.0.0.1"),
        ("[::1]:12345", INGRESS, "::1"),
        (None, "1.2.3.4", "1.2.3.4"),
        (None, "1.2.3.4:1234", "1.2.3.4"),
        (None, "", ""),
        (None, "foobar", ""),
        # Read from the end, past the trusted proxies; what the caller wrote is not believed.
        ("8.8.8.8, 10.0.0.14", INGRESS, "10.0.0.14"),
        ("10.0.0.14, 127.0.0.1", "127.0.0.1", "10.0.0.14"),
        ("10.0.0.14, 10.128.9.9", INGRESS, "10.0.0.14"),
        ("10.0.0.14,garbage", INGRESS, ""),
        ("", INGRESS, INGRESS),
        # From a peer that is not a trusted proxy, the header is ignored.
        ("8.8.8.8", "10.0.0.14", "10.0.0.14"),
        ("garbage", "10.0.0.14", "10.0.0.14"),
    ],
)
def test_caller_address(forwarded: str | None, peer: str, caller: str) -> None:
    assert caller_address(forwarded, peer, DEFAULT) == caller


def test_configured_proxies_replace_the_default() -> None:
    settings = settings_of(trustedProxies=["192.168.7.0/24"])
    assert caller_address("10.0.0.14", "192.168.7.3", settings) == "10.0.0.14"
    assert caller_address("10.0.0.14", "127.0.0.1", settings) == "127.0.0.1"  # not trusted now
    assert caller_address("10.0.0.14", INGRESS, settings) == INGRESS
    none = settings_of(trustedProxies=[])
    assert caller_address("10.0.0.14", "127.0.0.1", none) == "127.0.0.1"


def test_trusted_proxies_from_the_environment() -> None:
    settings = build_settings(
        {}, env={"BACKEND_TRUSTEDPROXIES": "10.1.0.0/16, ::1/128"}, pod_cache_dir=Path(".")
    )
    assert [str(n) for n in settings.trusted_proxies or ()] == ["10.1.0.0/16", "::1/128"]


def test_identify_names_the_silo() -> None:
    settings = settings_of(
        hostnameList=[{"hostname": "silo1.sciencedata.dk", "address": "10.0.0.14"}]
    )
    assert identify("10.0.0.14", settings).hostname == "silo1.sciencedata.dk"
    assert identify("10.0.0.14", settings).data_ip == "10.2.0.14"
    assert identify("127.0.0.1", settings).silo_ip == settings.testing_host
    assert identify("::1", settings).silo_ip == settings.testing_host
    assert identify("", settings).silo_ip == ""


@given(st.text(max_size=200), st.text(max_size=40))
def test_caller_address_is_an_address_or_nothing(forwarded: str, peer: str) -> None:
    found = caller_address(forwarded, peer, DEFAULT)
    assert found == "" or parse_address(found) is not None


@given(st.lists(st.ip_addresses(v=4).map(str), max_size=5), st.ip_addresses(v=4).map(str))
def test_a_forged_left_part_never_wins(forged: list[str], client: str) -> None:
    """Whatever a client writes into the header, the trusted ingress appends its real address
    and that is the caller (unless it is itself a trusted proxy)."""
    header = ", ".join([*forged, client])
    found = caller_address(header, INGRESS, DEFAULT)
    if not DEFAULT.trusts_proxy(parse_address(client)):  # type: ignore[arg-type]
        assert found == client
