"""Reminders are timer rows fired through the orchestrator: timing, quiet hours, DST, restarts, opt-out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.appointments import is_quiet, next_allowed, reminder_times, timer_verdict
from bot.assistant import conversation_engine
from bot.orchestrator import Orchestrator
from bot.outbox import Dispatcher
from bot.runner import Runner
from tests.booking_kit import add_slot, book_first, bookings, last_id, outbox, paris, say, sign_up, timers
from tests.conftest import Clock

pytestmark = pytest.mark.db


def fire_at(orchestrator: Orchestrator, clock: Clock, moment: object) -> int:
    clock.now = moment  # type: ignore[assignment]
    return orchestrator.fire_due_timers()


# Pure timing rules ----------------------------------------------------------------------------


def test_the_day_before_at_ten_and_two_hours_before() -> None:
    times = reminder_times(paris(2026, 12, 3, 14), booked_at=paris(2026, 12, 1, 10))
    assert times == [("reminder_day", paris(2026, 12, 2, 10)), ("reminder_2h", paris(2026, 12, 3, 12))]


def test_no_day_before_reminder_for_a_booking_made_less_than_24_hours_ahead() -> None:
    times = reminder_times(paris(2026, 12, 2, 14), booked_at=paris(2026, 12, 1, 15))
    assert times == [("reminder_2h", paris(2026, 12, 2, 12))]


def test_the_day_before_a_monday_is_saturday_and_a_holiday_is_skipped() -> None:
    monday = reminder_times(paris(2026, 12, 7, 14), booked_at=paris(2026, 12, 1, 10))
    assert monday[0] == ("reminder_day", paris(2026, 12, 5, 10))  # not Sunday 6
    after_christmas = reminder_times(paris(2026, 12, 26, 11), booked_at=paris(2026, 12, 1, 10))
    assert after_christmas[0] == ("reminder_day", paris(2026, 12, 24, 10))  # not Friday 25 (holiday)


@pytest.mark.parametrize(
    "starts, day_before, two_hours_utc",
    [
        # Monday 29 March 2027, after the spring change (Sunday 28): reminder Saturday 27 at 10:00 CET.
        (paris(2027, 3, 29, 14), paris(2027, 3, 27, 10), (12 - 2, 0)),  # 14:00 CEST = 12:00 UTC
        # Tuesday 2 November 2027: Monday 1 is a holiday, Sunday 31 October the autumn change.
        (paris(2027, 11, 2, 14), paris(2027, 10, 30, 10), (13 - 2, 0)),
    ],
)
def test_reminders_across_dst_changes(
    starts: object, day_before: object, two_hours_utc: tuple[int, int]
) -> None:
    times = dict(reminder_times(starts, booked_at=paris(2027, 3, 1, 10)))  # type: ignore[arg-type]
    assert times["reminder_day"] == day_before
    assert (times["reminder_2h"].hour, times["reminder_2h"].minute) == two_hours_utc
    assert day_before.utcoffset() is not None  # type: ignore[attr-defined]


def test_quiet_hours_sundays_and_holidays() -> None:
    assert is_quiet(paris(2026, 12, 1, 20, 0)) and is_quiet(paris(2026, 12, 1, 8, 59))
    assert not is_quiet(paris(2026, 12, 1, 9, 0)) and not is_quiet(paris(2026, 12, 1, 19, 59))
    assert is_quiet(paris(2026, 12, 6, 12))  # Sunday
    assert is_quiet(paris(2026, 12, 25, 12))  # Christmas
    assert next_allowed(paris(2026, 12, 5, 21)) == paris(2026, 12, 7, 9)  # Saturday night -> Monday 9:00
    assert next_allowed(paris(2026, 12, 24, 20, 30)) == paris(2026, 12, 26, 9)


def test_the_two_hour_reminder_of_an_early_appointment_goes_out_in_quiet_hours() -> None:
    early = paris(2026, 12, 3, 8, 30)  # itself in quiet hours
    assert timer_verdict("reminder_2h", paris(2026, 12, 3, 6, 30), early, True) == ("fire", None)
    normal = paris(2026, 12, 3, 10)  # reminder due at 8:00 waits for 9:00
    assert timer_verdict("reminder_2h", paris(2026, 12, 3, 8), normal, True) == (
        "wait",
        paris(2026, 12, 3, 9),
    )
    assert timer_verdict("reminder_day", paris(2026, 12, 3, 8), normal, True)[0] == "drop"
    assert timer_verdict("reminder_2h", paris(2026, 12, 3, 10, 1), normal, True)[0] == "drop"
    assert timer_verdict("reminder_2h", paris(2026, 12, 3, 9), normal, False)[0] == "drop"


def test_urgent_news_of_a_cancelled_slot_is_not_held_by_quiet_hours() -> None:
    at_night = paris(2026, 12, 1, 21)
    tomorrow_early = paris(2026, 12, 2, 10)  # less than 2 hours after 9:00
    assert timer_verdict("slot_cancelled", at_night, tomorrow_early, True) == ("fire", None)
    next_week = paris(2026, 12, 8, 10)
    assert timer_verdict("slot_cancelled", at_night, next_week, True) == ("wait", paris(2026, 12, 2, 9))
    assert timer_verdict("waitlist_offer", paris(2026, 12, 8, 9, 45), next_week, True)[0] == "drop"


# Through the orchestrator ---------------------------------------------------------------------


@pytest.fixture
def booked(db: Engine, orchestrator: Orchestrator, clock: Clock) -> int:
    """Amina booked on Tuesday 1 December for Thursday 3 December at 14:00."""
    slot = add_slot(db, paris(2026, 12, 3, 14))
    add_slot(db, paris(2026, 12, 10, 14))
    sign_up(orchestrator, "amina")
    book_first(orchestrator, "amina")
    [booking] = bookings(db, status="booked")
    assert booking.slot_id == slot
    return booking.id or 0


def test_the_day_before_reminder_asks_coming_or_not(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    assert [(t.kind, t.due_at) for t in timers(db)] == [
        ("reminder_day", paris(2026, 12, 2, 10)),
        ("reminder_2h", paris(2026, 12, 3, 12)),
    ]
    before = last_id(db)
    assert fire_at(orchestrator, clock, paris(2026, 12, 2, 9, 59)) == 0
    assert outbox(db, before) == []
    assert fire_at(orchestrator, clock, paris(2026, 12, 2, 10)) == 1
    [reminder] = outbox(db, before)
    assert reminder.body.startswith("Rappel : réunion d'information jeudi 3 décembre à 14h00")
    assert [c["label"] for c in reminder.choices] == ["Je viens", "Je ne peux pas venir"]
    say(orchestrator, "amina", "1")
    assert outbox(db, before)[-1].body.startswith("Merci, à jeudi 3 décembre à 14h00 !")
    assert bookings(db)[0].confirmed_at == paris(2026, 12, 2, 10)


def test_answering_2_cancels_and_offers_new_dates(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    fire_at(orchestrator, clock, paris(2026, 12, 2, 10, 5))
    before = last_id(db)
    say(orchestrator, "amina", "2")
    [booking] = bookings(db)
    assert booking.status == "cancelled_by_resident" and booking.seat is None
    reply = outbox(db, before)[-1]
    assert "Votre rendez-vous est annulé" in reply.body and "Voulez-vous une autre date ?" in reply.body
    say(orchestrator, "amina", "oui")
    assert [c["label"] for c in outbox(db, before)[-1].choices] == ["jeudi 10 décembre à 14h00"]
    assert [t.outcome for t in timers(db)] == ["fired", "cancelled"]  # the 2-hour one will not come


def test_quiet_hours_hold_a_reminder_until_nine(db: Engine, orchestrator: Orchestrator, clock: Clock) -> None:
    add_slot(db, paris(2026, 12, 2, 10))  # Wednesday 10:00, booked Tuesday: only the 2-hour reminder
    sign_up(orchestrator, "amina")
    book_first(orchestrator, "amina")
    [two_hours] = timers(db)
    assert two_hours.kind == "reminder_2h" and two_hours.due_at == paris(2026, 12, 2, 8)
    before = last_id(db)
    assert fire_at(orchestrator, clock, paris(2026, 12, 2, 8)) == 1  # handled: moved, not sent
    assert outbox(db, before) == [] and timers(db)[0].due_at == paris(2026, 12, 2, 9)
    fire_at(orchestrator, clock, paris(2026, 12, 2, 9))
    assert len(outbox(db, before)) == 1 and timers(db)[0].outcome == "fired"


def test_a_reminder_late_after_downtime_goes_out_if_useful_and_is_dropped_once_past(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    before = last_id(db)
    fire_at(orchestrator, clock, paris(2026, 12, 2, 16))  # down from 9:00 to 16:00: still useful
    assert len(outbox(db, before)) == 1
    fire_at(orchestrator, clock, paris(2026, 12, 3, 15))  # down through the 2-hour reminder and the slot
    assert len(outbox(db, before)) == 1
    assert [t.outcome for t in timers(db)] == ["fired", "dropped"]


def test_a_restart_fires_each_timer_once(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    before = last_id(db)
    clock.now = paris(2026, 12, 2, 10, 30)
    again = Orchestrator(db, conversation_engine(), clock)  # a new process over the same database
    assert again.fire_due_timers() == 1
    assert orchestrator.fire_due_timers() == 0 and again.fire_due_timers() == 0
    assert len(outbox(db, before)) == 1


def test_the_runner_tick_fires_due_timers(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    before = last_id(db)
    clock.now = paris(2026, 12, 2, 10)
    runner = Runner(Orchestrator(db, conversation_engine(), clock), Dispatcher(db, {}, clock))
    asyncio.run(runner.tick())
    asyncio.run(runner.tick())
    assert len(outbox(db, before)) == 1


def test_no_reminder_to_an_opted_out_resident(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    say(orchestrator, "amina", "STOP")
    before = last_id(db)
    fire_at(orchestrator, clock, paris(2026, 12, 3, 13))
    assert outbox(db, before) == []
    assert {t.outcome for t in timers(db)} == {"opted_out"}


def test_a_reminder_interrupts_politely_and_the_question_comes_back(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    say(orchestrator, "amina", "1")  # menu: book -> "Which appointment would you like?"
    fire_at(orchestrator, clock, paris(2026, 12, 2, 10))
    before = last_id(db)
    say(orchestrator, "amina", "1")  # I'm coming
    reply = outbox(db, before)[-1]
    assert (
        "Merci, à jeudi 3 décembre à 14h00 !" in reply.body and "Quel rendez-vous voulez-vous ?" in reply.body
    )


def test_a_no_show_gets_a_kind_offer_the_next_morning(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    from bot.booking_store import mark_attendance
    from bot.store.db import transaction
    from bot.store.models import Booking

    clock.now = paris(2026, 12, 3, 16)
    with transaction(db) as session:
        booking = session.get(Booking, booked)
        assert booking is not None
        mark_attendance(session, booking, "no_show", clock.now)
    before = last_id(db)
    fire_at(orchestrator, clock, paris(2026, 12, 4, 8, 59))  # the unsent reminders are dropped
    assert outbox(db, before) == []
    fire_at(orchestrator, clock, paris(2026, 12, 4, 9))
    [offer] = outbox(db, before)
    assert "Nous ne vous avons pas vu hier" in offer.body
    say(orchestrator, "amina", "oui")
    assert [c["label"] for c in outbox(db, before)[-1].choices] == ["jeudi 10 décembre à 14h00"]


def test_a_freed_seat_goes_to_the_waitlist_once_a_day(
    db: Engine, orchestrator: Orchestrator, clock: Clock
) -> None:
    full = add_slot(db, paris(2026, 12, 3, 14), capacity=1)
    sign_up(orchestrator, "amina")
    book_first(orchestrator, "amina")
    sign_up(orchestrator, "sam")
    before = last_id(db)
    for text in ["1", "1"]:  # book, information session: nothing free, the waitlist is offered
        say(orchestrator, "sam", text)
    assert "liste d'attente" in outbox(db, before)[-1].body
    say(orchestrator, "sam", "oui")
    for text in ["RDV", "1", "2"]:  # Amina cancels: Sam is offered the seat
        say(orchestrator, "amina", text)
    from bot.booking_store import offer_to_waitlist
    from bot.store.db import transaction

    with transaction(db) as session:  # another seat frees up the same day: no second offer today
        offer_to_waitlist(session, full, clock.now)
    assert len([t for t in timers(db) if t.kind == "waitlist_offer"]) == 1
    before = last_id(db)
    orchestrator.fire_due_timers()
    [offer] = [row for row in outbox(db, before) if row.address == "sam"]
    assert "une place s'est libérée" in offer.body
    say(orchestrator, "sam", "oui")
    assert [b.resident_id for b in bookings(db, slot_id=full, status="booked")] != []
    assert outbox(db)[-2].body.startswith("C'est réservé")
    assert clock.now < paris(2026, 12, 3, 14) - timedelta(hours=24)


def test_a_broken_timer_is_marked_failed_and_the_others_still_fire(
    db: Engine, orchestrator: Orchestrator, clock: Clock, booked: int
) -> None:
    from bot.store.db import transaction
    from bot.store.models import Timer

    before = last_id(db)
    [reminder] = [t for t in timers(db) if t.fired_at is None][:1]
    with transaction(db) as session:
        session.add(
            Timer(
                key="broken:1",
                resident_id=reminder.resident_id,
                kind="no_such_kind",
                due_at=reminder.due_at - timedelta(minutes=1),
                payload={"starts_at": "not a date"},
            )
        )
    clock.now = paris(2026, 12, 2, 10, 30)
    assert orchestrator.fire_due_timers() == 2
    outcomes = {t.key: t.outcome for t in timers(db) if t.fired_at is not None}
    assert outcomes["broken:1"] == "failed" and outcomes[reminder.key] == "fired"
    assert len(outbox(db, before)) == 1  # the reminder went out despite the broken timer before it
    assert orchestrator.fire_due_timers() == 0
