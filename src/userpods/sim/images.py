"""Simulated container images: how a container behaves, read from a YAML catalogue.

Each entry matches container images by an ``fnmatch`` glob (first match wins) and says whether
the image pulls, how long it takes to start and become ready, whether and how the main process
exits, which files exist inside (readable through exec; ``{pod_name}``, ``{namespace}``,
``{uid}`` and ``{env[NAME]}`` are filled in when the container starts), what its log says, and
how much CPU and memory it uses over time (``usage``: phases since the container started, read
by the metrics API, ``metrics.py``). A user catalogue (``--images FILE``) is consulted before
the built-in one.
"""

from __future__ import annotations

import fnmatch
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .names import parse_quantity

DEFAULT_START_DELAY = 0.05
DEFAULT_READY_DELAY = 0.05
# What a container uses when its entry says nothing: an idle process's housekeeping.
DEFAULT_CPU = "2m"
DEFAULT_MEMORY = "16Mi"


class CatalogueError(ValueError):
    """An image catalogue that cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Exit:
    code: int
    after: float


@dataclass(frozen=True)
class FileSpec:
    """A file's content: a template, or ``text`` repeated ``count`` times."""

    text: str
    count: int = 1
    template: bool = True


@dataclass(frozen=True)
class Usage:
    """One phase of a container's resource use: CPU in nanocores, memory (its working set) in
    bytes, for ``seconds`` (None: from then on, until the container ends)."""

    cpu: int
    memory: int
    seconds: float | None = None


def _cpu_nanocores(amount: Decimal) -> int:
    return math.ceil(amount * 10**9)  # Go's Quantity rounds up too


DEFAULT_USAGE = (
    Usage(_cpu_nanocores(parse_quantity(DEFAULT_CPU)), math.ceil(parse_quantity(DEFAULT_MEMORY))),
)


@dataclass(frozen=True)
class Image:
    """The behaviour of the containers whose image matches ``match``."""

    match: str = "*"
    pull: str = "ok"
    start_delay: float = DEFAULT_START_DELAY
    ready_delay: float = DEFAULT_READY_DELAY
    exit: Exit | None = None
    files: Mapping[str, FileSpec] = field(default_factory=dict)
    logs: str = ""
    stop_delay: float = 0.0
    usage: tuple[Usage, ...] = DEFAULT_USAGE

    def usage_at(self, elapsed: float) -> Usage:
        """The phase of use ``elapsed`` seconds after the container started."""
        for phase in self.usage:
            if phase.seconds is None or elapsed < phase.seconds:
                return phase
            elapsed -= phase.seconds
        return self.usage[-1]  # pragma: no cover - the last phase has no end

    def render(
        self, *, pod_name: str, namespace: str, uid: str, env: Mapping[str, str]
    ) -> tuple[dict[str, str], str]:
        """The container's files and log text, placeholders filled in for this container."""
        values = {"pod_name": pod_name, "namespace": namespace, "uid": uid, "env": _Env(env)}
        formatter = _Formatter()
        files = {}
        for path, spec in self.files.items():
            text = spec.text * spec.count
            files[path] = formatter.vformat(text, (), values) if spec.template else text
        return files, formatter.vformat(self.logs, (), values)


