"""``defaultRestartPolicy`` fills a manifest's missing ``restartPolicy`` (never overrides)."""

from __future__ import annotations

from typing import Any

from userpods.config import Settings
from userpods.hooks import CreateRequest, hookimpl


@hookimpl
def userpods_prepare_pod(pod: dict[str, Any], request: CreateRequest, settings: Settings) -> None:
    spec = pod.setdefault("spec", {})
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = settings.default_restart_policy
