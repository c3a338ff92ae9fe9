"""Property-based checks of the counsellor API from /openapi.json: whatever comes in, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from bot.settings import Settings
from tests.api.inbox_kit import add_account, say, sign_up, token_headers
from tests.conftest import Clock

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402 - after the skip

pytestmark = pytest.mark.db
EXAMPLES = 15  # per operation: bounded, so CI stays quick


@pytest.fixture
def api(db_url: str, db: Engine, clock: Clock) -> Iterator[tuple[Any, dict[str, str]]]:
    app = create_app(
        Settings(database_url=db_url, secret_key="test-secret", _env_file=None), clock, {}, False
    )
    add_account(db, "ada@batissons.fr", admin=True)
    sign_up(app, "amina")
    say(app, "amina", "CONSEILLER")
    with TestClient(app) as client:
        headers = token_headers(client, "ada@batissons.fr")
    yield app, headers
    app.state.db.dispose()


INBOX_TAGS = {"conversations"}  # this operations: strictly no 500


def server_errors(app: Any, headers: dict[str, str], inbox: bool) -> list[str]:
    """Run EXAMPLES generated inputs on each operation (as an admin: all doors open); the 500s."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    failures: list[str] = []
    for operation in operations:
        if bool(set(operation.tags or []) & INBOX_TAGS) != inbox:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: a 500 in production
                failures.append(f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}"[:300])
                return
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        check()
    return sorted(set(failures))


def test_no_input_makes_a_server_error_in_the_inbox_api(api: tuple[Any, dict[str, str]]) -> None:
    assert server_errors(*api, inbox=True) == []


def test_no_input_makes_a_server_error_elsewhere(api: tuple[Any, dict[str, str]]) -> None:
    """Every other operation of the API: no generated input makes a 500."""
    failures = server_errors(*api, inbox=False)
    if failures:
        pytest.fail("server errors found: " + " | ".join(failures[:5]))
