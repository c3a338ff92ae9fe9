"""The flood guard over SMS: more than 20 messages a minute earns one notice, then 10 quiet minutes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.channels.twilio_kit import (
    Phone,
    drain,
    inbound_rows,
    outbox_rows,
    residents,
)
from tests.conftest import Clock
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.db
ROBOT = "+33612345678"
NOTICE = (
    "Vous envoyez beaucoup de messages très vite : je fais une pause de quelques minutes. "
    "Écrivez-moi un peu plus tard."
)


def flood(phone: Phone, sms_app: FastAPI, count: int) -> list[str]:
    """Send `count` messages within the same minute; return the SMS that came back."""
    before = len(phone.received())
    for n in range(count):
        phone.send(f"Message automatique {n}")
    drain(sms_app)
    return phone.received()[before:]


def test_a_flooding_sender_gets_one_notice_then_silence_for_ten_minutes(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    robot, person = Phone(sms_client, twilio, ROBOT), Phone(sms_client, twilio, "+33698765432")
    replies = flood(robot, sms_app, 25)
    assert replies[-1] == NOTICE and replies.count(NOTICE) == 1
    statuses = [r.status for r in inbound_rows(sms_app)]
    assert statuses == ["done"] * 20 + ["flood_notice"] + ["throttled"] * 4
    assert [r.kind for r in outbox_rows(sms_app)].count("flood_notice") == 1
    assert all(r.body is None and r.address == "" for r in inbound_rows(sms_app))  # nothing kept

    person.send("Bonjour")  # someone else is not slowed down
    drain(sms_app)
    assert len(person.received()) == 1

    clock.advance(minutes=5)
    assert flood(robot, sms_app, 3) == []  # still paused, and no second notice
    clock.advance(minutes=5, seconds=1)  # ten minutes after the notice
    [answer] = flood(robot, sms_app, 1)
    assert answer.endswith("3 العربية")  # answered again, where the conversation was


def test_throttling_resumes_with_a_new_notice_if_the_flood_goes_on(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    robot = Phone(sms_client, twilio, ROBOT)
    assert flood(robot, sms_app, 21)[-1] == NOTICE
    clock.advance(minutes=11)
    again = flood(robot, sms_app, 22)
    assert again.count(NOTICE) == 1 and again[-1] == NOTICE  # 20 answered, the 21st noticed


def test_stop_is_honoured_even_while_throttled(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    robot = Phone(sms_client, twilio, ROBOT)
    flood(robot, sms_app, 22)
    robot.send("STOP")
    drain(sms_app)
    assert robot.received()[-1].startswith("C'est fait : vous ne recevrez plus de messages")
    assert residents(sms_app)[0].opted_out
    assert inbound_rows(sms_app)[-1].status == "done"


def test_twenty_messages_in_a_minute_are_all_answered(
    sms_client: TestClient, sms_app: FastAPI, twilio: FakeTwilio, clock: Clock
) -> None:
    robot = Phone(sms_client, twilio, ROBOT)
    for _ in range(3):  # 20 a minute, minute after minute, stays under the limit
        assert NOTICE not in flood(robot, sms_app, 20)
        clock.advance(seconds=61)
    assert {r.status for r in inbound_rows(sms_app)} == {"done"}
