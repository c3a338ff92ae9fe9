"""What the counsellors' inbox reads: conversations, transcripts, notes, files, audit, canned replies.

The API (api/routes/conversations.py) and the web pages (api/routes/web.py) both read through here;
every change to a conversation goes through Orchestrator.counsellor_action, the one path for events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.engine.flow import load_yaml
from bot.store.models import (
    Alert,
    AuditEntry,
    Booking,
    ChannelIdentity,
    CheckIn,
    Conversation,
    Counsellor,
    MessageLog,
    Note,
    Outbox,
    PathwayStep,
    Resident,
    ResidentTrade,
    Slot,
)

STATUSES = ("bot", "waiting", "assigned", "resolved")
TRY_CHANNEL = "try"  # counsellors trying the assistant: kept apart from real residents
CANNED_FILE = Path(__file__).resolve().parent.parent / "flows" / "data" / "canned_replies.yaml"
LIST_LIMIT = 200
NOTE_LIMIT = 4000


@dataclass(frozen=True)
class Canned:
    """A reply counsellors send often, by shortcode, with its text in each resident language."""

    shortcode: str
    title: str
    texts: dict[str, str]

    def text(self, lang: str) -> str:
        return self.texts.get(lang) or self.texts["fr"]


@lru_cache(maxsize=1)
def canned_replies() -> tuple[Canned, ...]:
    """The canned replies of flows/data/canned_replies.yaml; each needs fr, en and ar."""
    items = []
    for raw in load_yaml(CANNED_FILE):
        texts = {k: str(v) for k, v in raw["texts"].items()}
        missing = {"fr", "en", "ar"} - set(texts)
        if missing:
            raise ValueError(f"canned reply {raw['shortcode']!r}: no text in {sorted(missing)}")
        items.append(Canned(str(raw["shortcode"]), str(raw.get("title", raw["shortcode"])), texts))
    return tuple(items)


def canned(shortcode: str) -> Canned | None:
    return next((c for c in canned_replies() if c.shortcode == shortcode.strip().lstrip("/")), None)


def clean(text: str) -> str:
    """A counsellor's text as stored and sent: no NUL (PostgreSQL text refuses it), no outer spaces."""
    return text.replace("\x00", "").strip()


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    return int((end - start).total_seconds()) if start and end else None


def _names(session: Session) -> dict[int, str]:
    return {c.id: c.name or c.email for c in session.scalars(select(Counsellor)) if c.id is not None}


def summary(
    session: Session, conversation: Conversation, now: datetime, names: dict[int, str] | None = None
) -> dict[str, Any]:
    """One conversation as the inbox lists it, with its waiting time and first-response timer."""
    names = _names(session) if names is None else names
    resident = session.get(Resident, conversation.resident_id)
    identity = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.resident_id == conversation.resident_id)
        .order_by(ChannelIdentity.id.desc())
    ).first()
    last = session.scalars(
        select(MessageLog)
        .where(MessageLog.resident_id == conversation.resident_id)
        .order_by(MessageLog.id.desc())
        .limit(1)
    ).first()
    waiting = conversation.status in ("waiting", "assigned")
    response_end = conversation.first_response_at or (now if waiting else None)
    owner = conversation.assigned_counsellor_id
    return {
        "id": conversation.id,
        "resident_id": conversation.resident_id,
        "resident_name": (resident.first_name if resident else None) or f"#{conversation.resident_id}",
        "language": resident.language if resident else "fr",
        "opted_out": bool(resident and resident.opted_out),
        "channel": identity.channel if identity else None,
        "status": conversation.status,
        "priority": conversation.priority,
        "handoff_reason": conversation.handoff_reason,
        "assigned_counsellor_id": owner,
        "assigned_counsellor_name": names.get(owner) if owner else None,
        "waiting_since": conversation.waiting_since,
        "waiting_seconds": _seconds(conversation.waiting_since, now) if waiting else None,
        "first_response_at": conversation.first_response_at,
        "first_response_seconds": _seconds(conversation.waiting_since, response_end),
        "updated_at": conversation.updated_at,
        "last_message": last.body[:120] if last else None,
    }


