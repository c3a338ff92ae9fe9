"""Telegram over python-telegram-bot: the webhook route, the sender, webhook registration, long polling."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import warnings
from datetime import timedelta

import httpx
from fastapi import APIRouter, BackgroundTasks, Request, Response
from starlette.concurrency import run_in_threadpool
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.telegram_parse import ALLOWED_UPDATES, parse_update
from bot.channels.telegram_render import TelegramMessage, render_telegram
from bot.orchestrator import Orchestrator, pseudonym
from bot.outbox import Dispatcher, OutboxItem, SendResult
from bot.runner import Runner
from bot.settings import Settings

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
POLL_SECONDS = 25
CAPTION_MAX = 1024  # Telegram's limit for a document caption

router = APIRouter()
# PTB 22 warns each time a RetryAfter is built that retry_after will become a timedelta; both are handled.
warnings.filterwarnings(
    "ignore", message=".*attribute `retry_after` will be of type", category=PTBDeprecationWarning
)


class TelegramSender:
    """Delivers outbox items through the Bot API: each text part, the inline keyboard on the last."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def _deliver(self, item: OutboxItem, part: TelegramMessage) -> Message:
        """One sendMessage, or a sendDocument when the row carries a file (the .ics of a booking)."""
        if item.attachment:
            document = InputFile(
                item.attachment["content"].encode(), filename=item.attachment.get("filename", "file")
            )
            return await self.bot.send_document(
                chat_id=_chat_id(item.address), document=document, caption=part.text[:CAPTION_MAX]
            )
        return await self.bot.send_message(
            chat_id=_chat_id(item.address), text=part.text, reply_markup=keyboard(part.buttons)
        )

    async def send(self, item: OutboxItem) -> SendResult:
        """Send the parts Telegram has not accepted yet; map its answers onto retry, unreachable or failure.

        The count of accepted parts goes back in every result and is stored on the outbox row,
        so a retry, even after a restart, sends only the rest of a long message.
        """
        parts = render_telegram(item.message)
        accepted = min(item.parts_sent, len(parts))
        ids: list[str] = []

        def later(exc: TelegramError, retry_after: float | None = None) -> SendResult:
            return SendResult(
                False, retry=True, retry_after=retry_after, error=_error(exc), parts_sent=accepted
            )

        while accepted < len(parts):
            part = parts[accepted]
            try:
                sent = await self._deliver(item, part)
            except TimedOut as exc:
                if not isinstance(exc.__cause__, httpx.ReadTimeout):  # connect, write or pool: not sent
                    return later(exc)
                # The request reached Telegram in full and only the answer is late. Telegram has no
                # idempotency key, so a resend risks a duplicate: count the part as handed over.
                log.warning(
                    "outbox %s: Telegram did not confirm part %s; not resending it", item.id, accepted
                )
                accepted, ids = accepted + 1, [*ids, "?"]
                if accepted < len(parts):
                    return later(exc)  # the rest after a pause, so the parts keep their order
                continue
            except RetryAfter as exc:
                return later(exc, retry_after_seconds(exc))
            except Forbidden as exc:  # blocked by the user, user deactivated
                log.info("outbox %s: %s cannot be reached: %s", item.id, pseudonym(item.address), exc)
                return SendResult(False, unreachable=True, error=_error(exc), parts_sent=accepted)
            except BadRequest as exc:  # permanent; caught before NetworkError, its parent
                unreachable = "chat not found" in exc.message.lower()
                return SendResult(False, unreachable=unreachable, error=_error(exc), parts_sent=accepted)
            except NetworkError as exc:  # 5xx, reset, refused: nothing was delivered
                return later(exc)
            except TelegramError as exc:  # invalid token, conflict...: not fixed by retrying
                return SendResult(False, error=_error(exc), parts_sent=accepted)
            accepted, ids = accepted + 1, [*ids, str(sent.message_id)]
        return SendResult(True, provider_id=",".join(ids)[:64] or None, parts_sent=accepted)


class TelegramChannel:
    """The Application (it parses updates and holds the Bot) and the sender that shares its Bot."""

    def __init__(self, application: Application) -> None:  # type: ignore[type-arg]
        self.application = application
        self.sender = TelegramSender(application.bot)

    @property
    def bot(self) -> Bot:
        """The Bot, for parsing and for calls."""
        return self.application.bot

    async def start(self) -> None:
        """Initialise the Bot (it calls getMe); if Telegram is unreachable, sending still works later."""
        try:
            await self.application.initialize()
        except TelegramError as exc:
            log.warning("Telegram getMe failed at start (%s); will send anyway", exc)

    async def stop(self) -> None:
        """Close the Bot's HTTP connections."""
        await self.application.shutdown()

    async def answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner on the resident's screen; a failure is only logged."""
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            log.warning("answerCallbackQuery failed: %s", exc)


