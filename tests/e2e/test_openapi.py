"""``GET /openapi.json`` over real HTTP, and schemathesis driving every operation it describes.

The document is served as daemon/openapi.py builds it (tests/unit/test_openapi.py checks it
against the routes). schemathesis reads it, generates requests each operation allows (bodies,
query parameters) and sends them, with ``requests``, to a daemon on the simulated cluster
that runs in a thread of its own for the module (the fuzz suite's ``target``, see
tests/e2e/test_fuzz.py: schemathesis' tests are synchronous, the stack is trio). Every reply
must be no 5xx, have a status the document lists for the operation, its content type, and a
body its schema allows: so the document describes what the daemon answers, errors included.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import CLUSTER
from tests.e2e.test_fuzz import SCALE, Target, target
from userpods.daemon.openapi import document

__all__ = ["target"]  # the fuzz suite's module-scoped stack, a fixture here too

pytestmark = [
    pytest.mark.skipif(bool(CLUSTER), reason="drives the simulated cluster's stack"),
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]

SCHEMA = schemathesis.openapi.from_dict(document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = int(40 * SCALE) if SCALE else 40
REPLIES: Counter[tuple[str, str, int]] = Counter()  # (method, path, status) of what was sent


def _count(reply: requests.Response, *args: Any, **kwargs: Any) -> None:
    REPLIES[reply.request.method or "", urlsplit(reply.url).path, reply.status_code] += 1


SESSION = requests.Session()
SESSION.hooks["response"].append(_count)


def test_the_served_document_is_the_description(target: Target) -> None:
    reply = httpx2.get(f"http://{target.host}:{target.port}/openapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == document()


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not SCALE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_described(case: Any, target: Target) -> None:
    case.call_and_validate(
        base_url=f"http://{target.host}:{target.port}", session=SESSION, checks=CHECKS, timeout=60
    )


def test_every_operation_was_exercised() -> None:
    """Runs after the schemathesis test: each described operation got requests; the figures."""
    sent = {(method.lower(), path) for method, path, _ in REPLIES}
    described = {
        (method, path)
        for path, item in document()["paths"].items()
        for method in item
        if not method.startswith("x-")
    }
    assert described <= sent, sorted(described - sent)
    print(f"schemathesis: {REPLIES.total()} requests")
    for (method, path, status), count in sorted(REPLIES.items()):
        print(f"  {method} {path} {status}: {count}")
