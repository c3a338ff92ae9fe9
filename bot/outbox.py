"""The outbox dispatcher: sends stored replies in order per resident, with retries and suppression."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine as DB
from sqlalchemy import Select, func, select
from sqlmodel import Session

from bot.channels.base import OutboundMessage
from bot.orchestrator import Clock, pseudonym, system_now
from bot.store.db import is_postgres, transaction
from bot.store.models import Outbox, Resident

log = logging.getLogger(__name__)
FINAL = ("sent", "delivered", "failed", "suppressed", "undelivered", "read")
LEASE = timedelta(seconds=60)
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row, detached from the database while it is being sent."""

    id: int
    channel: str
    address: str
    kind: str
    attempts: int
    message: OutboundMessage
    parts_sent: int = 0  # parts of a split message already accepted: send only the rest
    attachment: dict[str, str] | None = None  # a file to send with the text (an .ics on Telegram)


@dataclass(frozen=True)
class SendResult:
    """What a channel said about one send."""

    ok: bool
    provider_id: str | None = None
    retry: bool = False
    retry_after: float | None = None
    unreachable: bool = False
    error: str | None = None
    parts_sent: int | None = None  # how many parts are now accepted, when the channel splits


class Sender(Protocol):
    """A channel's way of delivering one outbox item."""

    async def send(self, item: OutboxItem) -> SendResult:
        """Deliver, or say why not."""
        ...


class Dispatcher:
    """Claims due rows, sends them through their channel, and records the result."""

    def __init__(
        self,
        db: DB,
        senders: dict[str, Sender],
        clock: Clock = system_now,
        max_attempts: int = 6,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        on_unreachable: Callable[[str, str], None] | None = None,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.on_unreachable = on_unreachable
        self.concurrency = concurrency

    def recover(self, sole_sender: bool = False) -> int:
        """At start-up, rows of our channels left 'sending' by a killed process are due again.

        Only on SQLite, where one process sends each channel, or when the caller is the only sender
        of its channels (the console). On PostgreSQL other workers may be sending those rows right
        now: there, a dead process's rows come back when their lease ends.
        """
        from sqlalchemy import update

        if is_postgres(self.db) and not sole_sender:
            return 0
        with transaction(self.db) as session:
            result = session.execute(
                update(Outbox)
                .where(Outbox.status == "sending", Outbox.channel.in_(list(self.senders)))
                .values(status="pending", next_attempt_at=self.clock())
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def claim(self, limit: int = 50) -> list[OutboxItem]:
        """Take due rows: only each resident's oldest unsent row, so replies go out in order."""
        now = self.clock()
        items: list[OutboxItem] = []
        with transaction(self.db) as session:
            while len(items) < limit:
                uncovered = False  # a suppressed row lets the same resident's next row through
                for row in session.scalars(self._due_heads(now, limit - len(items))):
                    if self._suppressed(session, row):
                        row.status, uncovered = "suppressed", True
                        continue
                    row.status = "sending"
                    row.next_attempt_at = now + LEASE  # a crash mid-send frees the row after the lease
                    items.append(_item(row))
                if not uncovered:
                    break
                session.flush()
        return items

    def _due_heads(self, now: datetime, limit: int) -> Select[tuple[Outbox]]:
        """Each (channel, address)'s oldest pending or sending row, when it is due."""
        waiting = Outbox.status.in_(("pending", "sending"))
        heads = (
            select(func.min(Outbox.id))
            .where(waiting, Outbox.channel.in_(list(self.senders)))
            .group_by(Outbox.channel, Outbox.address)
        )
        query = (
            select(Outbox)
            .where(Outbox.id.in_(heads), waiting, Outbox.next_attempt_at <= now)
            .order_by(Outbox.id)
            .limit(limit)
        )
        if is_postgres(self.db):
            query = query.with_for_update(skip_locked=True)
        return query

    def _suppressed(self, session: Session, row: Outbox) -> bool:
        """Nothing goes to an opted-out resident, except the confirmation of the opt-out itself."""
        if row.kind in ("opt_out_confirm", "erase_confirm") or row.resident_id is None:
            return False
        resident = session.get(Resident, row.resident_id)
        return resident is None or resident.opted_out

    def record(self, item: OutboxItem, result: SendResult) -> None:
        """Store what happened to one send."""
        now = self.clock()
        with transaction(self.db) as session:
            row = session.get(Outbox, item.id)
            if row is None:
                return
            row.attempts += 1
            if result.parts_sent is not None:
                row.parts_sent = result.parts_sent
            if result.ok:
                row.status, row.provider_id, row.sent_at = "sent", result.provider_id, now
                row.last_error = result.error[:200] if result.error else None  # e.g. "unconfirmed"
                if row.kind == "erase_confirm":
                    row.address, row.body = None, "[erased]"
                return
            row.last_error = (result.error or "")[:200]
            if result.unreachable:
                row.status = "failed"
                log.info("outbox %s: %s unreachable", row.id, pseudonym(item.address))
            elif result.retry and row.attempts < self.max_attempts:
                delay = self.backoff(row.attempts, result.retry_after)
                row.status, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
            else:
                row.status = "failed"
                log.warning("outbox %s failed after %s attempts: %s", row.id, row.attempts, row.last_error)
        if result.unreachable and self.on_unreachable:
            self.on_unreachable(item.channel, item.address)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next try: the provider's retry_after, else doubling, both bounded."""
        if retry_after:
            return min(MAX_RETRY_AFTER, max(0.0, retry_after))
        return min(self.max_delay, self.base_delay * 2 ** (attempts - 1))

    async def dispatch_due(self, limit: int = 50) -> int:
        """Send what is due now, several residents at a time; returns how many sends were attempted."""
        items = await asyncio.to_thread(self.claim, limit)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: OutboxItem) -> None:
            async with gate:
                try:
                    result = await self.senders[item.channel].send(item)
                except Exception as exc:  # a sender bug must not lose the row
                    log.exception("sender for %s raised", item.channel)
                    result = SendResult(ok=False, retry=True, error=repr(exc))
                await asyncio.to_thread(self.record, item, result)

        await asyncio.gather(*(one(item) for item in items))
        return len(items)

    def pending_count(self, before: datetime | None = None) -> int:
        """How many messages wait to be sent (the backlog shown in /healthz)."""
        from sqlalchemy import func

        with transaction(self.db) as session:
            query = select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "sending")))
            if before is not None:
                query = query.where(Outbox.next_attempt_at <= before)
            return int(session.scalar(query) or 0)


def _item(row: Outbox) -> OutboxItem:
    """A claimed row as the senders see it."""
    message = OutboundMessage(row.body, list(row.choices), row.question, row.lang)
    return OutboxItem(
        row.id or 0,
        row.channel,
        row.address or "",
        row.kind,
        row.attempts,
        message,
        row.parts_sent,
        row.attachment,
    )
