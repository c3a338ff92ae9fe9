"""Hooks of the booking flow: they read ctx.facts (looked up by the orchestrator), never the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.appointments import (
    CANCEL_LIMIT,
    MIN_LEAD,
    BookingFacts,
    BookSeat,
    CancelBooking,
    ConfirmBooking,
    JoinWaitlist,
    SendCalendar,
    SlotView,
)
from bot.engine.types import Choice, HookContext, Reply
from bot.i18n import format_when, translate
from flows.hooks import hook

# The names of kinds and places are texts of flows/booking.yaml (so they are extracted and translated).
KIND_TEXTS = {
    "info_session": "information session",
    "interview": "interview with an advisor",
    "job_dating": "job dating",
}
PLACE_TEXTS = {"phone": "by phone", "video": "by video call"}
BOOKED_TEXT = (
    "Booked! {kind_title}: {slot_when}, {slot_place}.\nBring an ID and your CV. I will send you a reminder."
)


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _facts(ctx: HookContext) -> BookingFacts:
    facts = ctx.facts
    found = getattr(facts, "booking_facts", facts)
    return found if isinstance(found, BookingFacts) else BookingFacts()


def _title(text: str) -> str:
    """A sentence-initial capital (Arabic has no case: unchanged)."""
    return text[:1].upper() + text[1:]


def _place(place: str, lang: str) -> str:
    return translate(PLACE_TEXTS[place], lang) if place in PLACE_TEXTS else place


def _describe(ctx: HookContext, kind: str, starts_at: datetime, place: str | None = None) -> None:
    """Fill the fields the flow's texts use: {kind_label}, {slot_when}, {slot_place}."""
    lang = ctx.state.lang
    ctx.state.answers["kind"] = kind
    ctx.state.answers["kind_label"] = label = translate(KIND_TEXTS.get(kind, kind), lang)
    ctx.state.answers["kind_title"] = _title(label)
    ctx.state.answers["slot_when"] = format_when(starts_at, lang)
    if place is not None:
        ctx.state.answers["slot_place"] = _place(place, lang)


def _slot_check(ctx: HookContext, slot_id: Any) -> tuple[str, SlotView | None]:
    slot = _facts(ctx).slot(slot_id)
    if slot is None or slot.seats_left <= 0:
        return "gone", slot
    if slot.starts_at < ctx.now + MIN_LEAD:
        return "past", slot
    return "ok", slot


@hook("choose_kind")
def choose_kind(ctx: HookContext) -> str:
    """A new booking of a kind; one upcoming booking per kind."""
    kind = str(ctx.answer)
    ctx.state.answers.pop("rescheduling", None)
    ctx.state.answers.pop("not_slot", None)
    ctx.state.answers["kind"] = kind
    existing = next((b for b in _facts(ctx).bookings if b.kind == kind), None)
    if existing is not None:
        _describe(ctx, kind, existing.starts_at, existing.place)
        return "already"
    ctx.state.answers["kind_label"] = translate(KIND_TEXTS.get(kind, kind), ctx.state.lang)
    return "ok"


@hook("preset_info_session")
def preset_info_session(ctx: HookContext) -> str:
    """Another flow (a trade card) books an information session: the kind is already chosen."""
    ctx.answer = "info_session"
    return choose_kind(ctx)


@hook("open_slots")
def open_slots(ctx: HookContext) -> list[Choice]:
    """The next 5 free slots of the chosen kind, in the resident's language and Paris time."""
    kind = str(ctx.state.answers.get("kind", ""))
    mine = {b.slot_id for b in _facts(ctx).bookings}
    if ctx.state.answers.get("not_slot") is not None:
        mine.add(int(ctx.state.answers["not_slot"]))  # the date just given up
    return [
        Choice(str(s.id), format_when(s.starts_at, ctx.state.lang))
        for s in _facts(ctx).bookable(kind, ctx.now, exclude=mine)
    ]


@hook("pick_slot")
def pick_slot(ctx: HookContext) -> str:
    """The slot chosen; it may have filled or passed since the list was shown."""
    verdict, slot = _slot_check(ctx, ctx.answer)
    if verdict == "ok" and slot is not None:
        ctx.state.answers["slot_id"] = slot.id
        _describe(ctx, slot.kind, slot.starts_at, slot.place)
    return verdict


@hook("book_seat")
def book_seat(ctx: HookContext) -> str:
    """Yes: take the seat (the database has the last word: a taken seat replays this turn)."""
    if ctx.answer != "yes":
        return "no"
    slot_id = ctx.state.answers.get("slot_id")
    verdict, slot = _slot_check(ctx, slot_id)
    if verdict != "ok" or slot is None:
        return verdict
    replaces = ctx.state.answers.get("rescheduling")
    other = next(
        (b for b in _facts(ctx).bookings if b.kind == slot.kind and str(b.id) != str(replaces)), None
    )
    if other is not None:
        _describe(ctx, other.kind, other.starts_at, other.place)
        return "already"
    ctx.state.answers.pop("rescheduling", None)
    ctx.emit(BookSeat(slot.id, slot.kind, int(replaces) if replaces is not None else None))
    return "booked"


