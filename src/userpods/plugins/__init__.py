"""The built-in steps, each a plain plugin using only the public contract (userpods.hooks)."""

from __future__ import annotations

from typing import Any

from . import (
    env,
    idle,
    ingress,
    lifetime,
    podsecurity,
    quota,
    registry,
    restart,
    ssh,
    storage,
    tokens,
)


def builtin_plugins() -> dict[str, Any]:
    """name -> a fresh plugin object; the names are what ``disabledPlugins`` refers to."""
    return {
        "restart-policy": restart,
        "local-registry": registry,
        "settings-env": env.SettingsEnv(),
        "mandatory-env": env.MandatoryEnv(),
        "user-storage": storage.UserStorage(),
        "ssh-service": ssh,
        "https-ingress": ingress,
        "copy-tokens": tokens.CopyTokens(),
        "quotas": quota,
        "max-lifetime": lifetime,
        "idle-stop": idle.IdleStopPlugin(),
        # Last: among trylast steps pluggy calls the later registered later, so this judges
        # the pod after mandatory-env and every other built-in step.
        "pod-security": podsecurity,
    }
