"""The pathway, the database side: steps, check-in timers, the intents' appliers, alerts and figures.

Check-ins reuse the booking reminders' mechanism: each one is a row of the timers table, keyed so
that it is scheduled once (`bot.booking_store.schedule`), fired once by the orchestrator through the
engine (quiet hours, opt-out and language included), and cancelled by marking it fired.
Timers that only change data (a check-in counted as missed, the 30-day silence check) are
"silent": `bot.effects.TIMER_HANDLERS` runs them without a conversation turn.
"""

from __future__ import annotations

import logging
import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.appointments import next_allowed
from bot.booking_store import schedule
from bot.effects import EffectContext, applies, handles_timer
from bot.pathway import (
    PRIORITY_RANK,
    CheckinAnswered,
    CheckinDetail,
    CheckinSent,
    PathwayData,
    checkin_days,
    checkin_due,
    pathway_data,
)
from bot.store.models import Alert, AuditEntry, CheckIn, PathwayStep, Resident, Timer

log = logging.getLogger(__name__)
CHECKIN_KINDS = ("checkin", "checkin_nudge", "checkin_missed")
OPEN_CHECKIN = ("sent", "nudged")


# The pathway --------------------------------------------------------------------------------


def pathway(session: Session, resident_id: int) -> list[PathwayStep]:
    """A resident's steps, in order; the last is the current one."""
    return list(
        session.scalars(
            select(PathwayStep).where(PathwayStep.resident_id == resident_id).order_by(PathwayStep.position)
        ).all()
    )


def set_pathway(
    session: Session,
    resident_id: int,
    steps: list[dict[str, Any]],
    now: datetime,
    counsellor_id: int | None = None,
    data: PathwayData | None = None,
) -> list[PathwayStep]:
    """Replace the pathway with these (validated) steps and bring its timers in line with it.

    A step kept at the same place with the same name and start keeps its row (and its check-ins).
    A new current step sends its message to the resident (a timer due now, so quiet hours and
    opt-out apply) and schedules its check-ins; check-ins of steps no longer current are cancelled.
    """
    data = data or pathway_data()
    before = pathway(session, resident_id)
    old_current = before[-1].id if before else None
    rows: list[PathwayStep] = []
    for position, item in enumerate(steps):
        row = before[position] if position < len(before) else None
        if row is None or row.step != item["step"] or row.started_on != item["started_on"]:
            if row is not None:
                session.delete(row)
            row = PathwayStep(
                resident_id=resident_id,
                position=position,
                step=item["step"],
                started_on=item["started_on"],
                created_at=now,
            )
        row.ended_on = item.get("ended_on")
        row.details = dict(item.get("details") or {})
        row.actions = [dict(a) for a in item.get("actions") or []]
        row.counsellor_id = counsellor_id
        row.updated_at = now
        session.add(row)
        rows.append(row)
    for row in before[len(steps) :]:
        session.delete(row)
    session.flush()
    current = rows[-1] if rows else None
    _sync_timers(session, resident_id, current, now, data)
    if current is not None and current.id != old_current and data.step(current.step).message:
        schedule(
            session, f"step_message:{current.id}", resident_id, "step_message", now, {"step": current.step}
        )
    return rows


def _sync_timers(
    session: Session, resident_id: int, current: PathwayStep | None, now: datetime, data: PathwayData
) -> None:
    """Pending check-ins match the current step; the silence watch runs while the pathway is open."""
    wanted: dict[str, datetime] = {}
    if current is not None:
        definition = data.step(current.step)
        for day in checkin_days(definition, current.started_on, current.ended_on, data.max_days):
            due = checkin_due(current.started_on, day, data.checkin_time)
            if due > now:
                wanted[f"checkin:{current.id}:{day}"] = due
    session.execute(
        update(Timer)
        .where(
            Timer.resident_id == resident_id,
            Timer.kind == "checkin",
            Timer.fired_at.is_(None),
            Timer.key.not_in(list(wanted) or [""]),
        )
        .values(fired_at=now, outcome="cancelled")
    )
    assert current is None or current.id is not None
    for key, due in wanted.items():
        schedule(session, key, resident_id, "checkin", due, {"key": key, "step": current.step})  # type: ignore[union-attr]
    watch = session.scalars(select(Timer).where(Timer.key == f"no_contact:{resident_id}")).first()
    is_open = current is not None and data.step(current.step).open
    if is_open and watch is None:
        schedule(session, f"no_contact:{resident_id}", resident_id, "no_contact", now + data.no_contact, {})
    elif is_open and watch is not None and watch.fired_at is not None:
        watch.fired_at, watch.outcome, watch.due_at = None, None, now + data.no_contact
    elif not is_open and watch is not None and watch.fired_at is None:
        watch.fired_at, watch.outcome = now, "cancelled"


