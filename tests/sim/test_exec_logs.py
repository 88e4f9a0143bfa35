"""pods/exec and pods/log through lightkube, answered from the image catalogue."""

from __future__ import annotations

import re

import pytest
from httpx2.websockets import WebSocketUpgradeError
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import Container
from lightkube.resources.core_v1 import Pod

from userpods.sim import SimCluster

from .helpers import make_pod, raw_client, wait_for, waiting_reason

JUPYTER = "example/jupyter-notebook:1"


def running(pod: Pod) -> bool:
    return pod.status is not None and pod.status.phase == "Running"


async def _running_jupyter(kube: AsyncClient, name: str = "jup") -> Pod:
    await kube.create(make_pod(name, JUPYTER))
    return await wait_for(kube, Pod, name, running)


async def test_exec_reads_a_catalogue_file(kube: AsyncClient) -> None:
    pod = await _running_jupyter(kube)
    result = await kube.exec(
        "jup", namespace="test", container="main", command=["cat", "/tmp/appendURL"],
        stdout=True, stderr=True,
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout == f"?token=jup-{pod.metadata.uid}"
    assert result.stderr == ""
    # Without container: the only container is chosen.
    again = await kube.exec("jup", command=["sh", "-c", "echo $HOSTNAME"], stdout=True)
    assert (again.stdout, again.exit_code) == ("jup\n", 0)


@pytest.mark.parametrize(
    ("command", "code", "stderr"),
    [
        (["cat", "/nope"], 1, "cat: /nope: No such file or directory\n"),
        (["false"], 1, ""),
        (["no-such-command"], 127, None),
        (["sh", "-c", "no-such-command"], 127, None),
    ],
)
async def test_exec_failures_report_exit_codes(
    kube: AsyncClient, command: list[str], code: int, stderr: str | None
) -> None:
    await _running_jupyter(kube)
    result = await kube.exec("jup", command=command, stdout=True, stderr=True)
    assert result.exit_code == code
    assert result.stdout == ""
    if stderr is not None:
        assert result.stderr == stderr
    else:
        assert "not found" in result.stderr


async def test_exec_raise_on_error(kube: AsyncClient) -> None:
    await _running_jupyter(kube)
    with pytest.raises(ApiError) as info:
        await kube.exec("jup", command=["false"], stdout=True, raise_on_error=True)
    assert info.value.status.reason == "NonZeroExitCode"


async def test_exec_into_container_that_is_not_running_fails(kube: AsyncClient) -> None:
    await kube.create(make_pod("broken", "example/does-not-exist:1"))
    await wait_for(kube, Pod, "broken", lambda p: waiting_reason(p) is not None)
    # A rejected handshake: httpx2's WebSocketUpgradeError (not an httpx2.HTTPError).
    with pytest.raises(WebSocketUpgradeError) as info:
        await kube.exec("broken", command=["true"], stdout=True, timeout=5)
    assert info.value.response.status_code == 500  # the body: see the next test


async def test_exec_handshake_errors_over_http(sim: SimCluster, kube: AsyncClient) -> None:
    """The rejections before the upgrade, as Status bodies (what a client's error shows)."""
    await kube.create(make_pod("nohost", unscheduled=True))
    await kube.create(
        Pod.from_dict(
            {
                "metadata": {"name": "two"},
                "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
            }
        )
    )
    await kube.create(make_pod("broken", "example/does-not-exist:1"))
    await wait_for(kube, Pod, "two", running)
    await wait_for(kube, Pod, "broken", lambda p: waiting_reason(p) is not None)
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
    }
    cases = [
        ("nohost", "command=true&stdout=true", "pod nohost does not have a host assigned"),
        (
            "two",
            "command=true&stdout=true",
            "a container name must be specified for pod two, choose one of: [a b]",
        ),
        ("two", "command=true&stdout=true&container=c", "container c is not valid for pod two"),
        ("two", "command=true&container=a", "you must specify at least 1 of stdin, stdout, stderr"),
        ("broken", "command=true&stdout=true", 'container not found ("main")'),
    ]
    for name, query, message in cases:
        # One connection per request: the server closes it after refusing an upgrade.
        async with raw_client(sim) as client:
            response = await client.get(
                f"/api/v1/namespaces/test/pods/{name}/exec?{query}", headers=headers
            )
            expected = 500 if name == "broken" else 400
            assert response.status_code == expected, (name, query, response.text)
            assert response.json()["message"] == message


async def test_logs_return_the_catalogue_text(kube: AsyncClient) -> None:
    await _running_jupyter(kube)
    lines = [line async for line in kube.log("jup")]
    assert lines == ["[I ServerApp] Jupyter Server is running at http://jup:8888/\n"]
    bare = [line async for line in kube.log("jup", container="main", newlines=False)]
    assert bare == ["[I ServerApp] Jupyter Server is running at http://jup:8888/"]
    stamped = [line async for line in kube.log("jup", timestamps=True)]
    assert len(stamped) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \[I ServerApp\] .*\n", stamped[0]
    ), stamped
    assert [line async for line in kube.log("jup", tail_lines=0)] == []


async def test_logs_of_a_multi_line_log_with_tail(kube: AsyncClient) -> None:
    pod = Pod.from_dict(
        {"metadata": {"name": "crash"}, "spec": {"containers": [], "restartPolicy": "Never"}}
    )
    assert pod.spec is not None
    pod.spec.containers = [Container(name="main", image="example/test_fail_start:1")]
    await kube.create(pod)
    await wait_for(kube, Pod, "crash", lambda p: p.status.phase == "Failed")
    # A terminated container's log can still be read.
    assert [line async for line in kube.log("crash")] == [
        "test_fail_start: exiting with status 1\n"
    ]


async def test_logs_of_waiting_container_is_400(kube: AsyncClient) -> None:
    await kube.create(make_pod("nopull", "example/fail_pull:1"))
    await wait_for(kube, Pod, "nopull", lambda p: waiting_reason(p) == "ErrImagePull")
    with pytest.raises(ApiError) as info:
        _ = [line async for line in kube.log("nopull")]
    assert info.value.status.code == 400
    assert (info.value.status.message or "").startswith(
        'container "main" in pod "nopull" is waiting to start: '
    )


async def test_logs_of_unscheduled_pod_are_an_empty_204(sim: SimCluster, kube: AsyncClient) -> None:
    """No node, no kubelet: a real apiserver answers 204 with no body (measured)."""
    await kube.create(make_pod("fresh", unscheduled=True))
    async with raw_client(sim) as client:
        response = await client.get("/api/v1/namespaces/test/pods/fresh/log")
    assert response.status_code == 204
    assert response.content == b""
