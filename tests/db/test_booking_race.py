"""Capacity is the database's: 50 residents confirm the last seat at once, exactly one gets it."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.appointments import SeatTaken
from bot.booking_store import take_seat
from bot.channels.base import InboundMessage
from bot.engine.types import State
from bot.orchestrator import Orchestrator
from bot.store.db import transaction
from bot.store.models import ChannelIdentity, Conversation, Outbox, Resident
from tests.booking_kit import add_slot, bookings, outbox, paris
from tests.conftest import Clock

pytestmark = pytest.mark.db
RESIDENTS = 50


def resident_at_confirm(db: Engine, address: str, slot_id: int, now: object) -> None:
    """A signed-up resident who chose the slot and is asked "Shall I book it for you?"."""
    state = State(
        flow="booking",
        step="confirm",
        lang="fr",
        lang_chosen=True,
        consented=True,
        onboarded=True,
        answers={"kind": "info_session", "slot_id": slot_id, "first_name": "A"},
    )
    with transaction(db) as session:
        resident = Resident(language="fr", consented_at=now, first_name="A")
        session.add(resident)
        session.flush()
        assert resident.id is not None
        session.add(ChannelIdentity(resident_id=resident.id, channel="sms", address=address))
        session.add(Conversation(resident_id=resident.id, state=state.model_dump(mode="json")))


def test_fifty_residents_race_for_the_last_seat(db: Engine, orchestrator: Orchestrator, clock: Clock) -> None:
    last = add_slot(db, paris(2026, 12, 3, 10), capacity=3)
    nexts = [add_slot(db, paris(2026, 12, 3 + d, 14)) for d in range(1, 7)]
    with transaction(db) as session:  # two seats are already taken
        for _ in (1, 2):
            resident = Resident(language="fr")
            session.add(resident)
            session.flush()
            assert resident.id is not None
            take_seat(session, last, resident.id, "info_session", clock())
    addresses = [f"+3361000{i:04d}" for i in range(RESIDENTS)]
    for address in addresses:
        resident_at_confirm(db, address, last, clock())
    for address in addresses:
        orchestrator.receive(InboundMessage("sms", address, uuid.uuid4().hex, text="oui"))

    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def worker() -> None:
        try:
            barrier.wait()
            orchestrator.process_pending()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    held = bookings(db, slot_id=last, status="booked")
    assert len(held) == 3 and sorted(b.seat for b in held) == [1, 2, 3]
    replies: dict[str, list[Outbox]] = {}
    for row in outbox(db):
        replies.setdefault(row.address or "", []).append(row)
    assert len(replies) == RESIDENTS
    won = [a for a, rows in replies.items() if rows[0].body.startswith("C'est réservé")]
    lost = [a for a, rows in replies.items() if "vient d'être complète" in rows[0].body]
    assert len(won) == 1 and len(lost) == RESIDENTS - 1
    for address in lost:  # each is offered the next slots instead
        reply = replies[address][-1]  # the apology, then (in the same SMS or the next) the dates
        labels = [c["label"] for c in reply.choices]
        assert labels[0] == "vendredi 4 décembre à 14h00" and len(labels) == 5
    assert len(nexts) == 6 and clock.now < paris(2026, 12, 3, 10) - timedelta(hours=24)


def test_the_seat_index_refuses_a_second_holder_even_without_the_check(db: Engine, clock: Clock) -> None:
    from sqlalchemy.exc import IntegrityError

    from bot.store.models import Booking

    slot = add_slot(db, paris(2026, 12, 3, 10), capacity=1)
    with transaction(db) as session:
        resident = Resident(language="fr")
        session.add(resident)
        session.flush()
        assert resident.id is not None
        take_seat(session, slot, resident.id, "info_session", clock())
        with pytest.raises(SeatTaken):
            take_seat(session, slot, resident.id, "info_session", clock())
    with pytest.raises(IntegrityError), transaction(db) as session:
        rid = session.scalars(select(Resident.id)).first()
        session.add(Booking(slot_id=slot, resident_id=rid, kind="info_session", seat=1))
        session.flush()
