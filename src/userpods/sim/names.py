"""The apiserver's name, label and quantity rules, as pure functions.

Each ``check_*`` returns the detail strings Kubernetes uses (empty list: valid), so that
validation can wrap them in field causes the way ``apimachinery/pkg/util/validation`` does.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
ENV_VAR_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*"


def _max_len(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def check_dns1123_label(value: str) -> list[str]:
    errs = _max_len(value, 63)
    if not re.fullmatch(DNS1123_LABEL, value):
        errs.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
            f"'123-abc', regex used for validation is '{DNS1123_LABEL}')"
        )
    return errs


def check_dns1123_subdomain(value: str) -> list[str]:
    errs = _max_len(value, 253)
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        errs.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')"
        )
    return errs


def check_dns1035_label(value: str) -> list[str]:
    errs = _max_len(value, 63)
    if not re.fullmatch(DNS1035_LABEL, value):
        errs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{DNS1035_LABEL}')"
        )
    return errs


def check_qualified_name(value: str) -> list[str]:
    """A label or annotation key: optional DNS-subdomain prefix, ``/``, a name of at most 63."""
    errs: list[str] = []
    prefix, _, name = value.rpartition("/")
    if "/" in value and not prefix:
        errs.append("prefix part must be non-empty")
    elif prefix:
        errs.extend("prefix part " + e for e in check_dns1123_subdomain(prefix))
    if not name:
        errs.append("name part must be non-empty")
        return errs
    if len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not re.fullmatch(QUALIFIED_NAME, name):
        errs.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            f"'123-abc', regex used for validation is '{QUALIFIED_NAME}')"
        )
    return errs


def check_label_value(value: str) -> list[str]:
    errs = ["must be no more than 63 bytes"] if len(value.encode()) > 63 else []
    if not re.fullmatch(LABEL_VALUE, value):
        errs.append(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', "
            "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', "
            f" or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')"
        )
    return errs


def check_env_var_name(value: str) -> list[str]:
    if re.fullmatch(ENV_VAR_NAME, value):
        return []
    return [
        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
        "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  "
        f"or 'MyEnvName1', regex used for validation is '{ENV_VAR_NAME}')"
    ]


_FACTORS: dict[str, int | str] = {
    "": 1, "m": "0.001", "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_SUFFIXES = {suffix: Decimal(factor) for suffix, factor in _FACTORS.items()}
_QUANTITY_RE = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)"
)


def parse_quantity(value: object) -> Decimal:
    """A resource quantity (``10Gi``, ``500m``, ``2``) as a number; ``ValueError`` if malformed."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    m = _QUANTITY_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(str(exc)) from exc
    if m.group(2):
        return number * (Decimal(10) ** int(m.group(2)[1:]))
    return number * _SUFFIXES[m.group(3) or ""]


_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(length: int = 5) -> str:
    """The random tail of a generated name, from the apiserver's alphabet (no vowels)."""
    return "".join(random.choices(_NAME_SUFFIX, k=length))
