"""A pod manifest as the Pod Security Standards checks read it, and what a failed check says.

The manifest has not been validated yet (it becomes a typed Pod only after every
``userpods_prepare_pod`` step), so every read tolerates wrong types: a field that should be a
boolean counts as set when it holds anything but ``false`` or nothing, and a value the checks
cannot read is refused rather than let through. No input makes a check raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")  # admission's order
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})  # seccomp and AppArmor


@dataclass(frozen=True)
class Violation:
    """One failed control: the admission's reason and detail, and the offending fields."""

    check: str  # the admission's check ID
    reason: str
    detail: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True)
class Container:
    path: str  # spec.containers[1]
    name: str
    body: dict[str, Any]

    @property
    def context(self) -> dict[str, Any]:
        return as_dict(self.body.get("securityContext"))


class Pod:
    """Read-only, type-tolerant access to the parts of a manifest the checks look at."""

    def __init__(self, manifest: Any) -> None:
        self.meta = as_dict(as_dict(manifest).get("metadata"))
        self.spec = as_dict(as_dict(manifest).get("spec"))
        self.context = as_dict(self.spec.get("securityContext"))
        self.containers = list(self._visit())

    def _visit(self) -> Iterator[Container]:
        """Every container, init and ephemeral ones included, with its path."""
        for key in CONTAINER_LISTS:
            for index, body in enumerate(as_list(self.spec.get(key))):
                body = as_dict(body)
                yield Container(f"spec.{key}[{index}]", text_of(body.get("name")), body)

    @property
    def user_namespace(self) -> bool:
        """``hostUsers: false``: the pod runs in its own user namespace, which relaxes the
        root, runAsUser and procMount controls."""
        return self.spec.get("hostUsers") is False

    @property
    def windows(self) -> bool:
        return as_dict(self.spec.get("os")).get("name") == "windows"


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str:
    return "" if value is None else str(value)


def set_true(value: Any) -> bool:
    """A field that must not be true: anything but nothing or false counts as set."""
    return value is not None and value is not False


def quote(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def containers_phrase(names: list[str]) -> str:
    return f"{plural('container', 'containers', len(names))} {quote(names)}"


def setters_phrase(pod_bad: bool, names: list[str]) -> str:
    """Who set a forbidden value: 'pod and containers "a", "b"'."""
    parts = (["pod"] if pod_bad else []) + ([containers_phrase(names)] if names else [])
    return " and ".join(parts)


Check = Callable[[Pod], Violation | None]
