"""Sending through the Bot API when Telegram misbehaves: 429, 500, hangs, resets, long texts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.channels.base import OutboundMessage
from bot.channels.telegram import build_telegram
from bot.channels.telegram_render import TELEGRAM_MAX_CHARS
from bot.outbox import OutboxItem, SendResult
from bot.store.db import transaction
from bot.store.models import Outbox
from tests.channels.telegram_support import (
    CHAT,
    CLIENT_TIMEOUT,
    TOKEN,
    Harness,
    make_settings,
    open_harness,
)
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeTelegram

HANG = CLIENT_TIMEOUT * 2  # past the client's read timeout
# PTB 22 warns whenever it builds a RetryAfter that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
def harness(db_url: str, db: Engine, clock: Any, fake: FakeTelegram) -> Iterator[Harness]:
    yield from open_harness(db_url, db, clock, fake)


def sends(fake: FakeTelegram) -> int:
    """sendMessage requests the fake received, whatever it answered."""
    return len(fake.calls_to("sendMessage"))


def start(harness: Harness) -> None:
    """A resident writes /start; the answer is queued but not sent yet."""
    assert harness.post(tu.start_command(next(harness.ids), CHAT)) == 200


def long_text() -> str:
    paragraph = "Les chantiers du Grand Paris recrutent des maçons, des électriciens et des peintres. " * 12
    return "\n\n".join([paragraph.strip()] * 6)


def queue_long_message(harness: Harness, parts_sent: int = 0) -> int:
    """A long message with choices, queued for the resident as a counsellor's message would be."""
    resident = harness.resident()
    assert resident is not None
    now = harness.app.state.orchestrator.clock()
    with transaction(harness.db) as session:
        row = Outbox(
            resident_id=resident.id,
            channel="telegram",
            address=str(CHAT),
            body=long_text(),
            choices=[{"value": "yes", "label": "Oui"}, {"value": "no", "label": "Non"}],
            question="onboarding.consent",
            parts_sent=parts_sent,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def row(harness: Harness, outbox_id: int) -> Outbox:
    [found] = [r for r in harness.outbox() if r.id == outbox_id]
    return found


# Faults on a single message -------------------------------------------------------------------


@pytest.mark.db
def test_429_retry_after_is_honoured(harness: Harness, clock: Any) -> None:
    harness.fake.fail_next(("retry_after", 7))
    start(harness)
    harness.tick()
    [waiting] = harness.outbox()
    assert harness.fake.sent == [] and waiting.status == "pending"
    assert waiting.next_attempt_at == clock.now + timedelta(seconds=7)

    clock.advance(seconds=6)
    harness.tick()
    assert sends(harness.fake) == 1 and harness.fake.sent == []  # not before Telegram said

    clock.advance(seconds=1)
    harness.tick()
    assert len(harness.fake.sent) == 1 and sends(harness.fake) == 2
    assert harness.outbox()[0].status == "sent"


@pytest.mark.db
@pytest.mark.parametrize("fault", [("status", 500), ("status", 502), ("reset",)], ids=["500", "502", "reset"])
def test_server_errors_and_resets_are_retried_and_delivered_once(
    harness: Harness, clock: Any, fault: tuple[Any, ...]
) -> None:
    harness.fake.fail_next(fault, fault)
    start(harness)
    harness.tick()
    assert harness.fake.sent == [] and harness.outbox()[0].next_attempt_at == clock.now + timedelta(seconds=2)
    clock.advance(seconds=2)
    harness.tick()
    assert harness.fake.sent == [] and harness.outbox()[0].next_attempt_at == clock.now + timedelta(seconds=4)
    clock.advance(seconds=4)
    harness.tick()
    [sent] = harness.fake.sent
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "language.choose:fr"
    [done] = harness.outbox()
    assert (done.status, done.attempts, done.provider_id) == ("sent", 3, str(sent["message_id"]))
    clock.advance(minutes=30)
    harness.tick()
    assert sends(harness.fake) == 3 and len(harness.fake.sent) == 1


@pytest.mark.db
def test_hang_past_the_timeout_is_delivered_exactly_once(harness: Harness, clock: Any) -> None:
    harness.fake.fail_next(("hang", HANG))
    start(harness)
    harness.tick()  # the client gives up after its read timeout, while the fake is still hanging
    [row_] = harness.outbox()
    assert row_.status == "sent" and row_.provider_id == "?"  # handed over, not confirmed
    # The fake processes the hung request once its delay is over: wait for that before counting.
    [delivered] = harness.fake.wait_for(1, timeout=HANG * 10)
    clock.advance(hours=1)
    harness.tick()
    assert sends(harness.fake) == 1 and harness.fake.sent == [delivered]


# Long texts -----------------------------------------------------------------------------------


@pytest.mark.db
def test_text_over_4096_characters_is_split_with_the_keyboard_on_the_last_part(harness: Harness) -> None:
    start(harness)
    harness.tick()
    before = len(harness.fake.sent)
    outbox_id = queue_long_message(harness)
    harness.tick()
    parts = harness.fake.sent[before:]
    assert len(parts) == 2
    assert all(len(p["text"]) <= TELEGRAM_MAX_CHARS for p in parts)
    assert "\n\n".join(p["text"] for p in parts) == long_text()
    assert parts[0]["reply_markup"] is None
    assert [r[0]["text"] for r in parts[1]["reply_markup"]["inline_keyboard"]] == ["Oui", "Non"]
    done = row(harness, outbox_id)
    assert (done.status, done.parts_sent) == ("sent", 2)
    assert done.provider_id == ",".join(str(p["message_id"]) for p in parts)


@pytest.mark.db
def test_a_failed_first_part_sends_the_whole_message_once_later(harness: Harness, clock: Any) -> None:
    start(harness)
    harness.tick()
    before = len(harness.fake.sent)
    harness.fake.fail_next(("status", 500))
    outbox_id = queue_long_message(harness)
    harness.tick()
    assert len(harness.fake.sent) == before and row(harness, outbox_id).parts_sent == 0
    clock.advance(seconds=2)
    harness.tick()
    assert "\n\n".join(p["text"] for p in harness.fake.sent[before:]) == long_text()


@pytest.mark.db
def test_a_part_telegram_did_not_confirm_is_not_resent(harness: Harness, clock: Any) -> None:
    start(harness)
    harness.tick()
    before = len(harness.fake.sent)
    harness.fake.fail_next(("hang", HANG))
    outbox_id = queue_long_message(harness)
    harness.tick()
    waiting = row(harness, outbox_id)
    assert (waiting.status, waiting.parts_sent) == ("pending", 1)  # the rest after a pause, in order
    harness.fake.wait_for(before + 1, timeout=HANG * 10)  # the hung first part lands
    clock.advance(seconds=2)
    harness.tick()
    parts = harness.fake.sent[before:]
    assert "\n\n".join(p["text"] for p in parts) == long_text()  # each part once, in order
    assert row(harness, outbox_id).status == "sent"


@pytest.mark.db
def test_parts_accepted_before_a_restart_are_not_sent_again(harness: Harness) -> None:
    start(harness)
    harness.tick()
    before = len(harness.fake.sent)
    outbox_id = queue_long_message(harness, parts_sent=1)  # as left by a process killed mid-message
    harness.tick()
    [rest] = harness.fake.sent[before:]
    assert long_text().endswith(rest["text"]) and rest["reply_markup"] is not None
    assert row(harness, outbox_id).parts_sent == 2


# The sender's answers, without the dispatcher ---------------------------------------------------


def send_all(base_url: str, items: list[OutboxItem]) -> list[SendResult]:
    """Send items one by one with the production sender, in one event loop."""
    channel = build_telegram(make_settings("sqlite://", base_url))
    assert channel is not None

    async def main() -> list[SendResult]:
        try:
            return [await channel.sender.send(item) for item in items]
        finally:
            await channel.stop()

    return asyncio.run(main())


def item(text: str = "Bonjour", address: str = str(CHAT)) -> OutboxItem:
    return OutboxItem(1, "telegram", address, "reply", 0, OutboundMessage(text))


def test_sender_maps_telegram_answers(fake: FakeTelegram) -> None:
    fake.fail_next(("blocked",), ("retry_after", 3), ("status", 503))
    blocked, flood, unavailable, empty, ok = send_all(fake.base_url, [item()] * 3 + [item("  "), item()])
    assert blocked.unreachable and not blocked.retry and "blocked" in (blocked.error or "")
    assert flood.retry and flood.retry_after == 3 and not flood.unreachable
    assert unavailable.retry and not unavailable.unreachable
    assert not empty.ok and not empty.retry and not empty.unreachable  # BadRequest: permanent
    assert ok.ok and ok.provider_id == str(fake.sent[0]["message_id"]) and ok.parts_sent == 1


def test_sender_retries_when_telegram_cannot_be_reached() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [refused] = send_all(f"http://127.0.0.1:{port}/bot", [item()])
    assert not refused.ok and refused.retry and not refused.unreachable and refused.parts_sent == 0


@pytest.mark.db
def test_a_booking_calendar_file_goes_out_as_a_document(harness: Harness) -> None:
    start(harness)
    harness.tick()
    resident = harness.resident()
    assert resident is not None
    now = harness.app.state.orchestrator.clock()
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Réunion\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with transaction(harness.db) as session:
        session.add(
            Outbox(
                resident_id=resident.id,
                channel="telegram",
                address=str(CHAT),
                kind="calendar",
                body="Votre rendez-vous, à ajouter à votre agenda.",
                attachment={"filename": "rendez-vous.ics", "mime": "text/calendar", "content": ics},
                created_at=now,
                next_attempt_at=now,
            )
        )
    harness.tick()
    [document] = harness.fake.calls_to("sendDocument")
    [sent] = [s for s in harness.fake.sent if s.get("method") == "sendDocument"]
    assert sent["filename"] == "rendez-vous.ics"
    assert b"BEGIN:VCALENDAR" in sent["content"] and "Réunion".encode() in sent["content"]
    assert sent["caption"] == "Votre rendez-vous, à ajouter à votre agenda."
    assert [r.status for r in harness.outbox() if r.kind == "calendar"] == ["sent"]
    assert document is not None
