"""The catalogue's ``usage:`` phases and how the metrics API writes its figures.

Parsing is strict (each bad entry is named); figures are written as Go's ``Quantity`` writes
them (metrics-server's CPU in nanocores DecimalSI, memory in BinarySI), checked against the
examples apimachinery gives and, with hypothesis, read back by the project's own quantity
parser (``userpods.quotas``, which the daemon uses) to the same number.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from userpods.quotas import parse_quantity
from userpods.sim.images import (
    DEFAULT_USAGE,
    Catalogue,
    CatalogueError,
    Usage,
    parse_catalogue,
)
from userpods.sim.metrics import _measured, format_cpu, format_memory

MI = 2**20


def test_phases_parse_and_follow_each_other() -> None:
    (image,) = parse_catalogue(
        """
- match: "*phased*"
  usage:
    - {cpu: 500m, memory: 120Mi, for: 5}
    - {cpu: "0.25", memory: 1Gi, for: 0.5}
    - {cpu: 1m}
""",
        "mine.yaml",
    )
    assert image.usage == (
        Usage(500_000_000, 120 * MI, 5.0),
        Usage(250_000_000, 2**30, 0.5),
        Usage(1_000_000, 16 * MI, None),  # memory left out: the default
    )
    assert image.usage_at(0).cpu == 500_000_000
    assert image.usage_at(4.999).cpu == 500_000_000
    assert image.usage_at(5.0).cpu == 250_000_000
    assert image.usage_at(5.49).memory == 2**30
    assert image.usage_at(5.5).cpu == 1_000_000
    assert image.usage_at(10**6).cpu == 1_000_000


def test_one_mapping_is_one_phase_and_numbers_are_cores_and_bytes() -> None:
    (image,) = parse_catalogue("- {match: a, usage: {cpu: 2, memory: 1000}}", "m.yaml")
    assert image.usage == (Usage(2 * 10**9, 1000, None),)
    (tiny,) = parse_catalogue("- {match: a, usage: {cpu: 0.0000000001, memory: 0}}", "m.yaml")
    assert tiny.usage == (Usage(1, 0, None),)  # rounded up to a nanocore, as Go rounds


def test_default_usage_is_small_and_constant() -> None:
    image = Catalogue().lookup("registry.example/unknown:1")
    assert image.usage == DEFAULT_USAGE == (Usage(2_000_000, 16 * MI, None),)
    assert image.usage_at(10**9) == DEFAULT_USAGE[0]


def test_builtin_usage_images_and_existing_images_keep_their_behaviour() -> None:
    catalogue = Catalogue()
    phased = catalogue.lookup("example/busy-then-idle:1")
    assert phased.usage_at(0) == Usage(500_000_000, 120 * MI, 5.0)
    assert phased.usage_at(5) == Usage(1_000_000, 40 * MI, None)
    assert catalogue.lookup("example/cpu-busy:1").usage == (Usage(800_000_000, 200 * MI),)
    assert catalogue.lookup("example/cpu-idle:1").usage == (Usage(1_000_000, 40 * MI),)
    # Images the tests and manifests use match what they matched before, with default usage.
    for image, match in [
        ("busybox", "*"),  # no entry: the default
        ("x/test_fail_start", "*test_fail_start*"),
        ("quay.io/jupyter/base-notebook:1", "*jupyter*"),
        ("sciencedata/ubuntu_sciencedata:1", "*ubuntu*"),
        ("x/python_worker:1", "*worker*"),
        ("x/crashloop:1", "*crashloop*"),
    ]:
        found = catalogue.lookup(image)
        assert found.match == match, image
        assert found.usage == DEFAULT_USAGE, image


@pytest.mark.parametrize(
    ("usage", "problem"),
    [
        ("5", "usage must be a list of phases {cpu, memory, for}, or one phase"),
        ("[]", "usage must be a list of phases"),
        ("[5]", "usage[0]: each phase must be a mapping"),
        ("[{cpu: 1m, gpu: 1}]", "usage[0]: unknown keys ['gpu']"),
        (
            "[{cpu: lots}]",
            "usage[0]: cpu must be a quantity >= 0 (e.g. 500m, 2, 120Mi), not 'lots'",
        ),
        ("[{cpu: -1}]", "usage[0]: cpu must be a quantity >= 0"),
        ("[{cpu: 1m, memory: 12MB}]", "usage[0]: memory must be a quantity >= 0"),
        ("[{memory: true}]", "usage[0]: memory must be a quantity >= 0"),
        ("[{memory: .inf}]", "usage[0]: memory must be a quantity >= 0"),
        ("[{cpu: null}]", "usage[0]: cpu must be a quantity >= 0"),
        ("[{cpu: 1m}, {cpu: 2m}]", "usage[0]: every phase but the last needs for (seconds)"),
        ("[{cpu: 1m, for: 2}]", "usage[0]: the last phase lasts until the container ends"),
        ("[{cpu: 1m, for: 0}, {cpu: 2m}]", "usage[0]: for must be a number of seconds > 0"),
        ("[{cpu: 1m, for: soon}, {cpu: 2m}]", "usage[0]: for must be a number of seconds > 0"),
        ("[{cpu: 1m, for: .inf}, {cpu: 2m}]", "usage[0]: for must be a number of seconds > 0"),
        ("[{cpu: 1m, for: 1}, {cpu: x}]", "usage[1]: cpu must be a quantity"),
    ],
)
def test_each_bad_usage_is_named(usage: str, problem: str) -> None:
    text = f"- {{match: ok}}\n- {{match: bad, usage: {usage}}}\n"
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, "mine.yaml")
    assert str(info.value).startswith("mine.yaml entry 2: "), str(info.value)
    assert problem in str(info.value)


# ----------------------------------------------------------------------------- figures


@pytest.mark.parametrize(
    ("nanocores", "text"),
    [
        (0, "0"),
        (1, "1n"),
        (1234567, "1234567n"),
        (1000, "1u"),
        (10_000, "10u"),
        (500_000_000, "500m"),
        (1_500_000_000, "1500m"),
        (2_000_000_000, "2"),
        (20_000_000_000, "20"),
        (3_000_000_000_000, "3k"),
        (120_000_100, "120000100n"),
    ],
)
def test_cpu_is_written_as_go_writes_a_decimal_si_quantity(nanocores: int, text: str) -> None:
    assert format_cpu(nanocores) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (512, "512"),
        (1000, "1k"),  # under 1024 Go falls back to DecimalSI
        (1023, "1023"),
        (1024, "1Ki"),
        (1536, "1536"),
        (1_000_000, "1000000"),
        (40 * MI, "40Mi"),
        (40 * MI + 4096, "40964Ki"),
        (3 * 2**30, "3Gi"),
    ],
)
def test_memory_is_written_as_go_writes_a_binary_si_quantity(size: int, text: str) -> None:
    assert format_memory(size) == text


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_cpu_reads_back_to_the_same_number(nanocores: int) -> None:
    text = format_cpu(nanocores)
    assert parse_quantity(text) == Decimal(nanocores).scaleb(-9)
    # Canonical: no suffix could take three more zeros (but E, the largest).
    match = re.fullmatch(r"(0|[1-9][0-9]*)([numkMGTPE]?)", text)
    assert match is not None, text
    assert match[2] == "E" or not match[1].endswith("000")


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_memory_reads_back_to_the_same_number(size: int) -> None:
    text = format_memory(size)
    assert parse_quantity(text) == size
    match = re.fullmatch(r"(0|[1-9][0-9]*)(Ki|Mi|Gi|Ti|Pi|Ei|k|)", text)
    assert match is not None, text
    if match[2] not in ("k", "Ei"):
        assert int(match[1]) % 1024 != 0 or int(match[1]) < 1024


@given(
    st.text(min_size=1, max_size=40),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=2**40),
)
def test_offsets_keep_what_kubectl_top_shows(key: str, cpu: int, memory: int) -> None:
    """Less than a microcore less, under 64 KiB more: rounded up to millicores and down to
    MiB (as ``kubectl top`` rounds) the catalogue's whole figures come out unchanged."""
    measured_cpu, measured_memory = _measured(key, cpu, memory)
    assert _measured(key, cpu, memory) == (measured_cpu, measured_memory)  # deterministic
    assert 0 <= cpu - measured_cpu < 1000 and measured_cpu >= 0
    assert 0 <= measured_memory - memory < 64 * 1024
    if cpu % 10**6 == 0 and cpu:
        assert -(-measured_cpu // 10**6) == cpu // 10**6
    if memory % MI == 0:
        assert measured_memory // MI == memory // MI
    assert (measured_cpu == 0) == (cpu == 0) and (measured_memory == 0) == (memory == 0)