@hook("confirm_booked")
def confirm_booked(ctx: HookContext) -> None:
    """The confirmation (date, place, what to bring) as a message of its own, and an .ics where possible."""
    text = translate(BOOKED_TEXT, ctx.state.lang).format_map(_Fields(ctx.state.answers))
    ctx.emit(Reply(text, kind="confirmation"))
    slot_id = ctx.state.answers.get("slot_id")
    if slot_id is not None:
        ctx.emit(SendCalendar(int(slot_id)))


@hook("has_waitlist")
def has_waitlist(ctx: HookContext) -> str:
    """No free slot: a full collective session can still be waited for."""
    kind = str(ctx.state.answers.get("kind", ""))
    full = [s for s in _facts(ctx).full(kind, ctx.now) if s.id not in _facts(ctx).waiting]
    if kind == "interview" or not full:
        return "none"
    ctx.state.answers["wait_slot"] = full[0].id
    _describe(ctx, kind, full[0].starts_at, full[0].place)
    return "full"


@hook("join_waitlist")
def join_waitlist(ctx: HookContext) -> str:
    if ctx.answer != "yes":
        return "no"
    ctx.emit(JoinWaitlist(int(ctx.state.answers["wait_slot"])))
    return "joined"


@hook("my_bookings")
def my_bookings(ctx: HookContext) -> list[Choice]:
    """The resident's upcoming bookings."""
    lang = ctx.state.lang
    comma = "، " if lang == "ar" else ", "
    return [
        Choice(
            str(b.id), f"{_title(translate(KIND_TEXTS[b.kind], lang))}{comma}{format_when(b.starts_at, lang)}"
        )
        for b in _facts(ctx).bookings
    ]


@hook("pick_booking")
def pick_booking(ctx: HookContext) -> str:
    booking = _facts(ctx).booking(ctx.answer)
    if booking is None:
        return "gone"
    ctx.state.answers["booking_id"] = booking.id
    _describe(ctx, booking.kind, booking.starts_at, booking.place)
    return "ok"


@hook("manage_booking")
def manage_booking(ctx: HookContext) -> str:
    """Keep, cancel or change; up to 2 hours before, later a counsellor is offered."""
    action = str(ctx.answer)
    booking = _facts(ctx).booking(ctx.state.answers.get("booking_id"))
    if booking is None:
        return "gone"
    if action == "keep":
        return "keep"
    if booking.starts_at - ctx.now < CANCEL_LIMIT:
        return "too_late"
    if action == "cancel":
        ctx.emit(CancelBooking(booking.id))
        ctx.state.answers["not_slot"] = booking.slot_id
        return "cancelled"
    ctx.state.answers["rescheduling"] = booking.id
    ctx.state.answers["kind"] = booking.kind
    return "change"


# Timers -------------------------------------------------------------------------------------


def _timer(ctx: HookContext) -> dict[str, Any]:
    return dict(ctx.state.answers.get("timer") or {})


@hook("load_reminder")
def load_reminder(ctx: HookContext) -> str:
    """A reminder came due: the booking it is about, if it still stands."""
    booking = _facts(ctx).booking(_timer(ctx).get("booking_id"))
    if booking is None:
        return "gone"
    ctx.state.answers["booking_id"] = booking.id
    _describe(ctx, booking.kind, booking.starts_at, booking.place)
    return "ok"


@hook("reminder_answer")
def reminder_answer(ctx: HookContext) -> str:
    """1 I'm coming / 2 I can't come (which cancels and offers new dates)."""
    booking = _facts(ctx).booking(ctx.state.answers.get("booking_id"))
    if booking is None:
        return "gone"
    if ctx.answer == "coming":
        ctx.emit(ConfirmBooking(booking.id))
        return "coming"
    ctx.emit(CancelBooking(booking.id))
    ctx.state.answers["kind"] = booking.kind
    ctx.state.answers["not_slot"] = booking.slot_id
    return "cancelled"


@hook("load_past_booking")
def load_past_booking(ctx: HookContext) -> None:
    """A cancelled slot, a missed one or a freed seat: what it was."""
    timer = _timer(ctx)
    starts_at = datetime.fromisoformat(str(timer["starts_at"]))
    ctx.state.answers.pop("rescheduling", None)
    ctx.state.answers.pop("not_slot", None)
    _describe(ctx, str(timer.get("kind", "")), starts_at)
    if "slot_id" in timer:
        ctx.state.answers["slot_id"] = timer["slot_id"]


@hook("offered_seat")
def offered_seat(ctx: HookContext) -> str:
    """A waitlist offer: still free, still wanted?"""
    if ctx.answer != "yes":
        return "no"
    verdict, slot = _slot_check(ctx, ctx.state.answers.get("slot_id"))
    if verdict != "ok" or slot is None:
        return verdict
    _describe(ctx, slot.kind, slot.starts_at, slot.place)
    ctx.emit(BookSeat(slot.id, slot.kind))
    return "booked"
