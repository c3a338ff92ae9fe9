"""The `batissons` command line: chat, serve, db upgrade, flows."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from typing import Annotated

import typer

from bot.settings import get_settings

app = typer.Typer(help="Batissons: the assistant of Bâtissons nos emplois.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
flows_app = typer.Typer(help="Flows: check them and draw them.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(flows_app, name="flows")
telegram_app = typer.Typer(help="Telegram: register the webhook, or long-poll locally.", no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
counsellor_app = typer.Typer(help="Counsellor accounts for the API.", no_args_is_help=True)
app.add_typer(counsellor_app, name="counsellor")
slots_app = typer.Typer(help="Appointment slots.", no_args_is_help=True)
app.add_typer(slots_app, name="slots")
timers_app = typer.Typer(help="Timers (reminders, follow-ups).", no_args_is_help=True)
app.add_typer(timers_app, name="timers")


def _logging() -> None:
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    from bot.store.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is up to date")


@flows_app.command("check")
def flows_check() -> None:
    """Load and validate every flow (routes, hooks, translations)."""
    from bot.assistant import conversation_engine

    engine = conversation_engine()
    typer.echo(f"{len(engine.flows.flows)} flows are valid: {', '.join(sorted(engine.flows.flows))}")


@flows_app.command("graph")
def flows_graph(name: Annotated[str, typer.Argument(help="flow name, e.g. onboarding")]) -> None:
    """Print a flow as a Mermaid graph."""
    from bot.assistant import conversation_engine
    from bot.engine.mermaid import mermaid

    flows = conversation_engine().flows
    if name not in flows.flows:
        typer.echo(f"unknown flow {name!r}; flows: {', '.join(sorted(flows.flows))}", err=True)
        raise typer.Exit(2)
    typer.echo(mermaid(flows, name), nl=False)


@app.command()
def chat(
    as_: Annotated[str, typer.Option("--as", help="the resident's console id")] = "console",
    channel: Annotated[str, typer.Option(help="preview replies as sms, telegram or console")] = "console",
    lang: Annotated[str | None, typer.Option(help="fr, en or ar: skip the language question")] = None,
) -> None:
    """Talk to the assistant as a resident; each line is one message (reads stdin when piped)."""
    from bot.assistant import conversation_engine
    from bot.channels.base import InboundMessage
    from bot.channels.console import ConsoleSender
    from bot.orchestrator import Orchestrator
    from bot.outbox import Dispatcher
    from bot.store.db import engine_for
    from bot.store.migrate import upgrade

    if channel not in ("sms", "telegram", "console"):
        raise typer.BadParameter("--channel is sms, telegram or console")
    if lang is not None and lang not in ("fr", "en", "ar"):
        raise typer.BadParameter("--lang is fr, en or ar")
    settings = get_settings()
    upgrade(settings.database_url)
    db = engine_for(settings.database_url)
    orchestrator = Orchestrator(db, conversation_engine())
    dispatcher = Dispatcher(db, {"console": ConsoleSender(lambda text: typer.echo(f"{text}\n"), channel)})
    dispatcher.recover(sole_sender=True)  # console replies are only ever sent by this process
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo("Write as a resident (Ctrl-D to quit).\n")
    while True:
        if interactive:
            typer.echo("> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        if not interactive:
            typer.echo(f"> {text}")
        orchestrator.fire_due_timers()
        orchestrator.handle(InboundMessage("console", as_, uuid.uuid4().hex, text=text, lang=lang))
        asyncio.run(_drain(dispatcher))


async def _drain(dispatcher: object) -> None:
    """Send everything that is due now."""
    while await dispatcher.dispatch_due():  # type: ignore[attr-defined]
        pass


@telegram_app.command("set-webhook")
def telegram_set_webhook() -> None:
    """Register PUBLIC_BASE_URL/webhooks/telegram with TELEGRAM_WEBHOOK_SECRET."""
    from telegram.error import TelegramError

    from bot.channels import telegram

    settings = get_settings()
    problems = telegram.webhook_problems(settings)
    if problems:
        typer.echo(f"cannot set the Telegram webhook: {'; '.join(problems)}", err=True)
        raise typer.Exit(2)
    channel = telegram.build_telegram(settings)
    assert channel is not None
    try:
        url = asyncio.run(telegram.set_webhook(channel, settings))
    except TelegramError as exc:
        url = telegram.webhook_url(settings)
        hint = "" if url.startswith("https://") else " (without a public https URL, use `telegram poll`)"
        typer.echo(f"Telegram refused the webhook {url}: {exc}{hint}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Telegram now posts updates to {url}")


@telegram_app.command("poll")
def telegram_poll(
    batches: Annotated[int | None, typer.Option(hidden=True, help="stop after N getUpdates")] = None,
    poll_seconds: Annotated[int, typer.Option(hidden=True, help="long-poll wait")] = 25,
) -> None:
    """Long-polling mode for local development, with no public URL (Ctrl-C stops)."""
    from bot.assistant import conversation_engine
    from bot.channels import telegram
    from bot.orchestrator import Orchestrator
    from bot.outbox import Dispatcher
    from bot.store.db import engine_for
    from bot.store.migrate import upgrade

    _logging()
    settings = get_settings()
    channel = telegram.build_telegram(settings)
    if channel is None:
        typer.echo("cannot poll Telegram: TELEGRAM_BOT_TOKEN is unset", err=True)
        raise typer.Exit(2)
    upgrade(settings.database_url)
    db = engine_for(settings.database_url)
    orchestrator = Orchestrator(db, conversation_engine())
    dispatcher = Dispatcher(db, {"telegram": channel.sender}, on_unreachable=orchestrator.unreachable)
    typer.echo("Polling Telegram (the webhook is removed while polling; Ctrl-C stops).")
    try:
        seen = asyncio.run(
            telegram.poll(channel, orchestrator, dispatcher, batches=batches, poll_seconds=poll_seconds)
        )
    except KeyboardInterrupt:
        typer.echo("stopped")
        return
    typer.echo(f"stopped after {seen} update(s)")


@counsellor_app.command("create")
def counsellor_create(
    email: Annotated[str, typer.Argument(help="the login")],
    name: Annotated[str, typer.Option(help="shown to colleagues")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="may manage other accounts")] = False,
) -> None:
    """Create a counsellor account; the password is prompted, or read from stdin when piped."""
    from bot.accounts import AccountError, create_counsellor
    from bot.store.db import engine_for, transaction
    from bot.store.migrate import upgrade

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    settings = get_settings()
    upgrade(settings.database_url)
    try:
        with transaction(engine_for(settings.database_url)) as session:
            counsellor = create_counsellor(session, email, password, name=name, admin=admin)
            typer.echo(f"counsellor {counsellor.id} created: {counsellor.email}{' (admin)' if admin else ''}")
    except AccountError as exc:
        typer.echo(f"cannot create the account: {exc}", err=True)
        raise typer.Exit(2) from exc


@slots_app.command("seed-demo")
def slots_seed_demo(weeks: Annotated[int, typer.Option(help="how many weeks of slots")] = 3) -> None:
    """A demo counsellor and the slots of the coming weeks (does nothing if they exist)."""
    _seed_demo(weeks)


def _seed_demo(weeks: int = 3) -> None:
    from bot.booking_store import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
    from bot.orchestrator import system_now
    from bot.store.db import engine_for, transaction
    from bot.store.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    with transaction(engine_for(settings.database_url)) as session:
        added = seed_demo(session, system_now(), weeks)
    typer.echo(f"demo data: {added} new slots; counsellor login {DEMO_EMAIL} / {DEMO_PASSWORD}")


@timers_app.command("fire")
def timers_fire(
    at: Annotated[
        str | None, typer.Option(help="pretend it is this ISO time (with offset), for demos")
    ] = None,
    channel: Annotated[
        str, typer.Option(help="render console messages as sms, telegram or console")
    ] = "console",
) -> None:
    """Fire the timers due now (or at --at); messages for console residents are printed."""
    from datetime import datetime

    from bot.assistant import conversation_engine
    from bot.channels.console import ConsoleSender
    from bot.orchestrator import Orchestrator, system_now
    from bot.outbox import Dispatcher
    from bot.store.db import engine_for
    from bot.store.migrate import upgrade

    moment = datetime.fromisoformat(at) if at else None
    if moment is not None and moment.tzinfo is None:
        raise typer.BadParameter("--at needs an offset, e.g. 2026-12-07T10:00:00+01:00")
    settings = get_settings()
    upgrade(settings.database_url)
    db = engine_for(settings.database_url)
    clock = (lambda: moment) if moment is not None else system_now
    orchestrator = Orchestrator(db, conversation_engine(), clock)  # type: ignore[arg-type]
    fired = orchestrator.fire_due_timers()
    dispatcher = Dispatcher(
        db,
        {"console": ConsoleSender(lambda text: typer.echo(f"{text}\n"), channel)},
        clock,  # type: ignore[arg-type]
    )
    asyncio.run(_drain(dispatcher))
    typer.echo(f"{fired} timer(s) handled")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="demo data on the default SQLite file")] = False,
) -> None:
    """Run webhooks, counsellor API, dispatcher and scheduler in one process."""
    import uvicorn

    from bot.store.migrate import upgrade

    _logging()
    settings = get_settings()
    upgrade(settings.database_url)
    if demo:
        _seed_demo()
    typer.echo(f"Batissons is listening on http://{host}:{port}  (health: /healthz)")
    typer.echo(f"Counsellors' inbox: http://{host}:{port}/inbox  (also /try and /dashboard)")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, log_level="info")


if __name__ == "__main__":
    app()
