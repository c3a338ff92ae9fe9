"""Shared pieces of the Twilio channel tests: settings, signed webhooks, a phone, a live server."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from api.main import create_app
from bot.settings import Settings
from bot.store.models import Inbound, Outbox, Resident
from tests.fakes.twilio_api import FakeTwilio

PUBLIC = "https://batissons.example.org"  # what Twilio sees; the test servers listen on http
OUR_NUMBER = "+33757000000"
SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
_sids = itertools.count(1)


def settings_for(db_url: str, fake: FakeTwilio, **overrides: Any) -> Settings:
    """SMS on, pointed at the fake; Telegram off; nothing read from the environment or .env."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "public_base_url": PUBLIC,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from_number": OUR_NUMBER,
        "twilio_api_base_url": fake.base_url,
        "twilio_timeout_seconds": 0.5,
        "telegram_bot_token": None,
        "secret_key": "test",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sign(token: str, path: str, params: dict[str, str], base: str = PUBLIC) -> str:
    """X-Twilio-Signature as Twilio computes it for our public URL."""
    return RequestValidator(token).compute_signature(base + path, params)


def new_sid(prefix: str = "SM") -> str:
    """A fresh, Twilio-shaped message SID."""
    return f"{prefix}{next(_sids):032x}"


def inbound_form(sender: str, text: str, sid: str | None = None) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    return {
        "MessageSid": sid or new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
    }


def post_signed(
    client: TestClient | httpx.Client, token: str, path: str, form: dict[str, str]
) -> httpx.Response:
    """Post a form the way Twilio does, signed with the account's token."""
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(token, path, form)})


class Phone:
    """A resident's phone: writes signed SMS to our webhook, reads what reached the fake Twilio."""

    def __init__(self, client: TestClient | httpx.Client, fake: FakeTwilio, number: str) -> None:
        self.client = client
        self.fake = fake
        self.number = number

    def send(self, text: str, sid: str | None = None) -> httpx.Response:
        """Text the service; asserts the webhook accepted it."""
        response = post_signed(
            self.client, self.fake.auth_token, SMS_PATH, inbound_form(self.number, text, sid)
        )
        assert response.status_code == 200, response.text
        return response

    def received(self) -> list[str]:
        """Every SMS body the service sent to this phone, in order."""
        return [m["body"] for m in self.fake.messages if m["to"] == self.number]


def drain(app: FastAPI, rounds: int = 100) -> None:
    """Process every pending event and send everything due, as the work loop does."""
    orchestrator, dispatcher = app.state.orchestrator, app.state.dispatcher
    for _ in range(rounds):
        orchestrator.process_pending()
        if not asyncio.run(dispatcher.dispatch_due()):
            return
    raise AssertionError("the outbox never settled")


def outbox_rows(app: FastAPI) -> list[Outbox]:
    """Every outbox row, oldest first."""
    with Session(app.state.db) as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def inbound_rows(app: FastAPI) -> list[Inbound]:
    """Every inbound row, oldest first."""
    with Session(app.state.db) as session:
        return list(session.scalars(select(Inbound).order_by(Inbound.id)))


def residents(app: FastAPI) -> list[Resident]:
    """Every resident."""
    with Session(app.state.db) as session:
        return list(session.scalars(select(Resident).order_by(Resident.id)))


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio REST API on loopback."""
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def sms_app(db_url: str, twilio: FakeTwilio, clock: Any) -> Iterator[FastAPI]:
    """The whole service with its real Twilio sender, the work loop driven by the test."""
    application = create_app(settings_for(db_url, twilio), clock=clock, run_loop=False)
    yield application
    application.state.db.dispose()


@pytest.fixture
def sms_client(sms_app: FastAPI) -> Iterator[TestClient]:
    """A test client of that service (Twilio's signed requests are made for PUBLIC)."""
    with TestClient(sms_app) as test_client:
        yield test_client


class LiveServer:
    """The app served by uvicorn on a free loopback port, in a thread (real HTTP, real concurrency)."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", limit_concurrency=1000)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            self.thread.join(0.01)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
