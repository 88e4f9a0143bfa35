"""The daemon's upkeep: resuming interrupted flows at start-up, and the clean-ups.

Kubernetes is the database: everything a restarted daemon needs to pick its flows up again is
on the pods (the state and deadline annotations), so :func:`resume` rebuilds the work in flight
from what the cache holds once it has synced. :func:`startup` and :func:`clean_unused` run the
plugins' hooks of the same names (clean_unused also for the clean_all_unused request).
"""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from .. import naming
from . import podstate
from .creation import Creations
from .deletion import Deletions
from .errors import RequestError
from .pluginhost import run_async_hook
from .shared import Shared, log


def resume(shared: Shared, creations: Creations, deletions: Deletions) -> None:
    """Pick up the flows a previous run left, from what the pods say (start-up)."""
    now = datetime.now(UTC)
    for pod in shared.cache.pods.values():
        notes = podstate.pod_annotations(pod)
        name = podstate.name_of(pod)
        if naming.ANNOTATION_OWNER not in notes:
            continue  # not ours, or made by the original backend: nothing in flight
        state = podstate.creation_state(pod)
        if podstate.is_deleting(pod):
            deletions.start_for(pod, "resuming a deletion after a restart")
        elif state == podstate.CREATING:
            deadline = podstate.deadline(pod)
            remaining = (deadline - now).total_seconds() if deadline else 0.0
            if remaining <= 0:
                reason = "its creation deadline passed while the daemon was down"
                log.warning(
                    "creation of pod %s for %s failed: %s", name, podstate.owner(pod), reason
                )
                deletions.start_for(pod, reason, failure=reason)
            else:
                log.info("resuming the creation of %s (%.1fs left)", name, remaining)
                creations.start(pod, trio.current_time() + remaining)
        elif state == podstate.FAILED:
            deletions.start_for(
                pod,
                "resuming the cleanup of a failed creation",
                failure=notes.get(podstate.ANNOTATION_FAILURE, "failed"),
            )


async def startup(shared: Shared) -> None:
    """The plugins' ``startup`` hooks, within ``timeoutCreate``."""
    with trio.fail_after(shared.settings.timeout_create):
        await run_async_hook(shared.pm, "userpods_startup", ctx=shared.context())


async def clean_unused(shared: Shared) -> list[str]:
    """Remove what was made for pods or users that are gone; the ``Kind/name`` of each.

    Bounded by ``timeoutDelete``: a 503 that lists what was removed so far, if it ends.
    """
    removed: list[str] = []
    timeout = shared.settings.timeout_delete
    with trio.move_on_after(timeout) as scope:
        await run_async_hook(
            shared.pm, "userpods_clean_unused", ctx=shared.context(), removed=removed
        )
    if scope.cancelled_caught:
        raise RequestError(
            503,
            f"clean_all_unused did not finish within {timeout:g}s; "
            "the rest is left for the next clean-up",
            removed=removed,
        )
    if removed:
        log.info("clean-up removed %s", ", ".join(removed))
    return removed
