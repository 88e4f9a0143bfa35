"""Fail on any import cycle between the modules under src/ (run by the nox lint session).

    python tools/import_cycles.py [--allow PREFIX ...] [PACKAGE ...]

Two modules that import each other cannot be read, tested or split apart one at a time, and
the import order decides which of them sees the other half-initialised. The import-linter
contracts in pyproject.toml hold the layers apart; this check catches the cycles inside a
layer that no contract names. It reads the import graph as import-linter does (grimp, which
comes with it) and counts every import: at module level, inside functions, and under
``if TYPE_CHECKING:`` (a type in a signature is a dependency too).

For each group of modules that reach each other (a strongly connected component) it reports
one shortest cycle, with the line of each import. ``--allow PREFIX`` tolerates cycles whose
modules all lie under PREFIX (a module or package name), for a cycle someone is already
breaking; an allowance that matches no cycle fails the check, so the list shrinks to empty.
Without PACKAGE arguments it checks the packages in src/. Exit status: 0 clean, 1 cycles.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parent.parent / "src"


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The groups of two or more modules that all reach each other (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def imported_by(module: str) -> Iterator[str]:
        return iter(sorted(graph.find_modules_directly_imported_by(module)))

    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, imported_by(root))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, imported_by(child)))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def shortest_cycle(graph: grimp.ImportGraph, group: Sequence[str]) -> list[str]:
    """A shortest cycle through the group's first module, staying inside the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for child in sorted(graph.find_modules_directly_imported_by(module)):
            if child not in members:
                continue
            if child == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = module
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def describe(graph: grimp.ImportGraph, cycle: Sequence[str]) -> list[str]:
    """One line per import of the cycle: who imports whom, where."""
    lines = []
    for importer, imported in itertools.pairwise(cycle):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = ", ".join(f"l.{d['line_number']}: {d['line_contents']}" for d in details[:2])
        lines.append(f"    {importer} -> {imported}  ({where})")
    return lines


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def packages_in_src() -> list[str]:
    return sorted(p.parent.name for p in SRC.glob("*/__init__.py"))


def check(packages: Iterable[str], allow: Sequence[str]) -> int:
    sys.path.insert(0, str(SRC))
    graph = grimp.build_graph(*packages, cache_dir=None)
    failed = False
    used: set[str] = set()
    groups = strongly_connected(graph)
    for group in groups:
        cycle = shortest_cycle(graph, group)
        allowed = [p for p in allow if all(under(m, p) for m in group)]
        used.update(allowed)
        label = f"allowed by --allow {allowed[0]}" if allowed else "import cycle"
        print(f"{label}: {' -> '.join(cycle)}")
        print("\n".join(describe(graph, cycle)))
        if len(group) > len(cycle) - 1:
            print(f"    (the modules that reach each other: {', '.join(group)})")
        failed = failed or not allowed
    for prefix in allow:
        if prefix not in used:
            print(f"--allow {prefix} matches no cycle any more: remove it from the lint session")
            failed = True
    modules = len(graph.modules)
    if failed:
        print(f"import cycles: FAILED ({modules} modules, {len(groups)} cycle groups)")
        return 1
    print(f"import cycles: none outside the allow-list ({modules} modules)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", help="packages to check (default: those in src/)")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help="tolerate cycles among modules under PREFIX (repeatable)",
    )
    args = parser.parse_args(argv)
    return check(args.packages or packages_in_src(), args.allow)


if __name__ == "__main__":
    sys.exit(main())
