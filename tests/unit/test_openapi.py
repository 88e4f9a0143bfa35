"""The OpenAPI document (daemon/openapi.py) matches the app's routes, and docs/openapi.md is
rendered from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from userpods.daemon.app import build_app
from userpods.daemon.openapi import document, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.md"


def _routes() -> dict[str, set[str]]:
    app = build_app(cast(Any, None))  # the routes only: nothing is served
    return {
        rule.rule: set(rule.methods or ())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }


def test_every_route_is_described_with_the_methods_it_takes() -> None:
    doc = document()
    routes = _routes()
    assert set(doc["paths"]) == set(routes)
    for path, item in doc["paths"].items():
        assert set(item["x-methods"]) == routes[path], path
        operations = {m.upper() for m in item if not m.startswith("x-")}
        assert operations, f"{path}: no operation described"
        assert operations <= routes[path], path


def test_every_operation_names_its_statuses_and_error_shapes() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method.startswith("x-"):
                continue
            assert "200" in operation["responses"], (path, method)
            for status, reply in operation["responses"].items():
                if status == "204":  # the progress stream's "stop reconnecting": no body
                    assert "content" not in reply, (path, reply)
                    continue
                (content,) = reply["content"].values()
                ref = content["schema"].get("$ref", "")
                if ref:
                    assert ref.rsplit("/", 1)[1] in schemas, ref
                if status.startswith(("4", "5")) and path != "/readyz":
                    assert "error" in schemas[ref.rsplit("/", 1)[1]]["required"], (path, status)


def test_the_docs_page_is_rendered_from_the_document() -> None:
    expected = render_markdown(document())
    assert DOC.read_text() == expected, (
        "docs/openapi.md is out of date: python -m userpods.daemon.openapi > docs/openapi.md"
    )
