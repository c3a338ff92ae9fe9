"""Telegram rendering: text within 4,096 characters, choices as an inline keyboard."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import split_message

TELEGRAM_MAX_CHARS = 4096
CALLBACK_MAX_BYTES = 64


@dataclass(frozen=True)
class TelegramMessage:
    """One sendMessage call: its text and its buttons (label, callback data), one per row."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()


def callback_data(question: str | None, value: str) -> str:
    """'flow.step:value', so a tap on an old question's button is recognised as stale."""
    data = f"{question or ''}:{value}"
    if len(data.encode()) > CALLBACK_MAX_BYTES:
        data = f":{value}"[:CALLBACK_MAX_BYTES]
    return data


def render_telegram(message: OutboundMessage) -> list[TelegramMessage]:
    """The messages to send; the buttons go with the last part."""
    parts = split_message(message.text, TELEGRAM_MAX_CHARS)
    buttons = tuple((c["label"], callback_data(message.question, c["value"])) for c in message.choices)
    return [TelegramMessage(p, buttons if i == len(parts) - 1 else ()) for i, p in enumerate(parts)]
