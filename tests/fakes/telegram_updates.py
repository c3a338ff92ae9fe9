"""Builders for real-shaped inbound Telegram Update dicts (Bot API JSON)."""

from __future__ import annotations

import time
from typing import Any

# Same defaults as FakeTelegram's getMe, so callbacks look like they came from our bot.
BOT_ID = 7000000001
BOT_USERNAME = "batissons_test_bot"


def _now(date: int | None) -> int:
    return int(time.time()) if date is None else date


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def user(
    user_id: int,
    *,
    first_name: str = "Awa",
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = "fr",
) -> dict[str, Any]:
    """A human Telegram user."""
    result: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        result["last_name"] = last_name
    if username is not None:
        result["username"] = username
    if language_code is not None:
        result["language_code"] = language_code
    return result


def bot_user(bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> dict[str, Any]:
    """Our bot, as it appears in ``from`` of its own messages."""
    return {"id": bot_id, "is_bot": True, "first_name": "Bâtissons", "username": username}


def private_chat(chat_id: int, *, first_name: str = "Awa", username: str | None = None) -> dict[str, Any]:
    """A one-to-one chat with a resident."""
    chat: dict[str, Any] = {"id": chat_id, "first_name": first_name, "type": "private"}
    if username is not None:
        chat["username"] = username
    return chat


def _message(
    chat_id: int,
    user_id: int | None,
    message_id: int,
    date: int | None,
    first_name: str,
    language_code: str | None,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": user(
            chat_id if user_id is None else user_id, first_name=first_name, language_code=language_code
        ),
        "chat": private_chat(chat_id, first_name=first_name),
        "date": _now(date),
    }


def text_message(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    user_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
    first_name: str = "Awa",
    language_code: str | None = "fr",
) -> dict[str, Any]:
    """A private text message; a leading ``/command`` gets its ``bot_command`` entity."""
    message = _message(chat_id, user_id, message_id or update_id, date, first_name, language_code)
    message["text"] = text
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [{"offset": 0, "length": _utf16_len(command), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def start_command(
    update_id: int,
    chat_id: int,
    payload: str | None = None,
    *,
    user_id: int | None = None,
    language_code: str | None = "fr",
) -> dict[str, Any]:
    """``/start`` (or ``/start PAYLOAD`` from a t.me deep link)."""
    text = "/start" if not payload else f"/start {payload}"
    return text_message(update_id, chat_id, text, user_id=user_id, language_code=language_code)


def callback_query(
    update_id: int,
    chat_id: int,
    data: str,
    *,
    user_id: int | None = None,
    message_id: int = 1,
    message_text: str = "Choisissez :",
    reply_markup: dict[str, Any] | None = None,
    query_id: str | None = None,
    date: int | None = None,
    bot_id: int = BOT_ID,
) -> dict[str, Any]:
    """A tap on an inline button under one of our bot's messages."""
    if len(data.encode("utf-8")) > 64:
        raise ValueError("callback_data is 1 to 64 bytes")
    if reply_markup is None:
        reply_markup = {"inline_keyboard": [[{"text": data, "callback_data": data}]]}
    uid = chat_id if user_id is None else user_id
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id or f"{uid}{update_id:08d}",
            "from": user(uid),
            "message": {
                "message_id": message_id,
                "from": bot_user(bot_id),
                "chat": private_chat(chat_id),
                "date": _now(date) - 60,
                "text": message_text,
                "reply_markup": reply_markup,
            },
            "chat_instance": str(-(abs(chat_id) * 7919 % 10**18)),
            "data": data,
        },
    }


def edited_message(
    update_id: int,
    chat_id: int,
    text: str,
    *,
    message_id: int,
    user_id: int | None = None,
    date: int | None = None,
    edit_date: int | None = None,
) -> dict[str, Any]:
    """A resident editing a text message they sent earlier."""
    message = _message(chat_id, user_id, message_id, date, "Awa", "fr")
    message["date"] -= 30
    message["edit_date"] = _now(edit_date)
    message["text"] = text
    return {"update_id": update_id, "edited_message": message}


