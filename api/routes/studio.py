"""The dashboard of the service's figures, and "try the assistant" (a counsellor chats as a resident).

Tries run through the real orchestrator on their own channel ("try"), so they never mix with
real residents: the inbox leaves them out, and nothing reaches a phone.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from api.web import Csrf, PageCounsellor, render
from bot import inbox, pathway_store
from bot.channels.base import InboundMessage, OutboundMessage
from bot.channels.console import ConsoleSender
from bot.channels.sms import render_sms
from bot.channels.telegram_render import render_telegram
from bot.store.models import Outbox

router = APIRouter(include_in_schema=False)
TRY_LIMIT = 200  # lines kept per try, in memory


def install(app: Any) -> None:
    """Tries are 'sent' nowhere: the outbox marks them sent, the page shows them."""
    app.state.dispatcher.senders.setdefault(inbox.TRY_CHANNEL, ConsoleSender(lambda _text: None))
    app.state.tries = {}


@router.get("/dashboard")
def dashboard(request: Request, counsellor: PageCounsellor) -> Response:
    """The figures of /api/stats, drawn as bars against the 500 lasting jobs target, and the inbox's."""
    with Session(request.app.state.db) as session:
        stats = pathway_store.stats(session)
        figures = inbox.inbox_figures(session, request.app.state.clock())
    steps = stats["residents_per_step"]
    widest = max([1, *steps.values()])
    bars = [(step.replace("_", " "), count, round(100 * count / widest)) for step, count in steps.items()]
    jobs = stats["lasting_jobs"]
    progress = min(100, round(100 * jobs["count"] / jobs["target"], 1)) if jobs["target"] else 0
    return render(
        request, "dashboard.html", counsellor, stats=stats, bars=bars, progress=progress, inbox=figures
    )


def _address(request: Request, counsellor_id: int) -> str:
    address = request.session.get("try_address")
    if not isinstance(address, str):
        address = f"try-{counsellor_id}-{secrets.token_hex(4)}"
        request.session["try_address"] = address
    return address


def _render(row: Outbox, channel: str) -> list[dict[str, Any]]:
    message = OutboundMessage(row.body, list(row.choices), row.question, row.lang)
    if channel == "telegram":
        return [
            {"text": part.text, "buttons": [{"label": label, "data": data} for label, data in part.buttons]}
            for part in render_telegram(message)
        ]
    return [{"text": body, "buttons": []} for body in render_sms(message)]


@router.get("/try")
def try_page(
    request: Request,
    counsellor: PageCounsellor,
    channel: Annotated[str, Query(pattern="^(sms|telegram)$")] = "sms",
) -> Response:
    """Chat with the assistant as a resident would, rendered like an SMS or a Telegram chat."""
    assert counsellor.id is not None
    lines = request.app.state.tries.get(_address(request, counsellor.id), [])
    return render(request, "try.html", counsellor, lines=lines, channel=channel)


@router.post("/try")
def try_send(
    request: Request,
    counsellor: PageCounsellor,
    _csrf: Csrf,
    text: Annotated[str, Form(max_length=2000)] = "",
    choice: Annotated[str, Form(max_length=80)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
    channel: Annotated[str, Form(pattern="^(sms|telegram)$")] = "sms",
) -> Response:
    assert counsellor.id is not None
    address = _address(request, counsellor.id)
    lines: list[dict[str, Any]] = request.app.state.tries.setdefault(address, [])
    db = request.app.state.db
    with Session(db) as session:
        seen = session.scalar(
            select(Outbox.id).where(Outbox.address == address).order_by(Outbox.id.desc()).limit(1)
        )
    if text.strip() or choice:
        lines.append({"who": "me", "parts": [{"text": label or text, "buttons": []}]})
        request.app.state.orchestrator.handle(
            InboundMessage(
                inbox.TRY_CHANNEL, address, uuid.uuid4().hex, text=text or label, choice=choice or None
            )
        )
        with Session(db) as session:
            rows = session.scalars(
                select(Outbox).where(Outbox.address == address, Outbox.id > (seen or 0)).order_by(Outbox.id)
            ).all()
        for row in rows:
            lines.append({"who": "bot", "parts": _render(row, channel)})
        del lines[:-TRY_LIMIT]
    return RedirectResponse(f"/try?channel={channel}#end", status.HTTP_303_SEE_OTHER)


@router.post("/try/reset")
def try_reset(request: Request, counsellor: PageCounsellor, _csrf: Csrf) -> Response:
    """Start again as a new resident."""
    request.app.state.tries.pop(request.session.pop("try_address", None), None)
    return RedirectResponse("/try", status.HTTP_303_SEE_OTHER)
