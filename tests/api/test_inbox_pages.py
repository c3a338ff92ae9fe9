"""The web inbox: login (session cookie, CSRF, throttling), pages, escaping, and the authorization matrix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import create_app
from bot.settings import Settings
from tests.api.inbox_kit import (
    add_account,
    conversation_id,
    csrf_of,
    outbox,
    say,
    sign_up,
    token_headers,
    web_login,
)
from tests.conftest import Clock

pytestmark = pytest.mark.db
LEA, ADMIN = "lea@batissons.fr", "admin@batissons.fr"
# Routes anyone may call: the login itself, health, docs, and the channels' own (signed) webhooks.
PUBLIC = {
    "/login",
    "/logout",
    "/healthz",
    "/api/auth/token",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
PUBLIC_PREFIXES = ("/webhooks/",)
# Admin-only routes: a counsellor gets 403, an admin is let in.
ADMIN_ONLY = {("GET", "/api/audit"), ("GET", "/admin/audit")}


def make_app(db_url: str, clock: Clock, base: str = "http://127.0.0.1:8000") -> FastAPI:
    settings = Settings(database_url=db_url, secret_key="test-secret", public_base_url=base, _env_file=None)
    return create_app(settings, clock, {}, False)


@pytest.fixture
def app(db_url: str, db: Engine, clock: Clock) -> Iterator[FastAPI]:
    application = make_app(db_url, clock)
    add_account(db, LEA, name="Léa")
    add_account(db, ADMIN, admin=True, name="Ada")
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _flat(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route, through included routers (FastAPI includes them lazily)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _flat(route.original_router.routes, prefix + (route.include_context.prefix or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app that needs a signed-in counsellor, with ids filled in."""
    found = []
    for full, route in _flat(app.routes):
        if full in PUBLIC or full.startswith(PUBLIC_PREFIXES):
            continue
        path = re.sub(r"\{[^}]+\}", "1", full)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    assert len(found) > 20, "the route walk found too few routes"
    return found


def test_the_matrix_covers_the_inbox(app: FastAPI) -> None:
    listed = set(routes(app))
    for expected in [
        ("GET", "/inbox"),
        ("GET", "/conversations/1"),
        ("POST", "/conversations/1/reply"),
        ("GET", "/api/conversations"),
        ("POST", "/api/conversations/1/handback"),
        *ADMIN_ONLY,
    ]:
        assert expected in listed


def test_anonymous_gets_401_on_the_api_and_the_login_page_elsewhere(app: FastAPI, client: TestClient) -> None:
    for method, path in routes(app):
        response = client.request(method, path, follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)


def test_a_counsellor_gets_403_on_admin_routes_and_an_admin_gets_in(app: FastAPI, client: TestClient) -> None:
    lea, admin = token_headers(client, LEA), token_headers(client, ADMIN)
    for method, path in routes(app):
        as_lea = client.request(method, path, headers=lea, follow_redirects=False)
        as_admin = client.request(method, path, headers=admin, follow_redirects=False)
        if (method, path) in ADMIN_ONLY and path.startswith("/api/"):
            assert as_lea.status_code == 403, (method, path)
            assert as_admin.status_code == 200, (method, path)
        if path.startswith("/api/"):
            assert as_lea.status_code != 401 and as_admin.status_code not in (401, 403), (method, path)
    assert web_login(client, LEA).status_code == 303
    for method, path in ADMIN_ONLY:
        if not path.startswith("/api/"):
            assert client.request(method, path).status_code == 403
    client.cookies.clear()
    assert web_login(client, ADMIN).status_code == 303
    for method, path in ADMIN_ONLY:
        if not path.startswith("/api/"):
            assert client.request(method, path).status_code == 200


def test_login_sets_a_safe_session_cookie(db_url: str, db: Engine, clock: Clock) -> None:
    add_account(db, LEA)
    for base, secure in (("http://127.0.0.1:8000", False), ("https://batissons.example.org", True)):
        origin = "https://testserver" if secure else "http://testserver"  # a Secure cookie needs https
        with TestClient(make_app(db_url, clock, base), base_url=origin) as client:
            response = web_login(client, LEA)
            assert response.status_code == 303 and response.headers["location"] == "/inbox"
            cookie = response.headers["set-cookie"].lower()
            assert "batissons_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
            assert ("secure" in cookie) is secure


