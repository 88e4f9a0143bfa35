"""``pods/exec`` (websocket, ``v5.channel.k8s.io`` / ``v4.channel.k8s.io``) and ``pods/log``.

Exec runs the simulated container's tiny shell (``shell.py``) and answers on the channel
protocol: stdout on channel 1, stderr on 2, then exactly one Status on channel 3 (``Success``,
or ``Failure``/``NonZeroExitCode`` with the exit code in ``details.causes``), then a normal
close. Errors before the upgrade (unknown pod or container, no host, container not running)
are answered as plain HTTP Status errors, which is how clients see a rejected handshake.

The apiserver hands :class:`PodIO` what it needs (the front door, the registry, the kubelet);
this module does not import the apiserver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import trio

from . import kinds as k
from . import shell
from .containers import Container
from .frontdoor import FrontDoor
from .http import (
    Receive,
    Request,
    Scope,
    Send,
    end_stream,
    send_bytes,
    start_stream,
    stream_chunk,
)
from .jsonbytes import dumps
from .kubelet import Kubelet
from .registry import Registry
from .routes import parse_route
from .status import ApiError, bad_request, forbidden_error
from .timefmt import rfc3339_nano

Obj = dict[str, Any]
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3


def pick_container(pod: Obj, requested: str | None) -> str:
    names = [c["name"] for c in pod["spec"].get("containers", [])]
    pod_name = pod["metadata"]["name"]
    if not requested:
        if len(names) == 1:
            return str(names[0])
        raise bad_request(
            f"a container name must be specified for pod {pod_name}, choose one "
            f"of: [{' '.join(names)}]"
        )
    if requested not in names + [c["name"] for c in pod["spec"].get("initContainers", [])]:
        raise bad_request(f"container {requested} is not valid for pod {pod_name}")
    return requested


def exec_status(code: int) -> bytes:
    if code == 0:
        return dumps({"metadata": {}, "status": "Success"})
    return dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: command terminated with exit "
            f"code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    )


async def _reject(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": error.code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _format_logs(text: str, req: Request, when: str) -> bytes:
    lines = text.splitlines(keepends=True)
    tail = req.int_param("tailLines")
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    if req.flag("timestamps"):
        lines = [f"{when} {line}" for line in lines]
    data = "".join(lines).encode()
    limit = req.int_param("limitBytes")
    return data[:limit] if limit is not None and limit >= 0 else data


@dataclass
class PodIO:
    """Exec and logs of the pods the kubelet runs, behind the apiserver's front door."""

    door: FrontDoor
    registry: Registry
    kubelet: Kubelet
    max_follow_seconds: float  # the longest ``logs -f`` stream

    def exec_target(self, namespace: str, name: str, req: Request) -> tuple[Obj, str]:
        """The pod and container an exec is for, checked in the apiserver's order (the pod, the
        container, the node); what the kubelet checks (command, streams) comes after."""
        pod = self.registry.get(k.POD, namespace, name)
        container = pick_container(pod, req.param("container"))
        if not pod["spec"].get("nodeName"):
            raise bad_request(f"pod {name} does not have a host assigned")
        return pod, container

    def _prepare_exec(self, req: Request) -> tuple[list[str], Container, str, Request]:
        route = parse_route(req.path)
        if (
            route is None
            or route.kind is not k.POD
            or route.subresource != "exec"
            or not route.name
        ):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        self.door.count("get", "pods/exec")
        # A websocket exec is a GET: RBAC ``get`` on pods/exec, and then (since v1.35) ``create``
        # too, refused with the apiserver's empty reason (both measured on a real apiserver).
        self.door.authorize(req, "get", route)
        who = req.extra["identity"]
        namespace = route.namespace or ""
        if not self.door.authorizer.allowed(
            who, "create", k.POD, "pods/exec", namespace, route.name
        ):
            raise forbidden_error(f'pods "{route.name}" is forbidden: ', "pods", "", route.name)
        pod, name = self.exec_target(namespace, route.name, req)
        command = req.query.get("command", [])
        if not command:
            raise bad_request("you must specify at least one command for the container")
        streams = [req.flag("stdin"), req.flag("stdout"), req.flag("stderr")]
        if not any(streams):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        container = self.kubelet.container(pod["metadata"]["uid"], name)
        if container is None or not container.running:
            raise ApiError(500, f'container not found ("{name}")', "InternalError")
        offered = [p.strip() for p in req.headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next((p for p in PROTOCOLS if p in offered), "")
        if not protocol:
            raise bad_request(
                "unable to upgrade connection: none of the offered subprotocols "
                f"({', '.join(offered)}) is supported: use one of {list(PROTOCOLS)}"
            )
        return command, container, protocol, req

    async def serve_exec(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        req = Request.from_scope(scope)
        try:
            self.door.authenticate(req)
            command, container, protocol, req = self._prepare_exec(req)
            await self.door.inject_faults("create", "pods/exec")
        except ApiError as error:
            await _reject(send, error)
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        result = shell.run(command, container.files, container.env)
        if req.flag("stdout") and result.stdout:
            await send({"type": "websocket.send", "bytes": bytes([STDOUT]) + result.stdout})
        if req.flag("stderr") and result.stderr:
            await send({"type": "websocket.send", "bytes": bytes([STDERR]) + result.stderr})
        await send({"type": "websocket.send", "bytes": bytes([ERROR]) + exec_status(result.code)})
        await send({"type": "websocket.close", "code": 1000})

    async def serve_log(
        self, req: Request, namespace: str, name: str, receive: Receive, send: Send
    ) -> None:
        pod = self.registry.get(k.POD, namespace, name)
        container_name = pick_container(pod, req.param("container"))
        if not pod["spec"].get("nodeName"):
            # No node, no kubelet to ask: the apiserver answers an empty 204 (measured).
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        container = self.kubelet.container(pod["metadata"]["uid"], container_name)
        previous = req.flag("previous")
        waiting = container is None or ("waiting" in container.state and not container.logs)
        if previous:
            if container is None or container.previous_logs is None:
                raise bad_request(
                    f'previous terminated container "{container_name}" in pod "{name}" not found'
                )
            text = container.previous_logs
        elif waiting:
            reason = (container.waiting_reason if container else "") or "ContainerCreating"
            # The kubelet words the two image-pull failures (validateContainerLogStatus).
            reason = {
                "ErrImagePull": "image can't be pulled",
                "ImagePullBackOff": "trying and failing to pull image",
            }.get(reason, reason)
            raise bad_request(
                f'container "{container_name}" in pod "{name}" is waiting to start: {reason}'
            )
        else:
            assert container is not None
            text = container.logs
        started = container.state.get("running", {}).get("startedAt", "") if container else ""
        when = rfc3339_nano() if not started else started.replace("Z", ".000000000Z")
        data = _format_logs(text, req, when)
        follow = req.flag("follow") and not previous
        if not follow:
            await send_bytes(send, 200, data, "text/plain")
            return
        await start_stream(send, "text/plain")
        await stream_chunk(send, data)
        uid = pod["metadata"]["uid"]
        store = self.registry.store
        with trio.move_on_after(self.max_follow_seconds):
            while container is not None and container.running:
                changed = store.changed
                current = store.get(k.POD, namespace, name)
                if current is None or current["metadata"]["uid"] != uid:
                    break
                await changed.wait()
        with trio.move_on_after(1) as cleanup:
            cleanup.shield = True
            await end_stream(send)
