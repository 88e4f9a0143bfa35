"""Fault injection, counters and authentication of the live simulated apiserver.

The control endpoint (``/_sim/stats``, ``/_sim/stats/reset``, ``/_sim/faults``) is driven over
raw HTTP with httpx2 (lightkube's HTTP stack); API requests go through lightkube where it
exposes what is checked, through httpx2 where headers or stream ends matter.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2
import pytest
import trio
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod, Service

from userpods.sim import SimCluster

PODS = "/api/v1/namespaces/test/pods"
DEADLINE = 5.0
DEFAULT_FAULTS = {
    "error_rate": 0.0,
    "error_codes": [429, 500, 503],
    "verbs": [],
    "resources": [],
    "latency": 0.0,
    "watch_cut_after": None,
    "history_limit": None,
    "retry_after": 1,
    "seed": None,
}


def quiet_pod(name: str) -> Pod:
    """A pod no scheduler picks up: no writes but the client's."""
    return Pod(
        metadata=ObjectMeta(name=name),
        spec=PodSpec(
            containers=[Container(name="main", image="example/app:1")], schedulerName="nobody"
        ),
    )


@pytest.fixture
async def http(sim: SimCluster) -> AsyncIterator[httpx2.AsyncClient]:
    """A raw client that trusts the sim's CA and sends its admin token."""
    context = ssl.create_default_context(cadata=sim.ca_pem)
    async with httpx2.AsyncClient(
        base_url=sim.url,
        verify=context,
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=DEADLINE,
    ) as client:
        yield client


