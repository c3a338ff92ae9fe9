"""Helpers of the inbox tests: an app, accounts, tokens, a resident who asks for a counsellor."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.accounts import create_counsellor
from bot.channels.base import InboundMessage
from bot.store.db import transaction
from bot.store.models import Conversation, Outbox

PASSWORD = "correct horse"
LANG_NUMBER = {"fr": "1", "en": "2", "ar": "3"}
SIGN_UP = ["Bonjour", "{lang}", "1", "Amina", "93200", "1", "2", "2", "3"]


def add_account(db: Engine, email: str, admin: bool = False, name: str = "") -> int:
    with transaction(db) as session:
        counsellor = create_counsellor(
            session, email, PASSWORD, name=name or email.split("@")[0], admin=admin
        )
        assert counsellor.id is not None
        return counsellor.id


def token_headers(client: TestClient, email: str) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def say(app: Any, address: str, text: str, channel: str = "console") -> None:
    app.state.orchestrator.handle(InboundMessage(channel, address, uuid.uuid4().hex, text=text))


def sign_up(app: Any, address: str, lang: str = "fr") -> None:
    for text in SIGN_UP:
        say(app, address, text.format(lang=LANG_NUMBER[lang]))


def conversation_id(db: Engine, resident_index: int = 0) -> int:
    with Session(db) as session:
        ids = list(session.scalars(select(Conversation.id).order_by(Conversation.id)))
    return ids[resident_index]


def outbox(db: Engine) -> list[Outbox]:
    with Session(db) as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def web_login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text), "next": "/inbox"},
        follow_redirects=False,
    )
