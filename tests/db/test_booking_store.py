"""Booking in the database: the Telegram calendar file, one booking per kind, erasure frees the seat."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.orchestrator import Orchestrator
from tests.booking_kit import add_slot, book_first, bookings, outbox, paris, say, sign_up, timers

pytestmark = pytest.mark.db


def test_on_telegram_the_confirmation_comes_with_an_ics(db: Engine, orchestrator: Orchestrator) -> None:
    add_slot(db, paris(2026, 12, 8, 10))
    sign_up(orchestrator, "4242", channel="telegram")
    book_first(orchestrator, "4242", channel="telegram")
    rows = outbox(db)
    [calendar] = [r for r in rows if r.kind == "calendar"]
    assert calendar.body == "Votre rendez-vous, à ajouter à votre agenda."
    assert calendar.attachment is not None and calendar.attachment["mime"] == "text/calendar"
    assert "BEGIN:VCALENDAR" in calendar.attachment["content"]
    assert "DTSTART:20261208T090000Z" in calendar.attachment["content"]
    confirmation = next(r for r in rows if r.kind == "confirmation")
    assert (confirmation.id or 0) < (calendar.id or 0)  # the text first, then the file


def test_no_calendar_row_on_sms_or_console(db: Engine, orchestrator: Orchestrator) -> None:
    add_slot(db, paris(2026, 12, 8, 10))
    sign_up(orchestrator, "+33600000001", channel="sms")
    book_first(orchestrator, "+33600000001", channel="sms")
    assert [r for r in outbox(db) if r.kind == "calendar"] == []
    assert len(bookings(db, status="booked")) == 1


def test_one_upcoming_booking_per_kind(db: Engine, orchestrator: Orchestrator) -> None:
    add_slot(db, paris(2026, 12, 8, 10))
    add_slot(db, paris(2026, 12, 10, 10))
    sign_up(orchestrator, "amina")
    book_first(orchestrator, "amina")
    say(orchestrator, "amina", "1")
    say(orchestrator, "amina", "1")
    assert "Vous avez déjà ce rendez-vous : mardi 8 décembre à 10h00." in outbox(db)[-1].body
    assert len(bookings(db)) == 1


def test_erasing_a_resident_frees_the_seat_and_drops_the_reminders(
    db: Engine, orchestrator: Orchestrator
) -> None:
    add_slot(db, paris(2026, 12, 8, 10), capacity=1)
    sign_up(orchestrator, "amina")
    book_first(orchestrator, "amina")
    assert len(timers(db)) == 2
    say(orchestrator, "amina", "SUPPRIMER")
    say(orchestrator, "amina", "oui")
    assert bookings(db) == [] and timers(db) == []
