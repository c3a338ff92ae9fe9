"""The Twilio webhooks: signatures, replays, odd forms, odd bodies and delivery statuses."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from tests.channels.twilio_kit import (
    PUBLIC,
    SMS_PATH,
    STATUS_PATH,
    LiveServer,
    Phone,
    drain,
    inbound_form,
    inbound_rows,
    new_sid,
    outbox_rows,
    post_signed,
    residents,
    settings_for,
    sign,
)
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.db
RESIDENT = "+33612345678"


# Signatures -------------------------------------------------------------------------------


def test_forged_or_missing_signatures_are_refused_and_nothing_is_stored(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    form = inbound_form(RESIDENT, "Bonjour")
    good = sign(twilio.auth_token, SMS_PATH, form)
    tampered = dict(form, Body="Bonjour, je suis un pirate")
    attempts = [
        ({}, form),  # no signature at all
        ({"X-Twilio-Signature": ""}, form),
        ({"X-Twilio-Signature": sign("not-the-token", SMS_PATH, form)}, form),
        ({"X-Twilio-Signature": good}, tampered),  # body changed after signing
        ({"X-Twilio-Signature": sign(twilio.auth_token, "/webhooks/twilio/other", form)}, form),
        # signed for the URL the server sees, not the public one Twilio called
        ({"X-Twilio-Signature": sign(twilio.auth_token, SMS_PATH, form, base="http://testserver")}, form),
    ]
    for headers, data in attempts:
        assert sms_client.post(SMS_PATH, data=data, headers=headers).status_code == 403
    assert (
        sms_client.post(STATUS_PATH, data={"MessageSid": "SMx", "MessageStatus": "delivered"}).status_code
        == 403
    )
    drain(sms_app)
    assert inbound_rows(sms_app) == [] and outbox_rows(sms_app) == [] and twilio.attempts == []


def test_sms_off_refuses_even_a_well_signed_request(db_url: str, twilio: FakeTwilio) -> None:
    sms_app = create_app(settings_for(db_url, twilio, twilio_from_number=None), run_loop=False)
    with TestClient(sms_app) as sms_client:
        form = inbound_form(RESIDENT, "Bonjour")
        assert post_signed(sms_client, twilio.auth_token, SMS_PATH, form).status_code == 403
        assert sms_client.get("/healthz").json()["channels"]["sms"] == "off"
    assert inbound_rows(sms_app) == []
    sms_app.state.db.dispose()


def test_https_public_url_in_front_of_an_http_server(sms_app: FastAPI, twilio: FakeTwilio) -> None:
    """Twilio signs https://public/...; the process listens on plain http behind the proxy."""
    form = inbound_form(RESIDENT, "Bonjour")
    with LiveServer(sms_app) as server, httpx.Client(base_url=server.url) as http:
        assert PUBLIC.startswith("https://") and server.url.startswith("http://")
        seen_by_server = sign(twilio.auth_token, SMS_PATH, form, base=server.url)
        assert (
            http.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": seen_by_server}).status_code == 403
        )
        answer = post_signed(http, twilio.auth_token, SMS_PATH, form)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
        # the query string is part of what Twilio signs
        query_form = inbound_form(RESIDENT, "1")
        path = SMS_PATH + "?source=twilio&v=2"
        headers = {"X-Twilio-Signature": sign(twilio.auth_token, path, query_form)}
        assert http.post(path, data=query_form, headers=headers).status_code == 200
        headers = {"X-Twilio-Signature": sign(twilio.auth_token, SMS_PATH, query_form)}
        assert http.post(path, data=query_form, headers=headers).status_code == 403
    assert len(inbound_rows(sms_app)) == 2