def build_telegram(settings: Settings) -> TelegramChannel | None:
    """The Telegram channel from the settings, or None when TELEGRAM_BOT_TOKEN is unset."""
    if not settings.telegram_bot_token:
        return None
    timeout = settings.telegram_timeout_seconds

    def request() -> HTTPXRequest:
        return HTTPXRequest(
            connection_pool_size=16,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )

    application = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .request(request())
        .get_updates_request(request())
        .updater(None)
        .job_queue(None)
        .build()
    )
    return TelegramChannel(application)


def keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    """One button per row, so long labels stay readable on a phone."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in buttons]
    )


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is an int (deprecated) or a timedelta, depending on PTB_TIMEDELTA."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _chat_id(address: str) -> int | str:
    return int(address) if address.lstrip("-").isdigit() else address


def _error(exc: TelegramError) -> str:
    return f"{type(exc).__name__}: {exc.message}"[:200]


# Inbound ------------------------------------------------------------------------------------


def secret_ok(expected: str | None, given: str | None) -> bool:
    """The webhook secret matches; an unset secret refuses everything."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def receive_update(orchestrator: Orchestrator, update: Update) -> bool:
    """Store the update's event once; False when Telegram already delivered this update."""
    inbound = parse_update(update)
    if inbound is None:
        return True
    return await run_in_threadpool(orchestrator.receive, inbound) is not None


@router.post(WEBHOOK_PATH, include_in_schema=False)
async def telegram_webhook(request: Request, background: BackgroundTasks) -> Response:
    """Check the secret, store the update's event once, answer 200 at once; replies go by the outbox."""
    channel: TelegramChannel | None = getattr(request.app.state, "telegram", None)
    secret = request.app.state.settings.telegram_webhook_secret
    if channel is None or not secret_ok(secret, request.headers.get(SECRET_HEADER)):
        return Response(status_code=403)
    try:
        data = json.loads(await request.body())
        if not isinstance(data, dict):
            raise ValueError("an update is a JSON object")
        update = Update.de_json(data, channel.bot)
    except Exception as exc:  # malformed JSON or not an Update: refuse, never a 500
        log.info("unreadable Telegram update refused: %s", type(exc).__name__)
        return Response(status_code=400)
    fresh = await receive_update(request.app.state.orchestrator, update)
    if fresh:
        request.app.state.runner.kick()
    if fresh and update.callback_query is not None:
        background.add_task(channel.answer_callback, update.callback_query.id)  # once the 200 is sent
    return Response(status_code=200)


# Operator commands --------------------------------------------------------------------------


def webhook_problems(settings: Settings) -> list[str]:
    """Why `telegram set-webhook` cannot run with these settings (empty when it can)."""
    problems = []
    if not settings.telegram_bot_token:
        problems.append("TELEGRAM_BOT_TOKEN is unset")
    secret = settings.telegram_webhook_secret
    if not secret:
        problems.append("TELEGRAM_WEBHOOK_SECRET is unset")
    elif not SECRET_FORMAT.match(secret):
        problems.append("TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z a-z 0-9 _ -")
    return problems


def webhook_url(settings: Settings) -> str:
    """The URL Telegram posts updates to."""
    return settings.public_base_url.rstrip("/") + WEBHOOK_PATH


async def set_webhook(channel: TelegramChannel, settings: Settings) -> str:
    """Register our webhook with its secret and the update types we handle; returns the URL."""
    url = webhook_url(settings)
    async with channel.bot as bot:
        await bot.set_webhook(
            url, secret_token=settings.telegram_webhook_secret, allowed_updates=list(ALLOWED_UPDATES)
        )
    return url


async def poll(
    channel: TelegramChannel,
    orchestrator: Orchestrator,
    dispatcher: Dispatcher,
    *,
    batches: int | None = None,
    poll_seconds: int = POLL_SECONDS,
) -> int:
    """Long polling for local development: the webhook's path, fed by getUpdates; returns updates seen.

    Runs until cancelled (Ctrl-C), or for `batches` rounds of getUpdates.
    """
    await channel.start()
    try:
        return await _poll_loop(channel, orchestrator, dispatcher, batches, poll_seconds)
    finally:
        await channel.stop()


async def _poll_loop(
    channel: TelegramChannel,
    orchestrator: Orchestrator,
    dispatcher: Dispatcher,
    batches: int | None,
    poll_seconds: int,
) -> int:
    bot = channel.bot
    runner = Runner(orchestrator, dispatcher)
    await bot.delete_webhook()
    offset: int | None = None
    seen = rounds = 0
    while batches is None or rounds < batches:
        rounds += 1
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=poll_seconds, allowed_updates=list(ALLOWED_UPDATES)
            )
        except RetryAfter as exc:
            await asyncio.sleep(retry_after_seconds(exc))
            continue
        except BadRequest:
            raise
        except NetworkError as exc:
            log.warning("getUpdates failed (%s); trying again", exc)
            await asyncio.sleep(1)
            continue
        for update in updates:
            offset = update.update_id + 1
            seen += 1
            if await receive_update(orchestrator, update) and update.callback_query is not None:
                await channel.answer_callback(update.callback_query.id)
        await runner.tick()  # what serve's work loop does: process, then send what is due
    return seen
