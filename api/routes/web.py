"""The web inbox: login, the conversation list, a conversation with its resident's file, the audit log.

Server-rendered (Jinja2, autoescaped), plain forms with a CSRF token, no JavaScript at all:
the list and the transcript refresh themselves with <meta http-equiv="refresh">.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.routes.conversations import ConversationId, ReplyIn, act, reply_text
from api.web import Csrf, CsrfChecked, PageAdmin, PageCounsellor, csrf_token, flash, render
from bot import inbox
from bot.accounts import authenticate
from bot.store.db import transaction
from bot.store.models import Conversation

router = APIRouter(include_in_schema=False)
STATUS_TABS = ("waiting", "assigned", "resolved", "bot")


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //other.host, no scheme)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status.HTTP_303_SEE_OTHER)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query's name
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    email: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/inbox",  # noqa: A002
) -> Response:
    now = request.app.state.clock()
    throttle = request.app.state.login_throttle
    keys = [f"ip:{request.client.host if request.client else '?'}", f"email:{email.strip().lower()}"]
    if throttle.blocked(keys, now):
        response = render(request, "login.html", next=_safe_next(next), error="throttled")
        response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        return response
    counsellor_id = None
    if "\x00" not in email + password:  # PostgreSQL text refuses NUL: such a login is simply wrong
        with transaction(request.app.state.db) as session:
            counsellor = authenticate(session, email, password)
            counsellor_id = counsellor.id if counsellor else None
    if counsellor_id is None:
        throttle.failed(keys, now)
        response = render(request, "login.html", next=_safe_next(next), error="wrong")
        response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    throttle.succeeded(keys)
    request.session.clear()  # a fresh session (and CSRF token) at each login
    request.session["counsellor_id"] = counsellor_id
    csrf_token(request)
    return _see(_safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    request.session.clear()
    return _see("/login")


@router.get("/")
def home(counsellor: PageCounsellor) -> Response:
    return _see("/inbox")


@router.get("/inbox")
def inbox_page(
    request: Request,
    counsellor: PageCounsellor,
    status_: Annotated[str, Query(alias="status", pattern="^(bot|waiting|assigned|resolved|open)$")] = "open",
) -> Response:
    """Waiting and assigned conversations first (status=open), or one status; refreshes itself."""
    now = request.app.state.clock()
    with Session(request.app.state.db) as session:
        if status_ == "open":
            rows = inbox.list_conversations(session, "waiting", now)
            rows += inbox.list_conversations(session, "assigned", now)
        else:
            rows = inbox.list_conversations(session, status_, now)
    return render(request, "inbox.html", counsellor, rows=rows, current=status_, tabs=STATUS_TABS)


def _load(session: Session, conversation_id: ConversationId) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conversation")
    return conversation


@router.get("/conversations/{conversation_id}")
def conversation_page(
    request: Request, conversation_id: ConversationId, counsellor: PageCounsellor
) -> Response:
    """The transcript (refreshing in a frame), reply box, canned replies, notes, the resident's file."""
    now = request.app.state.clock()
    with transaction(request.app.state.db) as session:
        conversation = _load(session, conversation_id)
        summary = inbox.summary(session, conversation, now)
        file = inbox.resident_file(session, conversation.resident_id)
        notes = inbox.notes(session, conversation)
        inbox.audit(session, counsellor, "view", conversation.resident_id, now)
    canned = [(c.shortcode, c.title, c.text(summary["language"])) for c in inbox.canned_replies()]
    return render(request, "conversation.html", counsellor, c=summary, file=file, notes=notes, canned=canned)


@router.get("/conversations/{conversation_id}/transcript")
def transcript_frame(
    request: Request, conversation_id: ConversationId, counsellor: PageCounsellor
) -> Response:
    """The messages alone, for the conversation page's frame; reloads every few seconds."""
    with Session(request.app.state.db) as session:
        conversation = _load(session, conversation_id)
        messages = inbox.transcript(session, conversation)
    return render(request, "transcript.html", counsellor, messages=messages, conversation_id=conversation_id)


@router.get("/residents/{resident_id}")
def resident_page(request: Request, resident_id: ConversationId, counsellor: PageCounsellor) -> Response:
    """The resident's file alone: profile, trades of interest, bookings."""
    now = request.app.state.clock()
    with transaction(request.app.state.db) as session:
        file = inbox.resident_file(session, resident_id)
        if file is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such resident")
        inbox.audit(session, counsellor, "view", resident_id, now)
    return render(request, "resident.html", counsellor, file=file)


@router.post("/conversations/{conversation_id}/reply")
def reply(
    request: Request,
    conversation_id: ConversationId,
    counsellor: PageCounsellor,
    _csrf: Csrf,
    text: Annotated[str, Form(max_length=20000)] = "",
    canned: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    back = _see(f"/conversations/{conversation_id}")
    if len(text) > 4000:
        flash(request, "Not sent: a reply has at most 4000 characters. Shorten it or send it in two parts.")
        return back
    try:
        body = ReplyIn(text=text or None, canned=canned or None)
    except ValueError:
        flash(request, "Not sent: write a text or pick a canned reply.")
        return back
    db = request.app.state.db
    try:
        with Session(db) as session:
            message = reply_text(session, _load(session, conversation_id), body)
        act(request, db, counsellor, conversation_id, "reply", message)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_404_NOT_FOUND:
            raise
        flash(request, f"Not sent: {exc.detail}")
        return back
    flash(request, "Sent.")
    return back


@router.post("/conversations/{conversation_id}/note")
def note(
    request: Request,
    conversation_id: ConversationId,
    counsellor: PageCounsellor,
    _csrf: Csrf,
    text: Annotated[str, Form(max_length=inbox.NOTE_LIMIT)] = "",
) -> Response:
    if inbox.clean(text):
        with transaction(request.app.state.db) as session:
            inbox.add_note(
                session, _load(session, conversation_id), counsellor, text.strip(), request.app.state.clock()
            )
        flash(request, "Note saved (never sent to the resident).")
    return _see(f"/conversations/{conversation_id}")


def _transition(action: str, done: str):  # noqa: ANN202 - a small route factory
    def route(
        request: Request, conversation_id: ConversationId, counsellor: PageCounsellor, _csrf: Csrf
    ) -> Response:
        try:
            act(request, request.app.state.db, counsellor, conversation_id, action)
        except HTTPException as exc:
            if exc.status_code == status.HTTP_404_NOT_FOUND:
                raise
            flash(request, f"Not done: {exc.detail}")
            return _see(f"/conversations/{conversation_id}")
        flash(request, done)
        return _see(f"/conversations/{conversation_id}" if action == "claim" else "/inbox")

    return route


for _action, _done in (
    ("claim", "You have this conversation: the assistant is silent until you hand back."),
    ("handback", "Handed back: the resident got the main menu."),
    ("resolve", "Resolved."),
):
    router.add_api_route(
        f"/conversations/{{conversation_id}}/{_action}",
        _transition(_action, _done),
        methods=["POST"],
    )


@router.get("/admin/audit")
def audit_page(request: Request, admin: PageAdmin) -> Response:
    """Who opened or changed which resident's file (admins only)."""
    with Session(request.app.state.db) as session:
        rows = inbox.audit_log(session)
    return render(request, "audit.html", admin, rows=rows)


@router.get("/alerts")
def alerts_page(request: Request, counsellor: PageCounsellor) -> Response:
    """Open risk alerts from check-ins, most urgent first (refreshes itself)."""
    with Session(request.app.state.db) as session:
        rows = inbox.open_alerts(session)
    return render(request, "alerts.html", counsellor, rows=rows)
