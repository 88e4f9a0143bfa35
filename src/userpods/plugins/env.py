"""Environment variables: the request's settings, then the mandatory ones.

- ``settings-env``: ``settings: {container: {NAME: value}}`` from the create_pod request
  overwrites only variables the manifest already declares in that container (a manifest is the
  operator's list of what users may set).
- ``mandatory-env`` (runs after): every container gets ``HOME_SERVER_IP`` (the user's silo on
  the data network), ``HOME_SERVER_HOSTNAME`` (from ``hostnameList``, by the silo's address or
  else its data-network address; not set at all for an unknown silo) and ``SD_UID`` (the user
  id), overwriting. A
  container that declares the older ``HOME_SERVER`` gets the same address there, for manifests
  written for the first version of the backend.
"""

from __future__ import annotations

from typing import Any

from userpods.config import Settings
from userpods.hooks import CreateRequest, hookimpl


def _set(container: dict[str, Any], name: str, value: str, *, append: bool) -> None:
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            item.pop("valueFrom", None)
            item["value"] = value
            return
    if append:
        env.append({"name": name, "value": value})


class SettingsEnv:
    @hookimpl(tryfirst=True)
    def userpods_prepare_pod(
        self, pod: dict[str, Any], request: CreateRequest, settings: Settings
    ) -> None:
        for container in pod.get("spec", {}).get("containers", []):
            for name, value in request.settings.get(container.get("name", ""), {}).items():
                _set(container, name, value, append=False)


class MandatoryEnv:
    @hookimpl(trylast=True)
    def userpods_prepare_pod(
        self, pod: dict[str, Any], request: CreateRequest, settings: Settings
    ) -> None:
        caller = request.caller
        for container in pod.get("spec", {}).get("containers", []):
            _set(container, "HOME_SERVER_IP", caller.data_ip, append=True)
            if caller.hostname:  # unset, as the original left it, for an unknown silo
                _set(container, "HOME_SERVER_HOSTNAME", caller.hostname, append=True)
            _set(container, "SD_UID", request.user_id, append=True)
            _set(container, "HOME_SERVER", caller.data_ip, append=False)
