"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``), decoded to JSON objects.

kubectl's typed commands (``create namespace``, ``create secret generic|tls|docker-registry``,
``create configmap``, ``create serviceaccount``) send their object in protobuf, as a real
apiserver accepts: the 4 bytes ``k8s\\0``, then a ``runtime.Unknown`` message (1: typeMeta
{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType) whose ``raw`` is the
object. Only the kinds those commands send are known here (field numbers from k8s.io/api's
and apimachinery's ``generated.proto``), ObjectMeta included; any other kind, or a body that
is not valid protobuf, is refused as the apiserver refuses an undecodable body. Answers stay
JSON, which every client accepts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from .timefmt import rfc3339

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
Obj = dict[str, Any]


class DecodeError(ValueError):
    """The body is not a protobuf message of a kind this decoder knows."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field: an int for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise DecodeError("truncated field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):  # fixed 64/32-bit: no field of ours uses them; skip
            pos += 8 if wire == 1 else 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
    if pos != len(data):
        raise DecodeError("truncated message")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("expected a string")
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid UTF-8") from exc


def _bytes(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("expected bytes")
    return base64.b64encode(value).decode()  # JSON's form of a []byte


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise DecodeError("expected an integer")
    return value - (1 << 64) if value >= 1 << 63 else value


def _bool(value: int | bytes) -> bool:
    return bool(_int(value))


def _entry(value: int | bytes, convert: Callable[[int | bytes], Any]) -> tuple[str, Any]:
    if not isinstance(value, bytes):
        raise DecodeError("expected a map entry")
    key, item = "", convert(b"")
    for number, part in fields(value):
        if number == 1:
            key = _text(part)
        elif number == 2:
            item = convert(part)
    return key, item


def _time(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise DecodeError("expected a Time")
    seconds = 0
    for number, part in fields(value):
        if number == 1:
            seconds = _int(part)
    import datetime

    return rfc3339(datetime.datetime.fromtimestamp(seconds, datetime.UTC))


# A schema: field number -> (JSON name, how: "str", "int", "bool", "bytes", "time", a nested
# schema, or ("map", converter) / ("list", converter) for map and repeated fields).
Schema = dict[int, tuple[str, Any]]
OWNER_REFERENCE: Schema = {
    5: ("apiVersion", "str"),
    1: ("kind", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Schema = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    5: ("uid", "str"),
    6: ("resourceVersion", "str"),
    7: ("generation", "int"),
    8: ("creationTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "str")),
    12: ("annotations", ("map", "str")),
    13: ("ownerReferences", ("list", OWNER_REFERENCE)),
    14: ("finalizers", ("list", "str")),
}
NAME_REF: Schema = {1: ("name", "str")}
OBJECT_REF: Schema = {
    1: ("kind", "str"),
    2: ("namespace", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
}
KINDS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("list", "str"))})},
    "Secret": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "str"),
        4: ("stringData", ("map", "str")),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "str")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", OBJECT_META),
        2: ("secrets", ("list", OBJECT_REF)),
        3: ("imagePullSecrets", ("list", NAME_REF)),
        4: ("automountServiceAccountToken", "bool"),
    },
}
_SCALARS: dict[str, Callable[[int | bytes], Any]] = {
    "str": _text,
    "int": _int,
    "bool": _bool,
    "bytes": _bytes,
    "time": _time,
}


def _converter(how: Any) -> Callable[[int | bytes], Any]:
    if isinstance(how, dict):
        return lambda value: decode_message(value, how)
    return _SCALARS[how]


def decode_message(data: int | bytes, schema: Schema) -> Obj:
    if not isinstance(data, bytes):
        raise DecodeError("expected a message")
    out: Obj = {}
    for number, value in fields(data):
        if number not in schema:
            continue  # fields this decoder does not know (selfLink, managedFields, status)
        name, how = schema[number]
        if isinstance(how, tuple) and how[0] == "map":
            key, item = _entry(value, _converter(how[1]))
            out.setdefault(name, {})[key] = item
        elif isinstance(how, tuple) and how[0] == "list":
            out.setdefault(name, []).append(_converter(how[1])(value))
        else:
            converted = _converter(how)(value)
            if how in ("str", "int") and not converted:
                continue  # gogo-protobuf writes zero values; JSON's omitempty drops them
            out[name] = converted
    return out


def decode(body: bytes) -> Obj:
    """The JSON form of a ``k8s\\0`` + runtime.Unknown body (raises DecodeError)."""
    if not body.startswith(MAGIC):
        raise DecodeError(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, value in fields(body[len(MAGIC) :]):
        if number == 1:
            meta = decode_message(value, {1: ("apiVersion", "str"), 2: ("kind", "str")})
            api_version, kind = meta.get("apiVersion", ""), meta.get("kind", "")
        elif number == 2 and isinstance(value, bytes):
            raw = value
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise DecodeError(f"unsupported content encoding {encoding!r}")
    if not kind and not api_version and not raw:
        return {}  # an empty object: the URL's kind, with nothing set (then validated)
    schema = KINDS.get(kind)
    if schema is None or api_version != "v1":
        raise DecodeError(f"no protobuf decoder for {api_version}/{kind}")
    return {"apiVersion": api_version, "kind": kind, **decode_message(raw, schema)}