def list_conversations(session: Session, status: str | None, now: datetime) -> list[dict[str, Any]]:
    """Conversations by status (all but 'bot' by default), highest priority and longest wait first."""
    trying = select(ChannelIdentity.resident_id).where(ChannelIdentity.channel == TRY_CHANNEL)
    query = select(Conversation).where(Conversation.resident_id.not_in(trying))  # no demo chats
    if status:
        query = query.where(Conversation.status == status)
    else:
        query = query.where(Conversation.status != "bot")
    query = query.order_by(
        Conversation.priority.desc(), Conversation.waiting_since.asc(), Conversation.updated_at.desc()
    ).limit(LIST_LIMIT)
    names = _names(session)
    return [summary(session, c, now, names) for c in session.scalars(query)]


def transcript(session: Session, conversation: Conversation) -> list[dict[str, Any]]:
    """The messages in order, each outbound one with its delivery status from the outbox."""
    names = _names(session)
    rows = session.scalars(
        select(MessageLog)
        .where(MessageLog.resident_id == conversation.resident_id)
        .order_by(MessageLog.created_at, MessageLog.id)
    ).all()
    ids = [r.outbox_id for r in rows if r.outbox_id]
    statuses: dict[int, Outbox] = {}
    if ids:
        statuses = {o.id: o for o in session.scalars(select(Outbox).where(Outbox.id.in_(ids)))}
    out = []
    for r in rows:
        box = statuses.get(r.outbox_id) if r.outbox_id else None
        out.append(
            {
                "id": r.id,
                "direction": r.direction,
                "author": r.author,
                "counsellor_name": names.get(r.counsellor_id) if r.counsellor_id else None,
                "channel": r.channel,
                "body": r.body,
                "created_at": r.created_at,
                "delivery_status": box.status if box else None,
                "delivery_error": box.last_error if box else None,
            }
        )
    return out


def notes(session: Session, conversation: Conversation) -> list[dict[str, Any]]:
    names = _names(session)
    rows = session.scalars(
        select(Note).where(Note.resident_id == conversation.resident_id).order_by(Note.created_at, Note.id)
    )
    return [
        {
            "id": n.id,
            "body": n.body,
            "counsellor_id": n.counsellor_id,
            "counsellor_name": names.get(n.counsellor_id) if n.counsellor_id else None,
            "created_at": n.created_at,
        }
        for n in rows
    ]


def add_note(
    session: Session, conversation: Conversation, counsellor: Counsellor, text: str, now: datetime
) -> Note:
    """A private note: stored, shown to counsellors, never sent to the resident."""
    body = clean(text)
    note = Note(resident_id=conversation.resident_id, counsellor_id=counsellor.id, body=body, created_at=now)
    session.add(note)
    audit(session, counsellor, "note", conversation.resident_id, now)
    session.flush()
    return note


