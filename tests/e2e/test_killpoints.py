"""Kill points: the daemon stopped dead at every write of its flows, before the write lands and
right after it (its reply lost), then started again. A 200 is a promise: whatever the replies
received so far said must hold in the cluster after the restart, and nothing may be left
behind once the user's pods are deleted.

The simulated cluster's request hook counts the daemon's writes (by its service account) and
crashes the daemon in-process at the n-th one, as a SIGKILL would: no request finishes, no
flow cleans up. ``test_restart.py`` does the same with real processes and SIGKILL after each
kind of 200.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
import trio
from lightkube import AsyncClient

from tests.e2e.conftest import DAEMON_ACCOUNT, NAMESPACE, Stack
from tests.e2e.helpers import (
    assert_json,
    container,
    create,
    delete,
    delete_all,
    leftovers,
    listed,
    orphans,
    pod_manifest,
    serve,
    watch_create,
    watch_delete,
)
from userpods.sim.status import ApiError

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
DAEMON = f"system:serviceaccount:{NAMESPACE}:{DAEMON_ACCOUNT}"


@dataclass
class KillSwitch:
    """A request hook of the simulated cluster: crashes the daemon at its ``at``-th write,
    ``before`` it lands (it is then refused) or ``after`` it (its reply never arrives)."""

    stack: Stack
    at: int  # 0: never (count only)
    phase: str = "before"
    writes: int = 0
    fired: bool = False
    task: Any = None
    seen: list[str] = field(default_factory=list)

    async def __call__(self, phase: str, user: str, verb: str, resource: str, name: str) -> None:
        if user != DAEMON or verb not in WRITES or self.fired:
            return
        if phase == "before":
            self.writes += 1
            self.seen.append(f"{verb} {resource}/{name}")
            if self.writes != self.at:
                return
            self.task = trio.lowlevel.current_task()
            if self.phase == "before":
                self._fire()
                raise ApiError(503, "the client is gone", "ServiceUnavailable")
        elif self.task is trio.lowlevel.current_task():
            self._fire()

    def _fire(self) -> None:
        self.fired = True
        self.stack.crash()


def _manifest(name: str) -> dict[str, Any]:
    """A pod with every kind of thing made for it: the user's storage, SSH, an ingress."""
    main = container("main")
    main["ports"] = [{"containerPort": 22}]
    main["volumeMounts"] = [{"name": "sciencedata", "mountPath": "/root/data"}]
    manifest = pod_manifest(name, main, restart="Never")
    manifest["metadata"]["annotations"] = {"sciencedata.dk/ingress-port": "80"}
    return manifest


@dataclass
class Replies:
    """What the daemon promised before it died."""

    created: str = ""  # the name create_pod answered with
    ready: bool = False
    delete_sent: bool = False  # a delete of that pod was asked for (answered or not)
    delete_requested: bool = False
    deleted: bool = False
    all_deleted: bool = False


async def _one_pod(api: Any, url: str, user: str, got: Replies) -> None:
    got.created = await create(api, url, user)
    got.ready = await watch_create(api, user, got.created)
    assert got.ready
    got.delete_sent = True
    assert_json(await delete(api, user, got.created))
    got.delete_requested = True
    got.deleted = await watch_delete(api, user, got.created)
    assert got.deleted


async def _two_pods(api: Any, url: str, user: str, got: Replies) -> None:
    got.created = await create(api, url, user)
    got.ready = await watch_create(api, user, got.created)
    second = await create(api, url, user)
    assert got.ready and await watch_create(api, user, second)
    got.delete_sent = True
    got.all_deleted = await delete_all(api, user)
    assert got.all_deleted


async def _until_crash(stack: Stack, scenario: Any, api: Any, url: str, user: str) -> Replies:
    """Run ``scenario`` until it ends or the daemon dies; the replies it got."""
    got = Replies()
    try:
        await scenario(api, url, user, got)
    except (httpx2.HTTPError, AssertionError):
        if stack.handle is not None:
            raise  # the daemon lives: a real failure
    return got


async def _check_promises(
    stack: Stack, api: Any, kube: AsyncClient, user: str, got: Replies
) -> None:
    """After the restart: what the replies said holds, and the user can be cleaned up."""
    with trio.fail_after(30):
        await stack.daemon.settled.wait()
        if got.delete_requested:
            assert await watch_delete(api, user, got.created) is True
            assert got.created not in await listed(api, user)
        elif got.created and not got.delete_sent:
            assert await watch_create(api, user, got.created) is True
            assert got.created in await listed(api, user)
        if got.all_deleted or got.deleted:
            await stack.daemon.settled.wait()
            assert await leftovers(kube, user) == [], "deleted, but things are left"
        assert await delete_all(api, user) is True
    assert await leftovers(kube, user) == []
    assert await orphans(kube) == []


async def _every_kill_point(stack: Stack, api: Any, kube: AsyncClient, scenario: Any) -> int:
    url = serve(stack, _manifest("kill"))
    counter = KillSwitch(stack, at=0)
    stack.sim.api.request_hooks.append(counter)
    await _until_crash(stack, scenario, api, url, "dry@kill.dk")
    stack.sim.api.request_hooks.remove(counter)
    assert await leftovers(kube, "dry@kill.dk") == []
    trials = 0
    for at in range(1, counter.writes + 1):
        for phase in ("before", "after"):
            user = f"k{at}{phase}@kill.dk"
            switch = KillSwitch(stack, at=at, phase=phase)
            stack.sim.api.request_hooks.append(switch)
            got = await _until_crash(stack, scenario, api, url, user)
            stack.sim.api.request_hooks.remove(switch)
            assert switch.fired, (at, phase, switch.seen)
            await stack.start()
            await _check_promises(stack, api, kube, user, got)
            trials += 1
    return trials


async def test_kill_at_every_write_of_create_and_delete(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    trials = await _every_kill_point(stack, api, kube, _one_pod)
    assert trials >= 16  # pod, gate, PV, PVC, 2 services, ingress, state; delete pod, PVC, PV


async def test_kill_at_every_write_of_delete_all_user(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    trials = await _every_kill_point(stack, api, kube, _two_pods)
    assert trials >= 8
