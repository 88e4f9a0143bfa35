"""Configuration: the original's keys, case-insensitive, env overrides, clear errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from userpods.__main__ import main
from userpods.config import (
    ConfigError,
    build_settings,
    load_settings,
    parse_duration,
    warn_ignored_keys,
)
from userpods.daemon.manifest import whitelisted

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_config_loads(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.yaml", env={"BACKEND_PODCACHEDIR": str(tmp_path)})
    assert settings.namespace == "sciencedata-dev"
    assert settings.timeout_create == 90.0
    assert settings.default_restart_policy == "Never"
    assert settings.token_byte_limit == 4096
    assert settings.silo_hostname("10.0.0.20") == "silo7.sciencedata.dk"
    assert settings.whitelist_manifest_regex.match(
        "https://raw.githubusercontent.com/deic-dk/pod_manifests/main/x.yaml"
    )


def test_keys_are_case_insensitive_and_env_overrides(tmp_path: Path) -> None:
    settings = build_settings(
        {"TIMEOUTCREATE": "2m", "timeoutdelete": "5s", "PodCacheDir": str(tmp_path)},
        env={
            "BACKEND_TIMEOUTCREATE": "1h2m3.5s",
            "BACKEND_HOSTNAMELIST": '[{"hostname": "s", "address": "10.0.0.9"}]',
            "BACKEND_DISABLEDPLUGINS": "a, b",
        },
    )
    assert settings.timeout_create == 3723.5
    assert settings.timeout_delete == 5.0
    assert settings.silo_hostname("10.0.0.9") == "s"
    assert settings.disabled_plugins == ("a", "b")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("whitelistManifestRegex", "(unclosed", "regular expression"),
        ("defaultRestartPolicy", "Sometimes", "Always, OnFailure, Never"),
        ("testingHost", "not-an-ip", "not an IP address"),
        ("hostnameList", [{"hostname": "x", "address": "300.1.1.1"}], "not an IP address"),
        ("podSubnetCidr", "10.128.0.1/15", "CIDR"),
        ("timeoutCreate", "soon", "invalid duration"),
        ("timeoutDelete", "0s", "longer than zero"),
        ("podCacheDir", "/no/such/dir", "does not exist"),
        ("tokenByteLimit", "-1", "greater than zero"),
        ("namespace", "Not_Valid", "namespace"),
        ("noSuchKey", "x", "unknown configuration key"),
    ],
)
def test_bad_values_name_their_key(key: str, value: object, words: str, tmp_path: Path) -> None:
    values = {"podCacheDir": str(tmp_path), key: value}
    with pytest.raises(ConfigError) as info:
        build_settings(values, env={})
    assert info.value.key == key
    assert words in str(info.value) and str(info.value).startswith(f"{key}: ")


def test_env_values_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^timeoutCreate: "):
        build_settings({"podCacheDir": str(tmp_path)}, env={"BACKEND_TIMEOUTCREATE": "x"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1m30s", 90), ("1h2m3s", 3723), ("500ms", 0.5), ("2", 2), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad, env={})


def test_whitelist_is_anchored_at_the_start(tmp_path: Path) -> None:
    settings = build_settings(
        {"podCacheDir": str(tmp_path), "whitelistManifestRegex": re.escape("https://ok.test/")},
        env={},
    )
    pattern = settings.whitelist_manifest_regex
    assert whitelisted("https://ok.test/a.yaml", pattern)
    assert not whitelisted("https://evil.test/?https://ok.test/", pattern)


def test_the_originals_own_config_loads_as_it_shipped(tmp_path: Path) -> None:
    """The original's config.yaml as it shipped (whitelistmanifestregex, tokenbytelimit in
    lower case, testSshKey and testUser among them) loads unchanged and means the same."""
    original = ROOT / "tests" / "data" / "original-config.yaml"
    settings = load_settings(original, env={"BACKEND_PODCACHEDIR": str(tmp_path)})
    assert settings.test_user == "registeredtest7"
    assert settings.test_ssh_key.startswith("ssh-ed25519 ")
    assert settings.token_byte_limit == 4096
    assert settings.ignored_keys == ()


def test_keys_only_the_original_knew_are_accepted_and_named(tmp_path: Path) -> None:
    settings = build_settings(
        {
            "podCacheDir": str(tmp_path),
            "ingressIssuer": "user-pods-issuer",
            "PUBLICIP": "130.226.137.130",
            "tokendir": "/tmp/tokens",
            "mandatoryEnvVars": {"A": "b"},
            "ingressDomain": "pods.example",
        },
        env={"BACKEND_INGRESSURL": "https://x.example", "BACKEND_NOSUCHKEY": "ignored as ever"},
    )
    assert settings.ingress_domain == "pods.example"
    assert settings.ignored_keys == (
        "ingressIssuer",
        "PUBLICIP",
        "tokendir",
        "mandatoryEnvVars",
        "BACKEND_INGRESSURL",
    )


def test_the_ignored_keys_are_named_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = build_settings(
        {"podCacheDir": str(tmp_path), "ingressIssuer": "x", "restartPolicy": "Never"}, env={}
    )
    with caplog.at_level(logging.WARNING):
        warn_ignored_keys(settings)
        warn_ignored_keys(build_settings({"podCacheDir": str(tmp_path)}, env={}))
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "ingressIssuer, restartPolicy" in record.getMessage()


@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_default_restart_policy_means_the_default(
    tmp_path: Path, empty: str | None
) -> None:
    values = {"podCacheDir": str(tmp_path), "defaultRestartPolicy": empty}
    assert build_settings(values, env={}).default_restart_policy == "Never"
    from_env = build_settings(
        {"podCacheDir": str(tmp_path)}, env={"BACKEND_DEFAULTRESTARTPOLICY": ""}
    )
    assert from_env.default_restart_policy == "Never"
    always = build_settings({"podCacheDir": str(tmp_path), "defaultRestartPolicy": "Always"}, {})
    assert always.default_restart_policy == "Always"


def test_a_truly_unknown_key_still_stops_start_up_naming_it(tmp_path: Path) -> None:
    values = {"podCacheDir": str(tmp_path), "ingressIssuer": "x", "ingressIsuer": "typo"}
    with pytest.raises(ConfigError) as info:
        build_settings(values, env={})
    assert info.value.key == "ingressIsuer"
    assert str(info.value).startswith("ingressIsuer: unknown configuration key")


def test_serve_refuses_an_unknown_key_with_a_message_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"podCacheDir: {tmp_path}\ningressIssuer: x\nnoSuchKey: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["serve", "--config", str(config)])
    assert str(info.value).startswith("userpods serve: configuration: noSuchKey: unknown")
