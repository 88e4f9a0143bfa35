"""The one door to the Kubernetes API: client setup, retries, the watch loop, exec.

Everything in userpods that talks to Kubernetes goes through :class:`Kube`, so the policies
live in one place:

- every call is bounded (``RetryPolicy.call_timeout`` per attempt) and retried with capped
  exponential back-off on 429 (honouring ``Retry-After``), 5xx and connection errors;
- a create that is retried after an attempt whose outcome is unknown, and then meets 409
  AlreadyExists, looks at the object: if it carries this request's id, the first attempt
  succeeded and its object is returned; otherwise the name belongs to someone else and the 409
  stands (we never delete another pod to make room);
- :meth:`Kube.watch` is the trio-safe list+watch loop (kubewatch.py; lightkube's own retry is
  asyncio-only): it relists on 410, backs off on errors, and reports health;
- the kubeconfig's exec credential plugins are not supported (lightkube runs them with
  asyncio): token, client-certificate and in-cluster service-account auth are.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import trio
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.config.client_adapter import verify_cluster
from lightkube.core.resource import NamespacedResource
from lightkube.resources.core_v1 import PodLog
from lightkube.types import CascadeType, PatchType

from . import kubewatch
from .kubeerrors import retry_after, status_code
from .kubewatch import WatchHandler

__all__ = [
    "ANNOTATION_REQUEST_ID",
    "Kube",
    "KubeUnavailable",
    "RetryPolicy",
    "WatchHandler",
    "open_kube",
    "status_code",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ANNOTATION_REQUEST_ID = "userpods.sciencedata.dk/request-id"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Seconds throughout."""

    attempts: int = 6  # tries per call before the error is the caller's
    base_delay: float = 0.1  # first back-off; doubles per try
    max_delay: float = 5.0  # back-off cap (also for the watch loop)
    call_timeout: float = 15.0  # one attempt, from request to full response

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        jittered = backoff * (0.5 + random.random() / 2)
        return float(max(jittered, min(retry_after or 0.0, self.max_delay)))


class KubeUnavailable(Exception):
    """The API could not be reached (or kept failing) within the retry policy."""


@dataclass
class CallStats:
    """Counts of API calls by (verb, outcome), for metrics and tests."""

    calls: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, verb: str, outcome: str) -> None:
        self.calls[(verb, outcome)] = self.calls.get((verb, outcome), 0) + 1


def load_config(kubeconfig: Path | None) -> KubeConfig:
    """A kubeconfig file, or (None) the in-cluster service account."""
    if kubeconfig is not None:
        return KubeConfig.from_file(kubeconfig)
    return KubeConfig.from_service_account()


