"""Loading plugins and calling their hooks.

The plugin manager is built by a function and handed to the daemon (no global manager at
import time): built-in plugins first, then those installed under the ``userpods`` entry-point
group, minus the names in ``disabledPlugins``. Async hooks are awaited one after another, in
pluggy's call order, with the running plugin's name recorded so a failure can say which step
failed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from .. import hooks
from ..config import Settings
from ..plugins import builtin_plugins

log = logging.getLogger(__name__)


def build_plugin_manager(
    settings: Settings, *, extra: Iterable[tuple[str, Any]] = (), entry_points: bool = True
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hooks.PROJECT)
    pm.add_hookspecs(hooks.Specs)
    disabled = set(settings.disabled_plugins)
    builtin = builtin_plugins()
    for name, plugin in builtin.items():
        if name not in disabled:
            pm.register(plugin, name=name)
    for name, plugin in extra:
        if name not in disabled:
            pm.register(plugin, name=name)
    if entry_points:
        pm.load_setuptools_entrypoints(hooks.PROJECT)
    for name in disabled:
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin, name=name)
        elif name not in builtin:
            log.warning("disabledPlugins names %r, which is not installed", name)
    return pm


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    return sorted(name for name, _ in pm.list_name_plugin())


async def run_async_hook(
    pm: pluggy.PluginManager,
    hook_name: str,
    on_step: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> None:
    """Call every implementation of an async hook in order, awaiting each result."""
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
        if on_step is not None:
            on_step(impl.plugin_name)
        result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        if inspect.isawaitable(result):
            await result


def dependencies_in_place(pm: pluggy.PluginManager, **kwargs: Any) -> bool:
    """Whether every plugin that ensures dependencies says, by ``userpods_dependencies_ready``,
    that they are in place already (a plugin that cannot say holds the pod back)."""
    ready = {impl.plugin: impl for impl in pm.hook.userpods_dependencies_ready.get_hookimpls()}
    for maker in pm.hook.userpods_ensure_dependencies.get_hookimpls():
        impl = ready.get(maker.plugin)
        if impl is None or impl.function(**{a: kwargs[a] for a in impl.argnames}) is not True:
            return False
    return True


def call_sync_hook(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    result: list[Any] = getattr(pm.hook, hook_name)(**kwargs)
    return result
