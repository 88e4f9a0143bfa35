"""The kubelet's ``$(VAR)`` expansion in container env values (k8s expansion semantics)."""

from __future__ import annotations

import pytest

from userpods.sim.containerenv import _expand_refs

ENV = {"HOME": "/root", "USER": "alice", "EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "expanded"),
    [
        ("plain", "plain"),
        ("", ""),
        ("$(HOME)", "/root"),
        ("$(HOME)/$(USER)", "/root/alice"),
        ("x$(USER)y", "xalicey"),
        ("$(EMPTY)", ""),
        ("$(MISSING)", "$(MISSING)"),  # unknown references stay as written
        ("$(MISSING)-$(USER)", "$(MISSING)-alice"),
        ("$$(HOME)", "$(HOME)"),  # $$ escapes the reference
        ("$$", "$"),
        ("$$$$", "$$"),
        ("$$$(USER)", "$alice"),
        ("a$b", "a$b"),  # a $ not starting a reference stays
        ("$HOME", "$HOME"),  # shell syntax is not expanded by the kubelet
        ("${HOME}", "${HOME}"),
        ("$", "$"),
        ("cost: 5$", "cost: 5$"),
        ("$(HOME", "$(HOME"),  # an unclosed reference stays
        ("$()", "$()"),
        ("$(HOME))", "/root)"),
    ],
)
def test_expand_refs(value: str, expanded: str) -> None:
    assert _expand_refs(value, ENV) == expanded


def test_expansion_is_not_recursive() -> None:
    assert _expand_refs("$(A)", {"A": "$(B)", "B": "b"}) == "$(B)"
