"""`batissons telegram set-webhook` and `batissons telegram poll` against FakeTelegram."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from bot.assistant import conversation_engine
from bot.channels import telegram
from bot.cli import app
from bot.orchestrator import Orchestrator
from bot.outbox import Dispatcher
from bot.settings import get_settings
from bot.store.models import Inbound
from tests.channels.telegram_support import CHAT, SECRET, TOKEN, make_settings
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeTelegram

PUBLIC = "https://batissons.example.org"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeTelegram) -> Iterator[pytest.MonkeyPatch]:
    """The operator's environment, with no .env file around; settings are read afresh."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
    monkeypatch.setenv("TELEGRAM_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC + "/")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# set-webhook ----------------------------------------------------------------------------------


def test_set_webhook_registers_url_secret_and_update_types(
    env: pytest.MonkeyPatch, fake: FakeTelegram
) -> None:
    result = run_cli("telegram", "set-webhook")
    assert result.exit_code == 0, result.output
    assert f"{PUBLIC}/webhooks/telegram" in result.output
    assert fake.webhook["url"] == f"{PUBLIC}/webhooks/telegram"
    assert fake.webhook["secret_token"] == SECRET
    allowed = set(fake.webhook["allowed_updates"])
    assert {"message", "edited_message", "callback_query", "my_chat_member", "channel_post"} <= allowed


@pytest.mark.parametrize(
    ("unset", "value", "message"),
    [
        ("TELEGRAM_WEBHOOK_SECRET", None, "TELEGRAM_WEBHOOK_SECRET is unset"),
        ("TELEGRAM_BOT_TOKEN", None, "TELEGRAM_BOT_TOKEN is unset"),
        ("TELEGRAM_WEBHOOK_SECRET", "not allowed!", "A-Z a-z 0-9 _ -"),
    ],
)
def test_set_webhook_refuses_without_token_or_secret(
    env: pytest.MonkeyPatch, fake: FakeTelegram, unset: str, value: str | None, message: str
) -> None:
    if value is None:
        env.delenv(unset)
    else:
        env.setenv(unset, value)
    result = run_cli("telegram", "set-webhook")
    assert result.exit_code == 2
    assert message in result.output
    assert fake.calls == [] and fake.webhook == {}


def test_set_webhook_reports_telegram_refusing_a_plain_http_url(
    env: pytest.MonkeyPatch, fake: FakeTelegram
) -> None:
    env.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    result = run_cli("telegram", "set-webhook")
    assert result.exit_code == 1
    assert "http://127.0.0.1:8000/webhooks/telegram" in result.output
    assert "https url must be provided" in result.output.lower() and "telegram poll" in result.output
    assert fake.webhook == {}


def test_set_webhook_on_a_lenient_fake_accepts_a_local_url(env: pytest.MonkeyPatch) -> None:
    with FakeTelegram(token=TOKEN, strict_webhook=False) as lenient:
        env.setenv("TELEGRAM_API_BASE_URL", lenient.base_url)
        env.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
        assert run_cli("telegram", "set-webhook").exit_code == 0
        assert lenient.webhook["url"] == "http://127.0.0.1:8000/webhooks/telegram"


# poll -----------------------------------------------------------------------------------------


def poll_once(db_url: str, db: Engine, clock: Any, fake: FakeTelegram) -> int:
    """One getUpdates round of the poll loop, as a freshly started process runs it."""
    channel = telegram.build_telegram(make_settings(db_url, fake.base_url))
    assert channel is not None
    orchestrator = Orchestrator(db, conversation_engine(), clock)
    dispatcher = Dispatcher(db, {"telegram": channel.sender}, clock, on_unreachable=orchestrator.unreachable)
    return asyncio.run(telegram.poll(channel, orchestrator, dispatcher, batches=1, poll_seconds=0))


@pytest.mark.db
def test_poll_processes_queued_updates_through_the_same_path(
    db_url: str, db: Engine, clock: Any, fake: FakeTelegram
) -> None:
    fake.webhook.update(url=f"{PUBLIC}/webhooks/telegram")  # left over from a deployment
    fake.queue_update(tu.start_command(10, CHAT))
    fake.queue_update(tu.callback_query(11, CHAT, "language.choose:en", query_id="poll-tap"))
    assert poll_once(db_url, db, clock, fake) == 2

    methods = [c.method for c in fake.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert fake.webhook == {}
    sent = fake.sent
    assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "language.choose:fr"
    assert "English" in sent[1]["text"]
    assert [c["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")] == ["poll-tap"]

    # Stopped before confirming the batch: the next start gets it again and drops it.
    assert poll_once(db_url, db, clock, fake) == 2
    assert fake.sent == sent and len(fake.calls_to("answerCallbackQuery")) == 1
    with Session(db) as session:
        assert len(session.scalars(select(Inbound)).all()) == 2


@pytest.mark.db
def test_poll_command(env: pytest.MonkeyPatch, db_url: str, fake: FakeTelegram) -> None:
    env.setenv("DATABASE_URL", db_url)
    fake.queue_update(tu.start_command(10, CHAT))
    result = run_cli("telegram", "poll", "--batches", "1", "--poll-seconds", "0")
    assert result.exit_code == 0, result.output
    assert "1 update" in result.output
    [question] = fake.wait_for(1)
    assert question["chat_id"] == CHAT and question["reply_markup"]["inline_keyboard"]


def test_poll_command_refuses_without_a_token(env: pytest.MonkeyPatch, fake: FakeTelegram) -> None:
    env.delenv("TELEGRAM_BOT_TOKEN")
    result = run_cli("telegram", "poll")
    assert result.exit_code == 2 and "TELEGRAM_BOT_TOKEN is unset" in result.output
    assert fake.calls == []
