"""Crash-safety: the daemon is killed (no cleanup, no reply finishes) and started again on the
same cluster. Creations in flight resume with their remaining deadline or are cleaned up,
terminating pods are followed to the end, watch_* answer correctly after the restart, and
nothing is orphaned. The last test does it with real processes and SIGKILL."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, Pod
from lightkube.types import PatchType

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    PLAIN,
    SLOW_READY,
    SLOW_START,
    assert_accounted,
    assert_error,
    assert_json,
    assert_none_left,
    cluster_pods,
    create,
    delete,
    eventually,
    hold,
    listed,
    pod_manifest,
    release,
    serve,
    wall_clock_past,
    watch_create,
    watch_delete,
)
from tests.e2e.processes import api_of, process_files, serve_process
from userpods.daemon import podstate
from userpods.sim.status import ApiError as SimApiError

USER = "crash@dtu.dk"
OTHER = "crash@ku.dk"


async def test_creations_resume_after_crash(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """Creations in flight at the crash finish under the next daemon; a reply the crashed
    daemon owed never comes."""
    slow = [
        serve(stack, pod_manifest(f"slow{i}", image=SLOW_READY, restart="Never")) for i in range(2)
    ]
    names = {USER: [await create(api, url, USER) for url in slow]}
    names[OTHER] = [await create(api, slow[0], OTHER)]
    flow = stack.daemon.creating[names[USER][0]]
    failed: list[BaseException] = []

    async def watch_old_daemon() -> None:
        try:
            await watch_create(api, USER, names[USER][0])
        except httpx2.TransportError as exc:
            failed.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_old_daemon)

        async def waiting() -> bool:
            return bool(flow.done.statistics().tasks_waiting == 1)

        with trio.fail_after(5):
            await eventually(waiting)
        stack.crash()
    assert failed, "the crashed daemon answered"
    for user, pods in names.items():  # still in flight, as the crash left them
        found = await cluster_pods(kube, user)
        assert {podstate.creation_state(found[n]) for n in pods} == {podstate.CREATING}

    await stack.start()
    with trio.fail_after(10):
        for user, pods in names.items():
            for name in pods:
                assert await watch_create(api, user, name) is True
    for user, pods in names.items():
        found = await cluster_pods(kube, user)
        assert {podstate.creation_state(found[n]) for n in pods} == {podstate.READY}
        infos = await listed(api, user)
        assert all(infos[n]["status"].startswith("Running:") for n in pods)
        await assert_accounted(api, kube, user)


async def test_resumed_creation_keeps_its_deadline(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """The restarted daemon gives a creation what was left of its deadline, not a new one."""
    await stack.restart(timeoutCreate="2s")
    started = trio.current_time()
    url = serve(stack, pod_manifest("stuck", image=SLOW_START, restart="Never"))
    name = await create(api, url, USER)
    await stack.restart(timeoutCreate="15s")
    with trio.fail_after(5):
        assert await watch_create(api, USER, name) is False
    assert 1.5 < trio.current_time() - started < 5
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)


async def test_deadline_passed_while_down(
    stack: Stack, api: Any, kube: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A creation whose deadline passed while no daemon ran is cleaned up at start."""
    await stack.restart(timeoutCreate="1s")
    url = serve(stack, pod_manifest("late", image=SLOW_START, restart="Never"))
    name = await create(api, url, USER)
    stack.crash()
    pod = await kube.get(Pod, name)
    deadline = podstate.deadline(pod)
    assert podstate.creation_state(pod) == podstate.CREATING and deadline is not None
    with trio.fail_after(3):
        await wall_clock_past(deadline)

    caplog.set_level(logging.WARNING, logger="userpods.daemon")
    await stack.start(timeoutCreate="15s")
    with trio.fail_after(2):
        assert await watch_create(api, USER, name) is False
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)
    assert any(
        name in r.getMessage() and "deadline passed while the daemon was down" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("held", [False, True], ids=["gone-or-going", "terminating"])
async def test_deletion_followed_after_crash(
    held: bool, stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """A crash right after delete_pod: the next daemon follows the deletion to the end.

    ``terminating``: a finalizer keeps the pod Terminating across the restart, until it is
    released (as another controller would)."""
    url = serve(stack, pod_manifest("doomed", image=PLAIN, restart="Never"))
    name = await create(api, url, USER)
    with trio.fail_after(5):
        assert await watch_create(api, USER, name) is True
    if held:
        await hold(kube, name)
    assert assert_json(await delete(api, USER, name)) == {"requested": True}
    stack.crash()

    await stack.start()
    if held:
        assert podstate.is_deleting(await kube.get(Pod, name))
        assert name in stack.daemon.deleting  # the deletion flow was resumed
        assert (await listed(api, USER))[name]["status"] == "Deleting"
        assert await watch_create(api, USER, name) is False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(release, kube, name)
            with trio.fail_after(10):
                assert await watch_delete(api, USER, name) is True
    else:
        with trio.fail_after(10):
            assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)


async def test_failed_creation_cleanup_resumes(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """A pod a crashed daemon had marked failed (but not yet deleted) is deleted at start."""
    url = serve(stack, pod_manifest("failed", image=PLAIN, restart="Never"))
    name = await create(api, url, USER)
    with trio.fail_after(5):
        assert await watch_create(api, USER, name) is True
    stack.crash()
    notes = {podstate.ANNOTATION_STATE: podstate.FAILED, podstate.ANNOTATION_FAILURE: "test"}
    await kube.patch(Pod, name, {"metadata": {"annotations": notes}}, patch_type=PatchType.MERGE)
    await stack.start()
    assert await watch_create(api, USER, name) is False
    with trio.fail_after(10):
        assert await watch_delete(api, USER, name) is True
    await assert_none_left(api, kube, USER)


# ---------------------------------------------------------------------- real processes


async def test_sigkill_mid_creation_and_restart(
    stack: Stack, kube: AsyncClient, tmp_path: Path
) -> None:
    """kill -9 of a real daemon process mid-creation; the next process finishes it, and
    SIGTERM stops that one cleanly (exit code 0)."""
    config, kubeconfig, log = process_files(stack, tmp_path)
    url = serve(stack, pod_manifest("slowproc", image=SLOW_READY, restart="Never"))

    async with serve_process(config, kubeconfig, log) as (first, base):
        async with api_of(base) as call:
            name = await create(call, url, USER)
        first.send_signal(signal.SIGKILL)
        with trio.fail_after(5):
            assert await first.wait() == -signal.SIGKILL
    pod = (await cluster_pods(kube, USER))[name]
    assert podstate.creation_state(pod) == podstate.CREATING

    async with serve_process(config, kubeconfig, log) as (second, base):
        async with api_of(base) as call:  # closed before SIGTERM
            with trio.fail_after(15):
                assert await watch_create(call, USER, name) is True
            assert list(await listed(call, USER)) == [name]
            await assert_accounted(call, kube, USER)
        second.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            code = await second.wait()
        assert code == 0, await trio.Path(log).read_text()


async def test_sigterm_mid_creation_exits_0_and_logs_json(
    stack: Stack, kube: AsyncClient, tmp_path: Path
) -> None:
    """SIGTERM while creations are in flight: the daemon stops taking requests, exits 0 and
    leaves the creations resumable; the next daemon finishes them. Logs are JSON lines."""
    config, kubeconfig, log = process_files(stack, tmp_path)
    url = serve(stack, pod_manifest("slowterm", image=SLOW_READY, restart="Never"))
    async with serve_process(config, kubeconfig, log, logformat="json") as (first, base):
        async with api_of(base) as call:
            names = [await create(call, url, USER) for _ in range(3)]
        first.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await first.wait() == 0, await trio.Path(log).read_text()
    pods = await cluster_pods(kube, USER)
    assert sorted(pods) == sorted(names)
    assert {podstate.creation_state(p) for p in pods.values()} == {podstate.CREATING}
    async with serve_process(config, kubeconfig, log, logformat="json") as (second, base):
        async with api_of(base) as call:
            with trio.fail_after(15):
                for name in names:
                    assert await watch_create(call, USER, name) is True
            await assert_accounted(call, kube, USER)
        second.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await second.wait() == 0
    entries = [json.loads(line) for line in (await trio.Path(log).read_text()).splitlines()]
    assert entries and all({"time", "level", "event"} <= set(e) for e in entries)
    creating = [e for e in entries if e["event"].startswith("creating pod")]
    assert {(e["user"], e["pod"]) for e in creating} == {(USER, n) for n in names}
    resumed = [e for e in entries if e["event"].startswith("resuming the creation")]
    assert len(resumed) == len(names)


async def _sigkill(process: trio.Process) -> None:
    process.send_signal(signal.SIGKILL)
    with trio.fail_after(5):
        assert await process.wait() == -signal.SIGKILL


@pytest.mark.parametrize("reply", ["create_pod", "delete_pod", "delete_all_user"])
async def test_sigkill_right_after_a_200_loses_nothing(
    stack: Stack, kube: AsyncClient, tmp_path: Path, reply: str
) -> None:
    """kill -9 the moment a 200 has arrived, for each reply that promises something: the
    created pod is finished by the next process; a deleted pod (and the user's storage with
    the last one) goes, and watch_delete_pod says so."""
    config, kubeconfig, log = process_files(stack, tmp_path)
    main: dict[str, Any] = {"name": "main", "image": PLAIN}
    main["volumeMounts"] = [{"name": "sciencedata", "mountPath": "/root/data"}]
    url = serve(stack, pod_manifest(f"kill-{reply.replace('_', '-')}", main, restart="Never"))
    names: list[str] = []
    killed = trio.Event()

    async def hold_pod_deletes(phase: str, user: str, verb: str, resource: str, _: str) -> None:
        """Hold each pod DELETE for a second, or until the daemon is killed: then it never
        lands, as a DELETE still in flight when its sender dies. A reply sent before its
        DELETE landed is then a broken promise."""
        if phase == "before" and verb == "delete" and resource == "pods":
            with trio.move_on_after(1):
                await killed.wait()
            if killed.is_set():
                raise SimApiError(503, "the client is gone", "ServiceUnavailable")

    stack.sim.api.request_hooks.append(hold_pod_deletes)
    async with serve_process(config, kubeconfig, log) as (first, base), api_of(base) as call:
        names.append(await create(call, url, USER))
        if reply != "create_pod":
            assert await watch_create(call, USER, names[0]) is True
        if reply == "delete_pod":
            assert_json(await delete(call, USER, names[0]))
        elif reply == "delete_all_user":
            names.append(await create(call, url, USER))
            assert await watch_create(call, USER, names[1]) is True
            assert_json(await call("/delete_all_user", {"user_id": USER}))
        await _sigkill(first)
        killed.set()
    async with serve_process(config, kubeconfig, log) as (_, base), api_of(base) as call:
        with trio.fail_after(20):
            if reply == "create_pod":
                assert await watch_create(call, USER, names[0]) is True
                assert list(await listed(call, USER)) == names
            else:
                for name in names:
                    assert await watch_delete(call, USER, name) is True
                await eventually(lambda: _no_storage(kube))
                await assert_none_left(call, kube, USER)


async def _no_storage(kube: AsyncClient) -> bool:
    claims = [c async for c in kube.list(PersistentVolumeClaim)]
    volumes = [v async for v in kube.list(PersistentVolume)]
    return not claims and not volumes


async def test_shutdown_answers_the_long_polls(stack: Stack, api: Any, kube: AsyncClient) -> None:
    """At shutdown (SIGTERM), open watch_create_pod / watch_delete_pod requests get a JSON 503
    saying the service is restarting, within the grace period, instead of being cut off; the
    work goes on after the restart."""
    slow = serve(stack, pod_manifest("never", image=SLOW_START, restart="Never"))
    plain = serve(stack, pod_manifest("held", restart="Never"))
    stack.shutdown = trio.Event()
    await stack.restart()
    starting = await create(api, slow, USER)
    held = await create(api, plain, USER)
    with trio.fail_after(10):
        assert await watch_create(api, USER, held) is True
    await hold(kube, held)
    assert_json(await delete(api, USER, held))
    replies: dict[str, httpx2.Response] = {}

    async def poll(path: str, name: str) -> None:
        replies[path] = await api(path, {"user_id": USER, "pod_name": name})

    daemon = stack.daemon
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, "/watch_create_pod", starting)
            nursery.start_soon(poll, "/watch_delete_pod", held)
            await eventually(lambda: _waiting(daemon, 2))  # both requests wait
            stack.shutdown.set()
    for path in ("/watch_create_pod", "/watch_delete_pod"):
        assert "restarting" in assert_error(replies[path], 503), path
    stack.shutdown = None
    await release(kube, held)
    await stack.start()
    with trio.fail_after(10):
        assert await watch_delete(api, USER, held) is True
    assert starting in await listed(api, USER)  # still being created


async def _waiting(daemon: Any, count: int) -> bool:
    await trio.lowlevel.checkpoint()
    return len(daemon._waits) == count
