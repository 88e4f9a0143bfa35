"""Protobuf request bodies, as kubectl's typed commands send them (``k8s\\0`` + runtime.Unknown).

The bodies are built here by a minimal encoder following the field numbers of k8s.io/api's
``generated.proto`` (independent of the decoder under test); the real kubectl's typed
commands are driven in test_kubectl.py.
"""

from __future__ import annotations

import base64

from userpods.sim import SimCluster
from userpods.sim.protobuf import DecodeError, decode

from .helpers import raw_client

PROTOBUF = {"Content-Type": "application/vnd.kubernetes.protobuf"}


def varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def field(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return field(number, field(1, key) + field(2, value))


def envelope(kind: str, raw: bytes, api_version: str = "v1") -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return b"k8s\x00" + field(1, type_meta) + field(2, raw) + field(3, "") + field(4, "")


def meta(name: str, namespace: str = "") -> bytes:
    # As gogo-protobuf writes ObjectMeta: zero values too (generateName "", generation 0).
    body = field(1, name) + field(2, "") + field(3, namespace) + field(7, 0)
    return body + entry(11, "app", "demo") + field(14, "example.org/f")


def test_decodes_the_kinds_of_kubectls_typed_commands() -> None:
    secret = field(1, meta("tls", "test")) + entry(2, "tls.crt", b"\x00\x01")
    secret += field(3, "kubernetes.io/tls")
    assert decode(envelope("Secret", secret)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "tls",
            "namespace": "test",
            "labels": {"app": "demo"},
            "finalizers": ["example.org/f"],
        },
        "data": {"tls.crt": base64.b64encode(b"\x00\x01").decode()},
        "type": "kubernetes.io/tls",
    }
    config = field(1, meta("cm")) + entry(2, "a", "1") + entry(2, "empty", "")
    assert decode(envelope("ConfigMap", config))["data"] == {"a": "1", "empty": ""}
    namespace = decode(envelope("Namespace", field(1, meta("ns")) + field(2, b"")))
    assert namespace["metadata"]["name"] == "ns" and namespace["spec"] == {}
    account = decode(envelope("ServiceAccount", field(1, meta("sa")) + field(4, 1)))
    assert account["automountServiceAccountToken"] is True


def test_undecodable_bodies_raise() -> None:
    for body in (b"{}", b"k8s\x00\xff", envelope("Pod", b"\x0a\x00"), envelope("Secret", b"\x0a")):
        try:
            decode(body)
        except DecodeError:
            continue
        raise AssertionError(f"decoded {body!r}")
    assert decode(b"k8s\x00") == {}  # an empty envelope: the URL's kind, nothing set


async def test_protobuf_creates_answer_json(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        made = await client.post(
            "/api/v1/namespaces/test/configmaps",
            content=envelope("ConfigMap", field(1, meta("cm")) + entry(2, "a", "1")),
            headers=PROTOBUF,
        )
        assert made.status_code == 201, made.text
        assert made.headers["content-type"] == "application/json"
        body = made.json()
        assert body["data"] == {"a": "1"}
        assert "generation" not in body["metadata"]  # zero values are not kept
        assert "generateName" not in body["metadata"]
        # An empty envelope is an empty object of the URL's kind, then validated (a 422).
        empty = await client.post(
            "/api/v1/namespaces/test/pods", content=b"k8s\x00", headers=PROTOBUF
        )
        assert empty.status_code == 422
        assert empty.json()["details"]["kind"] == "Pod"
        garbage = await client.post(
            "/api/v1/namespaces/test/pods", content=b"\x01\x02", headers=PROTOBUF
        )
        assert garbage.status_code == 400
