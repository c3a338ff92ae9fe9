"""The real twilio and python-telegram-bot clients against the loopback fakes."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import requests
import telegram
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, ContextTypes
from telegram.request import HTTPXRequest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio, sms_segments

TIMEOUT = 0.5
TOKEN = "123456789:TEST-token_for-fake"
RESIDENT = "+33612345678"
SENDER = "+33757000000"


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (pytest-asyncio is not installed)."""
    return asyncio.run(coro)


# Twilio ---------------------------------------------------------------------------------


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def twilio_client(fake: FakeTwilio, token: str | None = None) -> Client:
    """The production wiring: a timeout on the HTTP client, the REST base on the fake."""
    client = Client(
        fake.account_sid,
        token or fake.auth_token,
        http_client=TwilioHttpClient(timeout=TIMEOUT),
    )
    client.edge = client.region = None  # TWILIO_EDGE/TWILIO_REGION would rewrite the host
    client.api.base_url = fake.base_url
    return client


def test_twilio_send_message(twilio_fake: FakeTwilio) -> None:
    client = twilio_client(twilio_fake)
    message = client.messages.create(
        to=RESIDENT, from_=SENDER, body="Bonjour, à demain !", status_callback="https://x/status"
    )
    assert message.sid is not None and message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.num_segments) == (RESIDENT, SENDER, "1")
    assert message.date_created is not None and message.date_created.tzinfo is not None
    [record] = twilio_fake.wait_for(1)
    assert record["sid"] == message.sid
    assert record["to"] == RESIDENT and record["from_"] == SENDER
    assert record["body"] == "Bonjour, à demain !"
    assert record["status_callback"] == "https://x/status"
    assert record["messaging_service_sid"] is None
    assert record["encoding"] == "GSM-7"
    assert client.messages(message.sid).fetch().body == "Bonjour, à demain !"


def test_twilio_messaging_service(twilio_fake: FakeTwilio) -> None:
    client = twilio_client(twilio_fake)
    message = client.messages.create(to=RESIDENT, messaging_service_sid="MG" + "1" * 32, body="Salut")
    assert message.from_ is None and message.status == "accepted"
    assert twilio_fake.messages[0]["messaging_service_sid"] == "MG" + "1" * 32


def test_sms_segments() -> None:
    assert sms_segments("é" * 160) == (1, "GSM-7")
    assert sms_segments("a" * 161) == (2, "GSM-7")
    assert sms_segments("€" * 80) == (1, "GSM-7")
    assert sms_segments("ç" + "a" * 69) == (1, "UCS-2")
    assert sms_segments("ç" + "a" * 70) == (2, "UCS-2")


def test_twilio_bad_credentials(twilio_fake: FakeTwilio) -> None:
    client = twilio_client(twilio_fake, token="wrong")
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=RESIDENT, from_=SENDER, body="x")
    assert (info.value.status, info.value.code) == (401, 20003)
    assert twilio_fake.messages == [] and twilio_fake.attempts[0]["authorized"] is False


def test_twilio_invalid_to(twilio_fake: FakeTwilio) -> None:
    with pytest.raises(TwilioRestException) as info:
        twilio_client(twilio_fake).messages.create(to="0612345678", from_=SENDER, body="x")
    assert (info.value.status, info.value.code) == (400, 21211)


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [(("status", 500), 500, 20500), (("status", 429), 429, 20429), (("error_code", 21610), 400, 21610)],
)
def test_twilio_error_answers(
    twilio_fake: FakeTwilio, fault: tuple[Any, ...], status: int, code: int
) -> None:
    client = twilio_client(twilio_fake)
    twilio_fake.fail_next(fault)
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=RESIDENT, from_=SENDER, body="x")
    assert (info.value.status, info.value.code) == (status, code)
    assert twilio_fake.messages == []
    # The fault is consumed: the next request goes through.
    client.messages.create(to=RESIDENT, from_=SENDER, body="again")
    assert [a["status"] for a in twilio_fake.attempts] == [status, 201]


