"""YAML aliases in manifests: sane anchors work, alias bombs are refused before any object is
built (a bounded, small amount of memory), cycles are refused."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from tests.conftest import MANIFESTS
from userpods.daemon import manifest
from userpods.daemon.manifest import ManifestError, parse_pod

HEAD = "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nspec:\n  containers:\n"


def flat_bomb(refs: int, length: int = 50_000) -> bytes:
    """The issue's bomb: an env value anchored once (``length`` characters), ``refs`` aliases."""
    aliases = ", ".join(["*s"] * refs)
    return (
        f"{HEAD}  - name: c\n    image: i\n"
        f"    env: [{{name: S, value: &s {'x' * length}}}]\n    args: [{aliases}]\n"
    ).encode()


def nested_bomb(levels: int = 9, fan_out: int = 10) -> bytes:
    """ "Billion laughs": each level an anchored list of ``fan_out`` aliases of the one below."""
    lines = [f"{HEAD}  - name: c\n    image: i\n    args:\n    - &l0 [lol]\n"]
    for level in range(1, levels + 1):
        lines.append(f"    - &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]\n")
    return "".join(lines).encode()


def peak_bytes_while(text: bytes) -> tuple[int, str]:
    """The peak of memory Python allocated while parsing ``text`` (refused), and the message."""
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError) as caught:
            parse_pod(text)
        return tracemalloc.get_traced_memory()[1], str(caught.value)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "text",
    [
        flat_bomb(1_000),  # 54 KB (the "51 KB"): 50 MB expanded
        flat_bomb(3_000),  # 62 KB: 150 MB expanded
        nested_bomb(),  # 10**9 scalars
        nested_bomb(levels=40, fan_out=2),  # 2**40 scalars
    ],
    ids=["flat-54KB", "flat-62KB", "nested-10**9", "nested-2**40"],
)
def test_alias_bombs_are_refused_in_bounded_memory(text: bytes) -> None:
    assert len(text) < 65536  # all within the default manifestMaxBytes
    peak, message = peak_bytes_while(text)
    assert "aliases expand it to more than" in message, message
    # The node graph is about as big as the text; the expanded pod would be 50 MB or more.
    assert peak < 4 * 1024 * 1024, peak


def test_the_bound_is_what_aliases_add_to_the_text() -> None:
    """A document as big as the text allows is fine without aliases; aliases may add up to
    MAX_ALIAS_EXPANSION characters, not more."""
    budget = manifest.MAX_ALIAS_EXPANSION
    value = "x" * 1000
    refs = budget // len(value) - 10  # just under the budget
    text = f"{HEAD}  - name: c\n    image: i\n    args: [&s {value}, {', '.join(['*s'] * refs)}]\n"
    assert len(parse_pod(text.encode())["spec"]["containers"][0]["args"]) == refs + 1
    over = text[: -len("]\n")] + ", *s" * 20 + "]\n"
    with pytest.raises(ManifestError, match="aliases expand it to more than"):
        parse_pod(over.encode())
    long_plain = f"{HEAD}  - name: c\n    image: i\n    args: [{'y' * 2 * budget}]\n"
    assert parse_pod(long_plain.encode())["spec"]["containers"][0]["args"] == ["y" * 2 * budget]


def test_sane_anchors_and_merge_keys_work() -> None:
    text = b"""\
apiVersion: v1
kind: Pod
metadata: {name: shared, labels: &labels {app: shared}}
spec:
  containers:
  - &main
    name: a
    image: LOCALREGISTRY/plain
    env: &env
    - {name: X, value: "1"}
    - {name: Y, value: "2"}
    resources: {limits: {memory: 1Gi}}
  - <<: *main
    name: b
    env: *env
  nodeSelector: *labels
"""
    pod = parse_pod(text)
    first, second = pod["spec"]["containers"]
    assert second["name"] == "b" and second["image"] == first["image"]
    assert (
        second["env"]
        == first["env"]
        == [
            {"name": "X", "value": "1"},
            {"name": "Y", "value": "2"},
        ]
    )
    assert second["resources"] == {"limits": {"memory": "1Gi"}}
    assert pod["spec"]["nodeSelector"] == {"app": "shared"}


@pytest.mark.parametrize(
    "text",
    [
        HEAD + "  - &c {name: c, image: i, args: [*c]}\n",
        HEAD + "  - name: c\n    image: i\n    args: &a [x, [y, *a]]\n",
        HEAD + "  - &m {name: c, image: i, <<: *m}\n",
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(text: str) -> None:
    with pytest.raises(ManifestError, match="alias inside its own anchor"):
        parse_pod(text.encode())


def test_aliases_across_documents_count_together() -> None:
    value = "x" * 50_000
    text = f"{HEAD}  - {{name: c, image: i}}\n" + f"---\n[&s {value}, {', '.join(['*s'] * 10)}]\n"
    with pytest.raises(ManifestError, match="aliases expand it"):
        parse_pod(text.encode())


def test_no_real_manifest_uses_anchors_or_aliases() -> None:
    """The budget is for manifests that start to use them: none of the real ones does."""
    files = sorted(p for p in Path(MANIFESTS).rglob("*.yaml") if p.is_file())
    assert files
    for path in files:
        events = list(yaml.parse(path.read_bytes(), Loader=yaml.CSafeLoader))
        assert not any(isinstance(e, yaml.AliasEvent) for e in events), path
        assert not any(getattr(e, "anchor", None) for e in events), path
        parse_pod(path.read_bytes())


def test_a_manifest_parsed_again_is_a_fresh_copy_of_the_same_pod() -> None:
    """parse_pod keeps the pods it parsed (by their bytes): the same bytes give an equal
    pod each time, and what one caller edits never shows in the next one's."""
    text = next(iter(sorted(MANIFESTS.glob("*/ubuntu*.yaml")))).read_bytes()
    first = parse_pod(text)
    first["metadata"]["name"] = "edited"
    first["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    second = parse_pod(text)
    assert second["metadata"]["name"] != "edited"
    assert second == parse_pod(text) and second is not parse_pod(text)
    assert second == manifest._parse_pod(text)
