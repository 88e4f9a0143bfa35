"""How the in-process controllers follow the store: level-triggered reconcile loops.

A real controller lists, watches, and relists when its watch expires. Here a controller reads
the store's change history directly: each change of a kind it cares about goes to its handler,
and if the history no longer reaches back far enough (the fault injector can shorten it), the
controller resyncs from the full current state instead, as an informer relist would.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import trio

from .kinds import Kind
from .status import ApiError
from .store import Change, Store


class Controller(Protocol):
    kinds: Collection[Kind]

    def handle(self, change: Change) -> None: ...

    def resync(self) -> None: ...


async def run_controller(
    store: Store,
    controller: Controller,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Feed ``controller`` every change of its kinds, forever (until cancelled)."""
    keys = {kd.key for kd in controller.kinds}
    rv = store.rv
    controller.resync()
    task_status.started()
    while True:
        changed = store.changed
        try:
            changes = store.changes_since(rv)
        except ApiError:
            rv = store.rv
            controller.resync()
            continue
        if not changes:
            await changed.wait()
            continue
        rv = changes[-1].rv
        for change in changes:
            if change.kind.key in keys:
                controller.handle(change)
        await trio.lowlevel.checkpoint()
