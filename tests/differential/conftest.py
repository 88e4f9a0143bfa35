"""The differential suite: one corpus played against a real apiserver and the simulated cluster.

The real control plane is the one ``tools/controlplane.py run`` brings up (its admin
kubeconfig in ``$USERPODS_CONTROLPLANE_KUBECONFIG``; without it the suite is skipped); the
simulated cluster runs in this process. The corpus is played once per session, on both
clusters at the same time and in a fresh namespace of the same name, and the comparison
of each entry is a test of its own. The figure ("N of M requests answered alike") and every
difference are printed in the terminal summary; with ``$USERPODS_DIFF_REPORT`` set, both
clusters' raw answers are written there as JSON too.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from userpods.sim import SimOptions, serve_sim

from .compare import Difference, differences, unjustified
from .corpus import CORPUS
from .justified import JUSTIFIED
from .model import compared, play_all
from .targets import Answer, Target

ENV = "USERPODS_CONTROLPLANE_KUBECONFIG"
REPORT_ENV = "USERPODS_DIFF_REPORT"


@dataclass
class Outcome:
    """One entry's comparison."""

    name: str
    real: Answer | None
    sim: Answer | None
    diffs: list[Difference]
    unjustified: list[Difference]
    broken: str = ""  # an entry that raised on a cluster (counts as a difference)


RESULTS: dict[str, Outcome] = {}


async def _play_both(kubeconfig: Path, scratch: Path) -> dict[str, Outcome]:
    ns = f"diff-{secrets.token_hex(3)}"
    async with trio.open_nursery() as nursery:
        cluster = await nursery.start(serve_sim, SimOptions(nodes=3))
        sim_config = scratch / "sim.kubeconfig"
        sim_config.write_text(yaml.safe_dump(cluster.kubeconfig()))
        targets = [
            Target.from_kubeconfig("real", kubeconfig, scratch),
            Target.from_kubeconfig("sim", sim_config, scratch),
        ]
        played: dict[str, Any] = {}

        async def one(target: Target) -> None:
            played[target.label] = await play_all(CORPUS, target, ns)

        try:
            async with trio.open_nursery() as both:
                for target in targets:
                    both.start_soon(one, target)
        finally:
            for target in targets:
                await target.close()
        nursery.cancel_scope.cancel()
    (real, real_broken), (sim, sim_broken) = played["real"], played["sim"]
    outcomes: dict[str, Outcome] = {}
    for entry in compared(CORPUS):
        name = entry.name
        broken = "; ".join(
            f"{label}: {why[name]}"
            for label, why in (("real", real_broken), ("sim", sim_broken))
            if name in why
        )
        a, b = real.get(name), sim.get(name)
        diffs = differences(a, b) if a is not None and b is not None else []
        outcomes[name] = Outcome(name, a, b, diffs, unjustified(name, diffs, JUSTIFIED), broken)
    report = os.environ.get(REPORT_ENV)
    if report:
        await trio.Path(report).write_text(
            json.dumps(
                {
                    n: {
                        "real": asdict(o.real) if o.real else None,
                        "sim": asdict(o.sim) if o.sim else None,
                        "diffs": [str(d) for d in o.diffs],
                        "broken": o.broken,
                    }
                    for n, o in outcomes.items()
                },
                indent=1,
            )
        )
    return outcomes


@pytest.fixture(scope="session")
def differential(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    path = os.environ.get(ENV)
    if not path:
        pytest.skip(f"no real control plane: ${ENV} is unset (run it with nox -s controlplane)")
    if not RESULTS:
        RESULTS.update(trio.run(_play_both, Path(path), tmp_path_factory.mktemp("differential")))
    return RESULTS


def summary_lines() -> list[str]:
    total = len(RESULTS)
    alike = sum(1 for o in RESULTS.values() if not o.diffs and not o.broken)
    kept = sum(1 for o in RESULTS.values() if o.diffs and not o.unjustified and not o.broken)
    lines = [
        f"{alike} of {total} requests answered alike "
        f"({kept} more differ only in the justified ways listed in docs/sim.md)"
    ]
    for outcome in RESULTS.values():
        if outcome.broken:
            lines.append(f"  {outcome.name}: BROKEN {outcome.broken}")
        for diff in outcome.diffs:
            mark = "  " if diff not in outcome.unjustified else "!!"
            lines.append(f"  {mark} {outcome.name}: {diff}")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    terminalreporter.section("differential: real apiserver vs simulated cluster")
    for line in summary_lines():
        terminalreporter.write_line(line)