# Alerts -------------------------------------------------------------------------------------


def raise_alert(
    session: Session,
    resident_id: int,
    reason: str,
    key: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    data: PathwayData | None = None,
) -> Alert | None:
    """Put a risk in the counsellor queue once (the key is unique); None when it already was."""
    data = data or pathway_data()
    if session.scalars(select(Alert.id).where(Alert.key == key)).first() is not None:
        return None
    alert = Alert(
        key=key,
        resident_id=resident_id,
        reason=reason,
        priority=data.priority(reason),
        detail=detail or {},
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None
    log.info("alert %s for resident %s (%s)", reason, resident_id, alert.priority)
    return alert


def alerts(session: Session, status: str | None = "open") -> list[Alert]:
    """Alerts by priority, then oldest first."""
    query = select(Alert)
    if status:
        query = query.where(Alert.status == status)
    found = list(session.scalars(query.order_by(Alert.created_at, Alert.id)).all())
    return sorted(found, key=lambda a: PRIORITY_RANK.get(a.priority, 9))


# Check-ins (appliers of the check-in flow's intents) -----------------------------------------


def _checkin(session: Session, key: str) -> CheckIn | None:
    return session.scalars(select(CheckIn).where(CheckIn.key == key)).first()


def _cancel(session: Session, keys: list[str], now: datetime) -> None:
    session.execute(
        update(Timer)
        .where(Timer.key.in_(keys), Timer.fired_at.is_(None))
        .values(fired_at=now, outcome="cancelled")
    )


@applies(CheckinSent)
def _sent(ctx: EffectContext, intent: CheckinSent) -> None:
    """A check-in went out: its row, and its nudge 48 hours later (or, for the nudge, the missed mark)."""
    data = pathway_data()
    session, now = ctx.session, ctx.now
    assert ctx.resident.id is not None
    row = _checkin(session, intent.key)
    if intent.nudge:
        if row is not None and row.status == "sent":
            row.status, row.nudged_at = "nudged", now
            session.add(row)
            schedule(
                session,
                f"checkin_missed:{intent.key}",
                ctx.resident.id,
                "checkin_missed",
                now + data.missed_after,
                {"key": intent.key},
            )
        return
    if row is None:  # the timer fires once, so its nudge's key is new too: no look-up, one flush later
        session.add(CheckIn(key=intent.key, resident_id=ctx.resident.id, step=intent.step, sent_at=now))
        session.add(
            Timer(
                key=f"checkin_nudge:{intent.key}",
                resident_id=ctx.resident.id,
                kind="checkin_nudge",
                due_at=next_allowed(now + data.nudge_after),
                payload={"key": intent.key, "step": intent.step},
            )
        )


@applies(CheckinAnswered)
def _answered(ctx: EffectContext, intent: CheckinAnswered) -> None:
    session, now = ctx.session, ctx.now
    assert ctx.resident.id is not None
    row = _checkin(session, intent.key)
    if row is None:
        return
    if row.answered_at is None:
        row.late = row.status == "missed"
        row.answered_at = now
    row.status, row.answer = "answered", intent.answer
    if intent.text:
        row.text = intent.text[:2000]
    session.add(row)
    _cancel(session, [f"checkin_nudge:{intent.key}", f"checkin_missed:{intent.key}"], now)
    reason = {"talk": "talk", "difficulties": "difficulties", "text": "checkin_text"}.get(intent.answer)
    if reason:
        detail = {"checkin": intent.key, "step": row.step}
        if intent.text:
            detail["text"] = intent.text[:500]
        raise_alert(session, ctx.resident.id, reason, f"{reason}:{intent.key}", now, detail)


@applies(CheckinDetail)
def _detail(ctx: EffectContext, intent: CheckinDetail) -> None:
    session = ctx.session
    row = _checkin(session, intent.key)
    if row is None:
        return
    if intent.difficulty:
        row.difficulty = intent.difficulty
    if intent.text:
        row.text = intent.text[:2000]
    session.add(row)
    alert = session.scalars(select(Alert).where(Alert.key == f"difficulties:{intent.key}")).first()
    if alert is not None:
        detail = dict(alert.detail)
        if intent.difficulty:
            detail["difficulty"] = intent.difficulty
        if intent.text:
            detail["text"] = intent.text[:500]
        alert.detail = detail
        session.add(alert)


# Silent timers ------------------------------------------------------------------------------


@handles_timer("checkin_missed")
def _missed(session: Session, timer: Timer, now: datetime) -> datetime | None:
    """The nudge went unanswered too: the check-in is missed; enough in a row raise an alert."""
    data = pathway_data()
    row = _checkin(session, str(timer.payload.get("key")))
    if row is None or row.status not in OPEN_CHECKIN:
        return None
    row.status = "missed"
    session.add(row)
    session.flush()
    recent = session.scalars(
        select(CheckIn.status)
        .where(CheckIn.resident_id == row.resident_id, CheckIn.sent_at <= row.sent_at)
        .order_by(CheckIn.sent_at.desc(), CheckIn.id.desc())
        .limit(data.missed_in_a_row)
    ).all()
    if len(recent) == data.missed_in_a_row and all(s == "missed" for s in recent):
        already = session.scalars(
            select(Alert.id).where(
                Alert.resident_id == row.resident_id, Alert.reason == "unanswered", Alert.status == "open"
            )
        ).first()
        if already is None:
            detail = {"checkin": row.key, "missed_in_a_row": data.missed_in_a_row}
            raise_alert(session, row.resident_id, "unanswered", f"unanswered:{row.key}", now, detail)
    return None


@handles_timer("no_contact")
def _silence(session: Session, timer: Timer, now: datetime) -> datetime | None:
    """Nothing from the resident for 30 days while the pathway is open: alert once per silence."""
    data = pathway_data()
    resident = session.get(Resident, timer.resident_id)
    steps = pathway(session, timer.resident_id)
    if resident is None or not steps or not data.step(steps[-1].step).open:
        return None
    since = max(
        resident.last_contact_at or resident.created_at,
        _followed_since(steps),
    )
    if now - since < data.no_contact:
        return since + data.no_contact
    detail = {"last_contact_at": resident.last_contact_at.isoformat() if resident.last_contact_at else None}
    mark = resident.last_contact_at.date().isoformat() if resident.last_contact_at else "never"
    raise_alert(
        session, timer.resident_id, "no_contact", f"no_contact:{timer.resident_id}:{mark}", now, detail
    )
    return now + data.no_contact


def _followed_since(steps: list[PathwayStep]) -> datetime:
    """When the pathway started being followed (the first step's creation)."""
    return min(s.created_at for s in steps)


# Reading, for the API -----------------------------------------------------------------------


def checkins(session: Session, resident_id: int) -> list[CheckIn]:
    return list(
        session.scalars(
            select(CheckIn).where(CheckIn.resident_id == resident_id).order_by(CheckIn.sent_at, CheckIn.id)
        ).all()
    )


def stats(session: Session, data: PathwayData | None = None) -> dict[str, Any]:
    """The service's figures: steps, lasting jobs against the target, check-ins, risk, response time."""
    data = data or pathway_data()
    last = (
        select(PathwayStep.resident_id, func.max(PathwayStep.position).label("position"))
        .group_by(PathwayStep.resident_id)
        .subquery()
    )
    per_step = dict.fromkeys(data.steps, 0)
    for step, count in session.execute(
        select(PathwayStep.step, func.count())
        .join(
            last,
            (last.c.resident_id == PathwayStep.resident_id) & (last.c.position == PathwayStep.position),
        )
        .group_by(PathwayStep.step)
    ).all():
        per_step[step] = int(count)
    sent = int(session.scalar(select(func.count()).select_from(CheckIn)) or 0)
    answered = int(
        session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.answered_at.is_not(None))) or 0
    )
    at_risk = int(
        session.scalar(select(func.count(func.distinct(Alert.resident_id))).where(Alert.status == "open"))
        or 0
    )
    # A counsellor's first action on the resident after the alert: recorded on the alert, or the
    # first entry of the inbox's audit log (claim, reply, note, hand back...; a mere view does not count).
    audited = (
        select(func.min(AuditEntry.at))
        .where(
            AuditEntry.resident_id == Alert.resident_id,
            AuditEntry.at >= Alert.created_at,
            AuditEntry.action != "view",
        )
        .scalar_subquery()
    )
    waits = [
        (first - created).total_seconds() / 60
        for created, first in session.execute(
            select(Alert.created_at, func.coalesce(Alert.first_action_at, audited))
        ).all()
        if first is not None
    ]
    return {
        "residents_per_step": per_step,
        "residents_with_pathway": sum(per_step.values()),
        "lasting_jobs": {"count": per_step.get("lasting_job", 0), "target": data.lasting_job_target},
        "checkins": {
            "sent": sent,
            "answered": answered,
            "response_rate": round(answered / sent, 4) if sent else None,
        },
        "residents_at_risk": at_risk,
        "open_alerts": int(session.scalar(select(func.count()).where(Alert.status == "open")) or 0),
        "median_minutes_alert_to_first_action": round(statistics.median(waits), 1) if waits else None,
    }
