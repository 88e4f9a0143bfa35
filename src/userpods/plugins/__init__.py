"""The built-in steps, each a plain plugin using only the public contract (userpods.hooks)."""

from __future__ import annotations

from typing import Any

from . import env, registry, restart

# name -> plugin object; the names are what ``disabledPlugins`` refers to.
BUILTIN: dict[str, Any] = {
    "restart-policy": restart,
    "local-registry": registry,
    "settings-env": env.SettingsEnv(),
    "mandatory-env": env.MandatoryEnv(),
}
