"""Telegram parsing: one Bot API update becomes at most one InboundMessage. Pure: no I/O."""

from __future__ import annotations

from telegram import Chat, ChatMember, Message, Update

from bot.channels.base import InboundMessage

CHANNEL = "telegram"
# The updates the assistant asks Telegram for (setWebhook and getUpdates).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member", "channel_post")
# Message contents the assistant cannot read; each gets the polite "write to me" line.
UNSUPPORTED_CONTENT = (
    "photo",
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "story",
    "game",
)


def parse_update(update: Update) -> InboundMessage | None:
    """The event an update means for a resident, or None when there is no one sensible to answer.

    Only private chats are residents: a channel post or a group message has no address a reply
    could go to without broadcasting it to strangers, so it is acknowledged and dropped.
    """
    external_id = f"tg-{update.update_id}"
    query = update.callback_query
    if query is not None:
        if query.message is None or query.message.chat.type != Chat.PRIVATE or not query.data:
            return None
        value = query.data.rpartition(":")[2]
        return InboundMessage(CHANNEL, str(query.message.chat.id), external_id, text=value, choice=query.data)
    if update.message is not None:
        return _message(update.message, external_id)
    if update.edited_message is not None:
        if update.edited_message.chat.type != Chat.PRIVATE:
            return None
        return _unsupported(update.edited_message, external_id, "edited")
    member = update.my_chat_member
    if member is not None and member.chat.type == Chat.PRIVATE:
        address = str(member.chat.id)
        new, old = member.new_chat_member.status, member.old_chat_member.status
        if new == ChatMember.BANNED:  # "kicked": the resident blocked the bot
            return InboundMessage(CHANNEL, address, external_id, text="blocked", kind="opt_out")
        if new == ChatMember.MEMBER and old == ChatMember.BANNED:  # unblocked: as if they wrote START
            return InboundMessage(CHANNEL, address, external_id, text="START")
    return None  # channel posts, group events and update types the assistant does not use


def _message(message: Message, external_id: str) -> InboundMessage | None:
    """A new message in a private chat: text, or something the assistant cannot read."""
    if message.chat.type != Chat.PRIVATE:
        return None
    if message.text is not None:
        return InboundMessage(CHANNEL, str(message.chat.id), external_id, text=command_text(message.text))
    for content in UNSUPPORTED_CONTENT:
        if getattr(message, content, None):
            return _unsupported(message, external_id, content)
    return None  # service messages (a pin, an auto-delete timer...) need no answer


def _unsupported(message: Message, external_id: str, what: str) -> InboundMessage:
    return InboundMessage(CHANNEL, str(message.chat.id), external_id, text=what, kind="unsupported")


def command_text(text: str) -> str:
    """'/start PAYLOAD' as '/start', '/menu@our_bot' as '/menu': the keyword the engine knows."""
    if not text.startswith("/"):
        return text
    command, _, rest = text.partition(" ")
    command = command.partition("@")[0]
    return command if command.lower() == "/start" or not rest else f"{command} {rest}"
