"""Shared pieces of the Telegram tests: the real app, wired to FakeTelegram, driven tick by tick."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from api.main import create_app
from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from bot.settings import Settings
from bot.store.models import ChannelIdentity, Inbound, Outbox, Resident
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456789:TEST-token_for-fake"
SECRET = "s3cret_-webhook"
CLIENT_TIMEOUT = 0.5
CHAT = 4242


def make_settings(db_url: str, base_url: str, **overrides: Any) -> Settings:
    """The production settings, pointed at a (fake) Bot API with short client timeouts."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_base_url": base_url,
        "telegram_timeout_seconds": CLIENT_TIMEOUT,
        "twilio_account_sid": None,
        "twilio_auth_token": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Harness:
    """The whole app in a TestClient; the work loop runs when the test says so (tick)."""

    def __init__(self, client: TestClient, fake: FakeTelegram, db: Engine) -> None:
        self.client = client
        self.fake = fake
        self.db = db
        self.ids = itertools.count(1000)
        self.taps: list[str] = []  # the callback query ids of every tap, in order

    @property
    def app(self) -> FastAPI:
        return self.client.app  # type: ignore[return-value]

    def post(self, update: dict[str, Any] | bytes, secret: str | None = SECRET) -> int:
        """Deliver one update to the webhook as Telegram does; returns the status code."""
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        if isinstance(update, bytes):
            headers["Content-Type"] = "application/json"
            return self.client.post(WEBHOOK_PATH, content=update, headers=headers).status_code
        return self.client.post(WEBHOOK_PATH, json=update, headers=headers).status_code

    def tick(self) -> None:
        """One round of the work loop, in the app's event loop: process inbound, send what is due."""
        assert self.client.portal is not None
        self.client.portal.call(self.app.state.runner.tick)

    def write(self, text: str, chat: int = CHAT) -> list[dict[str, Any]]:
        """The resident writes; returns the messages the bot sent in answer."""
        before = len(self.fake.sent)
        assert self.post(tu.text_message(next(self.ids), chat, text)) == 200
        self.tick()
        return self.fake.sent[before:]

    def tap(self, label_or_value: str, chat: int = CHAT) -> list[dict[str, Any]]:
        """The resident taps a button of the last keyboard the bot sent them; returns the answers."""
        data = button_data(last_keyboard(self.fake, chat), label_or_value)
        return self.tap_data(data, chat)

    def tap_data(self, data: str, chat: int = CHAT) -> list[dict[str, Any]]:
        """A callback query carrying this data; returns the messages sent in answer."""
        before = len(self.fake.sent)
        update_id = next(self.ids)
        update = tu.callback_query(update_id, chat, data, query_id=f"q{update_id}")
        self.taps.append(f"q{update_id}")
        assert self.post(update) == 200
        self.tick()
        return self.fake.sent[before:]

    def resident(self, chat: int = CHAT) -> Resident | None:
        with Session(self.db) as session:
            identity = session.scalars(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == "telegram", ChannelIdentity.address == str(chat)
                )
            ).first()
            return session.get(Resident, identity.resident_id) if identity else None

    def inbound(self) -> list[Inbound]:
        with Session(self.db) as session:
            return list(session.scalars(select(Inbound).order_by(Inbound.id)))

    def outbox(self) -> list[Outbox]:
        with Session(self.db) as session:
            return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def last_keyboard(fake: FakeTelegram, chat: int = CHAT) -> list[dict[str, str]]:
    """The buttons of the last message with an inline keyboard sent to a chat, one per row."""
    for message in reversed(fake.sent):
        markup = message.get("reply_markup") or {}
        if message["chat_id"] == chat and markup.get("inline_keyboard"):
            rows = markup["inline_keyboard"]
            assert all(len(row) == 1 for row in rows), "one button per row"
            return [row[0] for row in rows]
    raise AssertionError("no keyboard was sent")


def button_data(buttons: list[dict[str, str]], label_or_value: str) -> str:
    """The callback data of the button with this label, or whose data ends with ':value'."""
    for button in buttons:
        if button["text"] == label_or_value or button["callback_data"].endswith(f":{label_or_value}"):
            return button["callback_data"]
    raise AssertionError(f"no button {label_or_value!r} in {buttons}")


def open_harness(db_url: str, db: Engine, clock: Any, fake: FakeTelegram) -> Iterator[Harness]:
    """The app on this database and clock, Telegram pointed at the fake; for a module's fixture."""
    app = create_app(make_settings(db_url, fake.base_url), clock=clock, run_loop=False)
    with TestClient(app) as client:
        yield Harness(client, fake, db)
