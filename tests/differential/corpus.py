"""The whole corpus, in the order it is played (later entries use earlier answers)."""

from __future__ import annotations

from .corpus_api import pods
from .corpus_kubectl import cleanup, execs, kubectl
from .corpus_others import others
from .corpus_patch import patches
from .corpus_setup import setup
from .model import Entry, check_unique

CORPUS: list[Entry] = [
    *setup(),
    *pods(),
    *others(),
    *patches(),
    *execs(),
    *kubectl(),
    *cleanup(),
]
check_unique(CORPUS)
