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
        orchestrator.handle(InboundMessage("console", as_, uuid.uuid4().hex, text=text, lang=lang))
        asyncio.run(_drain(dispatcher))


async def _drain(dispatcher: object) -> None:
    """Send everything that is due now."""
    while await dispatcher.dispatch_due():  # type: ignore[attr-defined]
        pass


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
    typer.echo(f"Batissons is listening on http://{host}:{port}  (health: /healthz)")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, log_level="info")


if __name__ == "__main__":
    app()
