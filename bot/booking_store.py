"""Booking, the database side: facts for the engine, the intents' appliers, seats, timers.

Capacity is the database's job: a held seat has a number 1..capacity and (slot_id, seat) is
unique, so two transactions can never hold the same seat, whatever the code above does. Writers
also serialise per slot (BEGIN IMMEDIATE on SQLite, SELECT ... FOR UPDATE on the slot row on
PostgreSQL), so the seat number is simply the lowest free one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.appointments import (
    MAX_AHEAD,
    BookingFacts,
    BookingView,
    BookSeat,
    CancelBooking,
    ConfirmBooking,
    JoinWaitlist,
    SeatTaken,
    SendCalendar,
    SlotView,
    ics,
    next_allowed,
    reminder_times,
)
from bot.effects import FACTS, EffectContext, applies
from bot.i18n import translate
from bot.store.models import Booking, ChannelIdentity, Outbox, Slot, Timer, WaitlistEntry

log = logging.getLogger(__name__)
CALENDAR_CAPTION = "Your appointment, to add to your calendar."  # a text of flows/booking.yaml
HELD = "booked"
REMINDERS = ("reminder_day", "reminder_2h")


# Facts --------------------------------------------------------------------------------------


def booking_facts(ctx: EffectContext) -> BookingFacts:
    """Open upcoming slots with seats left, and the resident's upcoming bookings."""
    session, now = ctx.session, ctx.now
    held = (
        select(Booking.slot_id, func.count().label("n"))
        .where(Booking.status == HELD)
        .group_by(Booking.slot_id)
        .subquery()
    )
    rows = session.execute(
        select(Slot, func.coalesce(held.c.n, 0))
        .outerjoin(held, held.c.slot_id == Slot.id)
        .where(Slot.status == "open", Slot.starts_at > now, Slot.starts_at <= now + MAX_AHEAD)
        .order_by(Slot.starts_at, Slot.id)
        .limit(400)
    ).all()
    slots = tuple(_slot_view(slot, slot.capacity - int(n)) for slot, n in rows)
    bookings = tuple(
        BookingView(b.id or 0, s.id or 0, b.kind, s.starts_at, s.place)
        for b, s in session.execute(
            select(Booking, Slot)
            .join(Slot, Slot.id == Booking.slot_id)
            .where(Booking.resident_id == ctx.resident.id, Booking.status == HELD, Slot.starts_at > now)
            .order_by(Slot.starts_at)
        ).all()
    )
    waiting = tuple(
        session.scalars(
            select(WaitlistEntry.slot_id).where(
                WaitlistEntry.resident_id == ctx.resident.id, WaitlistEntry.status == "waiting"
            )
        ).all()
    )
    return BookingFacts(slots, bookings, waiting)


FACTS.append(booking_facts)


def _slot_view(slot: Slot, seats_left: int) -> SlotView:
    return SlotView(
        slot.id or 0, slot.kind, slot.starts_at, slot.duration_minutes, slot.place, seats_left, slot.employers
    )


# Seats --------------------------------------------------------------------------------------


def lock_slot(session: Session, slot_id: int) -> Slot | None:
    """The slot, locked against other bookers until commit (PostgreSQL; SQLite's write lock already is)."""
    query = select(Slot).where(Slot.id == slot_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).first()


def seats_held(session: Session, slot_id: int) -> list[int]:
    return [
        int(s)
        for s in session.scalars(
            select(Booking.seat).where(Booking.slot_id == slot_id, Booking.seat.is_not(None))
        ).all()
    ]


def take_seat(session: Session, slot_id: int, resident_id: int, kind: str, now: datetime) -> Booking:
    """Hold the lowest free seat, or raise SeatTaken. The unique (slot_id, seat) index is the last word."""
    slot = lock_slot(session, slot_id)
    if slot is None or slot.status != "open" or slot.starts_at <= now:
        raise SeatTaken(slot_id)
    taken = set(seats_held(session, slot_id))
    free = next((n for n in range(1, slot.capacity + 1) if n not in taken), None)
    if free is None:
        raise SeatTaken(slot_id)
    booking = Booking(
        slot_id=slot_id, resident_id=resident_id, kind=kind, seat=free, created_at=now, updated_at=now
    )
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        raise SeatTaken(slot_id) from exc
    for timer_kind, due in reminder_times(slot.starts_at, now):
        schedule(
            session, f"{timer_kind}:{booking.id}", resident_id, timer_kind, due, {"booking_id": booking.id}
        )
    session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.resident_id == resident_id, WaitlistEntry.slot_id == slot_id)
        .values(status="booked")
    )
    return booking


