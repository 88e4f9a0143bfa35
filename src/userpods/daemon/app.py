"""The REST API, wire-compatible with the original backend (see docs/api.md).

Every reply is JSON (``get_podip_owner``: plain text, as the original); every error is
``{"error": "..."}`` with a 4xx, or a 5xx for real server faults. The frontend treats only
200 as success.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from .. import naming
from . import reads
from .callers import caller_address, identify
from .core import Daemon
from .errors import RequestError
from .manifest import ManifestError
from .metrics import CONTENT_TYPE
from .openapi import document
from .podlogs import log_request, pod_log

log = logging.getLogger("userpods.api")
MAX_BODY = 1024 * 1024
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # HEAD comes with GET


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


async def _body() -> dict[str, Any]:
    raw = await request.get_data()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise RequestError(400, "the request body is not valid JSON") from None
    except RecursionError:
        raise RequestError(400, "the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if _holds_lone_surrogate(body):
        raise RequestError(
            400, "a string in the request body holds a lone surrogate: not Unicode text"
        )
    return body


def _holds_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys too) has a lone surrogate (``"\\ud800"``
    in JSON): text no consumer can encode, refused once here rather than failing wherever it
    is first encoded (a pod's env, a log line, a file). Iterative: bodies nest deeply."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _query() -> dict[str, Any]:
    """The query parameters as a body would give them (the first of each)."""
    args = {key: request.args.get(key) for key in request.args}
    if _holds_lone_surrogate(args):
        raise RequestError(400, "a query parameter holds a lone surrogate: not Unicode text")
    return args


def _user_id(body: dict[str, Any]) -> str:
    user_id = body.get("user_id")
    if not naming.valid_user_id(user_id):
        raise RequestError(400, f"user_id must be a string matching {naming.USER_ID_RE.pattern}")
    return str(user_id)


def _pod_name(body: dict[str, Any]) -> str:
    name = body.get("pod_name")
    if not isinstance(name, str) or not name or len(name) > 253:
        raise RequestError(400, "pod_name must be a non-empty string")
    return name


def _settings(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    settings = body.get("settings")
    if settings is None:
        return {}
    if not isinstance(settings, dict) or not all(
        isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        for env in settings.values()
    ):
        raise RequestError(400, "settings must map container names to {ENV_NAME: string}")
    return settings


def _after_last_event(header: str | None) -> int:
    """The index after an SSE Last-Event-ID (0 when absent or not ours)."""
    text = (header or "").strip()
    # isdigit() alone takes "²" and other Unicode digits, which int() refuses.
    return int(text) + 1 if text.isascii() and text.isdigit() and len(text) < 10 else 0


def build_app(daemon: Daemon) -> QuartTrio:
    app = QuartTrio("userpods")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    # The original served each of its paths for any method; OPTIONS is then the route's own.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    description = json.dumps(document())  # the same for the daemon's lifetime

    def route(
        path: str, methods: tuple[str, ...] = ANY_METHOD
    ) -> Callable[[Callable[[], Awaitable[Response]]], Callable[[], Awaitable[Response]]]:
        return app.route(path, methods=list(methods))

    @app.errorhandler(RequestError)
    async def request_error(error: RequestError) -> Response:
        return _json(error.body(), error.status)

    @app.errorhandler(ManifestError)
    async def manifest_error(error: ManifestError) -> Response:
        return _json({"error": str(error)}, 400)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        response = _json({"error": error.description or error.name}, error.code or 500)
        for name, value in error.get_headers():  # Allow of a 405, for one
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        log.exception("internal error serving %s", request.path)
        return _json({"error": f"internal error: {type(error).__name__}"}, 500)

    def caller() -> Any:
        forwarded = ",".join(request.headers.getlist("X-Forwarded-For")) or None
        address = caller_address(forwarded, request.remote_addr, daemon.settings)
        return identify(address, daemon.settings)

    @route("/get_pods")
    async def get_pods() -> Response:
        user_id = _user_id(await _body())
        return _json(daemon.pod_infos(user_id))

    @route("/create_pod")
    async def create_pod() -> Response:
        body = await _body()
        user_id = _user_id(body)
        yaml_url = body.get("yaml_url")
        if not isinstance(yaml_url, str) or not yaml_url:
            raise RequestError(400, "yaml_url must be a non-empty string")
        name = await daemon.create(user_id, yaml_url, _settings(body), caller())
        return _json({"pod_name": name})

    @route("/watch_create_pod")
    async def watch_create_pod() -> Response:
        body = await _body()
        return _json({"ready": await daemon.watch_create(_user_id(body), _pod_name(body))})

    @route("/get_create_pod_progress")
    async def get_create_pod_progress() -> Response:
        body = await _body()
        progress = daemon.creation_progress(_user_id(body), _pod_name(body))
        return _json([step.as_json() for step in progress.steps])

    @route("/create_pod_progress", ("GET",))
    async def create_pod_progress() -> Response:
        # Server-Sent Events: one event a step, its index as id. An EventSource that comes
        # back (Last-Event-ID) after the last step gets a 204, which tells it to stop.
        source = _query()
        progress = daemon.creation_progress(_user_id(source), _pod_name(source))
        start = _after_last_event(request.headers.get("Last-Event-ID"))
        if progress.ended and start >= len(progress.steps):
            return Response(b"", status=204)

        async def frames() -> AsyncIterator[bytes]:
            async for item in daemon.follow_progress(progress, start):
                if item is None:
                    yield b": still creating\n\n"
                    continue
                index, step = item
                yield f"id: {index}\ndata: {json.dumps(step.as_json())}\n\n".encode()

        response = Response(
            frames(),
            status=200,
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        # The stream lasts as long as the creation (plus a margin), not quart's 60 s.
        response.timeout = daemon.settings.timeout_create + 2 * reads.KEEPALIVE
        return response

    @route("/delete_pod")
    async def delete_pod() -> Response:
        body = await _body()
        await daemon.delete(_user_id(body), _pod_name(body))
        return _json({"requested": True})

    @route("/watch_delete_pod")
    async def watch_delete_pod() -> Response:
        body = await _body()
        return _json({"deleted": await daemon.watch_delete(_user_id(body), _pod_name(body))})

    @route("/delete_all_user")
    async def delete_all_user() -> Response:
        user_id = _user_id(await _body())
        return _json({"deleted": await daemon.delete_all(user_id)})

    @route("/clean_all_unused")
    async def clean_all_unused() -> Response:
        if await request.get_data():
            await _body()  # no fields, but a body must still be JSON
        return _json({"removed": await daemon.clean_unused()})

    @route("/get_pod_logs")
    async def get_pod_logs() -> Response:
        # The frontend's log download: a JSON body, or the same as query parameters.
        raw = await request.get_data()
        source = await _body() if raw else _query()
        container, tail_lines = log_request(source)
        text = await pod_log(
            daemon.kube,
            daemon.cache,
            _user_id(source),
            _pod_name(source),
            container=container,
            tail_lines=tail_lines,
            max_bytes=daemon.settings.log_max_bytes,
        )
        return Response(text, status=200, content_type="text/plain; charset=utf-8")

    @route("/get_podip_owner")
    async def get_podip_owner() -> Response:
        ip = request.args.get("ip")
        if not ip:
            raise RequestError(400, "the ip query parameter is required")
        owner = await daemon.podip_owner(ip)
        return Response(owner, status=200, content_type="text/plain; charset=utf-8")

    @route("/healthz", ("GET",))
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @route("/readyz", ("GET",))
    async def readyz() -> Response:
        fresh = daemon.cache.fresh
        return _json(
            {
                "status": "ready" if fresh else "stale",
                "cache": daemon.cache.health(),
                "plugins": daemon.health_notes(),  # notes, never a reason to turn red
            },
            200 if fresh else 503,
        )

    @route("/metrics", ("GET",))
    async def metrics() -> Response:
        return Response(daemon.metrics.exposition(), status=200, content_type=CONTENT_TYPE)

    @route("/openapi.json", ("GET",))
    async def openapi_json() -> Response:
        return Response(description, status=200, content_type="application/json")

    @app.after_request
    async def count(response: Response) -> Response:
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        daemon.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        return response

    return app
