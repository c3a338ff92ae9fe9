"""The outbox dispatcher: sends stored replies in order per resident, with retries and suppression."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine as DB
from sqlalchemy import select

from bot.channels.base import OutboundMessage
from bot.orchestrator import Clock, pseudonym, system_now
from bot.store.db import is_postgres, transaction
from bot.store.models import Outbox, Resident

log = logging.getLogger(__name__)
FINAL = ("sent", "delivered", "failed", "suppressed", "undelivered", "read")
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row, detached from the database while it is being sent."""

    id: int
    channel: str
    address: str
    kind: str
    attempts: int
    message: OutboundMessage


@dataclass(frozen=True)
class SendResult:
    """What a channel said about one send."""

    ok: bool
    provider_id: str | None = None
    retry: bool = False
    retry_after: float | None = None
    unreachable: bool = False
    error: str | None = None


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
    ) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.on_unreachable = on_unreachable

    def claim(self, limit: int = 50) -> list[OutboxItem]:
        """Take the due rows, at most one per resident and never ahead of an earlier unsent row."""
        now = self.clock()
        items: list[OutboxItem] = []
        with transaction(self.db) as session:
            query = (
                select(Outbox)
                .where(Outbox.status.in_(("pending", "sending")), Outbox.channel.in_(list(self.senders)))
                .order_by(Outbox.id)
                .limit(limit * 4)
            )
            if is_postgres(self.db):
                query = query.with_for_update(skip_locked=True)
            blocked: set[tuple[str, str | None]] = set()
            for row in session.scalars(query):
                key = (row.channel, row.address)
                if key in blocked or len(items) >= limit:
                    continue
                blocked.add(key)
                if row.next_attempt_at > now:
                    continue
                if self._suppressed(session, row):
                    row.status = "suppressed"
                    blocked.discard(key)
                    continue
                row.status = "sending"
                row.next_attempt_at = now + LEASE
                items.append(
                    OutboxItem(
                        row.id or 0,
                        row.channel,
                        row.address or "",
                        row.kind,
                        row.attempts,
                        OutboundMessage(row.body, list(row.choices), row.question, row.lang),
                    )
                )
        return items

    def _suppressed(self, session: object, row: Outbox) -> bool:
        """Nothing goes to an opted-out resident, except the confirmation of the opt-out itself."""
        if row.kind in ("opt_out_confirm", "erase_confirm") or row.resident_id is None:
            return False
        resident = session.get(Resident, row.resident_id)  # type: ignore[attr-defined]
        return resident is None or resident.opted_out

    def record(self, item: OutboxItem, result: SendResult) -> None:
        """Store what happened to one send."""
        now = self.clock()
        with transaction(self.db) as session:
            row = session.get(Outbox, item.id)
            if row is None:
                return
            row.attempts += 1
            if result.ok:
                row.status, row.provider_id, row.sent_at, row.last_error = (
                    "sent",
                    result.provider_id,
                    now,
                    None,
                )
                if row.kind == "erase_confirm":
                    row.address, row.body = None, "[erased]"
                return
            row.last_error = (result.error or "")[:200]
            if result.unreachable:
                row.status = "failed"
                log.info("outbox %s: %s unreachable", row.id, pseudonym(item.address))
            elif result.retry and row.attempts < self.max_attempts:
                delay = result.retry_after or min(self.max_delay, self.base_delay * 2 ** (row.attempts - 1))
                row.status, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
            else:
                row.status = "failed"
                log.warning("outbox %s failed after %s attempts: %s", row.id, row.attempts, row.last_error)
        if result.unreachable and self.on_unreachable:
            self.on_unreachable(item.channel, item.address)

    async def dispatch_due(self, limit: int = 50) -> int:
        """Send what is due now; returns how many sends were attempted."""
        items = await asyncio.to_thread(self.claim, limit)
        for item in items:
            try:
                result = await self.senders[item.channel].send(item)
            except Exception as exc:  # a sender bug must not lose the row
                log.exception("sender for %s raised", item.channel)
                result = SendResult(ok=False, retry=True, error=repr(exc))
            await asyncio.to_thread(self.record, item, result)
        return len(items)

    def pending_count(self, before: datetime | None = None) -> int:
        """How many messages wait to be sent (the backlog shown in /healthz)."""
        from sqlalchemy import func

        with transaction(self.db) as session:
            query = select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending", "sending")))
            if before is not None:
                query = query.where(Outbox.next_attempt_at <= before)
            return int(session.scalar(query) or 0)
