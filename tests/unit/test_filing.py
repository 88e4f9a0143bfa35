"""The compact multimap behind the cache's indexes and the pods by IP (daemon/filing.py)
answers as a dict of sets would, whatever the order of additions and removals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from userpods.daemon.filing import Filing

KEYS = st.sampled_from(["uid-1", "uid-2", "10.0.0.3"])
NAMES = st.sampled_from(["a", "b", "c"])


@given(st.lists(st.tuples(st.booleans(), KEYS, NAMES), max_size=40))
def test_a_filing_answers_as_a_dict_of_sets(steps: list[tuple[bool, str, str]]) -> None:
    filing, expected = Filing(), dict[str, set[str]]()
    for add, key, name in steps:
        if add:
            filing.add(key, name)
            expected.setdefault(key, set()).add(name)
        else:
            filing.discard(key, name)
            expected.get(key, set()).discard(name)
            if not expected.get(key, True):
                del expected[key]
        assert filing.as_dict() == expected
        assert len(filing) == len(expected)
        for key in ("uid-1", "uid-2", "10.0.0.3", "absent"):
            assert set(filing.names(key)) == expected.get(key, set())


def test_a_lone_name_is_held_as_itself() -> None:
    filing = Filing()
    filing.add("k", "a")
    assert filing.names("k") == ("a",)
    filing.add("k", "b")
    filing.discard("k", "b")
    assert filing.names("k") == ("a",)
