"""Six months of pathways on a controlled clock: scripted residents, the real orchestrator and flows.

Run from the repository root: `python -m bench.pathway_sim [--residents 1000] [--database-url URL]`.
tests/db/test_pathway_simulation.py runs the same simulation for 40 residents as a test.

Residents (a multiple of 8) are signed up on Monday 4 January 2027 at 08:00 (Paris). Half of them
start a job that day (11 check-ins in 6 months), the other half an 8-week training course, then a
job on its last day (8 + 9 check-ins). Four scripted behaviours, one resident in four each:

- fine: answers "1" two hours after each check-in;
- silent: never answers (every check-in is nudged, then missed; the 30-day silence shows);
- difficult: like fine, but "2" (difficulties) -> transport -> own words at check-in 2, and free
  text at check-in 3;
- late: answers only the nudge, an hour after it; "3" (talk to my advisor) at check-in 2, after
  which a counsellor has the conversation (never handed back here), so no more check-ins go out.

The clock jumps from one due timer or scripted answer to the next. The simulation counts what went
out and what was raised, checks the exact expected numbers, that no check-in went out twice and that
nothing was sent in quiet hours.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time
import uuid
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from bot.appointments import is_quiet
from bot.channels.base import InboundMessage
from bot.engine.engine import Engine as ConversationEngine
from bot.engine.types import State
from bot.orchestrator import Orchestrator
from bot.pathway_store import set_pathway
from bot.store.db import transaction
from bot.store.models import Alert, ChannelIdentity, CheckIn, Conversation, Outbox, Resident, Timer

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 1, 4, 8, 0, tzinfo=PARIS).astimezone(UTC)  # a Monday
DAYS = 182
BEHAVIOURS = ("fine", "silent", "difficult", "late")
LANGS = ("fr", "en", "ar")
JOB = {"contract_type": "CDI", "employer": "Eiffage", "social_clause": True}
TRAINING_WEEKS = 8


class SimClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Resident_:
    id: int
    address: str
    behaviour: str
    kind: str  # "job" or "training"
    checkins: int = 0


@dataclass
class Result:
    counts: dict[str, int]
    duplicates: int
    in_quiet_hours: int
    seconds: float
    turns: int
    alerts_per_resident: dict[str, Tally[tuple[int, str]]] = field(default_factory=dict)


def expected(residents: int) -> dict[str, int]:
    """The exact counts the scripts must produce (residents a multiple of 8)."""
    assert residents % 8 == 0, "residents must be a multiple of 8"
    per = residents // 8  # residents of one behaviour and one pathway kind
    pair = 11 + (8 + 9)  # check-ins of one job resident + one training-then-job resident
    late = 2 * 2  # late residents: check-ins 1 and 2 only; then a counsellor has them (handoff)
    return {
        "checkins": per * (3 * pair + late),
        "nudges": per * (pair + late),  # every check-in of silent residents, both of late ones
        "missed": per * pair,  # silent residents
        "answered": per * (2 * pair + late),
        "held": per * (pair - late),  # late residents' check-ins while a counsellor has them
        "step_messages": residents // 2 + residents,  # job: 1; training then job: 2
        "alerts_unanswered": residents // 4,
        "alerts_no_contact": residents // 2,  # silent residents, and late ones silent since "talk"
        "alerts_difficulties": residents // 4,
        "alerts_checkin_text": residents // 4,
        "alerts_talk": residents // 4,
        "alerts_no_show": 0,
    }


def _setup(db: Engine, residents: int) -> list[Resident_]:
    people: list[Resident_] = []
    with transaction(db) as session:
        for i in range(residents):
            lang = LANGS[i % 3]
            row = Resident(
                created_at=START,
                language=lang,
                first_name=f"R{i}",
                consented_at=START,
                last_contact_at=START,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            address = f"sim-{i}"
            session.add(ChannelIdentity(resident_id=row.id, channel="console", address=address))
            state = State(lang=lang, lang_chosen=True, consented=True, onboarded=True)
            session.add(
                Conversation(resident_id=row.id, state=state.model_dump(mode="json"), updated_at=START)
            )
            kind = "job" if (i // 4) % 2 == 0 else "training"
            set_pathway(session, row.id, _steps(kind, START.date(), joined=False), START)
            people.append(Resident_(row.id, address, BEHAVIOURS[i % 4], kind))
    return people


def _steps(kind: str, start: date, joined: bool) -> list[dict[str, Any]]:
    if kind == "job":
        return [{"step": "job", "started_on": start, "details": JOB}]
    end = start + timedelta(weeks=TRAINING_WEEKS)
    training = {"step": "training", "started_on": start, "ended_on": end, "details": {"course": "TP Maçon"}}
    if not joined:
        return [training]
    return [training, {"step": "job", "started_on": end, "details": JOB}]


def _script(person: Resident_, question: str | None) -> tuple[str, timedelta] | None:
    """What a scripted resident answers to a question, and after how long."""
    b = person.behaviour
    if question == "checkin.ask":
        person.checkins += 1
        if b in ("silent", "late"):
            return None
        if b == "difficult" and person.checkins == 2:
            return "2", timedelta(hours=2)
        if b == "difficult" and person.checkins == 3:
            return "Ça va mieux, merci pour votre aide la semaine dernière", timedelta(hours=2)
        return "1", timedelta(hours=2)
    if question == "checkin.nudge_ask" and b == "late":
        return ("3" if person.checkins == 2 else "1"), timedelta(hours=1)
    if question == "checkin.difficulties":
        return "1", timedelta(minutes=5)  # transport
    if question == "checkin.details":
        return "Le bus ne passe plus le matin", timedelta(minutes=5)
    return None


def simulate(db: Engine, conversation: ConversationEngine, residents: int = 1000, days: int = DAYS) -> Result:
    """Replay `days` days; returns what was counted."""
    began = time.perf_counter()
    people = _setup(db, residents)
    by_id = {p.id: p for p in people}
    clock = SimClock(START)
    orchestrator = Orchestrator(db, conversation, clock)
    end = START + timedelta(days=days)
    job_day = datetime.combine(START.date() + timedelta(weeks=TRAINING_WEEKS), datetime.min.time(), PARIS)
    job_change = job_day.replace(hour=12).astimezone(UTC)  # after that morning's check-in
    changed = False
    answers: list[tuple[datetime, int, str, str]] = []  # (due, seq, address, text)
    seq = itertools.count()
    mark = 0
    turns = 0
    while True:
        with transaction(db) as session:
            next_timer = session.scalar(select(func.min(Timer.due_at)).where(Timer.fired_at.is_(None)))
        candidates = [t for t in (next_timer, answers[0][0] if answers else None) if t is not None]
        if not changed:
            candidates.append(job_change)
        if not candidates or min(candidates) >= end:
            break
        clock.now = max(clock.now, min(candidates))
        if not changed and clock.now >= job_change:
            with transaction(db) as session:
                for p in people:
                    if p.kind == "training":
                        set_pathway(session, p.id, _steps("training", START.date(), joined=True), clock.now)
            changed = True
        turns += orchestrator.fire_due_timers(limit=10**7)
        while answers and answers[0][0] <= clock.now:
            _, _, address, text = heapq.heappop(answers)
            orchestrator.receive(InboundMessage("console", address, uuid.uuid4().hex, text=text))
        turns += orchestrator.process_pending(limit=10**7)
        with transaction(db) as session:
            new = session.execute(
                select(Outbox.id, Outbox.resident_id, Outbox.question)
                .where(Outbox.id > mark)
                .order_by(Outbox.id)
            ).all()
        for outbox_id, resident_id, question in new:
            mark = max(mark, outbox_id)
            person = by_id.get(resident_id) if resident_id is not None else None
            scripted = _script(person, question) if person is not None else None
            if scripted is not None:
                text, delay = scripted
                heapq.heappush(answers, (clock.now + delay, next(seq), person.address, text))  # type: ignore[union-attr]
    return _count(db, time.perf_counter() - began, turns)


def _count(db: Engine, seconds: float, turns: int) -> Result:
    with transaction(db) as session:
        outbox = session.execute(
            select(Outbox.resident_id, Outbox.question, Outbox.kind, Outbox.created_at)
        ).all()
        checkins = session.scalars(select(CheckIn)).all()
        alerts = session.scalars(select(Alert)).all()
        step_messages = session.scalar(
            select(func.count()).where(Timer.kind == "step_message", Timer.outcome == "fired")
        )
        # Fired while a counsellor had the conversation: no question went out, no check-in row.
        asked = select(CheckIn.key)
        held = session.scalar(
            select(func.count()).where(
                Timer.kind == "checkin", Timer.outcome == "fired", Timer.key.not_in(asked)
            )
        )
    questions = Tally(q for _, q, _, _ in outbox)
    counts = {
        "checkins": questions["checkin.ask"],
        "nudges": questions["checkin.nudge_ask"],
        "missed": sum(1 for c in checkins if c.status == "missed"),
        "answered": sum(1 for c in checkins if c.answered_at is not None),
        "held": int(held or 0),
        "step_messages": int(step_messages or 0),
    }
    for reason in ("unanswered", "no_contact", "difficulties", "checkin_text", "talk", "no_show"):
        counts[f"alerts_{reason}"] = sum(1 for a in alerts if a.reason == reason)
    per = Tally((a.resident_id, a.reason) for a in alerts)
    duplicates = (len(checkins) - len({c.key for c in checkins})) + sum(n - 1 for n in per.values() if n > 1)
    duplicates += abs(counts["checkins"] - len(checkins))  # one question per check-in row
    quiet = sum(1 for _, _, _, at in outbox if is_quiet(at))
    return Result(counts, duplicates, quiet, seconds, turns, {"per_resident": per})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    import tempfile

    from bot.assistant import conversation_engine
    from bot.store.db import make_engine
    from bot.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/sim.db"
        upgrade(url)
        db = make_engine(url)
        result = simulate(db, conversation_engine(), args.residents, args.days)
        db.dispose()
    want = expected(args.residents) if args.days == DAYS else None
    print(f"{args.residents} residents, {args.days} days, {result.turns} turns in {result.seconds:.1f} s")
    for name, value in result.counts.items():
        flag = "" if want is None else ("ok" if want[name] == value else f"EXPECTED {want[name]}")
        print(f"  {name:22} {value:7}  {flag}")
    print(f"  duplicates             {result.duplicates:7}")
    print(f"  sent in quiet hours    {result.in_quiet_hours:7}")
    ok = want is None or (result.counts == want and not result.duplicates and not result.in_quiet_hours)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
