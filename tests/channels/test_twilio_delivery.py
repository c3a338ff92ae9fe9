"""Sending through Twilio when things go wrong: faults, retries, restarts and long messages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from bot.channels.twilio_sms import STATUS_PATH, TwilioSender, twilio_client
from bot.outbox import Dispatcher
from bot.store.db import is_postgres, transaction
from bot.store.models import Outbox
from tests.channels.twilio_kit import (
    PUBLIC,
    Phone,
    drain,
    outbox_rows,
    residents,
    settings_for,
)
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.db
RESIDENT = "+33612345678"
HANG = 1.5  # past the sms_client's 0.5 s timeout


def first_reply_pending(sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio) -> Phone:
    """A new resident wrote; the language question is in the outbox, not sent yet."""
    phone = Phone(sms_client, twilio, RESIDENT)
    phone.send("Bonjour")
    sms_app.state.orchestrator.process_pending()
    assert [r.status for r in outbox_rows(sms_app)] == ["pending"]
    return phone


@pytest.mark.parametrize(
    ("fault", "seen"),
    [(("status", 500), 500), (("status", 503), 503), (("status", 429), 429), (("reset",), "reset")],
)
def test_a_transient_fault_is_retried_and_the_message_arrives_once(
    sms_client: TestClient,
    sms_app: FastAPI,
    twilio: FakeTwilio,
    clock: Clock,
    fault: tuple[Any, ...],
    seen: Any,
) -> None:
    phone = first_reply_pending(sms_client, sms_app, twilio)
    twilio.fail_next(fault)
    drain(sms_app)
    [row] = outbox_rows(sms_app)
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at == clock() + timedelta(seconds=2)
    drain(sms_app)  # not due yet: nothing is tried
    assert len(twilio.attempts) == 1
    clock.advance(seconds=2)
    drain(sms_app)
    [row] = outbox_rows(sms_app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert [a["status"] for a in twilio.attempts] == [seen, 201]
    assert len(phone.received()) == 1 and row.provider_id == twilio.messages[0]["sid"]


def test_a_hung_request_is_not_sent_twice(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    """The sms_client gives up after 0.5 s, but Twilio got the request: it is counted as handed over.

    The twilio, like Twilio, accepts the hung request after its delay. Resending it would make
    the resident receive it twice, so the sender does not; the row says the send is unconfirmed.
    """
    phone = first_reply_pending(sms_client, sms_app, twilio)
    twilio.fail_next(("hang", HANG))
    drain(sms_app)
    [row] = outbox_rows(sms_app)
    assert row.status == "sent" and row.attempts == 1 and row.provider_id is None
    assert row.last_error == "unconfirmed: ReadTimeout"
    clock.advance(minutes=10)
    drain(sms_app)
    [late] = twilio.wait_for(1, timeout=HANG * 4)  # the hung request, processed after its delay
    assert late["to"] == RESIDENT and len(phone.received()) == 1
    assert [a["fault"] for a in twilio.attempts] == [("hang", HANG)]  # and no second request


def test_resending_after_a_timeout_is_possible_and_duplicates(
    db_url: str, twilio: FakeTwilio, clock: Clock
) -> None:
    """With resend_unconfirmed the message is never lost, at the price the twilio shows: two copies."""
    settings = settings_for(db_url, twilio)
    sender = TwilioSender(
        twilio_client(settings),
        from_number=settings.twilio_from_number,
        status_callback=PUBLIC + STATUS_PATH,
        resend_unconfirmed=True,
    )
    sms_app = create_app(settings, clock=clock, senders={"sms": sender}, run_loop=False)
    with TestClient(sms_app) as sms_client:
        phone = first_reply_pending(sms_client, sms_app, twilio)
        twilio.fail_next(("hang", HANG))
        drain(sms_app)
        assert outbox_rows(sms_app)[0].status == "pending"
        clock.advance(seconds=2)
        drain(sms_app)
        [row] = outbox_rows(sms_app)
        assert (row.status, row.attempts) == ("sent", 2)
        copies = twilio.wait_for(2, timeout=HANG * 4)
        assert [m["body"] for m in copies] == phone.received() and len(set(phone.received())) == 1
    sms_app.state.db.dispose()


def test_after_the_last_attempt_the_row_is_failed_and_visible(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    first_reply_pending(sms_client, sms_app, twilio)
    twilio.fail_next(*[("status", 500)] * 6)
    delays = []
    for _ in range(6):
        drain(sms_app)
        [row] = outbox_rows(sms_app)
        if row.status == "failed":
            break
        delays.append((row.next_attempt_at - clock()).total_seconds())
        clock.advance(seconds=delays[-1])
    assert delays == [2, 4, 8, 16, 32]  # exponential, bounded by max_delay
    [row] = outbox_rows(sms_app)
    assert (row.status, row.attempts) == ("failed", 6)
    assert row.last_error and "500" in row.last_error
    assert twilio.messages == [] and sms_app.state.dispatcher.pending_count() == 0
    assert Dispatcher(sms_app.state.db, {}, max_delay=300).backoff(20) == 300


def test_a_permanent_refusal_fails_at_once(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    first_reply_pending(sms_client, sms_app, twilio)
    twilio.fail_next(("error_code", 21211))  # invalid 'To' number
    drain(sms_app)
    [row] = outbox_rows(sms_app)
    assert (row.status, row.attempts) == ("failed", 1) and "21211" in (row.last_error or "")
    assert not residents(sms_app)[0].opted_out


def test_restart_between_the_outbox_write_and_the_send_sends_once(
    db_url: str, twilio: FakeTwilio, clock: Clock
) -> None:
    settings = settings_for(db_url, twilio)
    first = create_app(settings, clock=clock, run_loop=False)
    with TestClient(first) as sms_client:
        phone = Phone(sms_client, twilio, RESIDENT)
        phone.send("Bonjour")
        phone.send("1")
        first.state.orchestrator.process_pending()  # the replies are written...
        [claimed] = first.state.dispatcher.claim()  # ...one is taken for sending, and the process dies
    first.state.db.dispose()
    assert [r.status for r in outbox_rows(first)] == ["sending", "pending", "pending"]

    second = create_app(settings, clock=clock, run_loop=False)
    drain(second)
    assert twilio.attempts == []  # the claimed row is leased: no other worker takes it, nor its followers
    if is_postgres(second.state.db):
        assert second.state.dispatcher.recover() == 0  # other workers may be sending: wait for the lease
        clock.advance(seconds=61)
    else:
        assert second.state.dispatcher.recover() == 1  # one process sends on SQLite: the row is an orphan
    drain(second)
    assert [r.status for r in outbox_rows(second)] == ["sent"] * 3
    assert len(twilio.messages) == 3 and twilio.messages[0]["body"].startswith("Bonjour ! Choisissez")
    assert [m["sid"] for m in twilio.messages] == [r.provider_id for r in outbox_rows(second)]
    second.state.db.dispose()

    third = create_app(settings, clock=clock, run_loop=False)
    clock.advance(minutes=5)
    drain(third)
    assert len(twilio.attempts) == 3 and len(twilio.messages) == 3
    third.state.db.dispose()


def test_a_long_message_goes_in_parts_and_a_retry_sends_only_the_rest(
    db_url: str, sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    phone.send("Bonjour")
    drain(sms_app)
    paragraphs = [f"Paragraphe {n} : " + "des nouvelles du chantier. " * 40 for n in range(1, 4)]
    with transaction(sms_app.state.db) as session:  # a counsellor's long message
        session.add(
            Outbox(
                resident_id=residents(sms_app)[0].id,
                channel="sms",
                address=RESIDENT,
                body="\n\n".join(paragraphs),
                created_at=clock(),
                next_attempt_at=clock(),
            )
        )
    twilio.fail_next(("hang", 0), ("status", 500))  # the first part goes through, the second fails
    drain(sms_app)
    row = outbox_rows(sms_app)[-1]
    assert (row.status, row.parts_sent) == ("pending", 1)
    # the process restarts: the progress is in the database, not in memory
    restarted = create_app(settings_for(db_url, twilio), clock=clock, run_loop=False)
    clock.advance(seconds=2)
    drain(restarted)
    row = outbox_rows(restarted)[-1]
    assert (row.status, row.parts_sent, row.attempts) == ("sent", 3, 2)
    parts = phone.received()[1:]
    assert [p[:12] for p in parts] == ["Paragraphe 1", "Paragraphe 2", "Paragraphe 3"]  # none twice
    assert all(len(p) <= 1600 for p in parts)
    assert row.provider_id == twilio.messages[-1]["sid"]
    restarted.state.db.dispose()


def test_replies_to_many_residents_go_out_concurrently_and_in_order_for_each(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    phones = [Phone(sms_client, twilio, f"+3361234{n:04d}") for n in range(12)]
    for phone in phones:
        phone.send("Bonjour")
        phone.send("1")
    sms_app.state.orchestrator.process_pending()
    assert asyncio.run(sms_app.state.dispatcher.dispatch_due()) == 12  # one per resident per round
    drain(sms_app)
    rows = outbox_rows(sms_app)
    assert {r.status for r in rows} == {"sent"} and len(twilio.messages) == len(rows) == 36
    for phone in phones:
        received = phone.received()
        assert len(received) == 3 and received[0].startswith("Bonjour !")
        assert "Bienvenue" in received[1] and received[2].endswith("1 Oui\n2 Non")
