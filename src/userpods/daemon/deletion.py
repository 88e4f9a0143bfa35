"""The deletion flow: from delete_pod (or a failed creation) until the pod and its things are gone.

A deletion is a task in the daemon's nursery, bounded by ``timeoutDelete``: it marks a failed
creation as failed on the pod (for a restart to see), DELETEs the pod (by uid, so a successor
of the name is never touched), and the delete_pod reply goes out once Kubernetes has accepted
that. The flow then waits on the cache until the pod is gone, runs the ``pod_gone`` steps and,
when the user has no pods left, the ``user_gone`` steps (under the user's lock, which creations
hold while ensuring dependencies, so no new pod slips in between the check and the cleanup).
"""

from __future__ import annotations

import trio
from lightkube import ApiError
from lightkube.resources.core_v1 import Pod

from ..hooks import Caller
from ..kube import status_code
from . import podstate
from .errors import RequestError
from .pluginhost import run_async_hook
from .shared import Flow, Shared, log


class Deletions:
    """Starts and runs deletion flows; the flows in flight are ``shared.deleting``."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    # ------------------------------------------------------------------ requests
    async def delete(self, user_id: str, pod_name: str) -> None:
        """Delete the user's pod; returns once Kubernetes has accepted the DELETE (a reply
        after that is a promise a crash cannot break: the pod is Terminating, and a restarted
        daemon follows it to the end)."""
        shared = self.shared
        pod = shared.owned(user_id, pod_name)
        if pod is None:
            raise RequestError(404, f"pod {pod_name} not found", requested=False)
        shared.abort_creation(pod_name, "deleted by the user while it was being created")
        flow = self.start_for(pod, "requested by the user")
        with shared.until_stopping():
            await flow.requested.wait()
        if not flow.requested.is_set():
            raise RequestError(503, "the service is restarting; ask again in a moment")
        if not flow.accepted:
            raise RequestError(503, f"the pod could not be deleted: {flow.reason}")

    async def for_plugin(self, pod_name: str, user_id: str, reason: str) -> bool:
        """A plugin's ``ctx.delete_pod`` (``hooks.PodDeleter``): as :meth:`delete`, with the
        plugin's reason, answering whether Kubernetes accepted the delete instead of raising."""
        pod = self.shared.owned(user_id, pod_name)
        if pod is None:
            return False
        self.shared.abort_creation(pod_name, f"deleted while it was being created: {reason}")
        flow = self.start_for(pod, reason)
        await flow.requested.wait()
        return flow.accepted

    async def delete_all(self, user_id: str) -> bool:
        """Delete every pod of the user and wait until they and the user's storage are gone."""
        shared = self.shared
        flows = []
        for pod in shared.pods_of(user_id):
            name = podstate.name_of(pod)
            shared.abort_creation(name, "deleted by delete_all_user")
            flows.append(self.start_for(pod, "delete_all_user"))
        with trio.move_on_after(2 * shared.settings.timeout_delete):
            for flow in flows:
                await shared.outcome(flow)
            ctx = shared.pod_context("", user_id, Caller("", "", ""))
            async with shared.user_lock(user_id):
                if shared.pods_of(user_id):
                    return False
                await run_async_hook(shared.pm, "userpods_user_gone", user_id=user_id, ctx=ctx)
            return all(flow.ok for flow in flows)
        return False

    # ------------------------------------------------------------------ the flow
    def start_for(self, pod: Pod, reason: str, failure: str = "") -> Flow:
        """Start deleting ``pod`` as the cache has it (or join its deletion in flight)."""
        meta = pod.metadata
        assert meta is not None and meta.name and meta.uid
        return self.start(
            meta.name, podstate.owner(pod), meta.uid, podstate.caller(pod), reason, failure
        )

    def start(
        self, name: str, user_id: str, uid: str, caller: Caller, reason: str, failure: str = ""
    ) -> Flow:
        """Start deleting the pod ``name`` with ``uid``; ``failure`` (a failed creation's
        reason) is written on the pod first."""
        existing = self.shared.deleting.get(name)
        if existing is not None:
            return existing
        flow = Flow(name, user_id, uid)
        self.shared.deleting[name] = flow
        self.shared.nursery.start_soon(self._run, flow, caller, reason, failure)
        return flow

    async def _request(self, flow: Flow, failure: str) -> None:
        """Mark a failed creation as such (for a restart to see), then DELETE the pod: only
        that pod (its uid), even if the cache has lost sight of it."""
        shared = self.shared
        current = shared.cache.pods.get(flow.pod_name)
        if current is not None and (current.metadata is None or current.metadata.uid != flow.uid):
            current = None  # the cache knows the name only as another pod's
        if failure and current is not None:
            try:
                await shared.set_state(flow.pod_name, podstate.FAILED, failure)
            except ApiError as exc:
                if status_code(exc) != 404:
                    raise
        if not podstate.is_deleting(current):
            await shared.kube.delete(Pod, flow.pod_name, uid=flow.uid)

    async def _run(self, flow: Flow, caller: Caller, reason: str, failure: str) -> None:
        shared = self.shared
        ctx = shared.pod_context(flow.pod_name, flow.user_id, caller)

        def on_step(name: str) -> None:
            flow.step = ctx.step = name

        name = flow.pod_name
        log.info("deleting pod %s of %s: %s", name, flow.user_id, reason, extra=flow.tags(reason))
        try:
            with trio.move_on_after(shared.settings.timeout_delete) as scope:
                try:
                    await self._request(flow, failure)
                    flow.accepted = True
                    flow.requested.set()
                    await shared.cache.pods.wait_for(
                        name,
                        lambda p: p is None or p.metadata is None or (p.metadata.uid != flow.uid),
                    )
                    await run_async_hook(shared.pm, "userpods_pod_gone", on_step=on_step, ctx=ctx)
                    async with shared.user_lock(flow.user_id):
                        if not shared.pods_of(flow.user_id):
                            await run_async_hook(
                                shared.pm,
                                "userpods_user_gone",
                                on_step=on_step,
                                user_id=flow.user_id,
                                ctx=ctx,
                            )
                    flow.finish(True)
                    log.info("pod %s of %s is gone", name, flow.user_id, extra=flow.tags())
                    return
                except Exception as exc:
                    log.exception("deleting %s failed in step %s", name, flow.step or "(core)")
                    flow.finish(False, f"{flow.step or 'delete'}: {exc!r}")
            if scope.cancelled_caught:
                log.warning(
                    "pod %s was not gone with its cleanup done within %gs",
                    name,
                    shared.settings.timeout_delete,
                )
                flow.finish(False, "timed out")
        finally:
            shared.deleting.pop(name, None)
            flow.requested.set()  # also when it ended without (the reply then says so)
