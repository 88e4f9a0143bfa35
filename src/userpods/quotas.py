"""Per-user quotas: the ``quotas`` configuration, Kubernetes quantities, and what a pod asks for.

The configuration names limits as a Kubernetes ResourceQuota does (``pods``,
``requests.<resource>``, ``limits.<resource>``; a bare resource name such as ``cpu`` or
``nvidia.com/gpu`` means its requests), once as ``default`` and per user under ``users``,
where a user's entry overrides the default limit by limit (``null``: no limit for that user).

A pod's effective request of a resource is computed as the scheduler computes it (and the
kubelet's admission): the sum over its containers, plus the sidecars (init containers with
``restartPolicy: Always``, which run beside them), or, if larger, the largest an init
container needs while it runs (with the sidecars started before it); plus ``spec.overhead``;
pod-level ``spec.resources`` replaces the sum for each resource it names. A container that
gives a limit and no request requests its limit, as the API server defaults it. Limits are
aggregated the same way. This module lives beside ``config`` (which parses the configuration
with it) so that the quota plugin and the configuration share one reading of quantities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .naming import valid_user_id

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?|[eE][+-]?[0-9]+)"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_RESOURCE = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?"
)
PODS = "pods"


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity (``500m``, ``2``, ``1.5Gi``, ``128974848``, ``129e6``, ``4k``) as
    an exact number; a YAML number is taken as written. ``ValueError`` if malformed or
    negative (no request, limit or quota may be)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{value!r} is not a quantity")
    text = str(value).strip() if not isinstance(value, str) else value
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f'"{text}" is not a quantity (e.g. 500m, 2, 1.5Gi, 4k, 129e6)')
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        raise ValueError(f'"{text}" is not a quantity') from None
    suffix = match["suffix"]
    if suffix in _BINARY:
        amount = number * (Decimal(1024) ** _BINARY[suffix])
    elif suffix in _DECIMAL:
        amount = number.scaleb(_DECIMAL[suffix])
    else:
        amount = number.scaleb(int(suffix[1:]))
    if amount < 0:
        raise ValueError(f'"{text}" is negative')
    return amount


def format_quantity(amount: Decimal, resource: str = "") -> str:
    """A number as a readable quantity: CPU in cores or millicores (``1500m``), exact multiples
    of 1024 in binary units (``512Mi``), anything else as a plain decimal."""
    if resource.endswith("cpu") and amount != amount.to_integral_value():
        milli = amount * 1000
        if milli == milli.to_integral_value():
            return f"{int(milli)}m"
    if amount == amount.to_integral_value():
        whole = int(amount)
        for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
            unit = 1024**power
            if whole >= unit and whole % unit == 0 and not resource.endswith("cpu"):
                return f"{whole // unit}{suffix}"
        return str(whole)
    return format(amount.normalize(), "f")


def limit_name(key: object) -> str:
    """A limit's canonical name: ``pods``, ``requests.<resource>`` or ``limits.<resource>``
    (a bare resource means its requests). ``ValueError`` for anything else."""
    if not isinstance(key, str):
        raise ValueError(f"{key!r} is not a limit name")
    if key == PODS:
        return key
    kind, dot, resource = key.partition(".")
    if not dot or kind not in ("requests", "limits"):
        kind, resource = "requests", key
    if not _RESOURCE.fullmatch(resource) or resource == PODS:
        raise ValueError(
            f'"{key}" is not a limit (pods, requests.<resource> or limits.<resource>, '
            "e.g. requests.cpu, limits.memory, requests.nvidia.com/gpu)"
        )
    return f"{kind}.{resource}"


Limits = Mapping[str, Decimal]


@dataclass(frozen=True)
class Quotas:
    """The ``quotas`` key: limits for every user (``default``) and per-user overrides, where
    None lifts a default limit for that user. Empty: no quotas."""

    default: tuple[tuple[str, Decimal], ...] = ()
    users: tuple[tuple[str, tuple[tuple[str, Decimal | None], ...]], ...] = ()
    _by_user: dict[str, dict[str, Decimal | None]] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        self._by_user.update({user: dict(limits) for user, limits in self.users})

    def __bool__(self) -> bool:
        return bool(self.default or self.users)

    def for_user(self, user_id: str) -> dict[str, Decimal]:
        """The limits that hold for ``user_id``, by canonical name."""
        limits: dict[str, Decimal | None] = dict(self.default)
        limits.update(self._by_user.get(user_id, {}))
        return {name: value for name, value in limits.items() if value is not None}

    def describe(self) -> dict[str, Any]:
        """As the configuration writes it (quantities as text)."""

        def text(limits: Iterable[tuple[str, Decimal | None]]) -> dict[str, str | None]:
            return {n: None if v is None else format_quantity(v, n) for n, v in limits}

        return {"default": text(self.default), "users": {u: text(ls) for u, ls in self.users}}


def _limits(value: Any, where: str, *, lift: bool) -> tuple[tuple[str, Decimal | None], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ValueError(f"{where} must map limits (pods, requests.cpu, ...) to quantities")
    found: dict[str, Decimal | None] = {}
    for key, amount in value.items():
        name = limit_name(key)
        if name in found:
            raise ValueError(f"{where}: {key} and another key both name {name}")
        if amount is None and lift:
            found[name] = None
            continue
        try:
            number = parse_quantity(amount)
        except ValueError as exc:
            raise ValueError(f"{where}: {key}: {exc}") from None
        if name == PODS and number != number.to_integral_value():
            raise ValueError(f"{where}: pods must be a whole number")
        found[name] = number
    return tuple(sorted(found.items()))


def parse_quotas(value: Any) -> Quotas:
    """The ``quotas`` configuration value: ``{default: {limit: quantity}, users: {user id:
    {limit: quantity or null}}}``."""
    if value is None:
        return Quotas()
    if not isinstance(value, dict) or set(value) - {"default", "users"}:
        raise ValueError("must be a mapping with default and users")
    default = _limits(value.get("default"), "default", lift=False)
    users = value.get("users") or {}
    if not isinstance(users, dict):
        raise ValueError("users must map user ids to limits")
    per_user = []
    for user, limits in users.items():
        if not valid_user_id(user):
            raise ValueError(f"users: {user!r} is not a valid user id")
        per_user.append((str(user), _limits(limits, f"users: {user}", lift=True)))
    return Quotas(default, tuple(sorted(per_user)))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- what a pod asks for


def _amounts(container: Mapping[str, Any], kind: str) -> dict[str, Decimal]:
    """A container's requests or limits; requests default to limits (API defaulting)."""
    resources = container.get("resources") or {}
    found = {r: parse_quantity(q) for r, q in (resources.get(kind) or {}).items()}
    if kind == "requests":
        for resource, quantity in (resources.get("limits") or {}).items():
            found.setdefault(resource, parse_quantity(quantity))
    return found


