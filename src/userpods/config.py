"""Settings: the original backend's configuration keys, typed, validated and frozen.

Loaded from a YAML file whose keys are matched case-insensitively (the original used viper,
which does that), then overridden by environment variables ``BACKEND_<KEY IN CAPITALS>``
(``timeoutCreate`` -> ``BACKEND_TIMEOUTCREATE``). Every value is checked at load time; an
invalid one raises :class:`ConfigError` naming the key, so the daemon refuses to start rather
than fail later.

Keys the original backend knew but userpods does not use (:data:`ORIGINAL_ONLY_KEYS`) are
accepted and ignored, as the original ignored keys it did not read; ``userpods serve`` names
them in one warning at start-up (:func:`warn_ignored_keys`). Any other key stops start-up.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .durations import parse_duration as parse_duration  # re-exported: config parses them
from .idling import IdleStop, parse_idle_stop
from .quotas import Quotas, parse_quotas

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DEFAULT_RESTART_POLICY = "Never"


class ConfigError(ValueError):
    """A configuration value that cannot be used; ``key`` names it as the config file does."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Silo:
    """A ScienceData silo (home server): its hostname and its address on the 10.0 network."""

    hostname: str
    address: str


@dataclass(frozen=True)
class Settings:
    """The daemon's configuration. Durations are in seconds, sizes in bytes."""

    namespace: str = "sciencedata-dev"
    default_restart_policy: str = DEFAULT_RESTART_POLICY  # fills a missing restartPolicy
    timeout_create: float = 90.0  # request to Ready with post-create steps done
    timeout_delete: float = 90.0  # delete request to pod gone with cleanup done
    pod_cache_dir: Path = Path("/tmp/podcaches")  # token store: one file per pod
    whitelist_manifest_regex: re.Pattern[str] = field(
        default_factory=lambda: re.compile(r"https://raw[.]githubusercontent[.]com/deic-dk/")
    )
    token_byte_limit: int = 4096  # most bytes copied per token (a pod can write any size)
    nfs_storage_root: str = "/tank/storage"  # NFS path prefix before the user id
    testing_host: str = "10.0.0.20"  # the silo a loopback caller stands for (tests)
    local_registry_url: str = ""  # replaces LOCALREGISTRY in images
    local_registry_secret: str = "docker-registry-auth"  # pull secret for those images
    ingress_domain: str = ""  # pods get https://<pod>.<ingressDomain>
    ingress_wildcard_secret: str = "user-pods-wildcard"  # TLS secret for *.<ingressDomain>
    pod_subnet_cidr: ipaddress.IPv4Network | ipaddress.IPv6Network = field(
        default_factory=lambda: ipaddress.ip_network("10.128.0.0/15")
    )
    test_ssh_key: str = ""  # used by tests against a real cluster
    test_user: str = "registeredtest7"
    hostname_list: tuple[Silo, ...] = ()
    disabled_plugins: tuple[str, ...] = ()  # plugin names not to load
    manifest_max_bytes: int = 1024 * 1024
    manifest_timeout: float = 10.0
    log_max_bytes: int = 1024 * 1024  # most bytes of a container's log get_pod_logs returns
    token_copy_timeout: float = 10.0  # how long a new pod's token files are waited for
    # After that, how long (from the pod's Ready) missing token files are looked for in the
    # background; 0: not at all.
    token_retry_period: float = 300.0
    log_format: str = "text"  # text, or json: one object per line for log collectors
    pod_security: str = "baseline"  # Pod Security Standards level manifests must meet
    # Peers whose X-Forwarded-For is believed. None: loopback and podSubnetCidr (the ingress
    # controller runs in the pod network; the NetworkPolicy keeps user pods out).
    trusted_proxies: tuple[Network, ...] | None = None
    quotas: Quotas = field(default_factory=Quotas)  # per-user limits (quotas.py); none: off
    max_lifetime: float = 0.0  # pods older than this are deleted (plugins/lifetime.py); 0: never
    idle_stop: IdleStop = field(default_factory=IdleStop)  # plugins/idle.py; default: off
    # Keys of the original backend found in the file or environment: accepted, ignored.
    ignored_keys: tuple[str, ...] = ()

    def trusts_proxy(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """Whether a peer at ``address`` may tell who it forwards for (X-Forwarded-For)."""
        networks = self.trusted_proxies
        if networks is None:
            return address.is_loopback or address in self.pod_subnet_cidr
        return any(address in network for network in networks)

    def silo_hostname(self, address: str) -> str:
        """The silo hostname for a caller address, "" when the address is not a known silo."""
        return next((s.hostname for s in self.hostname_list if s.address == address), "")


# Config key (as the original spells it) -> Settings field and parser.
def _str(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError("must be a string")
    return "" if value is None else str(value)


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(_str(value))
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def _duration(value: Any) -> float:
    return parse_duration(_str(value))


def _optional_duration(value: Any) -> float:
    """A duration where empty (or 0) means "never"."""
    text = _str(value).strip()
    return parse_duration(text) if text else 0.0


def _positive_int(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number, not {value!r}") from None
    if number <= 0:
        raise ValueError("must be greater than zero")
    return number


def _restart_policy(value: Any) -> str:
    text = _str(value)
    if not text:  # the original accepted "" too (its check lists it): the default
        return DEFAULT_RESTART_POLICY
    if text not in RESTART_POLICIES:
        raise ValueError(f'must be one of {", ".join(RESTART_POLICIES)}, not "{text}"')
    return text


def _regex(value: Any) -> re.Pattern[str]:
    try:
        return re.compile(_str(value))
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def _ip(value: Any) -> str:
    text = _str(value).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f'"{text}" is not an IP address') from None


def _cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    text = _str(value).strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f'"{text}" is not a network in CIDR notation: {exc}') from None


def _directory(value: Any) -> Path:
    path = Path(_str(value))
    if not path.is_dir():
        raise ValueError(f'directory "{path}" does not exist')
    return path


def _namespace(value: Any) -> str:
    text = _str(value)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) or len(text) > 63:
        raise ValueError(f'"{text}" is not a valid namespace name')
    return text


