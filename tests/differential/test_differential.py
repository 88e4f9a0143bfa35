"""Each corpus entry: the simulated cluster must answer as the real apiserver does, up to the
normalisations of compare.py and the justified differences of justified.py."""

from __future__ import annotations

import os

import pytest

from .conftest import ENV, Outcome
from .corpus import CORPUS
from .model import compared

pytestmark = pytest.mark.skipif(
    not os.environ.get(ENV),
    reason=f"no real control plane: ${ENV} is unset (nox -s controlplane sets it)",
)


@pytest.mark.parametrize("name", [e.name for e in compared(CORPUS)])
def test_answered_alike(name: str, differential: dict[str, Outcome]) -> None:
    outcome = differential[name]
    if outcome.broken:
        pytest.fail(f"the entry could not be played: {outcome.broken}", pytrace=False)
    if outcome.unjustified:
        lines = "\n".join(str(d) for d in outcome.unjustified)
        pytest.fail(f"unjustified differences:\n{lines}", pytrace=False)
