"""DNS names, label keys and values, env var names and resource quantities."""

from __future__ import annotations

from decimal import Decimal

import pytest

from userpods.sim.names import (
    check_dns1035_label,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_env_var_name,
    check_label_value,
    check_qualified_name,
    parse_quantity,
)

TOO_LONG_63 = "must be no more than 63 characters"


@pytest.mark.parametrize("name", ["a", "abc", "a-b", "123", "1a", "a1", "x" * 63])
def test_dns1123_label_valid(name: str) -> None:
    assert check_dns1123_label(name) == []


@pytest.mark.parametrize("name", ["", "A", "a_b", "a.b", "-a", "a-", "a b", "é"])
def test_dns1123_label_invalid(name: str) -> None:
    errs = check_dns1123_label(name)
    assert len(errs) == 1
    assert errs[0].startswith("a lowercase RFC 1123 label must consist of")
    assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in errs[0]


def test_dns1123_label_length() -> None:
    assert check_dns1123_label("a" * 64) == [TOO_LONG_63]


@pytest.mark.parametrize(
    "name", ["a", "a.b", "my-pod.example.com", "1.2.3", "jupyter-alice-0", "a" * 253]
)
def test_dns1123_subdomain_valid(name: str) -> None:
    assert check_dns1123_subdomain(name) == []


@pytest.mark.parametrize("name", ["", "A", "a..b", ".a", "a.", "a_b", "a/b", "user@example.com"])
def test_dns1123_subdomain_invalid(name: str) -> None:
    errs = check_dns1123_subdomain(name)
    assert len(errs) == 1
    assert errs[0].startswith("a lowercase RFC 1123 subdomain must consist of")


def test_dns1123_subdomain_length() -> None:
    assert check_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    # A label longer than 63 inside a subdomain is fine by the subdomain rule alone.
    assert check_dns1123_subdomain("a" * 100 + ".b") == []


@pytest.mark.parametrize("name", ["a", "a-1", "abc-123", "ssh", "a" * 63])
def test_dns1035_label_valid(name: str) -> None:
    assert check_dns1035_label(name) == []


@pytest.mark.parametrize("name", ["1abc", "123", "-a", "a-", "A", "a.b", "a_b", ""])
def test_dns1035_label_invalid(name: str) -> None:
    errs = check_dns1035_label(name)
    assert len(errs) == 1
    assert errs[0].startswith("a DNS-1035 label must consist of lower case alphanumeric")
    assert "start with an alphabetic character" in errs[0]


def test_dns1035_label_63_char_limit() -> None:
    """A service named ``<pod-name>-ssh`` breaks once the pod name is long."""
    pod = "jupyter-" + "a" * 51  # 59 characters: a valid pod name
    assert check_dns1123_subdomain(pod) == []
    assert check_dns1035_label(pod + "-ssh") == []  # 63
    assert check_dns1035_label(pod + "-sshx") == [TOO_LONG_63]  # 64
    errs = check_dns1035_label("1" * 64)
    assert errs[0] == TOO_LONG_63
    assert len(errs) == 2


@pytest.mark.parametrize(
    "value", ["", "a", "A", "a.b", "a_b", "a-b", "MyValue", "12345", "x" * 63, "a.B_c-1"]
)
def test_label_value_valid(value: str) -> None:
    assert check_label_value(value) == []


@pytest.mark.parametrize(
    "value", ["user@example.com", "a b", "-a", "a-", "_a", ".a", "a/b", "a:b", "é"]
)
def test_label_value_invalid(value: str) -> None:
    errs = check_label_value(value)
    assert len(errs) == 1
    assert errs[0].startswith("a valid label must be an empty string or consist of")


def test_label_value_length() -> None:
    assert check_label_value("x" * 64) == ["must be no more than 63 bytes"]  # as measured
    # A raw long user id is too long and, with "@", malformed too.
    errs = check_label_value("a" * 60 + "@example.com")
    assert errs[0] == "must be no more than 63 bytes"
    assert len(errs) == 2


@pytest.mark.parametrize(
    "key",
    [
        "app",
        "App_Name.v-1",
        "a",
        "example.com/app",
        "app.kubernetes.io/name",
        "k8s.io/" + "a" * 63,
        "a" * 63,
        "sciencedata.dk/user",
    ],
)
def test_qualified_name_valid(key: str) -> None:
    assert check_qualified_name(key) == []


@pytest.mark.parametrize(
    ("key", "first_error"),
    [
        ("/app", "prefix part must be non-empty"),
        ("example.com/", "name part must be non-empty"),
        ("", "name part must be non-empty"),
        ("a" * 64, "name part must be no more than 63 characters"),
        ("example.com/" + "a" * 64, "name part must be no more than 63 characters"),
        ("_app", "name part must consist of alphanumeric characters"),
        ("app-", "name part must consist of alphanumeric characters"),
        ("a b", "name part must consist of alphanumeric characters"),
        ("Example.com/app", "prefix part a lowercase RFC 1123 subdomain must consist of"),
        ("a/b/c", "prefix part a lowercase RFC 1123 subdomain must consist of"),
        ("a_b/c", "prefix part a lowercase RFC 1123 subdomain must consist of"),
        ("x" * 254 + "/app", "prefix part must be no more than 253 characters"),
    ],
)
def test_qualified_name_invalid(key: str, first_error: str) -> None:
    errs = check_qualified_name(key)
    assert errs
    assert errs[0].startswith(first_error)


@pytest.mark.parametrize("name", ["HOME", "my.env-name", "MY_ENV.NAME", "_x", "-x", ".x", "a1"])
def test_env_var_name_valid(name: str) -> None:
    assert check_env_var_name(name) == []


@pytest.mark.parametrize("name", ["1A", "", "A B", "A=B", "A$"])
def test_env_var_name_invalid(name: str) -> None:
    errs = check_env_var_name(name)
    assert len(errs) == 1
    assert errs[0].startswith("a valid environment variable name must consist of")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10Gi", Decimal(10 * 2**30)),
        ("500m", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2e-3", Decimal("0.002")),
        ("2", Decimal(2)),
        ("0", Decimal(0)),
        ("1.5Gi", Decimal("1.5") * 2**30),
        ("1Ki", Decimal(1024)),
        ("1Mi", Decimal(2**20)),
        ("1Ti", Decimal(2**40)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1G", Decimal(10**9)),
        ("1E", Decimal(10**18)),  # a bare E is exa, not an exponent
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
        (".5", Decimal("0.5")),
        (" 100m ", Decimal("0.1")),  # JSON quantities are trimmed
        (4, Decimal(4)),
        (2.5, Decimal("2.5")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "10Gb", "10gi", "1e", "Gi", "1..2", "1 Gi", "1Gi1", None, True, [1]]
)
def test_parse_quantity_rejects_bad_input(text: object) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        parse_quantity(text)
