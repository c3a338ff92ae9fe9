"""The inbox API: the handoff lifecycle through the orchestrator, transcripts, notes, replies, audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from api.main import create_app
from bot.settings import Settings
from bot.store.models import AuditEntry, Note
from tests.api.inbox_kit import add_account, conversation_id, outbox, say, sign_up, token_headers
from tests.conftest import Clock

pytestmark = pytest.mark.db
LEA, OMAR, ADMIN = "lea@batissons.fr", "omar@batissons.fr", "admin@batissons.fr"


@pytest.fixture
def app(db_url: str, db: Engine, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(
        Settings(database_url=db_url, secret_key="test-secret", _env_file=None), clock, {}, False
    )
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI, db: Engine) -> Iterator[TestClient]:
    add_account(db, LEA, name="Léa")
    add_account(db, OMAR, name="Omar")
    add_account(db, ADMIN, admin=True, name="Ada")
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def lea(client: TestClient) -> dict[str, str]:
    return token_headers(client, LEA)


def waiting_resident(app: FastAPI, address: str = "amina", lang: str = "fr") -> None:
    sign_up(app, address, lang)
    say(app, address, "CONSEILLER")


def bodies(db: Engine) -> list[str]:
    return [row.body for row in outbox(db)]


def test_a_resident_who_asks_waits_and_the_bot_stays_silent(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    told = bodies(app.state.db)[-1]
    assert "J'ai demandé à un conseiller" in told and "vous pouvez déjà écrire" in told.lower()
    listed = client.get("/api/conversations", params={"status": "waiting"}, headers=lea).json()
    assert [c["id"] for c in listed] == [cid]
    assert listed[0]["resident_name"] == "Amina" and listed[0]["priority"] == 1
    assert listed[0]["waiting_seconds"] == 0 and listed[0]["first_response_at"] is None
    before = len(outbox(app.state.db))
    for text in ["Allo ?", "MENU", "AIDE", "1", "CONSEILLER", "RDV"]:
        say(app, "amina", text)
    assert len(outbox(app.state.db)) == before, "the bot answered while a counsellor was asked"
    messages = client.get(f"/api/conversations/{cid}/messages", headers=lea).json()["messages"]
    assert [m["body"] for m in messages[-6:]] == ["Allo ?", "MENU", "AIDE", "1", "CONSEILLER", "RDV"]


def test_claim_reply_note_handback_then_the_bot_answers_again(
    app: FastAPI, client: TestClient, lea: Any, clock: Clock
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    clock.advance(minutes=7)
    claimed = client.post(f"/api/conversations/{cid}/claim", headers=lea)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "assigned" and claimed.json()["assigned_counsellor_name"] == "Léa"
    assert claimed.json()["waiting_seconds"] == 7 * 60
    assert client.get("/api/conversations", params={"status": "waiting"}, headers=lea).json() == []

    sent = client.post(
        f"/api/conversations/{cid}/messages", json={"text": "Bonjour Amina, je suis Léa."}, headers=lea
    )
    assert sent.status_code == 201, sent.text
    last = sent.json()["messages"][-1]
    assert (last["author"], last["counsellor_name"], last["delivery_status"]) == (
        "counsellor",
        "Léa",
        "pending",
    )
    assert sent.json()["conversation"]["first_response_seconds"] == 7 * 60
    row = outbox(app.state.db)[-1]
    assert (row.body, row.kind, row.channel, row.address) == (
        "Bonjour Amina, je suis Léa.",
        "counsellor",
        "console",
        "amina",
    )

    note = client.post(f"/api/conversations/{cid}/notes", json={"text": "Rappeler lundi"}, headers=lea)
    assert note.status_code == 201 and note.json()["body"] == "Rappeler lundi"
    assert "Rappeler lundi" not in bodies(app.state.db), "a note was sent"
    assert (
        client.get(f"/api/conversations/{cid}/messages", headers=lea).json()["notes"][0]["body"]
        == "Rappeler lundi"
    )

    before = len(outbox(app.state.db))
    say(app, "amina", "Merci !")
    assert len(outbox(app.state.db)) == before, "the bot talked over the counsellor"

    back = client.post(f"/api/conversations/{cid}/handback", headers=lea)
    assert back.status_code == 200 and back.json()["status"] == "bot"
    menu = bodies(app.state.db)[-1]
    assert menu.startswith("Le conseiller a terminé.") and "Que voulez-vous faire ?" in menu
    say(app, "amina", "MENU")
    assert "Que voulez-vous faire ?" in bodies(app.state.db)[-1], "the bot did not answer after the hand-back"


def test_resolve_closes_quietly_and_the_next_message_gets_the_menu(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    client.post(f"/api/conversations/{cid}/messages", json={"text": "C'est réglé ?"}, headers=lea)
    before = len(outbox(app.state.db))
    resolved = client.post(f"/api/conversations/{cid}/resolve", headers=lea)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert len(outbox(app.state.db)) == before, "resolving sends nothing"
    assert [c["id"] for c in client.get("/api/conversations?status=resolved", headers=lea).json()] == [cid]
    say(app, "amina", "Bonjour")
    assert "Que voulez-vous faire ?" in bodies(app.state.db)[-1]
    assert client.post(f"/api/conversations/{cid}/handback", headers=lea).status_code == 409


def test_a_reply_to_a_resident_who_wrote_stop_is_refused(app: FastAPI, client: TestClient, lea: Any) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    say(app, "amina", "STOP")
    assert bodies(app.state.db)[-1].startswith("C'est fait")  # STOP still acts while waiting
    before = len(outbox(app.state.db))
    refused = client.post(f"/api/conversations/{cid}/messages", json={"text": "Bonjour ?"}, headers=lea)
    assert refused.status_code == 409
    assert "opted out" in refused.json()["detail"] and "STOP" in refused.json()["detail"]
    assert len(outbox(app.state.db)) == before
    assert (
        client.get(f"/api/conversations/{cid}/messages", headers=lea).json()["messages"][-1]["body"]
        != "Bonjour ?"
    )


def test_delete_still_works_while_waiting(app: FastAPI, client: TestClient, lea: Any) -> None:
    waiting_resident(app)
    say(app, "amina", "SUPPRIMER")
    assert "effac" in bodies(app.state.db)[-1].lower()
    say(app, "amina", "1")
    assert client.get("/api/conversations", params={"status": "waiting"}, headers=lea).json() == []


def test_a_colleague_cannot_take_or_answer_a_claimed_conversation(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    omar = token_headers(client, OMAR)
    assert client.post(f"/api/conversations/{cid}/claim", headers=lea).status_code == 200
    assert client.post(f"/api/conversations/{cid}/claim", headers=omar).status_code == 409
    assert (
        client.post(f"/api/conversations/{cid}/messages", json={"text": "x"}, headers=omar).status_code == 409
    )
    assert client.post("/api/conversations/999/claim", headers=lea).status_code == 404


def test_a_reply_to_a_conversation_with_the_bot_takes_it_over(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    sign_up(app, "amina")
    cid = conversation_id(app.state.db)
    sent = client.post(
        f"/api/conversations/{cid}/messages", json={"text": "Bonjour, un conseiller ici."}, headers=lea
    )
    assert sent.status_code == 201 and sent.json()["conversation"]["status"] == "assigned"
    before = len(outbox(app.state.db))
    say(app, "amina", "1")  # would book an appointment with the bot
    assert len(outbox(app.state.db)) == before


def test_canned_replies_go_in_the_residents_language(app: FastAPI, client: TestClient, lea: Any) -> None:
    waiting_resident(app, "sam", lang="en")
    cid = conversation_id(app.state.db)
    listed = client.get("/api/canned-replies", headers=lea).json()
    assert {"hello", "bye"} <= {c["shortcode"] for c in listed}
    assert all(set(c["texts"]) >= {"fr", "en", "ar"} for c in listed)
    assert (
        client.post(f"/api/conversations/{cid}/messages", json={"canned": "hello"}, headers=lea).status_code
        == 201
    )
    assert bodies(app.state.db)[-1].startswith("Hello, I am an advisor")
    assert (
        client.post(f"/api/conversations/{cid}/messages", json={"text": "/bye"}, headers=lea).status_code
        == 201
    )
    assert bodies(app.state.db)[-1].startswith("Thank you, have a good day")
    unknown = client.post(f"/api/conversations/{cid}/messages", json={"canned": "nope"}, headers=lea)
    assert unknown.status_code == 422


def test_a_long_reply_is_kept_whole_and_a_too_long_one_refused(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    long = ("Voici les étapes. " * 200)[:3500].strip()
    assert (
        client.post(f"/api/conversations/{cid}/messages", json={"text": long}, headers=lea).status_code == 201
    )
    assert bodies(app.state.db)[-1] == long  # the channel splits it when it sends; nothing is cut
    too_long = client.post(f"/api/conversations/{cid}/messages", json={"text": "x" * 4001}, headers=lea)
    assert too_long.status_code == 422
    assert (
        client.post(f"/api/conversations/{cid}/messages", json={"text": "  "}, headers=lea).status_code == 422
    )


def test_urgent_requests_come_first(app: FastAPI, client: TestClient, lea: Any, clock: Clock) -> None:
    waiting_resident(app, "first")
    clock.advance(minutes=5)
    waiting_resident(app, "second")
    with Session(app.state.db) as session, session.begin():
        from bot.store.models import Conversation

        second = session.scalars(select(Conversation).order_by(Conversation.id.desc())).first()
        assert second is not None
        second.priority = 2
    listed = client.get("/api/conversations", params={"status": "waiting"}, headers=lea).json()
    assert [c["priority"] for c in listed] == [2, 1]
    assert listed[1]["waiting_seconds"] == 5 * 60


def test_opening_and_changing_a_file_is_audited_for_admins(
    app: FastAPI, client: TestClient, lea: Any
) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    client.get(f"/api/conversations/{cid}/messages", headers=lea)
    client.post(f"/api/conversations/{cid}/claim", headers=lea)
    client.post(f"/api/conversations/{cid}/notes", json={"text": "vu"}, headers=lea)
    assert client.get("/api/audit", headers=lea).status_code == 403
    log = client.get("/api/audit", headers=token_headers(client, ADMIN)).json()
    assert [(a["action"], a["counsellor_name"]) for a in log][:3] == [
        ("note", "Léa"),
        ("claim", "Léa"),
        ("view", "Léa"),
    ]
    with Session(app.state.db) as session:
        assert session.scalars(select(AuditEntry)).first() is not None


def test_erasure_removes_notes(app: FastAPI, client: TestClient, lea: Any) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    client.post(f"/api/conversations/{cid}/notes", json={"text": "à rappeler"}, headers=lea)
    say(app, "amina", "SUPPRIMER")
    say(app, "amina", "1")
    with Session(app.state.db) as session:
        assert list(session.scalars(select(Note))) == []


def test_outside_office_hours_the_resident_is_told_when(app: FastAPI, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)  # Thursday 18:00 in Paris; Friday is Christmas
    waiting_resident(app)
    told = "\n".join(bodies(app.state.db)[-2:])
    assert "sauf les jours fériés" in told and "lundi 28 décembre à 9h00" in told, told


def test_nul_bytes_and_blank_notes(app: FastAPI, client: TestClient, lea: Any) -> None:
    waiting_resident(app)
    cid = conversation_id(app.state.db)
    sent = client.post(f"/api/conversations/{cid}/messages", json={"text": "a\x00b"}, headers=lea)
    assert sent.status_code == 201 and bodies(app.state.db)[-1] == "ab"
    assert (
        client.post(f"/api/conversations/{cid}/notes", json={"text": " \x00 "}, headers=lea).status_code
        == 422
    )
    note = client.post(f"/api/conversations/{cid}/notes", json={"text": "x\x00y"}, headers=lea)
    assert note.status_code == 201 and note.json()["body"] == "xy"
