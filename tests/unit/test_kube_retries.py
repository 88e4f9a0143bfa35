"""kube.py's policies, with the transport faked at the edge (httpx2.MockTransport).

Virtual time (autojump_clock) makes the back-off sleeps instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest
import trio
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.config.kubeconfig import Cluster, User
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta, Status
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType

from userpods.kube import ANNOTATION_REQUEST_ID, Kube, KubeUnavailable, RetryPolicy

Handler = Callable[[httpx2.Request], httpx2.Response]
POLICY = RetryPolicy(attempts=4, base_delay=0.1, max_delay=1.0, call_timeout=5.0)


def kube_with(handler: Handler) -> Kube:
    config = KubeConfig.from_one(
        cluster=Cluster(server="https://k8s.test"), user=User(token="t"), namespace="ns"
    )
    client = AsyncClient(config, namespace="ns", transport=httpx2.MockTransport(handler))
    return Kube(client, "ns", POLICY)


def status(code: int, reason: str, message: str) -> httpx2.Response:
    return httpx2.Response(
        code,
        headers={"content-type": "application/json"},
        json={
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
    )


def pod_body(name: str, request_id: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "7",
            "annotations": {ANNOTATION_REQUEST_ID: request_id},
        },
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }


def new_pod(name: str = "p") -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name), spec=PodSpec(containers=[Container(name="c", image="i")])
    )


async def test_retried_create_that_meets_409_returns_its_own_object(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.method)
        if request.method == "POST" and seen.count("POST") == 1:
            raise httpx2.ReadTimeout("lost reply", request=request)  # created, reply lost
        if request.method == "POST":
            return status(409, "AlreadyExists", 'pods "p" already exists')
        return httpx2.Response(200, json=pod_body("p", "req-42"))

    result = await kube_with(handler).create(new_pod(), request_id="req-42")
    assert result.metadata.name == "p"
    assert seen == ["POST", "POST", "GET"]


async def test_409_for_someone_elses_object_is_not_taken_as_success(
    autojump_clock: trio.abc.Clock,
) -> None:
    posts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if posts == 1:
                raise httpx2.ReadTimeout("lost reply", request=request)
            return status(409, "AlreadyExists", 'pods "p" already exists')
        return httpx2.Response(200, json=pod_body("p", "another-request"))

    kube = kube_with(handler)
    with pytest.raises(ApiError) as info:
        await kube.create(new_pod(), request_id="req-42")
    assert info.value.status.code == 409


async def test_a_first_attempt_409_is_the_callers(autojump_clock: trio.abc.Clock) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.method == "POST", "a plain 409 must not look the object up"
        return status(409, "AlreadyExists", 'pods "p" already exists')

    with pytest.raises(ApiError):
        await kube_with(handler).create(new_pod(), request_id="req-1")


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_retryable_statuses_are_retried(code: int, autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            response = status(code, "TooManyRequests", "slow down")
            response.headers["retry-after"] = "1"
            return response
        return httpx2.Response(200, json=pod_body("p", "x"))

    kube = kube_with(handler)
    start = trio.current_time()
    pod = await kube.get(Pod, "p")
    assert pod is not None and calls == 3
    if code == 429:
        assert trio.current_time() - start >= 2 * 0.5  # honoured Retry-After (jittered floor)


async def test_non_retryable_errors_are_raised_at_once(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return status(403, "Forbidden", "no")

    with pytest.raises(ApiError):
        await kube_with(handler).get(Pod, "p")
    assert calls == 1


async def test_connection_errors_give_up_after_the_policy(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise httpx2.ConnectError("refused", request=request)

    with pytest.raises(KubeUnavailable):
        await kube_with(handler).get(Pod, "p")
    assert calls == POLICY.attempts


async def test_get_of_a_missing_object_is_none(autojump_clock: trio.abc.Clock) -> None:
    kube = kube_with(lambda request: status(404, "NotFound", 'pods "p" not found'))
    assert await kube.get(Pod, "p") is None
    assert await kube.delete(Pod, "p") is False


def test_request_id_annotation_is_sent() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx2.Response(201, json=body | {"metadata": {**body["metadata"], "uid": "u"}})

    async def main() -> None:
        await kube_with(handler).create(new_pod(), request_id="req-9")

    trio.run(main)
    assert bodies[0]["metadata"]["annotations"] == {ANNOTATION_REQUEST_ID: "req-9"}  # type: ignore[index]


async def test_a_status_read_off_a_stream_is_retried_and_raised_as_itself(
    autojump_clock: trio.abc.Clock,
) -> None:
    """exec's error channel carries a Status that lightkube raises as an ApiError with no HTTP
    response (a kubelet stand-in reports a failed command so, as an InternalError): the
    retry policy must read it as the 500 it says, not trip over the missing response."""
    attempts = 0

    async def exec_reply() -> None:
        nonlocal attempts
        attempts += 1
        raise ApiError(status=Status(code=500, reason="InternalError", message="exit status 1"))

    kube = kube_with(lambda request: httpx2.Response(500))
    with pytest.raises(ApiError) as caught:
        await kube._call("exec", exec_reply)
    assert caught.value.status.reason == "InternalError"
    assert attempts == POLICY.attempts


async def test_a_delete_with_a_uid_sends_every_option_in_its_body() -> None:
    """With a DeleteOptions body the apiserver ignores the query's options (measured against
    kube-apiserver 1.37: a foreground deletion asked for in the query became a background one),
    so the propagation policy and grace period travel in the body beside the precondition."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"kind": "Status", "status": "Success"})

    kube = kube_with(handler)
    assert await kube.delete(Pod, "p", uid="u-1", grace_period=5, cascade=CascadeType.FOREGROUND)
    [request] = seen
    assert request.method == "DELETE" and not request.url.query
    assert json.loads(request.content) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": "u-1"},
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 5,
    }


async def test_an_exec_error_beside_a_cancellation_is_reported_not_lost() -> None:
    """lightkube's websocket runs in a task group: when the caller's deadline cancels it while
    the exec's error channel says the command failed, both come out as one BaseExceptionGroup
    (measured against a real apiserver: "no exec found for container" beside a Cancelled).
    exec reports the error as KubeUnavailable (callers handle that) instead of letting the
    group escape every ``except Exception`` and fail a whole creation."""

    class Api:
        async def exec(self, *args: object, **kwargs: object) -> None:
            error = ApiError(status=Status(code=500, reason="InternalError", message="no exec"))
            raise BaseExceptionGroup("ws", [trio.Cancelled._create(), error])

    kube = kube_with(lambda request: httpx2.Response(500))
    kube._api = Api()  # type: ignore[assignment]
    with pytest.raises(KubeUnavailable, match="no exec"):
        await kube.exec("p", ["true"])
