"""Slots and their bookings: what counsellors open for residents to book (bearer token required)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import func, select
from sqlmodel import Session

from api.deps import ClockDep, CurrentCounsellor, DBDep, SessionDep, current_counsellor
from bot.appointments import TZ
from bot.booking_store import HELD, cancel_slot, mark_attendance
from bot.store.db import transaction
from bot.store.models import Booking, Counsellor, Slot

router = APIRouter(prefix="/api", tags=["slots"], dependencies=[Depends(current_counsellor)])
Kind = Literal["info_session", "interview", "job_dating"]
SlotId = Annotated[int, Path(ge=1, le=2**31 - 1)]
BookingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SlotCreate(BaseModel):
    """A slot, or a weekly series of them (same weekday and Paris time, DST included)."""

    kind: Kind
    starts_at: AwareDatetime = Field(description="ISO 8601 with an offset; a naive time is refused")
    duration_minutes: int | None = Field(default=None, gt=0, le=12 * 60)
    ends_at: AwareDatetime | None = Field(default=None, description="instead of duration_minutes")
    capacity: int = Field(ge=1, le=1000, description="seats; an interview has exactly 1")
    place: str = Field(min_length=1, max_length=300, description='an address, "phone" or "video"')
    employers: str | None = Field(default=None, max_length=300, description="job datings: who comes")
    counsellor_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="defaults to the caller")
    repeat_weekly: int | None = Field(default=None, ge=1, le=52, description="how many weeks in all")

    @model_validator(mode="after")
    def _coherent(self) -> SlotCreate:
        if self.ends_at is not None:
            if self.ends_at <= self.starts_at:
                raise ValueError("the slot ends before it starts")
            minutes = int((self.ends_at - self.starts_at).total_seconds() // 60)
            if self.duration_minutes is not None and self.duration_minutes != minutes:
                raise ValueError("ends_at and duration_minutes disagree")
            self.duration_minutes = minutes
        if self.duration_minutes is None:
            raise ValueError("duration_minutes (or ends_at) is required")
        if self.kind == "interview" and self.capacity != 1:
            raise ValueError("an interview has a capacity of 1")
        return self


class SlotUpdate(BaseModel):
    """Fields to change. The time of a slot that already has bookings cannot move: cancel it instead."""

    starts_at: AwareDatetime | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=12 * 60)
    capacity: int | None = Field(default=None, ge=1, le=1000)
    place: str | None = Field(default=None, min_length=1, max_length=300)
    employers: str | None = Field(default=None, max_length=300)


class SlotPublic(BaseModel):
    id: int
    kind: str
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    capacity: int
    seats_left: int
    place: str
    employers: str | None
    counsellor_id: int | None
    series: str | None
    status: str


class BookingPublic(BaseModel):
    id: int
    slot_id: int
    resident_id: int
    kind: str
    status: str
    seat: int | None
    confirmed_at: datetime | None
    created_at: datetime


class Attendance(BaseModel):
    status: Literal["attended", "no_show"]


class CancelResult(BaseModel):
    slot: SlotPublic
    residents_told: int


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"msg": message, "type": "value_error"}])


def _held(session: Session, slot_id: int) -> int:
    query = (
        select(func.count()).select_from(Booking).where(Booking.slot_id == slot_id, Booking.status == HELD)
    )
    return int(session.scalar(query) or 0)


def _public(session: Session, slot: Slot) -> SlotPublic:
    assert slot.id is not None
    return SlotPublic(
        id=slot.id,
        kind=slot.kind,
        starts_at=slot.starts_at.astimezone(UTC),
        ends_at=(slot.starts_at + timedelta(minutes=slot.duration_minutes)).astimezone(UTC),
        duration_minutes=slot.duration_minutes,
        capacity=slot.capacity,
        seats_left=max(0, slot.capacity - _held(session, slot.id)) if slot.status == "open" else 0,
        place=slot.place,
        employers=slot.employers,
        counsellor_id=slot.counsellor_id,
        series=slot.series,
        status=slot.status,
    )


def _booking_public(b: Booking) -> BookingPublic:
    assert b.id is not None
    return BookingPublic(
        id=b.id,
        slot_id=b.slot_id,
        resident_id=b.resident_id,
        kind=b.kind,
        status=b.status,
        seat=b.seat,
        confirmed_at=b.confirmed_at,
        created_at=b.created_at,
    )


def _overlap(
    session: Session, counsellor_id: int | None, start: datetime, minutes: int, skip: int | None = None
) -> Slot | None:
    """An open slot of the same counsellor that overlaps [start, start + minutes)."""
    if counsellor_id is None:
        return None
    end = start + timedelta(minutes=minutes)
    candidates = session.scalars(
        select(Slot).where(
            Slot.counsellor_id == counsellor_id,
            Slot.status == "open",
            Slot.starts_at < end,
            Slot.starts_at > start - timedelta(hours=13),
        )
    ).all()
    for slot in candidates:
        if slot.id != skip and slot.starts_at + timedelta(minutes=slot.duration_minutes) > start:
            return slot
    return None


def weekly(start: datetime, weeks: int) -> list[datetime]:
    """The same weekday and wall-clock time in Paris, week after week, across DST changes."""
    zone = ZoneInfo(TZ)
    local = start.astimezone(zone)
    return [
        datetime.combine(local.date() + timedelta(weeks=i), local.time(), tzinfo=zone).astimezone(
            start.tzinfo
        )
        for i in range(weeks)
    ]


@router.post("/slots", status_code=status.HTTP_201_CREATED, response_model=list[SlotPublic])
def create_slots(body: SlotCreate, db: DBDep, me: CurrentCounsellor, clock: ClockDep) -> list[SlotPublic]:
    """Open a slot, or `repeat_weekly` slots a week apart ("every Tuesday at 10:00 for 8 weeks")."""
    now = clock()
    assert body.duration_minutes is not None
    starts = weekly(body.starts_at, body.repeat_weekly or 1)
    if starts[0] <= now:
        raise _unprocessable("the slot starts in the past")
    series = uuid.uuid4().hex[:12] if len(starts) > 1 else None
    with transaction(db) as session:
        counsellor_id = body.counsellor_id if body.counsellor_id is not None else me.id
        if session.get(Counsellor, counsellor_id) is None:
            raise _unprocessable(f"no counsellor {counsellor_id}")
        created = []
        for start in starts:
            clash = _overlap(session, counsellor_id, start, body.duration_minutes)
            if clash is not None:
                raise _unprocessable(
                    f"overlaps slot {clash.id} of the same counsellor ({clash.starts_at.isoformat()})"
                )
            slot = Slot(
                kind=body.kind,
                starts_at=start,
                duration_minutes=body.duration_minutes,
                capacity=body.capacity,
                place=body.place,
                employers=body.employers,
                counsellor_id=counsellor_id,
                series=series,
                created_at=now,
            )
            session.add(slot)
            session.flush()
            created.append(slot)
        return [_public(session, s) for s in created]


@router.get("/slots", response_model=list[SlotPublic])
def list_slots(
    session: SessionDep,
    clock: ClockDep,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
) -> list[SlotPublic]:
    """Open and full slots (not cancelled ones), soonest first; from now on unless `from` says otherwise."""
    query = select(Slot).where(Slot.status == "open", Slot.starts_at >= (from_ or clock()))
    if to is not None:
        query = query.where(Slot.starts_at < to)
    if kind is not None:
        query = query.where(Slot.kind == kind)
    return [_public(session, s) for s in session.scalars(query.order_by(Slot.starts_at, Slot.id).limit(500))]


def _slot_or_404(session: Session, slot_id: int) -> Slot:
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such slot")
    return slot


@router.get("/slots/{slot_id}", response_model=SlotPublic)
def get_slot(slot_id: SlotId, session: SessionDep) -> SlotPublic:
    return _public(session, _slot_or_404(session, slot_id))


@router.patch("/slots/{slot_id}", response_model=SlotPublic)
def update_slot(slot_id: SlotId, body: SlotUpdate, db: DBDep, clock: ClockDep) -> SlotPublic:
    """Change a slot. Capacity cannot go below the seats held; a booked slot's time cannot move."""
    with transaction(db) as session:
        slot = _slot_or_404(session, slot_id)
        if slot.status != "open":
            raise _unprocessable("the slot is cancelled")
        held = _held(session, slot_id)
        # An explicit null changes nothing, except for employers, which it clears.
        changes = {
            name: value
            for name, value in body.model_dump(exclude_unset=True).items()
            if value is not None or name == "employers"
        }
        if "capacity" in changes:
            if slot.kind == "interview" and changes["capacity"] != 1:
                raise _unprocessable("an interview has a capacity of 1")
            if changes["capacity"] < held:
                raise _unprocessable(f"{held} seats are already booked")
        moving = "starts_at" in changes or "duration_minutes" in changes
        if moving:
            if "starts_at" in changes and held and changes["starts_at"] != slot.starts_at:
                raise _unprocessable("residents have booked this slot: cancel it and open another")
            start = changes.get("starts_at", slot.starts_at)
            if start <= clock():
                raise _unprocessable("the slot starts in the past")
            minutes = changes.get("duration_minutes", slot.duration_minutes)
            clash = _overlap(session, slot.counsellor_id, start, minutes, skip=slot.id)
            if clash is not None:
                raise _unprocessable(f"overlaps slot {clash.id} of the same counsellor")
        for name, value in changes.items():
            setattr(slot, name, value)
        session.add(slot)
        session.flush()
        return _public(session, slot)


