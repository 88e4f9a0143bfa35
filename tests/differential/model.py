"""The corpus's vocabulary, and the runner that plays a corpus against one cluster.

An entry is a request described as data (:class:`Call`, :class:`Watch`, :class:`Upgrade`,
:class:`Kubectl`); values that depend on the cluster (the run's namespace, the uid or
resourceVersion an earlier entry got back there) are callables of a :class:`Ctx`, so each
cluster gets the request that means the same thing to it. :class:`WaitFor` entries are not
compared: they only let a real controller catch up (the default service account of a new
namespace) before the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from .targets import Answer, Target

JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass
class Ctx:
    """What an entry may refer to: the namespace and earlier answers, on this cluster."""

    ns: str
    target: Target
    saved: dict[str, Answer] = field(default_factory=dict)

    def body(self, entry: str) -> Any:
        return self.saved[entry].body

    def uid(self, entry: str) -> str:
        return str(self.body(entry)["metadata"]["uid"])

    def rv(self, entry: str) -> str:
        return str(self.body(entry)["metadata"]["resourceVersion"])


Value = Any  # a plain value (strings get ``{ns}`` filled in) or a callable of the Ctx


def resolve(value: Value, ctx: Ctx) -> Any:
    if callable(value):
        return value(ctx)
    if isinstance(value, str):
        return value.replace("{ns}", ctx.ns)
    return value


@dataclass(frozen=True)
class Call:
    """One HTTP request; with ``token_for`` the answer's token becomes that identity's."""

    name: str
    method: str
    path: Value
    body: Value = None
    ctype: str = JSON
    who: str = "admin"
    query: Value = None
    token_for: str | None = None


@dataclass(frozen=True)
class Watch:
    """A watch from the resourceVersion of an earlier answer (``since``), to its timeout."""

    name: str
    path: Value
    query: Value = None
    since: str | None = None  # an entry whose (list) metadata.resourceVersion to start from
    who: str = "admin"


@dataclass(frozen=True)
class Upgrade:
    """A websocket handshake (exec, as lightkube makes it); the HTTP answer is compared."""

    name: str
    path: Value
    query: Sequence[tuple[str, str]] = ()
    who: str = "admin"


@dataclass(frozen=True)
class Kubectl:
    """The real kubectl (as admin); then ``get`` (a path) is fetched and compared too."""

    name: str
    args: Value
    stdin: Value = ""
    get: Value = None


@dataclass(frozen=True)
class WaitFor:
    """Wait (as admin, watching) until ``collection`` holds ``object_name``; not compared."""

    name: str
    collection: Value
    object_name: str


Entry = Call | Watch | Upgrade | Kubectl | WaitFor


async def play(entry: Entry, ctx: Ctx) -> Answer | None:
    """Send one entry to one cluster; None for entries that are not compared."""
    target = ctx.target
    if isinstance(entry, WaitFor):
        path = resolve(entry.collection, ctx)
        selector = {"fieldSelector": f"metadata.name={entry.object_name}"}
        with trio.fail_after(30):
            while True:
                listing = await target.request("admin", "GET", path, query=selector)
                if listing.body["items"]:
                    return None
                since = {
                    **selector,
                    "resourceVersion": listing.body["metadata"]["resourceVersion"],
                    "timeoutSeconds": "10",
                }
                if (await target.watch("admin", path, since)).events:
                    return None
    if isinstance(entry, Call):
        answer = await target.request(
            entry.who,
            entry.method,
            resolve(entry.path, ctx),
            body=resolve(entry.body, ctx),
            content_type=entry.ctype,
            query=resolve(entry.query, ctx),
        )
        if entry.token_for and answer.code == 201:
            target.tokens[entry.token_for] = answer.body["status"]["token"]
        return answer
    if isinstance(entry, Watch):
        query: dict[str, Any] = dict(resolve(entry.query, ctx) or {})
        query.setdefault("timeoutSeconds", "1")
        if entry.since is not None:
            query["resourceVersion"] = ctx.rv(entry.since)
        return await target.watch(entry.who, resolve(entry.path, ctx), query)
    if isinstance(entry, Upgrade):
        return await target.upgrade(entry.who, resolve(entry.path, ctx), list(entry.query))
    args = [str(resolve(a, ctx)) for a in resolve(entry.args, ctx)]
    answer = await target.kubectl(args, resolve(entry.stdin, ctx))
    if entry.get is not None:
        got = await target.request("admin", "GET", resolve(entry.get, ctx))
        answer.body["object"] = got.body
        answer.body["object_code"] = got.code
    return answer


async def play_all(
    entries: Sequence[Entry], target: Target, ns: str
) -> tuple[dict[str, Answer], Mapping[str, str]]:
    """Play a corpus in order; returns the answers and the entries that raised (name -> why)."""
    ctx = Ctx(ns, target)
    failures: dict[str, str] = {}
    for entry in entries:
        try:
            answer = await play(entry, ctx)
        except Exception as exc:  # a broken entry must not hide the others' results
            failures[entry.name] = f"{type(exc).__name__}: {exc}"
            continue
        if answer is not None:
            ctx.saved[entry.name] = answer
    return ctx.saved, failures


def compared(entries: Sequence[Entry]) -> list[Entry]:
    return [e for e in entries if not isinstance(e, WaitFor)]


def check_unique(entries: Sequence[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        assert entry.name not in seen, f"duplicate corpus entry {entry.name}"
        seen.add(entry.name)


Builder = Callable[[Ctx], Any]
