"""The creation flow: a create_pod request, and everything after its reply until the pod is ready.

The request (:meth:`Creations.create`) fetches the manifest (whitelist first, bounded by
``manifestTimeout``), parses it as one Pod, gives it a free name of the user's name family, its
owner labels and annotations (state ``creating`` and the deadline: what a restart resumes from)
and a scheduling gate, lets the ``prepare_pod`` hooks edit it, creates it, and answers with its
name. The flow goes on as a task in the daemon's nursery under a cancel scope whose deadline is
``timeoutCreate`` from the request: it ensures the pod's dependencies under the user's lock while
the gate holds the pod back, releases the gate, waits on the cache for Ready (or fails fast on a
start-up failure), runs the ``pod_ready`` steps and marks the pod ``ready``. A failed or late
creation hands the pod to the deletion flow (deletion.py).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from lightkube import ApiError
from lightkube.resources.core_v1 import Pod

from .. import naming
from ..hooks import Caller, CreateRequest, OverQuota, PodRejected, StepFailed
from ..kube import KubeUnavailable, status_code
from . import manifest, podstate
from .deletion import Deletions
from .errors import RequestError
from .pluginhost import call_sync_hook, dependencies_in_place, run_async_hook
from .shared import Flow, Shared, log

# Fields of a manifest's metadata that belong to some earlier object, never to a new pod.
TRANSIENT_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generateName",
    "selfLink",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
)


class Creations:
    """Answers create_pod and runs creation flows; the flows in flight are ``shared.creating``."""

    def __init__(self, shared: Shared, deletions: Deletions) -> None:
        self.shared = shared
        self.deletions = deletions  # where a failed creation's pod goes
        self._reserved: dict[str, str] = {}  # pod names being created -> for whom
        self._admitting: dict[str, trio.Lock] = {}  # admission locks by user id

    # ------------------------------------------------------------------ the request
    async def create(
        self, user_id: str, yaml_url: str, settings: dict[str, dict[str, str]], caller: Caller
    ) -> str:
        """Validate, build and create the pod; its creation flow goes on in the background."""
        config = self.shared.settings
        with (
            self.shared.until_stopping() as stop,
            trio.move_on_after(config.manifest_timeout) as scope,
        ):
            raw = await manifest.fetch(
                yaml_url,
                config.whitelist_manifest_regex,
                max_bytes=config.manifest_max_bytes,
                client=self.shared.http,
            )
        if stop.cancelled_caught:
            raise RequestError(503, "the service is restarting; nothing was created, try again")
        if scope.cancelled_caught:
            raise RequestError(
                400, f"fetching the manifest took longer than {config.manifest_timeout:g}s"
            )
        template = manifest.parse_pod(raw)
        containers = {c["name"] for c in template["spec"]["containers"]}
        unknown = sorted(set(settings) - containers)
        if unknown:
            raise RequestError(
                400,
                f"settings name containers that the manifest does not "
                f"have: {', '.join(unknown)} (it has: {', '.join(sorted(containers))})",
            )
        request = CreateRequest(user_id, yaml_url, settings, caller)
        started = trio.current_time()
        async with self._admission_lock(user_id):
            return await self._create_named(template, request, started)

    @asynccontextmanager
    async def _admission_lock(self, user_id: str) -> AsyncIterator[None]:
        """Held by one create_pod of the user at a time, from the admission check until its
        pod is in the cache (or refused): the next creation is judged with that pod counted,
        so concurrent ones cannot overshoot a quota together. Not the user's lock, which the
        flows hold while the user's storage is made and a create_pod need not wait for."""
        lock = self._admitting.setdefault(user_id, trio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._admitting.pop(user_id, None)

    async def _create_named(
        self, template: dict[str, Any], request: CreateRequest, started: float
    ) -> str:
        """Create the pod under the first free name of the user's family; start its flow
        (``started``: the request's time, from which the creation's deadline runs)."""
        config = self.shared.settings
        user_id = request.user_id
        waited = trio.current_time() - started
        deadline_wall = datetime.now(UTC) + timedelta(seconds=config.timeout_create - waited)
        pods = self.shared.cache.pods
        for candidate in self._name_family(template["metadata"]["name"], user_id):
            if pods.get(candidate) is not None or candidate in self._reserved:
                continue
            self._reserved[candidate] = user_id
            try:
                pod = self._build(template, candidate, request, deadline_wall)
                try:
                    created = await self.shared.kube.create(pod, request_id=str(uuid.uuid4()))
                except ApiError as exc:
                    if status_code(exc) == 409:
                        continue  # taken meanwhile (by anyone): try the next name
                    raise _kube_error(exc) from exc
                except KubeUnavailable as exc:
                    raise RequestError(503, f"Kubernetes is unavailable: {exc}") from exc
            finally:
                self._reserved.pop(candidate, None)
            pods.observe(created)
            self.start(created, started + config.timeout_create, started)
            log.info(
                "creating pod %s for %s",
                candidate,
                user_id,
                extra={"user": user_id, "pod": candidate},
            )
            return candidate
        raise RequestError(
            409,
            f"no free pod name: {template['metadata']['name']} for this "
            "user and -1 to -9 are all taken",
        )

    def _name_family(self, manifest_name: str, user_id: str) -> list[str]:
        """The names the user's new pod may take: the most readable family (see naming) of
        which no name is held by another user, so that users whose ids read alike never share
        a family; [] when every family is someone else's."""
        for family in naming.pod_name_families(manifest_name, user_id):
            held = (self._holder(name) for name in family)
            if all(holder in ("", user_id) for holder in held):
                return family
        return []

    def _holder(self, name: str) -> str:
        """Whose pod ``name`` is, or is about to be ("" if nobody's)."""
        pod = self.shared.cache.pods.get(name)
        if pod is not None:
            return podstate.owner(pod) or "?"
        return self._reserved.get(name, "")

    def _build(
        self, template: dict[str, Any], name: str, request: CreateRequest, deadline: datetime
    ) -> Pod:
        """The pod to create: the manifest with its name, owner, state and gate, as the
        ``prepare_pod`` hooks leave it (a 400 if one refuses it or it is not a valid pod)."""
        shared = self.shared
        pod = copy.deepcopy(template)
        meta = pod["metadata"]
        for transient in TRANSIENT_METADATA:
            meta.pop(transient, None)
        pod.pop("status", None)
        meta["name"] = name
        meta["namespace"] = shared.settings.namespace
        meta["labels"] = {
            **(meta.get("labels") or {}),
            **naming.owner_labels(request.user_id),
            naming.LABEL_POD_NAME: name,
        }
        caller = request.caller
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            naming.ANNOTATION_OWNER: request.user_id,
            podstate.ANNOTATION_STATE: podstate.CREATING,
            podstate.ANNOTATION_DEADLINE: podstate.rfc3339(deadline),
            podstate.ANNOTATION_SILO_IP: caller.silo_ip,
            podstate.ANNOTATION_DATA_IP: caller.data_ip,
            podstate.ANNOTATION_SILO_HOSTNAME: caller.hostname,
        }
        spec = pod["spec"]
        gates = [g for g in spec.get("schedulingGates") or [] if isinstance(g, dict)]
        spec["schedulingGates"] = [*gates, {"name": podstate.SCHEDULING_GATE}]
        request.pod_name = name
        try:
            call_sync_hook(
                shared.pm,
                "userpods_prepare_pod",
                pod=pod,
                request=request,
                settings=shared.settings,
                ctx=shared.context(),
            )
        except PodRejected as exc:
            raise RequestError(400, str(exc)) from exc
        try:
            built: Pod = Pod.from_dict(pod)  # type: ignore[assignment]
        except Exception as exc:
            raise RequestError(400, f"the manifest is not a valid pod: {exc}") from exc
        if dependencies_in_place(shared.pm, pod=built, ctx=shared.context()):
            # Nothing to make first: no gate to hold the pod, and none to release (a write).
            kept = [g for g in spec["schedulingGates"] if g.get("name") != podstate.SCHEDULING_GATE]
            spec["schedulingGates"] = kept or None
            assert built.spec is not None
            built.spec.schedulingGates = [
                g for g in built.spec.schedulingGates or [] if g.name != podstate.SCHEDULING_GATE
            ] or None
        try:
            call_sync_hook(
                shared.pm, "userpods_admit_pod", pod=pod, request=request, ctx=shared.context()
            )
        except PodRejected as exc:
            raise RequestError(400, str(exc)) from exc
        except OverQuota as exc:
            raise RequestError(429, str(exc), **exc.details()) from exc
        return built

    # ------------------------------------------------------------------ the flow
    def start(self, pod: Pod, deadline: float, started: float | None = None) -> Flow:
        """Run the creation flow of ``pod`` until ``deadline`` (trio time); ``started`` is
        the request's time, for the latency metric (None for a flow resumed after a restart)."""
        meta = pod.metadata
        assert meta is not None and meta.name and meta.uid
        flow = Flow(meta.name, podstate.owner(pod), meta.uid, started=started)
        flow.progress = self.shared.progress.begin(flow.pod_name, flow.user_id, flow.uid)
        gates = (pod.spec.schedulingGates or []) if pod.spec else []
        held = any(g.name == podstate.SCHEDULING_GATE for g in gates)
        if started is None:
            flow.progress.add("resumed", "the creation goes on after a restart of the service")
        elif held:
            flow.progress.add(
                "accepted", f"pod {flow.pod_name} created, held until its dependencies exist"
            )
        else:
            flow.progress.add(
                "accepted", f"pod {flow.pod_name} created; its dependencies exist already"
            )
        self.shared.progress.catch_up(flow.progress)
        self.shared.creating[meta.name] = flow
        self.shared.nursery.start_soon(self._run, flow, podstate.caller(pod), deadline)
        return flow

    async def _run(self, flow: Flow, caller: Caller, deadline: float) -> None:
        shared = self.shared
        ctx = shared.pod_context(flow.pod_name, flow.user_id, caller)

        progress = flow.progress
        assert progress is not None

        def on_step(name: str) -> None:
            flow.step = ctx.step = name
            progress.plugin_step(name)

        reason = code = ""
        try:
            with trio.move_on_at(deadline) as scope:
                flow.cancel_scope = scope
                try:
                    async with shared.user_lock(flow.user_id):
                        await run_async_hook(
                            shared.pm, "userpods_ensure_dependencies", on_step=on_step, ctx=ctx
                        )
                    on_step("")
                    await self._release_gate(flow.pod_name)
                    outcome = await self._wait_startup(flow)
                    if outcome.failure:
                        code = outcome.code
                        raise StepFailed(outcome.failure)
                    progress.ready(shared.cache.pods.get(flow.pod_name))
                    await run_async_hook(shared.pm, "userpods_pod_ready", on_step=on_step, ctx=ctx)
                    on_step("")
                    await shared.set_state(flow.pod_name, podstate.READY)
                    flow.finish(True)
                    log.info(
                        "pod %s of %s is ready", flow.pod_name, flow.user_id, extra=flow.tags()
                    )
                    return
                except StepFailed as exc:
                    reason = str(exc)
                    code = code or f"Step:{flow.step}"
                except (ApiError, KubeUnavailable) as exc:
                    reason, code = f"Kubernetes error: {exc}", "KubernetesError"
                except Exception as exc:
                    code = "InternalError"
                    log.exception(
                        "creation of %s failed in step %s", flow.pod_name, flow.step or "(core)"
                    )
                    reason = f"internal error: {exc!r}"
            if flow.done.is_set():
                return  # ended from outside (deleted by its user): its deletion is running
            if scope.cancelled_caught and not reason:
                code = "Timeout"
                pod = shared.cache.pods.get(flow.pod_name)
                reason = (
                    f"not ready with its steps done within "
                    f"{shared.settings.timeout_create:g}s ({podstate.summary(pod)})"
                )
            if flow.step:
                reason = f"step {flow.step}: {reason}"
            log.warning(
                "creation of pod %s for %s failed: %s",
                flow.pod_name,
                flow.user_id,
                reason,
                extra=flow.tags(reason),
            )
            flow.finish(False, reason, code)
            # Whatever the cache says: a pod it lost track of must not be stranded, and the
            # deletion's uid precondition keeps it from touching a successor of the name.
            self.deletions.start(
                flow.pod_name,
                flow.user_id,
                flow.uid,
                caller,
                f"creation failed: {reason}",
                failure=reason,
            )
        finally:
            shared.creating.pop(flow.pod_name, None)
            if flow.done.is_set():
                if flow.ok:
                    progress.add("done", "the pod is ready, its steps done", ready=True)
                else:
                    progress.add("failed", flow.reason, flow.code, ready=False)
            shared.progress.end(progress)
            if flow.done.is_set():  # not when the daemon stops: the flow will resume
                took = trio.current_time() - flow.started if flow.started is not None else None
                shared.metrics.creation_finished(flow.ok, flow.code, took)

    async def _release_gate(self, name: str) -> None:
        pods = self.shared.cache.pods
        pod = pods.get(name)
        gates = (pod.spec.schedulingGates or []) if pod and pod.spec else []
        if not any(g.name == podstate.SCHEDULING_GATE for g in gates):
            return
        rest = [{"name": g.name} for g in gates if g.name != podstate.SCHEDULING_GATE]
        patched = await self.shared.kube.patch(
            Pod, name, {"spec": {"schedulingGates": rest or None}}
        )
        pods.observe(patched)

    async def _wait_startup(self, flow: Flow) -> podstate.Startup:
        def settled(pod: Pod | None) -> bool:
            outcome = podstate.startup(pod, flow.uid)
            return outcome.ready or bool(outcome.failure)

        pod = await self.shared.cache.pods.wait_for(flow.pod_name, settled)
        return podstate.startup(pod, flow.uid)


def _kube_error(exc: ApiError) -> RequestError:
    code = status_code(exc)
    message = exc.status.message or str(exc)
    if code == 422:
        return RequestError(400, f"Kubernetes rejected the pod: {message}")
    if code == 403:
        return RequestError(502, f"the daemon may not do this in Kubernetes: {message}")
    return RequestError(502, f"Kubernetes answered {code}: {message}")
