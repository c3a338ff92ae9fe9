"""The inbox API: conversations by status, transcripts, replies, notes, claim, hand back, resolve, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import Session

from api.deps import ClockDep, CurrentAdmin, CurrentCounsellor, DBDep, SessionDep
from bot import inbox
from bot.orchestrator import HandoffError, Orchestrator
from bot.store.db import transaction
from bot.store.models import Conversation, Counsellor

router = APIRouter(prefix="/api", tags=["conversations"])
Status = Literal["bot", "waiting", "assigned", "resolved"]
ConversationId = Annotated[int, Path(ge=1, le=2_147_483_647, description="a conversation's id")]
MAX_REPLY = 4000  # the outbox splits what a channel cannot carry in one message; never truncated


class ConversationOut(BaseModel):
    id: int
    resident_id: int
    resident_name: str
    language: str
    opted_out: bool
    channel: str | None
    status: str
    priority: int
    handoff_reason: str | None
    assigned_counsellor_id: int | None
    assigned_counsellor_name: str | None
    waiting_since: datetime | None
    waiting_seconds: int | None = Field(description="how long the resident has waited (waiting, assigned)")
    first_response_at: datetime | None
    first_response_seconds: int | None = Field(
        description="the first-response timer: from the request to the first reply (still running if none)"
    )
    updated_at: datetime
    last_message: str | None


class MessageOut(BaseModel):
    id: int
    direction: str
    author: str
    counsellor_name: str | None
    channel: str
    body: str
    created_at: datetime
    delivery_status: str | None = Field(description="outbound: pending, sending, sent, delivered, failed...")
    delivery_error: str | None


class NoteOut(BaseModel):
    id: int
    body: str
    counsellor_id: int | None
    counsellor_name: str | None
    created_at: datetime


class TranscriptOut(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]
    notes: list[NoteOut]


class ReplyIn(BaseModel):
    """A text, or a canned reply's shortcode (sent in the resident's language)."""

    text: str | None = Field(default=None, max_length=MAX_REPLY)
    canned: str | None = Field(default=None, max_length=40, description="shortcode, e.g. hello")

    @model_validator(mode="after")
    def _one(self) -> ReplyIn:
        if not inbox.clean(self.text or "") and not self.canned:
            raise ValueError("write a text, or give a canned reply's shortcode")
        return self


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=inbox.NOTE_LIMIT)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not inbox.clean(value):
            raise ValueError("the note is empty")
        return value


class CannedOut(BaseModel):
    shortcode: str
    title: str
    texts: dict[str, str]


class AuditOut(BaseModel):
    id: int
    counsellor_id: int | None
    counsellor_name: str | None
    action: str
    resident_id: int | None
    detail: str | None
    at: datetime


def _conversation(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conversation")
    return conversation


def act(
    request: Request,
    db: Any,
    counsellor: Counsellor,
    conversation_id: int,
    action: str,
    text: str | None = None,
) -> None:
    """Run a counsellor's action through the orchestrator, then log it; errors become 404/409."""
    orchestrator: Orchestrator = request.app.state.orchestrator
    assert counsellor.id is not None
    try:
        conversation = orchestrator.counsellor_action(conversation_id, counsellor.id, action, text)
    except HandoffError as exc:
        code = status.HTTP_404_NOT_FOUND if exc.code == "not_found" else status.HTTP_409_CONFLICT
        raise HTTPException(code, str(exc)) from exc
    with transaction(db) as session:
        inbox.audit(session, counsellor, action, conversation.resident_id, orchestrator.clock())
        if action in ("claim", "reply"):
            inbox.alerts_acted_on(session, conversation.resident_id, orchestrator.clock())


def reply_text(session: Session, conversation: Conversation, body: ReplyIn) -> str:
    """The text to send: as written, or the canned reply in the resident's language."""
    text = inbox.clean(body.text or "")
    if text and not (text.startswith("/") and inbox.canned(text)):
        return text
    found = inbox.canned(body.canned or text)
    if found is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no canned reply {body.canned!r}")
    summary = inbox.summary(session, conversation, conversation.updated_at)
    return found.text(summary["language"])