class _Env(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class _Formatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        return (
            kwargs.get(str(key), "")
            if isinstance(key, str)
            else super().get_value(key, args, kwargs)
        )


def _number(entry: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CatalogueError(f"{where}: {key} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def _check_template(text: str, where: str) -> None:
    """Fail at load, not when a container starts, on a template that cannot be filled in."""
    try:
        _Formatter().vformat(text, (), {"pod_name": "", "namespace": "", "uid": "", "env": _Env()})
    except (ValueError, LookupError, AttributeError, TypeError) as exc:
        raise CatalogueError(
            f"{where}: bad placeholder ({exc}); write {{{{ and }}}} for literal braces"
        ) from exc


def _quantity(phase: Mapping[str, Any], key: str, default: str, where: str) -> Decimal:
    value = phase.get(key, default)
    try:
        amount = parse_quantity(value)
    except ValueError:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0:
        raise CatalogueError(
            f"{where}: {key} must be a quantity >= 0 (e.g. 500m, 2, 120Mi), not {value!r}"
        )
    return amount


def _parse_usage(raw: Any, where: str) -> tuple[Usage, ...]:
    """Phases of use, strictly: every one but the last lasts ``for`` seconds (> 0), the last
    lasts until the container ends; ``cpu`` and ``memory`` are Kubernetes quantities. One
    mapping is one phase for the container's whole life."""
    phases = [raw] if isinstance(raw, dict) else raw
    if not isinstance(phases, list) or not phases:
        raise CatalogueError(
            f"{where}: usage must be a list of phases {{cpu, memory, for}}, or one phase"
        )
    result = []
    for i, phase in enumerate(phases):
        at = f"{where}: usage[{i}]"
        if not isinstance(phase, dict):
            raise CatalogueError(f"{at}: each phase must be a mapping {{cpu, memory, for}}")
        unknown = set(phase) - {"cpu", "memory", "for"}
        if unknown:
            raise CatalogueError(f"{at}: unknown keys {sorted(unknown)}")
        last = i == len(phases) - 1
        seconds = None
        if "for" in phase:
            value = phase["for"]
            if last:
                raise CatalogueError(f"{at}: the last phase lasts until the container ends: no for")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value < math.inf
            ):
                raise CatalogueError(f"{at}: for must be a number of seconds > 0, not {value!r}")
            seconds = float(value)
        elif not last:
            raise CatalogueError(f"{at}: every phase but the last needs for (seconds)")
        cpu = _quantity(phase, "cpu", DEFAULT_CPU, at)
        memory = _quantity(phase, "memory", DEFAULT_MEMORY, at)
        result.append(Usage(_cpu_nanocores(cpu), math.ceil(memory), seconds))
    return tuple(result)


def parse_entry(entry: Any, where: str) -> Image:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: each entry must be a mapping")
    unknown = set(entry) - {
        "match",
        "pull",
        "start_delay",
        "ready_delay",
        "exit",
        "files",
        "logs",
        "stop_delay",
        "usage",
    }
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    match = entry.get("match")
    if not isinstance(match, str) or not match:
        raise CatalogueError(f"{where}: match must be a non-empty glob")
    pull = entry.get("pull", "ok")
    if pull not in ("ok", "fail"):
        raise CatalogueError(f"{where}: pull must be ok or fail, not {pull!r}")
    exit_spec = None
    if entry.get("exit") is not None:
        raw = entry["exit"]
        if not isinstance(raw, dict) or not isinstance(raw.get("code"), int):
            raise CatalogueError(f"{where}: exit must be {{code: int, after: seconds}}")
        exit_spec = Exit(raw["code"], _number(raw, "after", 0.0, where))
    files: dict[str, FileSpec] = {}
    raw_files = entry.get("files") or {}
    if not isinstance(raw_files, dict):
        raise CatalogueError(f"{where}: files must map paths to contents")
    for path, content in raw_files.items():
        if isinstance(content, str):
            _check_template(content, f"{where}: files[{path}]")
            files[str(path)] = FileSpec(content)
        elif isinstance(content, dict) and isinstance(content.get("repeat"), str):
            count = content.get("count", 1)
            if not isinstance(count, int) or count < 0:
                raise CatalogueError(f"{where}: files[{path}].count must be an integer >= 0")
            files[str(path)] = FileSpec(content["repeat"], count, template=False)
        else:
            raise CatalogueError(f"{where}: files[{path}] must be text or {{repeat, count}}")
    logs = entry.get("logs", "")
    if not isinstance(logs, str):
        raise CatalogueError(f"{where}: logs must be text")
    _check_template(logs, f"{where}: logs")
    return Image(
        match=match,
        pull=pull,
        exit=exit_spec,
        files=files,
        logs=logs,
        start_delay=_number(entry, "start_delay", DEFAULT_START_DELAY, where),
        ready_delay=_number(entry, "ready_delay", DEFAULT_READY_DELAY, where),
        stop_delay=_number(entry, "stop_delay", 0.0, where),
        usage=_parse_usage(entry["usage"], where) if "usage" in entry else DEFAULT_USAGE,
    )


def parse_catalogue(text: str, source: str) -> list[Image]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return []
    if not isinstance(data, list):
        raise CatalogueError(f"{source}: the catalogue must be a list of entries")
    return [parse_entry(e, f"{source} entry {i + 1}") for i, e in enumerate(data)]


def builtin_catalogue() -> list[Image]:
    text = resources.files(__package__).joinpath("images.yaml").read_text()
    return parse_catalogue(text, "built-in image catalogue")


class Catalogue:
    """User entries first, then the built-in ones, then a default that just runs."""

    def __init__(self, entries: Iterable[Image] = ()) -> None:
        self.entries = list(entries) + builtin_catalogue()

    @classmethod
    def from_file(cls, path: str | Path | None) -> Catalogue:
        if path is None:
            return cls()
        text = Path(path).read_text()
        return cls(parse_catalogue(text, str(path)))

    def lookup(self, image: str) -> Image:
        for entry in self.entries:
            if fnmatch.fnmatchcase(image, entry.match):
                return entry
        return Image()
