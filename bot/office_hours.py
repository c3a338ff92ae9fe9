"""When counsellors are at work: office hours in the service's time zone, minus French public holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import get_day_names

from bot.appointments import is_public_holiday

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OfficeHours:
    """Open on some weekdays between two wall-clock times, closed on public holidays."""

    days: frozenset[int] = frozenset(range(5))  # Monday=0 .. Friday=4
    opens: time = time(9, 0)
    closes: time = time(17, 30)
    tz: str = "Europe/Paris"

    def _holiday(self, day: date) -> bool:
        return is_public_holiday(day)

    def _working(self, day: date) -> bool:
        return day.weekday() in self.days and not self._holiday(day)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.tz))
        return self._working(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, now: datetime) -> datetime:
        """The next moment the office opens (now itself when open), as aware UTC."""
        if self.is_open(now):
            return now
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        day = local.date()
        if local.time() >= self.opens:
            day += timedelta(days=1)
        for _ in range(60):
            if self._working(day):
                return datetime.combine(day, self.opens, tzinfo=zone).astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("no working day in the next 60 days: check the office hours")

    def describe(self, lang: str) -> str:
        """E.g. 'lundi–vendredi 9:00–17:30', in the resident's language."""
        names = get_day_names("wide", locale=Locale.parse(lang))
        days = sorted(self.days)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            span = f"{names[days[0]]}–{names[days[-1]]}"
        else:
            span = ", ".join(names[d] for d in days)
        return f"{span} {self.opens:%H:%M}–{self.closes:%H:%M}"


def parse(days: str, opens: str, closes: str, tz: str) -> OfficeHours:
    """From settings: days 'mon,tue,...' or 'mon-fri', times 'HH:MM'."""
    chosen: set[int] = set()
    for part in days.lower().replace(" ", "").split(","):
        if "-" in part:
            first, last = (DAYS.index(p) for p in part.split("-"))
            chosen.update(range(first, last + 1))
        elif part:
            chosen.add(DAYS.index(part))
    return OfficeHours(frozenset(chosen), time.fromisoformat(opens), time.fromisoformat(closes), tz)


def configured() -> OfficeHours:
    """The office hours the operator set (OFFICE_DAYS, OFFICE_OPENS, OFFICE_CLOSES, TIMEZONE)."""
    from bot.settings import get_settings

    s = get_settings()
    return parse(s.office_days, s.office_opens, s.office_closes, s.timezone)