def test_twilio_unsubscribed_recipient(twilio_fake: FakeTwilio) -> None:
    twilio_fake.unsubscribe(RESIDENT)
    with pytest.raises(TwilioRestException) as info:
        twilio_client(twilio_fake).messages.create(to=RESIDENT, from_=SENDER, body="x")
    assert info.value.code == 21610
    assert "unsubscribed" in info.value.msg


def test_twilio_hang_times_out_but_message_goes_out(twilio_fake: FakeTwilio) -> None:
    client = twilio_client(twilio_fake)
    twilio_fake.fail_next(("hang", TIMEOUT * 2))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):  # ReadTimeout, not a TwilioException
        client.messages.create(to=RESIDENT, from_=SENDER, body="late")
    assert time.monotonic() - started < TIMEOUT * 2
    # Twilio accepted it anyway: a blind retry would send it twice.
    assert twilio_fake.wait_for(1, timeout=TIMEOUT * 4)[0]["body"] == "late"


def test_twilio_connection_reset(twilio_fake: FakeTwilio) -> None:
    client = twilio_client(twilio_fake)
    twilio_fake.fail_next(("reset",))
    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(to=RESIDENT, from_=SENDER, body="x")
    assert twilio_fake.messages == []
    client.messages.create(to=RESIDENT, from_=SENDER, body="x")
    assert len(twilio_fake.messages) == 1


# Telegram -------------------------------------------------------------------------------


@pytest.fixture
def tg_fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def make_bot(fake: FakeTelegram, token: str = TOKEN) -> Bot:
    """The production wiring: short timeouts, base_url on the fake."""

    def request() -> HTTPXRequest:
        return HTTPXRequest(read_timeout=TIMEOUT, write_timeout=TIMEOUT, connect_timeout=TIMEOUT)

    return Bot(token, base_url=fake.base_url, request=request(), get_updates_request=request())


def with_bot(fake: FakeTelegram, body: Callable[[Bot], Coroutine[Any, Any, Any]]) -> Any:
    async def main() -> Any:
        async with make_bot(fake) as bot:
            return await body(bot)

    return run(main())


KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Oui", callback_data="rdv:yes"),
            InlineKeyboardButton("Non", callback_data="rdv:no"),
        ]
    ]
)


def test_telegram_initialize_calls_get_me(tg_fake: FakeTelegram) -> None:
    username = with_bot(tg_fake, lambda bot: asyncio.sleep(0, bot.username))
    assert username == "batissons_test_bot"
    assert tg_fake.calls[0].method == "getMe"


def test_telegram_send_message_with_keyboard(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> list[telegram.Message]:
        return [await bot.send_message(42, "Tu viens ?", reply_markup=KEYBOARD) for _ in range(2)]

    first, second = with_bot(tg_fake, body)
    assert second.message_id == first.message_id + 1
    assert first.chat.id == 42 and first.text == "Tu viens ?" and first.date.tzinfo is not None
    assert first.reply_markup == KEYBOARD
    sent = tg_fake.wait_for(2)
    assert sent[0]["chat_id"] == 42 and sent[0]["text"] == "Tu viens ?"
    assert sent[0]["reply_markup"]["inline_keyboard"][0][1] == {"text": "Non", "callback_data": "rdv:no"}
    method, params = tg_fake.calls[1]
    assert method == "sendMessage" and params["chat_id"] == 42


def test_telegram_rejects_what_telegram_rejects(tg_fake: FakeTelegram) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])

    async def body(bot: Bot) -> None:
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(42, "x" * 4097)
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(42, "x", reply_markup=too_long)

    with_bot(tg_fake, body)
    assert tg_fake.sent == []


