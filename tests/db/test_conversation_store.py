"""The conversation kept in a real database: consent-first storage, erasure, dedupe, crash safety."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from bot.channels.base import InboundMessage
from bot.engine.engine import Engine as ConversationEngine
from bot.engine.flow import FlowSet
from bot.orchestrator import Orchestrator
from bot.outbox import Dispatcher, OutboxItem, SendResult
from bot.store.models import (
    ChannelIdentity,
    Consent,
    Conversation,
    Counter,
    Inbound,
    MessageLog,
    Outbox,
    Resident,
)
from flows.hooks import HOOKS

pytestmark = pytest.mark.db
PHONE = "+33612345678"


class Outbox_:
    """Reads what the resident was sent, in order."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.seen = 0

    def new(self) -> list[str]:
        with Session(self.db) as s:
            rows = s.scalars(select(Outbox).where(Outbox.id > self.seen).order_by(Outbox.id)).all()
        self.seen = max([self.seen, *(r.id or 0 for r in rows)])
        return [r.body for r in rows]


def say(orchestrator: Orchestrator, text: str, n: list[int] = [0]) -> None:  # noqa: B006 - a running counter
    n[0] += 1
    orchestrator.handle(InboundMessage("sms", PHONE, f"SM{n[0]:032d}", text=text))


def count(db: Engine, model: type) -> int:
    with Session(db) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def only(db: Engine, model: type):  # noqa: ANN201
    with Session(db) as s:
        return s.scalars(select(model)).one()


def onboard(orchestrator: Orchestrator) -> None:
    for text in ["Bonjour", "1", "1", "Amina", "93200", "1", "2", "1", "3"]:
        say(orchestrator, text)


def test_a_whole_onboarding_is_stored_on_the_profile(db: Engine, orchestrator: Orchestrator) -> None:
    onboard(orchestrator)
    resident = only(db, Resident)
    assert (
        resident.first_name,
        resident.postcode,
        resident.france_travail,
        resident.rsa,
        resident.age_band,
        resident.heard_from,
        resident.language,
    ) == ("Amina", "93200", "yes", "no", "under_26", "friends", "fr")
    assert resident.consented_at is not None and resident.consented_at.tzinfo is not None
    assert only(db, Conversation).state["step"] == "main"
    assert only(db, Consent).given is True


def test_nothing_personal_is_stored_before_consent(db: Engine, orchestrator: Orchestrator) -> None:
    for text in ["Bonjour, je m'appelle Amina et j'habite à Bondy", "1", "2", "non"]:
        say(orchestrator, text)
    resident = only(db, Resident)
    assert resident.first_name is None and resident.postcode is None and resident.consented_at is None
    assert count(db, MessageLog) == 0
    assert count(db, Consent) == 0
    with Session(db) as s:
        inbound = s.scalars(select(Inbound)).all()
    assert len(inbound) == 4 and all(r.body is None and r.address == "" for r in inbound)
    state = only(db, Conversation).state
    assert state["answers"] == {} and state["step"] == "refused_wait"


def test_messages_are_logged_from_the_consent_on(db: Engine, orchestrator: Orchestrator) -> None:
    for text in ["Bonjour", "1", "1", "Amina"]:
        say(orchestrator, text)
    with Session(db) as s:
        logged = [(m.direction, m.body) for m in s.scalars(select(MessageLog).order_by(MessageLog.id))]
    assert logged[0] == ("in", "1")  # the yes to consent is the first thing kept
    assert ("in", "Amina") in logged
    assert "Bonjour" not in [body for _, body in logged]


def test_erasure_removes_every_personal_trace_and_keeps_a_count(
    db: Engine, orchestrator: Orchestrator, clock: object
) -> None:
    outbox = Outbox_(db)
    onboard(orchestrator)
    say(orchestrator, "SUPPRIMER")
    say(orchestrator, "1")
    assert outbox.new()[-1].startswith("C'est fait : vos données sont effacées")
    for model in (Resident, ChannelIdentity, Conversation, MessageLog, Consent):
        assert count(db, model) == 0, model.__name__
    assert only(db, Counter).value == 1
    confirmation = only(db, Outbox)
    assert confirmation.resident_id is None and confirmation.kind == "erase_confirm"

    sent: list[str] = []

    class Recorder:
        async def send(self, item: OutboxItem) -> SendResult:
            sent.append(item.address)
            return SendResult(ok=True, provider_id="x")

    asyncio.run(Dispatcher(db, {"sms": Recorder()}, clock).dispatch_due())  # type: ignore[arg-type]
    assert sent == [PHONE]
    after = only(db, Outbox)
    assert after.address is None and after.body == "[erased]"
    say(orchestrator, "Bonjour")
    assert "Choisissez votre langue" in outbox.new()[-1]


