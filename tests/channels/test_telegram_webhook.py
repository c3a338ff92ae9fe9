"""POST /webhooks/telegram with the real python-telegram-bot, replies through FakeTelegram."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from bot.assistant import conversation_engine
from tests.channels.telegram_support import (
    CHAT,
    SECRET,
    TOKEN,
    Harness,
    last_keyboard,
    make_settings,
    open_harness,
)
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.db


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
def harness(db_url: str, db: Engine, clock: Any, fake: FakeTelegram) -> Iterator[Harness]:
    yield from open_harness(db_url, db, clock, fake)


def system_text(name: str, lang: str) -> str:
    engine = conversation_engine()
    return engine.translate(engine.flows.text(name), lang)


def flow_text(ref: str, lang: str) -> str:
    """The question of a step, in a language."""
    engine = conversation_engine()
    return engine.translate(engine.flows.step(ref).say[-1], lang)


def answered(fake: FakeTelegram) -> list[str]:
    return [c["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")]


def start_in(harness: Harness, lang: str, chat: int = CHAT) -> None:
    """A new resident starts the bot and picks a language."""
    assert harness.post(tu.start_command(next(harness.ids), chat)) == 200
    harness.tick()
    harness.tap(lang, chat)


# The happy path ----------------------------------------------------------------------------


def test_full_onboarding_with_inline_keyboards(harness: Harness) -> None:
    fake = harness.fake
    assert harness.post(tu.start_command(1, CHAT)) == 200
    harness.tick()
    [language] = fake.sent
    assert [b["text"] for b in last_keyboard(fake)] == ["Français", "English", "العربية"]
    assert language["chat_id"] == CHAT

    welcome = harness.tap("Français")
    assert "Bienvenue" in welcome[0]["text"]
    assert [b["text"] for b in last_keyboard(fake)] == ["Oui", "Non"]
    assert harness.tap("Oui")[-1]["text"].endswith(flow_text("onboarding.first_name", "fr"))
    assert harness.write("Awa")[-1]["text"] == "Merci Awa. Quel est votre code postal ? Par exemple 93200."
    asked = harness.write("93200")[-1]
    assert asked["text"] == flow_text("onboarding.france_travail", "fr")
    assert asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "onboarding.france_travail:yes"
    harness.tap("yes")
    harness.tap("no")
    harness.tap("26_49")
    done = harness.tap("Mission locale")
    assert "Awa" in done[0]["text"]
    assert done[-1]["text"].endswith(flow_text("menu.main", "fr"))
    assert all(b["callback_data"].startswith("menu.main:") for b in last_keyboard(fake))

    # Every tap was answered exactly once, in order, with the id of its callback query.
    assert len(harness.taps) == 6 and answered(fake) == harness.taps
    resident = harness.resident()
    assert resident is not None and resident.consented_at is not None and not resident.opted_out
    profile = (resident.first_name, resident.postcode, resident.france_travail, resident.rsa)
    assert profile == ("Awa", "93200", "yes", "no")
    assert (resident.age_band, resident.heard_from) == ("26_49", "mission_locale")
    assert all(m["parse_mode"] is None for m in fake.sent)  # plain text: no markup to escape
    assert {row.status for row in harness.outbox()} == {"sent"}


def test_start_begins_onboarding_and_deep_link_payload_is_ignored(harness: Harness) -> None:
    assert harness.post(tu.start_command(1, CHAT, "ref-mairie")) == 200
    harness.tick()
    [sent] = harness.fake.sent
    assert sent["text"] == flow_text("language.choose", "fr")
    start_again = harness.write("/start")
    assert [b["callback_data"] for b in last_keyboard(harness.fake)][0] == "language.choose:fr"
    assert len(start_again) == 1


def test_the_runner_answers_without_being_ticked(db_url: str, clock: Any, fake: FakeTelegram) -> None:
    """With the real work loop, the webhook's kick is enough for the reply to go out."""
    app = create_app(make_settings(db_url, fake.base_url), clock=clock, run_loop=True)
    with TestClient(app) as client:
        response = client.post(
            "/webhooks/telegram",
            json=tu.start_command(1, CHAT),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert response.status_code == 200
        [sent] = fake.wait_for(1, timeout=10)
    assert sent["text"] == flow_text("language.choose", "fr")


# What must not get in -----------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET.upper()])
def test_wrong_or_missing_secret_is_refused_and_nothing_stored(harness: Harness, secret: str | None) -> None:
    assert harness.post(tu.start_command(1, CHAT), secret=secret) == 403
    harness.tick()
    assert harness.inbound() == [] and harness.fake.sent == []


def test_unset_secret_refuses_everything(db_url: str, clock: Any, fake: FakeTelegram) -> None:
    app = create_app(
        make_settings(db_url, fake.base_url, telegram_webhook_secret=None), clock=clock, run_loop=False
    )
    with TestClient(app) as client:
        for header in (
            {},
            {"X-Telegram-Bot-Api-Secret-Token": ""},
            {"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ):
            assert (
                client.post("/webhooks/telegram", json=tu.start_command(1, CHAT), headers=header).status_code
                == 403
            )


def test_telegram_off_refuses_and_healthz_says_so(db_url: str, clock: Any, fake: FakeTelegram) -> None:
    app = create_app(
        make_settings(db_url, fake.base_url, telegram_bot_token=None), clock=clock, run_loop=False
    )
    with TestClient(app) as client:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert (
            client.post("/webhooks/telegram", json=tu.start_command(1, CHAT), headers=headers).status_code
            == 403
        )
        assert client.get("/healthz").json()["channels"]["telegram"] == "off"
    assert fake.calls == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"text"', json.dumps({"message": {"text": "no update_id"}}).encode()],
)
def test_unreadable_bodies_get_400_never_500(harness: Harness, body: bytes) -> None:
    assert harness.post(body) == 400
    assert harness.inbound() == []


def test_repeated_update_is_processed_once(harness: Harness) -> None:
    update = tu.start_command(7, CHAT)
    assert [harness.post(update) for _ in range(3)] == [200, 200, 200]
    harness.tick()
    assert len(harness.inbound()) == 1 and len(harness.fake.sent) == 1

    tap = tu.callback_query(8, CHAT, "language.choose:en", query_id="tap-8")
    assert [harness.post(tap) for _ in range(2)] == [200, 200]
    harness.tick()
    assert answered(harness.fake) == ["tap-8"]
    assert len(harness.inbound()) == 2


# Updates that are not text ------------------------------------------------------------------


def document_message(update_id: int, chat_id: int) -> dict[str, Any]:
    update = tu.photo_message(update_id, chat_id)
    del update["message"]["photo"]
    update["message"]["document"] = {"file_id": "BQACAgQ", "file_unique_id": "AgADd", "file_name": "cv.pdf"}
    return update


@pytest.mark.parametrize("lang", ["fr", "ar"])
@pytest.mark.parametrize(
    "build",
    [
        lambda n: tu.photo_message(n, CHAT, caption="mon CV"),
        lambda n: tu.sticker_message(n, CHAT),
        lambda n: tu.voice_message(n, CHAT),
        lambda n: tu.location_message(n, CHAT),
        lambda n: document_message(n, CHAT),
        lambda n: tu.edited_message(n, CHAT, "oui", message_id=1),
    ],
    ids=["photo", "sticker", "voice", "location", "document", "edited"],
)
def test_non_text_updates_get_a_polite_line_in_the_residents_language(
    harness: Harness, build: Any, lang: str
) -> None:
    start_in(harness, lang)
    before = len(harness.fake.sent)
    update = build(next(harness.ids))
    assert harness.post(update) == 200
    harness.tick()
    replies = harness.fake.sent[before:]
    line = "only_text_edited" if "edited_message" in update else "only_text"
    assert replies[0]["text"].startswith(system_text(line, lang))
    # ...and the question is asked again, with its buttons.
    assert replies[-1]["text"].endswith(flow_text("onboarding.consent", lang))
    assert [b["callback_data"] for b in last_keyboard(harness.fake)] == [
        "onboarding.consent:yes",
        "onboarding.consent:no",
    ]
    assert harness.outbox()[-1].kind != "error"


@pytest.mark.parametrize(
    "update",
    [
        tu.channel_post(50),
        {"update_id": 51, "some_future_update": {"x": 1}},
        tu.my_chat_member(52, CHAT, new_status="member", old_status="left"),
    ],
    ids=["channel_post", "unknown_type", "member_without_block"],
)
def test_updates_with_no_one_to_answer_are_acknowledged_and_dropped(
    harness: Harness, update: dict[str, Any]
) -> None:
    assert harness.post(update) == 200
    harness.tick()
    assert harness.inbound() == [] and harness.fake.sent == []


# Buttons, blocks and opt-outs ---------------------------------------------------------------


def test_stale_button_is_answered_and_the_question_asked_again(harness: Harness) -> None:
    start_in(harness, "en")
    harness.tap("yes")  # consent: now at the first name question
    sent = harness.tap_data("language.choose:fr")  # a tap on the very first keyboard
    [reply] = sent
    assert reply["text"].startswith(system_text("stale_button", "en"))
    assert reply["text"].endswith(flow_text("onboarding.first_name", "en"))
    assert len(answered(harness.fake)) == 3  # every tap, the stale one too
    resident = harness.resident()
    assert resident is not None and resident.language == "en"


def test_blocked_bot_opts_the_resident_out_and_nothing_more_is_sent(harness: Harness) -> None:
    start_in(harness, "fr")
    harness.fake.block(CHAT)
    sent_before = len(harness.fake.sent)
    harness.tap("yes")
    resident = harness.resident()
    assert resident is not None and resident.opted_out
    failed = harness.outbox()[-1]
    assert failed.status == "failed" and "blocked" in (failed.last_error or "")

    # A later message (a reminder, a counsellor's reply) is suppressed, never attempted.
    harness.fake.unblock(CHAT)
    calls_before = len(harness.fake.calls_to("sendMessage"))
    queue_reminder(harness, resident.id)
    harness.tick()
    assert harness.outbox()[-1].status == "suppressed"
    assert len(harness.fake.calls_to("sendMessage")) == calls_before
    assert len(harness.fake.sent) == sent_before


def test_my_chat_member_kicked_opts_out_and_unblocking_welcomes_back(harness: Harness) -> None:
    start_in(harness, "fr")
    before = len(harness.fake.sent)
    assert harness.post(tu.bot_blocked(next(harness.ids), CHAT)) == 200
    harness.tick()
    resident = harness.resident()
    assert resident is not None and resident.opted_out
    assert len(harness.fake.sent) == before  # nothing said to someone who blocked us

    assert harness.post(tu.bot_unblocked(next(harness.ids), CHAT)) == 200
    harness.tick()
    resident = harness.resident()
    assert resident is not None and not resident.opted_out
    back = harness.fake.sent[before:]
    assert back[0]["text"].startswith(system_text("opted_in", "fr"))
    assert back[-1]["text"].endswith(flow_text("onboarding.consent", "fr"))


def test_block_from_a_stranger_stores_no_one(harness: Harness) -> None:
    assert harness.post(tu.bot_blocked(1, 999)) == 200
    harness.tick()
    assert harness.resident(999) is None and harness.fake.sent == []


def queue_reminder(harness: Harness, resident_id: int | None) -> None:
    """A message queued outside any conversation turn, as a reminder or a counsellor's reply is."""
    from bot.store.db import transaction
    from bot.store.models import Outbox

    with transaction(harness.db) as session:
        session.add(
            Outbox(
                resident_id=resident_id,
                channel="telegram",
                address=str(CHAT),
                body="Rappel : rendez-vous demain à 10h.",
                created_at=harness.app.state.orchestrator.clock(),
                next_attempt_at=harness.app.state.orchestrator.clock(),
            )
        )


def test_telegram_down_at_start_does_not_stop_the_service(
    db_url: str, clock: Any, fake: FakeTelegram
) -> None:
    fake.fail_next(("status", 500))  # getMe fails during the lifespan's start
    app = create_app(make_settings(db_url, fake.base_url), clock=clock, run_loop=False)
    with TestClient(app) as client:
        harness = Harness(client, fake, app.state.db)
        assert harness.post(tu.start_command(1, CHAT)) == 200
        harness.tick()
    assert fake.calls[0].method == "getMe"
    [question] = fake.sent
    assert question["text"] == flow_text("language.choose", "fr")
