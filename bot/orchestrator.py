"""The one path for every event: store it once, run the engine, save state and outbox together."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine as DB
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from bot import booking_store, effects, pathway_store
from bot.appointments import SeatTaken, timer_verdict
from bot.channels.base import InboundMessage
from bot.effects import FACTS, EffectContext
from bot.engine import understand
from bot.engine.engine import Engine
from bot.engine.types import (
    ChannelOptOut,
    CounsellorJoined,
    CounsellorReply,
    EraseResident,
    Event,
    HandBack,
    Message,
    OptIn,
    OptOut,
    Outcome,
    RecordConsent,
    Refused,
    Reply,
    RequestHandoff,
    SaveProfile,
    State,
    TimerFired,
    Unsupported,
)
from bot.flood import NOTICE, FloodGuard
from bot.store.db import is_postgres, transaction
from bot.store.models import (
    Booking,
    ChannelIdentity,
    Consent,
    Conversation,
    Counter,
    Inbound,
    MessageLog,
    Note,
    Outbox,
    Resident,
    Slot,
    Timer,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PROFILE_FIELDS = {"first_name", "postcode", "france_travail", "rsa", "age_band", "heard_from"}
MAX_STORED_BODY = 2000
TIMER_BATCH = 50  # due timers fired per transaction


HANDOFF_PRIORITY = {"resident_asked": 1, "misunderstood": 1, "late_cancellation": 2, "checkin_alert": 2}
WITH_COUNSELLOR = ("waiting", "assigned")


class HandoffError(Exception):
    """A counsellor's action cannot be done; the message says why, in words for the counsellor."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code  # not_found, conflict, opted_out


def pseudonym(address: str) -> str:
    """A stable, non-reversible tag for an address, for logs."""
    return hashlib.sha256(address.encode()).hexdigest()[:10]