def _add(total: dict[str, Decimal], more: Mapping[str, Decimal]) -> None:
    for resource, amount in more.items():
        total[resource] = total.get(resource, Decimal(0)) + amount


def _maximum(total: dict[str, Decimal], other: Mapping[str, Decimal]) -> None:
    for resource, amount in other.items():
        total[resource] = max(total.get(resource, Decimal(0)), amount)


def pod_amounts(pod: Mapping[str, Any], kind: str) -> dict[str, Decimal]:
    """The pod's effective ``kind`` ("requests" or "limits") by resource, as Kubernetes
    computes it (see the module's docstring). ``ValueError`` for a malformed quantity."""
    spec = pod.get("spec") or {}
    regular: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        _add(regular, _amounts(container, kind))
    sidecars: dict[str, Decimal] = {}
    init_peak: dict[str, Decimal] = {}
    for container in spec.get("initContainers") or []:
        own = _amounts(container, kind)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, own)
            _maximum(init_peak, sidecars)
        else:
            running = dict(sidecars)
            _add(running, own)
            _maximum(init_peak, running)
    _add(regular, sidecars)
    _maximum(regular, init_peak)
    pod_level = (spec.get("resources") or {}).get(kind) or {}
    regular.update({r: parse_quantity(q) for r, q in pod_level.items()})
    _add(regular, {r: parse_quantity(q) for r, q in (spec.get("overhead") or {}).items()})
    return regular


def unlimited_containers(pod: Mapping[str, Any], resource: str) -> list[str]:
    """The containers that set no limit of ``resource`` (none if the pod sets one itself):
    a pod among them has no bounded ``limits.<resource>``, so such a quota cannot admit it."""
    spec = pod.get("spec") or {}
    if resource in ((spec.get("resources") or {}).get("limits") or {}):
        return []
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return [
        str(c.get("name", "?"))
        for c in containers
        if resource not in ((c.get("resources") or {}).get("limits") or {})
    ]