async def set_faults(http: httpx2.AsyncClient, **settings: Any) -> dict[str, Any]:
    response = await http.put("/_sim/faults", json=settings)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stats(http: httpx2.AsyncClient) -> dict[str, Any]:
    response = await http.get("/_sim/stats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_pods(kube: AsyncClient) -> list[Pod]:
    return [pod async for pod in kube.list(Pod)]


def assert_status(response: httpx2.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["reason"] == reason
    assert body["code"] == code
    return body


# ----------------------------------------------------------------------------- authentication


async def test_anonymous_requests_are_refused_by_rbac(sim: SimCluster) -> None:
    """No credentials at all: the apiserver's anonymous user, whom RBAC refuses (403), as a
    real apiserver with anonymous auth on (its default) answers; the control endpoint is 401."""
    context = ssl.create_default_context(cadata=sim.ca_pem)
    async with httpx2.AsyncClient(base_url=sim.url, verify=context) as anon:
        pods = await anon.get(PODS)
        assert pods.status_code == 403
        assert pods.json()["message"] == (
            'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API '
            'group "" in the namespace "test"'
        )
        api = await anon.get("/api")
        assert api.status_code == 403
        assert api.json()["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'
        assert (await anon.get("/_sim/stats")).status_code == 401
        assert (await anon.get("/version")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
    ],
)
async def test_requests_without_a_valid_token_get_401(
    sim: SimCluster, http: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    context = ssl.create_default_context(cadata=sim.ca_pem)
    async with httpx2.AsyncClient(base_url=sim.url, verify=context, headers=headers) as anon:
        for path in (PODS, "/api", "/apis", "/api/v1", "/_sim/stats", "/_sim/faults"):
            response = await anon.get(path)
            assert response.status_code == 401, path
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Unauthorized",
                "reason": "Unauthorized",
                "code": 401,
            }
        rejected = await anon.put("/_sim/faults", json={"error_rate": 1.0})
        assert rejected.status_code == 401
        assert (await anon.post("/_sim/stats/reset")).status_code == 401
    assert (await http.get("/_sim/faults")).json() == DEFAULT_FAULTS  # nothing changed


async def test_version_and_healthz_need_no_token(sim: SimCluster) -> None:
    context = ssl.create_default_context(cadata=sim.ca_pem)
    async with httpx2.AsyncClient(base_url=sim.url, verify=context) as anon:
        version = await anon.get("/version")
        assert version.status_code == 200
        assert version.headers["content-type"] == "application/json"
        assert "gitVersion" in version.json()
        for path in ("/healthz", "/livez", "/readyz"):
            health = await anon.get(path)
            assert (health.status_code, health.text) == (200, "ok")


async def test_lightkube_with_a_bad_token_raises_401(sim: SimCluster) -> None:
    config = sim.kubeconfig(namespace="test")
    config["users"][0]["user"]["token"] = "wrong"
    client = AsyncClient(KubeConfig.from_dict(config), namespace="test")
    try:
        with pytest.raises(ApiError) as info:
            await list_pods(client)
    finally:
        await client.close()
    assert info.value.status.code == 401
    assert info.value.status.reason == "Unauthorized"


# ----------------------------------------------------------------------------- control endpoint


async def test_fault_settings_round_trip(sim: SimCluster, http: httpx2.AsyncClient) -> None:
    current = await http.get("/_sim/faults")
    assert current.status_code == 200
    assert current.headers["content-type"] == "application/json"
    assert current.json() == DEFAULT_FAULTS

    put = await set_faults(http, error_rate=0.25, error_codes=[503], seed=7)
    assert put == {**DEFAULT_FAULTS, "error_rate": 0.25, "error_codes": [503], "seed": 7}
    assert (await http.get("/_sim/faults")).json() == put

    patched = await http.patch("/_sim/faults", json={"latency": 0.01, "verbs": ["list"]})
    assert patched.status_code == 200
    assert patched.json() == {**put, "latency": 0.01, "verbs": ["list"]}
    assert sim.api.faults.settings.latency == 0.01
    assert sim.api.faults.settings.error_rate == 0.25

    # PUT replaces everything: what it leaves out goes back to the default.
    assert await set_faults(http, resources=["pods"]) == {**DEFAULT_FAULTS, "resources": ["pods"]}
    assert await set_faults(http) == DEFAULT_FAULTS
    empty = await http.put("/_sim/faults")  # no body at all: the defaults too
    assert empty.json() == DEFAULT_FAULTS


@pytest.mark.parametrize(
    ("method", "body", "problem"),
    [
        ("PUT", {"error_rate": 2}, "error_rate must be between 0 and 1"),
        ("PATCH", {"error_rate": -1}, "error_rate must be between 0 and 1"),
        ("PUT", {"error_codes": [404]}, "error_codes must be a non-empty subset"),
        ("PATCH", {"latency": -0.5}, "latency must be >= 0"),
        ("PATCH", {"latency": "slow"}, ""),
        ("PUT", {"watch_cut_after": 0}, "watch_cut_after must be > 0"),
        ("PUT", {"history_limit": 0}, "history_limit must be >= 1"),
        ("PUT", {"history_limit": 2.5}, "history_limit must be an integer"),
        ("PATCH", {"verbs": "list"}, "verbs must be a list of strings"),
        ("PATCH", {"nonsense": 1}, "unknown fault settings: ['nonsense']"),
        ("PUT", [1, 2], "fault settings must be a JSON object"),
    ],
)
async def test_bad_fault_settings_are_400(
    sim: SimCluster, http: httpx2.AsyncClient, method: str, body: Any, problem: str
) -> None:
    await set_faults(http, seed=3)
    response = await http.request(method, "/_sim/faults", json=body)
    status = assert_status(response, 400, "BadRequest")
    assert problem in status["message"]
    # A rejected request changes nothing.
    assert (await http.get("/_sim/faults")).json() == {**DEFAULT_FAULTS, "seed": 3}
    assert sim.store.history_limit == 5000


async def test_malformed_json_is_400(http: httpx2.AsyncClient) -> None:
    response = await http.put(
        "/_sim/faults", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_status(response, 400, "BadRequest")


async def test_unknown_control_paths_are_404(http: httpx2.AsyncClient) -> None:
    assert_status(await http.get("/_sim/nope"), 404, "NotFound")
    assert_status(await http.delete("/_sim/faults"), 404, "NotFound")
    assert_status(await http.get("/_sim/stats/reset"), 404, "NotFound")


# ----------------------------------------------------------------------------- injected errors


async def test_429_with_retry_after(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[429])
    with pytest.raises(ApiError) as info:
        await list_pods(kube)
    error = info.value
    assert error.status.code == 429
    assert error.status.reason == "TooManyRequests"
    assert error.status.details is not None
    assert error.status.details.retryAfterSeconds == 1
    assert error.response.headers["retry-after"] == "1"

    raw = await http.get(PODS)
    body = assert_status(raw, 429, "TooManyRequests")
    assert raw.headers["Retry-After"] == "1"
    assert body["details"] == {"retryAfterSeconds": 1}

    await set_faults(http, error_rate=1.0, error_codes=[429], retry_after=7)
    raw = await http.get(PODS)
    assert raw.headers["retry-after"] == "7"
    assert raw.json()["details"] == {"retryAfterSeconds": 7}
    assert (await stats(http))["injected_errors"] == {"429": 3}


@pytest.mark.parametrize(("code", "reason"), [(500, "InternalError"), (503, "ServiceUnavailable")])
async def test_500_and_503(
    kube: AsyncClient, http: httpx2.AsyncClient, code: int, reason: str
) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[code])
    with pytest.raises(ApiError) as info:
        await list_pods(kube)
    assert info.value.status.code == code
    assert info.value.status.reason == reason
    with pytest.raises(ApiError) as info:
        await kube.get(Namespace, "test")
    assert info.value.status.code == code
    raw = await http.get(PODS)
    assert_status(raw, code, reason)
    assert "retry-after" not in raw.headers
    assert (await stats(http))["injected_errors"] == {str(code): 3}


async def test_error_codes_are_drawn_from_the_list(http: httpx2.AsyncClient) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[500, 503], seed=1)
    seen = {(await http.get(PODS)).status_code for _ in range(30)}
    assert seen == {500, 503}


async def test_partial_error_rate_is_seeded(http: httpx2.AsyncClient) -> None:
    async def run() -> list[int]:
        await set_faults(http, error_rate=0.5, seed=11)
        return [(await http.get(PODS)).status_code for _ in range(20)]

    first = await run()
    assert 200 in first
    assert set(first) - {200} <= {429, 500, 503}
    assert set(first) != {200}
    assert await run() == first  # the same seed fails the same requests


async def test_verb_filter(kube: AsyncClient, http: httpx2.AsyncClient) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[503], verbs=["create"])
    assert await list_pods(kube) == []
    with pytest.raises(ApiError) as info:
        await kube.create(quiet_pod("p1"))
    assert info.value.status.code == 503
    await set_faults(http, error_rate=1.0, error_codes=[503], verbs=["list", "get"])
    await kube.create(quiet_pod("p1"))
    with pytest.raises(ApiError):
        await kube.get(Pod, "p1")
    with pytest.raises(ApiError):
        await list_pods(kube)
    await kube.delete(Pod, "p1", grace_period=0)


