"""Per-user quotas (config ``quotas``): a create_pod that would take its user over a limit is
refused with a 429 before anything is created.

The usage is the user's pods in the daemon's cache that still hold resources: every pod of
theirs that has not finished (phase Succeeded or Failed), whether it is being created, running
or being deleted, as a ResourceQuota counts them. The daemon calls ``userpods_admit_pod`` under
the user's admission lock, after which the pod it admits is in the cache before the next
creation of the user is judged: concurrent creations cannot together overshoot a limit.
A ``limits.<resource>`` quota admits only pods whose every container sets that limit (as
Kubernetes requires of a pod in a namespace with such a quota); such a pod is refused with a
400, which no retry would change. Each refusal is counted on /metrics as
``userpods_quota_refusals_total{limit}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from userpods.hooks import Context, CreateRequest, OverQuota, PodRejected, hookimpl
from userpods.quotas import PODS, format_quantity, pod_amounts, unlimited_containers

FINISHED = ("Succeeded", "Failed")
REFUSALS = "userpods_quota_refusals"
REFUSALS_HELP = "create_pod requests refused by a per-user quota, by the limit."


def _usage(ctx: Context, user_id: str) -> tuple[int, dict[str, dict[str, Decimal]]]:
    """The user's pods that hold resources: their number and summed requests and limits."""
    count = 0
    sums: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for pod in ctx.cache.pods.indexed("owner", user_id):
        if pod.status and pod.status.phase in FINISHED:
            continue
        count += 1
        manifest = pod.to_dict()
        for kind, total in sums.items():
            try:
                amounts = pod_amounts(manifest, kind)
            except ValueError:
                continue  # the API server validated it: a quantity this reading lacks
            for resource, amount in amounts.items():
                total[resource] = total.get(resource, Decimal(0)) + amount
    return count, sums


def _refuse(ctx: Context, limit: str, allowed: Decimal, used: Decimal, asked: Decimal) -> None:
    ctx.counters.count(REFUSALS, REFUSALS_HELP, limit=limit)
    resource = limit.partition(".")[2]
    texts = [format_quantity(x, resource) for x in (allowed, used, asked)]
    raise OverQuota(
        f"quota exceeded: {limit} allows {texts[0]}, the user has {texts[1]} "
        f"and this pod asks for {texts[2]}",
        limit=limit,
        allowed=texts[0],
        usage=texts[1],
        request=texts[2],
    )


@hookimpl
def userpods_admit_pod(pod: dict[str, Any], request: CreateRequest, ctx: Context) -> None:
    limits = ctx.settings.quotas.for_user(request.user_id)
    if not limits:
        return
    try:
        asked = {kind: pod_amounts(pod, kind) for kind in ("requests", "limits")}
    except ValueError as exc:
        raise PodRejected(f"the pod's resources are not valid quantities: {exc}") from None
    count, used = _usage(ctx, request.user_id)
    for limit, allowed in sorted(limits.items(), key=lambda item: item[0] != PODS):
        if limit == PODS:
            if count + 1 > allowed:
                _refuse(ctx, limit, allowed, Decimal(count), Decimal(1))
            continue
        kind, _, resource = limit.partition(".")
        if kind == "limits":
            unbounded = unlimited_containers(pod, resource)
            if unbounded:
                ctx.counters.count(REFUSALS, REFUSALS_HELP, limit=limit)
                raise PodRejected(
                    f"the quota {limit} admits only pods whose containers all set a "
                    f"{resource} limit; {', '.join(unbounded)} set none"
                )
        need = asked[kind].get(resource, Decimal(0))
        have = used[kind].get(resource, Decimal(0))
        if need and have + need > allowed:
            _refuse(ctx, limit, allowed, have, need)
