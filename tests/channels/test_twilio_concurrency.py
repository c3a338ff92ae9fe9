"""Concurrent webhooks on a live server: one resident's burst in order, 200 residents without loss."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import Session

from api.main import create_app
from bot.store.models import MessageLog
from tests.channels.twilio_kit import (
    SMS_PATH,
    LiveServer,
    Phone,
    drain,
    inbound_form,
    inbound_rows,
    outbox_rows,
    post_signed,
    residents,
    settings_for,
)
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.db
RESIDENT = "+33612345678"


def test_twenty_simultaneous_messages_from_one_resident_are_processed_in_order(
    sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    with LiveServer(sms_app) as server, httpx.Client(base_url=server.url) as http:
        phone = Phone(http, twilio, RESIDENT)
        for text in ("Bonjour", "1", "oui", "Amina", "93200", "CONSEILLER"):  # to the advisor's inbox
            phone.send(text)
            drain(sms_app)
        clock.advance(minutes=2)  # a fresh minute: 20 messages is the flood guard's limit, not above
        before = len(twilio.messages)
        forms = [inbound_form(RESIDENT, f"message {n}") for n in range(20)]
        start = threading.Barrier(len(forms))

        def post(form: dict[str, str]) -> int:
            with httpx.Client(base_url=server.url) as own:
                start.wait()
                return post_signed(own, twilio.auth_token, SMS_PATH, form).status_code

        with ThreadPoolExecutor(len(forms)) as pool:
            assert list(pool.map(post, forms)) == [200] * 20
        drain(sms_app)

    text_of = {f["MessageSid"]: f["Body"] for f in forms}
    stored = [r for r in inbound_rows(sms_app) if r.external_id in text_of]
    assert len(stored) == 20 and {r.status for r in stored} == {"done"}
    arrival_order = [text_of[r.external_id] for r in stored]  # the order the server stored them
    with Session(sms_app.state.db) as session:
        logged = session.scalars(
            select(MessageLog.body).where(MessageLog.direction == "in").order_by(MessageLog.id)
        ).all()
    assert list(logged[-20:]) == arrival_order  # processed one at a time, in that order
    replies = phone.received()[before:]
    assert replies == []  # waiting for a counsellor: the assistant stays silent (issue 7)
    sent = [r for r in outbox_rows(sms_app) if r.address == RESIDENT]
    assert [r.provider_id for r in sent] == [m["sid"] for m in twilio.messages]  # sent in written order


def test_two_hundred_residents_at_once_lose_nothing(db_url: str, twilio: FakeTwilio) -> None:
    """The real work loop runs in the server; 200 residents write twice, all at once."""
    sms_app = create_app(settings_for(db_url, twilio), run_loop=True)
    numbers = [f"+3361{n:07d}" for n in range(200)]
    with LiveServer(sms_app) as server, ThreadPoolExecutor(32) as pool:
        local = threading.local()

        def post(args: tuple[str, str]) -> int:
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=server.url, timeout=30)
            return post_signed(local.http, twilio.auth_token, SMS_PATH, inbound_form(*args)).status_code

        assert set(pool.map(post, [(n, "Bonjour") for n in numbers])) == {200}
        twilio.wait_for(200, timeout=60)
        assert set(pool.map(post, [(n, "1") for n in numbers])) == {200}
        twilio.wait_for(600, timeout=60)
        _settle(sms_app)

    by_number: dict[str, list[Any]] = {n: [] for n in numbers}
    for message in twilio.messages:
        by_number[message["to"]].append(message["body"])
    for number, bodies in by_number.items():
        assert len(bodies) == 3, number
        assert bodies[0].startswith("Bonjour !") and "Bienvenue" in bodies[1]
        assert bodies[2].endswith("1 Oui\n2 Non")
    assert len(residents(sms_app)) == 200
    assert [r.status for r in inbound_rows(sms_app)] == ["done"] * 400
    assert {r.status for r in outbox_rows(sms_app)} == {"sent"} and len(outbox_rows(sms_app)) == 600
    sms_app.state.db.dispose()


def _settle(sms_app: FastAPI, timeout: float = 30) -> None:
    """Wait until the work loop has recorded every send (the twilio may answer before it records)."""
    deadline = time.monotonic() + timeout
    while sms_app.state.dispatcher.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