async def test_resource_filter(kube: AsyncClient, http: httpx2.AsyncClient) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[500], resources=["services"])
    assert await list_pods(kube) == []
    with pytest.raises(ApiError) as info:
        _ = [s async for s in kube.list(Service)]
    assert info.value.status.code == 500
    # Both filters: only listing services fails.
    await set_faults(
        http, error_rate=1.0, error_codes=[500], resources=["services"], verbs=["list"]
    )
    with pytest.raises(ApiError):
        _ = [s async for s in kube.list(Service)]
    with pytest.raises(ApiError) as info:
        await kube.get(Service, "nope")
    assert info.value.status.code == 404  # a get of services is not faulted
    # Subresources are their own resource: pods/log is not "pods".
    await set_faults(http, error_rate=1.0, error_codes=[500], resources=["pods/log"])
    assert await list_pods(kube) == []


async def test_the_control_endpoint_is_never_faulted(http: httpx2.AsyncClient) -> None:
    await set_faults(http, error_rate=1.0, error_codes=[500], latency=30.0)
    with trio.fail_after(DEADLINE):  # far less than the latency
        assert (await http.get("/_sim/stats")).status_code == 200
        assert (await http.get("/_sim/faults")).status_code == 200
        assert (await http.patch("/_sim/faults", json={"seed": 1})).status_code == 200
        assert (await http.post("/_sim/stats/reset")).status_code == 200
        assert (await http.get("/version")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.put("/_sim/faults", json={})).status_code == 200
        # Faults off again: API requests work at once.
        assert (await http.get(PODS)).status_code == 200