def test_a_replayed_message_sid_is_answered_but_processed_once(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    sid = new_sid()
    for _ in range(3):
        phone.send("Bonjour", sid=sid)
    drain(sms_app)
    assert len(inbound_rows(sms_app)) == 1
    assert len(phone.received()) == 1 and len(residents(sms_app)) == 1
    phone.send("Bonjour", sid=sid)  # even after processing, a replay stays a replay
    drain(sms_app)
    assert len(inbound_rows(sms_app)) == 1 and len(phone.received()) == 1


def test_malformed_requests_get_4xx_never_500(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    token = twilio.auth_token
    for missing in ("MessageSid", "From"):
        form = inbound_form(RESIDENT, "Bonjour")
        del form[missing]
        assert post_signed(sms_client, token, SMS_PATH, form).status_code == 400
    too_long = inbound_form(RESIDENT, "Bonjour", sid="SM" + "9" * 80)
    assert post_signed(sms_client, token, SMS_PATH, too_long).status_code == 400
    assert post_signed(sms_client, token, STATUS_PATH, {"MessageStatus": "sent"}).status_code == 400
    signature = {"X-Twilio-Signature": sign(token, SMS_PATH, {})}
    odd = [
        {"content": b"\xff\xfe\x00garbage=%%%", "headers": signature},
        {"content": b'{"MessageSid": "SM1"}', "headers": {**signature, "Content-Type": "application/json"}},
        {"content": b"--x\r\nbroken", "headers": {**signature, "Content-Type": "multipart/form-data"}},
        {"files": {"Body": ("a.txt", b"hello")}, "data": inbound_form(RESIDENT, "x"), "headers": signature},
        {"content": b"MessageSid=SM1&From=%2B336", "headers": {**signature, "Content-Length": "9999999"}},
    ]
    for kwargs in odd:
        status = sms_client.post(SMS_PATH, **kwargs).status_code  # type: ignore[arg-type]
        assert 400 <= status < 500, (kwargs, status)
    drain(sms_app)
    assert inbound_rows(sms_app) == []


def test_empty_huge_and_emoji_bodies_get_a_helpful_reply(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    phone.send("")  # a first message with nothing in it still starts the conversation
    drain(sms_app)
    assert "Choisissez votre langue" in phone.received()[-1]
    phone.send("1")
    drain(sms_app)
    assert phone.received()[-1].endswith("1 Oui\n2 Non")  # the consent question
    for body in ("", "🙂👍🏽", "x" * 5000, "أهلا"):
        before = len(phone.received())
        phone.send(body)
        drain(sms_app)
        replies = phone.received()[before:]
        assert 1 <= len(replies) <= 2, body
        # the question again, with its numbered answers (and, after three misses, an offer of a person)
        assert any(r.endswith("1 Oui\n2 Non") for r in replies), body
        if not body:
            assert replies[0] == "Votre message était vide."
    media = dict(inbound_form(RESIDENT, ""), NumMedia="1", MediaUrl0="https://api.twilio.com/m.jpg")
    assert post_signed(sms_client, twilio.auth_token, SMS_PATH, media).status_code == 200
    before = len(phone.received())
    drain(sms_app)
    replies = phone.received()[before:]
    assert "messages écrits" in replies[0] and replies[-1].endswith("1 Oui\n2 Non")
    assert {m["encoding"] for m in twilio.messages[1:]} == {"GSM-7"}
    assert all(r.status == "done" for r in inbound_rows(sms_app))


# Delivery statuses ------------------------------------------------------------------------


def _status(sms_client: TestClient, token: str, sid: str, status: str, **extra: str) -> int:
    form = {"MessageSid": sid, "MessageStatus": status, "SmsStatus": status, "To": RESIDENT, **extra}
    return post_signed(sms_client, token, STATUS_PATH, form).status_code


def test_delivery_status_only_moves_forward(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    phone.send("Bonjour")
    phone.send("1")
    drain(sms_app)
    first, second, *_ = outbox_rows(sms_app)
    assert first.status == second.status == "sent" and first.provider_id and second.provider_id
    assert twilio.messages[0]["status_callback"] == PUBLIC + STATUS_PATH

    def status_of(sid: str) -> str:
        return next(r.status for r in outbox_rows(sms_app) if r.provider_id == sid)

    for reported, expected in [
        ("queued", "sent"),
        ("sending", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("sent", "delivered"),
        ("queued", "delivered"),
        ("undelivered", "delivered"),
        ("failed", "delivered"),
    ]:
        assert _status(sms_client, twilio.auth_token, first.provider_id, reported) == 204
        assert status_of(first.provider_id) == expected, reported
    for reported, expected in [("failed", "failed"), ("delivered", "failed"), ("sent", "failed")]:
        assert _status(sms_client, twilio.auth_token, second.provider_id, reported, ErrorCode="30008") == 204
        assert status_of(second.provider_id) == expected, reported
    assert (
        next(r for r in outbox_rows(sms_app) if r.id == second.id).last_error
        == "twilio status failed, error 30008"
    )
    assert _status(sms_client, twilio.auth_token, "SM" + "f" * 32, "delivered") == 204  # unknown: ignored
    # an unsigned callback changes nothing
    unsigned = {"MessageSid": first.provider_id, "MessageStatus": "failed"}
    assert sms_client.post(STATUS_PATH, data=unsigned).status_code == 403
    assert status_of(first.provider_id) == "delivered"


def test_error_21610_in_a_status_callback_opts_the_resident_out(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio
) -> None:
    phone = Phone(sms_client, twilio, RESIDENT)
    phone.send("Bonjour")
    drain(sms_app)
    [first] = outbox_rows(sms_app)
    phone.send("1")  # its replies are written, not yet sent, when the callback arrives
    sms_app.state.orchestrator.process_pending()
    for _ in range(2):  # Twilio may repeat a callback: the opt-out is recorded once
        assert (
            _status(sms_client, twilio.auth_token, first.provider_id, "undelivered", ErrorCode="21610") == 204
        )
    drain(sms_app)
    statuses = [r.status for r in outbox_rows(sms_app)]
    assert statuses[0] == "undelivered" and set(statuses[1:]) == {"suppressed"}
    assert len(phone.received()) == 1
    [resident] = residents(sms_app)
    assert resident.opted_out
    assert [r.external_id for r in inbound_rows(sms_app) if r.kind == "opt_out"] == [
        f"status-{first.provider_id}-21610"
    ]
