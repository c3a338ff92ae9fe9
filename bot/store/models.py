"""Every table of the service, in one place. All datetimes are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always reads them back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Resident(SQLModel, table=True):
    """A person the assistant serves; personal fields stay empty until they consent."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    language: str = Field(default="fr", max_length=5)
    first_name: str | None = Field(default=None, max_length=80)
    postcode: str | None = Field(default=None, max_length=5)
    france_travail: str | None = Field(default=None, max_length=10)
    rsa: str | None = Field(default=None, max_length=10)
    age_band: str | None = Field(default=None, max_length=10)
    heard_from: str | None = Field(default=None, max_length=20)
    consented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opted_out: bool = Field(default=False)
    last_contact_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChannelIdentity(SQLModel, table=True):
    """How a resident is reached on one channel: a phone number, a Telegram chat id, a console name."""

    __table_args__ = (UniqueConstraint("channel", "address", name="uq_identity_channel_address"),)
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Conversation(SQLModel, table=True):
    """The engine's state for one resident, saved at every step."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", unique=True, ondelete="CASCADE")
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="bot", max_length=16, index=True)  # bot, waiting, assigned, resolved
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Handoff (issue 7): who has it, since when the resident waits, when a counsellor first answered
    assigned_counsellor_id: int | None = Field(default=None, foreign_key="counsellor.id", ondelete="SET NULL")
    waiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    priority: int = Field(default=0)  # higher first: 0 normal, 1 resident asked, 2 alert
    handoff_reason: str | None = Field(default=None, max_length=40)


class Consent(SQLModel, table=True):
    """A record of a resident agreeing to, or withdrawing from, the storage of their data."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    given: bool
    text_version: str = Field(default="2026-11", max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageLog(SQLModel, table=True):
    """The transcript: what a consenting resident wrote and what they were sent."""

    __tablename__ = "message_log"
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    direction: str = Field(max_length=3)  # "in" or "out"
    channel: str = Field(max_length=16)
    body: str
    author: str = Field(default="resident", max_length=16)  # resident, bot, counsellor
    counsellor_id: int | None = Field(default=None, foreign_key="counsellor.id", ondelete="SET NULL")
    outbox_id: int | None = Field(default=None)  # the outbox row that carried it: its delivery status
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Inbound(SQLModel, table=True):
    """An inbound event, deduplicated by the channel's own id and processed in arrival order."""

    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),
        Index("ix_inbound_resident_received", "resident_id", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    address: str = Field(max_length=64)  # cleared once processed
    # Set once processed (the address is cleared then): the flood guard counts a sender's recent rows.
    resident_id: int | None = Field(default=None, foreign_key="resident.id", ondelete="SET NULL")
    kind: str = Field(default="message", max_length=16)  # message, unsupported, opt_out
    body: str | None = None  # cleared once processed
    choice: str | None = Field(default=None, max_length=80)
    lang: str | None = Field(default=None, max_length=5)
    # pending, done, failed; throttled and flood_notice when the flood guard held the message back
    status: str = Field(default="pending", max_length=12, index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outbox(SQLModel, table=True):
    """A message to send, written with the state that caused it and sent afterwards."""

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int | None = Field(default=None, foreign_key="resident.id", ondelete="SET NULL", index=True)
    channel: str = Field(max_length=16)
    address: str | None = Field(default=None, max_length=64)
    lang: str = Field(default="fr", max_length=5)
    kind: str = Field(default="reply", max_length=24)
    body: str
    choices: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    question: str | None = Field(default=None, max_length=80)
    # A file to send with the text (Telegram: sendDocument), e.g. {"filename", "mime", "content"} of an .ics
    attachment: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    parts_sent: int = 0  # parts of a split message the provider already accepted, never resent
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Counter(SQLModel, table=True):
    """Anonymous counts that survive erasure (e.g. how many residents asked to be erased)."""

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0


class ResidentTrade(SQLModel, table=True):
    """A trade a resident said interests them ("this interests me"), by ROME code, for counsellors."""

    __tablename__ = "resident_trade"
    __table_args__ = (UniqueConstraint("resident_id", "rome_code", name="uq_resident_trade"),)
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    rome_code: str = Field(max_length=5)
    label: str = Field(max_length=120)  # the ROME label at the time, e.g. "Maçonnerie"
    rome_version: str = Field(default="v3", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Booking (issue 5) ---------------------------------------------------------------------------


class Counsellor(SQLModel, table=True):
    """A person of the service who uses the counsellor API; the password is stored as an argon2 hash."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=200, unique=True)
    name: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=300)
    is_admin: bool = False
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Slot(SQLModel, table=True):
    """A time when residents can meet the service: an info session, an interview or a job dating."""

    __table_args__ = (Index("ix_slot_kind_starts", "kind", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # info_session, interview, job_dating
    starts_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int
    capacity: int
    place: str = Field(max_length=300)  # an address in Seine-Saint-Denis, "phone" or "video"
    employers: str | None = Field(default=None, max_length=300)  # job datings: who is coming
    counsellor_id: int | None = Field(default=None, foreign_key="counsellor.id", ondelete="SET NULL")
    series: str | None = Field(default=None, max_length=32)  # slots created together by repeat_weekly
    status: str = Field(default="open", max_length=12)  # open, cancelled
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Booking(SQLModel, table=True):
    """A resident's seat at a slot. A held seat has a number; the unique (slot, seat) pair is the capacity."""

    __table_args__ = (
        UniqueConstraint("slot_id", "seat", name="uq_booking_slot_seat"),
        Index("ix_booking_resident_status", "resident_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="slot.id", index=True, ondelete="CASCADE")
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    seat: int | None = None  # 1..capacity while booked; NULL once the seat is given back
    # booked, cancelled_by_resident, cancelled_by_service, attended, no_show
    status: str = Field(default="booked", max_length=24)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # "1 I'm coming"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Timer(SQLModel, table=True):
    """Something to do for a resident at a time (a reminder...). Fired once: the key is unique."""

    __table_args__ = (Index("ix_timer_due", "fired_at", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)  # e.g. reminder_2h:42
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=24)
    due_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=24)  # fired, dropped, cancelled, opted_out


class WaitlistEntry(SQLModel, table=True):
    """A resident waiting for a seat at a full slot; offered freed seats in order, one offer a day."""

    __tablename__ = "waitlist"
    __table_args__ = (UniqueConstraint("slot_id", "resident_id", name="uq_waitlist_slot_resident"),)
    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="slot.id", index=True, ondelete="CASCADE")
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE")
    status: str = Field(default="waiting", max_length=12)  # waiting, offered, booked, gone
    last_offer_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Counsellor inbox (issue 7) -------------------------------------------------------------------


class Note(SQLModel, table=True):
    """A counsellor's private note on a resident's conversation: never sent to anyone."""

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    counsellor_id: int | None = Field(default=None, foreign_key="counsellor.id", ondelete="SET NULL")
    body: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who opened or changed a resident's file, what and when; kept after erasure (ids only)."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    counsellor_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=40)  # view, reply, note, claim, handback, resolve
    resident_id: int | None = Field(default=None, index=True)
    detail: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Pathway, check-ins and alerts (issue 6) -----------------------------------------------------


class PathwayStep(SQLModel, table=True):
    """One dated step of a resident's pathway (steps are defined in flows/data/pathway.yaml)."""

    __tablename__ = "pathway_step"
    __table_args__ = (Index("ix_pathway_step_resident_position", "resident_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE")
    position: int  # 0, 1, 2... in pathway order; the last one is the current step
    step: str = Field(max_length=32)
    started_on: date
    ended_on: date | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [{"action": "course_found", "status": "done"}, ...]
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    counsellor_id: int | None = Field(default=None, foreign_key="counsellor.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CheckIn(SQLModel, table=True):
    """A check-in sent to a resident, and their answer (kept with its date, even when late)."""

    __tablename__ = "checkin"
    __table_args__ = (Index("ix_checkin_resident_sent", "resident_id", "sent_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)  # the timer's key, e.g. checkin:12:3
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE")
    step: str = Field(max_length=32)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    nudged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="sent", max_length=12)  # sent, nudged, missed, answered
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer: str | None = Field(default=None, max_length=16)  # fine, difficulties, talk, text
    difficulty: str | None = Field(default=None, max_length=24)
    text: str | None = Field(default=None, max_length=2000)  # the resident's own words
    late: bool = False  # answered after it was counted as missed


class Alert(SQLModel, table=True):
    """A risk of a break in a pathway, for the counsellor queue. The key makes it raised once."""

    __table_args__ = (Index("ix_alert_status_priority", "status", "priority"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)  # e.g. unanswered:checkin:12:3, no_show:7
    resident_id: int = Field(foreign_key="resident.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=24)  # talk, difficulties, unanswered, no_contact, no_show, checkin_text
    priority: str = Field(max_length=8)  # high, medium, low
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=12)  # open, closed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    first_action_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # set by the inbox
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
