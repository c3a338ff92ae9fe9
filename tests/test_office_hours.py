"""Office hours: weekdays 9:00-17:30 in Paris, never on French public holidays."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.office_hours import OfficeHours, parse

HOURS = OfficeHours()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_on_a_weekday_morning_in_paris() -> None:
    assert HOURS.is_open(utc(2026, 12, 1, 8, 0))  # Tuesday 9:00 Paris
    assert not HOURS.is_open(utc(2026, 12, 1, 7, 59))
    assert not HOURS.is_open(utc(2026, 12, 1, 16, 30))  # 17:30 Paris: closed


def test_next_opening_skips_weekends_and_holidays() -> None:
    assert HOURS.next_opening(utc(2026, 12, 5, 10, 0)) == utc(2026, 12, 7, 8, 0)  # Saturday -> Monday
    assert HOURS.next_opening(utc(2026, 12, 24, 17, 0)) == utc(2026, 12, 28, 8, 0)  # Christmas Friday
    assert HOURS.next_opening(utc(2026, 7, 13, 18, 0)) == utc(2026, 7, 15, 7, 0)  # 14 July, summer time
    assert HOURS.next_opening(utc(2026, 12, 1, 6, 0)) == utc(2026, 12, 1, 8, 0)  # same morning


def test_configurable_and_described_in_each_language() -> None:
    hours = parse("mon-thu", "08:30", "16:00", "Europe/Paris")
    assert hours.days == frozenset({0, 1, 2, 3})
    assert not hours.is_open(utc(2026, 12, 4, 9, 0))  # a Friday
    assert HOURS.describe("fr") == "lundi–vendredi 09:00–17:30"
    assert HOURS.describe("en") == "Monday–Friday 09:00–17:30"
