"""The booking flow with the pure engine: bad input, timers, texts that stay within the SMS budget."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.appointments import BookSeat, SlotView, ics
from bot.booking_store import CALENDAR_CAPTION
from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.engine.engine import Engine
from bot.engine.flow import FLOWS_DIR, read_flow_file
from bot.engine.types import Message, Reply, State, TimerFired
from flows.hooks.booking import BOOKED_TEXT, KIND_TEXTS, PLACE_TEXTS
from tests.booking_kit import PLACE, paris
from tests.engine.booking_world import BookingWorld
from tests.engine.transcript import START, read

GOLDEN = Path(__file__).parent / "golden"


def signed_up(lang: str = "fr") -> State:
    return State(lang=lang, lang_chosen=True, consented=True, onboarded=True, flow="menu", step="main")


def run(engine: Engine, world: BookingWorld, state: State, *texts: str, minutes: int = 1):  # noqa: ANN201
    now = START
    replies: list[Reply] = []
    for text in texts:
        outcome = engine.handle(state, Message(text), now, world.facts(now))
        world.apply(outcome.intents)
        state, now = outcome.state, now + timedelta(minutes=minutes)
        replies += outcome.replies
    return state, replies


def test_hook_texts_are_flow_texts_so_they_get_translated() -> None:
    texts = set(read_flow_file(FLOWS_DIR / "booking.yaml").texts.values())
    assert set(KIND_TEXTS.values()) | set(PLACE_TEXTS.values()) | {CALENDAR_CAPTION, BOOKED_TEXT} <= texts


def test_french_booking_messages_fit_in_two_sms_segments(conversation: Engine) -> None:
    for name in ("booking.fr.sms.txt", "appointments.fr.sms.txt"):
        transcript = read(GOLDEN / name)
        world, state, now, last = BookingWorld.demo(), State(), START, None
        for line in transcript.inputs:
            if line.startswith("["):
                continue
            outcome = conversation.handle(state, Message(line), now, world.facts(now))
            world.apply(outcome.intents)
            state, now = outcome.state, now + timedelta(minutes=1)
            for reply in outcome.replies:
                message = OutboundMessage(
                    reply.text, [{"value": c.value, "label": c.label} for c in reply.choices]
                )
                for body in render_sms(message):
                    assert segment_count(body) <= 2, body
                last = reply
        assert last is not None


def test_a_slot_that_filled_while_choosing_is_refused_and_the_next_ones_shown(conversation: Engine) -> None:
    world = BookingWorld.demo()
    state, _ = run(conversation, world, signed_up(), "1", "1", "1")  # at "Shall I book it?"
    world.slots[10] = replace(world.slots[10], seats_left=0)  # someone else took the last seat
    state, replies = run(conversation, world, state, "oui")
    said = "\n".join(r.text for r in replies[-2:])  # the apology may travel as its own SMS
    assert "Désolé, cette date vient d'être complète." in said
    assert replies[-1].choices[0].label == "jeudi 3 décembre à 10h00"
    assert world.bookings == []


def test_a_slot_about_to_start_is_refused(conversation: Engine) -> None:
    world = BookingWorld.demo()
    world.add(SlotView(99, "interview", START + timedelta(minutes=33), 45, "phone", 1))
    state, replies = run(conversation, world, signed_up(), "1", "2")
    assert replies[-1].choices[0].value == "99"
    state, replies = run(conversation, world, state, "1", "oui", minutes=4)  # 4 minutes later, 29 left
    assert "trop proche" in replies[-1].text or "trop proche" in replies[-2].text
    assert world.bookings == []


def test_a_number_out_of_range_books_nothing(conversation: Engine) -> None:
    world = BookingWorld.demo()
    state, replies = run(conversation, world, signed_up("en"), "1", "1", "7")
    assert replies[-1].text == "Please answer with a number from 1 to 5."
    assert state.at == "booking.choose_slot" and world.bookings == []


def test_a_reschedule_gives_back_the_old_seat_in_the_same_intent(conversation: Engine) -> None:
    world = BookingWorld.demo()
    state, _ = run(conversation, world, signed_up(), "1", "1", "1", "oui")
    outcome = conversation.handle(state, Message("RDV"), START, world.facts(START))
    for text in ["1", "3", "1", "oui"]:
        outcome = conversation.handle(outcome.state, Message(text), START, world.facts(START))
    [book] = [i for i in outcome.intents if isinstance(i, BookSeat)]
    assert book.replaces == world.bookings[0].id and book.slot_id == 11


def test_timers_say_nothing_to_an_opted_out_resident_or_of_an_unknown_kind(conversation: Engine) -> None:
    state = signed_up().model_copy(update={"opted_out": True})
    assert conversation.handle(state, TimerFired("reminder_day", {"booking_id": 1}), START).intents == []
    assert conversation.handle(signed_up(), TimerFired("mystery", {}), START).intents == []


def test_the_ics_file_holds_the_appointment() -> None:
    from icalendar import Calendar

    slot = SlotView(7, "info_session", paris(2026, 12, 8, 10), 90, PLACE, 3)
    calendar = Calendar.from_ical(ics(slot, "Bâtissons nos emplois", "slot-7@batissons", START))
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == paris(2026, 12, 8, 10)
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=90)
    assert str(event["location"]) == PLACE


def test_other_flows_can_start_an_info_session_booking(conversation: Engine) -> None:
    from bot.engine.engine import _Turn

    world = BookingWorld.demo()
    turn = _Turn(conversation, signed_up(), START, world.facts(START))
    turn.enter("booking.book_info_session")
    assert turn.s.at == "booking.choose_slot"
    assert turn.intents[-1].choices[0].label == "mercredi 2 décembre à 10h00"
