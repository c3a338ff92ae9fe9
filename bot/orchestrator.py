"""The one path for every event: store it once, run the engine, save state and outbox together."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine as DB
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.channels.base import InboundMessage
from bot.engine.engine import Engine
from bot.engine.types import (
    ChannelOptOut,
    EraseResident,
    Event,
    Message,
    OptIn,
    OptOut,
    RecordConsent,
    Reply,
    RequestHandoff,
    SaveProfile,
    State,
    Unsupported,
)
from bot.store.db import is_postgres, transaction
from bot.store.models import (
    ChannelIdentity,
    Consent,
    Conversation,
    Counter,
    Inbound,
    MessageLog,
    Outbox,
    Resident,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PROFILE_FIELDS = {"first_name", "postcode", "france_travail", "rsa", "age_band", "heard_from"}
MAX_STORED_BODY = 2000


def pseudonym(address: str) -> str:
    """A stable, non-reversible tag for an address, for logs."""
    return hashlib.sha256(address.encode()).hexdigest()[:10]


def system_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Orchestrator:
    """Receives events from channels, timers and counsellors, and runs them through the engine."""

    def __init__(self, db: DB, engine: Engine, clock: Clock = system_now) -> None:
        self.db = db
        self.engine = engine
        self.clock = clock

    # Receiving ---------------------------------------------------------------------------

    def receive(self, message: InboundMessage) -> int | None:
        """Store an inbound event once; None when the channel already delivered it."""
        row = Inbound(
            channel=message.channel,
            external_id=message.external_id[:64],
            address=message.address[:64],
            kind=message.kind,
            body=message.text[: MAX_STORED_BODY * 3],
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
        query = select(Inbound).where(Inbound.status == "pending").order_by(Inbound.id).limit(1)
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
        outcome = self.engine.handle(state, _event(row), now)
        new = outcome.state
        if row.kind == "message" and new.consented and row.body:
            session.add(
                MessageLog(
                    resident_id=resident.id,
                    direction="in",
                    channel=channel,
                    body=row.body[:MAX_STORED_BODY],
                    created_at=now,
                )
            )
        erased = False
        for intent in outcome.intents:
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
                conversation.status = "waiting"
            elif isinstance(intent, EraseResident):
                self._erase(session, resident)
                erased = True
            elif isinstance(intent, Reply):
                session.add(self._outbox(None if erased else resident, channel, address, new, intent))
                if new.consented and not erased:
                    session.add(
                        MessageLog(
                            resident_id=resident.id,
                            direction="out",
                            channel=channel,
                            body=intent.text,
                            author="bot",
                            created_at=now,
                        )
                    )
        if not erased:
            resident.language = new.lang
            resident.last_contact_at = now if row.kind != "opt_out" else resident.last_contact_at
            conversation.state = new.model_dump(mode="json")
            conversation.updated_at = now
        row.status, row.body, row.choice, row.address = "done", None, None, ""

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
        session.execute(delete(Consent).where(Consent.resident_id == rid))
        session.execute(delete(Outbox).where(Outbox.resident_id == rid))
        session.execute(delete(Conversation).where(Conversation.resident_id == rid))
        session.execute(delete(ChannelIdentity).where(ChannelIdentity.resident_id == rid))
        session.delete(resident)
        counter = session.get(Counter, "residents_erased") or Counter(name="residents_erased", value=0)
        counter.value += 1
        session.add(counter)
        log.info("resident %s erased on request", rid)


def _event(row: Inbound) -> Event:
    """The engine's view of a stored inbound row."""
    if row.kind == "opt_out":
        return ChannelOptOut(reason=row.body or row.channel)
    if row.kind == "unsupported":
        return Unsupported(what=row.body or "")
    return Message(text=row.body or "", choice=row.choice)
