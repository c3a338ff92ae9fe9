"""Booking, the pure side: intents, the facts hooks read, reminder times, quiet hours and the .ics file.

Nothing here touches the database; `bot/booking_store.py` is the database side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

KINDS = ("info_session", "interview", "job_dating")
SHOWN_SLOTS = 5
MIN_LEAD = timedelta(minutes=30)  # like RDV Service Public: not later than 30 minutes before
MAX_AHEAD = timedelta(days=92)  # and not more than about 3 months ahead
CANCEL_LIMIT = timedelta(hours=2)  # later than this, the resident is offered a counsellor
DAY_BEFORE_AT = time(10, 0)
TWO_HOURS = timedelta(hours=2)
QUIET_FROM, QUIET_UNTIL = time(20, 0), time(9, 0)
TZ = "Europe/Paris"


# Intents (carried out by bot/booking_store.py in the turn's transaction) ----------------------


@dataclass(frozen=True)
class BookSeat:
    """Take a seat at a slot; `replaces` is the booking a reschedule gives back in the same transaction."""

    slot_id: int
    kind: str
    replaces: int | None = None


@dataclass(frozen=True)
class CancelBooking:
    """Give a seat back (the resident cancelled, or said "I can't come" to a reminder)."""

    booking_id: int


@dataclass(frozen=True)
class ConfirmBooking:
    """The resident answered "I'm coming" to a reminder."""

    booking_id: int


@dataclass(frozen=True)
class SendCalendar:
    """Attach the appointment as an .ics file where the channel can carry one (Telegram)."""

    slot_id: int


@dataclass(frozen=True)
class JoinWaitlist:
    """Wait for a seat at a full slot."""

    slot_id: int


class SeatTaken(Exception):  # noqa: N818 - a business outcome, not a bug
    """The slot filled between the engine's facts and the insert; the turn is replayed on fresh facts."""


# Facts (read-only data the orchestrator looks up before a turn) ------------------------------


@dataclass(frozen=True)
class SlotView:
    """A slot as a resident may see it."""

    id: int
    kind: str
    starts_at: datetime
    duration_minutes: int
    place: str
    seats_left: int
    employers: str | None = None


@dataclass(frozen=True)
class BookingView:
    """One of the resident's upcoming bookings."""

    id: int
    slot_id: int
    kind: str
    starts_at: datetime
    place: str


@dataclass(frozen=True)
class BookingFacts:
    """Upcoming open slots (all kinds) and the resident's upcoming bookings."""

    slots: tuple[SlotView, ...] = ()
    bookings: tuple[BookingView, ...] = ()
    waiting: tuple[int, ...] = field(default=())  # slot ids the resident waits for

    def slot(self, slot_id: Any) -> SlotView | None:
        return next((s for s in self.slots if str(s.id) == str(slot_id)), None)

    def booking(self, booking_id: Any) -> BookingView | None:
        return next((b for b in self.bookings if str(b.id) == str(booking_id)), None)

    def bookable(self, kind: str, now: datetime, exclude: set[int] | None = None) -> list[SlotView]:
        """The next free slots of a kind, soonest first."""
        exclude = exclude or set()
        return [
            s
            for s in sorted(self.slots, key=lambda s: (s.starts_at, s.id))
            if s.kind == kind
            and s.seats_left > 0
            and s.id not in exclude
            and now + MIN_LEAD <= s.starts_at <= now + MAX_AHEAD
        ][:SHOWN_SLOTS]

    def full(self, kind: str, now: datetime) -> list[SlotView]:
        """Upcoming full slots of a kind (a waitlist can be joined)."""
        return [
            s
            for s in sorted(self.slots, key=lambda s: (s.starts_at, s.id))
            if s.kind == kind and s.seats_left <= 0 and s.starts_at >= now + MIN_LEAD
        ]


# Quiet hours --------------------------------------------------------------------------------


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.France(years=year)


def is_public_holiday(day: date) -> bool:
    """A French public holiday: no automated message, no counsellor at the office."""
    return day in _holidays(day.year)


