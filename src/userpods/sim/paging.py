"""Lists in chunks (``limit`` and ``continue``), as an etcd-backed kube-apiserver serves them.

Why: a client that lists ten thousand pods in chunks of 500 (lightkube's ``chunk_size``,
client-go's pager, ``kubectl --chunk-size``) holds one chunk at a time and relies on the chunks
being one consistent list: all from the snapshot of the first (its ``resourceVersion``), so
objects created or deleted meanwhile never show. etcd keeps every revision until compacted; the
store keeps only the present, so the first chunk of a list that does not fit keeps a snapshot:
the stored objects of the kind (and namespace) at that version, as references (stored objects
are never changed: no copy). Snapshots live ``ttl`` seconds (etcd is compacted every 5
minutes), at most ``capacity`` of them (least recently used go first), shared by every chunk
and client listing the same kind and namespace at that version. A token whose snapshot is gone
answers as a compacted revision: 410, with a token to go on inconsistently in the present.

What a real apiserver does, measured against kube-apiserver v1.37.2 and found in its source
(``storage/continue.go``, ``storage/interfaces.go`` ValidateListOptions, ``etcd3/store.go``
GetList, ``etcd3/errors.go``, ``cacher/cacher.go``, apimachinery's conversion of ``limit``):

- ``limit``: the first value, parsed by Go's ParseInt (a 400 ``strconv.ParseInt: parsing "x":
  invalid syntax``, also for ``limit=``); 0 or negative: everything. With
  ``resourceVersion=0`` the watch cache serves the list and ignores ``limit``.
- A chunk is full at ``limit`` items; a token is given when any object (matching or not) follows
  the last one looked at, so a selector list can end with an empty chunk.
  ``remainingItemCount`` (the objects after the chunk) only without selectors.
- The token is base64url (no padding) of ``{"v":"meta.k8s.io/v1","rv":N,"start":"/ns/name\\0"}``
  (``/name\\0`` within a namespace); ``rv: -1`` continues in the current state. Malformed: 400
  ``invalid continue token: continue key is not valid: ...`` with Go's base64 and JSON wording.
  With a ``resourceVersion`` other than "0": 400 ``specifying resource version is not allowed
  when using continue``. A version newer than the store's: 504 ``Too large resource version``.
- ``resourceVersionMatch`` and ``sendInitialEvents`` are checked as ListOptions (one 422).
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from . import kinds as k
from .http import Request
from .selectors import parse_field_selector, parse_label_selector
from .status import ApiError, Cause, bad_request, forbidden, invalid_error, unsupported
from .store import Store

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]
TOKEN_VERSION = "meta.k8s.io/v1"
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)
_GO_INT = re.compile(r"[+-]?[0-9]+")
_JSON_INT = re.compile(r"-?[0-9]+")
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_INT64 = 1 << 63
_TOO_LARGE = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}


@dataclass
class Page:
    """One chunk of a list: its items and its ``metadata`` (ListMeta)."""

    items: list[Obj]
    resource_version: str
    token: str = ""
    remaining: int | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": self.resource_version}
        if self.token:
            meta["continue"] = self.token
        if self.remaining is not None:
            meta["remainingItemCount"] = self.remaining
        return meta


class ExpiredContinue(ApiError):
    """The 410 of a token whose snapshot is gone; its Status carries a token (``rv: -1``) that
    goes on from the same key in the current state."""

    def __init__(self, token: str) -> None:
        super().__init__(410, INCONSISTENT_CONTINUE, "Expired")
        self.token = token

    def body(self) -> dict[str, Any]:
        return {**super().body(), "metadata": {"continue": self.token}}


class Pager:
    """Serves list chunks from the store, keeping the snapshots their tokens continue."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = 300.0,
        capacity: int = 256,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        # (kind, namespace or None, resourceVersion) -> (the objects, when they expire)
        self._snapshots: OrderedDict[tuple[str, str | None, int], tuple[list[Obj], float]] = (
            OrderedDict()
        )

    @property
    def snapshots(self) -> int:
        return len(self._snapshots)

    def compact(self) -> None:
        """Forget every snapshot, as an etcd compaction does: the tokens of lists from before
        the last write then answer 410."""
        self._snapshots.clear()

    def page(
        self,
        req: Request,
        kind: k.Kind,
        namespace: str | None,
        matcher: Callable[[Request, k.Kind], Matcher],
    ) -> Page:
        """The chunk a list request asks for; errors are raised in the apiserver's order."""
        limit = parse_limit(req)
        labels = parse_label_selector(req.param("labelSelector"))
        validate_list_options(req)
        fields = parse_field_selector(req.param("fieldSelector"), kind.supports_field)
        matches = matcher(req, kind)
        token = _first(req, "continue") or ""
        version = _first(req, "resourceVersion") or ""
        if version == "0":
            limit = 0
        whole = kind.namespaced and namespace is None  # keys are /ns/name, else /name
        begin = 0
        if token:
            start, rv = decode_continue(token)
            if version not in ("", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            rv = self.store.rv if rv < 0 else rv
            objects = self._objects(kind, namespace, rv, start)
            begin = bisect.bisect_left(objects, _position(start, whole), key=_sort_key(whole))
        else:
            rv = self.store.rv
            objects = self._objects(kind, namespace, rv, "/")
        items: list[Obj] = []
        last = begin - 1
        for at in range(begin, len(objects)):
            if 0 < limit <= len(items):
                break
            last = at
            if matches(objects[at]):
                items.append(objects[at])
        if not (0 < limit <= len(items) and last < len(objects) - 1):
            return Page(items, str(rv))
        self._keep((kind.key, namespace, rv), objects)
        next_token = encode_continue(rv, _key(objects[last], whole) + "\x00")
        remaining = None if labels or fields else len(objects) - last - 1
        return Page(items, str(rv), next_token, remaining)

    # ------------------------------------------------------------------ snapshots
    def _objects(self, kind: k.Kind, namespace: str | None, rv: int, start: str) -> list[Obj]:
        """The objects at ``rv``: a kept snapshot, or the store when nothing was written since."""
        key = (kind.key, namespace, rv)
        objects, expires = self._snapshots.get(key, ([], 0.0))
        if key in self._snapshots and expires > self.clock():
            self._snapshots.move_to_end(key)
            return objects
        self._snapshots.pop(key, None)
        if rv == self.store.rv:
            return self.store.list(kind, namespace)
        if rv > self.store.rv:
            message = f"Timeout: Too large resource version: {rv}, current: {self.store.rv}"
            details = {"causes": [_TOO_LARGE], "retryAfterSeconds": 1}
            raise ApiError(504, message, "Timeout", details, {"retry-after": "1"})
        raise ExpiredContinue(encode_continue(-1, start[1:]))  # etcd3 drops the leading /

    def _keep(self, key: tuple[str, str | None, int], objects: list[Obj]) -> None:
        if key in self._snapshots:
            return
        now = self.clock()
        for old in [name for name, (_, expires) in self._snapshots.items() if expires <= now]:
            del self._snapshots[old]
        self._snapshots[key] = (objects, now + self.ttl)
        while len(self._snapshots) > max(self.capacity, 0):
            self._snapshots.popitem(last=False)


# ---------------------------------------------------------------------- list options
def _first(req: Request, name: str) -> str | None:
    """A query parameter as the apiserver's decoder reads it: the first value."""
    values = req.query.get(name)
    return values[0] if values else None


def parse_limit(req: Request) -> int:
    """``limit`` as Go's ParseInt reads it; 0 (everything) when absent, zero or negative."""
    text = _first(req, "limit")
    if text is None:
        return 0
    if not _GO_INT.fullmatch(text):
        raise bad_request(f"strconv.ParseInt: parsing {json.dumps(text)}: invalid syntax")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise bad_request(f"strconv.ParseInt: parsing {json.dumps(text)}: value out of range")
    return max(value, 0)


def validate_list_options(req: Request) -> None:
    """apimachinery's ValidateListOptions for a list: one 422 with every cause."""
    causes: list[Cause] = []
    match = _first(req, "resourceVersionMatch") or ""
    version = _first(req, "resourceVersion") or ""
    path = "resourceVersionMatch"
    if match:
        if not version:
            causes.append(
                forbidden(
                    path, "resourceVersionMatch is forbidden unless resourceVersion is provided"
                )
            )
        if _first(req, "continue"):
            causes.append(
                forbidden(path, "resourceVersionMatch is forbidden when continue is provided")
            )
        if match not in ("Exact", "NotOlderThan"):
            causes.append(unsupported(path, match, ["Exact", "NotOlderThan", ""]))
        if match == "Exact" and version == "0":
            causes.append(
                forbidden(path, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
            )
    if req.param("sendInitialEvents") is not None:
        causes.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    if causes:
        raise invalid_error("ListOptions", "meta.k8s.io", "", causes)


# ---------------------------------------------------------------------- keys and tokens
def _key(obj: Obj, whole: bool) -> str:
    meta = obj["metadata"]
    return f"/{meta.get('namespace', '')}/{meta['name']}" if whole else f"/{meta['name']}"


def _sort_key(whole: bool) -> Callable[[Obj], Any]:
    """The store's order (namespace, name) as a bisect key."""
    if whole:
        return lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    return lambda obj: obj["metadata"]["name"]


def _position(start: str, whole: bool) -> Any:
    """A token's start key (``/ns/name\\0`` or ``/name\\0``) as a value of :func:`_sort_key`."""
    if whole:
        namespace, _, name = start[1:].partition("/")
        return (namespace, name)
    return start[1:]


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid(detail: str) -> ApiError:
    return bad_request(f"invalid continue token: continue key is not valid: {detail}")


def decode_continue(token: str) -> tuple[str, int]:
    """The start key (with its leading ``/``) and resourceVersion of a token, or the 400 of
    storage.DecodeContinue."""
    version, rv, start = _unmarshal(_base64url(token))
    if version != TOKEN_VERSION:
        raise _invalid(f"server does not recognize this encoded version {version}")
    if rv == 0:
        raise _invalid(f"incorrect encoded start resourceVersion (version {TOKEN_VERSION})")
    if not start:
        raise _invalid(f"encoded start key empty (version {TOKEN_VERSION})")
    key = start if start.startswith("/") else "/" + start
    parts = key[1:].split("/")
    if key != "/" and any(part in ("", ".", "..") for part in parts):  # path.Clean would change it
        raise _invalid(start)
    return key, rv


def _base64url(token: str) -> bytes:
    """Go's base64.RawURLEncoding.DecodeString, with its error positions."""
    chars: list[tuple[int, str]] = []
    for at, char in enumerate(token):
        if char in "\r\n":
            continue
        if char not in _BASE64URL:
            raise _invalid(f"illegal base64 data at input byte {at}")
        chars.append((at, char))
    if len(chars) % 4 == 1:
        raise _invalid(f"illegal base64 data at input byte {chars[-1][0]}")
    text = "".join(char for _, char in chars)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Number(str):
    """A JSON number, kept as written (Go's errors quote it)."""


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, in order (Go's decoder reads them so)."""


def _go_type(value: Any) -> str:
    if isinstance(value, _Object):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, _Number) else "string"


def _unmarshal(data: bytes) -> tuple[str, int, str]:
    """encoding/json's Unmarshal into storage.continueToken: (v, rv, start)."""
    text = data.decode("utf-8", errors="replace")
    try:  # NaN and Infinity (no JSON for Go) are kept as numbers: no int64, so still refused
        root = json.loads(
            text, object_pairs_hook=_Object, parse_int=_Number, parse_float=_Number,
            parse_constant=_Number,
        )  # fmt: skip
    except json.JSONDecodeError as exc:
        raise _invalid(_syntax_error(text, exc)) from None
    if root is not None and not isinstance(root, _Object):
        raise _invalid(
            f"json: cannot unmarshal {_go_type(root)} into Go value of type storage.continueToken"
        )
    found: dict[str, Any] = {"v": "", "rv": 0, "start": ""}
    errors: list[str] = []
    for name, value in root or ():
        field = name.lower()  # Go matches field names case-insensitively
        if field not in found or value is None:
            continue
        number = isinstance(value, _Number)
        if field == "rv" and number and _JSON_INT.fullmatch(value) and abs(int(value)) < _INT64:
            found["rv"] = int(value)
        elif field != "rv" and isinstance(value, str) and not number:
            found[field] = value
        elif field == "rv":
            shown = f"number {value}" if number else _go_type(value)
            errors.append(f"{shown} into Go struct field continueToken.rv of type int64")
        else:
            errors.append(
                f"{_go_type(value)} into Go struct field continueToken.{field} of type string"
            )
    if errors:
        raise _invalid(f"json: cannot unmarshal {errors[0]}")
    return found["v"], found["rv"], found["start"]


def _quote(char: str) -> str:
    """A character as Go's JSON errors quote it: 'x'."""
    if char == "'":
        return "'\\''"
    if char == "\\":
        return "'\\\\'"
    return f"'{char}'" if char.isprintable() else f"'\\x{ord(char):02x}'"


_GO_WORDS = {
    "Extra data": "after top-level value",
    "Expecting ':' delimiter": "after object key",
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Expecting value": "looking for beginning of value",
}
_LITERALS = {"t": "true", "f": "false", "n": "null"}


def _syntax_error(text: str, exc: json.JSONDecodeError) -> str:
    """Python's JSON parse error in the words of Go's encoding/json (the common ones)."""
    at = exc.pos
    if at >= len(text) or not text.strip():
        return "unexpected end of JSON input"
    if exc.msg == "Expecting value" and text[at] in _LITERALS:  # a misspelt true/false/null
        literal = _LITERALS[text[at]]
        got = text[at : at + len(literal)]
        for offset, wanted in enumerate(literal):
            if offset >= len(got):
                return "unexpected end of JSON input"
            if got[offset] != wanted:
                return (
                    f"invalid character {_quote(got[offset])} in literal {literal} "
                    f"(expecting {_quote(wanted)})"
                )
    words = _GO_WORDS.get(exc.msg)
    return f"invalid character {_quote(text[at])} {words}" if words else exc.msg
