"""docs/operating.md documents every configuration key with its environment variable."""

from __future__ import annotations

from pathlib import Path

from userpods.config import KEYS, env_name

DOC = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()


def test_every_key_is_documented_with_its_environment_variable() -> None:
    rows = {
        line.split("|")[1].strip().strip("`") for line in DOC.splitlines() if line.startswith("| `")
    }
    assert set(KEYS) <= rows, sorted(set(KEYS) - rows)
    for key in KEYS:
        assert f"`{env_name(key)}`" in DOC, key