def resident_file(session: Session, resident_id: int) -> dict[str, Any] | None:
    """Profile, trades of interest and bookings (pathway and check-ins join when they exist)."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        return None
    trades = session.scalars(select(ResidentTrade).where(ResidentTrade.resident_id == resident_id))
    bookings = session.execute(
        select(Booking, Slot)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.resident_id == resident_id)
        .order_by(Slot.starts_at)
    ).all()
    channels = session.scalars(select(ChannelIdentity).where(ChannelIdentity.resident_id == resident_id))
    steps = session.scalars(
        select(PathwayStep).where(PathwayStep.resident_id == resident_id).order_by(PathwayStep.position)
    ).all()
    checkins = session.scalars(
        select(CheckIn).where(CheckIn.resident_id == resident_id).order_by(CheckIn.sent_at.desc()).limit(10)
    ).all()
    alerts = session.scalars(
        select(Alert).where(Alert.resident_id == resident_id, Alert.status == "open").order_by(Alert.id)
    ).all()
    return {
        "id": resident.id,
        "pathway": [
            {"step": p.step, "started_on": p.started_on, "ended_on": p.ended_on, "details": p.details}
            for p in steps
        ],
        "checkins": [
            {"step": c.step, "sent_at": c.sent_at, "status": c.status, "answer": c.answer, "text": c.text}
            for c in checkins
        ],
        "alerts": [{"reason": a.reason, "priority": a.priority, "created_at": a.created_at} for a in alerts],
        "first_name": resident.first_name,
        "language": resident.language,
        "postcode": resident.postcode,
        "france_travail": resident.france_travail,
        "rsa": resident.rsa,
        "age_band": resident.age_band,
        "heard_from": resident.heard_from,
        "consented_at": resident.consented_at,
        "opted_out": resident.opted_out,
        "created_at": resident.created_at,
        "last_contact_at": resident.last_contact_at,
        "channels": [c.channel for c in channels],
        "trades": [{"rome_code": t.rome_code, "label": t.label} for t in trades],
        "bookings": [
            {"id": b.id, "kind": b.kind, "status": b.status, "starts_at": s.starts_at, "place": s.place}
            for b, s in bookings
        ],
    }


def audit(
    session: Session,
    counsellor: Counsellor | None,
    action: str,
    resident_id: int | None,
    now: datetime,
    detail: str | None = None,
) -> None:
    """Log that a counsellor opened or changed a resident's file."""
    session.add(
        AuditEntry(
            counsellor_id=counsellor.id if counsellor else None,
            action=action,
            resident_id=resident_id,
            detail=detail[:200] if detail else None,
            at=now,
        )
    )


def audit_log(session: Session, limit: int = 500) -> list[dict[str, Any]]:
    names = _names(session)
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [
        {
            "id": a.id,
            "counsellor_id": a.counsellor_id,
            "counsellor_name": names.get(a.counsellor_id) if a.counsellor_id else None,
            "action": a.action,
            "resident_id": a.resident_id,
            "detail": a.detail,
            "at": a.at,
        }
        for a in rows
    ]


def inbox_figures(session: Session, now: datetime) -> dict[str, Any]:
    """The inbox's own figures for the dashboard: how many wait, and how fast counsellors answer."""
    rows = list_conversations(session, None, now)
    answered = sorted(r["first_response_seconds"] for r in rows if r["first_response_at"])
    return {
        "waiting": sum(1 for r in rows if r["status"] == "waiting"),
        "assigned": sum(1 for r in rows if r["status"] == "assigned"),
        "resolved": sum(1 for r in rows if r["status"] == "resolved"),
        "longest_wait_seconds": max((r["waiting_seconds"] or 0 for r in rows), default=0),
        "median_first_response_seconds": answered[len(answered) // 2] if answered else None,
    }


def alerts_acted_on(session: Session, resident_id: int, now: datetime) -> None:
    """A counsellor took or answered the conversation: the resident's open alerts got a first action."""
    for alert in session.scalars(
        select(Alert).where(
            Alert.resident_id == resident_id, Alert.status == "open", Alert.first_action_at.is_(None)
        )
    ):
        alert.first_action_at = now


def open_alerts(session: Session) -> list[dict[str, Any]]:
    """Open risk alerts, most urgent first, with the resident's conversation to open."""
    rank = {"high": 0, "medium": 1, "low": 2}
    rows = session.scalars(select(Alert).where(Alert.status == "open").order_by(Alert.created_at)).all()
    out = []
    for a in sorted(rows, key=lambda a: rank.get(a.priority, 3)):
        conversation = session.scalars(
            select(Conversation).where(Conversation.resident_id == a.resident_id)
        ).first()
        resident = session.get(Resident, a.resident_id)
        out.append(
            {
                "id": a.id,
                "reason": a.reason,
                "priority": a.priority,
                "detail": a.detail,
                "created_at": a.created_at,
                "first_action_at": a.first_action_at,
                "resident_id": a.resident_id,
                "resident_name": (resident.first_name if resident else None) or f"#{a.resident_id}",
                "conversation_id": conversation.id if conversation else None,
            }
        )
    return out
