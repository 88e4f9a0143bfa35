"""HTTPS access: a pod annotated ``sciencedata.dk/ingress-port: "<port>"`` gets a ClusterIP
service ``<pod>-http`` on that port and an Ingress ``<pod>-ingress`` for
``<pod>.<ingressDomain>`` (path ``/``, Prefix) with TLS from ``ingressWildcardSecret``;
get_pods shows ``url`` = ``https://<pod>.<ingressDomain>``. The original's own services and
ingresses of a pod (labels only, no owner reference) are removed with it.

A malformed port is refused when the pod is requested (400), before anything is made. With no
``ingressDomain`` configured there is no host to route, so no ingress is made (logged).
"""

from __future__ import annotations

import logging
from typing import Any

from lightkube.models.networking_v1 import (
    HTTPIngressPath,
    HTTPIngressRuleValue,
    IngressBackend,
    IngressRule,
    IngressServiceBackend,
    IngressSpec,
    IngressTLS,
    ServiceBackendPort,
)
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.networking_v1 import Ingress

from userpods.config import Settings
from userpods.hooks import Context, CreateRequest, PodContext, PodRejected, hookimpl

from .common import made_for, owned_meta, ready_pod
from .services import ensure_ingress, ensure_service, remove_for_gone_pod, remove_orphans

log = logging.getLogger(__name__)
ANNOTATION_PORT = "sciencedata.dk/ingress-port"


def ingress_port(annotations: dict[str, str] | None) -> int | None:
    """The annotated port; ``ValueError`` when it is not a port number."""
    text = (annotations or {}).get(ANNOTATION_PORT)
    if text is None:
        return None
    text = str(text).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f'{ANNOTATION_PORT} must be a port number (1-65535), not "{text}"')
    return int(text)


def host(pod_name: str, settings: Settings) -> str:
    return f"{pod_name}.{settings.ingress_domain}"


def ingress_name(pod_name: str) -> str:
    """As the original named it (operators' scripts and dashboards look for it)."""
    return f"{pod_name}-ingress"


@hookimpl
def userpods_prepare_pod(pod: dict[str, Any], request: CreateRequest, settings: Settings) -> None:
    try:
        ingress_port(pod.get("metadata", {}).get("annotations"))
    except ValueError as exc:
        raise PodRejected(f"the manifest's {exc}") from exc


@hookimpl
async def userpods_pod_ready(ctx: PodContext) -> None:
    pod = ready_pod(ctx)
    assert pod.metadata is not None
    port = ingress_port(pod.metadata.annotations)
    if port is None:
        return
    if not ctx.settings.ingress_domain:
        ctx.log.warning("no ingressDomain is configured: pod %s gets no ingress", ctx.pod_name)
        return
    service = f"{ctx.pod_name}-http"
    await ensure_service(ctx, pod, service, "ClusterIP", "http", port)
    hostname = host(ctx.pod_name, ctx.settings)
    await ensure_ingress(
        ctx,
        pod,
        Ingress(
            metadata=owned_meta(pod, ingress_name(ctx.pod_name), ctx),
            spec=IngressSpec(
                tls=[IngressTLS(hosts=[hostname], secretName=ctx.settings.ingress_wildcard_secret)],
                rules=[
                    IngressRule(
                        host=hostname,
                        http=HTTPIngressRuleValue(
                            paths=[
                                HTTPIngressPath(
                                    path="/",
                                    pathType="Prefix",
                                    backend=IngressBackend(
                                        service=IngressServiceBackend(
                                            name=service, port=ServiceBackendPort(number=port)
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
        ),
    )


@hookimpl
def userpods_pod_info(pod: Pod, info: dict[str, Any], ctx: Context) -> None:
    name = pod.metadata.name if pod.metadata else ""
    if name and made_for(ctx.cache.ingresses.get(ingress_name(name)), pod):
        info["url"] = f"https://{host(name, ctx.settings)}"


@hookimpl
async def userpods_clean_unused(ctx: Context, removed: list[str]) -> None:
    await remove_orphans(ctx, Ingress, removed)
    await remove_orphans(ctx, Service, removed, "-http")


@hookimpl
async def userpods_pod_gone(ctx: PodContext) -> None:
    await remove_for_gone_pod(ctx, Ingress)
    await remove_for_gone_pod(ctx, Service, "-http")
