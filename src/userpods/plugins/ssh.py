"""SSH access: a pod with a container port 22 gets a NodePort service ``<pod>-ssh``.

get_pods shows its node port as ``k8s_pod_info.sshPort`` (a string, as the original) and
``ssh_url`` = ``ssh://root@<ingressDomain>:<nodePort>`` (with no ingressDomain configured, the
pod's node address stands in: a NodePort answers on every node).
"""

from __future__ import annotations

from typing import Any

from lightkube.resources.core_v1 import Pod, Service

from userpods.hooks import Context, PodContext, hookimpl

from .common import made_for, ready_pod
from .services import ensure_service, remove_for_gone_pod, remove_orphans

SSH_PORT = 22


def wants_ssh(pod: Pod) -> bool:
    containers = (pod.spec.containers or []) if pod.spec else []
    return any(p.containerPort == SSH_PORT for c in containers for p in c.ports or [])


def service_name(pod_name: str) -> str:
    return f"{pod_name}-ssh"


@hookimpl
async def userpods_pod_ready(ctx: PodContext) -> None:
    pod = ready_pod(ctx)
    if not wants_ssh(pod):
        return
    name = service_name(ctx.pod_name)
    await ensure_service(ctx, pod, name, "NodePort", "ssh", SSH_PORT)


@hookimpl
def userpods_pod_info(pod: Pod, info: dict[str, Any], ctx: Context) -> None:
    if pod.metadata is None or not wants_ssh(pod):
        return
    service = ctx.cache.services.get(service_name(pod.metadata.name or ""))
    if not made_for(service, pod) or service is None or service.spec is None:
        return
    port = next((p.nodePort for p in service.spec.ports or [] if p.nodePort), None)
    if port:
        info["k8s_pod_info"]["sshPort"] = str(port)
        # A NodePort answers on every node: without an ingressDomain, name the pod's node.
        host = ctx.settings.ingress_domain or (pod.status.hostIP if pod.status else "") or ""
        info["ssh_url"] = f"ssh://root@{host}:{port}" if host else ""


@hookimpl
async def userpods_clean_unused(ctx: Context, removed: list[str]) -> None:
    await remove_orphans(ctx, Service, removed, "-ssh")


@hookimpl
async def userpods_pod_gone(ctx: PodContext) -> None:
    await remove_for_gone_pod(ctx, Service, "-ssh")
