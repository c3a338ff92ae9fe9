"""Assembles the FastAPI app: routers, the database, the work loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import web
from api.routes import auth, conversations, health, residents, slots, studio
from api.routes import web as web_pages
from bot.assistant import conversation_engine
from bot.channels import telegram, twilio_sms
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
    tg = telegram.build_telegram(settings)
    if senders is None:
        senders = {}
        if tg is not None:
            senders["telegram"] = tg.sender
        sms = twilio_sms.build_twilio_sender(settings)
        if sms is not None:
            senders["sms"] = sms
    dispatcher = Dispatcher(db, senders, clock, on_unreachable=orchestrator.unreachable)
    runner = Runner(orchestrator, dispatcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tg is not None:
            await tg.start()
        if run_loop:
            runner.start()
        yield
        await runner.stop()
        if tg is not None:
            await tg.stop()

    app = FastAPI(title="Batissons", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.orchestrator = orchestrator
    app.state.dispatcher = dispatcher
    app.state.runner = runner
    app.state.telegram = tg
    app.state.clock = clock
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(slots.router)
    app.include_router(residents.router)
    app.include_router(telegram.router)
    app.include_router(twilio_sms.router)
    app.include_router(conversations.router)
    web.install(app, settings)
    app.include_router(web_pages.router)
    studio.install(app)
    app.include_router(studio.router)
    return app