async def test_latency_delays_api_requests(kube: AsyncClient, http: httpx2.AsyncClient) -> None:
    latency = 0.2
    await set_faults(http, latency=latency)
    with trio.fail_after(DEADLINE):
        start = trio.current_time()
        assert await list_pods(kube) == []
        assert trio.current_time() - start >= latency
        start = trio.current_time()
        await kube.create(quiet_pod("slow"))
        assert trio.current_time() - start >= latency
        start = trio.current_time()
        await http.get("/_sim/stats")
        control = trio.current_time() - start
    assert control < latency  # the control endpoint is not delayed


async def test_latency_comes_before_the_error(http: httpx2.AsyncClient) -> None:
    await set_faults(http, latency=0.1, error_rate=1.0, error_codes=[503])
    with trio.fail_after(DEADLINE):
        start = trio.current_time()
        assert (await http.get(PODS)).status_code == 503
        assert trio.current_time() - start >= 0.1


# ----------------------------------------------------------------------------- watches


async def read_watch(http: httpx2.AsyncClient, query: str) -> list[dict[str, Any]]:
    """Every event of one watch request, until the server ends the stream."""
    events = []
    async with http.stream("GET", f"{PODS}?watch=1&{query}") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line:
                events.append(json.loads(line))
    return events


async def test_watch_cut_after(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    await kube.create(quiet_pod("w1"))
    cut = 0.3
    await set_faults(http, watch_cut_after=cut)
    with trio.fail_after(DEADLINE):
        start = trio.current_time()
        events = await read_watch(http, "timeoutSeconds=60")
        elapsed = trio.current_time() - start
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w1")]
    assert cut <= elapsed < cut + 2.0
    assert sim.api.counters.watches_started["pods"] == 1
    with trio.fail_after(DEADLINE):  # the server's bookkeeping may trail the stream's end
        while (await stats(http))["watches"]["open"]["pods"]:
            pass


async def test_watch_cut_after_applies_to_open_streams(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    """Setting watch_cut_after closes the streams already open, not only new ones."""
    await kube.create(quiet_pod("w1"))
    events: list[dict[str, Any]] = []

    async def watch() -> None:
        events.extend(await read_watch(http, "timeoutSeconds=60"))

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            while sim.api.counters.watches_open["pods"] == 0:  # the stream is open
                await trio.lowlevel.checkpoint()
            await set_faults(http, watch_cut_after=0.2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w1")]


async def test_lightkube_watch_resumes_after_a_cut(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    """lightkube watches again by itself after a clean end of stream, from the last RV seen:
    nothing is delivered twice."""
    await kube.create(quiet_pod("w1"))
    await set_faults(http, watch_cut_after=0.2)
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async with aclosing(kube.watch(Pod)) as events:
            async for kind, pod in events:
                seen.append((kind, pod.metadata.name))
                if pod.metadata.name == "w2":
                    return

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            while sim.api.counters.watches_started["pods"] < 2:  # cut, and watching again
                await stats(http)
            await kube.create(quiet_pod("w2"))
    assert seen == [("ADDED", "w1"), ("ADDED", "w2")]
    assert sim.api.counters.requests[("watch", "pods")] >= 2


async def test_history_limit_expires_old_resource_versions(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    created = await kube.create(quiet_pod("h0"))
    old_rv = created.metadata.resourceVersion
    assert old_rv is not None
    await set_faults(http, history_limit=2)
    assert sim.store.history_limit == 2
    for i in range(1, 4):
        await kube.create(quiet_pod(f"h{i}"))

    # Raw: HTTP 200, one ERROR event carrying the 410 Status, then the stream ends.
    with trio.fail_after(DEADLINE):
        events = await read_watch(http, f"resourceVersion={old_rv}")
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status"
    assert status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {old_rv} (")

    # lightkube turns the ERROR event into ApiError 410.
    async def drain() -> None:
        async with aclosing(kube.watch(Pod, resource_version=old_rv)) as stream:
            async for _ in stream:
                pass

    with trio.fail_after(DEADLINE), pytest.raises(ApiError) as info:
        await drain()
    assert info.value.status.code == 410

    # A recent resourceVersion still resumes.
    latest = await kube.get(Pod, "h3")
    await set_faults(http, history_limit=2, watch_cut_after=0.1)
    with trio.fail_after(DEADLINE):
        events = await read_watch(http, f"resourceVersion={latest.metadata.resourceVersion}")
    assert events == []

    # Unsetting it restores the store's own limit.
    await set_faults(http, history_limit=None)
    assert sim.store.history_limit == 5000


# ----------------------------------------------------------------------------- counters


async def test_counters_by_verb_and_resource(
    sim: SimCluster, kube: AsyncClient, http: httpx2.AsyncClient
) -> None:
    reset = await http.post("/_sim/stats/reset")
    assert reset.status_code == 200
    assert reset.json()["requests"] == {}

    assert await list_pods(kube) == []
    await kube.create(quiet_pod("c1"))
    await kube.get(Pod, "c1")
    await kube.get(Pod, "c1")
    with pytest.raises(ApiError):
        await kube.get(Pod, "missing")  # failed requests count too
    _ = [ns async for ns in kube.list(Namespace)]
    await http.get("/api/v1/pods")  # all namespaces: still list/pods
    await http.get(f"{PODS}/c1/log")

    with trio.fail_after(DEADLINE):
        async with aclosing(kube.watch(Pod)) as events:
            async for kind, pod in events:
                assert (kind, pod.metadata.name) == ("ADDED", "c1")
                break
            # The watch is open while its first event is being read.
            during = await stats(http)
        after = await stats(http)
        while after["watches"]["open"].get("pods"):  # the server sees the disconnect
            after = await stats(http)

    assert during["requests"] == {
        "create": {"pods": 1},
        "get": {"pods": 3, "pods/log": 1},
        "list": {"namespaces": 1, "pods": 2},
        "watch": {"pods": 1},
    }
    assert during["watches"] == {"open": {"pods": 1}, "started": {"pods": 1}}
    assert after["watches"]["open"]["pods"] == 0
    assert after["watches"]["started"] == {"pods": 1}
    # Discovery and control requests are not counted.
    await http.get("/api/v1")
    await http.get("/apis")
    assert (await stats(http))["requests"] == during["requests"]

    reset = await http.post("/_sim/stats/reset")
    assert reset.json() == {
        "requests": {},
        "watches": {"open": {"pods": 0}, "started": {}},
        "injected_errors": {},
    }
    assert (await stats(http))["requests"] == {}


async def test_counters_of_a_running_raw_watch(http: httpx2.AsyncClient) -> None:
    await http.post("/_sim/stats/reset")
    with trio.fail_after(DEADLINE):
        async with http.stream("GET", f"{PODS}?watch=true&allowWatchBookmarks=true") as response:
            assert response.status_code == 200
            running = await stats(http)
        assert running["watches"]["open"] == {"pods": 1}
        assert running["requests"] == {"watch": {"pods": 1}}
        while (await stats(http))["watches"]["open"]["pods"]:
            pass
