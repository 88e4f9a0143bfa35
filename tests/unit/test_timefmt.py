"""kubectl's AGE column (duration.HumanDuration) and the timestamp formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from userpods.sim.timefmt import (
    age,
    human_duration,
    parse,
    rfc3339,
    rfc3339_nano,
)

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
YEAR = 365 * DAY


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),  # up to two seconds of clock skew count as now
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (1, "1s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (9 * MINUTE + 59, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + 59, "10m"),
        (179 * MINUTE, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 20 * MINUTE, "3h20m"),
        (3 * HOUR + 20 * MINUTE + 59, "3h20m"),
        (7 * HOUR + 59 * MINUTE, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 30 * MINUTE, "8h"),
        (47 * HOUR, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (7 * DAY + 23 * HOUR, "7d23h"),
        (8 * DAY, "8d"),
        (8 * DAY + 5 * HOUR, "8d"),
        (364 * DAY, "364d"),
        (2 * YEAR - DAY, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 30 * DAY, "2y30d"),
        (7 * YEAR + 364 * DAY, "7y364d"),
        (8 * YEAR, "8y"),
        (8 * YEAR + 100 * DAY, "8y"),
        (20 * YEAR, "20y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def test_timestamp_formats() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert rfc3339(moment) == "2026-01-02T03:04:05Z"
    assert rfc3339_nano(moment) == "2026-01-02T03:04:05.678901000Z"
    assert parse("2026-01-02T03:04:05Z") == moment.replace(microsecond=0)
    assert parse("2026-01-02T03:04:05.678901Z") == moment


def test_age() -> None:
    assert age(None) == "<unknown>"
    assert age("") == "<unknown>"
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10, seconds=30)
    assert age(rfc3339(ten_minutes_ago)) == "10m"
