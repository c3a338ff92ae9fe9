"""Where intents that feature modules add (book a seat, save a trade...) are carried out in the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.store.models import Conversation, Resident


@dataclass
class EffectContext:
    """What an effect may touch: the open transaction, the resident, their conversation, the time."""

    session: Session
    resident: Resident
    conversation: Conversation
    now: datetime
    channel: str


Applier = Callable[[EffectContext, Any], None]
APPLIERS: dict[type, Applier] = {}
FactsFactory = Callable[[EffectContext], Any]
FACTS: list[FactsFactory] = []


def applies(intent_type: type) -> Callable[[Applier], Applier]:
    """Register the function that carries out one kind of intent."""

    def register(fn: Applier) -> Applier:
        APPLIERS[intent_type] = fn
        return fn

    return register


def apply(ctx: EffectContext, intent: Any) -> bool:
    """Carry out an intent if a feature registered it; False when nobody knows it."""
    applier = APPLIERS.get(type(intent))
    if applier is None:
        return False
    applier(ctx, intent)
    return True


# Timers that change data without a conversation turn (no message): kind -> handler.
# A handler returns None when done, or a later time to look again (the row stays pending).
TimerHandler = Callable[[Session, Any, datetime], datetime | None]
TIMER_HANDLERS: dict[str, TimerHandler] = {}


def handles_timer(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    """Register the function that carries out a silent timer of one kind."""

    def register(fn: TimerHandler) -> TimerHandler:
        TIMER_HANDLERS[kind] = fn
        return fn

    return register
