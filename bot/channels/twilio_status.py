"""Twilio delivery statuses: the order they come in, and moving an outbox row forward only."""

from __future__ import annotations

from sqlalchemy import Engine as DB
from sqlalchemy import select

from bot.store.db import is_postgres, transaction
from bot.store.models import Outbox

# Twilio's message statuses, in the order a message goes through them. Our own "sent" means
# "accepted by Twilio". The outbox's "pending" and "sending" belong to the dispatcher and
# are never touched here; a failure is final and a delivery is never undone.
RANK: dict[str, int] = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "delivered": 5,
    "read": 6,
}
FAILURES = frozenset({"undelivered", "failed", "canceled"})


def moves_forward(current: str, new: str) -> bool:
    """Whether a row in status `current` may take the reported status `new`."""
    if current not in RANK or new not in RANK or current in FAILURES:
        return False
    return RANK[new] > RANK[current]


def record_status(db: DB, provider_id: str, status: str, error_code: str = "") -> str | None:
    """Apply a status callback to the SMS outbox row with this MessageSid; returns its address."""
    with transaction(db) as session:
        query = select(Outbox).where(Outbox.channel == "sms", Outbox.provider_id == provider_id).limit(1)
        if is_postgres(db):
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            return None
        if moves_forward(row.status, status):
            row.status = status
            if status in FAILURES and error_code:
                row.last_error = f"twilio status {status}, error {error_code}"[:200]
        return row.address