def photo_message(
    update_id: int,
    chat_id: int,
    *,
    caption: str | None = None,
    user_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A photo, as the usual list of sizes, with an optional caption."""
    message = _message(chat_id, user_id, message_id or update_id, date, "Awa", "fr")
    message["photo"] = [
        {
            "file_id": f"AgACAgQAAxkBAAI{update_id}s",
            "file_unique_id": f"AQADs{update_id}",
            "file_size": 1530,
            "width": 90,
            "height": 67,
        },
        {
            "file_id": f"AgACAgQAAxkBAAI{update_id}m",
            "file_unique_id": f"AQADm{update_id}",
            "file_size": 21780,
            "width": 320,
            "height": 240,
        },
        {
            "file_id": f"AgACAgQAAxkBAAI{update_id}x",
            "file_unique_id": f"AQADx{update_id}",
            "file_size": 98765,
            "width": 1280,
            "height": 960,
        },
    ]
    if caption is not None:
        message["caption"] = caption
    return {"update_id": update_id, "message": message}


def sticker_message(
    update_id: int,
    chat_id: int,
    *,
    emoji: str = "👍",
    user_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A regular static sticker."""
    message = _message(chat_id, user_id, message_id or update_id, date, "Awa", "fr")
    message["sticker"] = {
        "file_id": f"CAACAgIAAxkBAAI{update_id}",
        "file_unique_id": f"AgADst{update_id}",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "HotCherry",
        "file_size": 24012,
        "thumbnail": {
            "file_id": f"AAMCAgADGQ{update_id}",
            "file_unique_id": f"AQADth{update_id}",
            "file_size": 5416,
            "width": 128,
            "height": 128,
        },
    }
    return {"update_id": update_id, "message": message}


def voice_message(
    update_id: int,
    chat_id: int,
    *,
    duration: int = 4,
    user_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A voice note (OGG/Opus)."""
    message = _message(chat_id, user_id, message_id or update_id, date, "Awa", "fr")
    message["voice"] = {
        "file_id": f"AwACAgQAAxkBAAI{update_id}",
        "file_unique_id": f"AgADvo{update_id}",
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": 8000 * duration,
    }
    return {"update_id": update_id, "message": message}


def location_message(
    update_id: int,
    chat_id: int,
    *,
    latitude: float = 48.9362,
    longitude: float = 2.3574,
    user_id: int | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A shared location (defaults to Saint-Denis)."""
    message = _message(chat_id, user_id, message_id or update_id, date, "Awa", "fr")
    message["location"] = {"latitude": latitude, "longitude": longitude}
    return {"update_id": update_id, "message": message}


def my_chat_member(
    update_id: int,
    chat_id: int,
    *,
    new_status: str = "kicked",
    old_status: str = "member",
    user_id: int | None = None,
    date: int | None = None,
    bot_id: int = BOT_ID,
) -> dict[str, Any]:
    """Our bot's membership changed in a private chat: ``kicked`` means the resident blocked it."""

    def member(status: str) -> dict[str, Any]:
        result: dict[str, Any] = {"user": bot_user(bot_id), "status": status}
        if status == "kicked":
            result["until_date"] = 0
        return result

    uid = chat_id if user_id is None else user_id
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": private_chat(chat_id),
            "from": user(uid),
            "date": _now(date),
            "old_chat_member": member(old_status),
            "new_chat_member": member(new_status),
        },
    }


def bot_blocked(update_id: int, chat_id: int, **kwargs: Any) -> dict[str, Any]:
    """The resident blocked the bot."""
    return my_chat_member(update_id, chat_id, new_status="kicked", old_status="member", **kwargs)


def bot_unblocked(update_id: int, chat_id: int, **kwargs: Any) -> dict[str, Any]:
    """The resident unblocked (restarted) the bot."""
    return my_chat_member(update_id, chat_id, new_status="member", old_status="kicked", **kwargs)


def channel_post(
    update_id: int,
    chat_id: int = -1001234567890,
    text: str = "Annonce",
    *,
    title: str = "Bâtissons nos emplois",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A post in a channel where the bot is an administrator."""
    chat = {"id": chat_id, "title": title, "type": "channel"}
    return {
        "update_id": update_id,
        "channel_post": {
            "message_id": message_id or update_id,
            "sender_chat": dict(chat),
            "chat": chat,
            "date": _now(date),
            "text": text,
        },
    }
