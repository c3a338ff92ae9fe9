"""The flood guard: a sender who writes too fast gets one notice, then is paused for a while."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlmodel import Session

from bot.store.models import Inbound

COUNTED_KINDS = ("message", "unsupported")
UNGUARDED_CHANNELS = ("console",)  # a person at a terminal or a script, never a paid SMS loop
NOTICE = "flood_notice"
THROTTLED = "throttled"


@dataclass(frozen=True)
class FloodGuard:
    """More than `limit` messages within `window` earns one notice, then `pause` without replies.

    The state is the inbound table itself: rows keep their resident and arrival time once
    processed, and the row that earned the notice is marked, so a restart forgets nothing.
    Times are arrival times, so a backlog processed late is judged as the resident wrote it.
    """

    limit: int = 20
    window: timedelta = timedelta(minutes=1)
    pause: timedelta = timedelta(minutes=10)

    def verdict(self, session: Session, row: Inbound) -> str | None:
        """None to process the row; NOTICE for the one that crosses the limit; THROTTLED after it."""
        if row.kind not in COUNTED_KINDS or row.resident_id is None or row.channel in UNGUARDED_CHANNELS:
            return None
        at = row.received_at
        counted = Inbound.kind.in_(COUNTED_KINDS) & (Inbound.received_at > at - self.window)
        noticed = (Inbound.status == NOTICE) & (Inbound.received_at > at - self.pause)
        recent, paused = session.execute(
            select(
                func.coalesce(func.sum(case((counted, 1), else_=0)), 0),
                func.coalesce(func.sum(case((noticed, 1), else_=0)), 0),
            ).where(
                Inbound.resident_id == row.resident_id,
                Inbound.id < row.id,
                Inbound.received_at > at - max(self.window, self.pause),
            )
        ).one()
        if paused:
            return THROTTLED
        return NOTICE if recent + 1 > self.limit else None
