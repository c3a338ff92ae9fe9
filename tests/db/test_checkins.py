"""Check-ins through the real orchestrator and database: timers, answers, nudges, alerts, bad input."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.appointments import is_quiet
from bot.booking_store import mark_attendance
from bot.orchestrator import Orchestrator
from bot.pathway_store import set_pathway
from bot.store.db import transaction
from bot.store.models import Alert, Booking, CheckIn, Conversation, Outbox, Resident, Timer
from tests.booking_kit import add_slot, last_id, outbox, paris, say, sign_up
from tests.conftest import Clock

pytestmark = pytest.mark.db
JOB = {"contract_type": "CDI", "employer": "Eiffage", "social_clause": True}


def start_job(db: Engine, clock: Clock, resident_id: int = 1, started_on: date | None = None) -> None:
    step: dict[str, Any] = {"step": "job", "started_on": started_on or clock().date(), "details": JOB}
    with transaction(db) as session:
        set_pathway(session, resident_id, [step], clock())


def rows(db: Engine, model: Any) -> list[Any]:
    with transaction(db) as session:
        return list(session.scalars(select(model).order_by(model.id)).all())


def day(clock: Clock, n: int, hour: int = 10, minute: int = 30) -> None:
    """Move the clock to day n of the job (started on 1 December 2026), Paris time."""
    clock.now = paris(2026, 12, 1, hour, minute) + timedelta(days=n)


def test_a_new_job_is_congratulated_then_checked_in_on_weekly(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    mark = last_id(db)
    orchestrator.fire_due_timers()
    [message] = outbox(db, mark)
    assert message.body.startswith("Félicitations pour votre nouvel emploi")
    day(clock, 6)
    assert orchestrator.fire_due_timers() == 0  # nothing before day 7
    day(clock, 7)
    mark = last_id(db)
    assert orchestrator.fire_due_timers() == 1
    [question] = outbox(db, mark)
    assert question.body == "Bonjour, ici Bâtissons ! Comment ça va ?"
    assert [c["label"] for c in question.choices] == [
        "Ça va bien",
        "Quelques difficultés",
        "Je veux parler à mon conseiller",
    ]
    say(orchestrator, "amina", "2")
    say(orchestrator, "amina", "2")  # childcare
    say(orchestrator, "amina", "Ma nounou est malade cette semaine")
    [checkin] = rows(db, CheckIn)
    assert (checkin.answer, checkin.difficulty, checkin.text) == (
        "difficulties",
        "childcare",
        "Ma nounou est malade cette semaine",
    )
    assert checkin.answered_at == clock()
    [alert] = rows(db, Alert)
    assert (alert.reason, alert.priority) == ("difficulties", "medium")
    assert alert.detail["difficulty"] == "childcare" and alert.detail["text"].startswith("Ma nounou")
    pending = [t.kind for t in rows(db, Timer) if t.fired_at is None]
    assert "checkin_nudge" not in pending  # answered: no nudge
    assert pending.count("checkin") == 10


def test_two_unanswered_checkins_after_their_nudges_raise_one_alert(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    sent: list[str] = []
    for n in range(7, 40):
        for hour in (9, 10, 11, 15):
            day(clock, n, hour, 5)
            mark = last_id(db)
            orchestrator.fire_due_timers()
            sent += [o.kind + ":" + o.body[:20] for o in outbox(db, mark)]
    checkins = rows(db, CheckIn)
    assert [c.status for c in checkins] == ["missed"] * 4  # days 7, 14, 21, 28 (then 42)
    assert all(c.nudged_at is not None for c in checkins)
    # Day 7 check-in, its nudge on day 9, missed on day 11; the same for days 14, 21 and 28.
    nudges = [s for s in sent if "Nous n'avons pas" in s]
    assert len(nudges) == 4
    alerts = rows(db, Alert)
    # ...and, 30 days after the last message (the sign-up), the silence itself.
    assert [(a.reason, a.priority) for a in alerts] == [("unanswered", "high"), ("no_contact", "medium")]
    assert alerts[1].created_at == paris(2026, 12, 31, 11, 5)
    # Day 14 (15 Dec) at 10:00, nudged 17 Dec at 10:05, still unanswered 48 h later: the 2nd miss.
    assert alerts[0].created_at == paris(2026, 12, 19, 10, 5)
    assert all(not is_quiet(o.created_at) for o in rows(db, Outbox))


def test_an_answer_to_an_expired_checkin_is_still_recorded_and_thanked(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    for n, hour in [(7, 10), (9, 10), (11, 11)]:
        day(clock, n, hour)
        orchestrator.fire_due_timers()
    assert rows(db, CheckIn)[0].status == "missed"
    day(clock, 12, 14)
    mark = last_id(db)
    say(orchestrator, "amina", "1")
    [checkin] = rows(db, CheckIn)
    assert (checkin.status, checkin.answer, checkin.late) == ("answered", "fine", True)
    assert outbox(db, mark)[0].body.startswith("Tant mieux")


def test_free_text_is_kept_for_the_counsellor(orchestrator: Orchestrator, db: Engine, clock: Clock) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    day(clock, 7)
    orchestrator.fire_due_timers()
    say(orchestrator, "amina", "Pas bien, mon chef me crie dessus tous les jours")
    [checkin] = rows(db, CheckIn)
    assert (checkin.answer, checkin.text) == ("text", "Pas bien, mon chef me crie dessus tous les jours")
    [alert] = rows(db, Alert)
    assert (alert.reason, alert.priority) == ("checkin_text", "low")


def test_talk_to_my_counsellor_is_a_high_alert_and_a_handoff(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    day(clock, 7)
    orchestrator.fire_due_timers()
    say(orchestrator, "amina", "3")
    [alert] = rows(db, Alert)
    assert (alert.reason, alert.priority) == ("talk", "high")
    [conversation] = rows(db, Conversation)
    assert conversation.status == "waiting"
    day(clock, 14)  # a counsellor has the conversation: the next check-in waits its turn, silently
    mark = last_id(db)
    assert orchestrator.fire_due_timers() == 1
    assert outbox(db, mark) == [] and len(rows(db, CheckIn)) == 1
    [conversation] = rows(db, Conversation)
    assert conversation.state["flow"] == "handoff" and conversation.state["step"] == "waiting"


def test_a_checkin_mid_booking_is_answered_then_the_booking_question_comes_back(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    add_slot(db, paris(2026, 12, 10, 10))
    start_job(db, clock)
    day(clock, 7, 10, 0)
    say(orchestrator, "amina", "1")  # menu: book -> which appointment?
    orchestrator.fire_due_timers()  # the check-in arrives in the middle
    mark = last_id(db)
    say(orchestrator, "amina", "1")  # the current step is the check-in's: fine
    replies = outbox(db, mark)
    assert replies[0].body.startswith("Tant mieux")
    assert replies[-1].question == "booking.choose_kind"
    say(orchestrator, "amina", "1")  # and the booking goes on
    assert rows(db, CheckIn)[0].answer == "fine"
    [conversation] = rows(db, Conversation)
    assert conversation.state["step"] == "choose_slot"


def test_an_answer_after_moving_on_is_routed_by_the_current_step(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    day(clock, 7)
    orchestrator.fire_due_timers()
    say(orchestrator, "amina", "MENU")
    say(orchestrator, "amina", "3")  # "Discover trades" now, not "talk to my counsellor"
    [checkin] = rows(db, CheckIn)
    assert checkin.answer is None and rows(db, Alert) == []
    [conversation] = rows(db, Conversation)
    assert conversation.state["flow"] == "discovery"


def test_opted_out_residents_get_no_checkin(orchestrator: Orchestrator, db: Engine, clock: Clock) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    orchestrator.fire_due_timers()
    say(orchestrator, "amina", "STOP")
    day(clock, 7)
    mark = last_id(db)
    orchestrator.fire_due_timers()
    assert outbox(db, mark) == [] and rows(db, CheckIn) == []
    assert [t.outcome for t in rows(db, Timer) if t.kind == "checkin"][0] == "opted_out"


def test_checkins_skip_holidays_and_speak_the_residents_language(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "sam", lang="en")
    start_job(db, clock, started_on=date(2026, 12, 18))  # day 7 is Christmas Day
    orchestrator.fire_due_timers()  # the job's message
    first = min((t for t in rows(db, Timer) if t.kind == "checkin"), key=lambda t: t.due_at)
    assert first.due_at == paris(2026, 12, 26, 9)
    clock.now = paris(2026, 12, 25, 10)
    assert orchestrator.fire_due_timers() == 0
    clock.now = paris(2026, 12, 26, 9, 1)
    mark = last_id(db)
    orchestrator.fire_due_timers()
    assert outbox(db, mark)[0].body == "Hello from Batissons! How is it going?"


def test_thirty_days_without_contact_raise_one_alert(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    training = {"step": "trade_project", "started_on": clock().date(), "details": {"rome_code": "F1703"}}
    with transaction(db) as session:
        set_pathway(session, 1, [training], clock())
    clock.advance(days=29)
    orchestrator.fire_due_timers()
    assert rows(db, Alert) == []
    clock.advance(days=2)
    orchestrator.fire_due_timers()
    [alert] = [a for a in rows(db, Alert) if a.reason == "no_contact"]
    assert alert.priority == "medium"
    clock.advance(days=31)
    orchestrator.fire_due_timers()
    assert len([a for a in rows(db, Alert) if a.reason == "no_contact"]) == 1  # the same silence


def test_a_message_resets_the_thirty_days(orchestrator: Orchestrator, db: Engine, clock: Clock) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    clock.advance(days=20)
    say(orchestrator, "amina", "MENU")
    clock.advance(days=11)
    orchestrator.fire_due_timers()
    assert [a for a in rows(db, Alert) if a.reason == "no_contact"] == []
    assert [t.due_at for t in rows(db, Timer) if t.kind == "no_contact"] == [clock() + timedelta(days=19)]


def test_a_no_show_raises_an_alert_once(orchestrator: Orchestrator, db: Engine, clock: Clock) -> None:
    sign_up(orchestrator, "amina")
    slot = add_slot(db, paris(2026, 12, 2, 10))
    for text in ["1", "1", "1", "1"]:
        say(orchestrator, "amina", text)
    clock.now = paris(2026, 12, 2, 12)
    for _ in range(2):
        with transaction(db) as session:
            booking = session.scalars(select(Booking).where(Booking.slot_id == slot)).one()
            mark_attendance(session, booking, "no_show", clock())
    [alert] = rows(db, Alert)
    assert (alert.reason, alert.priority, alert.detail["kind"]) == ("no_show", "medium", "info_session")


def test_erasure_takes_the_pathway_checkins_and_alerts_too(
    orchestrator: Orchestrator, db: Engine, clock: Clock
) -> None:
    sign_up(orchestrator, "amina")
    start_job(db, clock)
    day(clock, 7)
    orchestrator.fire_due_timers()
    say(orchestrator, "amina", "3")
    say(orchestrator, "amina", "SUPPRIMER")
    say(orchestrator, "amina", "1")
    assert rows(db, Resident) == [] and rows(db, CheckIn) == [] and rows(db, Alert) == []
    assert rows(db, Timer) == []
