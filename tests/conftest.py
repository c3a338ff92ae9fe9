"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL via TEST_DATABASE_URL) and a clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bot.assistant import conversation_engine
from bot.engine.engine import Engine as ConversationEngine
from bot.orchestrator import Orchestrator
from bot.store.db import make_engine
from bot.store.migrate import upgrade

PG_URL = os.environ.get("TEST_DATABASE_URL")


class Clock:
    """A clock the test moves by hand; starts on a Tuesday morning in Paris."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of its own for each test."""
    if not PG_URL:
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{_pg(PG_URL)}{sep}options=-csearch_path%3D{schema}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _pg(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def conversation() -> ConversationEngine:
    """The real engine over the real flows and catalogs."""
    return conversation_engine()


@pytest.fixture
def orchestrator(db: Engine, conversation: ConversationEngine, clock: Clock) -> Orchestrator:
    return Orchestrator(db, conversation, clock)


# Figures a test wants in the normal output (e.g. the SMS segment budget), shown after the run.
REPORT = pytest.StashKey[list[str]]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> list[str]:
    """Lines appended here are printed in the terminal summary, without -s."""
    return request.config.stash.setdefault(REPORT, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(REPORT, [])
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.write_line(line)
