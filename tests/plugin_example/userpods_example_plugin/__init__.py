"""An operator's plugin, written against the public contract only (``userpods.hooks``).

It labels every pod with its team, tells the containers it ran (``EXAMPLE_PLUGIN``), greets
the pod once it is Ready (an annotation, written through the daemon's Kubernetes door) and
shows the greeting in get_pods.
"""

from __future__ import annotations

from typing import Any

from lightkube.resources.core_v1 import Pod

from userpods.config import Settings
from userpods.hooks import Context, CreateRequest, PodContext, hookimpl

TEAM_LABEL = "example.sciencedata.dk/team"
GREETING = "example.sciencedata.dk/greeting"


@hookimpl
def userpods_prepare_pod(pod: dict[str, Any], request: CreateRequest, settings: Settings) -> None:
    pod["metadata"].setdefault("labels", {})[TEAM_LABEL] = "science"
    for container in pod["spec"]["containers"]:
        env = container.setdefault("env", [])
        env.append({"name": "EXAMPLE_PLUGIN", "value": "enabled"})


@hookimpl
async def userpods_pod_ready(ctx: PodContext) -> None:
    patched = await ctx.kube.patch(
        Pod, ctx.pod_name, {"metadata": {"annotations": {GREETING: f"hello {ctx.user_id}"}}}
    )
    ctx.cache.pods.observe(patched)


@hookimpl
def userpods_pod_info(pod: Pod, info: dict[str, Any], ctx: Context) -> None:
    greeting = (pod.metadata.annotations or {}).get(GREETING) if pod.metadata else None
    if greeting:
        info["greeting"] = greeting
