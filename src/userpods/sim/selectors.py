"""Label and field selectors, parsed and matched as the apiserver does.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
comma-joined (AND); ``!=`` and ``notin`` also match objects without the key. Field selectors
allow only ``=``, ``==`` and ``!=`` over the fields each kind supports; anything else is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .status import ApiError, bad_request

_KEY = r"(?:[A-Za-z0-9.\-]+/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*")
_EQ_RE = re.compile(rf"\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*")
_EXISTS_RE = re.compile(rf"\s*(!?)\s*({_KEY})\s*")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


Selector = tuple[Requirement, ...]


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_label_selector(text: str | None) -> Selector:
    """Parse a label selector; raise a 400 ``ApiError`` with the apiserver's wording."""
    if not text or not text.strip():
        return ()
    reqs = []
    for part in _split_top_level(text):
        if m := _SET_RE.fullmatch(part):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            if not values or not all(re.fullmatch(_VALUE, v) for v in values):
                raise bad_request(f"unable to parse requirement: {part.strip()}")
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.fullmatch(part):
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, frozenset([m.group(3)])))
        elif m := _EXISTS_RE.fullmatch(part):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part.strip()!r}")
    return tuple(reqs)


def labels_match(selector: Selector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in selector)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negate


FieldSelector = tuple[FieldRequirement, ...]


def parse_field_selector(text: str | None, supported: Callable[[str], bool]) -> FieldSelector:
    """Parse a field selector, rejecting fields the kind does not index (a 400)."""
    if not text or not text.strip():
        return ()
    reqs = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*", part)
        if not m:
            raise bad_request(f"invalid field selector: {part!r}")
        key, op, value = m.groups()
        if not supported(key):
            raise bad_request(f"field label not supported: {key}")
        reqs.append(FieldRequirement(key, value, op == "!="))
    return tuple(reqs)


def fields_match(selector: FieldSelector, fields: Mapping[str, str]) -> bool:
    return all(r.matches(fields) for r in selector)


__all__ = [
    "ApiError",
    "FieldSelector",
    "Selector",
    "fields_match",
    "labels_match",
    "parse_field_selector",
    "parse_label_selector",
]
