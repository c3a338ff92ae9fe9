"""GET /healthz tells an operator what works, without credentials configured."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from bot.settings import Settings


def test_healthz_reports_database_outbox_and_channels_off(db_url: str) -> None:
    app = create_app(Settings(database_url=db_url, _env_file=None), senders={})
    with TestClient(app) as client:
        body = client.get("/healthz").json()
    assert body["database"] == "ok" and body["status"] == "ok"
    assert body["scheduler"] == "running"
    assert body["outbox_backlog"] == 0
    assert body["channels"] == {"sms": "off", "telegram": "off"}


def test_healthz_says_when_the_database_is_unreachable(tmp_path: object) -> None:
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", _env_file=None)
    app = create_app(settings, senders={}, run_loop=False)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("error")
