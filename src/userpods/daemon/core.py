"""The daemon's behaviour: creating, following, deleting and describing users' pods.

:class:`Daemon` owns the flows. A creation is a task in the daemon's nursery under a cancel
scope whose deadline is ``timeoutCreate`` from the request: it ensures the pod's dependencies
while the pod is held back from scheduling (a scheduling gate), releases it, waits on the cache
for Ready (or fails fast on a start-up failure), runs the ``pod_ready`` steps, and marks the
pod ready. A failed or late creation hands the pod to a deletion flow, which deletes it, waits
until it is gone (bounded by ``timeoutDelete``) and runs the ``pod_gone`` and, for a user's
last pod, ``user_gone`` steps. Everything a restarted daemon needs to pick the flows up again
is on the pods (annotations), see :meth:`Daemon.resume`.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pluggy
import trio
from lightkube import ApiError
from lightkube.resources.core_v1 import Pod

from .. import naming
from ..config import Settings
from ..hooks import Caller, Context, CreateRequest, PodContext, PodRejected, StepFailed
from ..kube import Kube, KubeUnavailable, status_code
from . import manifest, podstate
from .cache import ClusterCache
from .errors import RequestError
from .metrics import Metrics
from .pluginhost import call_sync_hook, run_async_hook
from .podinfo import base_info

log = logging.getLogger("userpods.daemon")


@dataclass
class Flow:
    """A creation or deletion in flight; ``done`` is set with its outcome."""

    pod_name: str
    user_id: str
    uid: str
    done: trio.Event = field(default_factory=trio.Event)
    ok: bool = False
    reason: str = ""
    step: str = ""
    cancel_scope: trio.CancelScope | None = None
    code: str = ""  # the failure's short name (a metrics label)
    started: float | None = None  # trio time of the request, for flows started by one
    # Deletions: set once Kubernetes has accepted the DELETE (``accepted``), or the flow ended
    # without it: what a delete_pod reply waits for.
    requested: trio.Event = field(default_factory=trio.Event)
    accepted: bool = False

    def finish(self, ok: bool, reason: str = "", code: str = "") -> None:
        if not self.done.is_set():
            self.ok, self.reason, self.code = ok, reason, code
            self.done.set()


class PodIndex:
    """Pods by owner and by IP, kept in step with the pod cache (a cache listener).

    An IP can be reported by more than one pod: a finished or terminating pod keeps showing
    the address its network has already given to a new pod. ``by_ip`` keeps them all, and
    :meth:`holder` answers only for an unambiguous live holder.
    """

    def __init__(self) -> None:
        self.by_owner: dict[str, set[str]] = {}
        self.by_ip: dict[str, set[str]] = {}
        self.awaiting_ip: set[str] = set()  # live pods without an IP yet

    def __call__(self, name: str, old: Pod | None, new: Pod | None) -> None:
        if old is not None:
            self.by_owner.get(podstate.owner(old), set()).discard(name)
            ip = old.status.podIP if old.status else None
            if ip:
                self.by_ip.get(ip, set()).discard(name)
                if not self.by_ip.get(ip):
                    self.by_ip.pop(ip, None)
        self.awaiting_ip.discard(name)
        if new is not None:
            user = podstate.owner(new)
            if user:
                self.by_owner.setdefault(user, set()).add(name)
            ip = new.status.podIP if new.status else None
            if ip:
                self.by_ip.setdefault(ip, set()).add(name)
            elif podstate.is_live(new):
                self.awaiting_ip.add(name)

    def holder(self, ip: str, pods: dict[str, Pod]) -> Pod | None:
        """The one live pod with this IP (None if none, or if it is ambiguous)."""
        live = [pods[n] for n in self.by_ip.get(ip, ()) if n in pods and podstate.is_live(pods[n])]
        return live[0] if len(live) == 1 else None


class Daemon:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        cache: ClusterCache,
        pm: pluggy.PluginManager,
        nursery: trio.Nursery,
        http: httpx2.AsyncClient,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.cache = cache
        self.pm = pm
        self.nursery = nursery
        self.http = http
        self.creating: dict[str, Flow] = {}
        self.deleting: dict[str, Flow] = {}
        self.index = PodIndex()
        cache.pods.listeners.append(self.index)
        for pod in cache.pods.values():
            self.index(podstate.name_of(pod), None, pod)
        self._user_locks: dict[str, trio.Lock] = {}
        self.settled = trio.Event()  # set once the work after start-up is done
        # Set when the daemon begins to shut down: long requests answer then, before the
        # HTTP server's grace period ends (their work resumes at the next start).
        self.stopping = trio.Event()
        self._waits: set[trio.CancelScope] = set()
        self.metrics = Metrics()
        self.metrics.watch_state(self)
        self._reserved: dict[str, str] = {}  # pod names being created -> for whom

    # ------------------------------------------------------------------ helpers
    def context(self) -> Context:
        return Context(
            self.settings,
            self.kube,
            self.cache,
            self.settings.pod_cache_dir,
            log,
            self._user_locks,
            background=self.nursery,
            counters=self.metrics,
        )

    def pod_context(self, pod_name: str, user_id: str, caller: Caller) -> PodContext:
        adapter = logging.LoggerAdapter(log, {"pod": pod_name, "user": user_id})
        return PodContext(
            self.settings,
            self.kube,
            self.cache,
            self.settings.pod_cache_dir,
            adapter,
            self._user_locks,
            background=self.nursery,
            counters=self.metrics,
            pod_name=pod_name,
            user_id=user_id,
            caller=caller,
        )

    def user_lock(self, user_id: str) -> trio.Lock:
        return self.context().user_lock(user_id)

    def pods_of(self, user_id: str) -> list[Pod]:
        """The user's pods, from the cache (ownership on the full user id)."""
        found = []
        for name in sorted(self.index.by_owner.get(user_id, ())):
            pod = self.cache.pods.get(name)
            if pod is not None and podstate.owner(pod) == user_id:
                found.append(pod)
        return found

    def _owned(self, user_id: str, pod_name: str) -> Pod | None:
        pod = self.cache.pods.get(pod_name)
        return pod if pod is not None and podstate.owner(pod) == user_id else None

    def flow_status(self, pod: Pod) -> str | None:
        name = podstate.name_of(pod)
        if name in self.deleting or podstate.is_deleting(pod):
            return "Deleting"
        if name in self.creating:
            return "Creating"
        return None

    # ------------------------------------------------------------------ create
    async def create(
        self, user_id: str, yaml_url: str, settings: dict[str, dict[str, str]], caller: Caller
    ) -> str:
        """Validate, build and create the pod; its creation flow goes on in the background."""
        with (
            self.until_stopping() as stop,
            trio.move_on_after(self.settings.manifest_timeout) as scope,
        ):
            raw = await manifest.fetch(
                yaml_url,
                self.settings.whitelist_manifest_regex,
                max_bytes=self.settings.manifest_max_bytes,
                client=self.http,
            )
        if stop.cancelled_caught:
            raise RequestError(503, "the service is restarting; nothing was created, try again")
        if scope.cancelled_caught:
            raise RequestError(
                400, f"fetching the manifest took longer than {self.settings.manifest_timeout:g}s"
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
        deadline_wall = datetime.now(UTC) + timedelta(seconds=self.settings.timeout_create)
        for candidate in self._name_family(template["metadata"]["name"], user_id):
            if self.cache.pods.get(candidate) is not None or candidate in self._reserved:
                continue
            self._reserved[candidate] = user_id
            try:
                pod = self._build(template, candidate, request, deadline_wall)
                try:
                    created = await self.kube.create(pod, request_id=str(uuid.uuid4()))
                except ApiError as exc:
                    if status_code(exc) == 409:
                        continue  # taken meanwhile (by anyone): try the next name
                    raise _kube_error(exc) from exc
                except KubeUnavailable as exc:
                    raise RequestError(503, f"Kubernetes is unavailable: {exc}") from exc
            finally:
                self._reserved.pop(candidate, None)
            self.cache.pods.observe(created)
            self._start_creation(created, started + self.settings.timeout_create, started)
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
        pod = self.cache.pods.get(name)
        if pod is not None:
            return podstate.owner(pod) or "?"
        return self._reserved.get(name, "")

    def _build(
        self, template: dict[str, Any], name: str, request: CreateRequest, deadline: datetime
    ) -> Pod:
        pod = copy.deepcopy(template)
        meta = pod["metadata"]
        for transient in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generateName",
            "selfLink",
            "managedFields",
            "ownerReferences",
            "finalizers",
            "deletionTimestamp",
        ):
            meta.pop(transient, None)
        pod.pop("status", None)
        meta["name"] = name
        meta["namespace"] = self.settings.namespace
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
                self.pm,
                "userpods_prepare_pod",
                pod=pod,
                request=request,
                settings=self.settings,
                ctx=self.context(),
            )
        except PodRejected as exc:
            raise RequestError(400, str(exc)) from exc
        try:
            built: Pod = Pod.from_dict(pod)  # type: ignore[assignment]
        except Exception as exc:
            raise RequestError(400, f"the manifest is not a valid pod: {exc}") from exc
        return built

    def _start_creation(self, pod: Pod, deadline: float, started: float | None = None) -> Flow:
        meta = pod.metadata
        assert meta is not None and meta.name and meta.uid
        flow = Flow(meta.name, podstate.owner(pod), meta.uid, started=started)
        self.creating[meta.name] = flow
        self.nursery.start_soon(self._run_creation, flow, podstate.caller(pod), deadline)
        return flow

    async def _run_creation(self, flow: Flow, caller: Caller, deadline: float) -> None:
        ctx = self.pod_context(flow.pod_name, flow.user_id, caller)

        def on_step(name: str) -> None:
            flow.step = ctx.step = name

        reason = code = ""
        try:
            with trio.move_on_at(deadline) as scope:
                flow.cancel_scope = scope
                try:
                    async with self.user_lock(flow.user_id):
                        await run_async_hook(
                            self.pm, "userpods_ensure_dependencies", on_step=on_step, ctx=ctx
                        )
                    on_step("")
                    await self._release_gate(flow.pod_name)
                    outcome = await self._wait_startup(flow)
                    if outcome.failure:
                        code = outcome.code
                        raise StepFailed(outcome.failure)
                    await run_async_hook(self.pm, "userpods_pod_ready", on_step=on_step, ctx=ctx)
                    on_step("")
                    await self._set_state(flow.pod_name, podstate.READY)
                    flow.finish(True)
                    log.info(
                        "pod %s of %s is ready", flow.pod_name, flow.user_id, extra=_tags(flow)
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
                pod = self.cache.pods.get(flow.pod_name)
                reason = (
                    f"not ready with its steps done within "
                    f"{self.settings.timeout_create:g}s ({podstate.summary(pod)})"
                )
            if flow.step:
                reason = f"step {flow.step}: {reason}"
            log.warning(
                "creation of pod %s for %s failed: %s",
                flow.pod_name,
                flow.user_id,
                reason,
                extra=_tags(flow, reason),
            )
            flow.finish(False, reason, code)
            # Whatever the cache says: a pod it lost track of must not be stranded, and the
            # deletion's uid precondition keeps it from touching a successor of the name.
            self._start_deletion(
                flow.pod_name,
                flow.user_id,
                flow.uid,
                caller,
                f"creation failed: {reason}",
                failure=reason,
            )
        finally:
            self.creating.pop(flow.pod_name, None)
            if flow.done.is_set():  # not when the daemon stops: the flow will resume
                took = trio.current_time() - flow.started if flow.started is not None else None
                self.metrics.creation_finished(flow.ok, flow.code, took)

    async def _release_gate(self, name: str) -> None:
        pod = self.cache.pods.get(name)
        gates = (pod.spec.schedulingGates or []) if pod and pod.spec else []
        if not any(g.name == podstate.SCHEDULING_GATE for g in gates):
            return
        rest = [{"name": g.name} for g in gates if g.name != podstate.SCHEDULING_GATE]
        patched = await self.kube.patch(Pod, name, {"spec": {"schedulingGates": rest or None}})
        self.cache.pods.observe(patched)

    async def _wait_startup(self, flow: Flow) -> podstate.Startup:
        def settled(pod: Pod | None) -> bool:
            outcome = podstate.startup(pod, flow.uid)
            return outcome.ready or bool(outcome.failure)

        pod = await self.cache.pods.wait_for(flow.pod_name, settled)
        return podstate.startup(pod, flow.uid)

    async def _set_state(self, name: str, state: str, failure: str = "") -> None:
        notes: dict[str, Any] = {podstate.ANNOTATION_STATE: state}
        if state != podstate.CREATING:
            notes[podstate.ANNOTATION_DEADLINE] = None
        if failure:
            notes[podstate.ANNOTATION_FAILURE] = failure[:1000]
        patched = await self.kube.patch(Pod, name, {"metadata": {"annotations": notes}})
        self.cache.pods.observe(patched)

    # ------------------------------------------------------------------ delete
    async def delete(self, user_id: str, pod_name: str) -> None:
        """Delete the user's pod; returns once Kubernetes has accepted the DELETE (a reply
        after that is a promise a crash cannot break: the pod is Terminating, and a restarted
        daemon follows it to the end)."""
        pod = self._owned(user_id, pod_name)
        if pod is None:
            raise RequestError(404, f"pod {pod_name} not found", requested=False)
        self._abort_creation(pod_name, "deleted by the user while it was being created")
        flow = self._delete_pod(pod, "requested by the user")
        with self.until_stopping():
            await flow.requested.wait()
        if not flow.requested.is_set():
            raise RequestError(503, "the service is restarting; ask again in a moment")
        if not flow.accepted:
            raise RequestError(503, f"the pod could not be deleted: {flow.reason}")

    def _abort_creation(self, pod_name: str, reason: str) -> None:
        """End a creation in flight (its watchers get false): the pod is being deleted."""
        creation = self.creating.get(pod_name)
        if creation is not None:
            creation.finish(False, reason, "Deleted")
            if creation.cancel_scope is not None:
                creation.cancel_scope.cancel()

    def _delete_pod(self, pod: Pod, reason: str, failure: str = "") -> Flow:
        meta = pod.metadata
        assert meta is not None and meta.name and meta.uid
        return self._start_deletion(
            meta.name, podstate.owner(pod), meta.uid, podstate.caller(pod), reason, failure
        )

    def _start_deletion(
        self, name: str, user_id: str, uid: str, caller: Caller, reason: str, failure: str = ""
    ) -> Flow:
        existing = self.deleting.get(name)
        if existing is not None:
            return existing
        flow = Flow(name, user_id, uid)
        self.deleting[name] = flow
        self.nursery.start_soon(self._run_deletion, flow, caller, reason, failure)
        return flow

    async def _request_deletion(self, flow: Flow, failure: str) -> None:
        """Mark a failed creation as such (for a restart to see), then DELETE the pod: only
        that pod (its uid), even if the cache has lost sight of it."""
        current = self.cache.pods.get(flow.pod_name)
        if current is not None and (current.metadata is None or current.metadata.uid != flow.uid):
            current = None  # the cache knows the name only as another pod's
        if failure and current is not None:
            try:
                await self._set_state(flow.pod_name, podstate.FAILED, failure)
            except ApiError as exc:
                if status_code(exc) != 404:
                    raise
        if not podstate.is_deleting(current):
            await self.kube.delete(Pod, flow.pod_name, uid=flow.uid)

    async def _run_deletion(self, flow: Flow, caller: Caller, reason: str, failure: str) -> None:
        ctx = self.pod_context(flow.pod_name, flow.user_id, caller)

        def on_step(name: str) -> None:
            flow.step = ctx.step = name

        name = flow.pod_name
        log.info("deleting pod %s of %s: %s", name, flow.user_id, reason, extra=_tags(flow, reason))
        try:
            with trio.move_on_after(self.settings.timeout_delete) as scope:
                try:
                    await self._request_deletion(flow, failure)
                    flow.accepted = True
                    flow.requested.set()
                    await self.cache.pods.wait_for(
                        name,
                        lambda p: p is None or p.metadata is None or (p.metadata.uid != flow.uid),
                    )
                    await run_async_hook(self.pm, "userpods_pod_gone", on_step=on_step, ctx=ctx)
                    async with self.user_lock(flow.user_id):
                        if not self.pods_of(flow.user_id):
                            await run_async_hook(
                                self.pm,
                                "userpods_user_gone",
                                on_step=on_step,
                                user_id=flow.user_id,
                                ctx=ctx,
                            )
                    flow.finish(True)
                    log.info("pod %s of %s is gone", name, flow.user_id, extra=_tags(flow))
                    return
                except Exception as exc:
                    log.exception("deleting %s failed in step %s", name, flow.step or "(core)")
                    flow.finish(False, f"{flow.step or 'delete'}: {exc!r}")
            if scope.cancelled_caught:
                log.warning(
                    "pod %s was not gone with its cleanup done within %gs",
                    name,
                    self.settings.timeout_delete,
                )
                flow.finish(False, "timed out")
        finally:
            self.deleting.pop(name, None)
            flow.requested.set()  # also when it ended without (the reply then says so)

    async def delete_all(self, user_id: str) -> bool:
        """Delete every pod of the user and wait until they and the user's storage are gone."""
        flows = []
        for pod in self.pods_of(user_id):
            name = podstate.name_of(pod)
            self._abort_creation(name, "deleted by delete_all_user")
            flows.append(self._delete_pod(pod, "delete_all_user"))
        with trio.move_on_after(2 * self.settings.timeout_delete):
            for flow in flows:
                await self._outcome(flow)
            ctx = self.pod_context("", user_id, Caller("", "", ""))
            async with self.user_lock(user_id):
                if self.pods_of(user_id):
                    return False
                await run_async_hook(self.pm, "userpods_user_gone", user_id=user_id, ctx=ctx)
            return all(flow.ok for flow in flows)
        return False

    # ------------------------------------------------------------------ watch_*
    async def _outcome(self, flow: Flow) -> bool:
        """The flow's outcome once it ends; a 503 if the daemon begins to stop first."""
        with self.until_stopping():
            await flow.done.wait()
        if flow.done.is_set():
            return flow.ok
        raise RequestError(
            503,
            "the service is restarting; ask again in a moment (the work goes on after the restart)",
        )

    @contextmanager
    def until_stopping(self) -> Iterator[trio.CancelScope]:
        """A cancel scope that :meth:`begin_stopping` cancels (a request's wait)."""
        with trio.CancelScope() as scope:
            if self.stopping.is_set():
                scope.cancel()
            self._waits.add(scope)
            try:
                yield scope
            finally:
                self._waits.discard(scope)

    def begin_stopping(self) -> None:
        """The daemon is shutting down: requests that wait answer now (a 503, or their
        result if it is known), within the HTTP server's grace period."""
        self.stopping.set()
        for scope in self._waits:
            scope.cancel()

    async def watch_create(self, user_id: str, pod_name: str) -> bool:
        flow = self.creating.get(pod_name)
        if flow is not None:
            if flow.user_id != user_id:
                return False
            return await self._outcome(flow)
        pod = self._owned(user_id, pod_name)
        return (
            pod is not None
            and not podstate.is_deleting(pod)
            and pod_name not in self.deleting
            and podstate.creation_state(pod) == podstate.READY
        )

    async def watch_delete(self, user_id: str, pod_name: str) -> bool:
        flow = self.deleting.get(pod_name)
        if flow is not None:
            if flow.user_id != user_id:
                return True
            return await self._outcome(flow)
        return self._owned(user_id, pod_name) is None

    # ------------------------------------------------------------------ reads
    def pod_infos(self, user_id: str) -> list[dict[str, Any]]:
        ctx = self.context()
        infos = []
        for pod in self.pods_of(user_id):
            info = base_info(pod, self.flow_status(pod))
            call_sync_hook(self.pm, "userpods_pod_info", pod=pod, info=info, ctx=ctx)
            infos.append(info)
        return infos

    async def podip_owner(self, text: str, *, wait: float = 4.5) -> str:
        try:
            ip = ipaddress.ip_address(text.strip())
        except ValueError:
            raise RequestError(400, f"{text!r} is not an IP address") from None
        if ip not in self.settings.pod_subnet_cidr:
            raise RequestError(
                400, f"{ip} is not in the pod network {self.settings.pod_subnet_cidr}"
            )
        address = str(ip)
        with trio.move_on_after(wait):
            while True:
                changed = self.cache.pods.changed()
                pod = self.index.holder(address, self.cache.pods.objects)
                if pod is not None:
                    return podstate.owner(pod)
                if not self.index.awaiting_ip:
                    return ""  # no pod is still waiting for an address: none will get it
                await changed.wait()
        return ""

    # ------------------------------------------------------------------ maintenance
    async def startup(self) -> None:
        with trio.fail_after(self.settings.timeout_create):
            await run_async_hook(self.pm, "userpods_startup", ctx=self.context())

    async def clean_unused(self) -> list[str]:
        """Remove what was made for pods or users that are gone; the ``Kind/name`` of each.

        Bounded by ``timeoutDelete``: a 503 that lists what was removed so far, if it ends.
        """
        removed: list[str] = []
        with trio.move_on_after(self.settings.timeout_delete) as scope:
            await run_async_hook(
                self.pm, "userpods_clean_unused", ctx=self.context(), removed=removed
            )
        if scope.cancelled_caught:
            raise RequestError(
                503,
                f"clean_all_unused did not finish within {self.settings.timeout_delete:g}s; "
                "the rest is left for the next clean-up",
                removed=removed,
            )
        if removed:
            log.info("clean-up removed %s", ", ".join(removed))
        return removed

    def resume(self) -> None:
        """Pick up the flows a previous run left, from what the pods say (start-up)."""
        now = datetime.now(UTC)
        for pod in self.cache.pods.values():
            notes = podstate.pod_annotations(pod)
            name = podstate.name_of(pod)
            if naming.ANNOTATION_OWNER not in notes:
                continue  # not ours, or made by the original backend: nothing in flight
            state = podstate.creation_state(pod)
            if podstate.is_deleting(pod):
                self._delete_pod(pod, "resuming a deletion after a restart")
            elif state == podstate.CREATING:
                deadline = podstate.deadline(pod)
                remaining = (deadline - now).total_seconds() if deadline else 0.0
                if remaining <= 0:
                    reason = "its creation deadline passed while the daemon was down"
                    log.warning(
                        "creation of pod %s for %s failed: %s", name, podstate.owner(pod), reason
                    )
                    self._delete_pod(pod, reason, failure=reason)
                else:
                    log.info("resuming the creation of %s (%.1fs left)", name, remaining)
                    self._start_creation(pod, trio.current_time() + remaining)
            elif state == podstate.FAILED:
                self._delete_pod(
                    pod,
                    "resuming the cleanup of a failed creation",
                    failure=notes.get(podstate.ANNOTATION_FAILURE, "failed"),
                )


def _tags(flow: Flow, reason: str = "") -> dict[str, str]:
    """The fields JSON logs carry for a flow's lines."""
    return {"user": flow.user_id, "pod": flow.pod_name, "reason": reason}


def _kube_error(exc: ApiError) -> RequestError:
    code = status_code(exc)
    message = exc.status.message or str(exc)
    if code == 422:
        return RequestError(400, f"Kubernetes rejected the pod: {message}")
    if code == 403:
        return RequestError(502, f"the daemon may not do this in Kubernetes: {message}")
    return RequestError(502, f"Kubernetes answered {code}: {message}")