def release(session: Session, booking: Booking, status: str, now: datetime) -> None:
    """Give a seat back: the booking keeps its history, its reminders are cancelled, a waiter is told."""
    if booking.status != HELD:
        return
    booking.status, booking.seat, booking.updated_at = status, None, now
    session.add(booking)
    session.execute(
        update(Timer)
        .where(Timer.key.in_([f"{k}:{booking.id}" for k in REMINDERS]), Timer.fired_at.is_(None))
        .values(fired_at=now, outcome="cancelled")
    )
    session.flush()
    if status == "cancelled_by_resident":
        offer_to_waitlist(session, booking.slot_id, now)


def schedule(
    session: Session, key: str, resident_id: int, kind: str, due: datetime, payload: dict[str, object]
) -> None:
    """Add a timer unless one with the same key exists (timers are idempotent by key)."""
    if session.scalars(select(Timer.id).where(Timer.key == key)).first() is not None:
        return
    session.add(Timer(key=key, resident_id=resident_id, kind=kind, due_at=due, payload=payload))
    session.flush()


# Appliers -----------------------------------------------------------------------------------


@applies(BookSeat)
def _book(ctx: EffectContext, intent: BookSeat) -> None:
    assert ctx.resident.id is not None
    if intent.replaces is not None:
        old = ctx.session.get(Booking, intent.replaces)
        if old is not None and old.resident_id == ctx.resident.id:
            release(ctx.session, old, "cancelled_by_resident", ctx.now)
    take_seat(ctx.session, intent.slot_id, ctx.resident.id, intent.kind, ctx.now)


@applies(CancelBooking)
def _cancel(ctx: EffectContext, intent: CancelBooking) -> None:
    booking = ctx.session.get(Booking, intent.booking_id)
    if booking is not None and booking.resident_id == ctx.resident.id:
        release(ctx.session, booking, "cancelled_by_resident", ctx.now)


@applies(ConfirmBooking)
def _confirm(ctx: EffectContext, intent: ConfirmBooking) -> None:
    booking = ctx.session.get(Booking, intent.booking_id)
    if booking is not None and booking.resident_id == ctx.resident.id:
        booking.confirmed_at = ctx.now
        ctx.session.add(booking)


@applies(JoinWaitlist)
def _wait(ctx: EffectContext, intent: JoinWaitlist) -> None:
    exists = ctx.session.scalars(
        select(WaitlistEntry).where(
            WaitlistEntry.slot_id == intent.slot_id, WaitlistEntry.resident_id == ctx.resident.id
        )
    ).first()
    if exists is None:
        assert ctx.resident.id is not None
        ctx.session.add(
            WaitlistEntry(slot_id=intent.slot_id, resident_id=ctx.resident.id, created_at=ctx.now)
        )
    elif exists.status != "waiting":
        exists.status = "waiting"
        ctx.session.add(exists)


@applies(SendCalendar)
def _calendar(ctx: EffectContext, intent: SendCalendar) -> None:
    """On Telegram, the confirmation comes with an .ics file (stored on the outbox row)."""
    if ctx.channel != "telegram":
        return
    slot = ctx.session.get(Slot, intent.slot_id)
    identity = ctx.session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.resident_id == ctx.resident.id, ChannelIdentity.channel == ctx.channel)
        .order_by(ChannelIdentity.id.desc())
    ).first()
    if slot is None or identity is None:
        return
    content = ics(
        _slot_view(slot, 0), "Bâtissons nos emplois", f"slot-{slot.id}-r{ctx.resident.id}@batissons", ctx.now
    )
    ctx.session.add(
        Outbox(
            resident_id=ctx.resident.id,
            channel=ctx.channel,
            address=identity.address,
            lang=ctx.resident.language,
            kind="calendar",
            body=translate(CALENDAR_CAPTION, ctx.resident.language),
            attachment={"filename": "rendez-vous.ics", "mime": "text/calendar", "content": content},
            created_at=ctx.now,
            next_attempt_at=ctx.now,
        )
    )


# The service's side (counsellor API) ---------------------------------------------------------


def cancel_slot(session: Session, slot: Slot, now: datetime) -> int:
    """The service cancels a slot: each booked resident is told (a timer due now) and offered another."""
    slot.status = "cancelled"
    session.add(slot)
    told = 0
    for booking in session.scalars(
        select(Booking).where(Booking.slot_id == slot.id, Booking.status == HELD)
    ).all():
        release(session, booking, "cancelled_by_service", now)
        payload = {"booking_id": booking.id, "kind": slot.kind, "starts_at": slot.starts_at.isoformat()}
        schedule(session, f"slot_cancelled:{booking.id}", booking.resident_id, "slot_cancelled", now, payload)
        told += 1
    session.execute(update(WaitlistEntry).where(WaitlistEntry.slot_id == slot.id).values(status="gone"))
    return told