def _structured(value: Any) -> Any:
    """Lists from the environment come as YAML/JSON text."""
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML/JSON: {exc}") from None
    return value


def _networks(value: Any) -> tuple[Network, ...] | None:
    value = _structured(value)
    if value is None:
        return None  # unset: the default
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise ValueError("must be a list of networks in CIDR notation")
    return tuple(_cidr(entry) for entry in value)


def _silos(value: Any) -> tuple[Silo, ...]:
    value = _structured(value) or []
    if not isinstance(value, list):
        raise ValueError("must be a list of {hostname, address}")
    silos = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) - {"hostname", "address"}:
            raise ValueError(f"entry {i + 1} must be {{hostname, address}}")
        try:
            address = _ip(entry.get("address"))
        except ValueError as exc:
            raise ValueError(f"entry {i + 1}: {exc}") from None
        silos.append(Silo(_str(entry.get("hostname")), address))
    return tuple(silos)


def _log_format(value: Any) -> str:
    text = _str(value).strip().lower()
    if text not in ("text", "json"):
        raise ValueError(f'must be text or json, not "{text}"')
    return text


POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")


def _pod_security(value: Any) -> str:
    text = _str(value).strip().lower()
    if text not in POD_SECURITY_LEVELS:
        raise ValueError(f'must be one of {", ".join(POD_SECURITY_LEVELS)}, not "{text}"')
    return text


def _names(value: Any) -> tuple[str, ...]:
    value = _structured(value) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of plugin names")
    return tuple(value)


KEYS: dict[str, tuple[str, Any]] = {
    "namespace": ("namespace", _namespace),
    "defaultRestartPolicy": ("default_restart_policy", _restart_policy),
    "timeoutCreate": ("timeout_create", _positive_duration),
    "timeoutDelete": ("timeout_delete", _positive_duration),
    "podCacheDir": ("pod_cache_dir", _directory),
    "whitelistManifestRegex": ("whitelist_manifest_regex", _regex),
    "tokenByteLimit": ("token_byte_limit", _positive_int),
    "nfsStorageRoot": ("nfs_storage_root", _str),
    "testingHost": ("testing_host", _ip),
    "localRegistryURL": ("local_registry_url", _str),
    "localRegistrySecret": ("local_registry_secret", _str),
    "ingressDomain": ("ingress_domain", _str),
    "ingressWildcardSecret": ("ingress_wildcard_secret", _str),
    "podSubnetCidr": ("pod_subnet_cidr", _cidr),
    "testSshKey": ("test_ssh_key", _str),
    "testUser": ("test_user", _str),
    "hostnameList": ("hostname_list", _silos),
    "disabledPlugins": ("disabled_plugins", _names),
    "manifestMaxBytes": ("manifest_max_bytes", _positive_int),
    "manifestTimeout": ("manifest_timeout", _positive_duration),
    "logMaxBytes": ("log_max_bytes", _positive_int),
    "tokenCopyTimeout": ("token_copy_timeout", _positive_duration),
    "tokenRetryPeriod": ("token_retry_period", _duration),
    "logFormat": ("log_format", _log_format),
    "podSecurity": ("pod_security", _pod_security),
    "trustedProxies": ("trusted_proxies", _networks),
    "quotas": ("quotas", lambda value: parse_quotas(_structured(value))),
    "maxLifetime": ("max_lifetime", _optional_duration),
    "idleStop": ("idle_stop", lambda value: parse_idle_stop(_structured(value))),
}
_BY_LOWER = {key.lower(): key for key in KEYS}