@router.delete("/slots/{slot_id}", response_model=CancelResult)
def delete_slot(slot_id: SlotId, db: DBDep, clock: ClockDep) -> CancelResult:
    """Cancel a slot: every booked resident is told, in their language, and offered another date."""
    with transaction(db) as session:
        slot = _slot_or_404(session, slot_id)
        told = cancel_slot(session, slot, clock()) if slot.status == "open" else 0
        session.flush()
        return CancelResult(slot=_public(session, slot), residents_told=told)


@router.get("/slots/{slot_id}/bookings", response_model=list[BookingPublic])
def slot_bookings(slot_id: SlotId, session: SessionDep) -> list[BookingPublic]:
    """Every booking of the slot, whatever its status, in booking order."""
    _slot_or_404(session, slot_id)
    rows = session.scalars(select(Booking).where(Booking.slot_id == slot_id).order_by(Booking.id)).all()
    return [_booking_public(b) for b in rows]


@router.post("/bookings/{booking_id}/attendance", response_model=BookingPublic)
def attendance(booking_id: BookingId, body: Attendance, db: DBDep, clock: ClockDep) -> BookingPublic:
    """Attended or no-show, once the slot has started; a no-show gets a kind offer the next morning."""
    now = clock()
    with transaction(db) as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such booking")
        slot = session.get(Slot, booking.slot_id)
        if booking.status not in (HELD, "attended", "no_show"):
            raise _unprocessable(f"the booking is {booking.status}")
        if slot is None or slot.starts_at > now:
            raise _unprocessable("the appointment has not started yet")
        mark_attendance(session, booking, body.status, now)
        session.flush()
        return _booking_public(booking)
