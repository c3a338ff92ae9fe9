"""Residents' pathways, risk alerts and the service's figures (bearer token required)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from api.deps import ClockDep, CurrentCounsellor, DBDep, SessionDep, current_counsellor
from bot import pathway_store
from bot.pathway import check_pathway, pathway_data
from bot.store.db import transaction
from bot.store.models import (
    Alert,
    Booking,
    CheckIn,
    Conversation,
    PathwayStep,
    Resident,
    ResidentTrade,
    Slot,
)

router = APIRouter(prefix="/api", tags=["residents"], dependencies=[Depends(current_counsellor)])
ResidentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the resident's id")]


class ActionIn(BaseModel):
    """One action of a step and where it stands."""

    action: str = Field(min_length=1, max_length=80)
    status: str = Field(description="todo, in_progress, done or abandoned")


class StepIn(BaseModel):
    """A dated pathway step; `details` depend on the step (see flows/data/pathway.yaml)."""

    step: str = Field(description="first_contact, diagnostic_interview, trade_project, training, ...")
    started_on: date
    ended_on: date | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    actions: list[ActionIn] = Field(default_factory=list)


class PathwayIn(BaseModel):
    """The whole pathway, in order: the last step is the current one."""

    steps: list[StepIn] = Field(max_length=50)


class StepOut(BaseModel):
    id: int
    step: str
    theme: str
    goal: str
    started_on: date
    ended_on: date | None
    details: dict[str, Any]
    actions: list[dict[str, Any]]
    updated_at: datetime


class PathwayOut(BaseModel):
    resident_id: int
    current_step: str | None
    open: bool
    steps: list[StepOut]
    next_checkin_at: datetime | None


class CheckInOut(BaseModel):
    id: int
    step: str
    sent_at: datetime
    nudged_at: datetime | None
    status: str
    answered_at: datetime | None
    answer: str | None
    difficulty: str | None
    text: str | None
    late: bool


class AlertOut(BaseModel):
    id: int
    resident_id: int
    reason: str
    priority: str
    status: str
    detail: dict[str, Any]
    created_at: datetime
    first_action_at: datetime | None
    closed_at: datetime | None


def _resident(session: Session, resident_id: int) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such resident")
    return resident


def _pathway_out(session: Session, resident_id: int) -> PathwayOut:
    data = pathway_data()
    steps = pathway_store.pathway(session, resident_id)
    current = steps[-1] if steps else None
    from bot.store.models import Timer

    next_checkin = session.scalars(
        select(Timer.due_at)
        .where(Timer.resident_id == resident_id, Timer.kind == "checkin", Timer.fired_at.is_(None))
        .order_by(Timer.due_at)
    ).first()
    return PathwayOut(
        resident_id=resident_id,
        current_step=current.step if current else None,
        open=bool(current and data.step(current.step).open),
        steps=[_step_out(s) for s in steps],
        next_checkin_at=next_checkin,
    )


def _step_out(row: PathwayStep) -> StepOut:
    definition = pathway_data().step(row.step)
    assert row.id is not None
    return StepOut(
        id=row.id,
        step=row.step,
        theme=definition.theme,
        goal=definition.goal,
        started_on=row.started_on,
        ended_on=row.ended_on,
        details=row.details,
        actions=row.actions,
        updated_at=row.updated_at,
    )


def _alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert, from_attributes=True)


@router.get("/residents/{resident_id}/pathway")
def get_pathway(resident_id: ResidentId, session: SessionDep) -> PathwayOut:
    """The resident's pathway steps, the current one last."""
    _resident(session, resident_id)
    return _pathway_out(session, resident_id)


@router.put("/residents/{resident_id}/pathway")
def put_pathway(
    resident_id: ResidentId, body: PathwayIn, db: DBDep, clock: ClockDep, me: CurrentCounsellor
) -> PathwayOut:
    """Replace the pathway. Dates out of order, an unknown step or a wrong detail: 422 naming the field.

    A new current step sends its message to the resident and schedules its check-ins.
    """
    steps = [s.model_dump() for s in body.steps]
    errors = check_pathway(steps)
    if errors:
        raise HTTPException(422, errors)
    with transaction(db) as session:
        _resident(session, resident_id)
        pathway_store.set_pathway(session, resident_id, steps, clock(), me.id)
    with Session(db) as session:
        return _pathway_out(session, resident_id)


@router.get("/residents/{resident_id}")
def get_resident(resident_id: ResidentId, session: SessionDep) -> dict[str, Any]:
    """Profile, trades of interest, pathway, bookings, check-ins and open alerts."""
    resident = _resident(session, resident_id)
    conversation = session.scalars(
        select(Conversation).where(Conversation.resident_id == resident_id)
    ).first()
    trades = session.scalars(
        select(ResidentTrade).where(ResidentTrade.resident_id == resident_id).order_by(ResidentTrade.id)
    ).all()
    bookings = session.execute(
        select(Booking, Slot)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.resident_id == resident_id)
        .order_by(Slot.starts_at)
    ).all()
    open_alerts = session.scalars(
        select(Alert).where(Alert.resident_id == resident_id, Alert.status == "open").order_by(Alert.id)
    ).all()
    return {
        "id": resident.id,
        "profile": {
            "first_name": resident.first_name,
            "postcode": resident.postcode,
            "language": resident.language,
            "france_travail": resident.france_travail,
            "rsa": resident.rsa,
            "age_band": resident.age_band,
            "heard_from": resident.heard_from,
            "created_at": resident.created_at,
            "consented_at": resident.consented_at,
            "opted_out": resident.opted_out,
            "last_contact_at": resident.last_contact_at,
            "conversation_status": conversation.status if conversation else None,
        },
        "trades": [
            {"rome_code": t.rome_code, "label": t.label, "rome_version": t.rome_version, "at": t.created_at}
            for t in trades
        ],
        "pathway": _pathway_out(session, resident_id).model_dump(),
        "bookings": [
            {
                "id": b.id,
                "kind": b.kind,
                "status": b.status,
                "starts_at": s.starts_at,
                "place": s.place,
                "slot_id": s.id,
            }
            for b, s in bookings
        ],
        "checkins": [
            CheckInOut.model_validate(c, from_attributes=True).model_dump()
            for c in pathway_store.checkins(session, resident_id)
        ],
        "alerts": [_alert_out(a).model_dump() for a in open_alerts],
    }


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    status_: Literal["open", "closed", "all"] = Query("open", alias="status"),
) -> list[AlertOut]:
    """Risk alerts with their reason and priority, most urgent first."""
    return [_alert_out(a) for a in pathway_store.alerts(session, None if status_ == "all" else status_)]


@router.get("/stats")
def get_stats(session: SessionDep) -> dict[str, Any]:
    """Residents per step, lasting jobs against the target of 500, check-in response rate, residents
    at risk, and the median time from an alert to a counsellor's first action (null until one acts)."""
    return pathway_store.stats(session)


assert CheckIn  # the check-ins' shape is CheckInOut
