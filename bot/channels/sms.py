"""SMS rendering: numbered choices, GSM-7-friendly text, long texts split on paragraphs."""

from __future__ import annotations

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import is_gsm7, split_message, to_gsm7_friendly

SMS_MAX_CHARS = 1600


def sms_text(message: OutboundMessage) -> str:
    """The whole text of one SMS reply, with its choices as a numbered list."""
    lines = [message.text]
    lines += [f"{n} {choice['label']}" for n, choice in enumerate(message.choices, start=1)]
    text = "\n".join(lines)
    friendly = to_gsm7_friendly(text)
    # Only take the mapped text when it makes the message GSM-7; otherwise it would cost more.
    return friendly if is_gsm7(friendly) else text


def render_sms(message: OutboundMessage) -> list[str]:
    """The SMS bodies to send, each within Twilio's 1,600 characters."""
    return split_message(sms_text(message), SMS_MAX_CHARS)
