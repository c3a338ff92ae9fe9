"""Assembles the FastAPI app: routers, the database, the work loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.routes import health
from bot.assistant import conversation_engine
from bot.orchestrator import Clock, Orchestrator, system_now
from bot.outbox import Dispatcher, Sender
from bot.runner import Runner
from bot.settings import Settings, get_settings
from bot.store.db import engine_for


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_now,
    senders: dict[str, Sender] | None = None,
    run_loop: bool = True,
) -> FastAPI:
    """The whole service as one ASGI app."""
    settings = settings or get_settings()
    db = engine_for(settings.database_url)
    orchestrator = Orchestrator(db, conversation_engine(), clock)
    dispatcher = Dispatcher(db, senders or {}, clock)
    runner = Runner(orchestrator, dispatcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_loop:
            runner.start()
        yield
        await runner.stop()

    app = FastAPI(title="Batissons", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.orchestrator = orchestrator
    app.state.dispatcher = dispatcher
    app.state.runner = runner
    app.include_router(health.router)
    return app