def test_telegram_callback_answer_and_edit(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        message = await bot.send_message(42, "Tu viens ?", reply_markup=KEYBOARD)
        assert await bot.answer_callback_query("q-1", text="Noté") is True
        edited = await bot.edit_message_reply_markup(42, message.message_id, reply_markup=None)
        assert isinstance(edited, telegram.Message) and edited.reply_markup is None
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_reply_markup(42, message.message_id, reply_markup=None)

    with_bot(tg_fake, body)
    assert tg_fake.calls_to("answerCallbackQuery") == [{"callback_query_id": "q-1", "text": "Noté"}]


def test_telegram_send_document(tg_fake: FakeTelegram) -> None:
    content = b"%PDF-1.4 mon parcours"

    async def body(bot: Bot) -> telegram.Message:
        return await bot.send_document(42, document=content, filename="parcours.pdf", caption="Ton parcours")

    message = with_bot(tg_fake, body)
    assert message.document is not None and message.document.file_name == "parcours.pdf"
    assert message.document.mime_type == "application/pdf" and message.caption == "Ton parcours"
    [sent] = tg_fake.wait_for(1)
    assert (sent["method"], sent["filename"], sent["content"]) == ("sendDocument", "parcours.pdf", content)


def test_telegram_webhook(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        assert await bot.set_webhook("https://batissons.example/webhooks/telegram", secret_token="s3cret_-x")
        info = await bot.get_webhook_info()
        assert info.url == "https://batissons.example/webhooks/telegram"
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        with pytest.raises(BadRequest, match="(?i)secret token"):
            await bot.set_webhook("https://batissons.example/webhooks/telegram", secret_token="not ok!")
        with pytest.raises(BadRequest, match="(?i)https"):
            await bot.set_webhook("http://127.0.0.1:8000/webhooks/telegram")
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""

    with_bot(tg_fake, body)
    assert tg_fake.calls_to("setWebhook")[0]["secret_token"] == "s3cret_-x"
    assert tg_fake.webhook == {}


def test_telegram_get_updates_honours_offset(tg_fake: FakeTelegram) -> None:
    tg_fake.queue_update(tu.start_command(10, 42))
    tg_fake.queue_update(tu.callback_query(11, 42, "rdv:yes"))

    async def body(bot: Bot) -> None:
        updates = await bot.get_updates(offset=0, timeout=1)
        assert [u.update_id for u in updates] == [10, 11]
        assert updates[0].message is not None and updates[0].message.text == "/start"
        assert updates[1].callback_query is not None and updates[1].callback_query.data == "rdv:yes"
        updates = await bot.get_updates(offset=11, timeout=1)
        assert [u.update_id for u in updates] == [11]
        started = time.monotonic()
        assert await bot.get_updates(offset=12, timeout=10) == ()  # long poll capped at 0.5 s
        assert time.monotonic() - started < 2

    with_bot(tg_fake, body)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` is an int (deprecated) or, with PTB_TIMEDELTA=true, a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_telegram_retry_after(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        tg_fake.fail_next(("retry_after", 7))
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(42, "x")
        assert retry_after_seconds(info.value) == 7
        assert not isinstance(info.value, NetworkError)
        await bot.send_message(42, "x")  # fault consumed

    with_bot(tg_fake, body)
    assert len(tg_fake.sent) == 1


def test_telegram_blocked(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        tg_fake.fail_next(("blocked",))
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(42, "x")
        tg_fake.block(43)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(43, "x")

    with_bot(tg_fake, body)
    assert tg_fake.sent == []


def test_telegram_server_error(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        tg_fake.fail_next(("status", 500), ("status", 502))
        with pytest.raises(NetworkError, match="Internal Server Error") as info:
            await bot.send_message(42, "x")
        assert not isinstance(info.value, TimedOut | BadRequest)
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(42, "x")

    with_bot(tg_fake, body)


def test_telegram_hang_times_out(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        tg_fake.fail_next(("hang", TIMEOUT * 2))
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(42, "late")
        assert time.monotonic() - started < TIMEOUT * 2

    with_bot(tg_fake, body)
    assert tg_fake.wait_for(1, timeout=TIMEOUT * 4)[0]["text"] == "late"  # delivered anyway


def test_telegram_connection_reset(tg_fake: FakeTelegram) -> None:
    async def body(bot: Bot) -> None:
        tg_fake.fail_next(("reset",))
        with pytest.raises(NetworkError) as info:
            await bot.send_message(42, "x")
        assert not isinstance(info.value, TimedOut)
        await bot.send_message(42, "x")

    with_bot(tg_fake, body)
    assert len(tg_fake.sent) == 1


def test_telegram_unknown_method_and_wrong_token() -> None:
    with FakeTelegram(token=TOKEN) as fake:

        async def body(bot: Bot) -> None:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("sendCarrierPigeon")

        with_bot(fake, body)

        async def wrong_token() -> None:
            async with make_bot(fake, token="999:other"):
                pass

        with pytest.raises(InvalidToken):
            run(wrong_token())


def test_application_handles_callback_through_fake(tg_fake: FakeTelegram) -> None:
    async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        await context.bot.send_message(query.message.chat.id, f"Choix : {query.data}")

    async def main() -> None:
        app = Application.builder().token(TOKEN).base_url(tg_fake.base_url).updater(None).build()
        app.add_handler(CallbackQueryHandler(on_tap))
        async with app:
            await app.process_update(Update.de_json(tu.callback_query(5, 42, "rdv:yes"), app.bot))

    run(main())
    assert tg_fake.calls_to("answerCallbackQuery")[0]["callback_query_id"]
    assert tg_fake.wait_for(1)[0]["text"] == "Choix : rdv:yes"


# Update builders ------------------------------------------------------------------------


def test_update_builders_parse_as_real_updates() -> None:
    updates = {
        "start": tu.start_command(1, 42, "ref-mairie"),
        "text": tu.text_message(2, 42, "bonjour"),
        "callback": tu.callback_query(3, 42, "menu:1"),
        "edited": tu.edited_message(4, 42, "bonjour !", message_id=2),
        "photo": tu.photo_message(5, 42, caption="mon CV"),
        "sticker": tu.sticker_message(6, 42),
        "voice": tu.voice_message(7, 42),
        "location": tu.location_message(8, 42),
        "blocked": tu.bot_blocked(9, 42),
        "unblocked": tu.bot_unblocked(10, 42),
        "channel": tu.channel_post(11),
    }
    parsed = {name: Update.de_json(data, None) for name, data in updates.items()}
    assert all(u.update_id == updates[name]["update_id"] for name, u in parsed.items())

    start = parsed["start"].message
    assert start is not None and start.text == "/start ref-mairie"
    assert start.parse_entities([telegram.MessageEntity.BOT_COMMAND]) != {}
    assert parsed["start"].effective_user is not None and parsed["start"].effective_user.id == 42
    assert parsed["text"].effective_message is not None and parsed["text"].effective_message.entities == ()
    query = parsed["callback"].callback_query
    assert query is not None and query.data == "menu:1" and query.message is not None
    assert query.message.from_user is not None and query.message.from_user.is_bot
    assert parsed["edited"].edited_message is not None and parsed["edited"].edited_message.edit_date
    assert parsed["photo"].message is not None and len(parsed["photo"].message.photo) == 3
    assert parsed["sticker"].message is not None and parsed["sticker"].message.sticker is not None
    assert parsed["voice"].message is not None and parsed["voice"].message.voice is not None
    assert parsed["location"].message is not None and parsed["location"].message.location is not None
    blocked = parsed["blocked"].my_chat_member
    assert blocked is not None and blocked.new_chat_member.status == "kicked"
    unblocked = parsed["unblocked"].my_chat_member
    assert unblocked is not None and unblocked.new_chat_member.status == "member"
    channel = parsed["channel"].channel_post
    assert channel is not None and channel.chat.type == "channel"
    assert parsed["channel"].effective_user is None