@router.get("/conversations", response_model=list[ConversationOut])
def list_conversations(
    session: SessionDep,
    clock: ClockDep,
    counsellor: CurrentCounsellor,
    status_: Annotated[Status | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    """By status; without one, every conversation not with the bot. Highest priority, longest wait first."""
    return inbox.list_conversations(session, status_, clock())


@router.get("/conversations/{conversation_id}/messages", response_model=TranscriptOut)
def messages(
    conversation_id: ConversationId, db: DBDep, clock: ClockDep, counsellor: CurrentCounsellor
) -> dict[str, Any]:
    """The transcript, with the delivery status of each outbound message, and the private notes."""
    with transaction(db) as session:
        conversation = _conversation(session, conversation_id)
        inbox.audit(session, counsellor, "view", conversation.resident_id, clock())
        return {
            "conversation": inbox.summary(session, conversation, clock()),
            "messages": inbox.transcript(session, conversation),
            "notes": inbox.notes(session, conversation),
        }


@router.post("/conversations/{conversation_id}/messages", status_code=201, response_model=TranscriptOut)
def send(
    conversation_id: ConversationId,
    body: ReplyIn,
    request: Request,
    db: DBDep,
    clock: ClockDep,
    counsellor: CurrentCounsellor,
) -> dict[str, Any]:
    """Send to the resident on their channel through the outbox (claims an unclaimed conversation).

    409 when the resident opted out (STOP) or a colleague has the conversation.
    """
    with Session(db) as session:
        text = reply_text(session, _conversation(session, conversation_id), body)
    act(request, db, counsellor, conversation_id, "reply", text)
    return _after(db, conversation_id, clock)


@router.post("/conversations/{conversation_id}/notes", status_code=201, response_model=NoteOut)
def add_note(
    conversation_id: ConversationId, body: NoteIn, db: DBDep, clock: ClockDep, counsellor: CurrentCounsellor
) -> dict[str, Any]:
    """A private note for counsellors: never sent to the resident."""
    with transaction(db) as session:
        conversation = _conversation(session, conversation_id)
        inbox.add_note(session, conversation, counsellor, body.text, clock())
        return inbox.notes(session, conversation)[-1]


def _after(db: Any, conversation_id: ConversationId, clock: Any) -> dict[str, Any]:
    with Session(db) as session:
        conversation = _conversation(session, conversation_id)
        return {
            "conversation": inbox.summary(session, conversation, clock()),
            "messages": inbox.transcript(session, conversation),
            "notes": inbox.notes(session, conversation),
        }


def _transition(action: str):  # noqa: ANN202 - a small route factory
    def route(
        conversation_id: ConversationId,
        request: Request,
        db: DBDep,
        clock: ClockDep,
        counsellor: CurrentCounsellor,
    ) -> dict[str, Any]:
        act(request, db, counsellor, conversation_id, action)
        with Session(db) as session:
            return inbox.summary(session, _conversation(session, conversation_id), clock())

    return route


router.add_api_route(
    "/conversations/{conversation_id}/claim",
    _transition("claim"),
    methods=["POST"],
    response_model=ConversationOut,
    summary="Assign the conversation to the caller; the assistant stops answering",
)
router.add_api_route(
    "/conversations/{conversation_id}/handback",
    _transition("handback"),
    methods=["POST"],
    response_model=ConversationOut,
    summary="Return the resident to the assistant's main menu, with a short message",
)
router.add_api_route(
    "/conversations/{conversation_id}/resolve",
    _transition("resolve"),
    methods=["POST"],
    response_model=ConversationOut,
    summary="Close the handoff quietly; the assistant answers the resident's next message",
)


@router.get("/canned-replies", response_model=list[CannedOut])
def canned_replies(counsellor: CurrentCounsellor) -> list[inbox.Canned]:
    """Replies counsellors send often, by shortcode, in fr, en and ar."""
    return list(inbox.canned_replies())


@router.get("/audit", response_model=list[AuditOut])
def audit_log(session: SessionDep, admin: CurrentAdmin) -> list[dict[str, Any]]:
    """Who opened or changed which resident's file, and when (admins only), newest first."""
    return inbox.audit_log(session)