def is_quiet(moment: datetime, tz: str = TZ) -> bool:
    """20:00-09:00 Paris time, Sundays and French public holidays: no automated message."""
    local = moment.astimezone(ZoneInfo(tz))
    if local.time() >= QUIET_FROM or local.time() < QUIET_UNTIL:
        return True
    return local.weekday() == 6 or is_public_holiday(local.date())


def _at(day: date, at: time, tz: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def next_allowed(moment: datetime, tz: str = TZ) -> datetime:
    """The first moment at or after this one when an automated message may go out."""
    current = moment
    for _ in range(14):
        if not is_quiet(current, tz):
            return current
        local = current.astimezone(ZoneInfo(tz))
        day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
        current = _at(day, QUIET_UNTIL, tz)
    return current


# Reminders ----------------------------------------------------------------------------------


def reminder_times(starts_at: datetime, booked_at: datetime, tz: str = TZ) -> list[tuple[str, datetime]]:
    """(kind, due) of a booking's reminders: the day before at 10:00 and 2 hours before.

    The day-before reminder is skipped for a booking made less than 24 hours ahead; when the
    day before is a Sunday or a public holiday, it moves to the last working day before.
    """
    out: list[tuple[str, datetime]] = []
    local_day = starts_at.astimezone(ZoneInfo(tz)).date()
    day_before = _at(local_day - timedelta(days=1), DAY_BEFORE_AT, tz)
    for _ in range(4):
        if not is_quiet(day_before, tz):
            break
        day_before = _at(day_before.astimezone(ZoneInfo(tz)).date() - timedelta(days=1), DAY_BEFORE_AT, tz)
    if starts_at - booked_at >= timedelta(hours=24) and day_before > booked_at:
        out.append(("reminder_day", day_before))
    if starts_at - TWO_HOURS > booked_at:
        out.append(("reminder_2h", starts_at - TWO_HOURS))
    return out


def timer_verdict(
    kind: str, now: datetime, starts_at: datetime | None, still_booked: bool, tz: str = TZ
) -> tuple[str, datetime | None]:
    """What to do with a due timer: ("fire", None), ("drop", None) or ("wait", until).

    Reminders fired late (after downtime) still go out while useful; once the appointment
    has passed, or the booking is gone, they are dropped. The day-before reminder is dropped
    once the 2-hour one is due. Quiet hours hold every message back, except the 2-hour reminder
    of an appointment that itself falls in quiet hours, and the news of a cancelled slot that
    starts less than 2 hours after quiet hours end. A waitlist offer for a slot about to
    start is dropped.
    """
    if kind == "waitlist_offer" and starts_at is not None and now >= starts_at - MIN_LEAD:
        return "drop", None  # the freed seat can no longer be booked
    if kind == "slot_cancelled" and starts_at is not None and is_quiet(now, tz):
        if starts_at <= next_allowed(now, tz) + TWO_HOURS:
            return "fire", None  # told now, or the resident would set off for nothing
    if kind.startswith("reminder"):
        if not still_booked or starts_at is None or now >= starts_at:
            return "drop", None
        if kind == "reminder_day" and now >= starts_at - TWO_HOURS:
            return "drop", None
        if kind == "reminder_2h" and is_quiet(starts_at, tz):
            return "fire", None
    if is_quiet(now, tz):
        until = next_allowed(now, tz)
        if kind.startswith("reminder") and starts_at is not None and until >= starts_at:
            return "drop", None
        return "wait", until
    return "fire", None


# Calendar file ------------------------------------------------------------------------------


def ics(slot: SlotView, title: str, uid: str, now: datetime) -> str:
    """The appointment as an iCalendar file (RFC 5545), built with icalendar."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Batissons nos emplois//batissons//FR")
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", slot.starts_at.astimezone(UTC))
    event.add("dtend", (slot.starts_at + timedelta(minutes=slot.duration_minutes)).astimezone(UTC))
    event.add("summary", title)
    event.add("location", slot.place)
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")
