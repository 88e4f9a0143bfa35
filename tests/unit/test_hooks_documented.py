"""Every hook of the plugin contract has its own section in docs/hooks.md."""

from __future__ import annotations

import re
from pathlib import Path

from userpods.hooks import HOOK_NAMES, Specs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_every_hook_has_a_section() -> None:
    headings = set(re.findall(r"^## (\w+)$", DOCS.read_text(), flags=re.MULTILINE))
    assert HOOK_NAMES, "no hooks found"
    missing = [name for name in HOOK_NAMES if name not in headings]
    assert not missing, f"docs/hooks.md lacks sections for {missing}"
    unknown = sorted(h for h in headings if h.startswith("userpods_") and h not in HOOK_NAMES)
    assert not unknown, f"docs/hooks.md documents hooks that do not exist: {unknown}"


def test_every_hook_has_a_docstring() -> None:
    for name in HOOK_NAMES:
        assert (getattr(Specs, name).__doc__ or "").strip(), name
