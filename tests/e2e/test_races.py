"""Races between the daemon's own writes and its watches: a relist whose snapshot predates a
create (or a delete) must not move the cache backwards, and no creation may end with its pod
neither completed nor deleted.

The simulated cluster's watch history is cut to one event, so a burst of creations makes every
watch expire (410) and relist again and again while the creations' own writes land in between.
"""

from __future__ import annotations

from typing import Any

import trio
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from tests.e2e.conftest import Stack
from tests.e2e.helpers import (
    assert_accounted,
    create,
    delete_all,
    pod_manifest,
    serve,
    watch_create,
)
from userpods.daemon import podstate
from userpods.sim import FaultSettings

USERS = [f"burst{i}@race.dk" for i in range(10)]
PER_USER = 10  # a manifest's name and -1 ... -9: all ten names of each user


async def test_relists_during_a_burst_of_creations(
    stack: Stack, api: Any, kube: AsyncClient
) -> None:
    """100 concurrent creations while every watch keeps expiring: each ends ready, every pod is
    marked ready in the cluster, none is left behind its scheduling gate."""
    url = serve(stack, pod_manifest("burst", restart="Never"))
    stack.sim.api.apply_faults(FaultSettings(history_limit=1))
    names: list[str] = []
    outcomes: dict[str, bool] = {}

    async def one(user: str) -> None:
        name = await create(api, url, user)
        names.append(name)
        outcomes[name] = await watch_create(api, user, name)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for user in USERS:
                for _ in range(PER_USER):
                    nursery.start_soon(one, user)
    restarts = sum(cache.restarts for cache in stack.daemon.cache.kinds)
    stack.sim.api.apply_faults(FaultSettings())
    assert restarts > 0, "the watches never expired: the race was not exercised"
    failed = {name: ok for name, ok in outcomes.items() if not ok}
    assert failed == {}, [stack.daemon.cache.pods.get(n) for n in failed]
    pods = {podstate.name_of(p): p async for p in kube.list(Pod)}
    assert sorted(pods) == sorted(names)
    stuck = [
        name
        for name, pod in pods.items()
        if podstate.creation_state(pod) != podstate.READY or (pod.spec and pod.spec.schedulingGates)
    ]
    assert stuck == []
    with trio.fail_after(60):
        for user in USERS:
            await assert_accounted(api, kube, user)
            assert await delete_all(api, user) is True