def test_a_repeated_delivery_is_processed_once(db: Engine, orchestrator: Orchestrator) -> None:
    message = InboundMessage("sms", PHONE, "SM-same", text="Bonjour")
    assert orchestrator.handle(message) is not None
    assert orchestrator.handle(message) is None
    assert count(db, Inbound) == 1 and count(db, Outbox) == 1


def test_bad_input_leaves_the_stored_answers_and_step_intact(db: Engine, orchestrator: Orchestrator) -> None:
    outbox = Outbox_(db)
    for text in ["Bonjour", "1", "1", "Amina"]:
        say(orchestrator, text)
    before = only(db, Conversation).state
    outbox.new()
    for text in [
        "",
        "   ",
        "\x00",
        "😀",
        "<script>alert(1)</script>",
        "'; DROP TABLE resident;--",
        "A" * 5000,
        "\u200f\u202e",
        "9320",
        "932000",
    ]:
        say(orchestrator, text)
        after = only(db, Conversation).state
        assert (after["step"], after["answers"]) == (before["step"], before["answers"]), text
    replies = outbox.new()
    assert len(replies) == 10 and all(replies)
    assert only(db, Resident).first_name == "Amina" and only(db, Resident).postcode is None


def test_a_crash_in_a_hook_apologises_and_keeps_the_state(
    db: Engine, conversation: ConversationEngine, clock: object
) -> None:
    def broken(ctx: object) -> str:
        raise RuntimeError("postcode service down")

    flaky = ConversationEngine(
        FlowSet(conversation.flows.flows, {**HOOKS, "check_postcode": broken}),
        conversation.translate,
        conversation.languages,
    )
    crashing = Orchestrator(db, flaky, clock)  # type: ignore[arg-type]
    outbox = Outbox_(db)
    for text in ["Bonjour", "1", "1", "Amina", "93200"]:
        say(crashing, text)
    assert outbox.new()[-1] == "Pardon, nous avons eu un problème. Écrivez de nouveau votre réponse."
    state = only(db, Conversation).state
    assert state["step"] == "postcode" and "postcode" not in state["answers"]
    with Session(db) as s:
        failed = [r.status for r in s.scalars(select(Inbound))]
    assert failed.count("failed") == 1
    healthy = Orchestrator(db, conversation, clock)  # type: ignore[arg-type]
    say(healthy, "93200")
    assert "France Travail" in outbox.new()[-1]
    assert only(db, Resident).postcode == "93200"


def test_stop_is_recorded_and_later_replies_are_not_sent(
    db: Engine, orchestrator: Orchestrator, clock: object
) -> None:
    onboard(orchestrator)
    say(orchestrator, "STOP")
    assert only(db, Resident).opted_out is True
    with Session(db) as s:
        s.add(
            Outbox(
                resident_id=only(db, Resident).id,
                channel="sms",
                address=PHONE,
                body="a reminder",
                next_attempt_at=clock(),
            )
        )  # type: ignore[operator]
        s.commit()
    sent: list[str] = []

    class Recorder:
        async def send(self, item: OutboxItem) -> SendResult:
            sent.append(item.message.text)
            return SendResult(ok=True, provider_id="x")

    dispatcher = Dispatcher(db, {"sms": Recorder()}, clock)  # type: ignore[arg-type]
    while asyncio.run(dispatcher.dispatch_due()):
        pass
    assert "a reminder" not in sent
    with Session(db) as s:
        assert s.scalars(select(Outbox).where(Outbox.body == "a reminder")).one().status == "suppressed"


def _chat(db_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "chat", "--as", "kill-test"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def _send(proc: subprocess.Popen[str], line: str, expect: str, timeout: float = 60) -> str:
    assert proc.stdin and proc.stdout
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    seen = ""
    deadline = time.monotonic() + timeout
    while expect not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
        print(repr(seen[-80:]), flush=True) if os.environ.get("DBG") else None
    assert expect in seen, seen
    return seen


def test_a_killed_process_resumes_at_the_same_step(db_url: str) -> None:
    first = _chat(db_url)
    _send(first, "Bonjour", "Choisissez votre langue")
    _send(first, "1", "d'accord")
    _send(first, "1", "prénom")
    _send(first, "Amina", "code postal")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = _chat(db_url)
    try:
        out = _send(second, "93200", "France Travail")
        assert "Choisissez votre langue" not in out
    finally:
        second.kill()
        second.wait(timeout=30)
