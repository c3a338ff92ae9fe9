"""Telegram updates to InboundMessage, table by table: pure, no server, no database."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from bot.channels.base import InboundMessage
from bot.channels.telegram import keyboard, secret_ok
from bot.channels.telegram_parse import command_text, parse_update
from tests.fakes import telegram_updates as tu

CHAT = 42


def parse(data: dict[str, Any]) -> InboundMessage | None:
    return parse_update(Update.de_json(data, None))


def document_message(update_id: int, chat_id: int) -> dict[str, Any]:
    update = tu.photo_message(update_id, chat_id)
    message = update["message"]
    del message["photo"]
    message["document"] = {"file_id": "BQACAgQ", "file_unique_id": "AgADd", "file_name": "cv.pdf"}
    return update


def group_text(update_id: int, text: str) -> dict[str, Any]:
    update = tu.text_message(update_id, CHAT, text)
    update["message"]["chat"] = {"id": -100777, "title": "Voisins", "type": "supergroup"}
    return update


@pytest.mark.parametrize(
    ("update", "kind", "text", "choice"),
    [
        (tu.text_message(1, CHAT, "bonjour"), "message", "bonjour", None),
        (tu.start_command(2, CHAT), "message", "/start", None),
        (tu.start_command(3, CHAT, "ref-mairie"), "message", "/start", None),
        (tu.callback_query(4, CHAT, "onboarding.consent:yes"), "message", "yes", "onboarding.consent:yes"),
        (tu.callback_query(5, CHAT, "old"), "message", "old", "old"),
        (tu.photo_message(6, CHAT, caption="mon CV"), "unsupported", "photo", None),
        (tu.sticker_message(7, CHAT), "unsupported", "sticker", None),
        (tu.voice_message(8, CHAT), "unsupported", "voice", None),
        (tu.location_message(9, CHAT), "unsupported", "location", None),
        (document_message(10, CHAT), "unsupported", "document", None),
        (tu.edited_message(11, CHAT, "bonjour !", message_id=1), "unsupported", "edited", None),
        (tu.bot_blocked(12, CHAT), "opt_out", "blocked", None),
        (tu.bot_unblocked(13, CHAT), "message", "START", None),
    ],
)
def test_updates_become_one_inbound_message(
    update: dict[str, Any], kind: str, text: str, choice: str | None
) -> None:
    inbound = parse(update)
    assert inbound == InboundMessage(
        "telegram", str(CHAT), f"tg-{update['update_id']}", text=text, choice=choice, kind=kind
    )


@pytest.mark.parametrize(
    "update",
    [
        tu.channel_post(20),
        group_text(21, "bonjour"),
        tu.my_chat_member(22, CHAT, new_status="member", old_status="left"),
        {
            "update_id": 23,
            "message_reaction_count": {
                "chat": {"id": -1001, "type": "channel", "title": "x"},
                "message_id": 5,
                "date": 0,
                "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}],
            },
        },
        {"update_id": 24, "some_future_update": {"anything": True}},
        {"update_id": 25, "message": {**tu.text_message(25, CHAT, "x")["message"], "text": None}},
    ],
    ids=["channel_post", "group", "member_not_after_block", "reaction", "unknown", "service_message"],
)
def test_updates_with_no_resident_to_answer_are_dropped(update: dict[str, Any]) -> None:
    assert parse(update) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", "/start"),
        ("/start abc-123", "/start"),
        ("/start@batissons_bot", "/start"),
        ("/menu@batissons_bot", "/menu"),
        ("/aide moi", "/aide moi"),
        ("bonjour /start", "bonjour /start"),
    ],
)
def test_command_text(text: str, expected: str) -> None:
    assert command_text(text) == expected


def test_keyboard_has_one_button_per_row() -> None:
    markup = keyboard((("Oui", "onboarding.consent:yes"), ("Non", "onboarding.consent:no")))
    assert markup is not None
    rows = markup.to_dict()["inline_keyboard"]
    assert rows == [
        [{"text": "Oui", "callback_data": "onboarding.consent:yes"}],
        [{"text": "Non", "callback_data": "onboarding.consent:no"}],
    ]
    assert keyboard(()) is None


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("s3cret", "s3cret", True),
        ("s3cret", "s3cre", False),
        ("s3cret", None, False),
        ("s3cret", "", False),
        (None, "s3cret", False),
        ("", "", False),
        ("s3cret", "sécret", False),
    ],
)
def test_secret_check(expected: str | None, given: str | None, ok: bool) -> None:
    assert secret_ok(expected, given) is ok