# Keys the original backend (deic-dk/kubernetes_backend) read or shipped in its config.yaml at
# some point, which userpods has no use for: ingressIssuer (a cert-manager issuer, dropped by
# the original for the wildcard secret), ingressURL (the ingress host before ingressDomain),
# publicIP (an external IP on SSH services), restartPolicy and tokenDir (early names of
# defaultRestartPolicy and podCacheDir), mandatoryEnvVars (env vars for every pod, later made
# by the original itself) and hostnameMap (which the original computed from hostnameList). The
# original ignored any key it did not read; these are accepted so that its configuration
# files and deployments load, and named in a warning.
ORIGINAL_ONLY_KEYS = (
    "ingressIssuer",
    "ingressURL",
    "publicIP",
    "restartPolicy",
    "tokenDir",
    "mandatoryEnvVars",
    "hostnameMap",
)
_IGNORED_BY_LOWER = {key.lower(): key for key in ORIGINAL_ONLY_KEYS}
log = logging.getLogger(__name__)


def env_name(key: str) -> str:
    return f"BACKEND_{key.upper()}"


def build_settings(
    values: Mapping[str, Any], env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Settings from config-file ``values`` (any key case), then ``env``, then overrides."""
    raw: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in values.items():
        canonical = _BY_LOWER.get(str(key).lower())
        if canonical is None:
            if str(key).lower() in _IGNORED_BY_LOWER:
                ignored.append(str(key))
                continue
            raise ConfigError(str(key), f"unknown configuration key (known: {', '.join(KEYS)})")
        raw[canonical] = value
    for key in KEYS:
        if env is not None and env_name(key) in env:
            raw[key] = env[env_name(key)]
    ignored += [env_name(k) for k in ORIGINAL_ONLY_KEYS if env is not None and env_name(k) in env]
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name, parse = KEYS[key]
        try:
            fields[name] = parse(value)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from None
    if ignored:
        fields["ignored_keys"] = tuple(ignored)
    fields.update(overrides)
    settings = Settings(**fields)
    if "podCacheDir" not in raw and "pod_cache_dir" not in overrides:
        try:  # the default must exist too
            _directory(str(settings.pod_cache_dir))
        except ValueError as exc:
            raise ConfigError("podCacheDir", str(exc)) from None
    return settings


def load_settings(
    path: Path | None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read ``path`` (YAML; None: defaults only) and apply ``env`` (default: os.environ)."""
    values: Any = {}
    if path is not None:
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read the configuration file: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), f"not valid YAML: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(str(path), "the configuration file must be a mapping of keys")
    return build_settings(values, os.environ if env is None else env, **overrides)


def warn_ignored_keys(settings: Settings) -> None:
    """Log, once, the original backend's keys that the configuration set and userpods ignores
    (``userpods serve`` calls it once logging is set up)."""
    if settings.ignored_keys:
        log.warning(
            "configuration: ignoring %s: known to the original backend, not used by userpods",
            ", ".join(settings.ignored_keys),
        )


def describe(settings: Settings) -> dict[str, Any]:
    """The settings as config keys, for logs and docs (regexes and paths as text)."""
    out: dict[str, Any] = {}
    for key, (name, _) in KEYS.items():
        value = getattr(settings, name)
        if value is None:
            continue  # its default is computed from other keys
        if isinstance(value, re.Pattern):
            value = value.pattern
        elif isinstance(value, Quotas):
            value = value.describe()
        elif isinstance(value, IdleStop):
            value = value.as_config()
            if value is None:
                continue  # off
        elif isinstance(value, tuple):
            value = [
                v.__dict__ if isinstance(v, Silo) else v if isinstance(v, str) else str(v)
                for v in value
            ]
        elif not isinstance(value, int | float | str):
            value = str(value)
        out[key] = value
    plain: dict[str, Any] = json.loads(json.dumps(out))
    return plain