def mark_attendance(session: Session, booking: Booking, status: str, now: datetime) -> None:
    """Attended or no-show; a no-show gets a kind offer of a new slot the next morning."""
    slot = session.get(Slot, booking.slot_id)
    booking.status, booking.seat, booking.updated_at = status, None, now
    session.add(booking)
    if status == "attended":
        session.execute(
            update(Timer)
            .where(Timer.key == f"no_show:{booking.id}", Timer.fired_at.is_(None))
            .values(fired_at=now, outcome="cancelled")
        )
    if status == "no_show":  # a risk of a break in the pathway: the counsellor queue hears of it
        from bot.pathway_store import raise_alert

        detail = {"booking_id": booking.id, "kind": booking.kind}
        raise_alert(session, booking.resident_id, "no_show", f"no_show:{booking.id}", now, detail)
    if status == "no_show" and slot is not None:
        from zoneinfo import ZoneInfo

        from bot.appointments import TZ

        local = slot.starts_at.astimezone(ZoneInfo(TZ))
        morning = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(TZ))
        due = next_allowed(max(morning, now))
        payload = {"booking_id": booking.id, "kind": booking.kind, "starts_at": slot.starts_at.isoformat()}
        schedule(session, f"no_show:{booking.id}", booking.resident_id, "no_show", due, payload)


def offer_to_waitlist(session: Session, slot_id: int, now: datetime) -> None:
    """A seat freed up: the first waiting resident not offered anything today is offered it."""
    slot = session.get(Slot, slot_id)
    if slot is None or slot.status != "open" or slot.starts_at <= now:
        return
    day = now.date().isoformat()
    for entry in session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.slot_id == slot_id, WaitlistEntry.status == "waiting")
        .order_by(WaitlistEntry.id)
    ).all():
        already_today = session.scalars(
            select(Timer.id).where(
                Timer.resident_id == entry.resident_id,
                Timer.kind == "waitlist_offer",
                Timer.key.like(f"%:{day}"),
            )
        ).first()
        if already_today is not None:
            continue
        entry.last_offer_at = now
        session.add(entry)
        payload = {"slot_id": slot_id, "kind": slot.kind, "starts_at": slot.starts_at.isoformat()}
        schedule(
            session, f"waitlist_offer:{entry.id}:{day}", entry.resident_id, "waitlist_offer", now, payload
        )
        return


# Demo data ----------------------------------------------------------------------------------

DEMO_EMAIL = "demo@batissons.fr"
DEMO_PASSWORD = "batissons-demo"  # noqa: S105 - printed on purpose by `serve --demo`
DEMO_PLACE = "Maison de l'emploi, 12 rue de la République, 93200 Saint-Denis"


def seed_demo(session: Session, now: datetime, weeks: int = 3) -> int:
    """A demo counsellor and the slots of the coming weeks (idempotent); returns how many slots were added."""
    from zoneinfo import ZoneInfo

    from bot.accounts import create_counsellor
    from bot.appointments import TZ
    from bot.store.models import Counsellor

    counsellor = session.scalars(select(Counsellor).where(Counsellor.email == DEMO_EMAIL)).first()
    if counsellor is None:
        counsellor = create_counsellor(session, DEMO_EMAIL, DEMO_PASSWORD, name="Démo", admin=True)
    elif session.scalars(
        select(Slot.id).where(Slot.counsellor_id == counsellor.id, Slot.starts_at > now)
    ).first():
        return 0
    zone = ZoneInfo(TZ)
    today = now.astimezone(zone).date()
    plan: list[tuple[int, int, int, str, int, int, str | None]] = [
        # weekday, hour, minute, kind, minutes, capacity, employers
        (1, 10, 0, "info_session", 90, 12, None),
        (3, 10, 0, "info_session", 90, 12, None),
        (0, 14, 0, "interview", 45, 1, None),
        (2, 14, 0, "interview", 45, 1, None),
        (2, 15, 0, "interview", 45, 1, None),
        (4, 9, 30, "job_dating", 180, 30, "Bouygues Bâtiment, Eiffage, GEIQ BTP 93"),
    ]
    added = 0
    for offset in range(1, 7 * weeks + 1):
        day = today + timedelta(days=offset)
        for weekday, hour, minute, kind, minutes, capacity, employers in plan:
            if day.weekday() != weekday or (kind == "job_dating" and offset <= 7):
                continue
            starts = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            place = "phone" if kind == "interview" and hour == 15 else DEMO_PLACE
            session.add(
                Slot(
                    kind=kind,
                    starts_at=starts,
                    duration_minutes=minutes,
                    capacity=capacity,
                    place=place,
                    employers=employers,
                    counsellor_id=counsellor.id,
                    created_at=now,
                )
            )
            added += 1
    session.flush()
    return added
