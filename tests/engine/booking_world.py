"""An in-memory stand-in for the booking tables, so golden transcripts replay booking with the pure engine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.appointments import (
    BookingFacts,
    BookingView,
    BookSeat,
    CancelBooking,
    JoinWaitlist,
    SlotView,
)
from tests.booking_kit import PLACE, paris


@dataclass
class BookingWorld:
    """Fixed slots from Wednesday 2 December 2026, and the bookings the transcript makes."""

    slots: dict[int, SlotView] = field(default_factory=dict)
    bookings: list[BookingView] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    next_booking: int = 100

    @classmethod
    def demo(cls) -> BookingWorld:
        world = cls()
        day = paris(2026, 12, 2, 10)
        for i in range(7):
            world.add(SlotView(10 + i, "info_session", day + timedelta(days=i), 90, PLACE, 12))
        for i in range(3):
            world.add(
                SlotView(20 + i, "interview", paris(2026, 12, 2, 14) + timedelta(days=i), 45, "phone", 1)
            )
        world.add(SlotView(30, "job_dating", paris(2026, 12, 11, 9, 30), 180, PLACE, 0, "Eiffage"))
        return world

    def add(self, slot: SlotView) -> None:
        self.slots[slot.id] = slot

    def facts(self, now: datetime) -> BookingFacts:
        """Like the database's: upcoming slots and upcoming bookings only."""
        slots = tuple(s for s in self.slots.values() if s.starts_at > now)
        return BookingFacts(slots, tuple(b for b in self.bookings if b.starts_at > now), tuple(self.waiting))

    def apply(self, intents: list[Any]) -> None:
        """What bot/booking_store.py does with the intents, in memory."""
        for intent in intents:
            if isinstance(intent, BookSeat):
                if intent.replaces is not None:
                    self.cancel(intent.replaces)
                slot = self.slots[intent.slot_id]
                self.slots[slot.id] = replace(slot, seats_left=slot.seats_left - 1)
                self.bookings.append(
                    BookingView(self.next_booking, slot.id, slot.kind, slot.starts_at, slot.place)
                )
                self.next_booking += 1
            elif isinstance(intent, CancelBooking):
                self.cancel(intent.booking_id)
            elif isinstance(intent, JoinWaitlist):
                self.waiting.append(intent.slot_id)

    def cancel(self, booking_id: int) -> None:
        for booking in [b for b in self.bookings if b.id == booking_id]:
            self.bookings.remove(booking)
            slot = self.slots[booking.slot_id]
            self.slots[slot.id] = replace(slot, seats_left=slot.seats_left + 1)

    def payload(self, kind: str) -> dict[str, Any]:
        """A timer's payload about the latest booking."""
        booking = self.bookings[-1]
        return {"booking_id": booking.id, "kind": booking.kind, "starts_at": booking.starts_at.isoformat()}


def later(now: datetime, spec: str) -> datetime:
    """'[wait 26h]' or '[wait 30m]' in a transcript."""
    amount, unit = int(spec[:-1]), spec[-1]
    return now + (timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount))