def test_a_form_without_a_valid_csrf_token_is_refused(app: FastAPI, client: TestClient) -> None:
    client.get("/login")
    no_token = client.post("/login", data={"email": LEA, "password": "correct horse"}, follow_redirects=False)
    assert no_token.status_code == 403
    sign_up(app, "amina")
    say(app, "amina", "CONSEILLER")
    cid = conversation_id(app.state.db)
    assert web_login(client, LEA).status_code == 303
    before = len(outbox(app.state.db))
    forged = client.post(
        f"/conversations/{cid}/reply", data={"text": "hi", "csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert client.post(f"/conversations/{cid}/claim", data={}, follow_redirects=False).status_code == 403
    assert len(outbox(app.state.db)) == before


def test_login_is_throttled(client: TestClient) -> None:
    for _ in range(5):
        assert web_login(client, LEA, "wrong password").status_code == 401
    throttled = web_login(client, LEA)  # even the right password waits now
    assert throttled.status_code == 429 and "Too many attempts" in throttled.text


def test_a_login_redirect_never_leaves_the_site(client: TestClient) -> None:
    page = client.get("/login?next=//evil.example/x")
    assert 'value="/inbox"' in page.text


def test_the_pages_show_the_inbox_and_escape_what_residents_write(app: FastAPI, client: TestClient) -> None:
    sign_up(app, "amina")
    say(app, "amina", "CONSEILLER")
    say(app, "amina", "<script>alert('x')</script> <b>bold</b>")
    cid = conversation_id(app.state.db)
    assert web_login(client, LEA).status_code == 303
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and 'http-equiv="refresh"' in inbox.text and "Amina" in inbox.text
    assert "script-src 'none'" in inbox.headers["content-security-policy"]
    assert "<script>alert" not in inbox.text and "&lt;script&gt;alert" in inbox.text  # last-message preview
    page = client.get(f"/conversations/{cid}")
    assert page.status_code == 200 and "Amina" in page.text and "93200" in page.text
    transcript = client.get(f"/conversations/{cid}/transcript")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in transcript.text
    assert "<script>" not in transcript.text and "<b>bold" not in transcript.text

    csrf = csrf_of(page.text)
    claimed = client.post(f"/conversations/{cid}/claim", data={"csrf": csrf}, follow_redirects=False)
    assert claimed.status_code == 303
    client.post(f"/conversations/{cid}/reply", data={"csrf": csrf, "text": "Bonjour, ici Léa"})
    client.post(f"/conversations/{cid}/reply", data={"csrf": csrf, "text": "", "canned": "docs"})
    client.post(f"/conversations/{cid}/note", data={"csrf": csrf, "text": "<i>note</i> privée"})
    sent = [row.body for row in outbox(app.state.db)]
    assert sent[-2:] == [
        "Bonjour, ici Léa",
        "Pour le rendez-vous, apportez une pièce d'identité et votre CV si vous en avez un.",
    ]
    page = client.get(f"/conversations/{cid}")
    assert "&lt;i&gt;note&lt;/i&gt; privée" in page.text and "assigned" in page.text
    transcript = client.get(f"/conversations/{cid}/transcript").text
    assert "Bonjour, ici Léa" in transcript and "pending" in transcript
    too_long = client.post(f"/conversations/{cid}/reply", data={"csrf": csrf, "text": "x" * 4001})
    assert "at most 4000 characters" in too_long.text
    back = client.post(f"/conversations/{cid}/handback", data={"csrf": csrf})
    assert back.status_code == 200 and "Handed back" in back.text
    assert outbox(app.state.db)[-1].body.startswith("Le conseiller a terminé.")


def test_a_reply_to_an_opted_out_resident_says_why(app: FastAPI, client: TestClient) -> None:
    sign_up(app, "amina")
    say(app, "amina", "CONSEILLER")
    say(app, "amina", "STOP")
    cid = conversation_id(app.state.db)
    web_login(client, LEA)
    csrf = csrf_of(client.get(f"/conversations/{cid}").text)
    page = client.post(f"/conversations/{cid}/reply", data={"csrf": csrf, "text": "Bonjour ?"})
    assert "Not sent: This resident has opted out (STOP)" in page.text


def test_the_dashboard_shows_the_figures_against_the_target(app: FastAPI, client: TestClient) -> None:
    sign_up(app, "amina")
    say(app, "amina", "CONSEILLER")
    web_login(client, LEA)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Lasting jobs: 0 / 500" in page.text and "Residents per pathway step" in page.text
    assert "<dt>Waiting</dt><dd>1</dd>" in page.text


def test_trying_the_assistant_stays_out_of_the_inbox(app: FastAPI, client: TestClient) -> None:
    web_login(client, LEA)
    csrf = csrf_of(client.get("/try").text)
    page = client.post("/try", data={"csrf": csrf, "text": "Bonjour", "channel": "sms"})
    assert "1 Français" in page.text  # the language question, numbered like an SMS
    page = client.post("/try", data={"csrf": csrf, "text": "2", "channel": "telegram"})
    assert 'name="choice" value="onboarding.' in page.text  # Telegram-like buttons
    client.post("/try", data={"csrf": csrf, "text": "ADVISOR", "channel": "sms"})
    assert client.get("/inbox").text.count("/conversations/") == 0
    rows = outbox(app.state.db)
    assert rows and {r.channel for r in rows} == {"try"}
    assert client.post("/try", data={"text": "x"}, follow_redirects=False).status_code == 403


def test_alerts_show_in_the_inbox_and_a_claim_is_their_first_action(app: FastAPI, client: TestClient) -> None:
    from bot import pathway_store
    from bot.store.db import transaction
    from bot.store.models import Alert

    sign_up(app, "amina")
    cid = conversation_id(app.state.db)
    now = app.state.clock()
    with transaction(app.state.db) as session:
        pathway_store.raise_alert(session, 1, "talk", "talk:test", now, {"text": "<b>aidez-moi</b>"})
    web_login(client, LEA)
    page = client.get("/alerts")
    assert page.status_code == 200 and f'href="/conversations/{cid}"' in page.text
    assert "&lt;b&gt;aidez-moi&lt;/b&gt;" in page.text and "none yet" in page.text
    conversation = client.get(f"/conversations/{cid}")
    assert "Open alerts" in conversation.text and "talk" in conversation.text
    client.post(f"/conversations/{cid}/claim", data={"csrf": csrf_of(conversation.text)})
    with transaction(app.state.db) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.first_action_at == now
