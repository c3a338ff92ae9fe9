"""Every table of the service, in one place. All datetimes are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
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
    status: str = Field(default="bot", max_length=16, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


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
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Inbound(SQLModel, table=True):
    """An inbound event, deduplicated by the channel's own id and processed in arrival order."""

    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    address: str = Field(max_length=64)
    kind: str = Field(default="message", max_length=16)  # message, unsupported, opt_out
    body: str | None = None  # cleared once processed
    choice: str | None = Field(default=None, max_length=80)
    lang: str | None = Field(default=None, max_length=5)
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
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Counter(SQLModel, table=True):
    """Anonymous counts that survive erasure (e.g. how many residents asked to be erased)."""

    name: str = Field(primary_key=True, max_length=40)
    value: int = 0
