"""Conversations over SMS end to end: the real twilio sms_client against the twilio REST API."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.channels.gsm7 import segment_count
from bot.store.db import transaction
from bot.store.models import Outbox
from tests.channels.twilio_kit import (
    OUR_NUMBER,
    PUBLIC,
    STATUS_PATH,
    Phone,
    drain,
    inbound_rows,
    outbox_rows,
    residents,
)
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.db
RESIDENT = "+33612345678"


def converse(phone: Phone, sms_app: FastAPI, clock: Clock, text: str) -> list[str]:
    """Text the service and return the SMS it answered with."""
    before = len(phone.received())
    phone.send(text)
    drain(sms_app)
    clock.advance(seconds=15)
    return phone.received()[before:]


def test_full_onboarding_over_sms(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    [language] = converse(phone, sms_app, clock, "Bonjour")
    assert language.endswith("\n1 Français\n2 English\n3 العربية")
    welcome = converse(phone, sms_app, clock, "1")
    assert "Bienvenue" in welcome[0] and welcome[-1].endswith("d'accord ?\n1 Oui\n2 Non")
    assert converse(phone, sms_app, clock, "oui")[-1].endswith("Quel est votre prénom ?")
    assert "Merci Amina" in converse(phone, sms_app, clock, "Amina")[-1]
    assert converse(phone, sms_app, clock, "93200")[-1].endswith(
        "\n1 Oui\n2 Non\n3 Je préfère ne pas le dire"
    )
    assert "RSA" in converse(phone, sms_app, clock, "oui")[-1]  # an answer in words, not only a number
    assert converse(phone, sms_app, clock, "2")[-1].endswith("\n4 Je préfère ne pas le dire")
    assert converse(phone, sms_app, clock, "1")[-1].endswith("\n5 Autre")
    done = converse(phone, sms_app, clock, "3")
    assert "vous etes inscrit" in done[0] and done[-1].endswith(" Effacer mes données")

    [resident] = residents(sms_app)
    assert (resident.first_name, resident.postcode, resident.france_travail, resident.rsa) == (
        "Amina",
        "93200",
        "yes",
        "no",
    )
    assert (resident.age_band, resident.heard_from, resident.opted_out) == ("under_26", "friends", False)
    assert all(r.status == "done" and r.address == "" and r.body is None for r in inbound_rows(sms_app))
    rows = outbox_rows(sms_app)
    assert all(r.status == "sent" and r.attempts == 1 for r in rows)
    assert [r.provider_id for r in rows] == [m["sid"] for m in twilio.messages]
    for message in twilio.messages:
        assert message["from_"] == OUR_NUMBER and message["to"] == RESIDENT
        assert message["status_callback"] == PUBLIC + STATUS_PATH
        assert segment_count(message["body"]) == message["num_segments"] <= 2
    # Only the language question (it speaks Arabic too) leaves GSM-7.
    assert [m["encoding"] for m in twilio.messages][1:] == ["GSM-7"] * (len(twilio.messages) - 1)


def test_stop_mid_flow_is_honoured_at_once(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    for text in ("Bonjour", "1", "oui", "Amina"):
        converse(phone, sms_app, clock, text)
    sent_before = len(twilio.messages)
    phone.send("93200")  # its answer is written to the outbox...
    phone.send("stop")  # ...but STOP arrives before the dispatcher sends it
    drain(sms_app)
    assert phone.received()[sent_before:] == [
        "C'est fait : vous ne recevrez plus de messages de notre part. Écrivez START pour revenir."
    ]
    assert [r.status for r in outbox_rows(sms_app)][-2:] == ["suppressed", "sent"]
    assert residents(sms_app)[0].opted_out
    clock.advance(minutes=5)
    [welcome_back] = converse(phone, sms_app, clock, "START")
    assert welcome_back.startswith("Bon retour") and welcome_back.endswith("3 Je préfère ne pas le dire")
    assert not residents(sms_app)[0].opted_out


def test_error_21610_from_the_rest_api_opts_out_and_stops_every_later_send(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    converse(phone, sms_app, clock, "Bonjour")
    twilio.unsubscribe(RESIDENT)  # the resident texted STOP to Twilio itself
    phone.send("1")
    phone.send("oui")  # replies to both are queued when the first send is refused
    drain(sms_app)
    assert len(twilio.messages) == 1  # only the language question, sent before
    refused = [a for a in twilio.attempts if a["status"] == 400]
    assert len(refused) == 1  # one refusal, then nothing more is even tried
    rows = outbox_rows(sms_app)
    assert rows[1].status == "failed" and "21610" in (rows[1].last_error or "")
    assert {r.status for r in rows[2:]} == {"suppressed"}
    assert residents(sms_app)[0].opted_out
    # A reminder or a counsellor's message written later is suppressed as well.
    with transaction(sms_app.state.db) as session:
        reminder = Outbox(
            resident_id=residents(sms_app)[0].id,
            channel="sms",
            address=RESIDENT,
            kind="reminder",
            body="Rappel : réunion demain à 10h.",
            created_at=clock(),
            next_attempt_at=clock(),
        )
        session.add(reminder)
    attempts = len(twilio.attempts)
    drain(sms_app)
    assert len(twilio.attempts) == attempts and outbox_rows(sms_app)[-1].status == "suppressed"