def system_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Orchestrator:
    """Receives events from channels, timers and counsellors, and runs them through the engine."""

    def __init__(
        self, db: DB, engine: Engine, clock: Clock = system_now, flood: FloodGuard | None = None
    ) -> None:
        self.db = db
        self.engine = engine
        self.clock = clock
        self.flood = flood or FloodGuard()

    # Receiving ---------------------------------------------------------------------------

    def receive(self, message: InboundMessage) -> int | None:
        """Store an inbound event once; None when the channel already delivered it."""
        row = Inbound(
            channel=message.channel,
            external_id=message.external_id[:64],
            address=message.address[:64],
            kind=message.kind,
            body=message.text.replace("\x00", "")[: MAX_STORED_BODY * 3],  # PostgreSQL text refuses NUL
            choice=message.choice[:80] if message.choice else None,
            lang=message.lang,
            received_at=self.clock(),
        )
        try:
            with transaction(self.db) as session:
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            log.info("duplicate %s event %s ignored", message.channel, message.external_id)
            return None

    def handle(self, message: InboundMessage) -> int | None:
        """Receive an event and process everything pending, in arrival order."""
        inbound_id = self.receive(message)
        self.process_pending()
        return inbound_id

    def unreachable(self, channel: str, address: str) -> None:
        """The channel refused delivery for good (a Telegram block): queue the resident's opt-out.

        The work loop processes it before its next round of sends (Runner.tick), so the
        resident's other queued messages are suppressed, never attempted.
        """
        self.receive(
            InboundMessage(channel, address, f"unreachable-{uuid.uuid4().hex}", "unreachable", kind="opt_out")
        )

    # Processing --------------------------------------------------------------------------

    def process_pending(self, limit: int = 10_000) -> int:
        """Process pending inbound events, oldest first, one transaction each."""
        done = 0
        while done < limit and self.process_next():
            done += 1
        return done

    def process_next(self) -> bool:
        """Process the oldest pending event; False when there is none."""
        try:
            with transaction(self.db) as session:
                row = self._claim(session)
                if row is None:
                    return False
                self._process(session, row)
                return True
        except Exception:
            log.exception("processing an inbound event failed; the resident is told, state kept")
            return self._fail_oldest()

    def _claim(self, session: Session) -> Inbound | None:
        """The oldest pending event whose sender has no older one pending (in work elsewhere)."""
        earlier = aliased(Inbound)
        older = select(earlier.id).where(
            earlier.channel == Inbound.channel,
            earlier.address == Inbound.address,
            earlier.status == "pending",
            earlier.id < Inbound.id,
        )
        query = select(Inbound).where(Inbound.status == "pending", ~older.exists()).order_by(Inbound.id)
        query = query.limit(1)
        if is_postgres(self.db):
            query = query.with_for_update(skip_locked=True)
        return session.scalars(query).first()

    def _fail_oldest(self) -> bool:
        """Mark the event that broke as failed and send an apology, leaving the state as it was."""
        with transaction(self.db) as session:
            row = self._claim(session)
            if row is None:
                return False
            row.status, row.body, row.choice = "failed", None, None
            found = self._find(session, row.channel, row.address)
            state = State.model_validate(found[1].state) if found else State()
            if row.kind != "opt_out" and not state.opted_out:
                text = self.engine.translate(self.engine.flows.text("error"), state.lang)
                resident = found[0] if found else None
                session.add(
                    self._outbox(resident, row.channel, row.address, state, Reply(text, kind="error"))
                )
            row.address = ""
            return True

    def _find(self, session: Session, channel: str, address: str) -> tuple[Resident, Conversation] | None:
        identity = session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.address == address
            )
        ).first()
        if identity is None:
            return None
        query = select(Conversation).where(Conversation.resident_id == identity.resident_id)
        if is_postgres(self.db):
            query = query.with_for_update()
        conversation = session.scalars(query).one()
        resident = session.get(Resident, identity.resident_id)
        assert resident is not None
        return resident, conversation

    def _find_or_create(
        self, session: Session, channel: str, address: str, lang: str | None
    ) -> tuple[Resident, Conversation]:
        found = self._find(session, channel, address)
        if found:
            return found
        state = State(lang=lang, lang_chosen=True) if lang in self.engine.languages else State()
        resident = Resident(created_at=self.clock(), language=state.lang)
        session.add(resident)
        session.flush()
        assert resident.id is not None
        session.add(ChannelIdentity(resident_id=resident.id, channel=channel, address=address))
        conversation = Conversation(
            resident_id=resident.id, state=state.model_dump(), updated_at=self.clock()
        )
        session.add(conversation)
        session.flush()
        log.info("new resident %s on %s (%s)", resident.id, channel, pseudonym(address))
        return resident, conversation

    def _process(self, session: Session, row: Inbound) -> None:
        now = self.clock()
        channel, address = row.channel, row.address
        if row.kind == "opt_out" and self._find(session, channel, address) is None:
            row.status, row.body, row.address = "done", None, ""
            return
        resident, conversation = self._find_or_create(session, channel, address, row.lang)
        state = State.model_validate(conversation.state)
        row.resident_id = resident.id
        held = self.flood.verdict(session, row)
        if held and not self._is_stop(row):
            self._hold(session, row, resident, state, held)
            return
        body = row.body if row.kind == "message" else None
        erased = self._turn(session, resident, conversation, channel, address, _event(row), now, body)
        if erased:
            row.resident_id = None
        elif row.kind != "opt_out":
            resident.last_contact_at = now
        row.status, row.body, row.choice, row.address = "done", None, None, ""

    def _facts(self, ctx: EffectContext) -> Any:
        """What the features' facts factories look up for this turn, one attribute per feature
        (named like the factory, e.g. `booking_facts`), each looked up only when a hook reads it:
        a check-in or a keyword needs no open slots."""
        return LazyFacts({factory.__name__: factory for factory in FACTS}, ctx)

    def _turn(
        self,
        session: Session,
        resident: Resident,
        conversation: Conversation,
        channel: str,
        address: str,
        event: Event,
        now: datetime,
        inbound_body: str | None = None,
        counsellor_id: int | None = None,
    ) -> bool:
        """Run the engine on one event and carry out its intents; True when the resident was erased.

        A seat taken by someone else between the facts and the insert (SeatTaken) undoes the
        turn's writes and replays it on fresh facts, so the resident hears the truth.
        """
        state = State.model_validate(conversation.state)
        effect_ctx = EffectContext(session, resident, conversation, now, channel)
        for attempt in range(3):
            outcome = self.engine.handle(state, event, now, self._facts(effect_ctx))
            try:
                with session.begin_nested():
                    erased = self._apply(
                        session,
                        resident,
                        conversation,
                        channel,
                        address,
                        outcome,
                        now,
                        inbound_body,
                        counsellor_id,
                    )
                break
            except SeatTaken:
                if attempt == 2:
                    raise
                log.info("resident %s: the seat went to someone else; replaying on fresh facts", resident.id)
        if not erased:
            resident.language = outcome.state.lang
            conversation.state = outcome.state.model_dump(mode="json")
            conversation.updated_at = now
        return erased

    def _apply(
        self,
        session: Session,
        resident: Resident,
        conversation: Conversation,
        channel: str,
        address: str,
        outcome: Outcome,
        now: datetime,
        inbound_body: str | None,
        counsellor_id: int | None = None,
    ) -> bool:
        new = outcome.state
        effect_ctx = EffectContext(session, resident, conversation, now, channel)
        if inbound_body and new.consented:
            session.add(
                MessageLog(
                    resident_id=resident.id,
                    direction="in",
                    channel=channel,
                    body=inbound_body[:MAX_STORED_BODY],
                    created_at=now,
                )
            )
        # Erasure goes first, so the confirmation written below is not erased with the rest.
        erased = any(isinstance(i, EraseResident) for i in outcome.intents)
        if erased:
            self._erase(session, resident)
        for intent in outcome.intents:
            if erased and not isinstance(intent, Reply):
                continue
            if isinstance(intent, SaveProfile) and intent.name in PROFILE_FIELDS:
                setattr(resident, intent.name, str(intent.value))
            elif isinstance(intent, RecordConsent):
                session.add(Consent(resident_id=resident.id, given=intent.given, at=now))
                resident.consented_at = now if intent.given else None
            elif isinstance(intent, OptOut):
                resident.opted_out = True
                log.info("resident %s opted out (%s)", resident.id, intent.source)
            elif isinstance(intent, OptIn):
                resident.opted_out = False
            elif isinstance(intent, RequestHandoff):
                self._ask_counsellor(conversation, intent.reason, now)
            elif isinstance(intent, Refused):
                raise HandoffError(
                    "This resident has opted out (STOP): nothing can be sent to them.", intent.reason
                )
            elif not isinstance(intent, Reply) and not effects.apply(effect_ctx, intent):
                raise TypeError(f"no applier registered for {type(intent).__name__}")
            elif isinstance(intent, Reply):
                row = self._outbox(None if erased else resident, channel, address, new, intent)
                session.add(row)
                by_counsellor = intent.kind == "counsellor"
                if (new.consented or by_counsellor) and not erased:
                    session.flush()
                    session.add(
                        MessageLog(
                            resident_id=resident.id,
                            direction="out",
                            channel=channel,
                            body=intent.text,
                            author="counsellor" if by_counsellor else "bot",
                            counsellor_id=counsellor_id if by_counsellor else None,
                            outbox_id=row.id,
                            created_at=now,
                        )
                    )
        session.flush()
        return erased

    # Counsellors (the inbox) ----------------------------------------------------------------

    def _ask_counsellor(self, conversation: Conversation, reason: str, now: datetime) -> None:
        """Put a conversation in the inbox's waiting list (once: a second request changes nothing)."""
        priority = HANDOFF_PRIORITY.get(reason, 1)
        if conversation.status in WITH_COUNSELLOR:
            conversation.priority = max(conversation.priority, priority)
            return
        conversation.status = "waiting"
        conversation.waiting_since = now
        conversation.first_response_at = None
        conversation.assigned_counsellor_id = None
        conversation.priority = priority
        conversation.handoff_reason = reason[:40]

    def counsellor_action(
        self, conversation_id: int, counsellor_id: int, action: str, text: str | None = None
    ) -> Conversation:
        """Claim, reply, hand back or resolve: one transaction, through the engine like any event.

        A reply to an unclaimed conversation claims it; one claimed by a colleague is refused.
        """
        now = self.clock()
        with transaction(self.db) as session:
            query = select(Conversation).where(Conversation.id == conversation_id)
            if is_postgres(self.db):
                query = query.with_for_update()
            conversation = session.scalars(query).first()
            if conversation is None:
                raise HandoffError("No such conversation.", "not_found")
            resident = session.get(Resident, conversation.resident_id)
            identity = session.scalars(
                select(ChannelIdentity)
                .where(ChannelIdentity.resident_id == conversation.resident_id)
                .order_by(ChannelIdentity.id.desc())
            ).first()
            if resident is None or identity is None:
                raise HandoffError("This resident can no longer be reached.", "not_found")
            owner = conversation.assigned_counsellor_id
            taken = conversation.status == "assigned" and owner not in (None, counsellor_id)
            if action in ("claim", "reply") and taken:
                raise HandoffError("Another counsellor has this conversation.")
            event: Event
            if action == "claim":
                event = CounsellorJoined()
            elif action == "reply":
                event = CounsellorReply(text or "")
            elif action in ("handback", "resolve"):
                if conversation.status not in WITH_COUNSELLOR:
                    raise HandoffError("This conversation is not with a counsellor.")
                event = HandBack(announce=action == "handback")
            else:
                raise ValueError(action)
            channel, address = identity.channel, identity.address
            self._turn(session, resident, conversation, channel, address, event, now, None, counsellor_id)
            if action in ("claim", "reply"):
                if conversation.status not in WITH_COUNSELLOR:
                    conversation.waiting_since = now
                    conversation.first_response_at = None
                    conversation.handoff_reason = "counsellor"
                conversation.status = "assigned"
                conversation.assigned_counsellor_id = counsellor_id
                if action == "reply" and conversation.first_response_at is None:
                    conversation.first_response_at = now
            else:
                conversation.status = "bot" if action == "handback" else "resolved"
                conversation.assigned_counsellor_id = None
            session.flush()
            session.expunge(conversation)
            return conversation

    # Timers ------------------------------------------------------------------------------

    def fire_due_timers(self, limit: int = 1000, batch: int = TIMER_BATCH) -> int:
        """Fire every due timer, in batches of one transaction; returns how many were handled.

        Each timer is marked fired in the same transaction as its messages. Batching saves a commit
        per timer (a day's check-ins come due together). If one timer fails, the batch is rolled
        back and timers are fired one at a time until the faulty one is marked failed.
        """
        done = 0
        while done < limit:
            handled = self.fire_timer_batch(min(batch, limit - done))
            if not handled:
                break
            done += handled
        return done

    def fire_timer_batch(self, size: int) -> int:
        """Handle up to `size` of the most overdue timers in one transaction; 0 when none is due."""
        now = self.clock()
        try:
            with transaction(self.db) as session:
                query = (
                    select(Timer)
                    .where(Timer.fired_at.is_(None), Timer.due_at <= now)
                    .order_by(Timer.due_at, Timer.id)
                    .limit(size)
                )
                if is_postgres(self.db):
                    query = query.with_for_update(skip_locked=True)
                timers = list(session.scalars(query).all())
                for timer in timers:
                    self._fire(session, timer, now)
                return len(timers)
        except Exception:
            log.exception("a batch of timers failed; falling back to one at a time")
            return 1 if self.fire_next_timer() else 0

    def fire_next_timer(self) -> bool:
        """Handle the most overdue timer: fire it, drop it, or move it past quiet hours. False when none."""
        now = self.clock()
        try:
            with transaction(self.db) as session:
                timer = self._claim_timer(session, now)
                if timer is None:
                    return False
                self._fire(session, timer, now)
                return True
        except Exception:
            log.exception("firing a timer failed; it is marked failed, not retried in a loop")
            with transaction(self.db) as session:
                timer = self._claim_timer(session, now)
                if timer is None:
                    return False
                timer.fired_at, timer.outcome = now, "failed"
                return True

    def _claim_timer(self, session: Session, now: datetime) -> Timer | None:
        query = (
            select(Timer)
            .where(Timer.fired_at.is_(None), Timer.due_at <= now)
            .order_by(Timer.due_at, Timer.id)
            .limit(1)
        )
        if is_postgres(self.db):
            query = query.with_for_update(skip_locked=True)
        return session.scalars(query).first()

    def _fire(self, session: Session, timer: Timer, now: datetime) -> None:
        """One due timer, marked fired in the same transaction as the messages it causes."""
        silent = effects.TIMER_HANDLERS.get(timer.kind)
        if silent is not None:  # data only, no message (a check-in counted as missed...)
            later = silent(session, timer, now)
            if later is not None:
                timer.due_at = later
            else:
                timer.fired_at, timer.outcome = now, "done"
            return
        resident = session.get(Resident, timer.resident_id)
        if resident is None or resident.opted_out:
            timer.fired_at, timer.outcome = now, "opted_out"
            return
        starts_at, still_booked = None, True
        booking_id = timer.payload.get("booking_id")
        if timer.kind.startswith("reminder") and booking_id is not None:
            booking = session.get(Booking, booking_id)
            slot = session.get(Slot, booking.slot_id) if booking else None
            still_booked = bool(booking and slot and booking.status == "booked" and slot.status == "open")
            starts_at = slot.starts_at if slot else None
        elif timer.payload.get("starts_at"):
            starts_at = datetime.fromisoformat(str(timer.payload["starts_at"]))
        verdict, until = timer_verdict(timer.kind, now, starts_at, still_booked)
        if verdict == "wait" and until is not None:
            timer.due_at = until
            return
        identity = session.scalars(
            select(ChannelIdentity)
            .where(ChannelIdentity.resident_id == resident.id)
            .order_by(ChannelIdentity.id.desc())
        ).first()
        if verdict == "drop" or identity is None:
            timer.fired_at, timer.outcome = now, "dropped"
            return
        query = select(Conversation).where(Conversation.resident_id == resident.id)
        if is_postgres(self.db):
            query = query.with_for_update()
        conversation = session.scalars(query).one()  # the identity is known: one query, not _find's two
        timer.fired_at, timer.outcome = now, "fired"
        session.flush()
        event = TimerFired(timer.kind, dict(timer.payload))
        self._turn(session, resident, conversation, identity.channel, identity.address, event, now)

    def _is_stop(self, row: Inbound) -> bool:
        """STOP is honoured even from a throttled sender."""
        if row.kind != "message" or row.choice:
            return False
        return understand.match_keyword(row.body or "", self.engine.flows.keywords) == "stop"

    def _hold(self, session: Session, row: Inbound, resident: Resident, state: State, held: str) -> None:
        """Keep a flooding sender's message without answering it; the first one held gets a notice."""
        if held == NOTICE and not state.opted_out:
            text = self.engine.translate(self.engine.flows.text("flood_notice"), state.lang)
            session.add(self._outbox(resident, row.channel, row.address, state, Reply(text, kind=NOTICE)))
            log.warning("resident %s writes too fast: notice sent, replies paused", resident.id)
        row.status, row.body, row.choice, row.address = held, None, None, ""

    def _outbox(
        self, resident: Resident | None, channel: str, address: str, state: State, reply: Reply
    ) -> Outbox:
        kind = reply.kind if resident is not None or reply.kind == "error" else "erase_confirm"
        return Outbox(
            resident_id=resident.id if resident else None,
            channel=channel,
            address=address,
            lang=state.lang,
            kind=kind,
            body=reply.text,
            choices=[{"value": c.value, "label": c.label} for c in reply.choices],
            question=reply.question,
            created_at=self.clock(),
            next_attempt_at=self.clock(),
        )

    def _erase(self, session: Session, resident: Resident) -> None:
        """Delete everything personal about a resident; only anonymous counts remain."""
        rid = resident.id
        session.execute(delete(MessageLog).where(MessageLog.resident_id == rid))
        session.execute(delete(Note).where(Note.resident_id == rid))
        session.execute(delete(Consent).where(Consent.resident_id == rid))
        session.execute(delete(Outbox).where(Outbox.resident_id == rid))
        session.execute(delete(Conversation).where(Conversation.resident_id == rid))
        session.execute(delete(ChannelIdentity).where(ChannelIdentity.resident_id == rid))
        session.delete(resident)
        counter = session.get(Counter, "residents_erased") or Counter(name="residents_erased", value=0)
        counter.value += 1
        session.add(counter)
        log.info("resident %s erased on request", rid)


class LazyFacts:
    """Facts factories by name, each called at most once, when first read."""

    def __init__(self, factories: dict[str, Callable[[EffectContext], Any]], ctx: EffectContext) -> None:
        self._factories = factories
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        factories = self.__dict__.get("_factories", {})
        if name not in factories:
            raise AttributeError(name)
        value = factories[name](self._ctx)
        setattr(self, name, value)
        return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


assert booking_store  # imported for its appliers and facts
assert pathway_store  # imported for its appliers and silent timers


def _event(row: Inbound) -> Event:
    """The engine's view of a stored inbound row."""
    if row.kind == "opt_out":
        return ChannelOptOut(reason=row.body or row.channel)
    if row.kind == "unsupported":
        return Unsupported(what=row.body or "")
    return Message(text=row.body or "", choice=row.choice)
