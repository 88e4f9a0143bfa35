"""Normalising two clusters' answers and listing where they differ.

What legitimately differs between any two clusters is replaced by a placeholder before the
comparison: uids, timestamps, resourceVersions (also inside Status messages), IP addresses,
allocated NodePorts, issued tokens, the cluster CA (``kube-root-ca.crt``), generated name
suffixes, and ``managedFields`` (the simulated cluster keeps no field managers; docs/sim.md
says so). Everything else, the status
code, the Content-Type, every Status field, every defaulted field of a returned object and the
type and object of every watch event, is compared.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .targets import Answer

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
NUMBERS_IN = [
    re.compile(r"(too old resource version: )\d+ \(\d+\)"),
    re.compile(r"(ResourceVersion in object meta: )\d+"),
    re.compile(r"(ResourceVersion in record \()\d+"),
    re.compile(r"(resourceVersion[\"=: ]+)\d+"),
]
GENERATED = re.compile(r"^(kube-api-access-|pod-gen-)[a-z0-9]{5}$")
PLACEHOLDER_KEYS = {
    "uid": "<uid>",
    "resourceVersion": "<rv>",
    "nodePort": "<nodePort>",
    "token": "<token>",
    "clusterIP": "<ip>",
}


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items() if k != "managedFields"}
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if key in PLACEHOLDER_KEYS and value not in (None, "", "None"):
        return PLACEHOLDER_KEYS[key]
    if isinstance(value, str):
        return _string(value)
    return value


def _string(text: str) -> str:
    if text.startswith("-----BEGIN CERTIFICATE-----"):
        return "<the cluster's CA certificate>"
    try:
        ipaddress.ip_address(text)
        return "<ip>"
    except ValueError:
        pass
    if GENERATED.match(text):
        return GENERATED.sub(r"\1<x>", text)
    text = UUID.sub("<uid>", text)
    text = TIME.sub("<time>", text)
    for pattern in NUMBERS_IN:
        text = pattern.sub(r"\1<n>", text)
    return text


def view(answer: Answer) -> dict[str, Any]:
    """The comparable parts of one answer, normalised."""
    shown: dict[str, Any] = {"code": answer.code}
    if answer.content_type:
        shown["content-type"] = answer.content_type
    if answer.events is not None:
        shown["events"] = normalise(answer.events)
    else:
        shown["body"] = normalise(answer.body)
    return shown


@dataclass(frozen=True)
class Difference:
    path: str  # e.g. "body.spec.ports[1].targetPort"
    real: Any
    sim: Any

    def __str__(self) -> str:
        return f"{self.path}: real {_short(self.real)} | sim {_short(self.sim)}"


MISSING = "<absent>"


def differences(real: Answer, sim: Answer) -> list[Difference]:
    found: list[Difference] = []
    _walk(view(real), view(sim), "", found)
    return found


def _walk(a: Any, b: Any, path: str, found: list[Difference]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else key
            _walk(a.get(key, MISSING), b.get(key, MISSING), sub, found)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", found)
        return
    if a != b:
        found.append(Difference(path, a, b))


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Justified:
    """A difference we keep: entries and paths it covers (globs), and why."""

    entries: str
    path: str
    reason: str

    def covers(self, entry: str, diff: Difference) -> bool:
        return fnmatchcase(entry, self.entries) and fnmatchcase(diff.path, self.path)


def unjustified(entry: str, diffs: list[Difference], rules: list[Justified]) -> list[Difference]:
    return [d for d in diffs if not any(r.covers(entry, d) for r in rules)]