class Kube:
    """Kubernetes calls with the policies of the module docstring, in one namespace."""

    def __init__(
        self, client: AsyncClient, namespace: str, policy: RetryPolicy | None = None
    ) -> None:
        self.client = client
        self._api: Any = client  # lightkube's overloads cannot type generic callers
        self.namespace = namespace
        self.policy = policy or RetryPolicy()
        self.stats = CallStats()

    # ------------------------------------------------------------------ retries
    async def _call(
        self, verb: str, attempt_fn: Callable[[], Any], attempts: int | None = None
    ) -> Any:
        """Run ``attempt_fn`` with the retry policy (at most ``attempts`` tries, if given);
        the last error is re-raised."""
        policy = self.policy
        attempts = policy.attempts if attempts is None else attempts
        for attempt in range(attempts):
            try:
                with trio.fail_after(policy.call_timeout):
                    result = await attempt_fn()
                self.stats.add(verb, "ok")
                return result
            except (ApiError, httpx2.HTTPStatusError) as exc:
                code = status_code(exc)
                self.stats.add(verb, str(code))
                if code not in RETRYABLE_STATUS or attempt == attempts - 1:
                    raise
                delay = policy.delay(attempt, retry_after(exc))
            except (httpx2.TransportError, trio.TooSlowError) as exc:
                self.stats.add(verb, "unreachable")
                if attempt == attempts - 1:
                    raise KubeUnavailable(f"{verb}: {exc!r}") from exc
                delay = policy.delay(attempt)
            log.debug("retrying %s in %.2fs (attempt %d)", verb, delay, attempt + 1)
            await trio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _namespace(self, namespaced: bool) -> str | None:
        return self.namespace if namespaced else None

    # ------------------------------------------------------------------ verbs
    async def get(self, res: type[T], name: str, *, namespaced: bool = True) -> T | None:
        """The object, or None when it does not exist."""
        namespace = self._namespace(namespaced)
        try:
            found: T = await self._call(
                "get", lambda: self._api.get(res, name, namespace=namespace)
            )
        except ApiError as exc:
            if status_code(exc) == 404:
                return None
            raise
        return found

    async def list(
        self,
        res: type[T],
        *,
        namespaced: bool = True,
        labels: dict[str, Any] | None = None,
    ) -> builtins.list[T]:
        """One full list, with the retry policy: for periodic reads of what the cache does not
        watch (metrics.k8s.io's PodMetrics, which cannot be watched)."""
        namespace = self._namespace(namespaced)

        async def attempt() -> builtins.list[T]:
            return [obj async for obj in self._api.list(res, namespace=namespace, labels=labels)]

        found: builtins.list[T] = await self._call("list", attempt)
        return found

    async def create(self, obj: T, *, request_id: str | None = None) -> T:
        """Create ``obj``; see the module docstring for how a retried create meets 409.

        With a ``request_id``, it is written into the object's annotations first.
        """
        item: Any = obj
        meta = item.metadata
        if request_id is not None:
            meta.annotations = {**(meta.annotations or {}), ANNOTATION_REQUEST_ID: request_id}
        namespaced = isinstance(obj, NamespacedResource)
        namespace = self._namespace(namespaced)
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            made: T = await self._api.create(obj, namespace=namespace)
            return made

        try:
            created: T = await self._call("create", attempt)
        except ApiError as exc:
            if status_code(exc) != 409 or attempts < 2 or request_id is None:
                raise
            existing: Any = await self.get(type(obj), meta.name, namespaced=namespaced)
            annotations = (existing.metadata.annotations or {}) if existing else {}
            if annotations.get(ANNOTATION_REQUEST_ID) != request_id:
                raise
            log.info("create of %s succeeded on an earlier attempt", meta.name)
            return existing  # type: ignore[no-any-return]
        return created

    async def patch(
        self,
        res: type[T],
        name: str,
        patch: dict[str, Any],
        *,
        patch_type: PatchType = PatchType.MERGE,
        namespaced: bool = True,
    ) -> T:
        namespace = self._namespace(namespaced)
        patched: T = await self._call(
            "patch",
            lambda: self._api.patch(res, name, patch, namespace=namespace, patch_type=patch_type),
        )
        return patched

    async def delete(
        self,
        res: type[Any],
        name: str,
        *,
        uid: str | None = None,
        grace_period: int | None = None,
        cascade: CascadeType | None = None,
        namespaced: bool = True,
    ) -> bool:
        """Delete; False when it was already gone (also after a retried attempt).

        With ``uid``, only that object is deleted (a precondition the apiserver checks): when
        the name has meanwhile passed to another object, that one is left alone and the answer
        is False, as for a gone object.
        """
        namespace = self._namespace(namespaced)
        params = {
            "gracePeriodSeconds": grace_period,
            "propagationPolicy": cascade.value if cascade else None,
        }

        async def attempt() -> None:
            if uid is None:
                await self._api.delete(
                    res, name, namespace=namespace, grace_period=grace_period, cascade=cascade
                )
                return
            # lightkube's delete sends no body; preconditions live in the DeleteOptions body.
            # With a body, the apiserver reads the options from it alone: query parameters
            # (propagationPolicy, gracePeriodSeconds) are ignored, so they go in the body too.
            generic = self._api._client
            request = generic.prepare_request("delete", res=res, name=name, namespace=namespace)
            request.data = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": uid},
                **{key: value for key, value in params.items() if value is not None},
            }
            response = await generic.send(generic.build_adapter_request(request))
            generic.handle_response("delete", response, request)

        try:
            await self._call("delete", attempt)
        except ApiError as exc:
            code = status_code(exc)
            if code == 404 or (code == 409 and uid is not None):
                return False
            raise
        return True

    async def log_tail(
        self,
        pod: str,
        *,
        max_bytes: int,
        container: str | None = None,
        tail_lines: int | None = None,
    ) -> tuple[bytes, bool]:
        """The newest ``max_bytes`` of a container's log (pods/log, one call), and whether older
        bytes were left out. The log is streamed through a window of that size, so memory stays
        bounded however long the log; ``limitBytes`` would keep the oldest bytes instead."""
        generic = self._api._client
        params = {"container": container, "tailLines": tail_lines}

        async def attempt() -> tuple[bytes, bool]:
            request = generic.prepare_request(
                "get", res=PodLog, name=pod, namespace=self.namespace, params=params
            )
            response = await generic.send(generic.build_adapter_request(request), stream=True)
            try:
                if response.is_error:
                    await response.aread()
                    generic.raise_for_status(response)
                window = bytearray()
                cut = False
                async for chunk in response.aiter_bytes():
                    window.extend(chunk)
                    if len(window) > max_bytes:
                        del window[: len(window) - max_bytes]
                        cut = True
                return bytes(window), cut
            finally:
                await response.aclose()

        found: tuple[bytes, bool] = await self._call("log", attempt)
        return found

    async def exec(
        self,
        pod: str,
        command: builtins.list[str],
        *,
        container: str | None = None,
        retry: bool = True,
    ) -> Any:
        """Run ``command`` in a container; returns lightkube's ExecResponse. ``retry=False``:
        one try (for a caller with a cheaper way out than the back-off).

        Failures of any kind (no such pod, container not running, handshake refused,
        connection lost) raise ``KubeUnavailable`` or ``ApiError``.
        """
        try:
            return await self._call(
                "exec",
                lambda: self._api.exec(
                    pod,
                    namespace=self.namespace,
                    container=container,
                    command=command,
                    stdout=True,
                    stderr=True,
                ),
                attempts=None if retry else 1,
            )
        except (ApiError, KubeUnavailable):
            raise
        except BaseExceptionGroup as group:
            # The websocket runs in a task group: an error of the exec (an ApiError read off
            # its error channel) can come out beside the Cancelled of a deadline the caller
            # set, as a BaseExceptionGroup that no `except Exception` sees. The error is
            # reported as such; the cancellation is not lost, trio re-raises it at the
            # caller's next checkpoint.
            _, errors = group.split(trio.Cancelled)
            if errors is None:
                raise
            self.stats.add("exec", "failed")
            raise KubeUnavailable(f"exec in {pod}: {errors!r}") from group
        except Exception as exc:  # websocket handshake errors are not httpx2 errors
            self.stats.add("exec", "failed")
            raise KubeUnavailable(f"exec in {pod}: {exc!r}") from exc

    # ------------------------------------------------------------------ watching
    async def watch(
        self,
        res: type[Any],
        handler: WatchHandler,
        *,
        namespaced: bool = True,
        labels: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        from_now: bool = False,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """List, then watch from the list's version, forever: see :mod:`userpods.kubewatch`."""
        await kubewatch.watch(
            self,
            res,
            handler,
            namespace=self._namespace(namespaced),
            labels=labels,
            fields=fields,
            from_now=from_now,
            task_status=task_status,
        )


def _pooled_transport(config: KubeConfig) -> httpx2.AsyncHTTPTransport:
    """The HTTP transport, with a connection pool as wide as the daemon's concurrency.

    httpx's default keeps 20 idle connections: with more flows than that in flight, every
    extra request would pay a fresh TLS handshake. The TLS set-up is lightkube's own.
    """
    single = config.get()
    assert single is not None and single.user is not None
    verify = verify_cluster(single.cluster, single.user, single.abs_file)
    limits = httpx2.Limits(max_connections=256, max_keepalive_connections=128)
    return httpx2.AsyncHTTPTransport(verify=verify, limits=limits)


@contextlib.asynccontextmanager
async def open_kube(
    config: KubeConfig, namespace: str, policy: RetryPolicy | None = None
) -> AsyncIterator[Kube]:
    """A :class:`Kube` for the duration of the block (the HTTP client closed after)."""
    policy = policy or RetryPolicy()
    client = AsyncClient(
        config,
        namespace=namespace,
        timeout=httpx2.Timeout(policy.call_timeout, read=policy.call_timeout),
        field_manager="userpods",
        transport=_pooled_transport(config),
    )
    try:
        yield Kube(client, namespace, policy)
    finally:
        with trio.CancelScope(shield=True):
            await client.close()
