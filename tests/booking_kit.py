"""Helpers for booking tests: slots, residents signed up through the real conversation, the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from bot.accounts import create_counsellor
from bot.channels.base import InboundMessage
from bot.orchestrator import Orchestrator
from bot.store.db import transaction
from bot.store.models import Booking, Outbox, Slot, Timer

PLACE = "Maison de l'emploi, 12 rue de la République, 93200 Saint-Denis"
LANG_NUMBER = {"fr": "1", "en": "2", "ar": "3"}


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Paris wall-clock time, as aware UTC."""
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def add_slot(
    db: Engine,
    starts_at: datetime,
    kind: str = "info_session",
    capacity: int = 12,
    place: str = PLACE,
    minutes: int = 90,
) -> int:
    with transaction(db) as session:
        slot = Slot(kind=kind, starts_at=starts_at, duration_minutes=minutes, capacity=capacity, place=place)
        session.add(slot)
        session.flush()
        assert slot.id is not None
        return slot.id


def add_counsellor(db: Engine, email: str = "lea@batissons.fr", password: str = "correct horse") -> int:
    with transaction(db) as session:
        counsellor = create_counsellor(session, email, password, name="Léa")
        assert counsellor.id is not None
        return counsellor.id


def say(orchestrator: Orchestrator, address: str, text: str, channel: str = "console") -> None:
    orchestrator.handle(InboundMessage(channel, address, uuid.uuid4().hex, text=text))


def sign_up(orchestrator: Orchestrator, address: str, lang: str = "fr", channel: str = "console") -> None:
    """The onboarding's happy path: language, consent, name, postcode, three answers; ends at the menu."""
    for text in ["Bonjour", LANG_NUMBER[lang], "1", "Amina", "93200", "1", "2", "2", "3"]:
        say(orchestrator, address, text, channel)


def book_first(orchestrator: Orchestrator, address: str, kind: str = "1", channel: str = "console") -> None:
    """From the menu: book (1), the kind, the first date shown, yes."""
    for text in ["1", kind, "1", "1"]:
        say(orchestrator, address, text, channel)


def outbox(db: Engine, after: int = 0) -> list[Outbox]:
    with transaction(db) as session:
        return list(session.scalars(select(Outbox).where(Outbox.id > after).order_by(Outbox.id)).all())


def last_id(db: Engine) -> int:
    rows = outbox(db)
    return rows[-1].id or 0 if rows else 0


def bookings(db: Engine, **where: Any) -> list[Booking]:
    with transaction(db) as session:
        query = select(Booking).order_by(Booking.id)
        for name, value in where.items():
            query = query.where(getattr(Booking, name) == value)
        return list(session.scalars(query).all())


def timers(db: Engine) -> list[Timer]:
    with transaction(db) as session:
        return list(session.scalars(select(Timer).order_by(Timer.due_at, Timer.id)).all())


def week_of_slots(db: Engine, first: datetime, days: int = 7, **kwargs: Any) -> list[int]:
    return [add_slot(db, first + timedelta(days=d), **kwargs) for d in range(days)]
